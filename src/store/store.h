// Store: flinkbr's state (users, tokens, tasks, records, attempts, logs, audit, settings), kept
// across restarts in one SQL database. One interface, two implementations behind it:
//   - SQLite, one file <state_dir>/flinkbr.db (WAL mode): one daemon, the default;
//   - PostgreSQL (`server.database`), in its own schema: a group of managers sharing one state.
// Both run the same statements (store.cc) and the same schema history (one ordered list of
// migrations, each with the SQL of both dialects); only the connection differs
// (sqlite_store.cc, postgres_store.cc).
//
// Contract of every method: thread-safe (one connection guarded by a mutex), one transaction.
// Failures: kNotFound naming the thing, kAlreadyExists for a taken name, kCorruption for a row
// this program cannot read, kIOError for database errors (with the database's message, never a
// password), kUnavailable (retryable) when the PostgreSQL server cannot be reached: the call
// fails and a later call reconnects by itself.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/model.h"

namespace flinkbr::store {

struct Page {
  int limit = 100;     // at most this many rows (1..1000)
  int64_t offset = 0;  // rows to skip
};

// The schema version this program migrates to (the length of the migration list).
int64_t latest_schema_version();

// The PostgreSQL schema flinkbr keeps its tables in (so that it can share a database).
inline constexpr std::string_view kDefaultPostgresSchema = "flinkbr";

// The PostgreSQL NOTIFY channels of the command relay and the event feed (the payload is the
// row's id). Channels are per database: groups sharing a database share them, and a wake-up is
// only a hint to read the tables again.
inline constexpr std::string_view kCommandsChannel = "flinkbr_commands";
inline constexpr std::string_view kResultsChannel = "flinkbr_results";
inline constexpr std::string_view kEventsChannel = "flinkbr_events";

class Store {
 public:
  // Opens or creates the SQLite database at `path` (mode 0600) and migrates the schema.
  [[nodiscard]] static Result<std::unique_ptr<Store>> open_sqlite(const std::string& path);
  // Same as open_sqlite (kept for the callers that predate PostgreSQL).
  [[nodiscard]] static Result<std::unique_ptr<Store>> open(const std::string& path) {
    return open_sqlite(path);
  }
  // Connects to PostgreSQL (`conninfo`: a URI or key=value string for libpq, which must not hold
  // the password; `password` empty: libpq's own means, e.g. ~/.pgpass), creates `schema` if
  // needed and migrates it under an advisory lock, so that managers starting at once do not
  // race. Fails with kUnavailable when the server cannot be reached.
  [[nodiscard]] static Result<std::unique_ptr<Store>> open_postgres(
      const std::string& conninfo, const std::string& password,
      const std::string& schema = std::string(kDefaultPostgresSchema));

  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // A view of this store for the active manager of a group: every write runs in one transaction
  // with `SELECT epoch FROM manager_lease WHERE id = 1 FOR SHARE` and is refused with
  // kFailedPrecondition ("fenced: this manager's epoch is N, the group is at M") when the
  // group's epoch is not `epoch`; the row lock makes a take-over's epoch UPDATE wait for the
  // fenced writes in flight, so no write of an old epoch commits after a take-over. Reads pass
  // through. On SQLite (one daemon per state directory) the view passes everything through. The
  // view shares this store's connection and must not outlive it.
  [[nodiscard]] virtual std::unique_ptr<Store> fenced(int64_t epoch) = 0;

