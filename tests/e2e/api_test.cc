// End-to-end: the REST API's answers to bad input and to users without the right role, and the
// embedded default's demo walkthrough as the README tells it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "harness.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json valid_restore() {
  return {{"name", "r1"},
          {"cluster", "prod"},
          {"data_source", "Flink"},
          {"path_type", "LocalDir"},
          {"source_path", "/backups/nightly_20260101000000/1.18.1_Flink_20260101000000.tar.gz"}};
}

json valid_backup() {
  return {{"name", "b1"}, {"cluster", "prod"}, {"data_source", "Flink"}, {"path_type", "LocalDir"}};
}

TEST(Api, EveryBadFieldAnswers400NamingTheField) {
  Daemon d;
  struct Case {
    std::string endpoint, field;
    json value;
  };
  const std::string long_name(300, 'a');
  std::vector<Case> cases = {
      {"/api/v1/restore-tasks", "name", ""},
      {"/api/v1/restore-tasks", "name", long_name},
      {"/api/v1/restore-tasks", "name", "bad\nname"},
      {"/api/v1/restore-tasks", "name", "../etc"},
      {"/api/v1/restore-tasks", "name", 42},
      {"/api/v1/restore-tasks", "cluster", "no-such-cluster"},
      {"/api/v1/restore-tasks", "cluster", "bad\x01"},
      {"/api/v1/restore-tasks", "data_source", "Everything"},
      {"/api/v1/restore-tasks", "path_type", "FTP"},
      {"/api/v1/restore-tasks", "path_type", ""},
      {"/api/v1/restore-tasks", "source_path", ""},
      {"/api/v1/restore-tasks", "source_path", "relative/1.18.1_Flink_20260101000000.tar.gz"},
      {"/api/v1/restore-tasks", "source_path",
       "/backups/../etc/1.18.1_Flink_20260101000000.tar.gz"},
      {"/api/v1/restore-tasks", "source_path", "/backups/not-a-backup.txt"},
      {"/api/v1/restore-tasks", "source_path", "/backups/x\t/1.tar.gz"},
      {"/api/v1/restore-tasks", "source_path", "/" + std::string(5000, 'x') + ".tar.gz"},
      {"/api/v1/restore-tasks", "ip_mode", "IPv5"},
      {"/api/v1/restore-tasks", "queue", "default"},
      {"/api/v1/restore-tasks", "bogus_field", "x"},
      {"/api/v1/backup-tasks", "name", ""},
      {"/api/v1/backup-tasks", "name", "with space"},
      {"/api/v1/backup-tasks", "data_source", "flink"},
      {"/api/v1/backup-tasks", "path_type", "LocalDisk"},
      {"/api/v1/backup-tasks", "path", "relative/dir"},
      {"/api/v1/backup-tasks", "path", "/a/../b"},
      {"/api/v1/backup-tasks", "max_copies", -1},
      {"/api/v1/backup-tasks", "max_copies", "three"},
      {"/api/v1/backup-tasks", "period", "1w"},
      {"/api/v1/backup-tasks", "start_time", "tomorrow"},
  };
  for (const auto& c : cases) {
    json body = c.endpoint == "/api/v1/restore-tasks" ? valid_restore() : valid_backup();
    body[c.field] = c.value;
    if (c.field == "start_time") body["period"] = "1d";
    auto r = d.api("POST", c.endpoint, body);
    EXPECT_EQ(r.status, 400) << c.endpoint << " " << c.field << "=" << c.value.dump() << " -> "
                             << r.body.dump();
    EXPECT_EQ(r.body["error"]["code"], "invalid_argument") << r.body.dump();
    EXPECT_EQ(r.body["error"]["field"], c.field)
        << c.field << "=" << c.value.dump() << " -> " << r.body.dump();
    EXPECT_FALSE(r.body["error"]["message"].get<std::string>().empty());
  }
  // Not JSON at all.
  // Nothing was created by any of them.
  auto list = d.api("GET", "/api/v1/restore-tasks");
  EXPECT_EQ(list.body["items"].size(), 0u) << list.body.dump();
  EXPECT_EQ(d.api("GET", "/api/v1/backup-tasks").body["items"].size(), 0u);

  // The valid bodies are accepted (a restoration needs a file that is there).
  EXPECT_EQ(d.api("POST", "/api/v1/backup-tasks", valid_backup()).status, 201);
  json restore = valid_restore();
  restore["source_path"] = d.backup("for-restore");
  EXPECT_EQ(d.api("POST", "/api/v1/restore-tasks", restore).status, 201);
  // A name taken.
  auto dup = d.api("POST", "/api/v1/restore-tasks", restore);
  EXPECT_EQ(dup.status, 409);
}

