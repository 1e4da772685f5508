// The store's statements, schema history and fencing, written once for both databases against
// store/connection.h. Each public method takes the connection under the mutex for one statement
// (an implicit transaction) or one explicit transaction (migrations, fenced writes).
#include "store/store.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <mutex>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "store/connection.h"

namespace flinkbr::store {

namespace {

// ---------------------------------------------------------------------------------------------
// Statements.

template <class T>
Param param(const T& value) {
  if constexpr (std::is_same_v<T, bool>)
    return int64_t{value ? 1 : 0};
  else if constexpr (std::is_integral_v<T>)
    return static_cast<int64_t>(value);  // uint64_t sizes: below 2^63 in practice
  else if constexpr (std::is_convertible_v<const T&, std::string_view>)
    return std::string_view(value);
  else
    static_assert(sizeof(T) == 0, "unsupported parameter type");
}

// Runs `sql` with `args` (bound in order to its `?`); its rows. The arguments must outlive the
// call only: the connection copies or binds them before returning.
template <class... Args>
Result<std::unique_ptr<Rows>> query(Connection& c, std::string_view sql, const Args&... args) {
  const std::array<Param, sizeof...(Args)> params{param(args)...};
  return c.query(sql, params);
}

// Runs `sql` with `args` and returns the first row read by `read`, or kNotFound(`missing`).
template <class F, class... Args>
auto query_one(Connection& c, std::string_view sql, F read, const std::string& missing,
               const Args&... args) -> decltype(read(std::declval<Rows&>())) {
  auto rows = TRY(query(c, sql, args...));
  if (!TRY(rows->next())) return not_found(missing);
  return read(*rows);
}

// Runs `sql` with `args` and collects every row read by `read`.
template <class F, class... Args>
auto query_all(Connection& c, std::string_view sql, F read, const Args&... args)
    -> Result<std::vector<typename decltype(read(std::declval<Rows&>()))::value_type>> {
  using T = typename decltype(read(std::declval<Rows&>()))::value_type;
  auto rows = TRY(query(c, sql, args...));
  std::vector<T> out;
  while (TRY(rows->next())) out.push_back(TRY(read(*rows)));
  return out;
}

// Runs an UPDATE/DELETE (or INSERT) and returns the number of rows it changed.
template <class... Args>
Result<int64_t> change(Connection& c, std::string_view sql, const Args&... args) {
  const std::array<Param, sizeof...(Args)> params{param(args)...};
  return c.change(sql, params);
}

// Runs an INSERT ... RETURNING id (both databases have RETURNING; SQLite since 3.35) and returns
// the new row's id.
template <class... Args>
Result<int64_t> insert(Connection& c, std::string_view sql, const Args&... args) {
  auto rows = TRY(query(c, sql, args...));
  if (!TRY(rows->next())) return internal_error("an INSERT returned no id");
  const int64_t id = rows->i64(0);
  while (TRY(rows->next())) {
  }
  return id;
}

// BEGIN ... COMMIT. Commit is explicit; a transaction destroyed uncommitted rolls back.
class Txn {
 public:
  static Result<Txn> begin(Connection& c) {
    TRY(c.exec(c.begin_statement(), "starting a transaction"));
    return Txn(&c);
  }
  Txn(Txn&& other) noexcept : c_(std::exchange(other.c_, nullptr)) {}
  Txn& operator=(Txn&&) = delete;
  ~Txn() {
    if (c_ && c_->in_transaction()) (void)c_->exec("ROLLBACK", "rolling back a transaction");
  }
  Status commit() {
    Connection* c = std::exchange(c_, nullptr);
    return c->exec("COMMIT", "committing a transaction");
  }

