// What the end-to-end tests of a manager group share (group_test.cc, group_relay_test.cc): a
// throwaway PostgreSQL per test suite with a database of its own per test, a member's health and
// role, and a further member started from the first one's configuration file.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "harness.h"
#include "support/ports.h"
#include "support/postgres_server.h"

namespace flinkbr::e2e {

// Short leases keep the tests fast; a kill -9 hands over at the standby's next look anyway.
inline const std::vector<std::string> kShortLease = {"lease_timeout: 3s", "lease_renew: 1s"};

// One PostgreSQL for the suite; every test its own database (`db_`, named `prefix` and a
// number), so that a group's tasks, users and lease never leak into the next test.
class GroupDatabaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new testsupport::PgServer();
    server_error_ = server_->start();
  }
  static void TearDownTestSuite() {
    server_->stop();
    delete server_;
    server_ = nullptr;
  }
  void create_database(const std::string& prefix) {
    ASSERT_EQ(server_error_, "") << "the test needs PostgreSQL";
    static int count = 0;
    db_ = prefix + std::to_string(++count);
    testsupport::sql(server_->dsn("postgres"), "CREATE DATABASE " + db_);
  }

  std::string uri() const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(server_->port()) + "/" + db_;
  }
  testsupport::Rows state_sql(const std::string& query) const {
    return testsupport::sql(server_->dsn(db_), query);
  }
  // The options of a member with the short lease.
  Daemon::Options short_lease_options() const {
    Daemon::Options o;
    o.server_settings = {"database: " + uri()};
    o.server_settings.insert(o.server_settings.end(), kShortLease.begin(), kShortLease.end());
    return o;
  }

  static inline testsupport::PgServer* server_ = nullptr;
  static inline std::string server_error_;
  std::string db_;
};

// GET /api/v1/health of the daemon at 127.0.0.1:port; null when it does not answer.
inline nlohmann::json health(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(std::chrono::milliseconds(300));
  c.set_read_timeout(std::chrono::seconds(2));
  auto r = c.Get("/api/v1/health");
  if (!r) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Polls until the daemon at `port` reports `role` (a standby: with the active's address); the
// seconds it took, or -1 after `limit_s`.
inline double wait_for_role(int port, const std::string& role, double limit_s,
                            std::chrono::milliseconds poll = std::chrono::milliseconds(100)) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const double s = seconds_since(start);
    nlohmann::json h = health(port);
    // A standby counts once it has read the lease (it knows the active's address).
    if (h.is_object() && h.value("role", "") == role &&
        (role != "standby" || !h.value("active_address", "").empty()))
      return seconds_since(start);
    if (s > limit_s) return -1;
    std::this_thread::sleep_for(poll);
  }
}

// Another member: the configuration file `config`, its own listen address, output into `log`.
struct Member {
  std::string config;
  std::string log;
  std::map<std::string, std::string> env;
  int port = testsupport::free_port();
  pid_t pid = -1;

  Member(std::string config_path, std::string log_path,
         std::map<std::string, std::string> environment = {})
      : config(std::move(config_path)), log(std::move(log_path)), env(std::move(environment)) {
    start();
  }
  Member(const Member&) = delete;
  Member& operator=(const Member&) = delete;
  ~Member() { kill9(); }
  void start() {
    if (pid > 0) return;
    pid = fork();
    if (pid == 0) {
      std::freopen(log.c_str(), "a", stdout);
      std::freopen(log.c_str(), "a", stderr);
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      setenv("FLINKBR_LISTEN", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
      execl(FLINKBR_BINARY, FLINKBR_BINARY, "serve", "--config", config.c_str(), nullptr);
      _exit(127);
    }
  }
  void kill9() {
    if (pid <= 0) return;
    ::kill(pid, SIGCONT);  // a stopped member too
    ::kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
  }
};

}  // namespace flinkbr::e2e
