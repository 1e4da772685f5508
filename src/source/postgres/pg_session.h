// A libpq connection for the postgres source: RAII handles, statements that must succeed,
// COPY out, and messages with every known secret removed. Internal to source/postgres/.
//
// Not thread-safe: one task thread uses a Session at a time.
#pragma once

#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace flinkbr::source::postgres {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;
using ResPtr = std::unique_ptr<PGresult, ResultClearer>;

// A PostgreSQL text[] literal of `items` ({"a","b\"c"}), for a parameter cast to text[].
inline std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (const auto& t : items) {
    out += (out.size() > 1 ? "," : "") + std::string("\"");
    for (char c : t) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

// An identifier as SQL text: always double-quoted, inner quotes doubled.
inline std::string quote_ident(std::string_view name) {
  std::string q = "\"";
  for (char c : name) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

inline std::string trim_message(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

class Session {
 public:
  Session(ConnPtr conn, std::vector<std::string> secrets)
      : conn_(std::move(conn)), secrets_(std::move(secrets)) {}
  PGconn* get() const { return conn_.get(); }

  // Removes every known secret from a libpq message.
  std::string redact(std::string m) const {
    for (const auto& s : secrets_) {
      if (s.empty()) continue;
      for (size_t p; (p = m.find(s)) != std::string::npos;) m.replace(p, s.size(), "***");
    }
    return trim_message(std::move(m));
  }
  std::string last_error() const { return redact(PQerrorMessage(conn_.get())); }

  Error error(Errc code, std::string_view what, const PGresult* r = nullptr) const {
    std::string m = r ? redact(PQresultErrorMessage(r)) : last_error();
    if (m.empty()) m = last_error();
    bool retry = code == Errc::kUnavailable;
    return Error{code, std::string(what) + ": " + m, {}, retry};
  }

  Errc errc() const {
    return PQstatus(conn_.get()) == CONNECTION_OK ? Errc::kIOError : Errc::kUnavailable;
  }

  // Runs a statement (with text parameters) that must succeed.
  Result<ResPtr> exec(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> p;
    for (const auto& s : params) p.push_back(s.c_str());
    ResPtr r(p.empty() ? PQexec(conn_.get(), sql.c_str())
                       : PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(p.size()), nullptr,
                                      p.data(), nullptr, nullptr, 0));
    if (!r) return std::unexpected(error(errc(), "query failed"));
    auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      return std::unexpected(error(errc(), "'" + sql.substr(0, 80) + "' failed", r.get()));
    return r;
  }

  // Runs one statement of a text that must succeed, through the extended protocol: the server
  // refuses a text that holds more than one (a plain exec would run them all).
  Status exec_one(const std::string& sql) {
    ResPtr r(PQexecParams(conn_.get(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0));
    if (!r) return std::unexpected(error(errc(), "query failed"));
    auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      return std::unexpected(error(errc(), "'" + sql.substr(0, 80) + "' failed", r.get()));
    return ok();
  }

  // COPY (query) TO STDOUT; `row` gets each row (with its newline).
  Status copy_out(const std::string& query, const std::function<Status(std::string_view)>& row) {
    std::string sql = "COPY (" + query + ") TO STDOUT";
    ResPtr r(PQexec(conn_.get(), sql.c_str()));
    if (!r || PQresultStatus(r.get()) != PGRES_COPY_OUT)
      return std::unexpected(error(errc(), "'" + sql.substr(0, 80) + "' failed", r.get()));
    Status failed = ok();
    for (;;) {
      char* buf = nullptr;
      int n = PQgetCopyData(conn_.get(), &buf, 0);
      if (n == -1) break;
      if (n == -2) return std::unexpected(error(errc(), "reading COPY data"));
      if (failed) failed = row(std::string_view(buf, static_cast<size_t>(n)));
      PQfreemem(buf);
    }
    ResPtr end(PQgetResult(conn_.get()));
    if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK)
      return std::unexpected(error(errc(), "'" + sql.substr(0, 80) + "' failed", end.get()));
    while (ResPtr more{PQgetResult(conn_.get())}) {
    }
    return failed;
  }

 private:
  ConnPtr conn_;
  std::vector<std::string> secrets_;
};

}  // namespace flinkbr::source::postgres