 private:
  explicit Txn(Connection* c) : c_(c) {}
  Connection* c_;
};

// Replaces the message of a constraint error (kAlreadyExists/kNotFound from the connection) with
// one that names the thing; other errors pass through.
template <class T>
Result<T> name_constraint(Result<T> r, Errc code, std::string message) {
  if (!r && r.error().code == code) return make_error(code, std::move(message));
  return r;
}

struct Limits {
  int64_t limit;
  int64_t offset;
};
Limits clamp(Page page) {
  return {std::clamp(page.limit, 1, 1000), std::max<int64_t>(page.offset, 0)};
}

// An enum the database holds but this program does not know: the file was damaged or written by
// something else.
template <class T>
Result<T> stored(Result<T> r, std::string_view what) {
  if (!r) return corruption("state database: " + std::string(what) + ": " + r.error().message);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Schema. The `settings` table exists before any migration because it holds the version.

constexpr std::string_view kSettingsTable =
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)";
constexpr std::string_view kSchemaVersionKey = "schema_version";

// One schema history for both dialects: an ordered list, migration N (1-based) moving the schema
// from version N-1 to N. Append, never edit. A migration whose SQL is portable gives it once
// (portable()); otherwise each dialect has its own text.
struct Migration {
  std::string_view sqlite;
  std::string_view postgres;
};
constexpr Migration portable(std::string_view sql) {
  return {sql, sql};
}

// Ids are never reused after a delete (SQLite: AUTOINCREMENT; PostgreSQL: an identity column):
// backup records keep the task_id of a deleted backup task, which must not come to point at a
// new task. PostgreSQL has BIGINT where SQLite's INTEGER is 64-bit anyway.
constexpr Migration kMigrations[] = {
    // 1: the initial schema.
    {.sqlite = R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE tokens (
  token_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_expires_at ON tokens(expires_at);
CREATE INDEX tokens_user_id ON tokens(user_id);

CREATE TABLE backup_tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  cluster TEXT NOT NULL,
  data_source TEXT NOT NULL,
  path_type TEXT NOT NULL,
  path TEXT NOT NULL,
  nameservice TEXT NOT NULL,
  ip_mode TEXT NOT NULL,
  namenode_ip TEXT NOT NULL,
  queue TEXT NOT NULL,
  max_copies INTEGER NOT NULL,
  period_seconds INTEGER NOT NULL,
  start_time INTEGER NOT NULL,
  suspended INTEGER NOT NULL,
  next_run INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
-- No foreign key to backup_tasks: the history outlives its task.
CREATE TABLE backup_records (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL,
  task_name TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL,
  size INTEGER NOT NULL,
  checksum TEXT NOT NULL,
  backup_object TEXT NOT NULL,
  backup_path TEXT NOT NULL,
  system_version TEXT NOT NULL,
  error TEXT NOT NULL,
  progress INTEGER NOT NULL
);
CREATE INDEX backup_records_task ON backup_records(task_id, id);
CREATE INDEX backup_records_running ON backup_records(id) WHERE status = 'Running';

CREATE TABLE restore_tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  cluster TEXT NOT NULL,
  data_source TEXT NOT NULL,
  path_type TEXT NOT NULL,
  path TEXT NOT NULL,
  nameservice TEXT NOT NULL,
  ip_mode TEXT NOT NULL,
  namenode_ip TEXT NOT NULL,
  queue TEXT NOT NULL,
  state TEXT NOT NULL,
  progress INTEGER NOT NULL,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE restore_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL REFERENCES restore_tasks(id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  state TEXT NOT NULL,
  progress INTEGER NOT NULL,
  phase TEXT NOT NULL,
  error TEXT NOT NULL,
  safety_copy TEXT NOT NULL,
  steps TEXT NOT NULL,   -- JSON array of {name, status, started_at, ended_at, detail}
  report TEXT NOT NULL,  -- JSON object
  started_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL,
  UNIQUE (task_id, number)
);
CREATE TABLE restore_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  attempt_id INTEGER NOT NULL REFERENCES restore_attempts(id) ON DELETE CASCADE,
  at INTEGER NOT NULL,
  level TEXT NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX restore_log_attempt ON restore_log(attempt_id, id);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  user_name TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL
);
)sql",
     .postgres = R"sql(
CREATE TABLE users (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE tokens (
  token_hash TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX tokens_expires_at ON tokens(expires_at);
CREATE INDEX tokens_user_id ON tokens(user_id);

CREATE TABLE backup_tasks (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  cluster TEXT NOT NULL,
  data_source TEXT NOT NULL,
  path_type TEXT NOT NULL,
  path TEXT NOT NULL,
  nameservice TEXT NOT NULL,
  ip_mode TEXT NOT NULL,
  namenode_ip TEXT NOT NULL,
  queue TEXT NOT NULL,
  max_copies BIGINT NOT NULL,
  period_seconds BIGINT NOT NULL,
  start_time BIGINT NOT NULL,
  suspended BIGINT NOT NULL,
  next_run BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
-- No foreign key to backup_tasks: the history outlives its task.
CREATE TABLE backup_records (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  task_id BIGINT NOT NULL,
  task_name TEXT NOT NULL,
  status TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL,
  size BIGINT NOT NULL,
  checksum TEXT NOT NULL,
  backup_object TEXT NOT NULL,
  backup_path TEXT NOT NULL,
  system_version TEXT NOT NULL,
  error TEXT NOT NULL,
  progress BIGINT NOT NULL
);
CREATE INDEX backup_records_task ON backup_records(task_id, id);
CREATE INDEX backup_records_running ON backup_records(id) WHERE status = 'Running';

CREATE TABLE restore_tasks (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  cluster TEXT NOT NULL,
  data_source TEXT NOT NULL,
  path_type TEXT NOT NULL,
  path TEXT NOT NULL,
  nameservice TEXT NOT NULL,
  ip_mode TEXT NOT NULL,
  namenode_ip TEXT NOT NULL,
  queue TEXT NOT NULL,
  state TEXT NOT NULL,
  progress BIGINT NOT NULL,
  error TEXT NOT NULL,
  attempts BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE restore_attempts (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  task_id BIGINT NOT NULL REFERENCES restore_tasks(id) ON DELETE CASCADE,
  number BIGINT NOT NULL,
  state TEXT NOT NULL,
  progress BIGINT NOT NULL,
  phase TEXT NOT NULL,
  error TEXT NOT NULL,
  safety_copy TEXT NOT NULL,
  steps TEXT NOT NULL,   -- JSON array of {name, status, started_at, ended_at, detail}
  report TEXT NOT NULL,  -- JSON object
  started_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL,
  UNIQUE (task_id, number)
);
CREATE TABLE restore_log (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  attempt_id BIGINT NOT NULL REFERENCES restore_attempts(id) ON DELETE CASCADE,
  at BIGINT NOT NULL,
  level TEXT NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX restore_log_attempt ON restore_log(attempt_id, id);

CREATE TABLE audit_log (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  user_name TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL
);
)sql"},
    // 2: backup tasks may verify each new file after writing it.
    portable(R"sql(
ALTER TABLE backup_tasks ADD COLUMN verify_after_run INTEGER NOT NULL DEFAULT 0;
)sql"),
    // 3: each backup record says whether Flink's HA pointers and files were captured as one
    // consistent unit (JSON; "" for records written before).
    portable(R"sql(
ALTER TABLE backup_records ADD COLUMN consistency TEXT NOT NULL DEFAULT '';
)sql"),
    // 4: the manager group's lease (src/group/): one row, the active manager and its fencing
    // epoch. Unused in SQLite mode (one daemon per state directory), created for one history.
    {.sqlite = R"sql(
CREATE TABLE manager_lease (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  epoch BIGINT NOT NULL,
  holder TEXT NOT NULL,
  address TEXT NOT NULL,
  backend_pid INTEGER NOT NULL,
  renewed_at INTEGER NOT NULL  -- unix seconds
);
)sql",
     .postgres = R"sql(
CREATE TABLE manager_lease (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  epoch BIGINT NOT NULL,
  holder TEXT NOT NULL,
  address TEXT NOT NULL,
  backend_pid INTEGER NOT NULL,
  renewed_at TIMESTAMPTZ NOT NULL
);
)sql"},
    // 5: runs say where they stand in bytes (ProgressDetail as JSON; "" for rows before).
    portable(R"sql(
ALTER TABLE backup_records ADD COLUMN progress_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE restore_attempts ADD COLUMN progress_detail TEXT NOT NULL DEFAULT '';
)sql"),
    // 6: the manager group's command relay (a standby's calls carried out by the active) and
    // event feed (the active's task events for every member's event stream). Unused in SQLite
    // mode, created for one history.
    {.sqlite = R"sql(
CREATE TABLE relay_commands (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  operation TEXT NOT NULL,
  target TEXT NOT NULL,
  args TEXT NOT NULL,
  user_name TEXT NOT NULL,
  origin TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  state TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  body TEXT NOT NULL,
  retry_after INTEGER NOT NULL,
  finished_at INTEGER NOT NULL
);
CREATE INDEX relay_commands_pending ON relay_commands(id) WHERE state = 'pending';
CREATE TABLE group_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  at INTEGER NOT NULL
);
)sql",
     .postgres = R"sql(
CREATE TABLE relay_commands (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  operation TEXT NOT NULL,
  target TEXT NOT NULL,
  args TEXT NOT NULL,
  user_name TEXT NOT NULL,
  origin TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  deadline BIGINT NOT NULL,
  state TEXT NOT NULL,
  epoch BIGINT NOT NULL,
  http_status BIGINT NOT NULL,
  body TEXT NOT NULL,
  retry_after BIGINT NOT NULL,
  finished_at BIGINT NOT NULL
);
CREATE INDEX relay_commands_pending ON relay_commands(id) WHERE state = 'pending';
CREATE TABLE group_events (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  at BIGINT NOT NULL
);
)sql"},
};
constexpr int64_t kSchemaVersion = std::size(kMigrations);

Result<int64_t> read_schema_version(Connection& c) {
  auto rows = TRY(query(c, "SELECT value FROM settings WHERE key = ?", kSchemaVersionKey));
  if (!TRY(rows->next())) return 0;  // a new database
  const std::string text = rows->text(0);
  int64_t version = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 0)
    return corruption("state database: malformed schema version '" + text + "'");
  return version;
}

// One migration per transaction. The version is read inside the transaction that migrates, after
// the migration lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so that two
// processes opening the same new database do not both run a migration.
Status migrate(Connection& c) {
  for (;;) {
    auto txn = TRY(Txn::begin(c));
    TRY(c.lock_for_migration());
    TRY(c.exec(kSettingsTable, "creating the settings table"));
    const int64_t version = TRY(read_schema_version(c));
    if (version > kSchemaVersion)
      return failed_precondition("the state database has schema version " +
                                 std::to_string(version) + ", newer than this flinkbr knows (" +
                                 std::to_string(kSchemaVersion) + ")");
    if (version == kSchemaVersion) return txn.commit();
    const std::string next = std::to_string(version + 1);
    const Migration& m = kMigrations[version];
    TRY(c.exec(c.dialect() == Dialect::kSqlite ? m.sqlite : m.postgres,
               "migrating the state database to schema version " + next));
    TRY(change(c,
               "INSERT INTO settings (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
               kSchemaVersionKey, next));
    TRY(txn.commit());
  }
}

// ---------------------------------------------------------------------------------------------
// Rows.

constexpr std::string_view kUserColumns = "id, name, role, password_hash, created_at";
Result<User> read_user(Rows& s) {
  User u;
  u.id = s.i64(0);
  u.name = s.text(1);
  u.role = TRY(stored(parse_role(s.text(2)), "user '" + u.name + "'"));
  u.password_hash = s.text(3);
  u.created_at = s.i64(4);
  return u;
}

constexpr std::string_view kTokenColumns = "token_hash, user_id, created_at, expires_at";
Result<Token> read_token(Rows& s) {
  return Token{
      .token_hash = s.text(0), .user_id = s.i64(1), .created_at = s.i64(2), .expires_at = s.i64(3)};
}

Result<PathParams> read_params(Rows& s, int first, std::string_view what) {
  PathParams p;
  p.path_type = TRY(stored(parse_path_type(s.text(first)), what));
  p.path = s.text(first + 1);
  p.nameservice = s.text(first + 2);
  p.ip_mode = s.text(first + 3);
  p.namenode_ip = s.text(first + 4);
  p.queue = s.text(first + 5);
  return p;
}

constexpr std::string_view kBackupTaskColumns =
    "id, name, cluster, data_source, path_type, path, nameservice, ip_mode, namenode_ip, queue, "
    "max_copies, period_seconds, start_time, suspended, next_run, created_at, verify_after_run";
Result<BackupTask> read_backup_task(Rows& s) {
  BackupTask t;
  t.id = s.i64(0);
  t.name = s.text(1);
  const std::string what = "backup task '" + t.name + "'";
  t.cluster = s.text(2);
  t.data_source = TRY(stored(parse_data_source(s.text(3)), what));
  t.params = TRY(read_params(s, 4, what));
  t.max_copies = s.i32(10);
  t.period_seconds = s.i64(11);
  t.start_time = s.i64(12);
  t.suspended = s.boolean(13);
  t.next_run = s.i64(14);
  t.created_at = s.i64(15);
  t.verify_after_run = s.boolean(16);
  return t;
}

std::string consistency_text(const BackupRecord& r) {
  return r.consistency.is_null() ? std::string() : r.consistency.dump();
}

constexpr std::string_view kBackupRecordColumns =
    "id, task_id, task_name, status, started_at, ended_at, size, checksum, backup_object, "
    "backup_path, system_version, error, progress, consistency, progress_detail";
Result<BackupRecord> read_backup_record(Rows& s) {
  BackupRecord r;
  r.id = s.i64(0);
  r.task_id = s.i64(1);
  r.task_name = s.text(2);
  r.status = TRY(stored(parse_backup_status(s.text(3)), "backup record " + std::to_string(r.id)));
  r.started_at = s.i64(4);
  r.ended_at = s.i64(5);
  r.size = static_cast<uint64_t>(s.i64(6));
  r.checksum = s.text(7);
  r.backup_object = s.text(8);
  r.backup_path = s.text(9);
  r.system_version = s.text(10);
  r.error = s.text(11);
  r.progress = s.i32(12);
  if (std::string text = s.text(13); !text.empty()) {
    r.consistency = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (r.consistency.is_discarded())
      return corruption("state database: backup record " + std::to_string(r.id) +
                        " has a malformed consistency");
  }
  r.progress_detail =
      TRY(stored(parse_progress_detail(s.text(14)), "backup record " + std::to_string(r.id)));
  return r;
}

constexpr std::string_view kRestoreTaskColumns =
    "id, name, cluster, data_source, path_type, path, nameservice, ip_mode, namenode_ip, queue, "
    "state, progress, error, attempts, created_at, updated_at";
Result<RestoreTask> read_restore_task(Rows& s) {
  RestoreTask t;
  t.id = s.i64(0);
  t.name = s.text(1);
  const std::string what = "restoration task '" + t.name + "'";
  t.cluster = s.text(2);
  t.data_source = TRY(stored(parse_data_source(s.text(3)), what));
  t.params = TRY(read_params(s, 4, what));
  t.state = TRY(stored(parse_restore_state(s.text(10)), what));
  t.progress = s.i32(11);
  t.error = s.text(12);
  t.attempts = s.i32(13);
  t.created_at = s.i64(14);
  t.updated_at = s.i64(15);
  return t;
}

// JSON text of attempts. Strings that are not valid UTF-8 (file names can be anything) are
// stored with U+FFFD in place of the bad bytes rather than failing the whole update.
std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
std::string steps_json(const std::vector<Step>& steps) {
  auto array = nlohmann::json::array();
  for (const Step& s : steps)
    array.push_back({{"name", s.name},
                     {"status", s.status},
                     {"started_at", s.started_at},
                     {"ended_at", s.ended_at},
                     {"detail", s.detail}});
  return dump_json(array);
}

constexpr std::string_view kAttemptColumns =
    "id, task_id, number, state, progress, phase, error, safety_copy, steps, report, started_at, "
    "ended_at, progress_detail";
Result<RestoreAttempt> read_attempt(Rows& s) {
  RestoreAttempt a;
  a.id = s.i64(0);
  a.task_id = s.i64(1);
  a.number = s.i32(2);
  const std::string what = "restoration attempt " + std::to_string(a.id);
  a.state = TRY(stored(parse_restore_state(s.text(3)), what));
  a.progress = s.i32(4);
  a.phase = TRY(stored(parse_attempt_phase(s.text(5)), what));
  a.error = s.text(6);
  a.safety_copy = s.text(7);
  try {
    const auto steps = nlohmann::json::parse(s.text(8));
    if (!steps.is_array()) return corruption("state database: " + what + ": steps not an array");
    for (const auto& j : steps)
      a.steps.push_back(Step{.name = j.value("name", std::string()),
                             .status = j.value("status", std::string()),
                             .started_at = j.value("started_at", int64_t{0}),
                             .ended_at = j.value("ended_at", int64_t{0}),
                             .detail = j.value("detail", std::string())});
    a.report = nlohmann::json::parse(s.text(9));
  } catch (const nlohmann::json::exception& e) {
    return corruption("state database: " + what + ": " + e.what());
  }
  a.started_at = s.i64(10);
  a.ended_at = s.i64(11);
  a.progress_detail = TRY(stored(parse_progress_detail(s.text(12)), what));
  return a;
}

Result<LogLine> read_log_line(Rows& s) {
  return LogLine{.at = s.i64(0), .level = s.text(1), .text = s.text(2)};
}

constexpr std::string_view kAuditColumns = "id, at, user_name, action, target, outcome, detail";
Result<AuditEntry> read_audit(Rows& s) {
  return AuditEntry{.id = s.i64(0),
                    .at = s.i64(1),
                    .user = s.text(2),
                    .action = s.text(3),
                    .target = s.text(4),
                    .outcome = s.text(5),
                    .detail = s.text(6)};
}

constexpr std::string_view kCommandColumns =
    "id, operation, target, args, user_name, origin, created_at, deadline, state, epoch, "
    "http_status, body, retry_after, finished_at";
Result<RelayCommand> read_command(Rows& s) {
  RelayCommand c;
  c.id = s.i64(0);
  c.operation = s.text(1);
  c.target = s.text(2);
  c.args = s.text(3);
  c.user = s.text(4);
  c.origin = s.text(5);
  c.created_at = s.i64(6);
  c.deadline = s.i64(7);
  c.state = TRY(stored(parse_command_state(s.text(8)), "relay command " + std::to_string(c.id)));
  c.epoch = s.i64(9);
  c.http_status = s.i32(10);
  c.body = s.text(11);
  c.retry_after = s.i32(12);
  c.finished_at = s.i64(13);
  return c;
}

Result<GroupEvent> read_event(Rows& s) {
  return GroupEvent{.id = s.i64(0), .type = s.text(1), .data = s.text(2), .at = s.i64(3)};
}

std::string sql(std::string_view head, std::string_view columns, std::string_view tail) {
  std::string s(head);
  s += columns;
  s += tail;
  return s;
}

// The connection and the mutex that serialises its use, shared by a store and its fenced views.
struct Shared {
  std::mutex mu;
  std::unique_ptr<Connection> conn;
};

// The connection, held under the mutex for one call; `txn` set for the writes of a fenced view.
struct Session {
  std::unique_lock<std::mutex> lock;
  Connection* conn;
  std::optional<Txn> txn;  // destroyed (rolled back if uncommitted) before the lock is released

