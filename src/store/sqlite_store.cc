// The SQLite connection of the store: one file, SQLite's own mutexes off (SQLITE_OPEN_NOMUTEX)
// because the Store's mutex already serialises every call.
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <type_traits>
#include <utility>

#include "store/connection.h"

namespace flinkbr::store {

namespace {

// kIOError with SQLite's message; busy/locked are worth retrying. Constraint violations get
// their own codes so that the store can name the thing at fault.
Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
  Error e;
  const int primary = rc & 0xff;
  e.code = Errc::kIOError;
  e.message = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  e.retryable = primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
    e.code = Errc::kAlreadyExists;
  else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
    e.code = Errc::kNotFound;
  return e;
}

// A prepared statement with its parameters bound, finalized on destruction.
class SqliteRows final : public Rows {
 public:
  SqliteRows(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteRows() override { sqlite3_finalize(stmt_); }
  SqliteRows(const SqliteRows&) = delete;
  SqliteRows& operator=(const SqliteRows&) = delete;

  Status bind(std::span<const Param> params) {
    int index = 0;
    for (const Param& p : params) {
      ++index;
      int rc;
      if (const int64_t* i = std::get_if<int64_t>(&p)) {
        rc = sqlite3_bind_int64(stmt_, index, static_cast<sqlite3_int64>(*i));
      } else {
        const std::string_view s = std::get<std::string_view>(p);
        // A null data pointer would bind SQL NULL; an empty string is wanted.
        rc = sqlite3_bind_text64(stmt_, index, s.data() ? s.data() : "", s.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8);
      }
      if (rc != SQLITE_OK) return std::unexpected(sqlite_error(db_, rc, "binding"));
    }
    return ok();
  }

  Result<bool> next() override {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return std::unexpected(sqlite_error(db_, rc, "state database"));
  }
  int64_t i64(int col) const override { return sqlite3_column_int64(stmt_, col); }
  std::string text(int col) const override {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(p, static_cast<size_t>(n)) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override { sqlite3_close_v2(db_); }
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Dialect dialect() const override { return Dialect::kSqlite; }
  Status ready() override { return ok(); }

  Status exec(std::string_view sql, std::string_view what) override {
    char* msg = nullptr;
    const std::string text(sql);
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &msg);
    if (rc == SQLITE_OK) return ok();
    std::string detail = msg ? msg : sqlite3_errstr(rc);
    sqlite3_free(msg);
    Error e = sqlite_error(db_, rc, what);
    e.message = std::string(what) + ": " + detail;
    return std::unexpected(std::move(e));
  }

  Result<std::unique_ptr<Rows>> query(std::string_view sql,
                                      std::span<const Param> params) override {
    sqlite3_stmt* stmt = nullptr;
    const int rc =
        sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return std::unexpected(sqlite_error(db_, rc, "preparing a statement"));
    }
    auto rows = std::make_unique<SqliteRows>(db_, stmt);
    TRY(rows->bind(params));
    return rows;
  }

  Result<int64_t> change(std::string_view sql, std::span<const Param> params) override {
    auto rows = TRY(query(sql, params));
    while (TRY(rows->next())) {
    }
    return sqlite3_changes64(db_);
  }

  std::string_view begin_statement() const override { return "BEGIN IMMEDIATE"; }
  // SQLite may already have rolled back after some errors (SQLITE_FULL, SQLITE_IOERR...).
  bool in_transaction() override { return !sqlite3_get_autocommit(db_); }
  // BEGIN IMMEDIATE already holds the one write lock of the file.
  Status lock_for_migration() override { return ok(); }
  Status notify(std::string_view, std::string_view) override { return ok(); }

 private:
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<Connection>> open_sqlite_connection(const std::string& path) {
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
  auto conn = std::make_unique<SqliteConnection>(db);  // closes db on every path out
  const std::string what = "opening the state database " + path;
  if (rc != SQLITE_OK) return std::unexpected(sqlite_error(db, rc, what));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  {
    auto rows = TRY_CTX(conn->query("PRAGMA journal_mode = WAL", {}), what);
    if (!TRY_CTX(rows->next(), what))
      return io_error(what + ": PRAGMA journal_mode gave no answer");
    const std::string mode = rows->text(0);
    if (mode != "wal" && path != ":memory:")
      return io_error(what + ": cannot use WAL journal mode (SQLite kept '" + mode + "')");
  }
  // FULL: a commit is on disk before it returns, so task states survive a crash of the machine.
  TRY(conn->exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", what));
  return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace flinkbr::store
