// The store's view of a SQL database: one connection that runs statements with `?` parameters
// and reads rows. store.cc writes every statement once against this interface; SQLite
// (sqlite_store.cc) and PostgreSQL (postgres_store.cc) implement it. Internal to src/store/.
// Not thread-safe: the Store serialises calls with its mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "common/result.h"

namespace flinkbr::store {

// A statement parameter: an integer or a text (UTF-8), borrowed for the call.
using Param = std::variant<int64_t, std::string_view>;

enum class Dialect {
  kSqlite,    // one file, one daemon
  kPostgres,  // a shared server, a group of managers
};

// The rows of one query, read forward once.
class Rows {
 public:
  virtual ~Rows() = default;
  // Advances: true with a row to read, false after the last one.
  [[nodiscard]] virtual Result<bool> next() = 0;
  virtual int64_t i64(int col) const = 0;
  virtual std::string text(int col) const = 0;
  int i32(int col) const { return static_cast<int>(i64(col)); }
  bool boolean(int col) const { return i64(col) != 0; }
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  // Makes the connection usable before a call (PostgreSQL: reconnects after a lost session;
  // kUnavailable when the server does not answer). Never called inside a transaction.
  [[nodiscard]] virtual Status ready() = 0;
  // Runs SQL without parameters or results: one or several statements.
  [[nodiscard]] virtual Status exec(std::string_view sql, std::string_view what) = 0;
  // Runs one statement; its rows (an INSERT ... RETURNING has one).
  [[nodiscard]] virtual Result<std::unique_ptr<Rows>> query(std::string_view sql,
                                                            std::span<const Param> params) = 0;
  // Runs one INSERT/UPDATE/DELETE; the number of rows it changed.
  [[nodiscard]] virtual Result<int64_t> change(std::string_view sql,
                                               std::span<const Param> params) = 0;
  // The statement that opens a write transaction ("BEGIN IMMEDIATE" on SQLite, which takes the
  // write lock up front instead of failing on upgrade).
  virtual std::string_view begin_statement() const = 0;
  virtual bool in_transaction() = 0;
  // Wakes the LISTENers of `channel` with `payload` (PostgreSQL: pg_notify, delivered when the
  // current transaction commits). SQLite has no listeners: nothing.
  [[nodiscard]] virtual Status notify(std::string_view channel, std::string_view payload) = 0;
  // Called first in the transaction of each migration step: serialises managers that migrate at
  // once (PostgreSQL: pg_advisory_xact_lock) and makes the schema to migrate exist.
  [[nodiscard]] virtual Status lock_for_migration() = 0;
};

// Opens the SQLite file `path` (created with mode 0600; WAL, synchronous FULL, foreign keys).
[[nodiscard]] Result<std::unique_ptr<Connection>> open_sqlite_connection(const std::string& path);
// Connects to PostgreSQL; the tables live in `schema` (search_path). `password` never appears
// in an error message.
[[nodiscard]] Result<std::unique_ptr<Connection>> open_postgres_connection(
    const std::string& conninfo, const std::string& password, const std::string& schema);

}  // namespace flinkbr::store