  Status commit() {
    if (!txn) return ok();
    Status st = txn->commit();
    txn.reset();
    return st;
  }
};

// Refuses a write of a manager whose epoch is not the group's. FOR SHARE holds the lease row
// until this transaction ends: a take-over's `UPDATE manager_lease SET epoch = ...` waits for it.
Status check_fence(Connection& c, int64_t epoch) {
  auto rows = TRY(query(c, "SELECT epoch FROM manager_lease WHERE id = 1 FOR SHARE"));
  if (!TRY(rows->next()))
    return failed_precondition("fenced: this manager's epoch is " + std::to_string(epoch) +
                               ", the group has no lease");
  const int64_t group = rows->i64(0);
  if (group != epoch)
    return failed_precondition("fenced: this manager's epoch is " + std::to_string(epoch) +
                               ", the group is at " + std::to_string(group));
  return ok();
}

// The settings key of a counter of ended runs (Store::ended_runs).
std::string ended_runs_key(std::string_view kind, std::string_view status) {
  return "runs_total." + std::string(kind) + "." + std::string(status);
}

// Counts a run that ends now: `before` is its status before this write ("" when it is being
// created), `after` the one written. Only Running (or nothing) to Succeeded or Failed counts, so
// a run counts once whatever is written after (a Succeeded record that retention marks Removed
// stays counted as Succeeded). Runs inside the write's transaction.
Status count_ended_run(Connection& c, std::string_view kind, std::string_view before,
                       std::string_view after) {
  if (before != "" && before != "Running") return ok();
  if (after != "Succeeded" && after != "Failed") return ok();
  TRY(change(c,
             "INSERT INTO settings (key, value) VALUES (?, '1') ON CONFLICT (key) DO UPDATE "
             "SET value = CAST(CAST(settings.value AS BIGINT) + 1 AS TEXT)",
             ended_runs_key(kind, after)));
  return ok();
}

// The status a row has now, read under a row lock (PostgreSQL: FOR UPDATE; SQLite's write
// transaction holds the database) so that two writers ending the same run count it once. ""
// when there is no such row.
Result<std::string> status_for_update(Connection& c, std::string_view table,
                                      std::string_view column, int64_t id) {
  std::string q = "SELECT " + std::string(column) + " FROM " + std::string(table) + " WHERE id = ?";
  if (c.dialect() == Dialect::kPostgres) q += " FOR UPDATE";
  auto rows = TRY(query(c, q, id));
  if (!TRY(rows->next())) return std::string();
  return rows->text(0);
}

class SqlStore final : public Store {
 public:
  SqlStore(std::shared_ptr<Shared> shared, std::optional<int64_t> epoch)
      : shared_(std::move(shared)), epoch_(epoch) {}

