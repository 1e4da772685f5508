#include "task/scheduler.h"

#include <spdlog/spdlog.h>

namespace flinkbr::task {

Scheduler::Scheduler(StateWriter& writer, std::function<bool(const std::string&)> running,
                     std::function<Status(const std::string&)> start)
    : writer_(writer), running_(std::move(running)), start_(std::move(start)) {}

Scheduler::~Scheduler() {
  stop();
}

void Scheduler::start() {
  std::lock_guard g(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { loop(); });
}

void Scheduler::stop() {
  {
    std::lock_guard g(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500));
    if (stopping_) break;
    lock.unlock();
    run_due(now_seconds());
    lock.lock();
  }
}

void Scheduler::run_due(int64_t now) {
  for (int64_t offset = 0;; offset += 1000) {
    auto tasks = writer_.store().list_backup_tasks({.limit = 1000, .offset = offset});
    if (!tasks) return;
    for (auto& t : *tasks) {
      if (t.period_seconds <= 0 || t.suspended || t.next_run > now) continue;
      if (running_(t.name)) continue;  // never overlap the previous run
      // A run missed while the daemon was down runs once, not once per missed period.
      int64_t next = t.next_run;
      while (next <= now) next += t.period_seconds;
      t.next_run = next;
      if (auto st = writer_.update_backup_task(t); !st) continue;
      if (auto st = start_(t.name); !st)
        spdlog::error("periodic backup {}: {}", t.name, st.error().message);
    }
    if (tasks->size() < 1000) break;
  }
}

}  // namespace flinkbr::task
