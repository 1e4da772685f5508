// End-to-end: a cluster whose metadata lives in all three kinds of source — files trees, a
// ZooKeeper HA tree and a PostgreSQL job database — backed up and restored through the real
// daemon and CLI, against real servers that the tests start (tests/support/).
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>

#include "harness.h"
#include "support/postgres_server.h"
#include "support/zookeeper_server.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::string_literals;
using testsupport::PgServer;
using testsupport::Rows;
using testsupport::sql;
using testsupport::ZkClient;
using testsupport::ZkServer;

// One ZooKeeper and one PostgreSQL for the suite; each test uses its own root and database.
ZkServer* g_zk = nullptr;
PgServer* g_pg = nullptr;
std::string g_pg_error;

class SourcesEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_zk = new ZkServer();
    g_pg = new PgServer();
    g_pg_error = g_pg->start();
  }
  static void TearDownTestSuite() {
    delete g_zk;
    g_pg->stop();
    delete g_pg;
  }

  void SetUp() override {
    ASSERT_EQ(g_zk->error(), "") << "the tests need ZooKeeper";
    ASSERT_EQ(g_pg_error, "") << "the tests need PostgreSQL";
    std::random_device rd;
    suffix_ = std::to_string(rd() % 1000000000);
    zk_root_ = "/flink/prod" + suffix_;
    database_ = "jobs" + suffix_;
    sql(g_pg->dsn("postgres"), "CREATE DATABASE " + database_);
  }

  // The options of a daemon whose cluster "prod" has the ZooKeeper source "zk" on `connect`
  // and the PostgreSQL source "jobs-db" after its files sources "ha" and "conf".
  // `zk_extra`: more settings of the zookeeper source ("session_timeout: 5s, ").
  Daemon::Options options(const std::string& connect, const std::string& zk_extra = {}) const {
    Daemon::Options o;
    o.extra_metadata = {
        "{ name: zk, type: zookeeper, " + zk_extra + "connect: \"" + connect +
            "\", root: " + zk_root_ + " }",
        "{ name: jobs-db, type: postgres, dsn: \"" + g_pg->dsn(database_) + "\", schema: public }"};
    return o;
  }

  // A Flink-like HA tree: leader information, job graphs with binary payloads, checkpoints
  // with sequential names, counters, null and empty data.
  void seed_zookeeper(const std::string& connect) {
    ZkClient c(connect);
    if (zoo_exists(c.zh(), "/flink", 0, nullptr) != ZOK) c.create("/flink", std::nullopt);
    c.create(zk_root_, std::nullopt);
    c.create(zk_root_ + "/leader", "");
    c.create(zk_root_ + "/leader/rest_server", "\xac\xed\0\x05t\0\x15http://jm:8081"s);
    c.create(zk_root_ + "/jobgraphs", std::nullopt);
    c.create(zk_root_ + "/checkpoints", std::nullopt);
    c.create(zk_root_ + "/checkpoint-counter", std::nullopt);
    for (std::string job : {"7a1c", "9be0"}) {
      c.create(zk_root_ + "/jobgraphs/" + job, "\xac\xed\0\x05graph-"s + job);
      c.create(zk_root_ + "/checkpoints/" + job, std::nullopt);
      for (int i = 0; i < 3; ++i)
        c.create(zk_root_ + "/checkpoints/" + job + "/checkpoint-", "pointer " + std::to_string(i),
                 ZOO_PERSISTENT_SEQUENTIAL);
      c.create(zk_root_ + "/checkpoint-counter/" + job, "\0\0\0\x04"s);
    }
    c.create(zk_root_ + "/running_job_registry", std::nullopt);
  }

  void seed_postgres() {
    sql(g_pg->dsn(database_), R"(
      CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
      CREATE TABLE jobs (id bigserial PRIMARY KEY, owner int NOT NULL REFERENCES users(id),
                         statement text, settings jsonb, udf bytea,
                         created timestamptz, savepoint text);
      INSERT INTO users (name) VALUES ('ops'), ('analyst');
      INSERT INTO jobs (owner, statement, settings, udf, created, savepoint) VALUES
        (1, E'INSERT INTO sink\n\tSELECT * FROM src WHERE x = ''a\\b''', '{"parallelism": 4}',
         '\x00ff00cafe'::bytea, '2026-11-01 03:00:00+00', 'hdfs://hacluster/sp/1'),
        (2, NULL, '{}', NULL, '2026-11-02 04:30:00.123456+00', NULL);)");
  }

  Rows db_state() {
    return sql(g_pg->dsn(database_),
               "SELECT 'u', id::text, name, NULL, NULL, NULL, NULL, NULL FROM users UNION ALL "
               "SELECT 'j', id::text, owner::text, statement, settings::text, "
               "encode(udf, 'hex'), created::text, savepoint FROM jobs ORDER BY 1, 2");
  }

  std::map<std::string, std::string> zk_state(const std::string& connect) {
    ZkClient c(connect);
    return c.snapshot(zk_root_);
  }

  // Everything a user could look at, in one comparable value.
  struct State {
    Tree files;
    std::map<std::string, std::string> zk;
    Rows db;
    bool operator==(const State&) const = default;
  };
  State state(Daemon& d, const std::string& connect) {
    State s;
    s.files = cluster_tree(d);
    s.zk = zk_state(connect);
    s.db = db_state();
    return s;
  }

  // Damages every source in the ways a restore must undo.
  void damage(Daemon& d, const std::string& connect) {
    write_file(d.ha_dir() + "/default/completedCheckpoint7a1c-1", "changed");
    fs::remove(d.ha_dir() + "/default/submittedJobGraph7a1c");
    write_file(d.conf_dir() + "/added-since", "x");
    ZkClient c(connect);
    c.remove_tree(zk_root_ + "/jobgraphs/9be0");
    c.set(zk_root_ + "/checkpoint-counter/7a1c", "\0\0\0\x09"s);
    c.create(zk_root_ + "/checkpoints/7a1c/checkpoint-", "added since", ZOO_PERSISTENT_SEQUENTIAL);
    sql(g_pg->dsn(database_), R"(
      DELETE FROM jobs WHERE id = 2;
      UPDATE jobs SET settings = '{"parallelism": 1}' WHERE id = 1;
      INSERT INTO users (name) VALUES ('intruder');)");
  }

  std::string suffix_, zk_root_, database_;
};