  // Users and tokens.
  [[nodiscard]] virtual Result<User> create_user(const std::string& name, Role role,
                                                 const std::string& password_hash) = 0;
  [[nodiscard]] virtual Result<User> get_user(const std::string& name) = 0;
  [[nodiscard]] virtual Status set_password_hash(int64_t user_id,
                                                 const std::string& password_hash) = 0;
  [[nodiscard]] virtual Result<User> get_user_by_id(int64_t id) = 0;
  [[nodiscard]] virtual Result<std::vector<User>> list_users() = 0;
  [[nodiscard]] virtual Result<int64_t> count_users() = 0;
  // The role of an existing user; kNotFound when there is none of that name.
  [[nodiscard]] virtual Status set_user_role(const std::string& name, Role role) = 0;
  // Deletes the user and, with it, every token of theirs (their sessions end now).
  [[nodiscard]] virtual Status delete_user(const std::string& name) = 0;
  // Ends every session of the user but the one whose token hash is `keep_token_hash` (empty:
  // all of them), after a password change.
  [[nodiscard]] virtual Status delete_user_tokens(int64_t user_id,
                                                  const std::string& keep_token_hash = "") = 0;
  [[nodiscard]] virtual Status put_token(const Token& token) = 0;
  [[nodiscard]] virtual Result<Token> get_token(const std::string& token_hash) = 0;  // expired too
  [[nodiscard]] virtual Status delete_token(const std::string& token_hash) = 0;
  [[nodiscard]] virtual Status delete_expired_tokens(int64_t now) = 0;

  // Backup tasks and records.
  [[nodiscard]] virtual Result<BackupTask> create_backup_task(const BackupTask& task) = 0;  // id
  [[nodiscard]] virtual Result<BackupTask> get_backup_task(const std::string& name) = 0;
  [[nodiscard]] virtual Result<std::vector<BackupTask>> list_backup_tasks(Page page = {}) = 0;
  [[nodiscard]] virtual Result<int64_t> count_backup_tasks() = 0;
  [[nodiscard]] virtual Status update_backup_task(const BackupTask& task) = 0;   // by id
  [[nodiscard]] virtual Status delete_backup_task(const std::string& name) = 0;  // records stay
  [[nodiscard]] virtual Result<BackupRecord> create_backup_record(const BackupRecord& record) = 0;
  [[nodiscard]] virtual Status update_backup_record(const BackupRecord& record) = 0;  // by id
  [[nodiscard]] virtual Result<BackupRecord> get_backup_record(int64_t id) = 0;
  // Newest first.
  [[nodiscard]] virtual Result<std::vector<BackupRecord>> list_backup_records(int64_t task_id,
                                                                              Page page = {}) = 0;
  [[nodiscard]] virtual Result<int64_t> count_backup_records(int64_t task_id) = 0;
  [[nodiscard]] virtual Result<std::vector<BackupRecord>> list_running_backup_records() = 0;

  // Restoration tasks and their attempts.
  [[nodiscard]] virtual Result<RestoreTask> create_restore_task(const RestoreTask& task) = 0;
  [[nodiscard]] virtual Result<RestoreTask> get_restore_task(const std::string& name) = 0;
  // Lists page in SQL (LIMIT/OFFSET): a page costs its own rows, not the table's.
  [[nodiscard]] virtual Result<std::vector<RestoreTask>> list_restore_tasks(Page page = {}) = 0;
  [[nodiscard]] virtual Result<int64_t> count_restore_tasks() = 0;
  [[nodiscard]] virtual Status update_restore_task(const RestoreTask& task) = 0;  // by id
  // With its attempts and logs.
  [[nodiscard]] virtual Status delete_restore_task(const std::string& name) = 0;
  [[nodiscard]] virtual Result<RestoreAttempt> create_attempt(const RestoreAttempt& attempt) = 0;
  [[nodiscard]] virtual Status update_attempt(const RestoreAttempt& attempt) = 0;  // by id
  // Oldest first.
  [[nodiscard]] virtual Result<std::vector<RestoreAttempt>> list_attempts(int64_t task_id) = 0;
  [[nodiscard]] virtual Status append_log(int64_t attempt_id, const LogLine& line) = 0;
  [[nodiscard]] virtual Result<std::vector<LogLine>> list_log(int64_t attempt_id) = 0;

  // Audit log, newest first.
  [[nodiscard]] virtual Status append_audit(const AuditEntry& entry) = 0;
  // With a filter: only the entries of that user and/or that action (exact; empty: any).
  struct AuditFilter {
    std::string user;
    std::string action;
  };
  [[nodiscard]] virtual Result<std::vector<AuditEntry>> list_audit(
      Page page = {}, const AuditFilter& filter = {}) = 0;
  [[nodiscard]] virtual Result<int64_t> count_audit(const AuditFilter& filter = {}) = 0;