  std::unique_ptr<Store> fenced(int64_t epoch) override {
    return std::make_unique<SqlStore>(shared_, epoch);
  }

  Result<User> create_user(const std::string& name, Role role,
                           const std::string& password_hash) override;
  Result<User> get_user(const std::string& name) override;
  Status set_password_hash(int64_t user_id, const std::string& password_hash) override;
  Result<User> get_user_by_id(int64_t id) override;
  Result<std::vector<User>> list_users() override;
  Result<int64_t> count_users() override;
  Status set_user_role(const std::string& name, Role role) override;
  Status delete_user(const std::string& name) override;
  Status delete_user_tokens(int64_t user_id, const std::string& keep_token_hash) override;
  Status put_token(const Token& token) override;
  Result<Token> get_token(const std::string& token_hash) override;
  Status delete_token(const std::string& token_hash) override;
  Status delete_expired_tokens(int64_t now) override;
  Result<BackupTask> create_backup_task(const BackupTask& task) override;
  Result<BackupTask> get_backup_task(const std::string& name) override;
  Result<std::vector<BackupTask>> list_backup_tasks(Page page) override;
  Result<int64_t> count_backup_tasks() override;
  Status update_backup_task(const BackupTask& task) override;
  Status delete_backup_task(const std::string& name) override;
  Result<BackupRecord> create_backup_record(const BackupRecord& record) override;
  Status update_backup_record(const BackupRecord& record) override;
  Result<BackupRecord> get_backup_record(int64_t id) override;
  Result<std::vector<BackupRecord>> list_backup_records(int64_t task_id, Page page) override;
  Result<int64_t> count_backup_records(int64_t task_id) override;
  Result<std::vector<BackupRecord>> list_running_backup_records() override;
  Result<RestoreTask> create_restore_task(const RestoreTask& task) override;
  Result<RestoreTask> get_restore_task(const std::string& name) override;
  Result<std::vector<RestoreTask>> list_restore_tasks(Page page) override;
  Result<int64_t> count_restore_tasks() override;
  Status update_restore_task(const RestoreTask& task) override;
  Status delete_restore_task(const std::string& name) override;
  Result<RestoreAttempt> create_attempt(const RestoreAttempt& attempt) override;
  Status update_attempt(const RestoreAttempt& attempt) override;
  Result<std::vector<RestoreAttempt>> list_attempts(int64_t task_id) override;
  Status append_log(int64_t attempt_id, const LogLine& line) override;
  Result<std::vector<LogLine>> list_log(int64_t attempt_id) override;
  Status append_audit(const AuditEntry& entry) override;
  Result<std::vector<AuditEntry>> list_audit(Page page, const AuditFilter& filter) override;
  Result<int64_t> count_audit(const AuditFilter& filter) override;
  Result<int64_t> ended_runs(std::string_view kind, std::string_view status) override;
  Result<std::optional<std::string>> get_setting(const std::string& key) override;
  Status put_setting(const std::string& key, const std::string& value) override;
  Result<RelayCommand> create_command(const RelayCommand& command) override;
  Result<RelayCommand> get_command(int64_t id) override;
  Result<std::optional<RelayCommand>> claim_command(int64_t epoch, int64_t now) override;
  Status finish_command(int64_t id, int64_t epoch, int http_status, const std::string& body,
                        int retry_after) override;
  Result<bool> expire_command(int64_t id) override;
  Result<int64_t> fail_orphaned_commands(int64_t epoch, int http_status,
                                         const std::string& body) override;
  Status prune_commands(int64_t before) override;
  Result<int64_t> append_event(const std::string& type, const std::string& data) override;
  Result<std::vector<GroupEvent>> list_events_after(int64_t after, int limit) override;
  Result<int64_t> last_event_id() override;
  Result<int64_t> database_now() override;
  Status prune_events(int64_t before) override;