// The znodes that differ, one per line: "<path>: <expected> -> <actual>".
std::string zk_difference(const std::map<std::string, std::string>& expected,
                          const std::map<std::string, std::string>& actual) {
  std::string out;
  for (const auto& [path, v] : expected) {
    auto it = actual.find(path);
    if (it == actual.end())
      out += path + ": missing\n";
    else if (it->second != v)
      out += path + ": " + v + " -> " + it->second + "\n";
  }
  for (const auto& [path, v] : actual)
    if (!expected.contains(path)) out += path + ": unexpected " + v + "\n";
  return out;
}

std::string describe(const Rows& rows) {
  std::string out;
  for (const auto& r : rows) {
    for (const auto& v : r) out += v + " | ";
    out += "\n";
  }
  return out;
}

TEST_F(SourcesEndToEnd, AClusterWithFilesZooKeeperAndPostgresIsRestoredExactly) {
  Daemon d(options(g_zk->connect()));
  d.seed_cluster();
  seed_zookeeper(g_zk->connect());
  seed_postgres();
  // A leader latch held by a live session during the backup: left out of the backup.
  auto holder = std::make_unique<ZkClient>(g_zk->connect());
  holder->create(zk_root_ + "/leader/latch-", "jm-1", ZOO_EPHEMERAL_SEQUENTIAL);
  State before = state(d, g_zk->connect());

  std::string path = d.backup();
  auto record = json::parse(d.cli({"backup", "history", "nightly", "--json"}).out).at(0);
  EXPECT_EQ(record["status"], "Succeeded") << record.dump();
  holder.reset();  // the latch goes with its session, as when Flink is stopped
  std::erase_if(before.zk, [](const auto& kv) { return kv.second.starts_with("E|"); });

  damage(d, g_zk->connect());
  ASSERT_NE(state(d, g_zk->connect()), before);
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto preview = d.cli({"restore", "start", "r1", "--dry-run", "--json"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  EXPECT_NE(preview.out.find("jobgraphs/9be0"), std::string::npos) << preview.out;

  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  State after = state(d, g_zk->connect());
  EXPECT_EQ(describe_difference(before.files, after.files), "");
  EXPECT_EQ(zk_difference(before.zk, after.zk), "");
  EXPECT_EQ(describe(after.db), describe(before.db));
  // The sequences were set back: the next job gets the id it would have got at backup time.
  Rows next = sql(g_pg->dsn(database_), "INSERT INTO jobs (owner) VALUES (1) RETURNING id::text");
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0][0], "3");
  EXPECT_EQ(restore_show(d, "r1")["state"], "Succeeded");
}