  // Runs counted as they end, for GET /metrics: a backup record or a restoration attempt adds
  // one to the counter of its kind ("backup", "restore") and final status ("Succeeded",
  // "Failed") in the transaction that ends it (created ended, or updated from Running), so each
  // run counts once; deleting tasks, records or attempts takes nothing back. 0 before the first.
  // Kept in the settings as "runs_total.<kind>.<status>".
  [[nodiscard]] virtual Result<int64_t> ended_runs(std::string_view kind,
                                                   std::string_view status) = 0;

  // The command relay of a manager group (server/relay.h). A standby writes a command; the
  // active takes it (claim), carries it out and writes the answer (finish); the standby reads
  // it. On PostgreSQL each write also sends a NOTIFY (kCommandsChannel, kResultsChannel) so
  // that the other side wakes at once; SQLite (one daemon, never relaying) sends nothing.
  //
  // A new pending command (id, created_at and state set here).
  [[nodiscard]] virtual Result<RelayCommand> create_command(const RelayCommand& command) = 0;
  [[nodiscard]] virtual Result<RelayCommand> get_command(int64_t id) = 0;
  // Takes the oldest pending command whose deadline is after `now` for the active of `epoch`:
  // pending -> claimed in one UPDATE ... WHERE state = 'pending', so that a command is taken at
  // most once. Meant for the active's fenced view (a deposed active takes nothing). nullopt when
  // none waits.
  [[nodiscard]] virtual Result<std::optional<RelayCommand>> claim_command(int64_t epoch,
                                                                          int64_t now) = 0;
  // claimed by `epoch` -> done with the answer; kFailedPrecondition when the command is not
  // claimed by `epoch` (a new active already answered it).
  [[nodiscard]] virtual Status finish_command(int64_t id, int64_t epoch, int http_status,
                                              const std::string& body, int retry_after) = 0;
  // pending -> expired (the standby stops waiting): true when it was still pending, so that no
  // active will ever take it; false when an active took it first.
  [[nodiscard]] virtual Result<bool> expire_command(int64_t id) = 0;
  // What a new active does with the commands an older active took and never answered: done with
  // this answer (never carried out again). The number of commands answered.
  [[nodiscard]] virtual Result<int64_t> fail_orphaned_commands(int64_t epoch, int http_status,
                                                               const std::string& body) = 0;
  // Deletes the commands created before `before` (unix seconds), whatever their state.
  [[nodiscard]] virtual Status prune_commands(int64_t before) = 0;

  // The group's event feed: the active appends its task events, every member's event stream
  // reads them (NOTIFY on kEventsChannel). Ids grow across fail-overs.
  [[nodiscard]] virtual Result<int64_t> append_event(const std::string& type,
                                                     const std::string& data) = 0;
  // Oldest first, at most `limit` (1..1000).
  [[nodiscard]] virtual Result<std::vector<GroupEvent>> list_events_after(int64_t after,
                                                                          int limit = 100) = 0;
  // The newest event's id; 0 when there is none.
  [[nodiscard]] virtual Result<int64_t> last_event_id() = 0;
  // Deletes the events appended before `before` (unix seconds).
  [[nodiscard]] virtual Status prune_events(int64_t before) = 0;
  // The database's clock, in unix seconds. The relay's times (a command's creation and deadline,
  // the active's "now" when it claims and prunes) are read from it, never from a member's own
  // clock: the members' clocks are never compared (a standby two minutes behind would otherwise
  // write commands already past their deadline, and one an hour behind would see them pruned).
  [[nodiscard]] virtual Result<int64_t> database_now() = 0;

  // Settings (key/value), e.g. schema version, scheduler state.
  [[nodiscard]] virtual Result<std::optional<std::string>> get_setting(const std::string& key) = 0;
  [[nodiscard]] virtual Status put_setting(const std::string& key, const std::string& value) = 0;
};

}  // namespace flinkbr::store
