// End-to-end: the operator's daily flows (issue 17) through the real daemon and CLI: a
// restoration made from a backup record, refused at creation when its file is not there, and a
// dry run while the Flink service runs.
#include <gtest/gtest.h>

#include <httplib.h>

#include <ctime>
#include <filesystem>

#include "harness.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// YAML read back by PyYAML as JSON; null when PyYAML is not there.
json run_python_yaml(const std::string& yaml) {
  auto r = run({"python3", "-c",
                "import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"},
               yaml);
  if (r.exit_code != 0) return nullptr;
  return json::parse(r.out);
}

json cli_json(Daemon& d, const std::vector<std::string>& args) {
  auto all = args;
  all.push_back("--json");
  auto r = d.cli(all);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out.empty() ? "null" : r.out);
}

TEST(DailyFlows, RestoreFromARecordFillsEverythingAndRoundTrips) {
  Daemon d;
  d.seed_cluster();
  Tree before = cluster_tree(d);
  std::string first = d.backup();
  write_file(d.conf_dir() + "/flink-conf.yaml", "changed after the first backup\n");
  Tree second_state = cluster_tree(d);
  std::string second = d.backup();
  ASSERT_NE(first, second);
  auto history = cli_json(d, {"backup", "history", "nightly"});
  ASSERT_EQ(history.size(), 2u);
  const int64_t first_id = history[1]["id"].get<int64_t>();

  // --from-record: cluster, data source, path type and path come from the record.
  auto c = d.cli({"restore", "create", "from-first", "--from-record", std::to_string(first_id)});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out, "Created restoration task from-first (Created, LocalDir " + first +
                       "). Start it with: flinkbr restore start from-first\n");
  auto t = cli_json(d, {"restore", "show", "from-first"});
  EXPECT_EQ(t["cluster"], "prod");
  EXPECT_EQ(t["data_source"], "Flink");
  EXPECT_EQ(t["path_type"], "LocalDir");
  EXPECT_EQ(t["source_path"], first);

  // --from-backup: the newest Succeeded record of the task.
  t = cli_json(d, {"restore", "create", "from-newest", "--from-backup", "nightly"});
  EXPECT_EQ(t["source_path"], second);
  EXPECT_EQ(t["cluster"], "prod");

  // The REST API takes the same fields.
  auto api =
      d.api("POST", "/api/v1/restore-tasks", {{"name", "by-api"}, {"from_record", first_id}});
  ASSERT_EQ(api.status, 201) << api.body.dump();
  EXPECT_EQ(api.body["source_path"], first);

  // The restore of the first record brings back the first state exactly.
  write_file(d.ha_dir() + "/default/added-since", "x");
  d.set_service_state("stopped");
  auto s = d.cli({"restore", "start", "from-first", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  s = d.cli({"restore", "start", "from-newest", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(describe_difference(second_state, cluster_tree(d)), "");
}

TEST(DailyFlows, RestoreFromARecordRefusalsNameTheFlagOrTheRecord) {
  Daemon d;
  d.seed_cluster();
  std::string path = d.backup();
  auto history = cli_json(d, {"backup", "history", "nightly"});
  const std::string id = std::to_string(history[0]["id"].get<int64_t>());

  auto c = d.cli({"restore", "create", "r", "--from-record", "424242"});
  EXPECT_EQ(c.exit_code, 4);
  EXPECT_EQ(c.err, "flinkbr: backup record 424242 does not exist\n");

  c = d.cli({"restore", "create", "r", "--from-record", id, "--path-type", "OBS"});
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_EQ(c.err,
            "flinkbr: --path-type comes from the backup record; give --from-record or "
            "--path-type, not both\n");
  // The API refuses the same, naming its field.
  auto api = d.api("POST", "/api/v1/restore-tasks",
                   {{"name", "r"}, {"from_record", std::stoll(id)}, {"source_path", path}});
  EXPECT_EQ(api.status, 400);
  EXPECT_EQ(api.body["error"]["field"], "source_path") << api.body.dump();
  api = d.api("POST", "/api/v1/restore-tasks", {{"name", "r"}, {"from_record", 0}});
  EXPECT_EQ(api.status, 400);
  EXPECT_EQ(api.body["error"]["field"], "from_record") << api.body.dump();

  // A backup task without a Succeeded record.
  ASSERT_EQ(d.cli({"backup", "create", "empty", "--cluster", "prod", "--data-source", "Flink",
                   "--path-type", "LocalDir"})
                .exit_code,
            0);
  c = d.cli({"restore", "create", "r", "--from-backup", "empty"});
  EXPECT_EQ(c.exit_code, 4);
  EXPECT_EQ(c.err, "flinkbr: backup task 'empty' has no Succeeded record to restore\n");

  // The record's file was deleted since: refused at creation, naming the path.
  fs::remove(path);
  c = d.cli({"restore", "create", "r", "--from-record", id});
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_EQ(c.err, "flinkbr: --source-path: the backup file was not found at LocalDir path " +
                       path + "\n");
  // A file that is not a backup file: its header is not readable.
  std::string junk = d.root() + "/1.18.1_Flink_20260101000000.tar.gz";
  write_file(junk, "not gzip at all");
  c = d.cli({"restore", "create", "r", "--cluster", "prod", "--data-source", "Flink", "--path-type",
             "LocalDir", "--source-path", junk});
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_TRUE(
      c.err.starts_with("flinkbr: --source-path: cannot read the header of the backup "
                        "file at LocalDir path " +
                        junk + ": "))
      << c.err;
  // Nothing was created by any of them.
  EXPECT_EQ(cli_json(d, {"restore", "list"}).size(), 0u);
}

TEST(DailyFlows, DryRunWhileTheServiceRunsSaysWhatAStartWouldRefuse) {
  Daemon d;
  d.seed_cluster();
  ASSERT_EQ(d.service_state(), "running");
  std::string path = d.backup();
  write_file(d.conf_dir() + "/flink-conf.yaml", "changed since\n");
  write_file(d.ha_dir() + "/default/added-since", "x");
  Tree changed = cluster_tree(d);
  ASSERT_EQ(d.cli({"restore", "create", "r1", "--from-backup", "nightly"}).exit_code, 0);

  auto p = cli_json(d, {"restore", "start", "r1", "--dry-run"});
  EXPECT_EQ(p["service"]["state"], "running") << p.dump();
  ASSERT_EQ(p["would_refuse"].size(), 1u) << p.dump();
  EXPECT_TRUE(p["would_refuse"][0].get<std::string>().starts_with(
      "the Flink service of cluster 'prod' is running"))
      << p.dump();
  EXPECT_EQ(p["startable"], false);
  json conf, ha;
  for (const auto& s : p["sources"]) (s["name"] == "conf" ? conf : ha) = s;
  ASSERT_EQ(conf["changed"].size(), 1u) << p.dump();
  EXPECT_NE(conf["changed"][0].get<std::string>().find("flink-conf.yaml"), std::string::npos);
  ASSERT_EQ(ha["removed"].size(), 1u) << p.dump();
  EXPECT_NE(ha["removed"][0].get<std::string>().find("added-since"), std::string::npos);

  auto text = d.cli({"restore", "start", "r1", "--dry-run"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Flink service: running"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("A start now would be refused: the Flink service of cluster 'prod' is "
                          "running"),
            std::string::npos)
      << text.out;

  // Nothing changed: neither the cluster nor the task.
  EXPECT_EQ(describe_difference(changed, cluster_tree(d)), "");
  auto t = cli_json(d, {"restore", "show", "r1"});
  EXPECT_EQ(t["state"], "Created");
  EXPECT_EQ(t["attempts"], 0);

  // Once stopped, a start would pass.
  d.set_service_state("stopped");
  p = cli_json(d, {"restore", "start", "r1", "--dry-run"});
  EXPECT_EQ(p["service"]["state"], "stopped");
  EXPECT_EQ(p["would_refuse"], json::array());
  EXPECT_EQ(p["startable"], true);
  // A version mismatch is still refused outright: there is nothing to compare.
  d.set_version("1.19.0");
  auto refused = d.cli({"restore", "start", "r1", "--dry-run"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("system version 1.18.1"), std::string::npos) << refused.err;
}

TEST(DailyFlows, CliVersionVerbsFormatsAndWaitThroughTheDaemon) {
  Daemon d;
  d.seed_cluster();
  auto v = cli_json(d, {"version"});
  EXPECT_EQ(v["client"]["version"], FLINKBR_VERSION);
  EXPECT_EQ(v["server"]["version"], FLINKBR_VERSION);
  EXPECT_EQ(v["server"]["url"], d.url());

  // --wait follows the event stream: the record is final when it returns.
  ASSERT_EQ(d.cli({"backup", "create", "nightly", "--cluster", "prod", "--data-source", "Flink",
                   "--path-type", "LocalDir"})
                .exit_code,
            0);
  auto run = d.cli({"backup", "run", "nightly", "--wait", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(json::parse(run.out)["status"], "Succeeded");

  // velero's verbs, and -o yaml reads back as the same JSON.
  auto get = d.cli({"backup", "get", "nightly"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_NE(get.out.find("nightly"), std::string::npos);
  auto as_json = cli_json(d, {"backup", "get", "nightly"});
  auto yaml = d.cli({"backup", "get", "nightly", "-o", "yaml"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  auto parsed = run_python_yaml(yaml.out);
  ASSERT_FALSE(parsed.is_null())
      << "python3 with PyYAML (Debian package python3-yaml, scripts/install-deps.sh) could not "
         "read the YAML back:\n"
      << yaml.out;
  EXPECT_EQ(parsed, as_json);
  auto missing = d.cli({"backup", "get", "nope"});
  EXPECT_EQ(missing.exit_code, 4);
  EXPECT_EQ(missing.err, "flinkbr: no backup task 'nope'\n");
  auto typo = d.cli({"backup", "lst"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("did you mean 'list'?"), std::string::npos) << typo.err;
}

// GET `path` of the daemon with `token` ("" for none): status and body as text.
std::pair<int, std::string> get_text(Daemon& d, const std::string& path, const std::string& token) {
  httplib::Client http(d.url());
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  auto r = http.Get(path, h);
  if (!r) return {0, ""};
  return {r->status, r->body};
}

TEST(DailyFlows, MetricsInPrometheusFormatForAnyRole) {
  Daemon d;
  d.seed_cluster();
  std::string path = d.backup();
  auto history = cli_json(d, {"backup", "history", "nightly"});
  // A restoration refused while the service runs: one Failed attempt.
  ASSERT_EQ(d.cli({"restore", "create", "r1", "--from-backup", "nightly"}).exit_code, 0);
  EXPECT_NE(d.cli({"restore", "start", "r1", "--wait"}).exit_code, 0);
  ASSERT_EQ(d.cli({"user", "create", "scraper", "--role", "viewer"}, "scrape-pw-1\n").exit_code, 0);
  d.login("scraper", "scrape-pw-1");

  EXPECT_EQ(get_text(d, "/metrics", "").first, 401);
  auto [status, text] = get_text(d, "/metrics", d.token("scraper"));
  ASSERT_EQ(status, 200) << text;
  EXPECT_NE(text.find("# TYPE flinkbr_backup_runs_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nflinkbr_backup_runs_total{status=\"Succeeded\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\nflinkbr_backup_runs_total{status=\"Failed\"} 0\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\nflinkbr_restore_runs_total{status=\"Failed\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\nflinkbr_backup_last_size_bytes{task=\"nightly\"} " +
                      std::to_string(fs::file_size(path)) + "\n"),
            std::string::npos)
      << text;
  const std::string ts = "\nflinkbr_backup_last_success_timestamp_seconds{task=\"nightly\"} ";
  const size_t at = text.find(ts);
  ASSERT_NE(at, std::string::npos) << text;
  const long long when = std::stoll(text.substr(at + ts.size()));
  EXPECT_GT(when, 1700000000);
  EXPECT_LE(when, static_cast<long long>(std::time(nullptr)));
  EXPECT_EQ(get_text(d, "/api/v1/metrics", d.token("scraper")).second, text);

  // Prometheus's own checker on the real scrape (Debian package prometheus,
  // scripts/install-deps.sh).
  ASSERT_EQ(run({"sh", "-c", "command -v promtool"}).exit_code, 0)
      << "promtool is not installed (Debian package prometheus, scripts/install-deps.sh)";
  auto check = run({"promtool", "check", "metrics"}, text);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "") << "promtool found problems";

  // The list's JSON has each task's progress_detail, as `restore show` has it.
  auto listed = cli_json(d, {"restore", "list", "-o", "json"});
  ASSERT_EQ(listed.size(), 1u);
  ASSERT_TRUE(listed[0].contains("progress_detail")) << listed;
  EXPECT_EQ(listed[0]["progress_detail"],
            cli_json(d, {"restore", "show", "r1"})["progress_detail"]);

  // True counters: deleting the tasks takes nothing back (attack review of issue 17).
  ASSERT_EQ(d.cli({"restore", "delete", "r1"}).exit_code, 0);
  ASSERT_EQ(d.cli({"backup", "delete", "nightly"}).exit_code, 0);
  text = get_text(d, "/metrics", d.token("scraper")).second;
  EXPECT_NE(text.find("\nflinkbr_backup_runs_total{status=\"Succeeded\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\nflinkbr_restore_runs_total{status=\"Failed\"} 1\n"), std::string::npos)
      << text;
  check = run({"promtool", "check", "metrics"}, text);
  EXPECT_EQ(check.out + check.err, "") << "promtool found problems";
}

TEST(DailyFlows, UsersAreManagedFromTheCli) {
  Daemon d;
  ASSERT_EQ(d.cli({"user", "create", "alice", "--role", "viewer"}, "alice-pw-1\n").exit_code, 0);
  d.login("alice", "alice-pw-1");

  auto r = d.cli({"user", "set-role", "alice", "--role", "operator"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "User alice is now operator.\n");
  auto me = d.api("GET", "/api/v1/auth/me", nullptr, "alice");
  EXPECT_EQ(me.body["role"], "operator");
  r = d.cli({"user", "set-role", "admin", "--role", "viewer"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err, "flinkbr: you cannot change the role of yourself; another administrator can\n");

  // Her own password: the current one, then the new one; her login stays.
  r = d.cli({"user", "change-password", "--password-stdin"}, "alice-pw-1\nalice-pw-2\n", "alice");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(d.api("GET", "/api/v1/auth/me", nullptr, "alice").status, 200);
  r = d.cli({"user", "change-password", "--password-stdin"}, "wrong-pw-1\nalice-pw-3\n", "alice");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "flinkbr: the current password is wrong\n");

  // A reset by the administrator ends her session; the new password logs in.
  r = d.cli({"user", "reset-password", "alice", "--password-stdin", "-o", "json"}, "alice-pw-4\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["name"], "alice");
  EXPECT_EQ(d.api("GET", "/api/v1/auth/me", nullptr, "alice").status, 401);
  EXPECT_NE(d.cli({"login", "--user", "alice"}, "alice-pw-2\n", "alice").exit_code, 0);
  d.login("alice", "alice-pw-4");

  r = d.cli({"user", "delete", "alice"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Deleted user alice; their sessions have ended.\n");
  EXPECT_EQ(d.api("GET", "/api/v1/auth/me", nullptr, "alice").status, 401);
  auto users = cli_json(d, {"user", "list"});
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0]["name"], "admin");
  r = d.cli({"user", "delete", "alice"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.err, "flinkbr: user 'alice' does not exist\n");
}

TEST(DailyFlows, ServeCheckConfigValidatesWithoutStarting) {
  Daemon d;
  const std::string good = d.root() + "/flinkbr.yaml";
  auto ok = run({FLINKBR_BINARY, "serve", "--config", good, "--check-config"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(ok.out.starts_with(good + ": the configuration is valid: 2 clusters") ||
              ok.out.starts_with(good + ": the configuration is valid: 1 cluster,"))
      << ok.out;
  const std::string bad = d.root() + "/bad.yaml";
  write_file(bad, read_file(good) + "bogus_key: 1\n");
  auto refused = run({FLINKBR_BINARY, "serve", "--config", bad, "--check-config"});
  EXPECT_EQ(refused.exit_code, 2) << refused.out;
  EXPECT_NE(refused.err.find("bogus_key"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out, "");
  // What serve refuses about the state database, the check refuses too (attack review).
  const std::string pw_in_uri = d.root() + "/pw.yaml";
  std::string text = read_file(good);
  text.replace(text.find("server:\n"), 8,
               "server:\n  database: \"postgresql://flink:hunter2@127.0.0.1:5432/db\"\n");
  write_file(pw_in_uri, text);
  refused = run({FLINKBR_BINARY, "serve", "--config", pw_in_uri, "--check-config"});
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_NE(refused.err.find("server.database"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.err.find("hunter2"), std::string::npos) << refused.err;
  // The daemon under test is still the one answering: nothing else was started.
  EXPECT_EQ(d.api("GET", "/api/v1/health", nullptr, "").status, 200);
}

}  // namespace
}  // namespace flinkbr::e2e
