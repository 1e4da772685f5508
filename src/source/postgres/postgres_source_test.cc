// Tests of the postgres source against a real PostgreSQL 15 server that the fixture starts
// itself (initdb into a fresh directory, a free loopback port, stopped with SIGINT at the end).
// As root, initdb and postgres run as the `postgres` user (they refuse root).
#include "source/postgres/postgres_source.h"

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

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"
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
