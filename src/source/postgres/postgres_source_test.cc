// Tests of the postgres source against a real PostgreSQL 15 server that the fixture starts
// itself (initdb into a fresh directory, a free loopback port, stopped with SIGINT at the end).
// As root, initdb and postgres run as the `postgres` user (they refuse root).
#include "source/postgres/postgres_source.h"
#include "source/postgres/ddl_guard.h"
#include "source/postgres/schema_ddl.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"
#include "io/layers.h"
#include "source/registry.h"
#include "source/testing/capturing_writer.h"
#include "support/postgres_server.h"

namespace flinkbr::source {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;
using testsupport::free_port;
using testsupport::PgServer;
using testsupport::Rows;
using testsupport::slurp;
using testsupport::sql;

const char* kSchema = R"SQL(
CREATE TABLE users (
  id serial PRIMARY KEY,
  name text NOT NULL UNIQUE,
  created timestamptz NOT NULL
);
CREATE TABLE jobs (
  id bigserial PRIMARY KEY,
  owner_id integer NOT NULL REFERENCES users(id),
  name text NOT NULL,
  sql_text text,
  settings jsonb,
  udf_jar bytea,
  savepoint_path text,
  updated timestamptz
);
CREATE TABLE artifacts (id integer PRIMARY KEY, blob bytea NOT NULL);
CREATE TABLE tags (id serial PRIMARY KEY, label text);
INSERT INTO users (name, created) VALUES
  ('alice', '2026-01-02 03:04:05.123456+02'),
  ('bob', '1999-12-31 23:59:59+00');
INSERT INTO jobs (owner_id, name, sql_text, settings, udf_jar, savepoint_path, updated) VALUES
  (1, 'etl', E'INSERT INTO sink\tSELECT *\nFROM src\r\nWHERE a = ''x\\y'' -- \\N', 
   '{"parallelism": 4, "nested": {"k": [1, null, "a\tb\\c"]}, "emoji": "\u00e9"}',
   '\x00cafe00babe00'::bytea, 'hdfs:///savepoints/sp-1', '2026-03-04 05:06:07.000001+00'),
  (2, 'empty', '', '{}', ''::bytea, NULL, NULL),
  (1, 'nulls', NULL, NULL, NULL, NULL, '2026-05-06 00:00:00-07');
INSERT INTO artifacts SELECT g, decode(repeat(md5(g::text), 40000), 'hex')
  FROM generate_series(1, 6) g;
)SQL";

// Everything a restore must put back, as text.
std::map<std::string, Rows> contents(const std::string& dsn) {
  return {
      {"users", sql(dsn, "SELECT id, name, created FROM users ORDER BY id")},
      {"jobs", sql(dsn,
                   "SELECT id, owner_id, name, sql_text, settings::text, "
                   "encode(udf_jar, 'hex'), savepoint_path, updated FROM jobs ORDER BY id")},
      {"artifacts", sql(dsn, "SELECT id, md5(blob) FROM artifacts ORDER BY id")},
      {"tags", sql(dsn, "SELECT id, label FROM tags ORDER BY id")},
      {"sequences", sql(dsn,
                        "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = "
                        "'public' ORDER BY 1")},
  };
}

struct Entry {
  archive::Entry entry;
  std::string data;
};

class PostgresSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new PgServer;
    start_error_ = server_->start();
  }
  static void TearDownTestSuite() {
    server_->stop();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(start_error_, "") << "cannot run the PostgreSQL tests: " << start_error_;
    db_ = "t" + std::to_string(++counter_);
    sql(server_->dsn("postgres"), "CREATE DATABASE " + db_);
  }
  std::string dsn() const { return server_->dsn(db_); }
  // Roles belong to the server, not to a database: one per test.
  std::string reader() const { return "reader_" + db_; }
  std::string job_db() const;

  std::unique_ptr<MetadataSource> make_source(nlohmann::json params) {
    config::SourceConfig cfg;
    cfg.name = "jobdb";
    cfg.type = "postgres";
    cfg.key_path = "clusters[0].metadata[2]";
    cfg.params = std::move(params);
    auto s = postgres::create(cfg);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }
  std::unique_ptr<MetadataSource> make_source() { return make_source({{"dsn", dsn()}}); }

  TaskContext ctx() {
    TaskContext c;
    c.id = "r1-a1";
    c.staging_dir = staging_.path();
    c.log = [this](const std::string& l) { log_.push_back(l); };
    return c;
  }

  // Backs up through the real archive writer and reads the entries back through the reader.
  std::vector<Entry> backup(MetadataSource& src) {
    const std::string tar = testing::backup_tar(src, ctx());
    io::StringReader in(tar);
    auto reader = archive::ArchiveReader::open(in);
    EXPECT_TRUE(reader) << reader.error().message;
    std::vector<Entry> entries;
    for (;;) {
      auto e = (*reader)->next();
      EXPECT_TRUE(e) << e.error().message;
      if (!e || !*e) break;
      auto data = io::read_all((*reader)->data(), 1 << 30);
      EXPECT_TRUE(data);
      entries.push_back({**e, *data});
    }
    return entries;
  }

  Result<std::unique_ptr<StagedRestore>> stage(MetadataSource& src,
                                               const std::vector<Entry>& entries) {
    auto staged = TRY(src.begin_restore(ctx()));
    for (const auto& e : entries) {
      io::StringReader r(e.data);
      TRY(staged->add(e.entry, r));
    }
    TRY(staged->finish_staging());
    return staged;
  }

  static inline PgServer* server_ = nullptr;
  static inline std::string start_error_;
  static inline int counter_ = 0;
  std::string db_;
  TempDir staging_;
  std::vector<std::string> log_;
};

TEST_F(PostgresSourceTest, DamagedJobDatabaseIsRestoredExactly) {
  sql(dsn(), kSchema);
  auto before = contents(dsn());
  auto src = make_source();
  ASSERT_TRUE(src->check());
  EXPECT_EQ(src->location(), "postgres://127.0.0.1:" +
                                 dsn().substr(dsn().find("port=") + 5,
                                              dsn().find(" dbname") - dsn().find("port=") - 5) +
                                 "/" + db_ + "/public");
  auto entries = backup(*src);
  std::vector<std::string> paths;
  for (const auto& e : entries) paths.emplace_back(e.entry.relative_path());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "schema.json"), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "tables/jobs/part-000001.copy"), paths.end());
  // 6 rows of 1.28 MB of COPY text each: more than one 4 MiB part, each at most 4 MiB.
  EXPECT_NE(std::find(paths.begin(), paths.end(), "tables/artifacts/part-000002.copy"),
            paths.end());
  for (const auto& e : entries) EXPECT_LE(e.data.size(), postgres::kMaxPartBytes) << e.entry.path;

  // Damage: rows deleted, changed and added; sequences advanced.
  sql(dsn(),
      "DELETE FROM jobs WHERE name = 'nulls';"
      "UPDATE jobs SET settings = '{\"parallelism\": 1}', udf_jar = NULL WHERE name = 'etl';"
      "UPDATE users SET name = 'mallory' WHERE name = 'bob';"
      "INSERT INTO users (name, created) VALUES ('eve', now());"
      "INSERT INTO jobs (owner_id, name) VALUES (3, 'intruder');"
      "DELETE FROM artifacts WHERE id > 3;"
      "INSERT INTO tags (label) VALUES (E'new\\ttag');");
  ASSERT_NE(contents(dsn()), before);

  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto diff = (*staged)->diff();
  ASSERT_TRUE(diff) << diff.error().message;
  std::string changed;
  for (const auto& c : diff->changed.items) changed += c + "\n";
  EXPECT_NE(changed.find("jobs: 3 rows now, 3 in backup (contents differ)"), std::string::npos)
      << changed;
  EXPECT_NE(changed.find("artifacts: 3 rows now, 6 in backup"), std::string::npos) << changed;
  EXPECT_NE(changed.find("users: 3 rows now, 2 in backup"), std::string::npos) << changed;

  auto st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = (*staged)->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(contents(dsn()), before);

  // Nothing left to change.
  auto again = stage(*src, entries);
  ASSERT_TRUE(again);
  auto diff2 = (*again)->diff();
  ASSERT_TRUE(diff2);
  EXPECT_TRUE(diff2->changed.empty()) << diff2->changed.items.front();

  // The next ids are the ones the backed-up database would have handed out.
  EXPECT_EQ(sql(dsn(), "INSERT INTO users (name, created) VALUES ('carol', now()) RETURNING id"),
            Rows{{"3"}});
  EXPECT_EQ(sql(dsn(), "INSERT INTO jobs (owner_id, name) VALUES (3, 'next') RETURNING id"),
            Rows{{"4"}});
  // A sequence never used before the backup starts again at 1.
  EXPECT_EQ(sql(dsn(), "INSERT INTO tags (label) VALUES ('first') RETURNING id"), Rows{{"1"}});
}

