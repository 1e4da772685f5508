// End-to-end: the command relay and the event feed of a manager group (issue 15, point 2;
// docs/design.md, "The command relay"). Two `flinkbr serve` share one PostgreSQL state: a call
// that runs work, sent to the standby, is carried out by the active through the database, and
// the standby answers exactly what the active answered; a viewer is refused on the standby
// without any command; the standby's event stream shows the active's runs; a kill -9 of the
// active with a command waiting or being carried out gives the client a clear answer, never a
// hang and never a second run.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "group_support.h"
#include "harness.h"
#include "support/ports.h"
#include "support/postgres_server.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testsupport::Rows;

// One REST call to the daemon at `port` with a Bearer token.
struct Answer {
  int status = 0;
  json body;
  std::string retry_after;
};
Answer call(int port, const std::string& method, const std::string& path, const std::string& token,
            const json& body = nullptr) {
  httplib::Client c("127.0.0.1", port);
  // Longer than any bound of the relay: a hang shows as a failed assertion, not a stuck test.
  c.set_read_timeout(std::chrono::seconds(90));
  httplib::Headers headers{{"Authorization", "Bearer " + token}};
  const std::string payload = body.is_null() ? std::string() : body.dump();
  auto r = method == "GET" ? c.Get(path.c_str(), headers)
                           : c.Post(path.c_str(), headers, payload, "application/json");
  Answer a;
  if (!r) return a;
  a.status = r->status;
  a.body = json::parse(r->body, nullptr, false);
  a.retry_after = r->get_header_value("Retry-After");
  return a;
}

class GroupRelayEndToEnd : public GroupDatabaseTest {
 protected:
  // A fresh database, an active member (`first`) and a standby (`second`) on it.
  void SetUp() override {
    create_database("flinkbr_relay_");
    if (HasFatalFailure()) return;
    Daemon::Options o = short_lease_options();
    o.env = env_;
    first_ = std::make_unique<Daemon>(o);
    ASSERT_GE(wait_for_role(first_->port(), "active", 15), 0) << health(first_->port()).dump();
    second_ = std::make_unique<Member>(first_->root() + "/flinkbr.yaml", second_log());
    ASSERT_GE(wait_for_role(second_->port, "standby", 15), 0)
        << health(second_->port).dump() << read_file(second_log());
    first_->seed_cluster();
    ASSERT_EQ(first_
                  ->cli({"backup", "create", "nightly", "--cluster", "prod", "--data-source",
                         "Flink", "--path-type", "LocalDir"})
                  .exit_code,
              0);
    admin_ = first_->token("admin");
  }
  void TearDown() override {
    second_.reset();
    first_.reset();
  }

