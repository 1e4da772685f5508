// One backup run as a list of named steps (product.md, "Backup tasks"):
//   check   every source of the data source answers, the storage opens, LocalDir has room for
//           the sources' estimated size
//   write   sources -> backup file under a temporary name, ZooKeeper sources first so that the
//           Flink HA capture pins the files its pointers name (docs/flink-ha.md); bytes against
//           the sources' estimate
//   finish  size, checksum and Flink HA consistency onto the record
//   verify  (tasks with verify) the new file read back as a restore would; deleted if bad
//   prune   retention: older successful files beyond max_copies deleted, records Removed
// The fence (task/fence.h) is asked before each step. The record's status is the engine's
// business (task/engine.cc): a run only fills in what it found.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "task/progress.h"
#include "task/runtime.h"

namespace flinkbr::task {

struct BackupInputs {
  const config::Config& config;
  ClusterRuntime& cluster;
  const store::BackupTask& task;
  const std::atomic<bool>* cancelled = nullptr;
};

// The record of a run as the events and the CLI see it.
nlohmann::json backup_event_json(const store::BackupRecord& r);

// Reports of one backup run: the current step and its bytes, the percent, persisted through the
// writer and published as "backup" events when a step begins and then once a second while it
// runs (by a ticker thread, so that a step that stalls, or writes one large source for minutes,
// still shows its bytes and a throughput that falls). With a null writer and bus (tests) it only
// keeps the record up to date.
//
// While a step is open the ticker reads the record: the run changes the record only through
// bytes() until end_step().
class BackupRecorder {
 public:
  BackupRecorder(StateWriter* writer, EventBus* events, store::BackupRecord& record,
                 ProgressMeter meter = ProgressMeter(),
                 std::chrono::milliseconds tick = std::chrono::seconds(1));
  ~BackupRecorder();  // end_step()

  // Starts step `name` with `bytes_total` expected (0: unknown); the percent moves from `from`
  // to `to` as its bytes are done. Persists at once.
  void begin_step(const std::string& name, uint64_t bytes_total, int from, int to);
  // Bytes of the current step done (of `total`, when it became known). Thread-safe.
  void bytes(uint64_t done, uint64_t total = 0);
  // Stops the ticker of the current step (idempotent).
  void end_step();
  // The run succeeded: progress 100, step "done" with the bytes written.
  void finish();
  // Persists and publishes now.
  void flush();
  [[nodiscard]] Status fence_check() { return writer_ ? writer_->check() : ok(); }
  StateWriter* writer() { return writer_; }
  store::BackupRecord& record() { return record_; }

 private:
  void set_percent(int percent);
  void flush_locked();
  StateWriter* writer_;
  EventBus* events_;
  store::BackupRecord& record_;
  const std::chrono::milliseconds tick_;
  std::mutex mu_;  // guards the record's progress fields and meter_ while a ticker runs
  std::condition_variable cv_;
  bool step_open_ = false;
  std::thread ticker_;
  ProgressMeter meter_;
  int from_ = 0, to_ = 0;
};

// Runs every step into rec.record() (size, checksum, consistency, progress). On error nothing
// carries the backup file's name; the caller marks the record Failed.
[[nodiscard]] Status run_backup_steps(const BackupInputs& in, BackupRecorder& rec);

}  // namespace flinkbr::task
