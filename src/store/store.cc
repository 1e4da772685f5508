// The SQLite state database. One connection per Store, used under mu_: SQLite's own mutexes are
// off (SQLITE_OPEN_NOMUTEX) because ours already serialises every call. Each public method is one
// statement (an implicit transaction) or one explicit BEGIN IMMEDIATE transaction.
#include "store/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

namespace flinkbr::store {

namespace {

// ---------------------------------------------------------------------------------------------
// SQLite RAII helpers.

// kIOError with SQLite's message; busy/locked are worth retrying.
Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  Error e;
  const int primary = rc & 0xff;
  e.code = Errc::kIOError;
  e.message = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  e.retryable = primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
  // Constraint violations get their own codes so that callers can name the thing at fault.
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
    e.code = Errc::kAlreadyExists;
  else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
    e.code = Errc::kNotFound;
  return e;
}

// Runs SQL without results (one or several statements).
Status exec(sqlite3* db, std::string_view sql, std::string_view what) {
  char* msg = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return ok();
  std::string detail = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  Error e = sqlite_error(db, rc, what);
  e.message = std::string(what) + ": " + detail;
  return std::unexpected(std::move(e));
}

// A prepared statement, finalized on destruction. Parameters are bound in order by bind(); a
// binding failure is kept and reported by the next step().
class Stmt {
 public:
  static Result<Stmt> prepare(sqlite3* db, std::string_view sql) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return std::unexpected(sqlite_error(db, rc, "preparing a statement"));
    }
    return Stmt(db, stmt);
  }

  Stmt(Stmt&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}
  Stmt& operator=(Stmt&&) = delete;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    if (stmt_) sqlite3_finalize(stmt_);
  }

  // Binds the parameters 1..N in the order given.
  template <class... Args>
  Stmt& bind(const Args&... args) {
    int index = 0;
    (bind_one(++index, args), ...);
    return *this;
  }

  // Advances: true with a row to read, false when the statement is done.
  Result<bool> step() {
    if (bind_rc_ != SQLITE_OK) return std::unexpected(sqlite_error(db_, bind_rc_, "binding"));
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return std::unexpected(sqlite_error(db_, rc, "state database"));
  }
  // Runs a statement that returns no rows.
  Status run() {
    while (TRY(step())) {
    }
    return ok();
  }

  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  int i32(int col) const { return sqlite3_column_int(stmt_, col); }
  bool boolean(int col) const { return sqlite3_column_int64(stmt_, col) != 0; }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(p, static_cast<size_t>(n)) : std::string();
  }

 private:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}

  template <class T>
  void bind_one(int index, const T& value) {
    int rc;
    if constexpr (std::is_same_v<T, bool>) {
      rc = sqlite3_bind_int(stmt_, index, value ? 1 : 0);
    } else if constexpr (std::is_integral_v<T>) {
      rc = sqlite3_bind_int64(stmt_, index, static_cast<sqlite3_int64>(value));
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      const std::string_view s = value;
      // A null data pointer would bind SQL NULL; an empty string is wanted.
      rc = sqlite3_bind_text64(stmt_, index, s.data() ? s.data() : "", s.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
    } else {
      static_assert(sizeof(T) == 0, "unsupported parameter type");
    }
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE ... COMMIT. Commit is explicit; a transaction destroyed uncommitted rolls back.
class Txn {
 public:
  static Result<Txn> begin(sqlite3* db) {
    TRY(exec(db, "BEGIN IMMEDIATE", "starting a transaction"));
    return Txn(db);
  }
  Txn(Txn&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Txn& operator=(Txn&&) = delete;
  ~Txn() {
    // SQLite may already have rolled back after some errors (SQLITE_FULL, SQLITE_IOERR...).
    if (db_ && !sqlite3_get_autocommit(db_))
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Status commit() {
    TRY(exec(db_, "COMMIT", "committing a transaction"));
    db_ = nullptr;
    return ok();
  }

 private:
  explicit Txn(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// Runs `sql` with `args` and returns the first row read by `read`, or kNotFound(`missing`).
template <class F, class... Args>
auto query_one(sqlite3* db, std::string_view sql, F read, const std::string& missing,
               const Args&... args) -> decltype(read(std::declval<Stmt&>())) {
  auto stmt = TRY(Stmt::prepare(db, sql));
  stmt.bind(args...);
  if (!TRY(stmt.step())) return not_found(missing);
  return read(stmt);
}

// Runs `sql` with `args` and collects every row read by `read`.
template <class F, class... Args>
auto query_all(sqlite3* db, std::string_view sql, F read, const Args&... args)
    -> Result<std::vector<typename decltype(read(std::declval<Stmt&>()))::value_type>> {
  using T = typename decltype(read(std::declval<Stmt&>()))::value_type;
  auto stmt = TRY(Stmt::prepare(db, sql));
  stmt.bind(args...);
  std::vector<T> rows;
  while (TRY(stmt.step())) rows.push_back(TRY(read(stmt)));
  return rows;
}

// Runs an INSERT/UPDATE/DELETE and returns the number of rows it changed.
template <class... Args>
Result<int64_t> change(sqlite3* db, std::string_view sql, const Args&... args) {
  auto stmt = TRY(Stmt::prepare(db, sql));
  stmt.bind(args...);
  TRY(stmt.run());
  return sqlite3_changes64(db);
}

// Replaces the message of a constraint error (kAlreadyExists/kNotFound from sqlite_error) with
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
// Schema. Migration N (1-based) moves the schema from version N-1 to N; append, never edit.
// The `settings` table exists before any migration because it holds the version.

constexpr std::string_view kSettingsTable =
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)";
constexpr std::string_view kSchemaVersionKey = "schema_version";

// AUTOINCREMENT keeps ids from being reused after a delete: backup records keep the task_id of a
// deleted backup task, which must not come to point at a new task.
constexpr std::string_view kMigrations[] = {
    // 1: the initial schema.
    R"sql(
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
    // 2: backup tasks may verify each new file after writing it.
    R"sql(
ALTER TABLE backup_tasks ADD COLUMN verify_after_run INTEGER NOT NULL DEFAULT 0;
)sql",
    // 3: each backup record says whether Flink's HA pointers and files were captured as one
    // consistent unit (JSON; "" for records written before).
    R"sql(
ALTER TABLE backup_records ADD COLUMN consistency TEXT NOT NULL DEFAULT '';
)sql",
    // 4: runs say where they stand in bytes (ProgressDetail as JSON; "" for rows before).
    R"sql(
ALTER TABLE backup_records ADD COLUMN progress_detail TEXT NOT NULL DEFAULT '';
ALTER TABLE restore_attempts ADD COLUMN progress_detail TEXT NOT NULL DEFAULT '';
)sql",
};
constexpr int64_t kSchemaVersion = std::size(kMigrations);

Result<int64_t> read_schema_version(sqlite3* db) {
  auto stmt = TRY(Stmt::prepare(db, "SELECT value FROM settings WHERE key = ?"));
  stmt.bind(kSchemaVersionKey);
  if (!TRY(stmt.step())) return 0;  // a new database
  const std::string text = stmt.text(0);
  int64_t version = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 0)
    return corruption("state database: malformed schema version '" + text + "'");
  return version;
}

Status migrate(sqlite3* db) {
  TRY(exec(db, kSettingsTable, "creating the settings table"));
  for (;;) {
    // The version is read inside the transaction that migrates, so that two processes opening
    // the same new database do not both run a migration.
    auto txn = TRY(Txn::begin(db));
    const int64_t version = TRY(read_schema_version(db));
    if (version > kSchemaVersion)
      return failed_precondition("the state database has schema version " +
                                 std::to_string(version) + ", newer than this flinkbr knows (" +
                                 std::to_string(kSchemaVersion) + ")");
    if (version == kSchemaVersion) return ok();
    const std::string next = std::to_string(version + 1);
    TRY(exec(db, kMigrations[version], "migrating the state database to schema version " + next));
    TRY(change(db,
               "INSERT INTO settings (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
               kSchemaVersionKey, next));
    TRY(txn.commit());
  }
}

// ---------------------------------------------------------------------------------------------
// Rows.

constexpr std::string_view kUserColumns = "id, name, role, password_hash, created_at";
Result<User> read_user(Stmt& s) {
  User u;
  u.id = s.i64(0);
  u.name = s.text(1);
  u.role = TRY(stored(parse_role(s.text(2)), "user '" + u.name + "'"));
  u.password_hash = s.text(3);
  u.created_at = s.i64(4);
  return u;
}

constexpr std::string_view kTokenColumns = "token_hash, user_id, created_at, expires_at";
Result<Token> read_token(Stmt& s) {
  return Token{
      .token_hash = s.text(0), .user_id = s.i64(1), .created_at = s.i64(2), .expires_at = s.i64(3)};
}

Result<PathParams> read_params(Stmt& s, int first, std::string_view what) {
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
Result<BackupTask> read_backup_task(Stmt& s) {
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
Result<BackupRecord> read_backup_record(Stmt& s) {
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
Result<RestoreTask> read_restore_task(Stmt& s) {
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
Result<RestoreAttempt> read_attempt(Stmt& s) {
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

Result<LogLine> read_log_line(Stmt& s) {
  return LogLine{.at = s.i64(0), .level = s.text(1), .text = s.text(2)};
}

constexpr std::string_view kAuditColumns = "id, at, user_name, action, target, outcome, detail";
Result<AuditEntry> read_audit(Stmt& s) {
  return AuditEntry{.id = s.i64(0),
                    .at = s.i64(1),
                    .user = s.text(2),
                    .action = s.text(3),
                    .target = s.text(4),
                    .outcome = s.text(5),
                    .detail = s.text(6)};
}

std::string sql(std::string_view head, std::string_view columns, std::string_view tail) {
  std::string s(head);
  s += columns;
  s += tail;
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Opening.

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  // The database holds password and token hashes: create it readable by our user only. SQLite
  // gives its -wal and -shm files the mode of the database file.
  if (path != ":memory:" && !path.starts_with("file:")) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return errno_error("opening the state database " + path, errno);
    ::close(fd);
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  std::unique_ptr<Store> store(new Store(db));  // closes db on every path out
  const std::string what = "opening the state database " + path;
  if (rc != SQLITE_OK) return std::unexpected(sqlite_error(db, rc, what));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);

  {
    auto stmt = TRY_CTX(Stmt::prepare(db, "PRAGMA journal_mode = WAL"), what);
    if (!TRY_CTX(stmt.step(), what)) return io_error(what + ": PRAGMA journal_mode gave no answer");
    const std::string mode = stmt.text(0);
    if (mode != "wal" && path != ":memory:")
      return io_error(what + ": cannot use WAL journal mode (SQLite kept '" + mode + "')");
  }
  // FULL: a commit is on disk before it returns, so task states survive a crash of the machine.
  TRY(exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", what));
  TRY_CTX(migrate(db), what);
  return store;
}

Store::~Store() {
  sqlite3_close_v2(db_);
}

// ---------------------------------------------------------------------------------------------
// Users and tokens.

Result<User> Store::create_user(const std::string& name, Role role,
                                const std::string& password_hash) {
  std::lock_guard lock(mu_);
  User u{.name = name, .role = role, .password_hash = password_hash, .created_at = now_seconds()};
  TRY(name_constraint(change(db_,
                             "INSERT INTO users (name, role, password_hash, created_at) "
                             "VALUES (?, ?, ?, ?)",
                             u.name, to_string(u.role), u.password_hash, u.created_at),
                      Errc::kAlreadyExists, "a user named '" + name + "' already exists"));
  u.id = sqlite3_last_insert_rowid(db_);
  return u;
}

Status Store::set_password_hash(int64_t user_id, const std::string& password_hash) {
  std::lock_guard lock(mu_);
  auto n =
      TRY(change(db_, "UPDATE users SET password_hash = ? WHERE id = ?", password_hash, user_id));
  if (n == 0) return not_found("user with id " + std::to_string(user_id) + " does not exist");
  return ok();
}

Result<User> Store::get_user(const std::string& name) {
  std::lock_guard lock(mu_);
  return query_one(db_, sql("SELECT ", kUserColumns, " FROM users WHERE name = ?"), read_user,
                   "user '" + name + "' does not exist", name);
}

Result<User> Store::get_user_by_id(int64_t id) {
  std::lock_guard lock(mu_);
  return query_one(db_, sql("SELECT ", kUserColumns, " FROM users WHERE id = ?"), read_user,
                   "user with id " + std::to_string(id) + " does not exist", id);
}

Result<std::vector<User>> Store::list_users() {
  std::lock_guard lock(mu_);
  return query_all(db_, sql("SELECT ", kUserColumns, " FROM users ORDER BY id"), read_user);
}

Result<int64_t> Store::count_users() {
  std::lock_guard lock(mu_);
  return query_one(
      db_, "SELECT count(*) FROM users", [](Stmt& s) -> Result<int64_t> { return s.i64(0); },
      "no count");
}

// The total behind a paged list, so that a client can show "page 3 of 40".
Result<int64_t> Store::count_backup_tasks() {
  std::lock_guard lock(mu_);
  return query_one(
      db_, "SELECT count(*) FROM backup_tasks", [](Stmt& s) -> Result<int64_t> { return s.i64(0); },
      "no count");
}

Result<int64_t> Store::count_backup_records(int64_t task_id) {
  std::lock_guard lock(mu_);
  return query_one(
      db_, "SELECT count(*) FROM backup_records WHERE task_id = ?",
      [](Stmt& s) -> Result<int64_t> { return s.i64(0); }, "no count", task_id);
}

Result<int64_t> Store::count_restore_tasks() {
  std::lock_guard lock(mu_);
  return query_one(
      db_, "SELECT count(*) FROM restore_tasks",
      [](Stmt& s) -> Result<int64_t> { return s.i64(0); }, "no count");
}

Result<int64_t> Store::count_audit() {
  std::lock_guard lock(mu_);
  return query_one(
      db_, "SELECT count(*) FROM audit_log", [](Stmt& s) -> Result<int64_t> { return s.i64(0); },
      "no count");
}

Status Store::put_token(const Token& token) {
  std::lock_guard lock(mu_);
  TRY(name_constraint(
      name_constraint(change(db_,
                             "INSERT INTO tokens (token_hash, user_id, created_at, expires_at) "
                             "VALUES (?, ?, ?, ?)",
                             token.token_hash, token.user_id, token.created_at, token.expires_at),
                      Errc::kNotFound,
                      "user with id " + std::to_string(token.user_id) + " does not exist"),
      Errc::kAlreadyExists, "the token already exists"));
  return ok();
}

Result<Token> Store::get_token(const std::string& token_hash) {
  std::lock_guard lock(mu_);
  // The message does not repeat the hash: it identifies a session.
  return query_one(db_, sql("SELECT ", kTokenColumns, " FROM tokens WHERE token_hash = ?"),
                   read_token, "the token does not exist", token_hash);
}

Status Store::delete_token(const std::string& token_hash) {
  std::lock_guard lock(mu_);
  // Idempotent: logging out twice is not an error.
  TRY(change(db_, "DELETE FROM tokens WHERE token_hash = ?", token_hash));
  return ok();
}

Status Store::delete_expired_tokens(int64_t now) {
  std::lock_guard lock(mu_);
  TRY(change(db_, "DELETE FROM tokens WHERE expires_at <= ?", now));
  return ok();
}

// ---------------------------------------------------------------------------------------------
// Backup tasks and records.

Result<BackupTask> Store::create_backup_task(const BackupTask& task) {
  std::lock_guard lock(mu_);
  BackupTask t = task;
  if (t.created_at == 0) t.created_at = now_seconds();
  const PathParams& p = t.params;
  TRY(name_constraint(
      change(db_,
             "INSERT INTO backup_tasks (name, cluster, data_source, path_type, path, nameservice, "
             "ip_mode, namenode_ip, queue, max_copies, period_seconds, start_time, suspended, "
             "next_run, created_at, verify_after_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
             "?, ?, ?, ?)",
             t.name, t.cluster, to_string(t.data_source), to_string(p.path_type), p.path,
             p.nameservice, p.ip_mode, p.namenode_ip, p.queue, t.max_copies, t.period_seconds,
             t.start_time, t.suspended, t.next_run, t.created_at, t.verify_after_run),
      Errc::kAlreadyExists, "a backup task named '" + t.name + "' already exists"));
  t.id = sqlite3_last_insert_rowid(db_);
  return t;
}

Result<BackupTask> Store::get_backup_task(const std::string& name) {
  std::lock_guard lock(mu_);
  return query_one(db_, sql("SELECT ", kBackupTaskColumns, " FROM backup_tasks WHERE name = ?"),
                   read_backup_task, "backup task '" + name + "' does not exist", name);
}

Result<std::vector<BackupTask>> Store::list_backup_tasks(Page page) {
  std::lock_guard lock(mu_);
  const Limits l = clamp(page);
  return query_all(
      db_, sql("SELECT ", kBackupTaskColumns, " FROM backup_tasks ORDER BY id LIMIT ? OFFSET ?"),
      read_backup_task, l.limit, l.offset);
}

Status Store::update_backup_task(const BackupTask& t) {
  std::lock_guard lock(mu_);
  const PathParams& p = t.params;
  const int64_t n = TRY(name_constraint(
      change(db_,
             "UPDATE backup_tasks SET name = ?, cluster = ?, data_source = ?, path_type = ?, "
             "path = ?, nameservice = ?, ip_mode = ?, namenode_ip = ?, queue = ?, max_copies = ?, "
             "period_seconds = ?, start_time = ?, suspended = ?, next_run = ?, created_at = ?, "
             "verify_after_run = ? WHERE id = ?",
             t.name, t.cluster, to_string(t.data_source), to_string(p.path_type), p.path,
             p.nameservice, p.ip_mode, p.namenode_ip, p.queue, t.max_copies, t.period_seconds,
             t.start_time, t.suspended, t.next_run, t.created_at, t.verify_after_run, t.id),
      Errc::kAlreadyExists, "a backup task named '" + t.name + "' already exists"));
  if (n == 0) return not_found("backup task '" + t.name + "' does not exist");
  return ok();
}

Status Store::delete_backup_task(const std::string& name) {
  std::lock_guard lock(mu_);
  if (TRY(change(db_, "DELETE FROM backup_tasks WHERE name = ?", name)) == 0)
    return not_found("backup task '" + name + "' does not exist");
  return ok();
}

Result<BackupRecord> Store::create_backup_record(const BackupRecord& record) {
  std::lock_guard lock(mu_);
  BackupRecord r = record;
  TRY(change(db_,
             "INSERT INTO backup_records (task_id, task_name, status, started_at, ended_at, size, "
             "checksum, backup_object, backup_path, system_version, error, progress, consistency, "
             "progress_detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             r.task_id, r.task_name, to_string(r.status), r.started_at, r.ended_at, r.size,
             r.checksum, r.backup_object, r.backup_path, r.system_version, r.error, r.progress,
             consistency_text(r), progress_detail_text(r.progress_detail)));
  r.id = sqlite3_last_insert_rowid(db_);
  return r;
}

Status Store::update_backup_record(const BackupRecord& r) {
  std::lock_guard lock(mu_);
  const int64_t n =
      TRY(change(db_,
                 "UPDATE backup_records SET task_id = ?, task_name = ?, status = ?, "
                 "started_at = ?, ended_at = ?, size = ?, checksum = ?, backup_object = ?, "
                 "backup_path = ?, system_version = ?, error = ?, progress = ?, consistency = ?, "
                 "progress_detail = ? WHERE id = ?",
                 r.task_id, r.task_name, to_string(r.status), r.started_at, r.ended_at, r.size,
                 r.checksum, r.backup_object, r.backup_path, r.system_version, r.error, r.progress,
                 consistency_text(r), progress_detail_text(r.progress_detail), r.id));
  if (n == 0) return not_found("backup record " + std::to_string(r.id) + " does not exist");
  return ok();
}

Result<BackupRecord> Store::get_backup_record(int64_t id) {
  std::lock_guard lock(mu_);
  return query_one(db_, sql("SELECT ", kBackupRecordColumns, " FROM backup_records WHERE id = ?"),
                   read_backup_record, "backup record " + std::to_string(id) + " does not exist",
                   id);
}

Result<std::vector<BackupRecord>> Store::list_backup_records(int64_t task_id, Page page) {
  std::lock_guard lock(mu_);
  const Limits l = clamp(page);
  return query_all(db_,
                   sql("SELECT ", kBackupRecordColumns,
                       " FROM backup_records WHERE task_id = ? ORDER BY id DESC LIMIT ? OFFSET ?"),
                   read_backup_record, task_id, l.limit, l.offset);
}

Result<std::vector<BackupRecord>> Store::list_running_backup_records() {
  std::lock_guard lock(mu_);
  // The literal matches the partial index backup_records_running.
  return query_all(db_,
                   sql("SELECT ", kBackupRecordColumns,
                       " FROM backup_records WHERE status = 'Running' ORDER BY id"),
                   read_backup_record);
}

// ---------------------------------------------------------------------------------------------
// Restoration tasks, attempts and their logs.

Result<RestoreTask> Store::create_restore_task(const RestoreTask& task) {
  std::lock_guard lock(mu_);
  RestoreTask t = task;
  if (t.created_at == 0) t.created_at = now_seconds();
  if (t.updated_at == 0) t.updated_at = t.created_at;
  const PathParams& p = t.params;
  TRY(name_constraint(
      change(db_,
             "INSERT INTO restore_tasks (name, cluster, data_source, path_type, path, "
             "nameservice, ip_mode, namenode_ip, queue, state, progress, error, attempts, "
             "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             t.name, t.cluster, to_string(t.data_source), to_string(p.path_type), p.path,
             p.nameservice, p.ip_mode, p.namenode_ip, p.queue, to_string(t.state), t.progress,
             t.error, t.attempts, t.created_at, t.updated_at),
      Errc::kAlreadyExists, "a restoration task named '" + t.name + "' already exists"));
  t.id = sqlite3_last_insert_rowid(db_);
  return t;
}

Result<RestoreTask> Store::get_restore_task(const std::string& name) {
  std::lock_guard lock(mu_);
  return query_one(db_, sql("SELECT ", kRestoreTaskColumns, " FROM restore_tasks WHERE name = ?"),
                   read_restore_task, "restoration task '" + name + "' does not exist", name);
}

Result<std::vector<RestoreTask>> Store::list_restore_tasks(Page page) {
  std::lock_guard lock(mu_);
  const Limits l = clamp(page);
  return query_all(
      db_, sql("SELECT ", kRestoreTaskColumns, " FROM restore_tasks ORDER BY id LIMIT ? OFFSET ?"),
      read_restore_task, l.limit, l.offset);
}

Status Store::update_restore_task(const RestoreTask& t) {
  std::lock_guard lock(mu_);
  const PathParams& p = t.params;
  const int64_t n = TRY(name_constraint(
      change(db_,
             "UPDATE restore_tasks SET name = ?, cluster = ?, data_source = ?, path_type = ?, "
             "path = ?, nameservice = ?, ip_mode = ?, namenode_ip = ?, queue = ?, state = ?, "
             "progress = ?, error = ?, attempts = ?, created_at = ?, updated_at = ? WHERE id = ?",
             t.name, t.cluster, to_string(t.data_source), to_string(p.path_type), p.path,
             p.nameservice, p.ip_mode, p.namenode_ip, p.queue, to_string(t.state), t.progress,
             t.error, t.attempts, t.created_at, t.updated_at, t.id),
      Errc::kAlreadyExists, "a restoration task named '" + t.name + "' already exists"));
  if (n == 0) return not_found("restoration task '" + t.name + "' does not exist");
  return ok();
}

Status Store::delete_restore_task(const std::string& name) {
  std::lock_guard lock(mu_);
  // Attempts and their log lines go with it (ON DELETE CASCADE).
  if (TRY(change(db_, "DELETE FROM restore_tasks WHERE name = ?", name)) == 0)
    return not_found("restoration task '" + name + "' does not exist");
  return ok();
}

Result<RestoreAttempt> Store::create_attempt(const RestoreAttempt& attempt) {
  std::lock_guard lock(mu_);
  RestoreAttempt a = attempt;
  TRY(name_constraint(
      name_constraint(
          change(db_,
                 "INSERT INTO restore_attempts (task_id, number, state, progress, phase, error, "
                 "safety_copy, steps, report, started_at, ended_at, progress_detail) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 a.task_id, a.number, to_string(a.state), a.progress, to_string(a.phase), a.error,
                 a.safety_copy, steps_json(a.steps), dump_json(a.report), a.started_at, a.ended_at,
                 progress_detail_text(a.progress_detail)),
          Errc::kNotFound,
          "restoration task with id " + std::to_string(a.task_id) + " does not exist"),
      Errc::kAlreadyExists,
      "attempt " + std::to_string(a.number) + " of restoration task with id " +
          std::to_string(a.task_id) + " already exists"));
  a.id = sqlite3_last_insert_rowid(db_);
  return a;
}

Status Store::update_attempt(const RestoreAttempt& a) {
  std::lock_guard lock(mu_);
  const int64_t n = TRY(change(
      db_,
      "UPDATE restore_attempts SET task_id = ?, number = ?, state = ?, progress = ?, phase = ?, "
      "error = ?, safety_copy = ?, steps = ?, report = ?, started_at = ?, ended_at = ?, "
      "progress_detail = ? WHERE id = ?",
      a.task_id, a.number, to_string(a.state), a.progress, to_string(a.phase), a.error,
      a.safety_copy, steps_json(a.steps), dump_json(a.report), a.started_at, a.ended_at,
      progress_detail_text(a.progress_detail), a.id));
  if (n == 0) return not_found("restoration attempt " + std::to_string(a.id) + " does not exist");
  return ok();
}

Result<std::vector<RestoreAttempt>> Store::list_attempts(int64_t task_id) {
  std::lock_guard lock(mu_);
  return query_all(db_,
                   sql("SELECT ", kAttemptColumns,
                       " FROM restore_attempts WHERE task_id = ? ORDER BY number, id"),
                   read_attempt, task_id);
}

Status Store::append_log(int64_t attempt_id, const LogLine& line) {
  std::lock_guard lock(mu_);
  TRY(name_constraint(
      change(db_, "INSERT INTO restore_log (attempt_id, at, level, text) VALUES (?, ?, ?, ?)",
             attempt_id, line.at != 0 ? line.at : now_seconds(), line.level, line.text),
      Errc::kNotFound, "restoration attempt " + std::to_string(attempt_id) + " does not exist"));
  return ok();
}

Result<std::vector<LogLine>> Store::list_log(int64_t attempt_id) {
  std::lock_guard lock(mu_);
  return query_all(db_, "SELECT at, level, text FROM restore_log WHERE attempt_id = ? ORDER BY id",
                   read_log_line, attempt_id);
}

// ---------------------------------------------------------------------------------------------
// Audit log and settings.

Status Store::append_audit(const AuditEntry& e) {
  std::lock_guard lock(mu_);
  TRY(change(db_,
             "INSERT INTO audit_log (at, user_name, action, target, outcome, detail) "
             "VALUES (?, ?, ?, ?, ?, ?)",
             e.at != 0 ? e.at : now_seconds(), e.user, e.action, e.target, e.outcome, e.detail));
  return ok();
}

Result<std::vector<AuditEntry>> Store::list_audit(Page page) {
  std::lock_guard lock(mu_);
  const Limits l = clamp(page);
  return query_all(
      db_, sql("SELECT ", kAuditColumns, " FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?"),
      read_audit, l.limit, l.offset);
}

Result<std::optional<std::string>> Store::get_setting(const std::string& key) {
  std::lock_guard lock(mu_);
  auto stmt = TRY(Stmt::prepare(db_, "SELECT value FROM settings WHERE key = ?"));
  stmt.bind(key);
  if (!TRY(stmt.step())) return std::nullopt;
  return stmt.text(0);
}

Status Store::put_setting(const std::string& key, const std::string& value) {
  // The schema version belongs to the migrations alone.
  if (key == kSchemaVersionKey)
    return invalid_argument("key", "the setting '" + key + "' is managed by the store");
  std::lock_guard lock(mu_);
  TRY(change(db_,
             "INSERT INTO settings (key, value) VALUES (?, ?) "
             "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
             key, value));
  return ok();
}

}  // namespace flinkbr::store
