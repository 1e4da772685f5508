// The HTTP server's workers, and how long-held calls leave them.
//
// httplib serves each connection on one thread of its task queue, from reading the request to
// writing the last byte of the answer. An event stream keeps its thread for as long as the
// browser stays, and a verify of a large file for as long as it reads: with a fixed pool, a few
// of those take every thread and health, the API and the console stop answering (issue 16).
//
// WorkerPool keeps `request_workers` threads free for ordinary requests at all times. A call that
// is about to hold its thread for long takes a Hold: its thread then counts as lent out, and the
// pool starts a replacement thread so that the number of threads serving requests stays the
// same. When the hold ends the thread serves requests again and, the pool having one thread too
// many, the first idle thread retires. Holds are bounded (`max_holds`): the callers (Api) cap
// streams and slow calls per user and overall before they ask, and try_hold refuses beyond the
// bound, so threads never grow without limit.
//
// Thread-safety: every method may be called from any thread. Ownership: httplib owns the pool
// (Server::new_task_queue returns it), and calls shutdown() before deleting it.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>

namespace flinkbr::server {

class WorkerPool : public httplib::TaskQueue {
 public:
  WorkerPool(size_t request_workers, size_t max_holds);
  ~WorkerPool() override;

  void enqueue(std::function<void()> fn) override;
  // Runs the queued jobs, then joins every thread.
  void shutdown() override;

  // A thread lent out of the request pool; ends (and returns it) when destroyed. Movable.
  class Hold {
   public:
    Hold() = default;
    Hold(Hold&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)) {}
    Hold& operator=(Hold&& o) noexcept;
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() { release(); }
    explicit operator bool() const { return pool_ != nullptr; }
    void release();

   private:
    friend class WorkerPool;
    explicit Hold(WorkerPool* pool) : pool_(pool) {}
    WorkerPool* pool_ = nullptr;
  };
  // Lends the calling thread out (see above); an empty Hold when `max_holds` are taken.
  Hold try_hold();

  // For tests and metrics: threads alive, and holds taken now.
  size_t threads() const;
  size_t holds() const;

 private:
  void spawn_locked();
  void run();
  void reap_locked();

  const size_t request_workers_;
  const size_t max_holds_;
  mutable std::mutex mutex_;
  std::condition_variable cond_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  std::vector<std::thread::id> retired_;  // exited, to be joined
  size_t alive_ = 0;                      // threads started and not retired
  size_t held_ = 0;
  bool shutdown_ = false;
};

}  // namespace flinkbr::server
