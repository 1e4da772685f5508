#include "source/postgres/postgres_source.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/layers.h"
#include "source/postgres/ddl_guard.h"
#include "source/postgres/large_objects.h"
#include "source/postgres/pg_session.h"
#include "source/postgres/restore_guards.h"
#include "source/postgres/schema_ddl.h"

namespace flinkbr::source::postgres {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kSchemaEntry = "schema.json";
constexpr std::string_view kTablesPrefix = "tables/";
constexpr size_t kSchemaLimit = 64u << 20;
constexpr size_t kIoBuffer = 256u << 10;
// 1: rows and sequences; 2: also the schema's DDL and catalogue model, the populated
// materialized views and the large objects. A reader takes both and refuses any other.
constexpr int kPayloadFormatRows = 1;
constexpr int kPayloadFormat = 2;
constexpr std::string_view kPreDataEntry = "schema/pre-data.sql";
constexpr std::string_view kPostDataEntry = "schema/post-data.sql";
constexpr std::string_view kLargeObjectsPrefix = "large-objects/";
constexpr const char* kLockTimeout =
    "SELECT set_config('lock_timeout', CASE WHEN current_setting('lock_timeout')::interval "
    "BETWEEN '1ms' AND '60s' THEN current_setting('lock_timeout') ELSE '60s' END, true)";

struct ConninfoFree {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

// ---- configuration ----

struct Settings {
  std::string dsn;
  std::string schema = "public";
  std::vector<std::string> tables;  // empty: all tables of the schema
  std::string password_file;
  // From the dsn, for location() and messages.
  std::string host, port, dbname, dsn_password;
};

std::string field_name(const config::SourceConfig& cfg, std::string_view key) {
  return cfg.key_path.empty() ? std::string(key) : cfg.key_path + "." + std::string(key);
}

Result<Settings> settings_from_config(const config::SourceConfig& cfg) {
  if (!cfg.params.is_object())
    return invalid_argument(cfg.key_path, "the settings of a postgres source must be a map");
  Settings s;
  for (const auto& [key, value] : cfg.params.items()) {
    std::string f = field_name(cfg, key);
    if (key == "dsn") {
      if (!value.is_string() || value.get<std::string>().empty())
        return invalid_argument(f, "must be a non-empty libpq connection string");
      s.dsn = value.get<std::string>();
    } else if (key == "schema") {
      if (!value.is_string() || value.get<std::string>().empty())
        return invalid_argument(f, "must be a non-empty schema name");
      s.schema = value.get<std::string>();
    } else if (key == "tables") {
      if (!value.is_array()) return invalid_argument(f, "must be a list of table names");
      std::set<std::string> seen;
      for (const auto& t : value) {
        if (!t.is_string() || t.get<std::string>().empty())
          return invalid_argument(f, "must be a list of non-empty table names");
        if (!seen.insert(t.get<std::string>()).second)
          return invalid_argument(f, "lists table '" + t.get<std::string>() + "' twice");
        s.tables.push_back(t.get<std::string>());
      }
      if (s.tables.empty())
        return invalid_argument(f, "must not be empty (omit it for all tables)");
    } else if (key == "password_file") {
      if (!value.is_string() || value.get<std::string>().empty() ||
          value.get<std::string>().front() != '/')
        return invalid_argument(f, "must be an absolute path");
      s.password_file = value.get<std::string>();
    } else {
      return invalid_argument(f, "unknown key '" + key +
                                     "' for a postgres source (expected: dsn, schema, tables, "
                                     "password_file)");
    }
  }
  if (s.dsn.empty())
    return invalid_argument(field_name(cfg, "dsn"), "a postgres source needs a dsn");
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoFree> opts(PQconninfoParse(s.dsn.c_str(), &err));
  if (err) PQfreemem(err);  // may quote parts of the string, password included: not shown
  if (!opts)
    return invalid_argument(field_name(cfg, "dsn"), "is not a valid libpq connection string");
  for (PQconninfoOption* o = opts.get(); o->keyword; ++o) {
    if (!o->val) continue;
    std::string_view k = o->keyword;
    if (k == "host" && s.host.empty()) s.host = o->val;
    if (k == "hostaddr" && s.host.empty()) s.host = o->val;
    if (k == "port") s.port = o->val;
    if (k == "dbname") s.dbname = o->val;
    if (k == "password") s.dsn_password = o->val;
  }
  std::sort(s.tables.begin(), s.tables.end());
  return s;
}

// ---- helpers ----

// Table name as one path component: bytes outside [A-Za-z0-9_-] as %XX.
std::string encode_name(std::string_view name) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '_' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string part_name(size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "part-%06zu.copy", n);
  return buf;
}

struct TableInfo {
  std::string name;
  std::vector<std::string> columns;
  uint64_t rows = 0;
  size_t parts = 0;
  std::string sha256;  // of the concatenated COPY text
};

struct SequenceInfo {
  std::string name;
  int64_t last_value = 0;
  bool is_called = false;
  bool operator==(const SequenceInfo&) const = default;
};

// A SELECT whose output is deterministic: the columns in order, rows sorted by their text.
std::string ordered_select(const std::string& schema, const TableInfo& t) {
  std::string cols;
  for (const auto& c : t.columns) cols += (cols.empty() ? "" : ", ") + quote_ident(c);
  // ONLY: a parent of legacy inheritance would return its children's rows too, and they would
  // come back twice (the children are tables of their own in the backup).
  return "SELECT " + cols + " FROM ONLY " + quote_ident(schema) + "." + quote_ident(t.name) +
         " ORDER BY ROW(" + cols + ")::text COLLATE \"C\"";
}

// ---- the source ----

class PostgresSource;

class PostgresStaged final : public StagedRestore {
 public:
  // An empty `dir` checks the payload without keeping it (make_payload_check): add() and
  // finish_staging() refuse what they refuse when staging, nothing is written, and the schema the
  // DDL must belong to is the backup's own (schema.json), the restoring one being unknown.
  PostgresStaged(PostgresSource& src, std::string dir, TaskContext ctx)
      : src_(src), dir_(std::move(dir)), ctx_(std::move(ctx)) {}
  ~PostgresStaged() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  Status add(const archive::Entry& entry, io::Reader& data) override;
  Status finish_staging() override;
  Result<SourceDiff> diff() override;
  Status commit() override;
  Status verify() override;
  bool failed_commit_changed_nothing() const override { return unchanged_after_failure_; }

 private:
  // The name of the next staged file; "" when checking only.
  std::string staged_file(std::string_view suffix) {
    ++next_file_;
    return dir_.empty() ? std::string()
                        : dir_ + "/" + std::to_string(next_file_) + std::string(suffix);
  }
  // COPY FROM STDIN of each table's staged parts, in `order`.
  Status load_rows(Session& db, const std::vector<std::string>& order);
  // Logs a warning when the role may act on the server beyond the database (see ddl_guard.h).
  Status warn_if_privileged(Session& db);
  // The live schema differs from the backup's: it must be re-created.
  Result<bool> schema_differs(Session& db);
  // Without the backup's schema: refuses tables and columns the rows cannot go back into.
  Status check_rows_fit(Session& db);
  // Refuses, naming the reason, a restore that cannot make the live schema the backup's.
  Status check_restorable(Session& db, bool recreate, const std::vector<std::string>& keep_oids);

