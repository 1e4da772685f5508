// The PostgreSQL connection of the store (libpq). One session, used under the Store's mutex.
// The tables live in their own schema (search_path set at every connect), so that flinkbr can
// share a database with other applications. A lost session (server restarted, network cut)
// fails the call in progress with kUnavailable; the next call connects again (ready()).
// Statements use `?` placeholders, rewritten to $1, $2, ... and sent with text parameters.
#include <libpq-fe.h>

#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include "store/connection.h"

namespace flinkbr::store {

namespace {

struct PgFree {
  void operator()(PGconn* c) const { PQfinish(c); }
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, PgFree>;
using ResultPtr = std::unique_ptr<PGresult, PgFree>;

// The advisory lock key of migrations: (kMigrationLockClass, hashtext(schema)). The two-int key
// space is apart from the one-bigint space, which the manager election uses.
constexpr int kMigrationLockClass = 0x666c6b62;  // "flkb"

std::string trim_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class PgConnection final : public Connection {
 public:
  PgConnection(std::string conninfo, std::string password, std::string schema)
      : conninfo_(std::move(conninfo)),
        password_(std::move(password)),
        schema_(std::move(schema)) {}

  Dialect dialect() const override { return Dialect::kPostgres; }

  Status ready() override {
    if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) return ok();
    return connect();
  }

  Status exec(std::string_view sql, std::string_view what) override {
    if (!conn_) return unavailable(what, "not connected");
    ResultPtr r(PQexec(conn_.get(), std::string(sql).c_str()));
    const ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return ok();
    return std::unexpected(error(r.get(), what));
  }

  Result<std::unique_ptr<Rows>> query(std::string_view sql,
                                      std::span<const Param> params) override {
    ResultPtr r = TRY(run(sql, params));
    return std::unique_ptr<Rows>(new PgRows(std::move(r)));
  }

  Result<int64_t> change(std::string_view sql, std::span<const Param> params) override {
    ResultPtr r = TRY(run(sql, params));
    const char* n = PQcmdTuples(r.get());
    int64_t count = 0;
    std::from_chars(n, n + std::strlen(n), count);
    return count;
  }

  std::string_view begin_statement() const override { return "BEGIN"; }
  bool in_transaction() override {
    return conn_ && PQtransactionStatus(conn_.get()) != PQTRANS_IDLE &&
           PQtransactionStatus(conn_.get()) != PQTRANS_UNKNOWN;
  }

  Status notify(std::string_view channel, std::string_view payload) override {
    TRY(run("SELECT pg_notify(?, ?)", std::array<Param, 2>{channel, payload}));
    return ok();
  }

  Status lock_for_migration() override {
    ResultPtr r = TRY(run(
        "SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockClass) + ", hashtext(?))",
        std::array<Param, 1>{std::string_view(schema_)}));
    // After the lock, so that two managers do not both create it. Looked up first: CREATE SCHEMA
    // IF NOT EXISTS needs CREATE on the database even when the schema exists, and a DBA may
    // have created the schema for a user who has no more than that.
    ResultPtr found = TRY(run("SELECT 1 FROM pg_namespace WHERE nspname = ?",
                              std::array<Param, 1>{std::string_view(schema_)}));
    if (PQntuples(found.get()) > 0) return ok();
    return exec("CREATE SCHEMA " + quoted_schema_, "creating the schema");
  }

 private:
  class PgRows final : public Rows {
   public:
    explicit PgRows(ResultPtr r) : r_(std::move(r)), n_(PQntuples(r_.get())) {}
    Result<bool> next() override { return ++row_ < n_; }
    int64_t i64(int col) const override {
      const char* v = PQgetvalue(r_.get(), row_, col);
      int64_t out = 0;
      std::from_chars(v, v + PQgetlength(r_.get(), row_, col), out);
      return out;
    }
    std::string text(int col) const override {
      return std::string(PQgetvalue(r_.get(), row_, col),
                         static_cast<size_t>(PQgetlength(r_.get(), row_, col)));
    }

   private:
    ResultPtr r_;
    int n_;
    int row_ = -1;
  };