TEST_F(PostgresSourceTest, FailureInTheMiddleOfCommitChangesNothing) {
  sql(dsn(), kSchema);
  auto src = make_source();
  auto entries = backup(*src);
  sql(dsn(),
      "DELETE FROM jobs WHERE name = 'nulls'; UPDATE users SET name = 'mallory' WHERE id = 2;"
      "INSERT INTO users (name, created) VALUES ('eve', now());");
  auto damaged = contents(dsn());
  // jobs is loaded after users and artifacts (its foreign key): make its first row invalid.
  bool broken = false;
  for (auto& e : entries) {
    if (e.entry.relative_path() == "tables/jobs/part-000001.copy") {
      e.data.replace(0, e.data.find('\t'), "not-a-number");
      e.entry.size = e.data.size();
      broken = true;
    }
  }
  ASSERT_TRUE(broken);
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto st = (*staged)->commit();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("restoring table 'jobs'"), std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("rolled back"), std::string::npos) << st.error().message;
  // One transaction, rolled back: the engine is told that nothing changed.
  EXPECT_TRUE((*staged)->failed_commit_changed_nothing());
  EXPECT_EQ(contents(dsn()), damaged);
}

// Triggers of every kind on the restored tables, writing into another schema, and foreign keys
// from another schema into this one (as job databases beside StreamPark's or Dinky's have).
const char* kTriggers = R"SQL(
CREATE SCHEMA audit;
CREATE TABLE audit.log (id bigserial PRIMARY KEY, what text NOT NULL);
CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.name := upper(NEW.name); RETURN NEW; END$$;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.updated := '2000-01-01 00:00:00+00'; RETURN NEW; END$$;
CREATE FUNCTION remember() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO audit.log (what) VALUES (TG_OP || ' ' || TG_TABLE_NAME); RETURN NULL; END$$;
CREATE TRIGGER a_shout BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION shout();
CREATE TRIGGER b_touch BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION touch();
CREATE TRIGGER c_remember AFTER INSERT OR UPDATE OR DELETE ON jobs
  FOR EACH ROW EXECUTE FUNCTION remember();
CREATE TRIGGER d_truncated AFTER TRUNCATE ON users FOR EACH STATEMENT EXECUTE FUNCTION remember();
CREATE TRIGGER e_always AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION remember();
ALTER TABLE users ENABLE ALWAYS TRIGGER e_always;
CREATE TRIGGER f_off AFTER INSERT ON tags FOR EACH ROW EXECUTE FUNCTION remember();
ALTER TABLE tags DISABLE TRIGGER f_off;
CREATE SCHEMA ops;
CREATE TABLE ops.runs (id int PRIMARY KEY, job_id bigint NOT NULL REFERENCES public.jobs(id),
                       owner int REFERENCES public.users(id) DEFERRABLE);
INSERT INTO ops.runs VALUES (1, 1, 2), (2, 2, NULL);
)SQL";

Rows trigger_states(const std::string& dsn) {
  return sql(dsn,
             "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid "
             "= t.tgrelid WHERE NOT t.tgisinternal ORDER BY 1, 2");
}

Rows outside_keys(const std::string& dsn) {
  return sql(dsn,
             "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE "
             "conrelid = 'ops.runs'::regclass AND contype = 'f' ORDER BY 1");
}

TEST_F(PostgresSourceTest, NoTriggerFiresAndForeignKeysFromAnotherSchemaStayValid) {
  sql(dsn(), kSchema);
  sql(dsn(), kTriggers);
  auto before = contents(dsn());
  auto triggers = trigger_states(dsn());
  auto keys = outside_keys(dsn());
  ASSERT_EQ(keys.size(), 2u);
  auto src = make_source();
  auto entries = backup(*src);

  sql(dsn(),
      "UPDATE jobs SET name = 'changed' WHERE id = 3; DELETE FROM ops.runs WHERE id = 2;"
      "INSERT INTO users (name, created) VALUES ('eve', now());");
  auto safety = backup(*src);  // what the engine takes before applying
  auto damaged = contents(dsn());
  const Rows audit = sql(dsn(), "SELECT id, what FROM audit.log ORDER BY id");
  ASSERT_EQ(audit.size(), 2u);  // the UPDATE and the INSERT above

  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = (*staged)->verify();
  ASSERT_TRUE(st) << st.error().message;
  // Byte for byte: no BEFORE trigger rewrote a name or a time stamp.
  EXPECT_EQ(contents(dsn()), before);
  // No AFTER trigger wrote anywhere, not even the ENABLE ALWAYS one or the TRUNCATE one.
  EXPECT_EQ(sql(dsn(), "SELECT id, what FROM audit.log ORDER BY id"), audit);
  // Every trigger is as it was (enabled, always, disabled), every key back and valid.
  EXPECT_EQ(trigger_states(dsn()), triggers);
  EXPECT_EQ(outside_keys(dsn()), keys);
  // ... and the triggers work again for the applications.
  sql(dsn(), "INSERT INTO tags (label) VALUES ('x')");
  EXPECT_EQ(sql(dsn(), "SELECT count(*) FROM audit.log"), Rows{{"2"}});  // f_off stays off
  sql(dsn(), "INSERT INTO users (name, created) VALUES ('zed', now())");
  EXPECT_EQ(sql(dsn(), "SELECT count(*) FROM audit.log"), Rows{{"3"}});
  sql(dsn(), "DELETE FROM users WHERE name = 'zed'; DELETE FROM tags; DELETE FROM audit.log");
  sql(dsn(), "SELECT setval('users_id_seq', 2); SELECT setval('tags_id_seq', 1, false)");

  // Putting a safety copy back fires nothing either.
  auto back = stage(*src, safety);
  ASSERT_TRUE(back) << back.error().message;
  st = (*back)->commit();
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_TRUE((*back)->verify());
  EXPECT_EQ(contents(dsn()), damaged);
  EXPECT_EQ(sql(dsn(), "SELECT count(*) FROM audit.log"), Rows{{"0"}});
  EXPECT_EQ(trigger_states(dsn()), triggers);
}

TEST_F(PostgresSourceTest, ARowOfAnotherSchemaLeftWithoutItsParentRollsBackAndChangesNothing) {
  sql(dsn(), kSchema);
  sql(dsn(), kTriggers);
  auto src = make_source();
  auto entries = backup(*src);
  // A run of a job that the backup does not have: the key cannot be valid after the restore.
  sql(dsn(),
      "INSERT INTO jobs (owner_id, name) VALUES (1, 'new'); INSERT INTO ops.runs VALUES "
      "(3, (SELECT max(id) FROM jobs), NULL)");
  auto damaged = contents(dsn());
  auto audit = sql(dsn(), "SELECT id, what FROM audit.log ORDER BY id");
  auto keys = outside_keys(dsn());
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto st = (*staged)->commit();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("adding foreign key ops.runs.runs_job_id_fkey back"),
            std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("rolled back"), std::string::npos) << st.error().message;
  EXPECT_TRUE((*staged)->failed_commit_changed_nothing());
  EXPECT_EQ(contents(dsn()), damaged);
  EXPECT_EQ(sql(dsn(), "SELECT id, what FROM audit.log ORDER BY id"), audit);
  EXPECT_EQ(outside_keys(dsn()), keys);
}

// A job database with what StreamPark's and Dinky's have (serial and bigserial ids, BEFORE
// UPDATE triggers that stamp a time, JSON kept as text, bytea, timestamps, no foreign keys) and
// what other job databases have (foreign keys in and out, identity and generated columns, a
// view, a materialized view, a comment, a grant, another schema that references this one).
const char* kJobDb = R"SQL(
CREATE TABLE t_flink_app (
  id bigserial PRIMARY KEY,
  job_name varchar(255) NOT NULL,
  options text,
  jar bytea,
  state smallint DEFAULT 0,
  create_time timestamp NOT NULL DEFAULT now(),
  modify_time timestamptz
);
CREATE TABLE t_setting (setting_key varchar(50) PRIMARY KEY, setting_value text, num serial);
CREATE TABLE dinky_task (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name varchar(100) NOT NULL,
  statement text,
  total numeric(10, 2),
  doubled integer GENERATED ALWAYS AS (id * 2) STORED
);
CREATE TABLE task_history (
  id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  task_id integer REFERENCES dinky_task(id),
  app_id bigint REFERENCES t_flink_app(id) ON DELETE CASCADE,
  note text
);
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.modify_time := '2030-01-01 00:00:00+00'; RETURN NEW; END$$;
CREATE TRIGGER t_flink_app_modify BEFORE UPDATE ON t_flink_app
  FOR EACH ROW EXECUTE FUNCTION stamp();