TEST_F(SourcesEndToEnd, ARestoreWhoseZooKeeperIsDownIsRefusedAtCheckAndChangesNothing) {
  auto own_zk = std::make_unique<ZkServer>();
  ASSERT_EQ(own_zk->error(), "");
  const std::string connect = own_zk->connect();
  // The check waits the session timeout for a ZooKeeper that is down: 5 s (as the zookeeper
  // source's own tests use), not the default 30 s.
  Daemon d(options(connect, "session_timeout: 5s, "));
  d.seed_cluster();
  seed_zookeeper(connect);
  seed_postgres();
  std::string path = d.backup();
  damage(d, connect);
  Tree files_before;
  for (auto& [p, e] : snapshot(d.ha_dir())) files_before["ha/" + p] = e;
  Rows db_before = db_state();

  own_zk.reset();  // ZooKeeper goes down
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("zk"), std::string::npos) << s.err;
  json task = restore_show(d, "r1");
  EXPECT_EQ(task["state"], "Failed");
  // Refused at the check step, before any source was touched.
  auto steps = task["attempt_history"].at(0)["steps"];
  ASSERT_FALSE(steps.empty()) << task.dump(2);
  json failed_step;
  for (const auto& step : steps)
    if (step["status"] == "failed") failed_step = step;
  EXPECT_EQ(failed_step["name"], "check") << task.dump(2);
  EXPECT_EQ(describe(db_state()), describe(db_before));
  Tree files_after;
  for (auto& [p, e] : snapshot(d.ha_dir())) files_after["ha/" + p] = e;
  EXPECT_EQ(describe_difference(files_before, files_after), "");
}

TEST_F(SourcesEndToEnd, AFailureInTheMiddleOfApplyingLeavesEverySourceAsItWas) {
  Daemon::Options o = options(g_zk->connect());
  // ha, conf and zk are applied, jobs-db is not: then the restore fails.
  o.env["FLINKBR_FAULT_INJECTION"] = "fail-after-apply:zk";
  Daemon d(o);
  d.seed_cluster();
  seed_zookeeper(g_zk->connect());
  seed_postgres();
  std::string path = d.backup();
  damage(d, g_zk->connect());
  State damaged = state(d, g_zk->connect());
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("safety copy was put back"), std::string::npos) << s.err;
  State after = state(d, g_zk->connect());
  EXPECT_EQ(describe_difference(damaged.files, after.files), "");
  EXPECT_EQ(zk_difference(damaged.zk, after.zk), "");
  EXPECT_EQ(describe(after.db), describe(damaged.db));
  EXPECT_EQ(restore_show(d, "r1")["state"], "Failed");
}

}  // namespace
}  // namespace flinkbr::e2e
