// End-to-end: the daemon keeps its state in PostgreSQL (`server.database`), and a backup and a
// restore through the real CLI work as with SQLite; the password reaches no log.
#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

#include "harness.h"
#include "support/postgres_server.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testsupport::PgServer;
using testsupport::Rows;
using testsupport::sql;

constexpr const char* kSecret = "e2e-Db-Secret-7f3a";

class StateDatabaseEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new PgServer();
    server_error_ = server_->start();
    if (server_error_.empty()) {
      // Two statements: CREATE DATABASE cannot run inside the transaction a multi-statement
      // query makes.
      sql(server_->dsn("postgres"), "CREATE ROLE flinkbr LOGIN");
      sql(server_->dsn("postgres"), "CREATE DATABASE flinkbr_state OWNER flinkbr");
    }
  }
  static void TearDownTestSuite() {
    server_->stop();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(server_error_, "") << "the test needs PostgreSQL"; }

  static std::string uri() {
    return "postgresql://flinkbr@127.0.0.1:" + std::to_string(server_->port()) + "/flinkbr_state";
  }
  static Rows state_sql(const std::string& query) {
    return sql(server_->dsn("flinkbr_state"), query);
  }

  static PgServer* server_;
  static std::string server_error_;
};
PgServer* StateDatabaseEndToEnd::server_ = nullptr;
std::string StateDatabaseEndToEnd::server_error_;

// Every file under `dir` that holds `needle`, for the "no secret in logs" check.
std::vector<std::string> files_holding(const std::string& dir, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && read_file(e.path().string()).find(needle) != std::string::npos)
      out.push_back(e.path().string());
  return out;
}

TEST_F(StateDatabaseEndToEnd, BackupAndRestoreWithTheStateInPostgres) {
  Daemon::Options o;
  o.server_settings = {"database: " + uri()};
  o.env = {{"FLINKBR_DATABASE_PASSWORD", kSecret}};
  Daemon d(o);
  d.seed_cluster();
  const Tree before = cluster_tree(d);
  const std::string path = d.backup();

  write_file(d.ha_dir() + "/stray-after-backup", "changed");
  ASSERT_NE(describe_difference(before, cluster_tree(d)), "");
  ASSERT_EQ(d.cli({"service", "stop", "prod"}).exit_code, 0);
  auto c = d.cli({"restore", "create", "r1", "--cluster", "prod", "--data-source", "Flink",
                  "--path-type", "LocalDir", "--source-path", path});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");

  // The state is in PostgreSQL, in the schema "flinkbr", and not in a SQLite file.
  EXPECT_FALSE(fs::exists(d.state_dir() + "/flinkbr.db"));
  EXPECT_EQ(state_sql("SELECT status, backup_path FROM flinkbr.backup_records"),
            (Rows{{"Succeeded", path}}));
  EXPECT_EQ(state_sql("SELECT name, state FROM flinkbr.restore_tasks"),
            (Rows{{"r1", "Succeeded"}}));

  // A restarted daemon finds it all again.
  d.stop();
  d.start();
  auto show = d.cli({"restore", "show", "r1", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(json::parse(show.out)["state"], "Succeeded");
  auto history = d.cli({"backup", "history", "nightly", "--json"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  EXPECT_EQ(json::parse(history.out)[0]["backup_path"], path);

  d.stop();
  EXPECT_EQ(files_holding(d.root(), kSecret), std::vector<std::string>{});
}

TEST_F(StateDatabaseEndToEnd, APasswordInTheUriIsRefusedAtStart) {
  Daemon::Options o;
  o.server_settings = {"database: postgresql://flinkbr:" + std::string(kSecret) +
                       "@127.0.0.1:" + std::to_string(server_->port()) + "/flinkbr_state"};
  std::string failure;
  try {
    Daemon d(o);
  } catch (const std::runtime_error& e) {
    failure = e.what();
  }
  ASSERT_NE(failure, "") << "the daemon started with a password in server.database";
  EXPECT_NE(failure.find("server.database"), std::string::npos) << failure;
  EXPECT_NE(failure.find("FLINKBR_DATABASE_PASSWORD"), std::string::npos) << failure;
  EXPECT_EQ(failure.find(kSecret), std::string::npos) << failure;
}

}  // namespace
}  // namespace flinkbr::e2e