 private:
  // The connection for a read: under the mutex, connected.
  Result<Session> read() {
    std::unique_lock lock(shared_->mu);
    TRY(shared_->conn->ready());
    return Session{std::move(lock), shared_->conn.get(), std::nullopt};
  }
  // The connection for a write: in a fenced view on PostgreSQL, inside a transaction that has
  // checked the epoch. SQLite runs one daemon per state directory: nothing to fence.
  Result<Session> write() {
    Session s = TRY(read());
    if (!epoch_ || s.conn->dialect() == Dialect::kSqlite) return s;
    s.txn.emplace(TRY(Txn::begin(*s.conn)));
    TRY(check_fence(*s.conn, *epoch_));
    return s;
  }
  // A write of several statements that must commit together (a check and the change it guards).
  Result<Session> write_transaction() {
    Session s = TRY(write());
    if (!s.txn) s.txn.emplace(TRY(Txn::begin(*s.conn)));
    return s;
  }

  std::shared_ptr<Shared> shared_;
  std::optional<int64_t> epoch_;  // set in a fenced view
};

Result<std::unique_ptr<Store>> open_store(Result<std::unique_ptr<Connection>> conn,
                                          std::string_view what) {
  if (!conn) return std::unexpected(std::move(conn.error()));
  TRY_CTX(migrate(**conn), what);
  auto shared = std::make_shared<Shared>();
  shared->conn = std::move(*conn);
  return std::unique_ptr<Store>(new SqlStore(std::move(shared), std::nullopt));
}

}  // namespace

int64_t latest_schema_version() {
  return kSchemaVersion;
}

// ---------------------------------------------------------------------------------------------
// Opening.

Result<std::unique_ptr<Store>> Store::open_sqlite(const std::string& path) {
  return open_store(open_sqlite_connection(path), "opening the state database " + path);
}

Result<std::unique_ptr<Store>> Store::open_postgres(const std::string& conninfo,
                                                    const std::string& password,
                                                    const std::string& schema) {
  return open_store(open_postgres_connection(conninfo, password, schema),
                    "opening the state database (PostgreSQL, schema " + schema + ")");
}

// ---------------------------------------------------------------------------------------------
// Users and tokens.

Result<User> SqlStore::create_user(const std::string& name, Role role,
                                   const std::string& password_hash) {
  auto db = TRY(write());
  User u{.name = name, .role = role, .password_hash = password_hash, .created_at = now_seconds()};
  u.id = TRY(name_constraint(insert(*db.conn,
                                    "INSERT INTO users (name, role, password_hash, created_at) "
                                    "VALUES (?, ?, ?, ?) RETURNING id",
                                    u.name, to_string(u.role), u.password_hash, u.created_at),
                             Errc::kAlreadyExists, "a user named '" + name + "' already exists"));
  TRY(db.commit());
  return u;
}

Status SqlStore::set_password_hash(int64_t user_id, const std::string& password_hash) {
  auto db = TRY(write());
  auto n = TRY(
      change(*db.conn, "UPDATE users SET password_hash = ? WHERE id = ?", password_hash, user_id));
  if (n == 0) return not_found("user with id " + std::to_string(user_id) + " does not exist");
  return db.commit();
}

Result<User> SqlStore::get_user(const std::string& name) {
  auto db = TRY(read());
  return query_one(*db.conn, sql("SELECT ", kUserColumns, " FROM users WHERE name = ?"), read_user,
                   "user '" + name + "' does not exist", name);
}

Result<User> SqlStore::get_user_by_id(int64_t id) {
  auto db = TRY(read());
  return query_one(*db.conn, sql("SELECT ", kUserColumns, " FROM users WHERE id = ?"), read_user,
                   "user with id " + std::to_string(id) + " does not exist", id);
}

Result<std::vector<User>> SqlStore::list_users() {
  auto db = TRY(read());
  return query_all(*db.conn, sql("SELECT ", kUserColumns, " FROM users ORDER BY id"), read_user);
}

Result<int64_t> SqlStore::count_users() {
  auto db = TRY(read());
  return query_one(
      *db.conn, "SELECT count(*) FROM users", [](Rows& s) -> Result<int64_t> { return s.i64(0); },
      "no count");
}

// Refuses to demote or delete `name` when they are the last administrator. Called inside the
// write's transaction, before the change, so that the check and the change commit together: two
// administrators demoting each other at once must not both pass. PostgreSQL: FOR UPDATE locks
// every administrator's row, so the second transaction waits for the first and then re-reads
// the rows it changed (a demoted row no longer matches). SQLite: BEGIN IMMEDIATE has taken the
// database's write lock already (and SQLite has no FOR UPDATE).
Status keep_an_administrator(Connection& c, const std::string& name, std::string_view doing) {
  const std::string admins = std::string("SELECT name FROM users WHERE role = ?") +
                             (c.dialect() == Dialect::kPostgres ? " ORDER BY id FOR UPDATE" : "");
  auto rows = TRY(query(c, admins, to_string(Role::kAdministrator)));
  int64_t count = 0;
  bool is_admin = false;
  while (TRY(rows->next())) {
    ++count;
    if (rows->text(0) == name) is_admin = true;
  }
  if (is_admin && count == 1)
    return failed_precondition("user '" + name + "' is the last administrator: " +
                               std::string(doing) + " would leave none");
  return ok();
}

Status SqlStore::set_user_role(const std::string& name, Role role) {
  auto db = TRY(write_transaction());
  if (role != Role::kAdministrator)
    TRY(keep_an_administrator(*db.conn, name, "making them " + std::string(to_string(role))));
  if (TRY(change(*db.conn, "UPDATE users SET role = ? WHERE name = ?", to_string(role), name)) == 0)
    return not_found("user '" + name + "' does not exist");
  return db.commit();
}

Status SqlStore::delete_user(const std::string& name) {
  auto db = TRY(write_transaction());
  TRY(keep_an_administrator(*db.conn, name, "deleting them"));
  // The tokens go with the user (ON DELETE CASCADE).
  if (TRY(change(*db.conn, "DELETE FROM users WHERE name = ?", name)) == 0)
    return not_found("user '" + name + "' does not exist");
  return db.commit();
}

Status SqlStore::delete_user_tokens(int64_t user_id, const std::string& keep_token_hash) {
  auto db = TRY(write());
  TRY(change(*db.conn, "DELETE FROM tokens WHERE user_id = ? AND token_hash <> ?", user_id,
             keep_token_hash));
  return db.commit();
}

// The total behind a paged list, so that a client can show "page 3 of 40".
Result<int64_t> SqlStore::count_backup_tasks() {
  auto db = TRY(read());
  return query_one(
      *db.conn, "SELECT count(*) FROM backup_tasks",
      [](Rows& s) -> Result<int64_t> { return s.i64(0); }, "no count");
}

Result<int64_t> SqlStore::count_backup_records(int64_t task_id) {
  auto db = TRY(read());
  return query_one(
      *db.conn, "SELECT count(*) FROM backup_records WHERE task_id = ?",
      [](Rows& s) -> Result<int64_t> { return s.i64(0); }, "no count", task_id);
}

Result<int64_t> SqlStore::count_restore_tasks() {
  auto db = TRY(read());
  return query_one(
      *db.conn, "SELECT count(*) FROM restore_tasks",
      [](Rows& s) -> Result<int64_t> { return s.i64(0); }, "no count");
}

// The WHERE of a filtered audit query: an empty value matches every entry. Each value is bound
// twice (`?` placeholders are positional in both dialects).
constexpr std::string_view kAuditWhere =
    " WHERE (CAST(? AS TEXT) = '' OR user_name = ?) AND (CAST(? AS TEXT) = '' OR action = ?)";

Result<int64_t> SqlStore::count_audit(const AuditFilter& filter) {
  auto db = TRY(read());
  return query_one(
      *db.conn, "SELECT count(*) FROM audit_log" + std::string(kAuditWhere),
      [](Rows& s) -> Result<int64_t> { return s.i64(0); }, "no count", filter.user, filter.user,
      filter.action, filter.action);
}

Status SqlStore::put_token(const Token& token) {
  auto db = TRY(write());
  TRY(name_constraint(
      name_constraint(change(*db.conn,
                             "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) "
                             "VALUES (?, ?, ?, ?)",
                             token.token_hash, token.user_id, token.created_at, token.expires_at),
                      Errc::kNotFound,
                      "user with id " + std::to_string(token.user_id) + " does not exist"),
      Errc::kAlreadyExists, "the token already exists"));
  return db.commit();
}

Result<Token> SqlStore::get_token(const std::string& token_hash) {
  auto db = TRY(read());
  // The message does not repeat the hash: it identifies a session.
  return query_one(*db.conn, sql("SELECT ", kTokenColumns, " FROM tokens WHERE token_hash = ?"),
                   read_token, "the token does not exist", token_hash);
}

Status SqlStore::delete_token(const std::string& token_hash) {
  auto db = TRY(write());
  // Idempotent: logging out twice is not an error.
  TRY(change(*db.conn, "DELETE FROM tokens WHERE token_hash = ?", token_hash));
  return db.commit();
}

Status SqlStore::delete_expired_tokens(int64_t now) {
  auto db = TRY(write());
  TRY(change(*db.conn, "DELETE FROM tokens WHERE expires_at <= ?", now));
  return db.commit();
}

// ---------------------------------------------------------------------------------------------
// Backup tasks and records.

Result<BackupTask> SqlStore::create_backup_task(const BackupTask& task) {
  auto db = TRY(write());
  BackupTask t = task;
  if (t.created_at == 0) t.created_at = now_seconds();
  const PathParams& p = t.params;
  t.id = TRY(name_constraint(
      insert(*db.conn,
             "INSERT INTO backup_tasks (name, cluster, data_source, path_type, path, nameservice, "
             "ip_mode, namenode_ip, queue, max_copies, period_seconds, start_time, suspended, "
             "next_run, created_at, verify_after_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
             "?, ?, ?, ?) RETURNING id",
             t.name, t.cluster, to_string(t.data_source), to_string(p.path_type), p.path,
             p.nameservice, p.ip_mode, p.namenode_ip, p.queue, t.max_copies, t.period_seconds,
             t.start_time, t.suspended, t.next_run, t.created_at, t.verify_after_run),
      Errc::kAlreadyExists, "a backup task named '" + t.name + "' already exists"));
  TRY(db.commit());
  return t;
}

Result<BackupTask> SqlStore::get_backup_task(const std::string& name) {
  auto db = TRY(read());
  return query_one(*db.conn,
                   sql("SELECT ", kBackupTaskColumns, " FROM backup_tasks WHERE name = ?"),
                   read_backup_task, "backup task '" + name + "' does not exist", name);
}

Result<std::vector<BackupTask>> SqlStore::list_backup_tasks(Page page) {
  auto db = TRY(read());
  const Limits l = clamp(page);
  return query_all(
      *db.conn,
      sql("SELECT ", kBackupTaskColumns, " FROM backup_tasks ORDER BY id LIMIT ? OFFSET ?"),
      read_backup_task, l.limit, l.offset);
}

Status SqlStore::update_backup_task(const BackupTask& t) {
  auto db = TRY(write());
  const PathParams& p = t.params;
  const int64_t n = TRY(name_constraint(
      change(*db.conn,
             "UPDATE backup_tasks SET name = ?, cluster = ?, data_source = ?, path_type = ?, "
             "path = ?, nameservice = ?, ip_mode = ?, namenode_ip = ?, queue = ?, max_copies = ?, "
             "period_seconds = ?, start_time = ?, suspended = ?, next_run = ?, created_at = ?, "
             "verify_after_run = ? WHERE id = ?",
             t.name, t.cluster, to_string(t.data_source), to_string(p.path_type), p.path,
             p.nameservice, p.ip_mode, p.namenode_ip, p.queue, t.max_copies, t.period_seconds,
             t.start_time, t.suspended, t.next_run, t.created_at, t.verify_after_run, t.id),
      Errc::kAlreadyExists, "a backup task named '" + t.name + "' already exists"));
  if (n == 0) return not_found("backup task '" + t.name + "' does not exist");
  return db.commit();
}

Status SqlStore::delete_backup_task(const std::string& name) {
  auto db = TRY(write());
  if (TRY(change(*db.conn, "DELETE FROM backup_tasks WHERE name = ?", name)) == 0)
    return not_found("backup task '" + name + "' does not exist");
  return db.commit();
}

Result<BackupRecord> SqlStore::create_backup_record(const BackupRecord& record) {
  auto db = TRY(write_transaction());
  BackupRecord r = record;
  r.id = TRY(
      insert(*db.conn,
             "INSERT INTO backup_records (task_id, task_name, status, started_at, ended_at, size, "
             "checksum, backup_object, backup_path, system_version, error, progress, consistency, "
             "progress_detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
             r.task_id, r.task_name, to_string(r.status), r.started_at, r.ended_at, r.size,
             r.checksum, r.backup_object, r.backup_path, r.system_version, r.error, r.progress,
             consistency_text(r), progress_detail_text(r.progress_detail)));
  TRY(count_ended_run(*db.conn, "backup", "", to_string(r.status)));
  TRY(db.commit());
  return r;
}

Status SqlStore::update_backup_record(const BackupRecord& r) {
  auto db = TRY(write_transaction());
  const std::string before = TRY(status_for_update(*db.conn, "backup_records", "status", r.id));
  TRY(count_ended_run(*db.conn, "backup", before, to_string(r.status)));
  const int64_t n =
      TRY(change(*db.conn,
                 "UPDATE backup_records SET task_id = ?, task_name = ?, status = ?, "
                 "started_at = ?, ended_at = ?, size = ?, checksum = ?, backup_object = ?, "
                 "backup_path = ?, system_version = ?, error = ?, progress = ?, consistency = ?, "
                 "progress_detail = ? WHERE id = ?",
                 r.task_id, r.task_name, to_string(r.status), r.started_at, r.ended_at, r.size,
                 r.checksum, r.backup_object, r.backup_path, r.system_version, r.error, r.progress,
                 consistency_text(r), progress_detail_text(r.progress_detail), r.id));
  if (n == 0) return not_found("backup record " + std::to_string(r.id) + " does not exist");
  return db.commit();
}

Result<BackupRecord> SqlStore::get_backup_record(int64_t id) {
  auto db = TRY(read());
  return query_one(
      *db.conn, sql("SELECT ", kBackupRecordColumns, " FROM backup_records WHERE id = ?"),
      read_backup_record, "backup record " + std::to_string(id) + " does not exist", id);
}

Result<std::vector<BackupRecord>> SqlStore::list_backup_records(int64_t task_id, Page page) {
  auto db = TRY(read());
  const Limits l = clamp(page);
  return query_all(*db.conn,
                   sql("SELECT ", kBackupRecordColumns,
                       " FROM backup_records WHERE task_id = ? ORDER BY id DESC LIMIT ? OFFSET ?"),
                   read_backup_record, task_id, l.limit, l.offset);
}

Result<std::vector<BackupRecord>> SqlStore::list_running_backup_records() {
  auto db = TRY(read());
  // The literal matches the partial index backup_records_running.
  return query_all(*db.conn,
                   sql("SELECT ", kBackupRecordColumns,
                       " FROM backup_records WHERE status = 'Running' ORDER BY id"),
                   read_backup_record);
}

// ---------------------------------------------------------------------------------------------
// Restoration tasks, attempts and their logs.

Result<RestoreTask> SqlStore::create_restore_task(const RestoreTask& task) {
  auto db = TRY(write());
  RestoreTask t = task;
  if (t.created_at == 0) t.created_at = now_seconds();
  if (t.updated_at == 0) t.updated_at = t.created_at;
  const PathParams& p = t.params;
  t.id = TRY(name_constraint(
      insert(*db.conn,
             "INSERT INTO restore_tasks (name, cluster, data_source, path_type, path, "
             "nameservice, ip_mode, namenode_ip, queue, state, progress, error, attempts, "
             "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
             "RETURNING id",
             t.name, t.cluster, to_string(t.data_source), to_string(p.path_type), p.path,
             p.nameservice, p.ip_mode, p.namenode_ip, p.queue, to_string(t.state), t.progress,
             t.error, t.attempts, t.created_at, t.updated_at),
      Errc::kAlreadyExists, "a restoration task named '" + t.name + "' already exists"));
  TRY(db.commit());
  return t;
}

Result<RestoreTask> SqlStore::get_restore_task(const std::string& name) {
  auto db = TRY(read());
  return query_one(*db.conn,
                   sql("SELECT ", kRestoreTaskColumns, " FROM restore_tasks WHERE name = ?"),
                   read_restore_task, "restoration task '" + name + "' does not exist", name);
}

Result<std::vector<RestoreTask>> SqlStore::list_restore_tasks(Page page) {
  auto db = TRY(read());
  const Limits l = clamp(page);
  return query_all(
      *db.conn,
      sql("SELECT ", kRestoreTaskColumns, " FROM restore_tasks ORDER BY id LIMIT ? OFFSET ?"),
      read_restore_task, l.limit, l.offset);
}

Status SqlStore::update_restore_task(const RestoreTask& t) {
  auto db = TRY(write());
  const PathParams& p = t.params;
  const int64_t n = TRY(name_constraint(
      change(*db.conn,
             "UPDATE restore_tasks SET name = ?, cluster = ?, data_source = ?, path_type = ?, "
             "path = ?, nameservice = ?, ip_mode = ?, namenode_ip = ?, queue = ?, state = ?, "
             "progress = ?, error = ?, attempts = ?, created_at = ?, updated_at = ? WHERE id = ?",
             t.name, t.cluster, to_string(t.data_source), to_string(p.path_type), p.path,
             p.nameservice, p.ip_mode, p.namenode_ip, p.queue, to_string(t.state), t.progress,
             t.error, t.attempts, t.created_at, t.updated_at, t.id),
      Errc::kAlreadyExists, "a restoration task named '" + t.name + "' already exists"));
  if (n == 0) return not_found("restoration task '" + t.name + "' does not exist");
  return db.commit();
}

Status SqlStore::delete_restore_task(const std::string& name) {
  auto db = TRY(write());
  // Attempts and their log lines go with it (ON DELETE CASCADE).
  if (TRY(change(*db.conn, "DELETE FROM restore_tasks WHERE name = ?", name)) == 0)
    return not_found("restoration task '" + name + "' does not exist");
  return db.commit();
}

Result<RestoreAttempt> SqlStore::create_attempt(const RestoreAttempt& attempt) {
  auto db = TRY(write_transaction());
  RestoreAttempt a = attempt;
  a.id = TRY(name_constraint(
      name_constraint(
          insert(*db.conn,
                 "INSERT INTO restore_attempts (task_id, number, state, progress, phase, error, "
                 "safety_copy, steps, report, started_at, ended_at, progress_detail) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                 a.task_id, a.number, to_string(a.state), a.progress, to_string(a.phase), a.error,
                 a.safety_copy, steps_json(a.steps), dump_json(a.report), a.started_at, a.ended_at,
                 progress_detail_text(a.progress_detail)),
          Errc::kNotFound,
          "restoration task with id " + std::to_string(a.task_id) + " does not exist"),
      Errc::kAlreadyExists,
      "attempt " + std::to_string(a.number) + " of restoration task with id " +
          std::to_string(a.task_id) + " already exists"));
  TRY(count_ended_run(*db.conn, "restore", "", to_string(a.state)));
  TRY(db.commit());
  return a;
}

Status SqlStore::update_attempt(const RestoreAttempt& a) {
  auto db = TRY(write_transaction());
  const std::string before = TRY(status_for_update(*db.conn, "restore_attempts", "state", a.id));
  TRY(count_ended_run(*db.conn, "restore", before, to_string(a.state)));
  const int64_t n = TRY(change(
      *db.conn,
      "UPDATE restore_attempts SET task_id = ?, number = ?, state = ?, progress = ?, phase = ?, "
      "error = ?, safety_copy = ?, steps = ?, report = ?, started_at = ?, ended_at = ?, "
      "progress_detail = ? WHERE id = ?",
      a.task_id, a.number, to_string(a.state), a.progress, to_string(a.phase), a.error,
      a.safety_copy, steps_json(a.steps), dump_json(a.report), a.started_at, a.ended_at,
      progress_detail_text(a.progress_detail), a.id));
  if (n == 0) return not_found("restoration attempt " + std::to_string(a.id) + " does not exist");
  return db.commit();
}

Result<std::vector<RestoreAttempt>> SqlStore::list_attempts(int64_t task_id) {
  auto db = TRY(read());
  return query_all(*db.conn,
                   sql("SELECT ", kAttemptColumns,
                       " FROM restore_attempts WHERE task_id = ? ORDER BY number, id"),
                   read_attempt, task_id);
}

Status SqlStore::append_log(int64_t attempt_id, const LogLine& line) {
  auto db = TRY(write());
  TRY(name_constraint(
      change(*db.conn, "INSERT INTO restore_log (attempt_id, at, level, text) VALUES (?, ?, ?, ?)",
             attempt_id, line.at != 0 ? line.at : now_seconds(), line.level, line.text),
      Errc::kNotFound, "restoration attempt " + std::to_string(attempt_id) + " does not exist"));
  return db.commit();
}

Result<std::vector<LogLine>> SqlStore::list_log(int64_t attempt_id) {
  auto db = TRY(read());
  return query_all(*db.conn,
                   "SELECT at, level, text FROM restore_log WHERE attempt_id = ? ORDER BY id",
                   read_log_line, attempt_id);
}

// ---------------------------------------------------------------------------------------------
// Audit log and settings.

Status SqlStore::append_audit(const AuditEntry& e) {
  auto db = TRY(write());
  TRY(change(*db.conn,
             "INSERT INTO audit_log (at, user_name, action, target, outcome, detail) "
             "VALUES (?, ?, ?, ?, ?, ?)",
             e.at != 0 ? e.at : now_seconds(), e.user, e.action, e.target, e.outcome, e.detail));
  return db.commit();
}

Result<std::vector<AuditEntry>> SqlStore::list_audit(Page page, const AuditFilter& filter) {
  auto db = TRY(read());
  const Limits l = clamp(page);
  return query_all(
      *db.conn,
      sql("SELECT ", kAuditColumns,
          " FROM audit_log" + std::string(kAuditWhere) + " ORDER BY id DESC LIMIT ? OFFSET ?"),
      read_audit, filter.user, filter.user, filter.action, filter.action, l.limit, l.offset);
}

Result<int64_t> SqlStore::ended_runs(std::string_view kind, std::string_view status) {
  auto value = TRY(get_setting(ended_runs_key(kind, status)));
  if (!value) return 0;
  int64_t n = 0;
  const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc() || end != value->data() + value->size() || n < 0)
    return corruption("state database: malformed counter " + ended_runs_key(kind, status) + " '" +
                      *value + "'");
  return n;
}

