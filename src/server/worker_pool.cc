#include "server/worker_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <utility>

namespace flinkbr::server {

WorkerPool::WorkerPool(size_t request_workers, size_t max_holds)
    : request_workers_(std::max<size_t>(request_workers, 1)), max_holds_(max_holds) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < request_workers_; ++i) spawn_locked();
}

WorkerPool::~WorkerPool() {
  shutdown();
}

void WorkerPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(fn));
  }
  cond_.notify_one();
}

void WorkerPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    shutdown_ = true;
    threads = std::move(threads_);
    threads_.clear();
    retired_.clear();
  }
  cond_.notify_all();
  for (auto& t : threads)
    if (t.joinable()) t.join();
}

WorkerPool::Hold WorkerPool::try_hold() {
  std::lock_guard lock(mutex_);
  if (held_ >= max_holds_) return Hold();
  ++held_;
  // Keep request_workers_ threads for requests: replace the one lent out.
  if (!shutdown_ && alive_ - std::min(alive_, held_) < request_workers_) spawn_locked();
  return Hold(this);
}

WorkerPool::Hold& WorkerPool::Hold::operator=(Hold&& o) noexcept {
  if (this != &o) {
    release();
    pool_ = std::exchange(o.pool_, nullptr);
  }
  return *this;
}

void WorkerPool::Hold::release() {
  WorkerPool* pool = std::exchange(pool_, nullptr);
  if (!pool) return;
  {
    std::lock_guard lock(pool->mutex_);
    --pool->held_;
  }
  // An idle thread too many now retires (run()).
  pool->cond_.notify_all();
}

size_t WorkerPool::threads() const {
  std::lock_guard lock(mutex_);
  return alive_;
}

size_t WorkerPool::holds() const {
  std::lock_guard lock(mutex_);
  return held_;
}

void WorkerPool::spawn_locked() {
  reap_locked();
  ++alive_;
  threads_.emplace_back([this] { run(); });
}

// Joins the threads that left run(). They pushed their id under the mutex we hold and take it
// no more, so the joins cannot wait on us.
void WorkerPool::reap_locked() {
  if (retired_.empty()) return;
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (std::find(retired_.begin(), retired_.end(), it->get_id()) != retired_.end()) {
      it->join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  retired_.clear();
}

void WorkerPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      const auto excess = [&] { return alive_ > request_workers_ + held_; };
      cond_.wait(lock, [&] { return !jobs_.empty() || shutdown_ || excess(); });
      if (jobs_.empty() && (shutdown_ || excess())) {
        if (!shutdown_) {
          --alive_;
          retired_.push_back(std::this_thread::get_id());
        }
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    // httplib catches what a handler throws; this is the thread's entry, so nothing escapes.
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("HTTP worker: unexpected exception: {}", e.what());
    } catch (...) {
      spdlog::error("HTTP worker: unexpected exception");
    }
  }
}

}  // namespace flinkbr::server
