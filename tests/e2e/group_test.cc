// End-to-end: `flinkbr serve` processes sharing one PostgreSQL state (`server.database`), one
// configuration and one state directory form a manager group (issue 15): exactly one is active,
// the others answer as standbys naming the active's address. What each failure does, with real
// daemons: kill -9 of the active in the middle of a backup and in the apply step of a restore,
// SIGSTOP/SIGCONT of the active, PostgreSQL restarted under the group, a member cut off from
// PostgreSQL, and periodic backups across a fail-over. The take-over times of ten kills are
// measured by the Bench test at the end, run by bench/group_failover.sh, never timed here.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "common/domain.h"
#include "group_support.h"
#include "harness.h"
#include "support/ports.h"
#include "support/postgres_server.h"
#include "support/tcp_proxy.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testsupport::free_port;
using testsupport::Rows;
using testsupport::TcpProxy;

class GroupEndToEnd : public GroupDatabaseTest {
 protected:
  void SetUp() override { create_database("flinkbr_group_"); }
  // The options of a member with the short lease (and `fault`, FLINKBR_FAULT_INJECTION).
  Daemon::Options group_options(const std::string& fault = {}) const {
    Daemon::Options o = short_lease_options();
    if (!fault.empty()) o.env["FLINKBR_FAULT_INJECTION"] = fault;
    return o;
  }
};