  struct StagedTable {
    std::map<size_t, std::string> parts;  // number -> staged file
    uint64_t rows = 0;
  };
  PostgresSource& src_;
  std::string dir_;
  TaskContext ctx_;
  size_t next_file_ = 0;
  std::optional<json> schema_json_;
  std::map<std::string, StagedTable> staged_;  // by encoded name
  // After finish_staging:
  std::vector<TableInfo> tables_;
  std::vector<SequenceInfo> sequences_;
  // Format 2 of a whole schema: its DDL and model. Without them (format 1, or a list of
  // tables) the restore puts the rows back into the live tables as they are.
  bool has_schema_ = false;
  std::string pre_data_, post_data_;
  // Their statements, checked at staging (ddl_guard.h): run one by one at commit.
  std::vector<std::string> pre_statements_, post_statements_;
  SchemaModel objects_;
  std::optional<std::vector<std::string>> matviews_;
  struct LargeObject {
    uint32_t oid = 0;
    std::string column, sha256, file;
    uint64_t size = 0;
  };
  struct StagedObject {
    std::string file;
    uint64_t size = 0;
  };
  std::map<uint32_t, StagedObject> staged_large_objects_;  // by oid
  std::vector<LargeObject> large_objects_;
  bool finished_ = false;
  bool committed_ = false;
  // After a failed commit(): the transaction was rolled back and the sequences put back.
  bool unchanged_after_failure_ = false;
};

class PostgresSource final : public MetadataSource {
 public:
  PostgresSource(config::SourceConfig cfg, Settings s) : cfg_(std::move(cfg)), s_(std::move(s)) {}
  const config::SourceConfig& config() const override { return cfg_; }

  std::string location() const override {
    std::string host = s_.host.empty() ? "localhost" : s_.host;
    if (host.find(':') != std::string::npos && host.find(',') == std::string::npos &&
        host.front() != '/')
      host = "[" + host + "]";
    std::string loc = "postgres://" + host;
    if (!s_.port.empty()) loc += ":" + s_.port;
    return loc + "/" + s_.dbname + "/" + s_.schema;
  }

  Status check() override {
    Session db = TRY(connect());
    TRY(list_tables(db));
    // A backup of the whole schema, and a restore's safety copy, run pg_dump.
    if (s_.tables.empty()) TRY_CTX(check_pg_dump(PQserverVersion(db.get())), location());
    return ok();
  }

  Status backup(archive::SourceArchiveWriter& out, const TaskContext& ctx) override;
  Result<std::unique_ptr<StagedRestore>> begin_restore(const TaskContext& ctx) override {
    std::string dir = ctx.staging_dir + "/postgres-" + encode_name(cfg_.name);
    std::error_code ec;
    fs::remove_all(dir, ec);
    if (!fs::create_directories(dir, ec) || ec)
      return io_error("creating " + dir + ": " + ec.message());
    return std::make_unique<PostgresStaged>(*this, dir, ctx);
  }
  Status cleanup_after_crash(const std::string&) override {
    // Staging lives under the attempt's staging_dir (removed by the engine); a crash in the
    // middle of commit() leaves nothing: the server rolls the transaction back.
    return ok();
  }

  // ---- used by the staged restore ----