CREATE VIEW v_running AS SELECT id, job_name FROM t_flink_app WHERE state = 1;
CREATE MATERIALIZED VIEW mv_states AS SELECT state, count(*) AS n FROM t_flink_app GROUP BY state;
COMMENT ON TABLE t_flink_app IS 'Flink applications';
CREATE ROLE console_reader;
GRANT SELECT ON t_flink_app TO console_reader;
INSERT INTO t_flink_app (job_name, options, jar, state, create_time, modify_time) VALUES
  ('etl', '{"parallelism": 4, "k": "a\tb"}', '\x00cafe'::bytea, 1, '2026-01-01 10:00:00',
   '2026-01-02 03:04:05.5+00'),
  ('report', NULL, NULL, 0, '2026-02-01 00:00:00', NULL),
  ('legacy', '{}', ''::bytea, 2, '2025-12-31 23:59:59.999999', '2026-01-01 00:00:00+00');
INSERT INTO t_setting (setting_key, setting_value) VALUES
  ('streampark.maven.repository', 'a rather long value that a narrowed column cannot hold'),
  ('docker.register.address', NULL);
INSERT INTO dinky_task (name, statement, total) VALUES
  ('t1', E'SELECT 1;\nSELECT 2', 12.5), ('t2', NULL, NULL);
INSERT INTO task_history (task_id, app_id, note) VALUES (1, 1, 'ran'), (2, NULL, 'queued');
REFRESH MATERIALIZED VIEW mv_states;
CREATE SCHEMA reports;
CREATE TABLE reports.usage (app_id bigint NOT NULL REFERENCES public.t_flink_app(id), n int);
INSERT INTO reports.usage VALUES (1, 10), (3, 30);
CREATE EXTENSION citext SCHEMA public;
CREATE TABLE t_tag (name public.citext PRIMARY KEY);
CREATE TABLE reports.labels (name public.citext);
INSERT INTO t_tag VALUES ('Prod'), ('dev');
)SQL";

// What an upgrade that went wrong did, after the backup.
const char* kUpgrade = R"SQL(
ALTER TABLE t_flink_app ADD COLUMN cluster_id integer DEFAULT 7;
UPDATE t_flink_app SET cluster_id = id * 100;
ALTER TABLE t_flink_app ADD COLUMN tenant integer NOT NULL DEFAULT 1;
ALTER TABLE t_flink_app ALTER COLUMN tenant DROP DEFAULT;
ALTER TABLE dinky_task DROP COLUMN statement;
UPDATE t_setting SET setting_value = left(setting_value, 10);
ALTER TABLE t_setting ALTER COLUMN setting_value TYPE varchar(10);
DROP TABLE task_history;
DROP VIEW v_running;
DROP TRIGGER t_flink_app_modify ON t_flink_app;
CREATE INDEX t_flink_app_name ON t_flink_app (job_name);
CREATE TABLE t_flink_cluster (id serial PRIMARY KEY, app_id bigint REFERENCES t_flink_app(id));
INSERT INTO t_flink_cluster (app_id) VALUES (1), (2);
COMMENT ON TABLE t_flink_app IS 'applications, v2';
INSERT INTO t_flink_app (job_name, tenant) VALUES ('after-upgrade', 2);
REFRESH MATERIALIZED VIEW mv_states;
)SQL";

std::string PostgresSourceTest::job_db() const {
  std::string text = kJobDb;
  for (size_t p; (p = text.find("console_reader")) != std::string::npos;)
    text.replace(p, 14, reader());
  return text;
}

// The payload entries by path, without the DDL's header lines that name the server version.
std::map<std::string, std::string> payload(const std::vector<Entry>& entries) {
  std::map<std::string, std::string> out;
  for (const auto& e : entries) out[std::string(e.entry.relative_path())] = e.data;
  return out;
}

std::string joined(const DiffList& l) {
  std::string out;
  for (const auto& i : l.items) out += i + "\n";
  return out;
}

TEST_F(PostgresSourceTest, AnUpgradeThatWentWrongIsUndoneSchemaAndRows) {
  sql(dsn(), job_db());
  auto src = make_source();
  auto entries = backup(*src);
  auto backed_up = payload(entries);
  ASSERT_TRUE(backed_up.count("schema/pre-data.sql"));
  ASSERT_TRUE(backed_up.count("schema/post-data.sql"));
  EXPECT_NE(backed_up["schema/pre-data.sql"].find("CREATE TABLE public.t_flink_app"),
            std::string::npos);
  EXPECT_NE(backed_up["schema/post-data.sql"].find("CREATE TRIGGER t_flink_app_modify"),
            std::string::npos);
  EXPECT_EQ(backed_up["schema/pre-data.sql"].find("\\restrict"), std::string::npos);
  // Nothing of the other schema in the DDL.
  EXPECT_EQ(backed_up["schema/pre-data.sql"].find("reports"), std::string::npos);
  auto doc = nlohmann::json::parse(backed_up["schema.json"]);
  EXPECT_EQ(doc["format"], 2);
  EXPECT_EQ(doc["objects"]["column t_setting.setting_value"], "text");
  EXPECT_EQ(doc["materialized_views"], nlohmann::json::array({"mv_states"}));

  sql(dsn(), kUpgrade);
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto diff = (*staged)->diff();
  ASSERT_TRUE(diff) << diff.error().message;
  std::string added = joined(diff->added), changed = joined(diff->changed),
              removed = joined(diff->removed);
  // Dropped since: back. Added since: removed. Changed: put back.
  EXPECT_NE(added.find("column dinky_task.statement: text\n"), std::string::npos) << added;
  EXPECT_NE(added.find("table task_history\n"), std::string::npos) << added;
  EXPECT_NE(added.find("task_history: 2 rows in backup\n"), std::string::npos) << added;
  EXPECT_NE(added.find("view v_running: "), std::string::npos) << added;
  EXPECT_NE(added.find("trigger t_flink_app.t_flink_app_modify: CREATE TRIGGER"), std::string::npos)
      << added;
  EXPECT_NE(removed.find("column t_flink_app.cluster_id: integer DEFAULT 7\n"), std::string::npos)
      << removed;
  EXPECT_NE(removed.find("column t_flink_app.tenant: integer NOT NULL\n"), std::string::npos)
      << removed;
  EXPECT_NE(removed.find("table t_flink_cluster\n"), std::string::npos) << removed;
  EXPECT_NE(removed.find("t_flink_cluster: 2 rows now, not in backup\n"), std::string::npos)
      << removed;
  EXPECT_NE(removed.find("index t_flink_app_name: "), std::string::npos) << removed;
  EXPECT_NE(changed.find("column t_setting.setting_value: character varying(10) now, text in "
                         "backup\n"),
            std::string::npos)
      << changed;
  EXPECT_NE(changed.find("comment on table public.t_flink_app: applications, v2 now, Flink "
                         "applications in backup\n"),
            std::string::npos)
      << changed;
  EXPECT_NE(changed.find("t_flink_app: 4 rows now, 3 in backup (with the backup's columns)\n"),
            std::string::npos)
      << changed;

  auto st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = (*staged)->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_NE(std::find(log_.begin(), log_.end(),
                      "the schema differs from the backup's: re-creating its objects"),
            log_.end());

  // Nothing is left to change.
  auto clean = stage(*src, entries);
  ASSERT_TRUE(clean);
  auto none = (*clean)->diff();
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->added.empty()) << joined(none->added);
  EXPECT_TRUE(none->removed.empty()) << joined(none->removed);
  EXPECT_TRUE(none->changed.empty()) << joined(none->changed);
  // A new backup is the old one byte for byte: DDL, model, rows, sequences.
  auto again = payload(backup(*src));
  EXPECT_EQ(again.size(), backed_up.size());
  for (const auto& [path, data] : backed_up) EXPECT_EQ(again[path], data) << path;
  // The foreign key of the other schema is there and valid; its rows are untouched.
  EXPECT_EQ(sql(dsn(),
                "SELECT convalidated FROM pg_constraint WHERE conrelid = "
                "'reports.usage'::regclass AND contype = 'f'"),
            Rows{{"t"}});
  EXPECT_EQ(sql(dsn(), "SELECT app_id, n FROM reports.usage ORDER BY 1"),
            (Rows{{"1", "10"}, {"3", "30"}}));
  // The extension in the schema and the other schema's column of its type are untouched.
  EXPECT_EQ(sql(dsn(), "SELECT count(*) FROM t_tag WHERE name = 'PROD'"), Rows{{"1"}});
  EXPECT_EQ(sql(dsn(),
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                "attrelid = 'reports.labels'::regclass AND attname = 'name'"),
            Rows{{"citext"}});
  // The materialized view holds the restored rows, the trigger works, the grant is back.
  EXPECT_EQ(sql(dsn(), "SELECT state, n FROM mv_states ORDER BY 1"),
            (Rows{{"0", "1"}, {"1", "1"}, {"2", "1"}}));
  sql(dsn(), "UPDATE t_flink_app SET state = 3 WHERE id = 2");
  EXPECT_EQ(sql(dsn(), "SELECT modify_time FROM t_flink_app WHERE id = 2"),
            Rows{{"2030-01-01 00:00:00+00"}});
  EXPECT_EQ(sql(dsn(), "SELECT has_table_privilege('" + reader() + "', 't_flink_app', 'SELECT')"),
            Rows{{"t"}});
  // The ids go on where the backup left them.
  EXPECT_EQ(sql(dsn(), "INSERT INTO dinky_task (name) VALUES ('t3') RETURNING id, doubled"),
            (Rows{{"3", "6"}}));
}