  std::string second_log() const { return first_->root() + "/second.log"; }
  int64_t count(const std::string& query) const { return std::stoll(state_sql(query).at(0).at(0)); }
  // A pending command written by hand, as psql would (`operation` as an SQL literal), and the
  // NOTIFY that wakes the active.
  void insert_command(const std::string& operation, const std::string& target,
                      const std::string& args, const std::string& user = "admin") const {
    state_sql(
        "INSERT INTO flinkbr.relay_commands (operation, target, args, user_name, origin, "
        "created_at, deadline, state, epoch, http_status, body, retry_after, finished_at) VALUES "
        "(" +
        operation + ", '" + target + "', '" + args + "', '" + user +
        "', 'psql', floor(extract(epoch from now()))::bigint, "
        "floor(extract(epoch from now()))::bigint + 60, 'pending', 0, 0, '', 0, 0); "
        "NOTIFY flinkbr_commands");
  }
  // Waits until `n` commands are done; their operation, http_status and body, oldest first.
  Rows wait_for_done(int n) const {
    for (int i = 0; i < 150; ++i) {
      if (count("SELECT count(*) FROM flinkbr.relay_commands WHERE state = 'done'") == n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return state_sql(
        "SELECT operation, state, http_status, body FROM flinkbr.relay_commands ORDER BY id");
  }
  std::string logs() const {
    return "--- active:\n" + read_file(first_->root() + "/daemon.log") + "--- standby:\n" +
           read_file(second_log());
  }

  std::map<std::string, std::string> env_;  // for the first member, set before SetUp
  std::unique_ptr<Daemon> first_;
  std::unique_ptr<Member> second_;
  std::string admin_;
};

TEST_F(GroupRelayEndToEnd, RunNowOnTheStandbyRunsOnTheActiveAndAnswersWhatTheActiveAnswered) {
  const int standby = second_->port;
  const auto sent = std::chrono::steady_clock::now();
  Answer run = call(standby, "POST", "/api/v1/backup-tasks/nightly/run", admin_);
  ASSERT_EQ(run.status, 202) << run.body.dump() << logs();
  std::printf(
      "Run now through the standby answered in %.0f ms\n",
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count());
  EXPECT_EQ(run.body["status"], "Running");
  EXPECT_EQ(run.body["backup_object"], "Flink");
  const int64_t id = run.body["id"];

  // The active ran it: one record, written by the active, and the file is there.
  json record;
  for (int i = 0; i < 300; ++i) {
    record =
        call(first_->port(), "GET", "/api/v1/backup-records/" + std::to_string(id), admin_).body;
    if (record.value("status", "") != "Running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(record["status"], "Succeeded") << record.dump() << logs();
  EXPECT_TRUE(fs::exists(record["backup_path"].get<std::string>()));
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.backup_records"), 1);

  // The command the standby wrote: the operation, the user and the answer, no token.
  const Rows cmd = state_sql(
      "SELECT operation, target, args, user_name, origin, state, http_status, body "
      "FROM flinkbr.relay_commands");
  ASSERT_EQ(cmd.size(), 1u);
  EXPECT_EQ(cmd[0][0], "backup.run");
  EXPECT_EQ(cmd[0][1], "nightly");
  EXPECT_EQ(cmd[0][2], "");
  EXPECT_EQ(cmd[0][3], "admin");
  EXPECT_EQ(cmd[0][4], "http://127.0.0.1:" + std::to_string(standby));
  EXPECT_EQ(cmd[0][5], "done");
  EXPECT_EQ(cmd[0][6], "202");
  // Exactly what the active answered.
  EXPECT_EQ(json::parse(cmd[0][7]), run.body);
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands WHERE concat_ws(' ', operation, "
                  "target, args, user_name, origin, body) LIKE '%" +
                  admin_ + "%'"),
            0);
  // Audited once, by the active that carried it out, naming where it came from.
  const Rows audit = state_sql(
      "SELECT user_name, target, outcome, detail FROM flinkbr.audit_log WHERE action = "
      "'backup.run'");
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0][0], "admin");
  EXPECT_EQ(audit[0][1], "nightly");
  EXPECT_EQ(audit[0][2], "ok");
  EXPECT_EQ(audit[0][3],
            "record=" + std::to_string(id) + " via http://127.0.0.1:" + std::to_string(standby));

  // A refusal of the active comes back as it is: status, code and sentence.
  Answer missing = call(standby, "POST", "/api/v1/backup-tasks/nope/run", admin_);
  Answer direct = call(first_->port(), "POST", "/api/v1/backup-tasks/nope/run", admin_);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, direct.body);
  EXPECT_EQ(missing.body["error"]["message"], "backup task 'nope' does not exist");
  // Validation happens on the standby first, as on the active: a body on Run now is refused
  // there, without a command.
  Answer bad = call(standby, "POST", "/api/v1/backup-tasks/nightly/run", admin_, {{"x", 1}});
  EXPECT_EQ(bad.status, 400) << bad.body.dump();
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands"), 2);
}