  Result<Session> connect() {
    std::vector<std::string> secrets{s_.dsn_password};
    std::string password;
    if (!s_.password_file.empty()) {
      int fd = ::open(s_.password_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) return errno_error("password_file " + s_.password_file, errno);
      struct stat st;
      if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
        ::close(fd);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return make_error(Errc::kPermissionDenied,
                          "password_file " + s_.password_file +
                              " must be a regular file readable only by its owner (mode 0600); "
                              "it has mode " +
                              mode);
      }
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) password.append(buf, static_cast<size_t>(n));
      int e = errno;
      ::close(fd);
      if (n < 0) return errno_error("reading password_file " + s_.password_file, e);
      while (!password.empty() && (password.back() == '\n' || password.back() == '\r'))
        password.pop_back();
      secrets.push_back(password);
    }
    if (const char* env = std::getenv("PGPASSWORD")) secrets.emplace_back(env);
    // Defaults first: the dsn's own values override them; the password file overrides the dsn.
    std::vector<const char*> keys{"connect_timeout", "application_name", "dbname"};
    std::vector<const char*> vals{"10", "flinkbr", s_.dsn.c_str()};
    if (!password.empty()) {
      keys.push_back("password");
      vals.push_back(password.c_str());
    }
    keys.push_back(nullptr);
    vals.push_back(nullptr);
    ConnPtr conn(PQconnectdbParams(keys.data(), vals.data(), 1));
    Session db(std::move(conn), std::move(secrets));
    if (!db.get()) return make_error(Errc::kUnavailable, location() + ": out of memory", {}, true);
    if (PQstatus(db.get()) != CONNECTION_OK)
      return std::unexpected(db.error(Errc::kUnavailable, "connecting to " + location()));
    // The server's notices ("drop cascades to ...") are not errors; they stay off stderr.
    PQsetNoticeProcessor(
        db.get(), [](void*, const char*) {}, nullptr);
    // Fixed settings: the COPY text must not depend on the server's or the role's defaults.
    TRY(db.exec(
        "SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
        "SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET bytea_output = 'hex'; "
        "SET standard_conforming_strings = on; "
        // Row-level security that would hide rows from this role is an error, never a
        // backup with fewer rows (as pg_dump does).
        "SET row_security = off"));
    return db;
  }

  // The tables to back up (sorted), after checking that the schema and each listed table
  // exist.
  Result<std::vector<std::string>> list_tables(Session& db) {
    auto ns = TRY(db.exec("SELECT 1 FROM pg_namespace WHERE nspname = $1", {s_.schema}));
    if (PQntuples(ns.get()) == 0)
      return not_found(location() + ": schema '" + s_.schema + "' does not exist");
    auto r = TRY(
        db.exec("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname COLLATE \"C\"",
                {s_.schema}));
    std::vector<std::string> all;
    for (int i = 0; i < PQntuples(r.get()); ++i) all.emplace_back(PQgetvalue(r.get(), i, 0));
    if (s_.tables.empty()) return all;
    for (const auto& t : s_.tables)
      if (!std::binary_search(all.begin(), all.end(), t))
        return not_found(location() + ": table '" + t + "' does not exist in schema '" + s_.schema +
                         "'");
    return s_.tables;
  }

  // Columns that COPY can write back (not dropped, not generated), in order.
  Result<std::vector<std::string>> columns(Session& db, const std::string& table) {
    auto r = TRY(db.exec(
        "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 "
        "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
        {s_.schema, table}));
    std::vector<std::string> cols;
    for (int i = 0; i < PQntuples(r.get()); ++i) cols.emplace_back(PQgetvalue(r.get(), i, 0));
    if (cols.empty())
      return failed_precondition(location() + ": table '" + table + "' has no columns to copy");
    return cols;
  }

  // Sequences to keep: every sequence of the schema when all tables are backed up, else those
  // owned (serial / identity) by a listed table. Sorted by name.
  Result<std::vector<std::string>> sequence_names(Session& db,
                                                  const std::vector<std::string>& tables) {
    std::vector<std::string> names;
    if (s_.tables.empty()) {
      auto r = TRY(
          db.exec("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE n.nspname = $1 AND c.relkind = 'S' ORDER BY c.relname COLLATE \"C\"",
                  {s_.schema}));
      for (int i = 0; i < PQntuples(r.get()); ++i) names.emplace_back(PQgetvalue(r.get(), i, 0));
      return names;
    }
    auto r =
        TRY(db.exec("SELECT s.relname, t.relname FROM pg_class s "
                    "JOIN pg_namespace n ON n.oid = s.relnamespace "
                    "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid "
                    "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
                    "JOIN pg_class t ON t.oid = d.refobjid "
                    "WHERE n.nspname = $1 AND s.relkind = 'S' ORDER BY s.relname COLLATE \"C\"",
                    {s_.schema}));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      std::string owner = PQgetvalue(r.get(), i, 1);
      if (std::find(tables.begin(), tables.end(), owner) != tables.end())
        names.emplace_back(PQgetvalue(r.get(), i, 0));
    }
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

  Result<SequenceInfo> read_sequence(Session& db, const std::string& name) {
    auto r = TRY(db.exec("SELECT last_value, is_called FROM " + quote_ident(s_.schema) + "." +
                         quote_ident(name)));
    SequenceInfo s{name, std::strtoll(PQgetvalue(r.get(), 0, 0), nullptr, 10),
                   std::string_view(PQgetvalue(r.get(), 0, 1)) == "t"};
    return s;
  }

  // The order in which rows can be put back: a table after the tables its foreign keys point
  // to (among `tables`); cycles keep name order (they need DEFERRABLE constraints).
  Result<std::vector<std::string>> fk_order(Session& db, const std::vector<std::string>& tables) {
    auto r = TRY(
        db.exec("SELECT c.relname, p.relname FROM pg_constraint k "
                "JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_namespace pn ON pn.oid = "
                "p.relnamespace WHERE k.contype = 'f' AND n.nspname = $1 AND pn.nspname = $1",
                {s_.schema}));
    std::map<std::string, std::set<std::string>> deps;
    for (const auto& t : tables) deps[t];
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      std::string child = PQgetvalue(r.get(), i, 0), parent = PQgetvalue(r.get(), i, 1);
      if (child != parent && deps.count(child) && deps.count(parent)) deps[child].insert(parent);
    }
    std::vector<std::string> order;
    std::set<std::string> done;
    while (order.size() < tables.size()) {
      bool progressed = false;
      for (const auto& [t, ds] : deps) {
        if (done.count(t)) continue;
        if (std::all_of(ds.begin(), ds.end(), [&](const auto& d) { return done.count(d) > 0; })) {
          order.push_back(t);
          done.insert(t);
          progressed = true;
        }
      }
      if (!progressed) {  // a cycle: take the first remaining table
        for (const auto& [t, ds] : deps)
          if (!done.count(t)) {
            order.push_back(t);
            done.insert(t);
            break;
          }
      }
    }
    return order;
  }

  // Where pg_dump connects: the session's own parameters, the password apart (it goes through
  // the child's environment, never its command line).
  DumpTarget dump_target(Session& db, std::string snapshot) {
    DumpTarget t;
    t.schema = s_.schema;
    t.snapshot = std::move(snapshot);
    t.server_version = PQserverVersion(db.get());
    PQconninfoOption* opts = PQconninfo(db.get());
    for (PQconninfoOption* o = opts; o && o->keyword; ++o) {
      if (!o->val || !*o->val) continue;
      std::string_view k = o->keyword;
      if (k == "password") {
        t.password = o->val;
        continue;
      }
      if (k == "sslpassword") continue;  // never on a command line (ps shows it to everyone)
      std::string v;
      for (const char* c = o->val; *c; ++c) {
        if (*c == '\\' || *c == '\'') v += '\\';
        v += *c;
      }
      t.conninfo += (t.conninfo.empty() ? "" : " ") + std::string(k) + "='" + v + "'";
    }
    if (opts) PQconninfoFree(opts);
    return t;
  }

  // Materialized views of the schema that hold rows, in creation order (a view over another
  // is refreshed after it).
  Result<std::vector<std::string>> populated_matviews(Session& db) {
    auto r = TRY(
        db.exec("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relkind = 'm' AND c.relispopulated ORDER BY c.oid",
                {s_.schema}));
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) out.emplace_back(PQgetvalue(r.get(), i, 0));
    return out;
  }

  const Settings& settings() const { return s_; }

  // A table rewritten since the backup's snapshot (ALTER TABLE ... TYPE, VACUUM FULL, CLUSTER,
  // TRUNCATE by another session) looks empty to that snapshot: PostgreSQL's rewrites are not
  // MVCC-safe. The snapshot's pg_class row still names the old file, the server's cache the
  // new one: such a backup fails (kUnavailable, retryable) instead of keeping no rows.
  Status check_not_rewritten(Session& db, const std::vector<std::string>& tables) {
    auto r = TRY(
        db.exec("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) "
                "AND c.relfilenode IS DISTINCT FROM pg_relation_filenode(c.oid) ORDER BY 1",
                {s_.schema, text_array(tables)}));
    if (PQntuples(r.get()) == 0) return ok();
    std::vector<std::string> names;
    for (int i = 0; i < PQntuples(r.get()); ++i) names.emplace_back(PQgetvalue(r.get(), i, 0));
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return make_error(Errc::kUnavailable,
                      location() + ": another session rewrote table " + list +
                          " while the backup read it (ALTER TABLE, VACUUM FULL, CLUSTER or "
                          "TRUNCATE), so the backup may have seen it empty; run the backup again",
                      {}, true);
  }

 private:
  config::SourceConfig cfg_;
  Settings s_;
};

// ---- backup ----

