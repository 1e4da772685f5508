#include "task/state_writer.h"

namespace flinkbr::task {

Result<store::BackupRecord> StateWriter::create_backup_record(const store::BackupRecord& r) {
  TRY(fence_.check());
  return fence_.writes_to(store_).create_backup_record(r);
}

Status StateWriter::update_backup_record(const store::BackupRecord& r) {
  TRY(fence_.check());
  return fence_.writes_to(store_).update_backup_record(r);
}

Status StateWriter::update_backup_task(const store::BackupTask& t) {
  TRY(fence_.check());
  return fence_.writes_to(store_).update_backup_task(t);
}

Status StateWriter::update_restore_task(const store::RestoreTask& t) {
  TRY(fence_.check());
  return fence_.writes_to(store_).update_restore_task(t);
}

Result<store::RestoreAttempt> StateWriter::create_attempt(const store::RestoreAttempt& a) {
  TRY(fence_.check());
  return fence_.writes_to(store_).create_attempt(a);
}

Status StateWriter::update_attempt(const store::RestoreAttempt& a) {
  TRY(fence_.check());
  return fence_.writes_to(store_).update_attempt(a);
}

Status StateWriter::append_log(int64_t attempt_id, const store::LogLine& line) {
  TRY(fence_.check());
  return fence_.writes_to(store_).append_log(attempt_id, line);
}

}  // namespace flinkbr::task