TEST_F(GroupRelayEndToEnd, AViewersRunNowOnTheStandbyIsRefusedThereWithoutACommand) {
  Answer created = call(first_->port(), "POST", "/api/v1/users", admin_,
                        {{"name", "val"}, {"role", "viewer"}, {"password", "viewer-pass-1"}});
  ASSERT_EQ(created.status, 201) << created.body.dump();
  httplib::Client c("127.0.0.1", second_->port);
  auto login =
      c.Post("/api/v1/auth/login", json{{"user", "val"}, {"password", "viewer-pass-1"}}.dump(),
             "application/json");
  ASSERT_TRUE(login);
  ASSERT_EQ(login->status, 200) << login->body;
  const std::string viewer = json::parse(login->body)["token"];

  Answer refused = call(second_->port, "POST", "/api/v1/backup-tasks/nightly/run", viewer);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.body["error"]["code"], "permission_denied");
  EXPECT_EQ(refused.body["error"]["message"], "the operator role is required to run a backup");
  // Nothing reached the active, nothing ran.
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.backup_records"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.audit_log WHERE action = 'backup.run' AND "
                  "user_name = 'val' AND outcome = 'permission_denied'"),
            1);
}

TEST_F(GroupRelayEndToEnd, ARestoreStartedThroughTheStandbyRunsAndItsStreamShowsTheEvents) {
  const std::string path = first_->backup();
  first_->set_service_state("stopped");
  const int standby = second_->port;

  // The standby's event stream, read from before the start.
  std::atomic<bool> stop{false};
  std::string stream;
  std::mutex stream_mu;
  httplib::Client sse("127.0.0.1", standby);
  sse.set_read_timeout(std::chrono::seconds(90));
  std::thread reader([&] {
    sse.Get(("/api/v1/events?token=" + admin_).c_str(), [&](const char* data, size_t n) {
      std::lock_guard g(stream_mu);
      stream.append(data, n);
      return !stop.load();
    });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  Answer created = call(standby, "POST", "/api/v1/restore-tasks", admin_,
                        {{"name", "back"},
                         {"cluster", "prod"},
                         {"data_source", "Flink"},
                         {"path_type", "LocalDir"},
                         {"source_path", path}});
  ASSERT_EQ(created.status, 201) << created.body.dump();
  Answer started = call(standby, "POST", "/api/v1/restore-tasks/back/start", admin_);
  ASSERT_EQ(started.status, 202) << started.body.dump() << logs();
  EXPECT_EQ(started.body["state"], "Running");
  EXPECT_EQ(started.body["attempts"], 1);

  json task;
  for (int i = 0; i < 600; ++i) {
    task = call(standby, "GET", "/api/v1/restore-tasks/back", admin_).body;
    if (task.value("state", "") != "Running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(task["state"], "Succeeded") << task.dump() << logs();
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands WHERE operation = "
                  "'restore.start' AND state = 'done' AND http_status = 202"),
            1);

  // The run's events reached the standby's stream, with the group's increasing ids.
  bool ended = false;
  for (int i = 0; i < 100 && !ended; ++i) {
    {
      std::lock_guard g(stream_mu);
      ended = stream.find("\"state\":\"Succeeded\"") != std::string::npos;
    }
    if (!ended) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  sse.stop();
  reader.join();
  EXPECT_TRUE(ended) << stream << logs();
  EXPECT_NE(stream.find("event: restore\n"), std::string::npos) << stream;
  int64_t last = 0;
  bool increasing = true;
  for (size_t at = stream.find("id: "); at != std::string::npos; at = stream.find("id: ", at + 1)) {
    const int64_t id = std::stoll(stream.substr(at + 4));
    increasing = increasing && id > last;
    last = id;
  }
  EXPECT_TRUE(increasing) << stream;
  // The ids are the group feed's, the same on every member.
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.group_events WHERE id = " + std::to_string(last)),
            1)
      << stream;
}

TEST_F(GroupRelayEndToEnd, AKillNineOfTheActiveWithACommandWaitingRunsItOnceOnTheNewActive) {
  // A run of the first active, so that the group's feed has events before the fail-over.
  first_->backup();
  int64_t before = 0;
  for (int i = 0; i < 100 && before == 0; ++i) {
    if (count("SELECT count(*) FROM flinkbr.group_events WHERE data LIKE "
              "'%\"status\":\"Succeeded\"%'") == 1)
      before = count("SELECT max(id) FROM flinkbr.group_events");
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GT(before, 0) << logs();

  // The active cannot take the command: stopped, then killed.
  ASSERT_EQ(::kill(first_->pid(), SIGSTOP), 0);
  auto pending = std::async(std::launch::async, [&] {
    return call(second_->port, "POST", "/api/v1/backup-tasks/nightly/run", admin_);
  });
  for (int i = 0; i < 100; ++i) {
    if (count("SELECT count(*) FROM flinkbr.relay_commands WHERE state = 'pending'") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands WHERE state = 'pending'"), 1);
  first_->kill9();
  const auto killed = std::chrono::steady_clock::now();

  // The standby takes over and carries the waiting command out itself: the client's answer.
  Answer run = pending.get();
  std::printf("the waiting Run now answered %.2f s after the kill -9 of the active\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
  EXPECT_EQ(run.status, 202) << run.body.dump() << logs();
  EXPECT_EQ(run.body["status"], "Running");
  EXPECT_EQ(health(second_->port)["role"], "active");
  const Rows cmd = state_sql("SELECT state, epoch, http_status FROM flinkbr.relay_commands");
  ASSERT_EQ(cmd.size(), 1u);
  EXPECT_EQ(cmd[0][0], "done");
  EXPECT_EQ(cmd[0][1], std::to_string(health(second_->port)["epoch"].get<int64_t>()));
  // Once: one run (besides the first active's), also after the new active has looked at its
  // commands again.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.backup_records"), 2);

  // A client that followed the dead active's stream resumes on the new active with its
  // Last-Event-ID: the new run's events follow, with higher ids.
  const std::string run_id = "\"id\":" + std::to_string(run.body["id"].get<int64_t>());
  std::string stream;
  std::mutex stream_mu;
  httplib::Client sse("127.0.0.1", second_->port);
  sse.set_read_timeout(std::chrono::seconds(90));
  std::thread reader([&] {
    sse.Get("/api/v1/events",
            {{"Authorization", "Bearer " + admin_}, {"Last-Event-ID", std::to_string(before)}},
            [&](const char* data, size_t n) {
              std::lock_guard g(stream_mu);
              stream.append(data, n);
              return true;
            });
  });
  bool seen = false;
  for (int i = 0; i < 300 && !seen; ++i) {
    {
      std::lock_guard g(stream_mu);
      seen = stream.find(run_id) != std::string::npos;
    }
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sse.stop();
  reader.join();
  EXPECT_TRUE(seen) << stream;
  int64_t first_id = 0;
  if (size_t at = stream.find("id: "); at != std::string::npos)
    first_id = std::stoll(stream.substr(at + 4));
  EXPECT_GT(first_id, before) << stream;
}

TEST_F(GroupRelayEndToEnd,
       AKillNineOfTheActiveCarryingACommandOutAnswersItFailedNamingTheFailOver) {
  // The active's service stop waits for the status command, which now takes 20 s.
  first_->set_status_delay(20);
  auto stopping = std::async(std::launch::async, [&] {
    return call(second_->port, "POST", "/api/v1/clusters/prod/service/stop", admin_);
  });
  for (int i = 0; i < 100; ++i) {
    if (count("SELECT count(*) FROM flinkbr.relay_commands WHERE state = 'claimed'") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands WHERE state = 'claimed'"), 1)
      << logs();
  first_->kill9();
  const auto killed = std::chrono::steady_clock::now();

  Answer answer = stopping.get();
  std::printf("the service stop the dead active had taken answered %.2f s after the kill -9\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count());
  ASSERT_GE(wait_for_role(second_->port, "active", 15), 0);
  const int64_t epoch = health(second_->port)["epoch"];
  EXPECT_EQ(answer.status, 503) << answer.body.dump();
  EXPECT_EQ(answer.body["error"]["code"], "unavailable");
  EXPECT_EQ(answer.body["error"]["message"],
            "the active manager stopped (fail-over to http://127.0.0.1:" +
                std::to_string(second_->port) + ", epoch " + std::to_string(epoch) +
                ") while the previous active manager carried out this call; it was not carried "
                "out again, and may have been carried out in part: check the state of what it "
                "was for before sending it again");
  EXPECT_EQ(answer.retry_after, "");  // not to be sent again blindly
  // Never run again: the new active audited no service stop.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.audit_log WHERE action = 'service.stop'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands WHERE state = 'done' AND "
                  "http_status = 503"),
            1);
}

// A command row is data: whoever holds the state database's credentials (or a careless operator
// with psql) can write one. The active carries out the relayed calls only, never a user's
// password, role or deletion named by a row; and what a row names reaches the log sanitized.
TEST_F(GroupRelayEndToEnd,
       AHandWrittenCommandForAnythingButARelayedCallIsRefusedAndChangesNothing) {
  Answer created = call(first_->port(), "POST", "/api/v1/users", admin_,
                        {{"name", "olga"}, {"role", "operator"}, {"password", "olga-pass-1"}});
  ASSERT_EQ(created.status, 201) << created.body.dump();
  const std::string hash_before =
      state_sql("SELECT password_hash FROM flinkbr.users WHERE name = 'olga'").at(0).at(0);
  insert_command("'user.password'", "olga", R"({"password":"taken-over-1"})");
  insert_command("'user.role'", "olga", R"({"role":"administrator"})");
  insert_command("'user.delete'", "olga", "");
  insert_command("E'backup.run\\n[error] FORGED LOG LINE'", "nightly", "");
  const Rows done = wait_for_done(4);
  ASSERT_EQ(done.size(), 4u);
  for (const auto& row : done) {
    EXPECT_EQ(row[1], "done") << row[0] << logs();
    EXPECT_EQ(row[2], "400") << row[0] << " " << row[3];
    json body = json::parse(row[3], nullptr, false);
    EXPECT_EQ(body["error"]["code"], "invalid_argument") << row[3];
  }
  EXPECT_EQ(json::parse(done[0][3])["error"]["message"],
            "operation: 'user.password' is not a call that a standby hands to the active manager; "
            "nothing was done");
  EXPECT_EQ(json::parse(done[3][3])["error"]["message"],
            "operation: 'backup.run?[error] FORGED LOG LINE' is not a call that a standby hands "
            "to the active manager; nothing was done");
  // Nothing changed: the password, the role, the user; no run.
  const Rows olga = state_sql("SELECT password_hash, role FROM flinkbr.users WHERE name = 'olga'");
  ASSERT_EQ(olga.size(), 1u);
  EXPECT_EQ(olga[0][0], hash_before);
  EXPECT_EQ(olga[0][1], "operator");
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.backup_records"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.audit_log WHERE outcome = 'ok' AND action IN "
                  "('user.password', 'user.role', 'user.delete')"),
            0);
  // The forged name left no line of its own in the active's log.
  const std::string log = read_file(first_->root() + "/daemon.log");
  EXPECT_EQ(log.find("\n[error] FORGED LOG LINE"), std::string::npos) << log;
}

// A careless operator deletes a command while the active carries it out: the standby's client
// gets an answer saying so, never a hang (before: the standby's thread spun on the missing row
// for ever and the client waited until its own timeout).
TEST_F(GroupRelayEndToEnd, ACommandDeletedByHandWhileTheActiveCarriesItOutIsAnsweredNotHung) {
  first_->set_status_delay(20);
  auto stopping = std::async(std::launch::async, [&] {
    return call(second_->port, "POST", "/api/v1/clusters/prod/service/stop", admin_);
  });
  for (int i = 0; i < 100; ++i) {
    if (count("SELECT count(*) FROM flinkbr.relay_commands WHERE state = 'claimed'") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands WHERE state = 'claimed'"), 1)
      << logs();
  state_sql("DELETE FROM flinkbr.relay_commands");
  Answer answer = stopping.get();
  EXPECT_EQ(answer.status, 503) << answer.body.dump() << logs();
  EXPECT_EQ(answer.body["error"]["code"], "unavailable");
  EXPECT_EQ(answer.body["error"]["message"],
            "the command that handed this call (service.stop 'prod') to the active manager "
            "(http://127.0.0.1:" +
                std::to_string(first_->port()) +
                ") was removed from the state database before it was answered; it may have been "
                "carried out: check the state of 'prod' before sending it again");
  EXPECT_EQ(answer.retry_after, "");
  // The active still carries the stop out (its status check sleeps 20 s) and would finish it
  // before stopping: a SIGTERM would wait out the test harness's 10 s and end in a kill -9
  // anyway.
  first_->kill9();
}

// The members' clocks are never compared: a standby whose clock is two minutes behind (set wrong,
// or its NTP down) wrote commands whose deadline, in its own time, had passed in the active's, so
// the active never took them and every call relayed from it failed after 30 s, "nothing was
// done". The relay's times are the database's.
TEST_F(GroupRelayEndToEnd, AStandbyWhoseClockIsOffRelaysAsAnyOther) {
  second_.reset();
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string log = first_->root() + "/skewed.log";
  second_ = std::make_unique<Member>(
      first_->root() + "/flinkbr.yaml", log,
      std::map<std::string, std::string>{
          {"LD_PRELOAD", FLINKBR_SKEWED_CLOCK},
          {"FLINKBR_TEST_CLOCK_OFFSET", "-120"},
          // The preloaded library comes before the sanitized daemon's runtime (--sanitize).
          {"ASAN_OPTIONS", std::string(asan ? asan : "") + ":verify_asan_link_order=0"}});
  ASSERT_GE(wait_for_role(second_->port, "standby", 15), 0)
      << health(second_->port).dump() << read_file(log);
  // The standby's clock really is off: its log's lines are stamped about two minutes ago
  // ("2026-12-06T18:10:18.123Z info ...").
  {
    const std::string text = read_file(log);
    std::tm tm{};
    bool stamped = false;
    for (size_t at = 0; at < text.size() && !stamped; at = text.find('\n', at) + 1) {
      stamped = strptime(text.c_str() + at, "%Y-%m-%dT%H:%M:%S", &tm) != nullptr;
      if (text.find('\n', at) == std::string::npos) break;
    }
    ASSERT_TRUE(stamped) << text;
    const int64_t behind = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count() -
                           timegm(&tm);
    EXPECT_GT(behind, 60) << text;
    EXPECT_LT(behind, 180) << text;
  }

  Answer run = call(second_->port, "POST", "/api/v1/backup-tasks/nightly/run", admin_);
  EXPECT_EQ(run.status, 202) << run.body.dump() << logs() << read_file(log);
  EXPECT_EQ(run.body["status"], "Running");
  // The row's times are the database's, not the standby's (two minutes off).
  const Rows cmd = state_sql(
      "SELECT abs(created_at - floor(extract(epoch FROM now()))::bigint), deadline - created_at, "
      "state FROM flinkbr.relay_commands");
  ASSERT_EQ(cmd.size(), 1u);
  EXPECT_LT(std::stoll(cmd[0][0]), 60) << "created_at is not the database's time";
  EXPECT_EQ(cmd[0][1], "30");
  EXPECT_EQ(cmd[0][2], "done");
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.backup_records"), 1);
}

// Calls waiting on a standby for an active that does not take them (stopped, not yet replaced)
// are capped as slow calls: a user's fifth is refused at once, and the standby keeps answering
// everything else. Before, each waiting call held a thread of the request pool, and 70 of them
// left the standby answering nothing, its health included, until they gave up 30 s later.
TEST_F(GroupRelayEndToEnd, CallsWaitingOnAStandbyAreCappedAndItsApiKeepsAnswering) {
  // A standby that judges the stopped active's lease over only after 60 s, so that the calls
  // stay pending for their whole wait: server.relay_wait, 12 s here rather than the default
  // 30 s (the cap and the health answer below do not depend on how long the calls wait).
  constexpr int kRelayWait = 12;
  std::string config = read_file(first_->root() + "/flinkbr.yaml");
  const size_t at = config.find("lease_timeout: 3s");
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, 17, "lease_timeout: 60s\n  relay_wait: " + std::to_string(kRelayWait) + "s");
  const std::string patient = first_->root() + "/patient.yaml";
  {
    std::FILE* f = std::fopen(patient.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(config.c_str(), f);
    std::fclose(f);
  }
  second_.reset();
  second_ = std::make_unique<Member>(patient, second_log());
  ASSERT_GE(wait_for_role(second_->port, "standby", 15), 0)
      << health(second_->port).dump() << read_file(second_log());
  ASSERT_EQ(::kill(first_->pid(), SIGSTOP), 0);

  constexpr int kCalls = 70;
  const auto sent = std::chrono::steady_clock::now();
  std::vector<std::future<Answer>> calls;
  for (int i = 0; i < kCalls; ++i)
    calls.push_back(std::async(std::launch::async, [&] {
      return call(second_->port, "POST", "/api/v1/backup-tasks/nightly/run", admin_);
    }));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  // The standby answers its health while the calls wait: within 6 s, so by 9 s after they were
  // sent, before the 12 s they wait.
  httplib::Client c("127.0.0.1", second_->port);
  c.set_read_timeout(std::chrono::seconds(kRelayWait - 6));
  auto h = c.Get("/api/v1/health");
  ASSERT_TRUE(h) << "the standby does not answer while relayed calls wait";
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(json::parse(h->body)["role"], "standby");

  int refused = 0, gave_up = 0;
  for (auto& f : calls) {
    Answer a = f.get();
    if (a.status == 429) {
      ++refused;
      EXPECT_EQ(a.body["error"]["message"],
                "too many long-running calls of user 'admin' at once (at most 4); retry when one "
                "has ended");
      EXPECT_EQ(a.retry_after, "5");
    } else {
      ++gave_up;
      EXPECT_EQ(a.status, 503) << a.body.dump();
      EXPECT_EQ(a.retry_after, "5");
    }
  }
  std::printf("the calls that waited were withdrawn and answered %.1f s after they were sent\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count());
  EXPECT_EQ(gave_up, 4);
  EXPECT_EQ(refused, kCalls - 4);
  // Only the calls that waited wrote a command, each withdrawn: nothing ran.
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.relay_commands WHERE state = 'expired'"), 4);
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.backup_records"), 0);
  first_->kill9();
}

// A command in the name of a user who was demoted, or deleted, after it was written (or who
// never existed): the active reads the user again and refuses; nothing runs.
TEST_F(GroupRelayEndToEnd, ACommandOfAUserDemotedOrGoneIsRefusedByTheActive) {
  Answer created = call(first_->port(), "POST", "/api/v1/users", admin_,
                        {{"name", "olga"}, {"role", "viewer"}, {"password", "olga-pass-1"}});
  ASSERT_EQ(created.status, 201) << created.body.dump();
  insert_command("'backup.run'", "nightly", "", "olga");
  insert_command("'backup.run'", "nightly", "", "nobody");
  const Rows done = wait_for_done(2);
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0][2], "403") << done[0][3] << logs();
  EXPECT_EQ(json::parse(done[0][3])["error"]["message"],
            "the operator role is required to run a backup");
  EXPECT_EQ(done[1][2], "401") << done[1][3];
  EXPECT_EQ(json::parse(done[1][3])["error"]["message"],
            "user 'nobody' no longer exists; log in again");
  EXPECT_EQ(count("SELECT count(*) FROM flinkbr.backup_records"), 0);
}

}  // namespace
}  // namespace flinkbr::e2e