Status PostgresSource::backup(archive::SourceArchiveWriter& out, const TaskContext& ctx) {
  Session db = TRY(connect());
  TRY(db.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
  auto tables = TRY(list_tables(db));
  // The schema is kept when the source is the whole schema: with a list of tables, the other
  // tables are not ours to drop or re-create.
  json schema_doc;
  if (s_.tables.empty()) {
    auto snap = TRY(db.exec("SELECT pg_export_snapshot()"));
    DumpTarget target = dump_target(db, PQgetvalue(snap.get(), 0, 0));
    // pg_dump reads in this transaction's snapshot: the DDL and the rows are one moment.
    std::string pre = TRY_CTX(dump_schema_section(target, "pre-data"), location());
    std::string post = TRY_CTX(dump_schema_section(target, "post-data"), location());
    TRY(out.add_bytes(kPreDataEntry, pre, 0600, 0));
    TRY(out.add_bytes(kPostDataEntry, post, 0600, 0));
    SchemaModel model = TRY(read_schema_model(db, s_.schema));
    schema_doc["ddl"] = {{"pre_data", kPreDataEntry}, {"post_data", kPostDataEntry}};
    schema_doc["objects"] = model;
    schema_doc["materialized_views"] = TRY(populated_matviews(db));
    ctx.log("schema " + s_.schema + ": " + std::to_string(model.size()) + " objects");
  }
  json jt = json::array();
  for (const auto& name : tables) {
    if (ctx.is_cancelled()) return make_error(Errc::kCancelled, "backup cancelled");
    TableInfo t;
    t.name = name;
    t.columns = TRY(columns(db, name));
    std::string dir = std::string(kTablesPrefix) + encode_name(name) + "/";
    std::string buf;
    io::Sha256 hash;
    auto flush = [&]() -> Status {
      ++t.parts;
      hash.update(io::as_bytes(buf));
      uint64_t size = buf.size();
      io::StringReader r(std::move(buf));
      buf.clear();
      return out.add_file(dir + part_name(t.parts), 0600, 0, size, r);
    };
    Status copied = db.copy_out(ordered_select(s_.schema, t), [&](std::string_view row) -> Status {
      if (!buf.empty() && buf.size() + row.size() > kMaxPartBytes) TRY(flush());
      buf.append(row);
      ++t.rows;
      return ok();
    });
    if (!copied && copied.error().message.find("row-level security") != std::string::npos)
      copied.error().message +=
          " (row-level security would hide rows of this table from the role flinkbr connects "
          "as: connect as a role with BYPASSRLS, or as the owner of a table without FORCE ROW "
          "LEVEL SECURITY)";
    TRY_CTX(std::move(copied), "backing up table '" + name + "'");
    if (!buf.empty()) TRY(flush());
    t.sha256 = hash.hex_digest();
    ctx.log("table " + name + ": " + std::to_string(t.rows) + " rows in " +
            std::to_string(t.parts) + " parts");
    jt.push_back({{"name", t.name},
                  {"path", encode_name(t.name)},
                  {"columns", t.columns},
                  {"rows", t.rows},
                  {"parts", t.parts},
                  {"sha256", t.sha256}});
  }
  json jl = json::array();
  for (const auto& ref : TRY(referenced_large_objects(db, s_.schema, tables))) {
    auto lo = TRY_CTX(LargeObjectReader::open(db, ref), location());
    io::HashingReader hashed(*lo);
    TRY(out.add_file(std::string(kLargeObjectsPrefix) + std::to_string(ref.oid), 0600, 0,
                     lo->size(), hashed));
    jl.push_back({{"oid", ref.oid},
                  {"column", ref.column},
                  {"size", lo->size()},
                  {"sha256", hashed.sha256()}});
  }
  if (!jl.empty()) {
    schema_doc["large_objects"] = jl;
    ctx.log(std::to_string(jl.size()) + " large objects");
  }
  json js = json::array();
  for (const auto& name : TRY(sequence_names(db, tables))) {
    SequenceInfo s = TRY(read_sequence(db, name));
    js.push_back({{"name", s.name}, {"last_value", s.last_value}, {"is_called", s.is_called}});
  }
  TRY(check_not_rewritten(db, tables));
  TRY(db.exec("COMMIT"));
  json doc = {{"format", schema_doc.empty() ? kPayloadFormatRows : kPayloadFormat},
              {"schema", s_.schema},
              {"tables", jt},
              {"sequences", js}};
  if (!schema_doc.is_null()) doc.update(schema_doc);
  return out.add_bytes(kSchemaEntry, doc.dump(2) + "\n", 0600, 0);
}

// ---- restore ----

namespace {

struct CopiedBytes {
  uint64_t total = 0;
  char last = '\n';
};

// Copies `data` into a new file `file`, counting its newlines into *newlines when given; reads
// and counts only for an empty `file` (a payload check).
Result<CopiedBytes> copy_to_file(const std::string& file, io::Reader& data, uint64_t* newlines) {
  int fd = -1;
  if (!file.empty()) {
    fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return errno_error("creating " + file, errno);
  }
  std::vector<std::byte> buf(kIoBuffer);
  CopiedBytes out;
  Status result = ok();
  for (;;) {
    auto got = data.read(buf);
    if (!got) {
      result = std::unexpected(got.error());
      break;
    }
    if (*got == 0) break;
    if (newlines)
      for (size_t i = 0; i < *got; ++i)
        if (buf[i] == std::byte{'\n'}) ++*newlines;
    out.last = static_cast<char>(buf[*got - 1]);
    out.total += *got;
    size_t off = fd < 0 ? *got : 0;
    while (off < *got) {
      ssize_t w = ::write(fd, buf.data() + off, *got - off);
      if (w < 0) {
        if (errno == EINTR) continue;
        result = errno_error("writing " + file, errno);
        break;
      }
      off += static_cast<size_t>(w);
    }
    if (!result) break;
  }
  if (fd >= 0) ::close(fd);
  TRY(result);
  return out;
}

}  // namespace

Status PostgresStaged::add(const archive::Entry& entry, io::Reader& data) {
  std::string_view rel = entry.relative_path();
  if (entry.type == archive::EntryType::kDirectory) {
    if (rel.empty() || rel == "tables" || rel == "schema" || rel == "large-objects" ||
        (rel.starts_with(kTablesPrefix) &&
         rel.find('/', kTablesPrefix.size()) == std::string::npos))
      return ok();
    return corruption("postgres source: unexpected directory entry " + entry.path);
  }
  if (rel == kPreDataEntry || rel == kPostDataEntry) {
    (rel == kPreDataEntry ? pre_data_ : post_data_) = TRY(io::read_all(data, kSchemaLimit));
    return ok();
  }
  if (rel.starts_with(kLargeObjectsPrefix)) {
    std::string_view num = rel.substr(kLargeObjectsPrefix.size());
    if (num.empty() || num.size() > 10 ||
        !std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoull(std::string(num)) > 0xffffffffull)
      return corruption("postgres source: unexpected entry " + entry.path);
    uint32_t oid = static_cast<uint32_t>(std::stoull(std::string(num)));
    if (staged_large_objects_.count(oid))
      return corruption("postgres source: large object " + std::string(num) + " twice");
    std::string file = staged_file(".lo");
    auto got = TRY(copy_to_file(file, data, nullptr));
    if (got.total != entry.size) return corruption(entry.path + ": size differs from its entry");
    staged_large_objects_[oid] = {file, got.total};
    return ok();
  }
  if (rel == kSchemaEntry) {
    std::string text = TRY(io::read_all(data, kSchemaLimit));
    try {
      schema_json_ = json::parse(text);
    } catch (const std::exception& e) {
      return corruption(entry.path + ": not valid JSON: " + e.what());
    }
    return ok();
  }
  // tables/<enc>/part-NNNNNN.copy
  if (!rel.starts_with(kTablesPrefix))
    return corruption("postgres source: unexpected entry " + entry.path);
  std::string_view rest = rel.substr(kTablesPrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0)
    return corruption("postgres source: unexpected entry " + entry.path);
  std::string enc(rest.substr(0, slash));
  std::string_view part = rest.substr(slash + 1);
  if (part.size() != 16 || !part.starts_with("part-") || !part.ends_with(".copy") ||
      !std::all_of(part.begin() + 5, part.begin() + 11,
                   [](char c) { return c >= '0' && c <= '9'; }))
    return corruption("postgres source: unexpected entry " + entry.path);
  size_t n = std::stoul(std::string(part.substr(5, 6)));
  auto& st = staged_[enc];
  if (n == 0 || st.parts.count(n))
    return corruption("postgres source: bad part number in " + entry.path);
  std::string file = staged_file(".copy");
  auto got = TRY(copy_to_file(file, data, &st.rows));
  if (got.total != entry.size) return corruption(entry.path + ": size differs from its entry");
  if (got.total == 0 || got.last != '\n')
    return corruption(entry.path + ": a COPY part must hold whole rows");
  st.parts[n] = file;
  return ok();
}

Status PostgresStaged::finish_staging() {
  if (finished_) return ok();
  if (!schema_json_) return corruption("postgres source: schema.json is missing");
  tables_.clear();
  sequences_.clear();
  try {
    const json& doc = *schema_json_;
    int format = doc.at("format").get<int>();
    if (format != kPayloadFormatRows && format != kPayloadFormat)
      return corruption("postgres source: payload format " + std::to_string(format) +
                        " is not one this flinkbr reads (1 or 2); a newer flinkbr wrote it");
    if (format == kPayloadFormat && doc.contains("ddl")) {
      if (pre_data_.empty() || post_data_.empty())
        return corruption("postgres source: schema.json names the schema's DDL, but " +
                          std::string(pre_data_.empty() ? kPreDataEntry : kPostDataEntry) +
                          " is missing");
      objects_ = doc.at("objects").get<SchemaModel>();
      matviews_ = doc.at("materialized_views").get<std::vector<std::string>>();
      // A forged or hand-edited backup must not run its own SQL: refused before any change.
      const std::string schema =
          dir_.empty() ? doc.at("schema").get<std::string>() : src_.settings().schema;
      pre_statements_ = TRY(replay_statements(pre_data_, schema, kPreDataEntry));
      post_statements_ = TRY(replay_statements(post_data_, schema, kPostDataEntry));
      has_schema_ = true;
    }
    std::set<std::string> known;
    for (const auto& jt : doc.at("tables")) {
      TableInfo t;
      t.name = jt.at("name").get<std::string>();
      t.columns = jt.at("columns").get<std::vector<std::string>>();
      t.rows = jt.at("rows").get<uint64_t>();
      t.parts = jt.at("parts").get<size_t>();
      t.sha256 = jt.at("sha256").get<std::string>();
      std::string enc = encode_name(t.name);
      if (!known.insert(enc).second) return corruption("schema.json lists '" + t.name + "' twice");
      if (t.columns.empty())
        return corruption("schema.json: table '" + t.name + "' has no columns");
      const StagedTable* st = staged_.count(enc) ? &staged_.at(enc) : nullptr;
      size_t have = st ? st->parts.size() : 0;
      if (have != t.parts || (st && st->parts.rbegin()->first != t.parts))
        return corruption("table '" + t.name + "': " + std::to_string(t.parts) + " parts listed, " +
                          std::to_string(have) + " staged");
      uint64_t rows = st ? st->rows : 0;
      if (rows != t.rows)
        return corruption("table '" + t.name + "': " + std::to_string(t.rows) + " rows listed, " +
                          std::to_string(rows) + " staged");
      tables_.push_back(std::move(t));
    }
    for (const auto& [enc, st] : staged_)
      if (!known.count(enc)) return corruption("parts of table '" + enc + "' not in schema.json");
    if (format == kPayloadFormat && doc.contains("large_objects")) {
      for (const auto& jl : doc.at("large_objects")) {
        LargeObject lo{jl.at("oid").get<uint32_t>(), jl.at("column").get<std::string>(),
                       jl.at("sha256").get<std::string>(), "", jl.at("size").get<uint64_t>()};
        auto it = staged_large_objects_.find(lo.oid);
        if (it == staged_large_objects_.end())
          return corruption("large object " + std::to_string(lo.oid) + " of column " + lo.column +
                            " is listed in schema.json but missing");
        if (it->second.size != lo.size)
          return corruption("large object " + std::to_string(lo.oid) + ": size differs");
        lo.file = it->second.file;
        large_objects_.push_back(std::move(lo));
      }
    }
    if (large_objects_.size() != staged_large_objects_.size())
      return corruption("postgres source: large objects not listed in schema.json");
    for (const auto& js : doc.at("sequences"))
      sequences_.push_back({js.at("name").get<std::string>(), js.at("last_value").get<int64_t>(),
                            js.at("is_called").get<bool>()});
  } catch (const std::exception& e) {
    return corruption(std::string("postgres source: malformed schema.json: ") + e.what());
  }
  finished_ = true;
  return ok();
}

namespace {

struct LiveTable {
  uint64_t rows = 0;
  std::string sha256;
};

Result<LiveTable> read_live(Session& db, const std::string& schema, const TableInfo& t) {
  LiveTable live;
  io::Sha256 hash;
  TRY_CTX(db.copy_out(ordered_select(schema, t),
                      [&](std::string_view row) -> Status {
                        hash.update(io::as_bytes(row));
                        ++live.rows;
                        return ok();
                      }),
          "reading table '" + t.name + "'");
  live.sha256 = hash.hex_digest();
  return live;
}

}  // namespace

namespace {

std::string join_first(const std::vector<std::string>& items, size_t n) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < n; ++i) out += (i ? "; " : "") + items[i];
  if (items.size() > n) out += "; and " + std::to_string(items.size() - n) + " more";
  return out;
}

}  // namespace