// Polls `pred` every 100 ms for up to `limit_s`; whether it came true.
template <class Pred>
bool wait_until(double limit_s, Pred pred) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (pred()) return true;
    if (seconds_since(start) > limit_s) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string address_of(int port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

// Runs `flinkbr <args>` as the admin against the member at `port`: with the token of the
// admin's login at `d` (tokens live in the shared database, so it is valid at every member; the
// saved login names the member it was made at).
CommandOutput cli_at(Daemon& d, int port, const std::vector<std::string>& args,
                     const std::string& input = {}) {
  std::vector<std::string> argv = {FLINKBR_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input,
             {{"FLINKBR_SERVER", address_of(port)},
              {"FLINKBR_CONFIG_DIR", d.root() + "/cli-admin"},
              {"FLINKBR_TOKEN", d.token()}});
}

json restore_show(Daemon& d, int port, const std::string& name) {
  auto r = cli_at(d, port, {"restore", "show", name, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out, nullptr, false);
}

// Damages the cluster in every way a restore must undo (as restore_test.cc does).
void damage(Daemon& d) {
  write_file(d.ha_dir() + "/default/completedCheckpoint7a1c-1", "changed");
  fs::remove(d.ha_dir() + "/default/submittedJobGraph7a1c");
  write_file(d.ha_dir() + "/default/completedCheckpoint7a1c-99", "added since");
  fs::create_directories(d.ha_dir() + "/default/new-dir/sub");
  chmod((d.conf_dir() + "/secret.keytab").c_str(), 0644);
  fs::remove_all(d.ha_dir() + "/default/jobresults");
}

// The names in a directory (none when it does not exist).
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// Every regular file under `dir`, temporary ones included.
std::vector<std::string> files_under(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file()) files.push_back(it->path().string());
  return files;
}

// Starts `task` at the member at `port` and waits until the run is paused by the fault
// injection (`log` holds the member's output: a new "fault injection: pausing" line). Its id.
int64_t start_paused_backup(Daemon& d, int port, const std::string& task, const std::string& log) {
  const size_t pauses = count_of(read_file(log), "fault injection: pausing");
  auto run = cli_at(d, port, {"backup", "run", task, "--json"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  if (run.exit_code != 0) return -1;
  const int64_t id = json::parse(run.out)["id"];
  EXPECT_TRUE(wait_until(60, [&] {
    return count_of(read_file(log), "fault injection: pausing") > pauses;
  })) << read_file(log);
  return id;
}

TEST_F(GroupEndToEnd, OneActiveOneStandbyAndAKillNineOfTheActiveMidBackupHandsOver) {
  // The active's backup waits once source "ha" is in the file: killed mid-run on any machine.
  Daemon first(group_options("pause-after-backup:ha"));
  ASSERT_GE(wait_for_role(first.port(), "active", 30), 0) << health(first.port()).dump();

  Member second(first.root() + "/flinkbr.yaml", first.root() + "/second.log");
  ASSERT_GE(wait_for_role(second.port, "standby", 30), 0)
      << health(second.port).dump() << read_file(second.log);
  const json standby = health(second.port);
  EXPECT_EQ(standby["active_address"], address_of(first.port()));
  const int64_t epoch = health(first.port())["epoch"];
  EXPECT_EQ(standby["epoch"], epoch);

  first.seed_cluster();
  ASSERT_EQ(first
                .cli({"backup", "create", "nightly", "--cluster", "prod", "--data-source", "Flink",
                      "--path-type", "LocalDir"})
                .exit_code,
            0);
  const int64_t id =
      start_paused_backup(first, first.port(), "nightly", first.root() + "/daemon.log");
  ASSERT_GT(id, 0);

  first.kill9();
  const double took = wait_for_role(second.port, "active", 30);
  ASSERT_GE(took, 0) << health(second.port).dump() << read_file(second.log);
  std::printf("take-over after kill -9 of the active: %.2f s\n", took);
  EXPECT_GT(health(second.port)["epoch"].get<int64_t>(), epoch);

  // The new active fails the dead one's run, as a restarted daemon does, and leaves no file.
  const std::string record = "SELECT status FROM flinkbr.backup_records WHERE id = ";
  EXPECT_TRUE(
      wait_until(30, [&] { return state_sql(record + std::to_string(id)) == Rows{{"Failed"}}; }));
  const Rows error =
      state_sql("SELECT error FROM flinkbr.backup_records WHERE id = " + std::to_string(id));
  ASSERT_EQ(error.size(), 1u);
  EXPECT_EQ(error[0][0], "the active manager stopped (fail-over to " + address_of(second.port) +
                             ", epoch " +
                             std::to_string(health(second.port)["epoch"].get<int64_t>()) +
                             ") while this backup was running");
  EXPECT_TRUE(wait_until(30, [&] {
    return files_under(first.state_dir() + "/LocalBackup").empty();
  })) << testing::PrintToString(files_under(first.state_dir() + "/LocalBackup"));
}

TEST_F(GroupEndToEnd, KillNineOfTheActiveWhileARestoreAppliesPutsTheClusterBackAndARetrySucceeds) {
  // The active's restore waits after applying source "conf" (applied first), before "ha".
  Daemon first(group_options("pause-after-apply:conf"));
  ASSERT_GE(wait_for_role(first.port(), "active", 30), 0) << health(first.port()).dump();
  Member second(first.root() + "/flinkbr.yaml", first.root() + "/second.log");
  ASSERT_GE(wait_for_role(second.port, "standby", 30), 0) << read_file(second.log);

  first.seed_cluster();
  const Tree backed_up = cluster_tree(first);
  const std::string path = first.backup();
  damage(first);
  const Tree damaged = cluster_tree(first);
  first.set_service_state("stopped");
  ASSERT_EQ(first
                .cli({"restore", "create", "r1", "--cluster", "prod", "--data-source", "Flink",
                      "--path-type", "LocalDir", "--source-path", path})
                .exit_code,
            0);
  ASSERT_EQ(first.cli({"restore", "start", "r1"}).exit_code, 0);
  ASSERT_TRUE(wait_until(60, [&] {
    const json task = restore_show(first, first.port(), "r1");
    for (const auto& line : task["log"])
      if (line["text"].get<std::string>().find("fault injection: pausing") != std::string::npos)
        return true;
    return false;
  })) << restore_show(first, first.port(), "r1").dump();
  // Half-restored: "conf" is the backup's again, "ha" still the damaged one.
  ASSERT_NE(describe_difference(damaged, cluster_tree(first)), "");

  first.kill9();
  ASSERT_GE(wait_for_role(second.port, "active", 30), 0) << read_file(second.log);
  json task;
  ASSERT_TRUE(wait_until(60, [&] {
    task = restore_show(first, second.port, "r1");
    return task.value("state", "") != "Running";
  })) << task.dump();
  const int64_t epoch = health(second.port)["epoch"];
  EXPECT_EQ(task["state"], "Failed");
  EXPECT_EQ(task["error"], "the active manager stopped (fail-over to " + address_of(second.port) +
                               ", epoch " + std::to_string(epoch) +
                               ") while this restoration was running; the safety copy was put "
                               "back, the cluster is as it was before");
  // Exactly the tree from before the restore, byte for byte (content, mode, mtime).
  EXPECT_EQ(describe_difference(damaged, cluster_tree(first)), "");
  // No staging left, beside the live trees or in the state directory; the safety copy is the
  // one file the attempt names, with no temporary sibling.
  EXPECT_EQ(names_in(first.root() + "/cluster"),
            (std::vector<std::string>{"conf", "ha", "savepoints"}));
  EXPECT_EQ(names_in(first.state_dir() + "/staging"), std::vector<std::string>{});
  ASSERT_EQ(task["attempt_history"].size(), 1u) << task.dump();
  const std::string safety = task["attempt_history"][0]["safety_copy"];
  EXPECT_EQ(names_in(first.state_dir() + "/safety"),
            std::vector<std::string>{fs::path(safety).filename().string()});

  // Retryable, and a Retry at the new active gives exactly the backup's tree.
  auto retry = cli_at(first, second.port, {"restore", "retry", "r1", "--wait"});
  ASSERT_EQ(retry.exit_code, 0) << retry.err << retry.out;
  EXPECT_EQ(restore_show(first, second.port, "r1")["state"], "Succeeded");
  EXPECT_EQ(describe_difference(backed_up, cluster_tree(first)), "");
  EXPECT_EQ(names_in(first.state_dir() + "/staging"), std::vector<std::string>{});
  EXPECT_EQ(names_in(first.root() + "/cluster"),
            (std::vector<std::string>{"conf", "ha", "savepoints"}));
}

TEST_F(GroupEndToEnd, AnActivePausedBySigstopIsReplacedAndOnWakingWritesNothingAndStepsDown) {
  Daemon first(group_options("pause-after-backup:ha"));
  ASSERT_GE(wait_for_role(first.port(), "active", 30), 0) << health(first.port()).dump();
  Member second(first.root() + "/flinkbr.yaml", first.root() + "/second.log");
  ASSERT_GE(wait_for_role(second.port, "standby", 30), 0) << read_file(second.log);
  const int64_t epoch = health(first.port())["epoch"];

  first.seed_cluster();
  ASSERT_EQ(first
                .cli({"backup", "create", "nightly", "--cluster", "prod", "--data-source", "Flink",
                      "--path-type", "LocalDir"})
                .exit_code,
            0);
  const int64_t id =
      start_paused_backup(first, first.port(), "nightly", first.root() + "/daemon.log");
  ASSERT_GT(id, 0);

  // Paused, it keeps its PostgreSQL sessions and its advisory lock: the standby must judge the
  // lease stale and end the stale holder's session.
  ASSERT_EQ(::kill(first.pid(), SIGSTOP), 0);
  struct Continue {  // never leave a stopped process behind a failed assertion
    pid_t pid;
    ~Continue() { ::kill(pid, SIGCONT); }
  } resume{first.pid()};
  ASSERT_GE(wait_for_role(second.port, "active", 60), 0) << read_file(second.log);
  const std::string record =
      "SELECT * FROM flinkbr.backup_records WHERE id = " + std::to_string(id);
  ASSERT_TRUE(wait_until(30, [&] {
    Rows r = state_sql(record);
    return !r.empty() && r[0][3] == "Failed";
  })) << testing::PrintToString(state_sql(record));
  const Rows failed_by_new_active = state_sql(record);
  const int64_t new_epoch = health(second.port)["epoch"];

  ASSERT_EQ(::kill(first.pid(), SIGCONT), 0);
  const int status = first.wait_exit(60);
  ASSERT_NE(status, -1) << "the woken member is still running:\n"
                        << read_file(first.root() + "/daemon.log");
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 75);
  EXPECT_NE(read_file(first.root() + "/daemon.log")
                .find("stepped down from active (epoch " + std::to_string(epoch) + ")"),
            std::string::npos)
      << read_file(first.root() + "/daemon.log");

  // The woken one wrote nothing: the record is exactly as the new active left it.
  EXPECT_EQ(state_sql(record), failed_by_new_active);
  EXPECT_EQ(state_sql("SELECT error FROM flinkbr.backup_records WHERE id = " + std::to_string(id)),
            (Rows{{"the active manager stopped (fail-over to " + address_of(second.port) +
                   ", epoch " + std::to_string(new_epoch) + ") while this backup was running"}}));
  const json h = health(second.port);
  EXPECT_EQ(h["role"], "active");
  EXPECT_GT(h["epoch"].get<int64_t>(), epoch);
  EXPECT_EQ(h["active_address"], address_of(second.port));
  EXPECT_TRUE(wait_until(30, [&] {
    return files_under(first.state_dir() + "/LocalBackup").empty();
  })) << testing::PrintToString(files_under(first.state_dir() + "/LocalBackup"));
}

TEST_F(GroupEndToEnd, PostgresRestartedUnderTheGroupLeavesOneActiveWithTasksAndUsersIntact) {
  Daemon first(group_options());
  ASSERT_GE(wait_for_role(first.port(), "active", 30), 0) << health(first.port()).dump();
  Member second(first.root() + "/flinkbr.yaml", first.root() + "/second.log");
  ASSERT_GE(wait_for_role(second.port, "standby", 30), 0) << read_file(second.log);
  const int64_t epoch = health(first.port())["epoch"];

  first.seed_cluster();
  const std::string path = first.backup();
  ASSERT_EQ(
      first.cli({"user", "create", "ops", "--role", "operator"}, "Ops-password-2026!\n").exit_code,
      0);
  ASSERT_EQ(first
                .cli({"restore", "create", "r1", "--cluster", "prod", "--data-source", "Flink",
                      "--path-type", "LocalDir", "--source-path", path})
                .exit_code,
            0);
  const std::string state =
      "SELECT (SELECT json_agg(u ORDER BY id) FROM flinkbr.users u), "
      "(SELECT json_agg(t ORDER BY id) FROM flinkbr.backup_tasks t), "
      "(SELECT json_agg(r ORDER BY id) FROM flinkbr.backup_records r), "
      "(SELECT json_agg(t ORDER BY id) FROM flinkbr.restore_tasks t)";
  const Rows before = state_sql(state);

  ASSERT_EQ(server_->restart(), "");

  // Every session was cut: the active steps down (exit 75) and, as systemd would, is started
  // again; a standby reconnects. Afterwards exactly one member is active, the other its standby.
  std::vector<int> exits;
  json a, b;
  const bool settled = wait_until(90, [&] {
    if (int st = first.wait_exit(0); st != -1) {
      exits.push_back(st);
      first.start();
    }
    if (int st = 0; waitpid(second.pid, &st, WNOHANG) == second.pid) {
      exits.push_back(st);
      second.pid = -1;
      second.start();
    }
    a = health(first.port());
    b = health(second.port);
    if (!a.is_object() || !b.is_object()) return false;
    const std::string ra = a.value("role", ""), rb = b.value("role", "");
    if (!((ra == "active" && rb == "standby") || (ra == "standby" && rb == "active"))) return false;
    const std::string active = ra == "active" ? address_of(first.port()) : address_of(second.port);
    // A new election took place (right after the restart the members may not have noticed).
    return a["active_address"] == active && b["active_address"] == active &&
           a["epoch"] == b["epoch"] && a["epoch"].get<int64_t>() > epoch;
  });
  ASSERT_TRUE(settled) << a.dump() << "\n" << b.dump() << "\n" << read_file(second.log);
  EXPECT_GT(a["epoch"].get<int64_t>(), epoch);
  for (int st : exits) EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 75) << st;
  std::printf("after the restart: %s active at epoch %lld; %zu member(s) stepped down\n",
              a["role"] == "active" ? "the first" : "the second",
              static_cast<long long>(a["epoch"].get<int64_t>()), exits.size());

  EXPECT_EQ(state_sql(state), before);
  const int active_port = a["role"] == "active" ? first.port() : second.port;
  // A store session that the restart cut fails its next statement `unavailable` (exit 7,
  // retryable) and the statement after it connects again (docs/design.md, "The state
  // database"): a user retries once.
  auto at_active = [&](const std::vector<std::string>& args) {
    auto r = cli_at(first, active_port, args);
    if (r.exit_code == 7 && r.err.find("state database (PostgreSQL)") != std::string::npos)
      r = cli_at(first, active_port, args);
    return r;
  };
  auto users = at_active({"user", "list", "--json"});
  ASSERT_EQ(users.exit_code, 0) << users.err;
  EXPECT_NE(users.out.find("\"ops\""), std::string::npos) << users.out;
  auto run = at_active({"backup", "run", "nightly", "--wait"});
  EXPECT_EQ(run.exit_code, 0) << run.err << run.out;
  EXPECT_EQ(state_sql("SELECT status FROM flinkbr.backup_records ORDER BY id"),
            (Rows{{"Succeeded"}, {"Succeeded"}}));
}

TEST_F(GroupEndToEnd, AMemberCutOffFromPostgresNeverBecomesActiveAndSaysWhy) {
  Daemon first(group_options());
  ASSERT_GE(wait_for_role(first.port(), "active", 30), 0) << health(first.port()).dump();
  // The third member reaches PostgreSQL through a link the test cuts; the others directly.
  TcpProxy link(server_->port());
  std::string config = read_file(first.root() + "/flinkbr.yaml");
  const std::string direct = "127.0.0.1:" + std::to_string(server_->port()) + "/";
  ASSERT_NE(config.find(direct), std::string::npos) << config;
  config.replace(config.find(direct), direct.size(),
                 "127.0.0.1:" + std::to_string(link.port()) + "/");
  write_file(first.root() + "/third.yaml", config);
  Member third(first.root() + "/third.yaml", first.root() + "/third.log");
  ASSERT_GE(wait_for_role(third.port, "standby", 30), 0) << read_file(third.log);

  link.cut();
  json h;
  ASSERT_TRUE(wait_until(30, [&] {
    h = health(third.port);
    return h.is_object() &&
           h.value("standby_reason", "").find("cannot reach PostgreSQL") != std::string::npos;
  })) << h.dump();

  // The active dies: the cut-off member stays a standby and its health keeps answering why,
  // through well over a lease (3 s) and a look (1 s).
  first.kill9();
  const auto start = std::chrono::steady_clock::now();
  while (seconds_since(start) < 10) {
    // Answering, on a loaded machine within seconds rather than the client's 2 s.
    ASSERT_TRUE(wait_until(10, [&] { return (h = health(third.port)).is_object(); }))
        << "the cut-off member's health did not answer";
    ASSERT_EQ(h["role"], "standby") << h.dump();
    EXPECT_NE(h.value("standby_reason", "").find("cannot reach PostgreSQL"), std::string::npos)
        << h.dump();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_EQ(state_sql("SELECT holder LIKE '%:" + std::to_string(third.pid) +
                      "' FROM flinkbr.manager_lease"),
            (Rows{{"f"}}));

  // What kept it a standby was the database alone: once the link is back it takes over.
  link.restore();
  EXPECT_GE(wait_for_role(third.port, "active", 60), 0)
      << health(third.port).dump() << read_file(third.log);
}

TEST_F(GroupEndToEnd, AMemberThatCannotReachPostgresAtStartRefusesToStartNamingTheDatabase) {
  Daemon first(group_options());
  ASSERT_GE(wait_for_role(first.port(), "active", 30), 0) << health(first.port()).dump();
  // The database of the group at a port where nothing listens: the member cannot read the
  // state it would serve, so it does not start (systemd retries it), and the active goes on.
  std::string config = read_file(first.root() + "/flinkbr.yaml");
  const std::string direct = "127.0.0.1:" + std::to_string(server_->port()) + "/";
  ASSERT_NE(config.find(direct), std::string::npos) << config;
  const int dead = free_port();
  config.replace(config.find(direct), direct.size(), "127.0.0.1:" + std::to_string(dead) + "/");
  write_file(first.root() + "/dead.yaml", config);
  Member dead_member(first.root() + "/dead.yaml", first.root() + "/dead.log");
  int status = 0;
  ASSERT_TRUE(wait_until(60, [&] {
    return waitpid(dead_member.pid, &status, WNOHANG) == dead_member.pid;
  })) << read_file(dead_member.log);
  dead_member.pid = -1;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(read_file(dead_member.log)
                .find("flinkbr: state database (PostgreSQL): connecting: connection to server at "
                      "\"127.0.0.1\", port " +
                      std::to_string(dead) + " failed: Connection refused"),
            std::string::npos)
      << read_file(dead_member.log);
  EXPECT_EQ(health(first.port())["role"], "active");
}

TEST_F(GroupEndToEnd, PeriodicBackupsAcrossAKillNineNeitherRunAPeriodTwiceNorMissTwo) {
  // Only the first member pauses its runs: the first period is in flight when it is killed.
  Daemon first(group_options("pause-after-backup:ha"));
  ASSERT_GE(wait_for_role(first.port(), "active", 30), 0) << health(first.port()).dump();
  Member second(first.root() + "/flinkbr.yaml", first.root() + "/second.log");
  ASSERT_GE(wait_for_role(second.port, "standby", 30), 0) << read_file(second.log);
  first.seed_cluster();

  // Periods of 5 s from t0: period k is [t0 + 5k, t0 + 5(k+1)). A run belongs to the period its
  // start falls in (the scheduler starts a due run within half a second).
  constexpr int64_t kPeriod = 5;
  const int64_t t0 = now_seconds() + 3;
  ASSERT_EQ(
      first
          .cli({"backup", "create", "every5s", "--cluster", "prod", "--data-source", "Flink",
                "--path-type", "LocalDir", "--period", "5s", "--start-time", format_iso_time(t0)})
          .exit_code,
      0);
  ASSERT_TRUE(wait_until(60, [&] {
    return read_file(first.root() + "/daemon.log").find("fault injection: pausing") !=
           std::string::npos;
  })) << read_file(first.root() + "/daemon.log");
  first.kill9();
  ASSERT_GE(wait_for_role(second.port, "active", 30), 0) << read_file(second.log);

  // Periods 1 and 2 run at the new active; then the task is suspended and the history read.
  const std::string records =
      "SELECT started_at, status, error FROM flinkbr.backup_records ORDER BY id";
  Rows rows;
  ASSERT_TRUE(wait_until(60, [&] {
    rows = state_sql(records);
    return rows.size() >= 3 &&
           std::none_of(rows.begin(), rows.end(), [](const auto& r) { return r[1] == "Running"; });
  })) << testing::PrintToString(rows);
  auto suspend = cli_at(first, second.port, {"backup", "suspend", "every5s"});
  ASSERT_EQ(suspend.exit_code, 0) << suspend.err;
  ASSERT_TRUE(wait_until(30, [&] {
    rows = state_sql(records);
    return std::none_of(rows.begin(), rows.end(), [](const auto& r) { return r[1] == "Running"; });
  }));

  std::vector<int64_t> periods;
  for (const auto& r : rows) periods.push_back((std::stoll(r[0]) - t0) / kPeriod);
  const std::string history = testing::PrintToString(rows);
  // Period 0 was the dead active's: failed by the new one, never run again.
  ASSERT_GE(rows.size(), 3u);
  EXPECT_EQ(periods[0], 0) << history;
  EXPECT_EQ(rows[0][1], "Failed") << history;
  EXPECT_EQ(rows[0][2], "the active manager stopped (fail-over to " + address_of(second.port) +
                            ", epoch " +
                            std::to_string(health(second.port)["epoch"].get<int64_t>()) +
                            ") while this backup was running");
  // No period ran twice, and after the missed period 0 every period ran and succeeded: none
  // was missed twice.
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(periods[i], static_cast<int64_t>(i)) << history;
    EXPECT_EQ(rows[i][1], "Succeeded") << history;
  }
}

// The measurement of issue 15's closing note (bench/group_failover.sh runs it): ten kill -9 of
// the active, each with a backup in flight (paused by the fault injection at whichever member is
// active), with the default lease (10 s, renewed every 2 s). For each: the seconds from the kill
// to the other member's health saying active (polled every 20 ms), and what the run in flight
// ended as. The killed member is started again as a standby before the next round.
TEST_F(GroupEndToEnd, BenchTenKillNinesOfTheActiveWithABackupInFlight) {
  if (std::getenv("FLINKBR_BENCH") == nullptr)
    GTEST_SKIP() << "a measurement, not a test (a minute of kill -9s): bench/group_failover.sh "
                    "runs it with FLINKBR_BENCH=1";
  Daemon::Options o;
  o.server_settings = {"database: " + uri()};
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-after-backup:ha";
  Daemon first(o);
  ASSERT_GE(wait_for_role(first.port(), "active", 30), 0) << health(first.port()).dump();
  Member second(first.root() + "/flinkbr.yaml", first.root() + "/second.log", o.env);
  ASSERT_GE(wait_for_role(second.port, "standby", 30), 0) << read_file(second.log);
  first.seed_cluster();
  ASSERT_EQ(first
                .cli({"backup", "create", "nightly", "--cluster", "prod", "--data-source", "Flink",
                      "--path-type", "LocalDir"})
                .exit_code,
            0);

  std::vector<double> takeovers;
  for (int round = 1; round <= 10; ++round) {
    const bool first_active = health(first.port()).value("role", "") == "active";
    const int active = first_active ? first.port() : second.port;
    const int other = first_active ? second.port : first.port();
    const std::string log = first_active ? first.root() + "/daemon.log" : second.log;
    const int64_t id = start_paused_backup(first, active, "nightly", log);
    ASSERT_GT(id, 0);

    if (first_active)
      first.kill9();
    else
      second.kill9();
    const double took = wait_for_role(other, "active", 60, std::chrono::milliseconds(20));
    ASSERT_GE(took, 0) << health(other).dump();
    takeovers.push_back(took);

    const std::string record =
        "SELECT status, error FROM flinkbr.backup_records WHERE id = " + std::to_string(id);
    Rows r;
    ASSERT_TRUE(wait_until(60, [&] {
      r = state_sql(record);
      return !r.empty() && r[0][0] != "Running";
    }));
    std::printf("round %2d: kill -9 of %s, take-over %.2f s; the run in flight: %s: %s\n", round,
                address_of(active).c_str(), took, r[0][0].c_str(), r[0][1].c_str());
    std::fflush(stdout);

    if (first_active)
      first.start();
    else
      second.start();
    ASSERT_GE(wait_for_role(active, "standby", 60), 0) << health(active).dump();
  }
  std::vector<double> sorted = takeovers;
  std::sort(sorted.begin(), sorted.end());
  const double median = (sorted[4] + sorted[5]) / 2;
  std::printf("take-over after kill -9 (10 kills): median %.2f s, worst %.2f s, best %.2f s\n",
              median, sorted.back(), sorted.front());
}

}  // namespace
}  // namespace flinkbr::e2e