TEST_F(PostgresSourceTest, ASchemaChangeThatCannotBeUndoneIsRefusedBeforeAnythingChanges) {
  sql(dsn(), job_db());
  // Another schema has a view over a table of this one: re-creating the table would drop it.
  sql(dsn(), "CREATE VIEW reports.apps AS SELECT id, job_name FROM public.t_flink_app");
  auto src = make_source();
  auto entries = backup(*src);

  // Rows only: the schema stays, the view of the other schema is no obstacle.
  sql(dsn(), "DELETE FROM task_history; UPDATE t_setting SET num = 9");
  {
    auto staged = stage(*src, entries);
    ASSERT_TRUE(staged) << staged.error().message;
    auto diff = (*staged)->diff();
    ASSERT_TRUE(diff) << diff.error().message;
    auto st = (*staged)->commit();
    ASSERT_TRUE(st) << st.error().message;
    ASSERT_TRUE((*staged)->verify());
  }

  sql(dsn(), "ALTER TABLE t_flink_app ADD COLUMN cluster_id integer; DELETE FROM t_setting");
  auto before = sql(dsn(), "SELECT * FROM t_flink_app ORDER BY id");
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto diff = (*staged)->diff();
  ASSERT_FALSE(diff);
  EXPECT_EQ(diff.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(diff.error().message.find("view reports.apps depends on table public.t_flink_app"),
            std::string::npos)
      << diff.error().message;
  auto st = (*staged)->commit();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(st.error().message.find("view reports.apps depends on"), std::string::npos)
      << st.error().message;
  EXPECT_TRUE((*staged)->failed_commit_changed_nothing());
  EXPECT_EQ(sql(dsn(), "SELECT * FROM t_flink_app ORDER BY id"), before);
  EXPECT_EQ(sql(dsn(), "SELECT count(*) FROM t_setting"), Rows{{"0"}});

  // A role that the backed-up grants name and that is gone.
  sql(dsn(), "DROP VIEW reports.apps; REVOKE ALL ON t_flink_app FROM " + reader() + "; DROP ROLE " +
                 reader());
  auto again = stage(*src, entries);
  ASSERT_TRUE(again);
  diff = (*again)->diff();
  ASSERT_FALSE(diff);
  EXPECT_NE(diff.error().message.find("roles (owners, grants) that do not exist on this server: " +
                                      reader()),
            std::string::npos)
      << diff.error().message;
  sql(dsn(), "CREATE ROLE " + reader());
  diff = (*again)->diff();
  ASSERT_TRUE(diff) << diff.error().message;
  st = (*again)->commit();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE((*again)->verify());
}

TEST_F(PostgresSourceTest, BackupsWithoutSchemaRestoreTheRowsAsBeforeAndNewerFormatsAreRefused) {
  sql(dsn(), job_db());
  auto src = make_source();
  auto entries = backup(*src);
  // The payload of a flinkbr from before the schema was kept: rows and sequences, format 1.
  std::vector<Entry> old;
  for (auto e : entries) {
    if (e.entry.relative_path().starts_with("schema/")) continue;
    if (e.entry.relative_path() == "schema.json") {
      auto doc = nlohmann::json::parse(e.data);
      doc.erase("ddl");
      doc.erase("objects");
      doc.erase("materialized_views");
      doc["format"] = 1;
      e.data = doc.dump(2) + "\n";
      e.entry.size = e.data.size();
    }
    old.push_back(e);
  }
  sql(dsn(),
      "ALTER TABLE t_flink_app ADD COLUMN cluster_id integer DEFAULT 7;"
      "DELETE FROM task_history; CREATE TABLE t_new (id int)");
  auto staged = stage(*src, old);
  ASSERT_TRUE(staged) << staged.error().message;
  auto diff = (*staged)->diff();
  ASSERT_TRUE(diff) << diff.error().message;
  EXPECT_NE(joined(diff->changed)
                .find("column t_flink_app.cluster_id is not in this backup (made before flinkbr "
                      "kept the schema): it stays, and every restored row gets its default"),
            std::string::npos)
      << joined(diff->changed);
  auto st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_TRUE((*staged)->verify());
  // The rows are back; the schema is as it is now (an old backup does not know it).
  EXPECT_EQ(sql(dsn(), "SELECT count(*) FROM task_history"), Rows{{"2"}});
  EXPECT_EQ(sql(dsn(), "SELECT DISTINCT cluster_id FROM t_flink_app"), Rows{{"7"}});
  EXPECT_EQ(sql(dsn(), "SELECT to_regclass('t_new') IS NOT NULL"), Rows{{"t"}});

  // What the rows cannot go back into is refused at the comparison, naming it.
  auto refused_with = [&](const std::string& change, const std::string& reason) {
    sql(dsn(), "BEGIN; " + change + "; COMMIT");
    auto again = stage(*src, old);
    ASSERT_TRUE(again) << again.error().message;
    auto d = (*again)->diff();
    ASSERT_FALSE(d) << change;
    EXPECT_EQ(d.error().code, Errc::kFailedPrecondition);
    EXPECT_NE(d.error().message.find(reason), std::string::npos) << d.error().message;
    auto c = (*again)->commit();
    ASSERT_FALSE(c);
    EXPECT_TRUE((*again)->failed_commit_changed_nothing());
  };
  refused_with(
      "ALTER TABLE t_flink_app ADD COLUMN tenant int NOT NULL DEFAULT 1; ALTER TABLE "
      "t_flink_app ALTER COLUMN tenant DROP DEFAULT",
      "column t_flink_app.tenant is NOT NULL without a default and not in the backup");
  sql(dsn(), "ALTER TABLE t_flink_app DROP COLUMN tenant");
  refused_with("ALTER TABLE dinky_task DROP COLUMN statement",
               "column dinky_task.statement of the backup does not exist any more");
  sql(dsn(), "ALTER TABLE dinky_task ADD COLUMN statement text");
  refused_with("DROP TABLE task_history", "table task_history of the backup does not exist");

  // A format this flinkbr does not know is refused at staging.
  for (auto& e : entries)
    if (e.entry.relative_path() == "schema.json") {
      auto doc = nlohmann::json::parse(e.data);
      doc["format"] = 3;
      e.data = doc.dump(2) + "\n";
      e.entry.size = e.data.size();
    }
  auto refused = stage(*src, entries);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kCorruption);
  EXPECT_NE(refused.error().message.find("payload format 3"), std::string::npos)
      << refused.error().message;
}

TEST_F(PostgresSourceTest, LargeObjectsComeBackWithTheirOidsAndViewsAreRefreshed) {
  sql(dsn(), job_db());
  sql(dsn(),
      "CREATE TABLE t_udf (id int PRIMARY KEY, jar oid, manifest oid);"
      "INSERT INTO t_udf VALUES (1, lo_from_bytea(0, '\\x00cafe00'::bytea || "
      "decode(repeat('ab', 300000), 'hex')), lo_from_bytea(0, 'Main-Class: x')),"
      "(2, NULL, NULL)");
  auto los = [&] {
    return sql(dsn(),
               "SELECT id, jar, md5(lo_get(jar)), manifest, md5(lo_get(manifest)) "
               "FROM t_udf WHERE jar IS NOT NULL ORDER BY id");
  };
  auto before = los();
  ASSERT_EQ(before.size(), 1u);
  auto src = make_source();
  auto entries = backup(*src);
  auto files = payload(entries);
  EXPECT_EQ(files.count("large-objects/" + before[0][1]), 1u);
  EXPECT_EQ(files["large-objects/" + before[0][3]], "Main-Class: x");
  auto doc = nlohmann::json::parse(files["schema.json"]);
  ASSERT_EQ(doc["large_objects"].size(), 2u) << doc.dump(2);
  EXPECT_EQ(doc["large_objects"][0]["column"], "t_udf.jar");

  // The jar is unlinked, the manifest rewritten, rows change, the view is refreshed over them.
  sql(dsn(), "SELECT lo_unlink(" + before[0][1] + "); SELECT lo_put(" + before[0][3] +
                 ", 0, 'XXXX'); INSERT INTO t_flink_app (job_name, state) VALUES ('n', 1);"
                 "REFRESH MATERIALIZED VIEW mv_states");
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto diff = (*staged)->diff();
  ASSERT_TRUE(diff) << diff.error().message;
  EXPECT_NE(joined(diff->added).find("large object " + before[0][1] + " (t_udf.jar): 300004 bytes"),
            std::string::npos)
      << joined(diff->added);
  EXPECT_NE(joined(diff->changed).find("large object " + before[0][3] + " (t_udf.manifest)"),
            std::string::npos)
      << joined(diff->changed);
  auto st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = (*staged)->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(los(), before);
  EXPECT_EQ(sql(dsn(), "SELECT state, n FROM mv_states ORDER BY 1"),
            (Rows{{"0", "1"}, {"1", "1"}, {"2", "1"}}));

  // An oid that points at nothing fails the backup, naming the column.
  sql(dsn(), "INSERT INTO t_udf VALUES (3, 4000000000, NULL)");
  testing::CapturingWriter capture;
  archive::SourceArchiveWriter out(capture, "jobdb");
  auto failed = src->backup(out, ctx());
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("column t_udf.jar references large object 4000000000, "
                                        "which does not exist"),
            std::string::npos)
      << failed.error().message;
}