Status PostgresStaged::check_rows_fit(Session& db) {
  const std::string& schema = src_.settings().schema;
  const std::string why =
      " (this backup was made before flinkbr kept the schema, so the restore puts the rows back "
      "into the tables as they are now)";
  for (const auto& t : tables_) {
    auto r = TRY(db.exec(
        "SELECT a.attname, a.attnotnull AND a.atthasdef = false AND a.attidentity = '' AND "
        "a.attgenerated = '' FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 "
        "AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
        {schema, t.name}));
    if (PQntuples(r.get()) == 0)
      return failed_precondition("table " + t.name + " of the backup does not exist any more" +
                                 why);
    std::set<std::string> live;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      std::string col = PQgetvalue(r.get(), i, 0);
      live.insert(col);
      bool required = std::string_view(PQgetvalue(r.get(), i, 1)) == "t";
      if (required && std::find(t.columns.begin(), t.columns.end(), col) == t.columns.end())
        return failed_precondition("column " + t.name + "." + col +
                                   " is NOT NULL without a default and not in the backup, whose "
                                   "rows have no value for it" +
                                   why);
    }
    for (const auto& c : t.columns)
      if (!live.count(c))
        return failed_precondition("column " + t.name + "." + c +
                                   " of the backup does not exist any more" + why);
  }
  return ok();
}

