// The scheduler of periodic backups: every half second it starts the runs that are due. A run
// missed while the daemon was down runs once, not once per missed period; a run still going
// when the next is due is not overlapped (that period is skipped). next_run is written through
// the StateWriter (and so the fence) before the run starts, so that no period runs twice.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "task/state_writer.h"

namespace flinkbr::task {

class Scheduler {
 public:
  // `running(name)`: whether a run of backup task `name` is going on. `start(name)`: starts one
  // (its errors are logged). Both are called from the scheduler's thread.
  Scheduler(StateWriter& writer, std::function<bool(const std::string&)> running,
            std::function<Status(const std::string&)> start);
  ~Scheduler();  // stop()

  // Starts the thread (idempotent).
  void start();
  // Stops and joins the thread; returns once no pass is in progress.
  void stop();
  // One pass at time `now` (seconds): starts every task that is due.
  void run_due(int64_t now);

 private:
  void loop();
  StateWriter& writer_;
  std::function<bool(const std::string&)> running_;
  std::function<Status(const std::string&)> start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace flinkbr::task
