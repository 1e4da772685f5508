// End-to-end: two `flinkbr serve` sharing one PostgreSQL state (`server.database`) and one
// configuration form a manager group (issue 15): exactly one is active, the other answers as a
// standby naming the active's address, and a kill -9 of the active in the middle of a backup
// hands over to the standby, which fails the dead one's run as a restarted daemon would.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "harness.h"
#include "support/ports.h"
#include "support/postgres_server.h"

namespace flinkbr::e2e {
namespace {

using nlohmann::json;
using testsupport::free_port;
using testsupport::PgServer;
using testsupport::Rows;
using testsupport::sql;

class GroupEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new PgServer();
    server_error_ = server_->start();
    if (server_error_.empty()) sql(server_->dsn("postgres"), "CREATE DATABASE flinkbr_group");
  }
  static void TearDownTestSuite() {
    server_->stop();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_EQ(server_error_, "") << "the test needs PostgreSQL"; }

  static std::string uri() {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(server_->port()) + "/flinkbr_group";
  }
  static Rows state_sql(const std::string& query) {
    return sql(server_->dsn("flinkbr_group"), query);
  }

  static PgServer* server_;
  static std::string server_error_;
};
PgServer* GroupEndToEnd::server_ = nullptr;
std::string GroupEndToEnd::server_error_;

// GET /api/v1/health of the daemon at 127.0.0.1:port; null when it does not answer.
json health(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(std::chrono::milliseconds(300));
  c.set_read_timeout(std::chrono::seconds(2));
  auto r = c.Get("/api/v1/health");
  if (!r) return nullptr;
  return json::parse(r->body, nullptr, false);
}

// Polls until the daemon at `port` reports `role` (a standby: with the active's address); the
// seconds it took, or -1 after `limit_s`.
double wait_for_role(int port, const std::string& role, double limit_s) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    json h = health(port);
    // A standby counts once it has read the lease (it knows the active's address).
    if (h.is_object() && h.value("role", "") == role &&
        (role != "standby" || !h.value("active_address", "").empty()))
      return s;
    if (s > limit_s) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// A second member: the same configuration file, its own listen address.
struct Member {
  pid_t pid = -1;
  int port = 0;
  Member(const std::string& config, const std::string& log) : port(free_port()) {
    pid = fork();
    if (pid == 0) {
      std::freopen(log.c_str(), "a", stdout);
      std::freopen(log.c_str(), "a", stderr);
      setenv("FLINKBR_LISTEN", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
      execl(FLINKBR_BINARY, FLINKBR_BINARY, "serve", "--config", config.c_str(), nullptr);
      _exit(127);
    }
  }
  ~Member() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

TEST_F(GroupEndToEnd, OneActiveOneStandbyAndAKillNineOfTheActiveMidBackupHandsOver) {
  Daemon::Options o;
  o.server_settings = {"database: " + uri(), "lease_timeout: 3s", "lease_renew: 1s"};
  // The active's backup waits once source "ha" is in the file: killed mid-run on any machine.
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-after-backup:ha";
  Daemon first(o);
  ASSERT_GE(wait_for_role(first.port(), "active", 15), 0) << health(first.port()).dump();

  Member second(first.root() + "/flinkbr.yaml", first.root() + "/second.log");
  ASSERT_GE(wait_for_role(second.port, "standby", 15), 0)
      << health(second.port).dump() << read_file(first.root() + "/second.log");
  const json standby = health(second.port);
  EXPECT_EQ(standby["active_address"], "http://127.0.0.1:" + std::to_string(first.port()));
  const int64_t epoch = health(first.port())["epoch"];
  EXPECT_EQ(standby["epoch"], epoch);

  first.seed_cluster();
  ASSERT_EQ(first
                .cli({"backup", "create", "nightly", "--cluster", "prod", "--data-source", "Flink",
                      "--path-type", "LocalDir"})
                .exit_code,
            0);
  auto run = first.cli({"backup", "run", "nightly", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const int64_t id = json::parse(run.out)["id"];
  // Wait until the run is in its injected pause, in the middle of writing the file.
  bool paused = false;
  for (int i = 0; i < 200 && !paused; ++i) {
    paused = read_file(first.root() + "/daemon.log").find("fault injection: pausing") !=
             std::string::npos;
    if (!paused) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(paused) << read_file(first.root() + "/daemon.log");

  first.kill9();
  const double took = wait_for_role(second.port, "active", 15);
  ASSERT_GE(took, 0) << health(second.port).dump() << read_file(first.root() + "/second.log");
  std::printf("take-over after kill -9 of the active: %.2f s\n", took);
  EXPECT_GT(health(second.port)["epoch"].get<int64_t>(), epoch);

  // The new active fails the dead one's run, as a restarted daemon does, and leaves no file.
  Rows rows;
  for (int i = 0; i < 100; ++i) {
    rows = state_sql("SELECT status FROM flinkbr.backup_records WHERE id = " + std::to_string(id));
    if (rows == Rows{{"Failed"}}) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(rows, (Rows{{"Failed"}}));
  const Rows error =
      state_sql("SELECT error FROM flinkbr.backup_records WHERE id = " + std::to_string(id));
  ASSERT_EQ(error.size(), 1u);
  EXPECT_EQ(error[0][0], "the active manager stopped (fail-over to http://127.0.0.1:" +
                             std::to_string(second.port) + ", epoch " +
                             std::to_string(health(second.port)["epoch"].get<int64_t>()) +
                             ") while this backup was running");
  std::printf("the run's reason: %s\n", error[0][0].c_str());
}

}  // namespace
}  // namespace flinkbr::e2e