TEST_F(PostgresSourceTest, ARoleThatDoesNotOwnTheTablesIsRefusedNamingThem) {
  sql(dsn(), job_db());
  // The applications' role owns the tables; flinkbr connects as another one with the rights to
  // read and write rows only.
  const std::string user = "restorer_" + db_;
  sql(dsn(), "CREATE ROLE " + user + " LOGIN; GRANT USAGE ON SCHEMA public TO " + user +
                 "; GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA "
                 "public TO " +
                 user + "; GRANT SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO " + user);
  auto owner = make_source();
  auto entries = backup(*owner);
  std::string their_dsn = dsn();
  their_dsn.replace(their_dsn.find("user=postgres"), 13, "user=" + user);
  auto src = make_source({{"dsn", their_dsn}});
  sql(dsn(), "DELETE FROM task_history");
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto diff = (*staged)->diff();
  ASSERT_FALSE(diff);
  EXPECT_EQ(diff.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(diff.error().message.find("disables the triggers of these tables and needs the role "
                                      "it connects as to own them"),
            std::string::npos)
      << diff.error().message;
  EXPECT_NE(diff.error().message.find("does not own: t_flink_app"), std::string::npos)
      << diff.error().message;
  auto st = (*staged)->commit();
  ASSERT_FALSE(st);
  EXPECT_TRUE((*staged)->failed_commit_changed_nothing());
  EXPECT_EQ(sql(dsn(), "SELECT count(*) FROM task_history"), Rows{{"0"}});
}

TEST(PostgresDump, AnOlderPgDumpThanTheServerIsRefusedNamingBoth) {
  postgres::DumpTarget target{.conninfo = "host=127.0.0.1",
                              .password = "",
                              .schema = "public",
                              .snapshot = "x",
                              .server_version = 990002};
  auto r = postgres::dump_schema_section(target, "pre-data");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(r.error().message.find("the server runs PostgreSQL 99, but the newest pg_dump found"),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("install postgresql-client-99"), std::string::npos)
      << r.error().message;
}

// pg_dump's own shapes pass: the schema is kept, the timeouts that would lift the restore's
// lock timeout are left out, bodies with semicolons stay one statement.
TEST(PostgresDdlGuard, PgDumpsDdlOfTheSchemaPassesStatementByStatement) {
  const std::string ddl =
      "--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\nSET lock_timeout = 0;\n"
      "SET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n"
      "SELECT pg_catalog.set_config('search_path', '', false);\nSET xmloption = content;\n"
      "--\n-- Name: Flink Jobs; Type: SCHEMA\n--\n\nCREATE SCHEMA \"Flink Jobs\";\n"
      "ALTER SCHEMA \"Flink Jobs\" OWNER TO postgres;\n"
      "CREATE FUNCTION \"Flink Jobs\".shout() RETURNS trigger\n    LANGUAGE plpgsql\n"
      "    AS $$begin new.name := upper(new.name); return new; end$$;\n"
      "CREATE FUNCTION \"Flink Jobs\".two() RETURNS integer\n    LANGUAGE sql\n"
      "    BEGIN ATOMIC\n SELECT CASE WHEN true THEN 2 ELSE 3 END;\nEND;\n"
      "CREATE TABLE \"Flink Jobs\".\"t;x\" (\"a;\" text DEFAULT 'x;y'::text, b text DEFAULT "
      "E'it\\'s;');\n"
      "COMMENT ON COLUMN \"Flink Jobs\".\"t;x\".b IS 'a; \"b\"';\n"
      "CREATE UNIQUE INDEX i ON \"Flink Jobs\".\"t;x\" USING btree (b);\n"
      "CREATE TRIGGER s BEFORE INSERT ON \"Flink Jobs\".\"t;x\" FOR EACH ROW EXECUTE FUNCTION "
      "\"Flink Jobs\".shout();\n"
      "ALTER TABLE ONLY \"Flink Jobs\".\"t;x\"\n    ADD CONSTRAINT k FOREIGN KEY (b) "
      "REFERENCES public.other(b);\n"
      "GRANT SELECT(b) ON TABLE \"Flink Jobs\".\"t;x\" TO \"Reader\";\n"
      "REVOKE USAGE ON SCHEMA \"Flink Jobs\" FROM PUBLIC;\n"
      "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA \"Flink Jobs\" GRANT SELECT ON TABLES "
      "TO \"Reader\";\n"
      "CREATE POLICY p ON \"Flink Jobs\".\"t;x\" USING ((b = CURRENT_USER));\n"
      "CREATE RULE r AS\n    ON DELETE TO \"Flink Jobs\".\"t;x\" DO INSTEAD NOTHING;\n";
  auto st = postgres::replay_statements(ddl, "Flink Jobs", "schema/pre-data.sql");
  ASSERT_TRUE(st) << st.error().message;
  std::vector<std::string> want = {
      "SET client_encoding = 'UTF8'",
      "SET standard_conforming_strings = on",
      "SELECT pg_catalog.set_config('search_path', '', false)",
      "SET xmloption = content",
      "CREATE SCHEMA IF NOT EXISTS \"Flink Jobs\"",
      "ALTER SCHEMA \"Flink Jobs\" OWNER TO postgres",
      "CREATE FUNCTION \"Flink Jobs\".shout() RETURNS trigger\n    LANGUAGE plpgsql\n"
      "    AS $$begin new.name := upper(new.name); return new; end$$",
      "CREATE FUNCTION \"Flink Jobs\".two() RETURNS integer\n    LANGUAGE sql\n"
      "    BEGIN ATOMIC\n SELECT CASE WHEN true THEN 2 ELSE 3 END;\nEND",
  };
  ASSERT_GE(st->size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ((*st)[i], want[i]) << i;
  EXPECT_EQ(st->size(), want.size() + 10);
  EXPECT_EQ(st->at(want.size()),
            "CREATE TABLE \"Flink Jobs\".\"t;x\" (\"a;\" text DEFAULT 'x;y'::text, b text DEFAULT "
            "E'it\\'s;')");
}

// What a forged or hand-edited backup could carry: each is refused, naming the entry and the
// statement, before anything runs.
TEST(PostgresDdlGuard, StatementsThatAreNotDdlOfTheSchemaAreRefused) {
  const std::vector<std::string> forged = {
      "COPY (SELECT 1) TO PROGRAM 'id > /tmp/x';",
      "DROP DATABASE postgres;",
      "DROP TABLE public.jobs;",
      "DO $$begin perform 1; end$$;",
      "INSERT INTO public.users VALUES (1);",
      "SELECT pg_catalog.pg_read_file('/etc/shadow');",
      "ALTER ROLE flinkbr SUPERUSER;",
      "ALTER SYSTEM SET archive_command = 'sh -c x';",
      "SET ROLE postgres;",
      "SET session_authorization = postgres;",
      "RESET ALL;",
      "CREATE TABLE audit.log (a int);",
      "CREATE FUNCTION pg_catalog.f() RETURNS int LANGUAGE sql AS 'select 1';",
      "CREATE SCHEMA other;",
      "CREATE EXTENSION adminpack;",
      "CREATE EVENT TRIGGER e ON ddl_command_start EXECUTE FUNCTION public.f();",
      "CREATE TRIGGER t AFTER INSERT ON audit.log FOR EACH ROW EXECUTE FUNCTION public.f();",
      "CREATE INDEX i ON audit.log (a);",
      "ALTER TABLE audit.log OWNER TO flinkbr;",
      "ALTER TABLE public .jobs OWNER TO x; ALTER TABLE audit.log OWNER TO x;",
      "GRANT pg_execute_server_program TO flinkbr;",
      "GRANT ALL ON ALL TABLES IN SCHEMA audit TO flinkbr;",
      "GRANT SELECT ON TABLE public.jobs, audit.log TO flinkbr;",
      "COMMENT ON TABLE audit.log IS 'x';",
      "CALL public.p();",
      "LOCK TABLE public.jobs;",
      "CREATE TABLE public.t (a int)",  // no semicolon: cut off
      "CREATE TABLE public.t (a text DEFAULT 'unterminated);",
      "CREATE TABLE public.t (a int) /* unterminated;",
  };
  for (const auto& f : forged) {
    auto st = postgres::replay_statements("SET client_encoding = 'UTF8';\n" + f + "\n", "public",
                                          "schema/post-data.sql");
    ASSERT_FALSE(st) << f;
    EXPECT_EQ(st.error().code, Errc::kCorruption) << f;
    EXPECT_TRUE(st.error().message.starts_with("schema/post-data.sql")) << st.error().message;
  }
  auto st = postgres::replay_statements("COPY (SELECT 1) TO PROGRAM 'id';\n", "public",
                                        "schema/pre-data.sql");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message,
            "schema/pre-data.sql holds a statement that is not pg_dump's DDL of schema 'public' "
            "(not pg_dump's DDL of the schema), so this backup file was not written by flinkbr as "
            "it is and is refused: COPY (SELECT 1) TO PROGRAM 'id'");
}

// A backup file edited by hand (its manifest recomputed, so it passes the integrity check):
// its DDL would run as the restoring role, here a superuser that may run programs on the
// database server. Refused at staging, before anything changes; nothing ran.
TEST_F(PostgresSourceTest, AForgedDdlInABackupIsRefusedBeforeAnythingRuns) {
  sql(dsn(), kSchema);
  auto src = make_source();
  auto entries = backup(*src);
  // The schema differs afterwards: the restore would replay the backup's DDL.
  sql(dsn(), "ALTER TABLE users ADD COLUMN nick text");
  auto before = contents(dsn());
  const std::string witness = "/tmp/flinkbr-forged-" + std::to_string(::getpid()) + "-" + db_;
  fs::remove(witness);
  for (std::string_view rel : {"schema/pre-data.sql", "schema/post-data.sql"}) {
    auto forged = entries;
    for (auto& e : forged)
      if (e.entry.relative_path() == rel) {
        e.data += "COPY (SELECT 1) TO PROGRAM 'touch " + witness + "';\n";
        e.entry.size = e.data.size();
      }
    auto staged = stage(*src, forged);
    ASSERT_FALSE(staged) << rel;
    EXPECT_EQ(staged.error().code, Errc::kCorruption);
    EXPECT_NE(staged.error().message.find(std::string(rel) +
                                          " holds a statement that is not pg_dump's DDL of "
                                          "schema 'public'"),
              std::string::npos)
        << staged.error().message;
    EXPECT_NE(staged.error().message.find("TO PROGRAM 'touch " + witness + "'"), std::string::npos)
        << staged.error().message;
  }
  EXPECT_FALSE(fs::exists(witness));
  EXPECT_EQ(contents(dsn()), before);
  EXPECT_EQ(
      sql(dsn(), "SELECT count(*) FROM information_schema.columns WHERE column_name = 'nick'"),
      Rows{{"1"}});
  // The file as written restores; as a superuser, with a warning in the task's log.
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE((*staged)->verify());
  bool warned = false;
  for (const auto& l : log_)
    warned |= l.starts_with("warning: ") &&
              l.find("is restored by a role that is a superuser") != std::string::npos;
  EXPECT_TRUE(warned);
}

// Another application has written to a large object of the schema and not committed yet while
// the restore re-creates the schema and must write that large object again: the restore gives
// up after the database's lock_timeout (here 1 s, shorter than flinkbr's 60 s), says why, and
// changes nothing. pg_dump's `SET lock_timeout = 0` at the head of the DDL must not lift it.
TEST_F(PostgresSourceTest, ALockHeldByAnotherSessionFailsTheRestoreAfterTheLockTimeout) {
  sql(dsn(), kSchema);
  sql(dsn(),
      "CREATE TABLE t_udf (id int PRIMARY KEY, jar oid);"
      "INSERT INTO t_udf VALUES (1, lo_from_bytea(0, 'jar bytes'));"
      "ALTER DATABASE " +
          db_ + " SET lock_timeout = '1s'");
  const std::string jar = sql(dsn(), "SELECT jar FROM t_udf")[0][0];
  auto src = make_source();
  auto entries = backup(*src);
  sql(dsn(), "ALTER TABLE users ADD COLUMN nick text; DELETE FROM tags");
  auto before = contents(dsn());
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;

  std::unique_ptr<PGconn, decltype(&PQfinish)> holder(PQconnectdb(dsn().c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(holder.get()), CONNECTION_OK);
  PQclear(PQexec(holder.get(), ("BEGIN; SELECT lo_put(" + jar + ", 0, 'JAR')").c_str()));
  // The lock is let go after 6 s whatever happens, so that a restore that waits for it ends.
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::seconds(6));
    PQclear(PQexec(holder.get(), "ROLLBACK"));
  });
  auto t0 = std::chrono::steady_clock::now();
  auto st = (*staged)->commit();
  auto waited = std::chrono::steady_clock::now() - t0;
  release.join();
  ASSERT_FALSE(st) << "the restore waited for the lock instead of giving up";
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_NE(st.error().message.find("putting back large object " + jar), std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("canceling statement due to lock timeout"), std::string::npos)
      << st.error().message;
  EXPECT_TRUE(st.error().message.ends_with(
      "(another session held a lock that the restore needed for longer than the lock timeout; "
      "retry once that session has committed or ended)"))
      << st.error().message;
  EXPECT_NE(st.error().message.find("(rolled back)"), std::string::npos) << st.error().message;
  EXPECT_TRUE((*staged)->failed_commit_changed_nothing());
  EXPECT_EQ(contents(dsn()), before);
  EXPECT_EQ(
      sql(dsn(), "SELECT count(*) FROM information_schema.columns WHERE column_name = 'nick'"),
      Rows{{"1"}});
  // Once the lock is gone, the same staged restore goes through.
  st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_TRUE((*staged)->verify());
}