Result<bool> PostgresStaged::schema_differs(Session& db) {
  if (!has_schema_) return false;
  SchemaModel live = TRY(read_schema_model(db, src_.settings().schema));
  return live != objects_;
}

Status PostgresStaged::check_restorable(Session& db, bool recreate,
                                        const std::vector<std::string>& keep_oids) {
  const std::string& schema = src_.settings().schema;
  const std::string where = "source '" + src_.name() + "' (" + src_.location() + ")";
  std::vector<std::string> names;
  for (const auto& t : tables_) names.push_back(t.name);
  // Disabling triggers and re-creating objects need the owner's rights.
  auto owned =
      TRY(db.exec("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                  "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
                  "AND NOT pg_has_role(current_user, c.relowner, 'USAGE') "
                  "AND ($2 OR EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid "
                  "AND NOT g.tgisinternal)) ORDER BY 1",
                  {schema, recreate ? "true" : "false"}));
  if (PQntuples(owned.get()) > 0) {
    std::vector<std::string> list;
    for (int i = 0; i < PQntuples(owned.get()); ++i)
      list.emplace_back(PQgetvalue(owned.get(), i, 0));
    return failed_precondition(
        where + ": the restore " +
        (recreate ? "re-creates the schema's objects" : "disables the triggers of these tables") +
        " and needs the role it connects as to own them (or be a member of their owner); it "
        "does not own: " +
        join_first(list, 10));
  }
  if (!recreate && !has_schema_) TRY(check_rows_fit(db));
  if (!recreate) return ok();
  auto outside = TRY(outside_dependents(db, schema, keep_oids));
  if (!outside.empty())
    return failed_precondition(
        where +
        ": the schema differs from the backup's, and making it the backup's again drops "
        "and re-creates its objects, on which objects outside schema '" +
        schema + "' depend (they are never dropped): " + join_first(outside, 10) +
        "; change or drop those first, or restore into a schema without them");
  std::string roles = text_array(roles_of(objects_));
  auto missing = TRY(
      db.exec("SELECT r FROM unnest($1::text[]) r WHERE r NOT IN (SELECT rolname FROM pg_roles) "
              "ORDER BY 1",
              {roles}));
  if (PQntuples(missing.get()) > 0) {
    std::vector<std::string> list;
    for (int i = 0; i < PQntuples(missing.get()); ++i)
      list.emplace_back(PQgetvalue(missing.get(), i, 0));
    return failed_precondition(where +
                               ": the backed-up schema names roles (owners, grants) that "
                               "do not exist on this server: " +
                               join_first(list, 10) + "; create them first");
  }
  return ok();
}

