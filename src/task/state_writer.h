// StateWriter: the one place where task runs write task state — backup records, restoration
// tasks, attempts and their log, the scheduler's next_run. Each write asks the Fence first, so
// that a manager which may no longer act (task/fence.h) writes nothing. Manager high
// availability makes each write conditional on the fencing epoch here (in the same statement or
// transaction), without touching the runs. Reads go to the store directly.
//
// Thread-safe (the store is); borrowed store and fence outlive the writer.
#pragma once

#include "store/store.h"
#include "task/fence.h"

namespace flinkbr::task {

class StateWriter {
 public:
  StateWriter(store::Store& store, Fence& fence) : store_(store), fence_(fence) {}

  // The fence alone: called before each step that touches a cluster.
  [[nodiscard]] Status check() { return fence_.check(); }

  [[nodiscard]] Result<store::BackupRecord> create_backup_record(const store::BackupRecord& r);
  [[nodiscard]] Status update_backup_record(const store::BackupRecord& r);
  // The scheduler's next_run and suspend/resume.
  [[nodiscard]] Status update_backup_task(const store::BackupTask& t);
  [[nodiscard]] Status update_restore_task(const store::RestoreTask& t);
  [[nodiscard]] Result<store::RestoreAttempt> create_attempt(const store::RestoreAttempt& a);
  [[nodiscard]] Status update_attempt(const store::RestoreAttempt& a);
  [[nodiscard]] Status append_log(int64_t attempt_id, const store::LogLine& line);

  store::Store& store() { return store_; }
  // Fence::interrupted_by: the start of crash recovery's reasons.
  std::string interrupted_by() const { return fence_.interrupted_by(); }

 private:
  store::Store& store_;
  Fence& fence_;
};

}  // namespace flinkbr::task