  // libpq's messages name hosts and users but not passwords; scrubbed anyway, in case a future
  // libpq or a server's message echoes one.
  std::string scrub(std::string message) const {
    if (password_.empty()) return message;
    for (size_t at = message.find(password_); at != std::string::npos;
         at = message.find(password_, at))
      message.replace(at, password_.size(), "********");
    return message;
  }

  std::unexpected<Error> unavailable(std::string_view what, std::string_view detail) const {
    Error e{Errc::kUnavailable, "state database (PostgreSQL): " + std::string(what) + ": " +
                                    scrub(std::string(detail))};
    e.retryable = true;
    e.retry_after_seconds = 1;
    return std::unexpected(std::move(e));
  }

  // SQLSTATE to the store's codes: unique violation -> kAlreadyExists, foreign key -> kNotFound,
  // a lost session or a server shutting down -> kUnavailable.
  Error error(const PGresult* r, std::string_view what) const {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : "";
    std::string detail = trim_newlines(r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
                                                                     : PQerrorMessage(conn_.get()));
    Error e{Errc::kIOError,
            "state database (PostgreSQL): " + std::string(what) + ": " + scrub(std::move(detail))};
    if (PQstatus(conn_.get()) != CONNECTION_OK || sqlstate.starts_with("08") ||
        sqlstate.starts_with("57P")) {
      e.code = Errc::kUnavailable;
      e.retryable = true;
      e.retry_after_seconds = 1;
    } else if (sqlstate == "23505") {
      e.code = Errc::kAlreadyExists;
    } else if (sqlstate == "23503") {
      e.code = Errc::kNotFound;
    } else if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") {
      e.retryable = true;  // serialization failure, deadlock, lock not available
    }
    return e;
  }

  Status connect() {
    conn_.reset();
    // Later keywords override earlier ones; the expanded conninfo holds no password (refused at
    // configuration), the password keyword comes last.
    std::vector<const char*> keys = {"application_name", "client_encoding", "dbname"};
    std::vector<const char*> values = {"flinkbr", "UTF8", conninfo_.c_str()};
    if (!password_.empty()) {
      keys.push_back("password");
      values.push_back(password_.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    ConnPtr c(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1));
    if (!c) return unavailable("connecting", "out of memory");
    if (PQstatus(c.get()) != CONNECTION_OK)
      return unavailable("connecting", trim_newlines(PQerrorMessage(c.get())));
    if (quoted_schema_.empty()) {
      char* q = PQescapeIdentifier(c.get(), schema_.c_str(), schema_.size());
      if (!q) return unavailable("connecting", trim_newlines(PQerrorMessage(c.get())));
      quoted_schema_ = q;
      PQfreemem(q);
    }
    conn_ = std::move(c);
    // Only our schema: a table missing from it is an error, never one of another application.
    return exec("SET search_path TO " + quoted_schema_, "setting the schema");
  }

  Result<ResultPtr> run(std::string_view sql, std::span<const Param> params) {
    if (!conn_) return unavailable("running a statement", "not connected");
    std::string text;
    text.reserve(sql.size() + 8);
    int n = 0;
    bool quoted = false;
    for (char ch : sql) {
      if (ch == '\'') quoted = !quoted;
      if (ch == '?' && !quoted) {
        text += '$';
        text += std::to_string(++n);
      } else {
        text += ch;
      }
    }
    std::vector<std::string> storage;
    storage.reserve(params.size());
    for (const Param& p : params) {
      if (const int64_t* i = std::get_if<int64_t>(&p))
        storage.push_back(std::to_string(*i));
      else
        storage.emplace_back(std::get<std::string_view>(p));
    }
    std::vector<const char*> values;
    for (const std::string& s : storage) values.push_back(s.c_str());
    ResultPtr r(PQexecParams(conn_.get(), text.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0));
    const ExecStatusType st = PQresultStatus(r.get());
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    return std::unexpected(error(r.get(), "running a statement"));
  }

  std::string conninfo_;
  std::string password_;
  std::string schema_;
  std::string quoted_schema_;
  ConnPtr conn_;
};

}  // namespace

Result<std::unique_ptr<Connection>> open_postgres_connection(const std::string& conninfo,
                                                             const std::string& password,
                                                             const std::string& schema) {
  auto conn = std::make_unique<PgConnection>(conninfo, password, schema);
  TRY(conn->ready());
  return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace flinkbr::store