Result<SourceDiff> PostgresStaged::diff() {
  if (!finished_) return failed_precondition("postgres source: diff before finish_staging");
  Session db = TRY(src_.connect());
  TRY(db.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
  const std::string& schema = src_.settings().schema;
  SourceDiff d;
  auto live_tables = TRY(src_.list_tables(db));
  bool recreate = false;
  if (has_schema_) {
    SchemaModel live = TRY(read_schema_model(db, schema));
    for (auto& diff : compare_models(objects_, live)) {
      recreate = true;
      using K = SchemaDifference::Kind;
      (diff.kind == K::kAdded     ? d.added
       : diff.kind == K::kChanged ? d.changed
                                  : d.removed)
          .add(std::move(diff.item));
    }
  }
  std::vector<std::string> names;
  for (const auto& t : tables_) names.push_back(t.name);
  std::vector<std::string> keep;
  for (const auto& fk : TRY(outside_foreign_keys(db, schema, names, recreate)))
    keep.push_back(fk.oid);
  TRY(check_restorable(db, recreate, keep));
  for (const auto& t : tables_) {
    bool exists = std::binary_search(live_tables.begin(), live_tables.end(), t.name);
    if (!exists) {
      d.added.add(t.name + ": " + std::to_string(t.rows) + " rows in backup");
      continue;
    }
    auto live_columns = TRY(src_.columns(db, t.name));
    if (!has_schema_)
      for (const auto& c : live_columns)
        if (std::find(t.columns.begin(), t.columns.end(), c) == t.columns.end())
          d.changed.add("column " + t.name + "." + c +
                        " is not in this backup (made before flinkbr kept the schema): it stays, "
                        "and every restored row gets its default");
    if (live_columns != t.columns && has_schema_) {
      auto n =
          TRY(db.exec("SELECT count(*) FROM " + quote_ident(schema) + "." + quote_ident(t.name)));
      d.changed.add(t.name + ": " + std::string(PQgetvalue(n.get(), 0, 0)) + " rows now, " +
                    std::to_string(t.rows) + " in backup (with the backup's columns)");
      continue;
    }
    LiveTable live = TRY(read_live(db, schema, t));
    if (live.sha256 == t.sha256) continue;
    std::string item = t.name + ": " + std::to_string(live.rows) + " rows now, " +
                       std::to_string(t.rows) + " in backup";
    if (live.rows == t.rows) item += " (contents differ)";
    d.changed.add(std::move(item));
  }
  if (has_schema_) {
    for (const auto& name : live_tables) {
      if (std::find(names.begin(), names.end(), name) != names.end()) continue;
      auto n =
          TRY(db.exec("SELECT count(*) FROM " + quote_ident(schema) + "." + quote_ident(name)));
      d.removed.add(name + ": " + std::string(PQgetvalue(n.get(), 0, 0)) +
                    " rows now, not in backup");
    }
  }
  for (const auto& s : sequences_) {
    auto exists = TRY(db.exec("SELECT to_regclass($1) IS NOT NULL",
                              {quote_ident(schema) + "." + quote_ident(s.name)}));
    if (std::string_view(PQgetvalue(exists.get(), 0, 0)) != "t") continue;  // in the model
    SequenceInfo live = TRY(src_.read_sequence(db, s.name));
    if (live == s) continue;
    d.changed.add("sequence " + s.name + ": last_value " + std::to_string(live.last_value) +
                  (live.is_called ? "" : " (not called)") + " now, " +
                  std::to_string(s.last_value) + (s.is_called ? "" : " (not called)") +
                  " in backup");
  }
  for (const auto& lo : large_objects_) {
    auto live = digest_large_object(db, lo.oid);
    std::string name = "large object " + std::to_string(lo.oid) + " (" + lo.column + ")";
    if (!live && live.error().code == Errc::kNotFound)
      d.added.add(name + ": " + std::to_string(lo.size) + " bytes");
    else if (!live)
      return std::unexpected(live.error());
    else if (live->sha256 != lo.sha256)
      d.changed.add(name + ": " + std::to_string(live->size) + " bytes now, " +
                    std::to_string(lo.size) + " in backup");
  }
  TRY(db.exec("COMMIT"));
  return d;
}

Status PostgresStaged::commit() {
  if (!finished_) return failed_precondition("postgres source: commit before finish_staging");
  unchanged_after_failure_ = true;
  Session db = TRY(src_.connect());
  const std::string& schema = src_.settings().schema;
  std::vector<std::string> names;
  for (const auto& t : tables_) names.push_back(t.name);
  std::vector<SequenceInfo> before;
  bool sequences_touched = false;
  bool commit_sent = false;

  auto body = [&]() -> Status {
    TRY(db.exec("BEGIN"));
    // Applications holding locks on the tables make the restore fail, not hang: at most 60 s,
    // or the lock_timeout of the role or database when that is shorter. (The backup's DDL does
    // not lift it: ddl_guard.h leaves pg_dump's SET lock_timeout = 0 out.)
    TRY(db.exec(kLockTimeout));
    TRY(db.exec("SET CONSTRAINTS ALL DEFERRED"));
    const bool recreate = TRY(schema_differs(db));
    auto outside = TRY(outside_foreign_keys(db, schema, names, recreate));
    std::vector<std::string> keep;
    for (const auto& fk : outside) keep.push_back(fk.oid);
    // The same refusals as the preview, now inside the transaction that will change things.
    TRY(check_restorable(db, recreate, keep));
    // Re-created sequences go back with the transaction; kept ones are put back by hand.
    if (!recreate)
      for (const auto& s : sequences_) before.push_back(TRY(src_.read_sequence(db, s.name)));
    for (const auto& fk : outside) {
      ctx_.log("dropping foreign key " + fk.label + " until the rows are back");
      TRY_CTX(db.exec("ALTER TABLE " + fk.table + " DROP CONSTRAINT " + quote_ident(fk.name)),
              "dropping foreign key " + fk.label);
    }
    if (recreate) {
      // The schema's objects are dropped and made again from the backup's DDL: tables without
      // indexes, keys or triggers first, then the rows, then the rest (no trigger exists while
      // the rows go back, and every key checks them once).
      ctx_.log("the schema differs from the backup's: re-creating its objects");
      TRY(warn_if_privileged(db));
      TRY(drop_schema_objects(db, schema));
      for (const auto& st : pre_statements_)
        TRY_CTX(db.exec_one(st),
                "creating the backed-up schema (" + std::string(kPreDataEntry) + ")");
      TRY(load_rows(db, names));
      for (const auto& st : post_statements_)
        TRY_CTX(db.exec_one(st), "creating the backed-up indexes, constraints and triggers (" +
                                     std::string(kPostDataEntry) + ")");
    } else {
      // No user trigger fires while the rows go back: a BEFORE trigger would rewrite them, an
      // AFTER trigger would write elsewhere. ALTER TABLE is transactional and the tables are
      // locked until COMMIT, so no other session ever sees them disabled.
      // (session_replication_role would need a superuser and still fires ENABLE ALWAYS
      // triggers.)
      auto triggers = TRY(user_triggers(db, schema, names));
      std::set<std::string> with_triggers;
      for (const auto& t : triggers) with_triggers.insert(t.table);
      for (const auto& t : with_triggers)
        TRY_CTX(db.exec("ALTER TABLE " + t + " DISABLE TRIGGER USER"),
                "disabling the triggers of " + t);
      if (!names.empty()) {
        std::string list;
        for (const auto& n : names)
          list += (list.empty() ? "" : ", ") + quote_ident(schema) + "." + quote_ident(n);
        // ONLY: a child of an inheritance parent that the source does not list is not ours.
        TRY_CTX(db.exec("TRUNCATE ONLY " + list), "emptying the tables");
      }
      TRY(load_rows(db, TRY(src_.fk_order(db, names))));
      for (const auto& t : triggers)
        TRY_CTX(db.exec("ALTER TABLE " + t.table + " " + enable_clause(t.enabled) +
                        quote_ident(t.name)),
                "enabling trigger " + t.name + " of " + t.table + " again");
    }
    for (const auto& fk : outside)
      TRY_CTX(db.exec("ALTER TABLE " + fk.table + " ADD CONSTRAINT " + quote_ident(fk.name) + " " +
                      fk.definition),
              "adding foreign key " + fk.label + " back (its rows must match the restored ones)");
    TRY_CTX(db.exec("SET CONSTRAINTS ALL IMMEDIATE"), "checking constraints");
    // Same oids as in the backup, so that the restored rows point at them again. A backup lists
    // only large objects its rows reference; one that none of the restored rows references would
    // be another application's, overwritten by a forged file: refused (the transaction rolls
    // back, nothing changes).
    if (!large_objects_.empty()) {
      std::set<uint32_t> referenced;
      for (const auto& ref : TRY(referenced_large_objects(db, schema, names)))
        referenced.insert(ref.oid);
      for (const auto& lo : large_objects_)
        if (!referenced.contains(lo.oid))
          return corruption("the backup file lists large object " + std::to_string(lo.oid) +
                            ", which none of the restored rows references; a backup holds only "
                            "the large objects its rows reference, so the file was changed: "
                            "refused, to keep another large object of the database safe");
    }
    for (const auto& lo : large_objects_) TRY(write_large_object(db, lo.oid, lo.file));
    // Materialized views are computed from the rows: refreshed after them.
    for (const auto& mv : matviews_ ? *matviews_ : TRY(src_.populated_matviews(db)))
      TRY_CTX(db.exec("REFRESH MATERIALIZED VIEW " + quote_ident(schema) + "." + quote_ident(mv)),
              "refreshing materialized view " + mv);
    sequences_touched = !recreate;  // setval is not transactional: put back by hand on failure
    for (const auto& s : sequences_)
      TRY(db.exec("SELECT setval($1::regclass, $2, $3)",
                  {quote_ident(schema) + "." + quote_ident(s.name), std::to_string(s.last_value),
                   s.is_called ? "true" : "false"}));
    commit_sent = true;
    TRY(db.exec("COMMIT"));
    return ok();
  };
  Status st = body();
  if (st) {
    committed_ = true;
    return ok();
  }
  // A COMMIT that failed with the connection still up was rolled back by the server; one whose
  // answer was lost may have committed.
  if (commit_sent && PQstatus(db.get()) != CONNECTION_OK) unchanged_after_failure_ = false;
  // Roll back; the server does it anyway if the connection is gone.
  ResPtr rb(PQexec(db.get(), "ROLLBACK"));
  if (sequences_touched) {
    for (const auto& s : before) {
      auto r = db.exec("SELECT setval($1::regclass, $2, $3)",
                       {quote_ident(schema) + "." + quote_ident(s.name),
                        std::to_string(s.last_value), s.is_called ? "true" : "false"});
      if (!r) {
        st.error().context("(sequence " + s.name + " could not be put back)");
        unchanged_after_failure_ = false;
      }
    }
  }
  if (st.error().message.find("due to lock timeout") != std::string::npos)
    st.error().message +=
        " (another session held a lock that the restore needed for longer than the lock "
        "timeout; retry once that session has committed or ended)";
  return with_context(std::move(st), "restoring " + src_.location() + " (rolled back)");
}

Status PostgresStaged::warn_if_privileged(Session& db) {
  // The backup's DDL is checked statement by statement, but the bodies of its functions run
  // while rows load, indexes build and views refresh, with this role's rights (ddl_guard.h).
  auto r = TRY(
      db.exec("SELECT rolsuper OR pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER') "
              "OR pg_has_role(current_user, 'pg_write_server_files', 'MEMBER') FROM pg_roles "
              "WHERE rolname = current_user"));
  if (PQntuples(r.get()) == 1 && std::string_view(PQgetvalue(r.get(), 0, 0)) == "t")
    ctx_.log("warning: " + src_.location() +
             " is restored by a role that is a superuser or may run programs or write files on "
             "the database server; the functions of the backed-up schema run with its rights "
             "during the restore: connect as the schema's owner without those rights");
  return ok();
}

Status PostgresStaged::load_rows(Session& db, const std::vector<std::string>& order) {
  const std::string& schema = src_.settings().schema;
  std::map<std::string, const TableInfo*> by_name;
  for (const auto& t : tables_) by_name[t.name] = &t;
  for (const auto& name : order) {
    if (ctx_.is_cancelled()) return make_error(Errc::kCancelled, "restore cancelled");
    const TableInfo& t = *by_name.at(name);
    ctx_.log("restoring table " + t.name + ": " + std::to_string(t.rows) + " rows");
    std::string cols;
    for (const auto& c : t.columns) cols += (cols.empty() ? "" : ", ") + quote_ident(c);
    std::string sql =
        "COPY " + quote_ident(schema) + "." + quote_ident(t.name) + " (" + cols + ") FROM STDIN";
    std::string what = "restoring table '" + t.name + "'";
    ResPtr r(PQexec(db.get(), sql.c_str()));
    if (!r || PQresultStatus(r.get()) != PGRES_COPY_IN)
      return std::unexpected(db.error(db.errc(), what, r.get()));
    Status sent = ok();
    auto it = staged_.find(encode_name(t.name));
    if (it != staged_.end()) {
      std::vector<char> buf(kIoBuffer);
      for (const auto& [n, file] : it->second.parts) {
        int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          sent = errno_error("opening staged " + file, errno);
          break;
        }
        ssize_t got;
        while ((got = ::read(fd, buf.data(), buf.size())) > 0) {
          if (PQputCopyData(db.get(), buf.data(), static_cast<int>(got)) != 1) {
            sent = std::unexpected(db.error(db.errc(), what));
            break;
          }
        }
        if (got < 0 && sent) sent = errno_error("reading staged " + file, errno);
        ::close(fd);
        if (!sent) break;
      }
    }
    PQputCopyEnd(db.get(), sent ? nullptr : "flinkbr: staged data unreadable");
    ResPtr end(PQgetResult(db.get()));
    while (ResPtr more{PQgetResult(db.get())}) {
    }
    TRY(sent);
    if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK)
      return std::unexpected(db.error(db.errc(), what, end.get()));
  }
  return ok();
}