TEST(Api, RolesAreEnforced) {
  Daemon d;
  d.seed_cluster();
  std::string path = d.backup();
  ASSERT_EQ(d.cli({"user", "create", "vera", "--role", "viewer"}, "viewer-password-1\n").exit_code,
            0);
  d.login("vera", "viewer-password-1");
  ASSERT_EQ(d.cli({"restore", "create", "r1", "--cluster", "prod", "--data-source", "Flink",
                   "--path-type", "LocalDir", "--source-path", path})
                .exit_code,
            0);
  // A viewer reads ...
  EXPECT_EQ(d.cli({"restore", "list", "--json"}, "", "vera").exit_code, 0);
  EXPECT_EQ(d.api("GET", "/api/v1/restore-tasks/r1", nullptr, "vera").status, 200);
  // ... but cannot start a restoration, create tasks or stop services.
  auto start = d.api("POST", "/api/v1/restore-tasks/r1/start", json::object(), "vera");
  EXPECT_EQ(start.status, 403);
  EXPECT_EQ(start.body["error"]["code"], "permission_denied");
  auto cli_start = d.cli({"restore", "start", "r1"}, "", "vera");
  EXPECT_NE(cli_start.exit_code, 0);
  EXPECT_FALSE(cli_start.err.empty());
  EXPECT_EQ(d.api("POST", "/api/v1/clusters/prod/service/stop", json::object(), "vera").status,
            403);
  EXPECT_EQ(d.service_state(), "running");
  EXPECT_EQ(d.api("GET", "/api/v1/restore-tasks/r1").body["state"], "Created");
  // No credentials at all: 401, except health.
  EXPECT_EQ(d.api("GET", "/api/v1/restore-tasks", nullptr, "").status, 401);
  EXPECT_EQ(d.api("GET", "/api/v1/health", nullptr, "").status, 200);

  // The audit log recorded the refused start.
  auto audit = d.api("GET", "/api/v1/audit");
  ASSERT_EQ(audit.status, 200);
  bool found = false;
  for (const auto& e : audit.body["items"])
    if (e["user"] == "vera" && e["outcome"] == "permission_denied") found = true;
  EXPECT_TRUE(found) << audit.body.dump();
}

TEST(Api, TokensSurviveADaemonRestart) {
  Daemon d;
  d.stop();
  d.start();
  auto r = d.cli({"cluster", "list", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Api, InitialAdminPasswordFileIsPrivate) {
  Daemon d;
  struct stat st {};
  ASSERT_EQ(stat((d.state_dir() + "/initial-admin-password").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string content = read_file(d.state_dir() + "/initial-admin-password");
  ASSERT_FALSE(content.empty());
  EXPECT_EQ(content.back(), '\n');
  EXPECT_EQ(content.find('\n'), content.size() - 1);
}

// The README's walkthrough on the embedded default: no configuration at all.
TEST(Demo, EmbeddedDefaultWalkthrough) {
  std::string dir = make_temp_dir();
  int port = free_port();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  pid_t pid = fork();
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    int log = open("daemon.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(log, 1);
    dup2(log, 2);
    setenv("FLINKBR_LISTEN", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
    execl(FLINKBR_BINARY, FLINKBR_BINARY, "serve", nullptr);
    _exit(127);
  }
  std::map<std::string, std::string> env = {{"FLINKBR_SERVER", url},
                                            {"FLINKBR_CONFIG_DIR", dir + "/cli"}};
  auto cli = [&](std::vector<std::string> args, const std::string& input = {}) {
    args.insert(args.begin(), FLINKBR_BINARY);
    return run(args, input, env);
  };
  bool healthy = false;
  for (int i = 0; i < 200 && !healthy; ++i) {
    healthy = run({"curl", "-sf", url + "/api/v1/health"}).exit_code == 0;
    if (!healthy) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(healthy) << read_file(dir + "/daemon.log");
  std::string state = dir + "/flinkbr-state";
  std::string password = read_file(state + "/initial-admin-password");
  ASSERT_EQ(cli({"login", "--user", "admin"}, password).exit_code, 0);

  auto clusters = json::parse(cli({"cluster", "list", "--json"}).out);
  ASSERT_EQ(clusters.size(), 1u) << clusters.dump();
  EXPECT_EQ(clusters[0]["name"], "demo");
  EXPECT_EQ(cli({"service", "status", "demo"}).exit_code, 0);

  std::string conf = state + "/demo/flink/conf/flink-conf.yaml";
  std::string original = read_file(conf);
  ASSERT_FALSE(original.empty());

  ASSERT_EQ(cli({"backup", "create", "nightly", "--cluster", "demo", "--data-source", "Flink",
                 "--path-type", "LocalDir"})
                .exit_code,
            0);
  ASSERT_EQ(cli({"backup", "run", "nightly", "--wait"}).exit_code, 0);
  auto history = json::parse(cli({"backup", "history", "nightly", "--json"}).out);
  std::string path = history[0]["backup_path"];

  write_file(conf, "broken by a bad upgrade\n");
  auto stop = cli({"service", "stop", "demo", "--wait"});
  ASSERT_EQ(stop.exit_code, 0) << stop.err;
  ASSERT_EQ(cli({"restore", "create", "undo-upgrade", "--cluster", "demo", "--data-source", "Flink",
                 "--path-type", "LocalDir", "--source-path", path})
                .exit_code,
            0);
  auto restore = cli({"restore", "start", "undo-upgrade", "--wait"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(read_file(conf), original);
  auto start = cli({"service", "start", "demo", "--wait"});
  EXPECT_EQ(start.exit_code, 0) << start.err;
  auto status = json::parse(cli({"service", "status", "demo", "--json"}).out);
  EXPECT_EQ(status["state"], "running");

  // Leave nothing running: stop the placeholder service, then the daemon.
  (void)cli({"service", "stop", "demo"});
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace flinkbr::e2e