Result<std::optional<std::string>> SqlStore::get_setting(const std::string& key) {
  auto db = TRY(read());
  auto rows = TRY(query(*db.conn, "SELECT value FROM settings WHERE key = ?", key));
  if (!TRY(rows->next())) return std::nullopt;
  return rows->text(0);
}

Status SqlStore::put_setting(const std::string& key, const std::string& value) {
  // The schema version belongs to the migrations alone.
  if (key == kSchemaVersionKey)
    return invalid_argument("key", "the setting '" + key + "' is managed by the store");
  auto db = TRY(write());
  TRY(change(*db.conn,
             "INSERT INTO settings (key, value) VALUES (?, ?) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
             key, value));
  return db.commit();
}

// ---------------------------------------------------------------------------------------------
// The command relay and the event feed of a manager group.

Result<RelayCommand> SqlStore::create_command(const RelayCommand& command) {
  auto db = TRY(write());
  RelayCommand c = command;
  c.state = CommandState::kPending;
  if (c.created_at == 0) c.created_at = now_seconds();
  c.id = TRY(insert(*db.conn,
                    "INSERT INTO relay_commands (operation, target, args, user_name, origin, "
                    "created_at, deadline, state, epoch, http_status, body, retry_after, "
                    "finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, '', 0, 0) RETURNING id",
                    c.operation, c.target, c.args, c.user, c.origin, c.created_at, c.deadline,
                    to_string(c.state)));
  TRY(db.conn->notify(kCommandsChannel, std::to_string(c.id)));
  TRY(db.commit());
  return c;
}