// Table kinds a job database may have beyond plain tables: legacy inheritance (a SELECT on the
// parent also returns the children's rows, which would then come back twice), a partitioned
// table, an enum, a domain, identity and generated columns, a row-level security policy;
// restored once with the schema as it is and once after the schema changed.
TEST_F(PostgresSourceTest, InheritancePartitionsEnumsDomainsAndPoliciesRoundTrip) {
  sql(dsn(),
      "CREATE TYPE state AS ENUM ('new', 'running', 'done');"
      "CREATE DOMAIN port AS integer CHECK (VALUE BETWEEN 1 AND 65535);"
      "CREATE TABLE base (id int GENERATED BY DEFAULT AS IDENTITY, name text, s state);"
      "CREATE TABLE child (extra port, twice int GENERATED ALWAYS AS (id * 2) STORED) "
      "INHERITS (base);"
      "CREATE TABLE events (id bigint, kind text NOT NULL, at date) PARTITION BY LIST (kind);"
      "CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a');"
      "CREATE TABLE events_rest PARTITION OF events DEFAULT;"
      "ALTER TABLE base ENABLE ROW LEVEL SECURITY;"
      "CREATE POLICY mine ON base USING (name <> 'hidden');"
      "INSERT INTO base (name, s) VALUES ('b1', 'new'), ('hidden', 'done');"
      "INSERT INTO child (id, name, s, extra) VALUES (10, 'c1', 'running', 8081), "
      "(11, 'c2', NULL, 22);"
      "INSERT INTO events VALUES (1, 'a', '2026-01-01'), (2, 'b', NULL), (3, 'a', NULL);");
  auto read = [&] {
    return std::vector<Rows>{
        sql(dsn(), "SELECT tableoid::regclass, id, name, s FROM base ORDER BY 2"),
        sql(dsn(), "SELECT id, extra, twice FROM ONLY child ORDER BY 1"),
        sql(dsn(), "SELECT tableoid::regclass, id, kind, at FROM events ORDER BY 2"),
    };
  };
  auto before = read();
  auto src = make_source();
  auto entries = backup(*src);
  for (int round = 0; round < 2; ++round) {
    sql(dsn(),
        "DELETE FROM child WHERE name = 'c2'; UPDATE base SET name = 'x';"
        "DELETE FROM events WHERE id = 3");
    if (round == 1) sql(dsn(), "ALTER TABLE child ADD COLUMN later text; DROP POLICY mine ON base");
    auto staged = stage(*src, entries);
    ASSERT_TRUE(staged) << staged.error().message;
    auto diff = (*staged)->diff();
    ASSERT_TRUE(diff) << diff.error().message;
    auto st = (*staged)->commit();
    ASSERT_TRUE(st) << round << ": " << st.error().message;
    st = (*staged)->verify();
    ASSERT_TRUE(st) << round << ": " << st.error().message;
    EXPECT_EQ(read(), before) << round;
  }
  EXPECT_EQ(sql(dsn(), "SELECT polname FROM pg_policy"), Rows{{"mine"}});
}

