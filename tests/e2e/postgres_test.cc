// End-to-end: a job database whose schema an upgrade changed, restored through the real daemon
// and CLI. Its source is named "a-jobs" so that it is applied first, before the files sources
// "conf" and "ha": a rolled-back transaction then means that nothing at all was changed.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "harness.h"
#include "support/postgres_server.h"

namespace flinkbr::e2e {
namespace {

using nlohmann::json;
using testsupport::PgServer;
using testsupport::Rows;
using testsupport::sql;

PgServer* g_server = nullptr;
std::string g_server_error;

const char* kJobs = R"SQL(
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE jobs (id bigserial PRIMARY KEY, owner int NOT NULL REFERENCES users(id),
                   statement text, settings text, modified timestamptz);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.modified := now(); RETURN NEW; END$$;
CREATE TRIGGER jobs_touch BEFORE INSERT OR UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION touch();
INSERT INTO users (name) VALUES ('ops'), ('analyst');
INSERT INTO jobs (owner, statement, settings) VALUES (1, 'INSERT INTO s SELECT 1', '{"p": 4}'),
  (2, NULL, '{}');
UPDATE jobs SET modified = NULL;
ALTER TABLE jobs DISABLE TRIGGER jobs_touch;
UPDATE jobs SET modified = '2026-11-01 03:00:00+00';
ALTER TABLE jobs ENABLE TRIGGER jobs_touch;
CREATE SCHEMA ops;
CREATE TABLE ops.runs (id int PRIMARY KEY, job_id bigint NOT NULL REFERENCES public.jobs(id));
INSERT INTO ops.runs VALUES (1, 1);
)SQL";

class PostgresEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_server = new PgServer();
    g_server_error = g_server->start();
  }
  static void TearDownTestSuite() {
    g_server->stop();
    delete g_server;
    g_server = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(g_server_error, "") << "the tests need PostgreSQL";
    std::random_device rd;
    database_ = "upgrade" + std::to_string(rd() % 1000000000);
    sql(g_server->dsn("postgres"), "CREATE DATABASE " + database_);
    sql(dsn(), kJobs);
  }

  std::string dsn() const { return g_server->dsn(database_); }

  Daemon::Options options() const {
    Daemon::Options o;
    o.extra_metadata = {"{ name: a-jobs, type: postgres, dsn: \"" + dsn() + "\", schema: public }"};
    return o;
  }

  // What a user can see of the database.
  Rows db_state() {
    return sql(dsn(),
               "SELECT 'u', id::text, name, NULL, NULL FROM users UNION ALL "
               "SELECT 'j', id::text, owner::text, statement || '|' || settings, modified::text "
               "FROM jobs UNION ALL SELECT 'r', id::text, job_id::text, NULL, NULL FROM ops.runs "
               "UNION ALL SELECT 'c', table_name::text, column_name::text, data_type::text, "
               "NULL FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, "
               "2, 3");
  }

  static std::vector<std::string> step_names(const json& task) {
    std::vector<std::string> out;
    for (const auto& s : task["attempt_history"].back()["steps"])
      out.push_back(s["name"].get<std::string>());
    return out;
  }

  std::string database_;
};

TEST_F(PostgresEndToEnd, AnUpgradeIsUndoneAndThePreviewSaysWhatChanges) {
  Daemon d(options());
  d.seed_cluster();
  Rows before = db_state();
  std::string path = d.backup();
  sql(dsn(),
      "ALTER TABLE jobs ADD COLUMN cluster_id int NOT NULL DEFAULT 7;"
      "ALTER TABLE jobs ALTER COLUMN cluster_id DROP DEFAULT;"
      "ALTER TABLE users ALTER COLUMN name TYPE varchar(3) USING left(name, 3);"
      "CREATE TABLE audit (id serial PRIMARY KEY, job_id bigint REFERENCES jobs(id));"
      "INSERT INTO audit (job_id) VALUES (1); UPDATE jobs SET settings = '{\"p\": 1}'");
  ASSERT_NE(db_state(), before);
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto preview = d.cli({"restore", "start", "r1", "--dry-run", "--json"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  json source;
  const json answer = json::parse(preview.out);
  for (const auto& s : answer["sources"])
    if (s["name"] == "a-jobs") source = s;
  ASSERT_FALSE(source.is_null()) << preview.out;
  EXPECT_NE(source["removed"].dump().find("column jobs.cluster_id: integer NOT NULL"),
            std::string::npos)
      << source.dump(2);
  EXPECT_NE(source["removed"].dump().find("table audit"), std::string::npos) << source.dump(2);
  EXPECT_NE(source["changed"].dump().find(
                "column users.name: character varying(3) NOT NULL now, text NOT NULL in backup"),
            std::string::npos)
      << source.dump(2);

  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  EXPECT_EQ(db_state(), before);
  EXPECT_EQ(sql(dsn(), "SELECT to_regclass('public.audit') IS NULL"), Rows{{"t"}});
  EXPECT_EQ(restore_show(d, "r1")["state"], "Succeeded");
}

TEST_F(PostgresEndToEnd, ARolledBackRestoreSaysThatNothingChanged) {
  Daemon d(options());
  d.seed_cluster();
  std::string path = d.backup();
  // A run of a job that the backup does not have: the key of ops.runs cannot hold afterwards.
  sql(dsn(), "INSERT INTO jobs (owner) VALUES (1); INSERT INTO ops.runs VALUES (2, 3)");
  write_file(d.conf_dir() + "/added-since", "x");
  Rows damaged = db_state();
  Tree files = cluster_tree(d);
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("adding foreign key ops.runs.runs_job_id_fkey back"), std::string::npos)
      << s.err;
  EXPECT_NE(s.err.find("nothing was changed"), std::string::npos) << s.err;
  EXPECT_EQ(s.err.find("safety copy"), std::string::npos) << s.err;
  json task = restore_show(d, "r1");
  EXPECT_EQ(task["state"], "Failed");
  EXPECT_EQ(task["attempt_history"].back()["phase"], "rolled-back") << task.dump(2);
  EXPECT_EQ(db_state(), damaged);
  EXPECT_EQ(describe_difference(files, cluster_tree(d)), "");
}

TEST_F(PostgresEndToEnd, ASchemaChangeThatCannotBeUndoneIsRefusedBeforeTheFirstChange) {
  Daemon d(options());
  d.seed_cluster();
  sql(dsn(), "CREATE VIEW ops.job_names AS SELECT id, statement FROM public.jobs");
  std::string path = d.backup();
  sql(dsn(), "ALTER TABLE jobs ADD COLUMN cluster_id int; DELETE FROM ops.runs");
  write_file(d.conf_dir() + "/added-since", "x");
  Rows changed = db_state();
  Tree files = cluster_tree(d);
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto preview = d.cli({"restore", "start", "r1", "--dry-run", "--json"});
  EXPECT_NE(preview.exit_code, 0);
  EXPECT_NE(preview.err.find("view ops.job_names depends on table public.jobs"), std::string::npos)
      << preview.err;
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("view ops.job_names depends on table public.jobs"), std::string::npos)
      << s.err;
  json task = restore_show(d, "r1");
  EXPECT_EQ(task["state"], "Failed");
  auto steps = step_names(task);
  EXPECT_EQ(std::find(steps.begin(), steps.end(), "apply"), steps.end()) << task.dump(2);
  EXPECT_EQ(db_state(), changed);
  EXPECT_EQ(describe_difference(files, cluster_tree(d)), "");
}

}  // namespace
}  // namespace flinkbr::e2e
