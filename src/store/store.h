// Store: flinkbr's state in one SQLite database (<state_dir>/flinkbr.db, WAL mode), kept across
// restarts. One connection guarded by a mutex: every method is thread-safe and is one
// transaction. Methods fail with kNotFound (naming the thing), kAlreadyExists (a name taken) or
// kIOError (SQLite errors, with the SQLite message).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/model.h"

struct sqlite3;

namespace flinkbr::store {

struct Page {
  int limit = 100;     // at most this many rows (1..1000)
  int64_t offset = 0;  // rows to skip
};

class Store {
 public:
  // Opens or creates the database and migrates the schema.
  [[nodiscard]] static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Users and tokens.
  [[nodiscard]] Result<User> create_user(const std::string& name, Role role,
                                         const std::string& password_hash);
  [[nodiscard]] Result<User> get_user(const std::string& name);
  [[nodiscard]] Status set_password_hash(int64_t user_id, const std::string& password_hash);
  [[nodiscard]] Result<User> get_user_by_id(int64_t id);
  [[nodiscard]] Result<std::vector<User>> list_users();
  [[nodiscard]] Result<int64_t> count_users();
  // The role of an existing user; kNotFound when there is none of that name.
  [[nodiscard]] Status set_user_role(const std::string& name, Role role);
  // Deletes the user and, with it, every token of theirs (their sessions end now).
  [[nodiscard]] Status delete_user(const std::string& name);
  // Ends every session of the user but the one whose token hash is `keep_token_hash` (empty:
  // all of them), after a password change.
  [[nodiscard]] Status delete_user_tokens(int64_t user_id, const std::string& keep_token_hash = "");
  [[nodiscard]] Status put_token(const Token& token);
  [[nodiscard]] Result<Token> get_token(const std::string& token_hash);  // expired ones too
  [[nodiscard]] Status delete_token(const std::string& token_hash);
  [[nodiscard]] Status delete_expired_tokens(int64_t now);

  // Backup tasks and records.
  [[nodiscard]] Result<BackupTask> create_backup_task(const BackupTask& task);  // id assigned
  [[nodiscard]] Result<BackupTask> get_backup_task(const std::string& name);
  [[nodiscard]] Result<std::vector<BackupTask>> list_backup_tasks(Page page = {});
  [[nodiscard]] Result<int64_t> count_backup_tasks();
  [[nodiscard]] Status update_backup_task(const BackupTask& task);   // by id
  [[nodiscard]] Status delete_backup_task(const std::string& name);  // records stay
  [[nodiscard]] Result<BackupRecord> create_backup_record(const BackupRecord& record);
  [[nodiscard]] Status update_backup_record(const BackupRecord& record);  // by id
  [[nodiscard]] Result<BackupRecord> get_backup_record(int64_t id);
  // Newest first.
  [[nodiscard]] Result<std::vector<BackupRecord>> list_backup_records(int64_t task_id,
                                                                      Page page = {});
  [[nodiscard]] Result<int64_t> count_backup_records(int64_t task_id);
  [[nodiscard]] Result<std::vector<BackupRecord>> list_running_backup_records();

  // Restoration tasks and their attempts.
  [[nodiscard]] Result<RestoreTask> create_restore_task(const RestoreTask& task);
  [[nodiscard]] Result<RestoreTask> get_restore_task(const std::string& name);
  // Lists page in SQL (LIMIT/OFFSET): a page costs its own rows, not the table's.
  [[nodiscard]] Result<std::vector<RestoreTask>> list_restore_tasks(Page page = {});
  [[nodiscard]] Result<int64_t> count_restore_tasks();
  [[nodiscard]] Status update_restore_task(const RestoreTask& task);  // by id
  [[nodiscard]] Status delete_restore_task(const std::string& name);  // with its attempts and logs
  [[nodiscard]] Result<RestoreAttempt> create_attempt(const RestoreAttempt& attempt);
  [[nodiscard]] Status update_attempt(const RestoreAttempt& attempt);  // by id
  // Oldest first.
  [[nodiscard]] Result<std::vector<RestoreAttempt>> list_attempts(int64_t task_id);
  [[nodiscard]] Status append_log(int64_t attempt_id, const LogLine& line);
  [[nodiscard]] Result<std::vector<LogLine>> list_log(int64_t attempt_id);

  // Audit log, newest first.
  [[nodiscard]] Status append_audit(const AuditEntry& entry);
  // With a filter: only the entries of that user and/or that action (exact; empty: any).
  struct AuditFilter {
    std::string user;
    std::string action;
  };
  [[nodiscard]] Result<std::vector<AuditEntry>> list_audit(Page page = {},
                                                           const AuditFilter& filter = {});
  [[nodiscard]] Result<int64_t> count_audit(const AuditFilter& filter = {});

  // Settings (key/value), e.g. schema version, scheduler state.
  [[nodiscard]] Result<std::optional<std::string>> get_setting(const std::string& key);
  [[nodiscard]] Status put_setting(const std::string& key, const std::string& value);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace flinkbr::store