// A table whose row-level security hides rows from the role flinkbr connects as (its owner,
// with FORCE ROW LEVEL SECURITY): the backup fails naming the table, instead of keeping the
// visible rows only and restoring a table without the others.
TEST_F(PostgresSourceTest, RowLevelSecurityThatHidesRowsFailsTheBackupNamingTheTable) {
  const std::string owner = "owner_" + db_;
  sql(dsn(), "CREATE ROLE " + owner + " LOGIN; ALTER SCHEMA public OWNER TO " + owner);
  sql(dsn(), "SET ROLE " + owner +
                 "; CREATE TABLE jobs (id int PRIMARY KEY, tenant text);"
                 "ALTER TABLE jobs ENABLE ROW LEVEL SECURITY; ALTER TABLE jobs FORCE ROW LEVEL "
                 "SECURITY; CREATE POLICY t1 ON jobs USING (tenant = 't1')");
  sql(dsn(), "INSERT INTO jobs VALUES (1, 't1'), (2, 't2'), (3, 't1')");  // as the superuser
  auto src = make_source({{"dsn", dsn() + " user=" + owner}});
  testing::CapturingWriter capture;
  archive::SourceArchiveWriter out(capture, "jobdb");
  auto st = src->backup(out, ctx());
  ASSERT_FALSE(st) << "the backup kept only the rows the policy shows";
  EXPECT_NE(st.error().message.find("row-level security"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("jobs"), std::string::npos) << st.error().message;
}

// Hostile names through the restore that re-creates the schema (the DDL guard reads pg_dump's
// quoting of them): quotes, spaces, semicolons, upper case, non-ASCII, 63-byte names, for the
// schema, tables, columns, a trigger, a function with a $$ body and a view.
TEST_F(PostgresSourceTest, HostileNamesSurviveARestoreThatRecreatesTheSchema) {
  const std::string long_name(63, 'L');
  sql(dsn(),
      "CREATE SCHEMA \"Flink; Jobs\"\"\";"
      "SET search_path = \"Flink; Jobs\"\"\";"
      "CREATE TABLE \"ta'ble; DROP TABLE x; --\" (\"Id\" int PRIMARY KEY, \"col $$ ü\" text, " +
          long_name +
          " text);"
          "CREATE FUNCTION \"fn\"\"; x\"() RETURNS trigger LANGUAGE plpgsql AS $b$ begin "
          "new.\"col $$ ü\" := upper(new.\"col $$ ü\"); return new; end $b$;"
          "CREATE TRIGGER \"Trig 'x'\" BEFORE INSERT ON \"ta'ble; DROP TABLE x; --\" FOR EACH ROW "
          "EXECUTE FUNCTION \"fn\"\"; x\"();"
          "CREATE VIEW \"vi;ew\" AS SELECT \"Id\" FROM \"ta'ble; DROP TABLE x; --\";"
          "COMMENT ON TABLE \"ta'ble; DROP TABLE x; --\" IS 'it''s; DROP TABLE y';"
          "ALTER TABLE \"ta'ble; DROP TABLE x; --\" DISABLE TRIGGER \"Trig 'x'\";"
          "INSERT INTO \"ta'ble; DROP TABLE x; --\" VALUES (1, 'a;b', 'l'), (2, NULL, NULL);"
          "ALTER TABLE \"ta'ble; DROP TABLE x; --\" ENABLE TRIGGER \"Trig 'x'\";");
  auto read = [&] {
    return sql(dsn(), "SELECT * FROM \"Flink; Jobs\"\"\".\"ta'ble; DROP TABLE x; --\" ORDER BY 1");
  };
  auto before = read();
  ASSERT_EQ(before.size(), 2u);
  auto src = make_source({{"dsn", dsn()}, {"schema", "Flink; Jobs\""}});
  auto entries = backup(*src);
  sql(dsn(),
      "ALTER TABLE \"Flink; Jobs\"\"\".\"ta'ble; DROP TABLE x; --\" ADD COLUMN later int;"
      "DELETE FROM \"Flink; Jobs\"\"\".\"ta'ble; DROP TABLE x; --\" WHERE \"Id\" = 2");
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = (*staged)->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(read(), before);  // the BEFORE INSERT trigger did not fire: 'a;b' stays lower case
  EXPECT_EQ(sql(dsn(), "SELECT count(*) FROM \"Flink; Jobs\"\"\".\"vi;ew\""), Rows{{"2"}});
}

// A backup file edited to list a large object none of its rows references (another
// application's, by oid) would overwrite it: the restore refuses the file and nothing changes.
TEST_F(PostgresSourceTest, AForgedLargeObjectThatNoRowReferencesIsRefused) {
  sql(dsn(), kSchema);
  sql(dsn(),
      "CREATE TABLE t_udf (id int PRIMARY KEY, jar oid);"
      "INSERT INTO t_udf VALUES (1, lo_from_bytea(0, 'jar bytes'))");
  const std::string other = sql(dsn(), "SELECT lo_from_bytea(0, 'another application')")[0][0];
  auto src = make_source();
  auto entries = backup(*src);
  const std::string forged = "overwritten";
  std::optional<Entry> extra;
  for (auto& e : entries) {
    std::string rel(e.entry.relative_path());
    if (rel == "schema.json") {
      auto doc = nlohmann::json::parse(e.data);
      ASSERT_EQ(doc["large_objects"].size(), 1u) << doc.dump(2);
      auto lo = doc["large_objects"][0];
      lo["oid"] = std::stoul(other);
      lo["size"] = forged.size();
      lo["sha256"] = io::sha256_hex(forged);
      doc["large_objects"].push_back(lo);
      e.data = doc.dump(2) + "\n";
      e.entry.size = e.data.size();
    } else if (rel.starts_with("large-objects/") && !extra) {
      extra = e;
      extra->entry.path = e.entry.path.substr(0, e.entry.path.rfind('/') + 1) + other;
      extra->data = forged;
      extra->entry.size = forged.size();
    }
  }
  ASSERT_TRUE(extra);
  // Large objects come before schema.json in the payload: put the forged one beside them.
  auto at = std::find_if(entries.begin(), entries.end(), [](const Entry& e) {
    return e.entry.relative_path().starts_with("large-objects/");
  });
  entries.insert(at, *extra);
  sql(dsn(), "UPDATE jobs SET name = 'changed since'");  // so that the restore writes rows
  auto before = contents(dsn());
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto st = (*staged)->commit();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("large object " + other), std::string::npos)
      << st.error().message;
  EXPECT_EQ(sql(dsn(), "SELECT convert_from(lo_get(" + other + "), 'UTF8')"),
            (Rows{{"another application"}}));
  EXPECT_EQ(contents(dsn()), before);
}

// The restoring backend is ended by an administrator (pg_terminate_backend) while it waits in
// the middle of its transaction: the restore fails saying it was rolled back, and nothing
// changed.
TEST_F(PostgresSourceTest, ARestoreWhoseBackendIsTerminatedChangesNothing) {
  sql(dsn(), kSchema);
  sql(dsn(),
      "CREATE TABLE t_udf (id int PRIMARY KEY, jar oid);"
      "INSERT INTO t_udf VALUES (1, lo_from_bytea(0, 'jar bytes'))");
  const std::string jar = sql(dsn(), "SELECT jar FROM t_udf")[0][0];
  auto src = make_source();
  auto entries = backup(*src);
  sql(dsn(), "DELETE FROM jobs; UPDATE users SET name = 'mallory' WHERE id = 2");
  auto before = contents(dsn());
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  std::unique_ptr<PGconn, decltype(&PQfinish)> holder(PQconnectdb(dsn().c_str()), &PQfinish);
  ASSERT_EQ(PQstatus(holder.get()), CONNECTION_OK);
  PQclear(PQexec(holder.get(), ("BEGIN; SELECT lo_put(" + jar + ", 0, 'JAR')").c_str()));
  std::thread killer([&] {
    // The restore has emptied and refilled the tables and now waits for the large object.
    for (int i = 0; i < 100; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto r =
          sql(server_->dsn("postgres"),
              "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
                  db_ + "' AND wait_event_type = 'Lock'");
      if (!r.empty() && r[0][0] != "0") break;
    }
    PQclear(PQexec(holder.get(), "ROLLBACK"));
  });
  auto st = (*staged)->commit();
  killer.join();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("(rolled back)"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("terminat"), std::string::npos) << st.error().message;
  EXPECT_TRUE((*staged)->failed_commit_changed_nothing());
  EXPECT_EQ(contents(dsn()), before);
}