Result<RelayCommand> SqlStore::get_command(int64_t id) {
  auto db = TRY(read());
  return query_one(*db.conn, sql("SELECT ", kCommandColumns, " FROM relay_commands WHERE id = ?"),
                   read_command, "relay command " + std::to_string(id) + " does not exist", id);
}

Result<std::optional<RelayCommand>> SqlStore::claim_command(int64_t epoch, int64_t now) {
  auto db = TRY(write());
  // The state test in the UPDATE itself: of two claims of one command, one changes the row.
  // The literal 'pending' matches the partial index relay_commands_pending.
  auto rows = TRY(query(*db.conn,
                        sql("UPDATE relay_commands SET state = 'claimed', epoch = ? WHERE id = "
                            "(SELECT id FROM relay_commands WHERE state = 'pending' AND deadline > "
                            "? ORDER BY id LIMIT 1) AND state = 'pending' RETURNING ",
                            kCommandColumns, ""),
                        epoch, now));
  std::optional<RelayCommand> out;
  if (TRY(rows->next())) out = TRY(read_command(*rows));
  while (TRY(rows->next())) {
  }
  TRY(db.commit());
  return out;
}

Status SqlStore::finish_command(int64_t id, int64_t epoch, int http_status, const std::string& body,
                                int retry_after) {
  auto db = TRY(write());
  const int64_t n = TRY(change(*db.conn,
                               "UPDATE relay_commands SET state = 'done', http_status = ?, "
                               "body = ?, retry_after = ?, finished_at = ? WHERE id = ? AND "
                               "state = 'claimed' AND epoch = ?",
                               http_status, body, retry_after, now_seconds(), id, epoch));
  if (n == 0)
    return failed_precondition("relay command " + std::to_string(id) + " is not claimed by epoch " +
                               std::to_string(epoch));
  TRY(db.conn->notify(kResultsChannel, std::to_string(id)));
  return db.commit();
}