Status PostgresStaged::verify() {
  if (!committed_) return failed_precondition("postgres source: verify before commit");
  Session db = TRY(src_.connect());
  TRY(db.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"));
  const std::string& schema = src_.settings().schema;
  if (has_schema_) {
    SchemaModel live = TRY(read_schema_model(db, schema));
    auto diffs = compare_models(objects_, live);
    if (!diffs.empty())
      return corruption("the schema differs from the backup after restore: " + diffs[0].item);
  }
  for (const auto& t : tables_) {
    LiveTable live = TRY(read_live(db, schema, t));
    if (live.rows != t.rows)
      return corruption("table '" + t.name + "': " + std::to_string(live.rows) +
                        " rows after restore, " + std::to_string(t.rows) + " in backup");
    if (live.sha256 != t.sha256)
      return corruption("table '" + t.name + "': contents differ from the backup after restore");
  }
  for (const auto& lo : large_objects_) {
    auto live = TRY_CTX(digest_large_object(db, lo.oid), "after restore");
    if (live.sha256 != lo.sha256)
      return corruption("large object " + std::to_string(lo.oid) +
                        ": contents differ from the backup after restore");
  }
  for (const auto& s : sequences_) {
    SequenceInfo live = TRY(src_.read_sequence(db, s.name));
    if (!(live == s))
      return corruption("sequence '" + s.name + "': last_value " + std::to_string(live.last_value) +
                        " after restore, " + std::to_string(s.last_value) + " in backup");
  }
  TRY(db.exec("COMMIT"));
  return ok();
}

}  // namespace

Status validate_config(const config::SourceConfig& cfg) {
  TRY(settings_from_config(cfg));
  return ok();
}

Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg) {
  Settings s = TRY(settings_from_config(cfg));
  return std::make_unique<PostgresSource>(cfg, std::move(s));
}

namespace {
// Owns the source its check-only staging refers to (for messages; it never connects).
class PostgresPayloadCheck final : public PayloadCheck {
 public:
  PostgresPayloadCheck(const archive::SourceDescriptor& desc, const TaskContext& ctx)
      : source_(config::SourceConfig{.name = desc.name, .type = std::string(kKind)}, Settings{}),
        staged_(source_, std::string(), ctx) {}
  Status add(const archive::Entry& entry, io::Reader& data) override {
    return staged_.add(entry, data);
  }
  Status finish() override { return staged_.finish_staging(); }

 private:
  PostgresSource source_;
  PostgresStaged staged_;
};
}  // namespace

Result<std::unique_ptr<PayloadCheck>> make_payload_check(const archive::SourceDescriptor& desc,
                                                         const TaskContext& ctx) {
  return std::unique_ptr<PayloadCheck>(std::make_unique<PostgresPayloadCheck>(desc, ctx));
}

}  // namespace flinkbr::source::postgres