// Another session rewrites a table (VACUUM FULL; ALTER TABLE ... TYPE, CLUSTER and TRUNCATE
// do the same) after the backup's snapshot and before the backup reads it: PostgreSQL's
// rewrites are not MVCC-safe and the table would look empty. The backup fails, naming the
// table, instead of keeping no rows; the next one is complete.
TEST_F(PostgresSourceTest, ATableRewrittenDuringTheBackupFailsItInsteadOfLookingEmpty) {
  sql(dsn(), kSchema);
  auto src = make_source();
  testing::CapturingWriter capture;
  bool rewritten = false;
  // Tables are read in name order: artifacts first, users last.
  capture.before_read = [&](std::string_view path) {
    if (rewritten || path.find("tables/artifacts/") == std::string_view::npos) return;
    rewritten = true;
    sql(dsn() + " options='-c lock_timeout=5s'", "VACUUM FULL users");
  };
  archive::SourceArchiveWriter out(capture, "jobdb");
  auto st = src->backup(out, ctx());
  ASSERT_TRUE(rewritten);
  ASSERT_FALSE(st) << "the backup kept table users without its rows";
  EXPECT_EQ(st.error().code, Errc::kUnavailable);
  EXPECT_NE(st.error().message.find("another session rewrote table users while the backup read "
                                    "it (ALTER TABLE, VACUUM FULL, CLUSTER or TRUNCATE)"),
            std::string::npos)
      << st.error().message;
  auto files = payload(backup(*src));
  auto doc = nlohmann::json::parse(files["schema.json"]);
  for (const auto& t : doc["tables"])
    if (t["name"] == "users") {
      EXPECT_EQ(t["rows"], 2);
    }
}

TEST_F(PostgresSourceTest, StagingRefusesIncompletePayloads) {
  sql(dsn(), kSchema);
  auto src = make_source();
  auto entries = backup(*src);
  auto without = [&](std::string_view rel) {
    std::vector<Entry> out;
    for (const auto& e : entries)
      if (e.entry.relative_path() != rel) out.push_back(e);
    return out;
  };
  auto r = stage(*src, without("tables/artifacts/part-000002.copy"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorruption);
  r = stage(*src, without("schema.json"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorruption);
  // A part cut in the middle of a row.
  auto cut = entries;
  for (auto& e : cut)
    if (e.entry.relative_path() == "tables/users/part-000001.copy") {
      e.data.pop_back();
      e.entry.size = e.data.size();
    }
  r = stage(*src, cut);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorruption);
}

TEST_F(PostgresSourceTest, CheckNamesMissingSchemaAndTables) {
  sql(dsn(), kSchema);
  auto st = make_source({{"dsn", dsn()}, {"tables", {"users", "nope"}}})->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  EXPECT_NE(st.error().message.find("'nope'"), std::string::npos) << st.error().message;
  st = make_source({{"dsn", dsn()}, {"schema", "flink"}})->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  EXPECT_NE(st.error().message.find("'flink'"), std::string::npos) << st.error().message;
  EXPECT_TRUE(make_source({{"dsn", dsn()}, {"tables", {"users", "jobs"}}})->check());
}

TEST_F(PostgresSourceTest, ListedTablesKeepTheirOwnedSequencesOnly) {
  sql(dsn(), kSchema);
  auto src = make_source({{"dsn", dsn()}, {"tables", {"users"}}});
  auto entries = backup(*src);
  std::string schema_json;
  for (const auto& e : entries) {
    EXPECT_FALSE(e.entry.relative_path().starts_with("tables/jobs")) << e.entry.path;
    if (e.entry.relative_path() == "schema.json") schema_json = e.data;
  }
  auto doc = nlohmann::json::parse(schema_json);
  ASSERT_EQ(doc["sequences"].size(), 1u) << schema_json;
  EXPECT_EQ(doc["sequences"][0]["name"], "users_id_seq");
  EXPECT_EQ(doc["sequences"][0]["last_value"], 2);
}

TEST_F(PostgresSourceTest, OddNamesAndAnotherSchemaRoundTrip) {
  sql(dsn(),
      "CREATE SCHEMA \"Flink Jobs\";"
      "CREATE TABLE \"Flink Jobs\".\"runs/\"\"2026\"\" ü\" (\"Id\" int PRIMARY KEY, "
      "\"the \"\"value\"\"\" text, doubled int GENERATED ALWAYS AS (\"Id\" * 2) STORED);"
      "INSERT INTO \"Flink Jobs\".\"runs/\"\"2026\"\" ü\" (\"Id\", \"the \"\"value\"\"\") "
      "VALUES (1, E'a\\\\b'), (2, NULL), (3, '');");
  auto read = [&] {
    return sql(dsn(), "SELECT * FROM \"Flink Jobs\".\"runs/\"\"2026\"\" ü\" ORDER BY 1");
  };
  auto before = read();
  auto src = make_source({{"dsn", dsn()}, {"schema", "Flink Jobs"}});
  ASSERT_TRUE(src->check());
  auto entries = backup(*src);
  bool found = false;
  for (const auto& e : entries)
    found |= e.entry.relative_path() == "tables/runs%2F%222026%22%20%C3%BC/part-000001.copy";
  EXPECT_TRUE(found);
  sql(dsn(), "DELETE FROM \"Flink Jobs\".\"runs/\"\"2026\"\" ü\" WHERE \"Id\" = 2");
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged) << staged.error().message;
  auto st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = (*staged)->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(read(), before);
}

TEST_F(PostgresSourceTest, PasswordFileMustBePrivateAndPasswordsStayOutOfMessages) {
  TempDir tmp;
  std::string pw = tmp.path() + "/pw";
  std::ofstream(pw) << "s3cret-from-file\n";
  ::chmod(pw.c_str(), 0644);
  auto st = make_source({{"dsn", dsn()}, {"password_file", pw}})->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kPermissionDenied);
  EXPECT_NE(st.error().message.find(pw), std::string::npos) << st.error().message;
  ::chmod(pw.c_str(), 0600);
  EXPECT_TRUE(make_source({{"dsn", dsn()}, {"password_file", pw}})->check());

  // A server that does not answer: kUnavailable, no password anywhere.
  std::string down = "host=127.0.0.1 port=" + std::to_string(free_port()) +
                     " dbname=flink user=flinkbr password=s3cret-in-dsn connect_timeout=3";
  auto src = make_source({{"dsn", down}});
  st = src->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kUnavailable);
  EXPECT_TRUE(st.error().retryable);
  EXPECT_EQ(st.error().message.find("s3cret"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("127.0.0.1"), std::string::npos) << st.error().message;
  EXPECT_EQ(src->location().find("s3cret"), std::string::npos);
  EXPECT_EQ(src->location(),
            "postgres://127.0.0.1:" + down.substr(20, down.find(' ', 20) - 20) + "/flink/public");
}

TEST_F(PostgresSourceTest, ServerStoppedAfterConfigurationIsUnavailable) {
  // Its own server, stopped after one good check.
  PgServer own;
  ASSERT_EQ(own.start(), "");
  config::SourceConfig cfg;
  cfg.name = "jobdb";
  cfg.type = "postgres";
  cfg.params = {{"dsn", own.dsn("postgres")}};
  config::ClusterConfig cluster;
  auto src = source::create(cfg, cluster);
  ASSERT_TRUE(src);
  EXPECT_TRUE((*src)->check());
  own.stop();
  auto st = (*src)->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kUnavailable) << st.error().message;
}

TEST(PostgresConfig, RefusesUnknownAndMalformedKeys) {
  auto check = [](nlohmann::json params) {
    config::SourceConfig cfg;
    cfg.name = "db";
    cfg.type = "postgres";
    cfg.key_path = "clusters[0].metadata[1]";
    cfg.params = std::move(params);
    return source::validate_config(cfg);
  };
  EXPECT_TRUE(check({{"dsn", "host=db dbname=flink"}}));
  EXPECT_TRUE(check({{"dsn", "postgresql://u@db/flink"},
                     {"schema", "s"},
                     {"tables", {"a"}},
                     {"password_file", "/etc/flinkbr/pg.pw"}}));
  auto st = check({{"dsn", "host=db"}, {"bogus", 1}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[1].bogus");
  st = check({{"schema", "public"}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[1].dsn");
  st = check({{"dsn", "host=db password=hunter2 = oops"}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[1].dsn");
  EXPECT_EQ(st.error().message.find("hunter2"), std::string::npos);
  st = check({{"dsn", "host=db"}, {"tables", {"a", "a"}}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[1].tables");
  st = check({{"dsn", "host=db"}, {"password_file", "relative"}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[1].password_file");
}

}  // namespace
}  // namespace flinkbr::source