Result<bool> SqlStore::expire_command(int64_t id) {
  auto db = TRY(write());
  const int64_t n = TRY(change(
      *db.conn,
      "UPDATE relay_commands SET state = 'expired', finished_at = ? WHERE id = ? AND state = "
      "'pending'",
      now_seconds(), id));
  TRY(db.commit());
  return n > 0;
}

Result<int64_t> SqlStore::fail_orphaned_commands(int64_t epoch, int http_status,
                                                 const std::string& body) {
  auto db = TRY(write());
  const int64_t n = TRY(change(*db.conn,
                               "UPDATE relay_commands SET state = 'done', http_status = ?, "
                               "body = ?, retry_after = 0, finished_at = ? WHERE state = "
                               "'claimed' AND epoch <> ?",
                               http_status, body, now_seconds(), epoch));
  if (n > 0) TRY(db.conn->notify(kResultsChannel, "orphans"));
  TRY(db.commit());
  return n;
}

Status SqlStore::prune_commands(int64_t before) {
  auto db = TRY(write());
  TRY(change(*db.conn, "DELETE FROM relay_commands WHERE created_at < ?", before));
  return db.commit();
}

Result<int64_t> SqlStore::append_event(const std::string& type, const std::string& data) {
  auto db = TRY(write());
  // Stamped with the database's clock, which the pruning compares (Store::database_now).
  const int64_t id =
      TRY(insert(*db.conn,
                 db.conn->dialect() == Dialect::kPostgres
                     ? "INSERT INTO group_events (type, data, at) VALUES (?, ?, "
                       "CAST(floor(extract(epoch FROM clock_timestamp())) AS BIGINT)) RETURNING id"
                     : "INSERT INTO group_events (type, data, at) VALUES (?, ?, "
                       "CAST(strftime('%s', 'now') AS INTEGER)) RETURNING id",
                 type, data));
  TRY(db.conn->notify(kEventsChannel, std::to_string(id)));
  TRY(db.commit());
  return id;
}

Result<std::vector<GroupEvent>> SqlStore::list_events_after(int64_t after, int limit) {
  auto db = TRY(read());
  return query_all(*db.conn,
                   "SELECT id, type, data, at FROM group_events WHERE id > ? ORDER BY id LIMIT ?",
                   read_event, after, static_cast<int64_t>(std::clamp(limit, 1, 1000)));
}

Result<int64_t> SqlStore::last_event_id() {
  auto db = TRY(read());
  return query_one(
      *db.conn, "SELECT COALESCE(MAX(id), 0) FROM group_events",
      [](Rows& s) -> Result<int64_t> { return s.i64(0); }, "no id");
}

Result<int64_t> SqlStore::database_now() {
  auto db = TRY(read());
  // clock_timestamp(), not now(): the time of this statement, not of its transaction's start.
  const char* q = db.conn->dialect() == Dialect::kPostgres
                      ? "SELECT CAST(floor(extract(epoch FROM clock_timestamp())) AS BIGINT)"
                      : "SELECT CAST(strftime('%s', 'now') AS INTEGER)";
  return query_one(
      *db.conn, q, [](Rows& s) -> Result<int64_t> { return s.i64(0); }, "no time");
}

Status SqlStore::prune_events(int64_t before) {
  auto db = TRY(write());
  TRY(change(*db.conn, "DELETE FROM group_events WHERE at < ?", before));
  return db.commit();
}

}  // namespace flinkbr::store
