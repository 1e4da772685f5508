// The CLI against a scripted HTTP server that answers like the REST API: arguments, output,
// exit codes, --wait and credentials.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "cli/cli.h"

namespace flinkbr::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json restore_task(const std::string& name, const std::string& state, int progress, int attempts,
                  const std::string& step = "", const std::string& error = "") {
  json t = {{"name", name},
            {"cluster", "prod"},
            {"data_source", "Flink"},
            {"path_type", "LocalDir"},
            {"source_path", "/b/x.tar.gz"},
            {"state", state},
            {"progress", progress},
            {"attempts", attempts},
            {"created_at", "2026-01-01T00:00:00Z"},
            {"updated_at", "2026-01-01T00:00:01Z"}};
  if (state == "Failed") t["error"] = error;
  json steps = json::array();
  if (!step.empty()) steps.push_back({{"name", step}, {"status", "running"}});
  t["attempt_history"] = json::array(
      {{{"number", attempts}, {"state", state}, {"progress", progress}, {"steps", steps}}});
  t["log"] = json::array();
  return t;
}

json record(int id, const std::string& status, int progress) {
  return {{"id", id},
          {"task", "nightly"},
          {"status", status},
          {"progress", progress},
          {"backup_object", "Flink"},
          {"backup_path", "/b/nightly_20260101000000/1.18.1_Flink_20260101000000.tar.gz"},
          {"size", 2048},
          {"checksum", "sha256:ab"},
          {"error", status == "Failed" ? "disk full" : ""}};
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void api_error(httplib::Response& res, int status, const std::string& code,
               const std::string& message, const std::string& field = "") {
  json e = {{"code", code}, {"message", message}};
  if (!field.empty()) e["field"] = field;
  reply(res, status, {{"error", e}});
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flinkbr-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::setenv("FLINKBR_CONFIG_DIR", dir_.c_str(), 1);
    ::unsetenv("FLINKBR_TOKEN");
    ::unsetenv("FLINKBR_SERVER");
    define_routes();
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the loop runs would be lost and join() would hang.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    ::setenv("FLINKBR_SERVER", url_.c_str(), 1);
  }

  void TearDown() override {
    server_.stop();
    thread_.join();
    fs::remove_all(dir_);
    ::unsetenv("FLINKBR_CONFIG_DIR");
    ::unsetenv("FLINKBR_SERVER");
    ::unsetenv("FLINKBR_TOKEN");
  }

  struct Out {
    int code;
    std::string out;
    std::string err;
  };

  Out run_cli(std::vector<std::string> args, const std::string& stdin_text = "", bool tty = false) {
    std::istringstream in(stdin_text);
    std::ostringstream out, err;
    Io io{.in = in, .out = out, .err = err, .stderr_is_tty = tty, .poll_interval_ms = poll_ms_};
    int code = run(
        args,
        [this](const std::string& cfg, bool check_only) {
          serve_config_ = cfg;
          serve_check_only_ = check_only;
          return 42;
        },
        io);
    return {code, out.str(), err.str()};
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard g(mu_);
    last_auth_ = req.get_header_value("Authorization");
    if (last_auth_ == "Bearer goodtoken") return true;
    api_error(res, 401, "unauthenticated", "invalid or expired token; log in again");
    return false;
  }

  void define_routes() {
    using httplib::Request;
    using httplib::Response;
    server_.Post("/api/v1/auth/login", [this](const Request& req, Response& res) {
      json b = json::parse(req.body);
      {
        std::lock_guard g(mu_);
        last_body_ = b;
      }
      if (b["password"] != "s3cret")
        return api_error(res, 401, "unauthenticated", "wrong user name or password");
      reply(res, 200,
            {{"token", "goodtoken"},
             {"expires_at", "2026-01-01T12:00:00Z"},
             {"user", {{"name", b["user"]}, {"role", "administrator"}}}});
    });
    server_.Post("/api/v1/auth/logout", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      logged_out_ = true;
      reply(res, 200, {{"logged_out", true}});
    });
    server_.Get("/api/v1/clusters", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      reply(res, 200,
            {{"items",
              {{{"name", "prod"},
                {"version", "1.18.1"},
                {"metadata", {{{"name", "ha"}, {"kind", "zookeeper"}, {"location", "zk"}}}},
                {"service_data", json::array()},
                {"service", {{"state", "stopped"}, {"detail", "exit 3"}}},
                {"restore_running", nullptr}}}}});
    });
    server_.Post(R"(/api/v1/clusters/([^/]+)/service/(stop|start))",
                 [this](const Request& req, Response& res) {
                   if (!authorized(req, res)) return;
                   reply(res, 200,
                         {{"cluster", req.matches[1].str()},
                          {"state", req.matches[2] == "stop" ? "stopped" : "running"},
                          {"detail", "status command"}});
                 });
    // 2500 records so that the CLI has to page (limit 1000).
    server_.Get(R"(/api/v1/backup-tasks/([^/]+)/records)",
                [this](const Request& req, Response& res) {
                  if (!authorized(req, res)) return;
                  if (req.matches[1] != "nightly")
                    return api_error(res, 404, "not_found", "no backup task 'x'");
                  int limit = std::stoi(req.get_param_value("limit"));
                  int offset = std::stoi(req.get_param_value("offset"));
                  json items = json::array();
                  for (int i = offset; i < std::min(2500, offset + limit); ++i)
                    items.push_back(record(2500 - i, "Succeeded", 100));
                  reply(res, 200, {{"items", items}, {"limit", limit}, {"offset", offset}});
                });
    server_.Post("/api/v1/backup-tasks", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      json b = json::parse(req.body);
      {
        std::lock_guard g(mu_);
        last_body_ = b;
      }
      if (b.contains("max_copies") && b["max_copies"] == 0)
        return api_error(res, 400, "invalid_argument", "must be at least 1", "max_copies");
      reply(res, 201, {{"name", b["name"]}, {"mode", "manual"}, {"period_seconds", 0}});
    });
    server_.Post(R"(/api/v1/backup-tasks/([^/]+)/run)", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      polls_ = 0;
      reply(res, 202, record(req.matches[1] == "broken" ? 8 : 7, "Running", 0));
    });
    server_.Get(R"(/api/v1/backup-records/(\d+))", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      const int id = std::stoi(req.matches[1]);
      const int n = ++polls_;
      if (n < 3) {
        json r = record(id, "Running", 30 * n);
        r["progress_detail"] = {{"step", "write"},
                                {"bytes_done", n * 1048576},
                                {"bytes_total", 3145728},
                                {"bytes_per_second", 524288}};
        return reply(res, 200, r);
      }
      reply(res, 200, record(id, id == 8 ? "Failed" : "Succeeded", 100));
    });
    server_.Get("/api/v1/restore-tasks", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      json items = {restore_task("r1", "Created", 0, 0),
                    restore_task("r2", "Failed", 40, 1, "", "boom")};
      for (auto& t : items) {
        t.erase("attempt_history");
        t.erase("log");
      }
      reply(res, 200, {{"items", items}, {"limit", 1000}, {"offset", 0}});
    });
    server_.Post(
        R"(/api/v1/restore-tasks/([^/]+)/start)", [this](const Request& req, Response& res) {
          if (!authorized(req, res)) return;
          const std::string name = req.matches[1];
          json b = req.body.empty() ? json::object() : json::parse(req.body);
          if (b.value("dry_run", false))
            return reply(res, 200,
                         {{"task", name},
                          {"checks", {{{"name", "version"}, {"status", "done"}}}},
                          {"sources",
                           {{{"name", "conf"},
                             {"kind", "files"},
                             {"added", {"new.yaml"}},
                             {"changed", json::array()},
                             {"removed", {"old.yaml"}},
                             {"counts", {{"added", 1}, {"changed", 0}, {"removed", 1}}}}}}});
          if (name == "done")
            return api_error(res, 409, "failed_precondition",
                             "restoration task 'done' has succeeded and can never run again");
          polls_ = 0;
          reply(res, 202, restore_task(name, "Running", 0, 1));
        });
    server_.Get("/api/v1/health", [](const Request&, Response& res) {
      reply(res, 200, {{"status", "ok"}, {"version", "9.9.9"}});
    });
    // The event stream, when a test enables it: opens, then after a moment says that restoration
    // "streamed" succeeded, then only keep-alives.
    server_.Get("/api/v1/events", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      if (!sse_enabled_) return api_error(res, 404, "not_found", "no such route");
      res.set_chunked_content_provider(
          "text/event-stream", [this](size_t offset, httplib::DataSink& sink) {
            if (offset == 0) {
              static const std::string hello = "retry: 3000\n: connected\n\n";
              return sink.write(hello.data(), hello.size());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            std::string out = ": keep-alive\n\n";
            if (!event_sent_.exchange(true))
              out = "id: 5\nevent: restore\ndata: " +
                    json({{"name", "streamed"},
                          {"state", "Succeeded"},
                          {"progress", 100},
                          {"attempt", 1},
                          {"phase", "done"},
                          {"steps", json::array()}})
                        .dump() +
                    "\n\n";
            return sink.write(out.data(), out.size());
          });
    });
    server_.Get(R"(/api/v1/restore-tasks/([^/]+))", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      const std::string name = req.matches[1];
      if (name == "streamed") {
        ++task_gets_;
        return reply(res, 200,
                     event_sent_ ? restore_task(name, "Succeeded", 100, 1)
                                 : restore_task(name, "Running", 10, 1, "verify"));
      }
      const int n = ++polls_;
      if (n == 1) return reply(res, 200, restore_task(name, "Running", 10, 1, "verify"));
      if (n < 4) return reply(res, 200, restore_task(name, "Running", 40, 1, "stage"));
      if (name == "bad")
        return reply(res, 200, restore_task(name, "Failed", 40, 1, "", "version differs"));
      reply(res, 200, restore_task(name, "Succeeded", 100, 1));
    });
    server_.Post("/api/v1/restore-tasks", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      json b = json::parse(req.body);
      {
        std::lock_guard g(mu_);
        last_body_ = b;
      }
      if (b.contains("namenode_ip"))
        return api_error(res, 400, "invalid_argument",
                         "namenode_ip: 'x' is not an IPv4 or IPv6 address", "namenode_ip");
      if (b.contains("from_record") && b["from_record"] == 99)
        return api_error(res, 404, "not_found", "backup record 99 does not exist");
      json t = restore_task(b["name"], "Created", 0, 0);
      if (b.contains("from_record"))
        t["source_path"] = record(b["from_record"], "Succeeded", 100)["backup_path"];
      reply(res, 201, t);
    });
    // The user management calls: the path and body recorded, answers as the API gives them.
    server_.Post(
        R"(/api/v1/users/([^/]+)/(role|password))", [this](const Request& req, Response& res) {
          if (!authorized(req, res)) return;
          json b = json::parse(req.body);
          {
            std::lock_guard g(mu_);
            last_body_ = b;
            last_path_ = req.path;
          }
          const std::string name = req.matches[1];
          if (name == "nobody")
            return api_error(res, 404, "not_found", "user 'nobody' does not exist");
          if (name == "root")
            return api_error(res, 409, "failed_precondition",
                             "user 'root' is the last administrator: making them "
                             "viewer would leave none");
          if (b.contains("password") && b["password"].get<std::string>().size() < 8)
            return api_error(res, 400, "invalid_argument",
                             "a password must have at least 8 characters", "password");
          reply(res, 200, {{"name", name}, {"role", b.contains("role") ? b["role"] : "viewer"}});
        });
    server_.Delete(R"(/api/v1/users/([^/]+))", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      {
        std::lock_guard g(mu_);
        last_path_ = req.path;
      }
      reply(res, 200, {{"name", req.matches[1]}, {"deleted", true}});
    });
    server_.Post("/api/v1/auth/password", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      json b = json::parse(req.body);
      {
        std::lock_guard g(mu_);
        last_body_ = b;
      }
      if (b["current_password"] != "s3cret")
        return api_error(res, 400, "invalid_argument", "the current password is wrong",
                         "current_password");
      if (b["new_password"].get<std::string>().size() < 8)
        return api_error(res, 400, "invalid_argument", "a password must have at least 8 characters",
                         "new_password");
      reply(res, 200, {{"name", "admin"}, {"password_changed", true}});
    });
    server_.Post("/api/v1/users", [this](const Request& req, Response& res) {
      if (!authorized(req, res)) return;
      json b = json::parse(req.body);
      {
        std::lock_guard g(mu_);
        last_body_ = b;
      }
      reply(res, 201, {{"name", b["name"]}, {"role", b["role"]}});
    });
  }

  void login() {
    auto r = run_cli({"login", "--user", "admin"}, "s3cret\n");
    ASSERT_EQ(r.code, 0) << r.err;
  }

  fs::path dir_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::string url_;
  std::mutex mu_;
  std::string last_auth_;
  json last_body_;
  std::string last_path_;
  std::atomic<int> polls_{0};
  std::atomic<bool> logged_out_{false};
  std::string serve_config_;
  bool serve_check_only_ = false;
  int poll_ms_ = 5;
  std::atomic<bool> sse_enabled_{false};
  std::atomic<bool> event_sent_{false};
  std::atomic<int> task_gets_{0};
};

TEST_F(CliTest, LoginStoresTokenAndLaterCommandsUseIt) {
  auto r = run_cli({"login", "--user", "admin"}, "s3cret\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Logged in to " + url_ + " as admin (administrator)"), std::string::npos);
  EXPECT_EQ(last_body_["password"], "s3cret");
  const fs::path cred = dir_ / "credentials.json";
  ASSERT_TRUE(fs::exists(cred));
  struct stat st {};
  ::stat(cred.c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto c = load_credentials(cred);
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->token, "goodtoken");
  EXPECT_EQ((*c)->server, url_);
  EXPECT_EQ(r.out.find("goodtoken"), std::string::npos);  // never printed

  r = run_cli({"cluster", "list"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(last_auth_, "Bearer goodtoken");
  EXPECT_NE(r.out.find("prod"), std::string::npos);
  EXPECT_NE(r.out.find("stopped"), std::string::npos);
}

TEST_F(CliTest, WrongPassword) {
  auto r = run_cli({"login", "--user", "admin"}, "nope\n");
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.err, "flinkbr: wrong user name or password\n");
  EXPECT_FALSE(fs::exists(dir_ / "credentials.json"));
}

TEST_F(CliTest, NotLoggedIn) {
  auto r = run_cli({"cluster", "list"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("not logged in to " + url_), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("flinkbr login"), std::string::npos);
}

TEST_F(CliTest, EnvTokenOverrides) {
  login();
  ::setenv("FLINKBR_TOKEN", "othertoken", 1);
  auto r = run_cli({"cluster", "list"});
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(last_auth_, "Bearer othertoken");
}

TEST_F(CliTest, LoginForAnotherServerIsNotSent) {
  login();
  ::setenv("FLINKBR_SERVER", ("http://localhost:" + std::to_string(port_)).c_str(), 1);
  auto r = run_cli({"cluster", "list"});
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(last_auth_, "");
  EXPECT_NE(r.err.find("the saved login is for " + url_), std::string::npos) << r.err;
}

TEST_F(CliTest, Logout) {
  login();
  auto r = run_cli({"logout"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(logged_out_);
  EXPECT_FALSE(fs::exists(dir_ / "credentials.json"));
}

TEST_F(CliTest, ConnectionRefused) {
  auto r = run_cli({"restore", "list", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(r.code, 7);
  EXPECT_EQ(r.err.rfind("flinkbr: cannot reach the flinkbr daemon at http://127.0.0.1:1: ", 0), 0u)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST_F(CliTest, ListJsonIsAnArray) {
  login();
  auto r = run_cli({"restore", "list", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["state"], "Failed");
  EXPECT_EQ(j[1]["error"], "boom");
}

TEST_F(CliTest, HistoryJsonIsEveryRecordNewestFirst) {
  login();
  auto r = run_cli({"backup", "history", "--json", "nightly"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2500u);
  EXPECT_EQ(j[0]["id"], 2500);
  EXPECT_EQ(j[2499]["id"], 1);
  EXPECT_EQ(j[0]["status"], "Succeeded");
  EXPECT_TRUE(j[0].contains("backup_object"));
  EXPECT_TRUE(j[0].contains("backup_path"));

  r = run_cli({"backup", "history", "nightly", "--limit", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("BACKUP PATH"), std::string::npos);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 4);
}

TEST_F(CliTest, ApiErrorsBecomeExitCodes) {
  login();
  auto r = run_cli({"backup", "history", "nope"});
  EXPECT_EQ(r.code, 4);
  EXPECT_EQ(r.err, "flinkbr: no backup task 'x'\n");
  r = run_cli({"restore", "start", "done"});
  EXPECT_EQ(r.code, 5);
  EXPECT_NE(r.err.find("can never run again"), std::string::npos);
  r = run_cli({"backup", "create", "t", "--cluster", "prod", "--data-source", "Flink",
               "--path-type", "LocalDir", "--max-copies", "0"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "flinkbr: --max-copies: must be at least 1\n");
}

TEST_F(CliTest, BackupCreateSendsOnlyGivenFields) {
  login();
  auto r = run_cli({"backup", "create", "nightly", "--cluster", "prod", "--data-source", "Flink",
                    "--path-type", "LocalDir", "--period", "1d", "--max-copies", "3", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(last_body_, json({{"name", "nightly"},
                              {"cluster", "prod"},
                              {"data_source", "Flink"},
                              {"path_type", "LocalDir"},
                              {"period", "1d"},
                              {"max_copies", 3}}));
  EXPECT_EQ(json::parse(r.out)["name"], "nightly");
}

TEST_F(CliTest, UsageErrors) {
  auto r = run_cli({"backup", "create", "t", "--data-source", "Flink", "--path-type", "LocalDir"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("flinkbr: ", 0), 0u);
  EXPECT_NE(r.err.find("--cluster"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);

  r = run_cli({"restore", "create", "r", "--cluster", "c", "--data-source", "Flink", "--path-type",
               "Tape", "--source-path", "/x"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("Tape"), std::string::npos) << r.err;

  r = run_cli({"backup"});
  EXPECT_EQ(r.code, 2);
  r = run_cli({});
  EXPECT_EQ(r.code, 2);
  r = run_cli({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  r = run_cli({"backup", "create", "t", "--cluster", "c", "--data-source", "Flink", "--path-type",
               "LocalDir", "--max-copies", "many"});
  EXPECT_EQ(r.code, 2);
}

TEST_F(CliTest, HelpAndVersion) {
  auto r = run_cli({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("restore"), std::string::npos);
  r = run_cli({"restore", "start", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--dry-run"), std::string::npos);
  r = run_cli({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find(FLINKBR_VERSION), std::string::npos);
}

TEST_F(CliTest, Serve) {
  auto r = run_cli({"serve", "--config", "/etc/flinkbr.yaml"});
  EXPECT_EQ(r.code, 42);
  EXPECT_EQ(serve_config_, "/etc/flinkbr.yaml");
  EXPECT_FALSE(serve_check_only_);
  r = run_cli({"serve"});
  EXPECT_EQ(r.code, 42);
  EXPECT_EQ(serve_config_, "");
  r = run_cli({"serve", "--config", "/etc/flinkbr.yaml", "--check-config"});
  EXPECT_EQ(r.code, 42);
  EXPECT_TRUE(serve_check_only_);
}

TEST_F(CliTest, RestoreWaitPlainLines) {
  login();
  auto r = run_cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err,
            "restore r1: 10% verify\n"
            "restore r1: 40% stage\n"
            "restore r1: 100%\n");
  EXPECT_NE(
      r.out.find("Restoration succeeded. Start the Flink service with: flinkbr service start prod"),
      std::string::npos)
      << r.out;
}

TEST_F(CliTest, RestoreWaitJsonPutsHintOnStderr) {
  login();
  auto r = run_cli({"restore", "--server", url_, "start", "--wait", "r1", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["state"], "Succeeded");
  EXPECT_EQ(j["progress"], 100);
  EXPECT_NE(r.err.find("Restoration succeeded."), std::string::npos);
}

TEST_F(CliTest, RestoreWaitBarOnTerminal) {
  login();
  auto r = run_cli({"restore", "start", "r1", "--wait"}, "", /*tty=*/true);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("\r[####"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("  40%  stage  r1"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.back(), '\n');
}

TEST_F(CliTest, RestoreWaitFailure) {
  login();
  auto r = run_cli({"restore", "retry", "bad", "--wait"});
  // retry goes to /retry, which the scripted server does not know: a 404 error.
  EXPECT_EQ(r.code, 4);
  r = run_cli({"restore", "start", "bad", "--wait"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("flinkbr: restoration bad failed: version differs\n"), std::string::npos)
      << r.err;
}

TEST_F(CliTest, DryRun) {
  login();
  auto r = run_cli({"restore", "start", "r1", "--dry-run"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Source conf (files): 1 to add, 0 to change, 1 to remove"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("+ new.yaml"), std::string::npos);
  EXPECT_NE(r.out.find("- old.yaml"), std::string::npos);
  r = run_cli({"restore", "start", "--json", "r1", "--dry-run"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["sources"][0]["removed"][0], "old.yaml");
}

TEST_F(CliTest, BackupRunWait) {
  login();
  auto r = run_cli({"backup", "run", "nightly", "--wait"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("backup nightly: 30%"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("Backup succeeded"), std::string::npos);
  r = run_cli({"backup", "run", "broken", "--wait", "--json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(json::parse(r.out)["status"], "Failed");
  EXPECT_NE(r.err.find("flinkbr: backup broken failed: disk full"), std::string::npos) << r.err;
}

// --wait shows the step, bytes done of total and throughput of a backup; --json gives them as
// one JSON object per change on standard error.
TEST_F(CliTest, BackupRunWaitShowsStepBytesAndThroughput) {
  login();
  auto r = run_cli({"backup", "run", "nightly", "--wait"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err,
            "backup nightly: 0%\n"
            "backup nightly: 30% write 1.0 MiB/3.0 MiB 512 KiB/s\n"
            "backup nightly: 60% write 2.0 MiB/3.0 MiB 512 KiB/s\n"
            "backup nightly: 100%\n");
  r = run_cli({"backup", "run", "nightly", "--wait", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<json> lines;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  ASSERT_GE(lines.size(), 3u) << r.err;
  EXPECT_EQ(lines[1], json::parse(R"({"kind": "backup", "name": "nightly", "progress": 30,
      "stage": "", "progress_detail": {"step": "write", "bytes_done": 1048576,
      "bytes_total": 3145728, "bytes_per_second": 524288}})"));
  EXPECT_EQ(json::parse(r.out)["status"], "Succeeded");
}

TEST_F(CliTest, ServiceStop) {
  login();
  auto r = run_cli({"service", "stop", "prod", "--wait", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["state"], "stopped");
}

TEST_F(CliTest, UserCreateReadsPasswordFromStdin) {
  login();
  auto r = run_cli({"user", "create", "bob", "--role", "operator"}, "bobs-password\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(last_body_["password"], "bobs-password");
  EXPECT_EQ(last_body_["role"], "operator");
  r = run_cli({"user", "create", "bob", "--role", "god"}, "x\n");
  EXPECT_EQ(r.code, 2);
}

}  // namespace
}  // namespace flinkbr::cli

namespace flinkbr::cli {
namespace {

TEST_F(CliTest, UserSetRoleResetPasswordAndDelete) {
  login();
  auto r = run_cli({"user", "set-role", "bob", "--role", "operator"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "User bob is now operator.\n");
  EXPECT_EQ(last_path_, "/api/v1/users/bob/role");
  EXPECT_EQ(last_body_, json({{"role", "operator"}}));
  r = run_cli({"user", "set-role", "bob", "--role", "king"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--role"), std::string::npos) << r.err;
  r = run_cli({"user", "set-role", "nobody", "--role", "viewer"});
  EXPECT_EQ(r.code, 4);
  EXPECT_EQ(r.err, "flinkbr: user 'nobody' does not exist\n");
  r = run_cli({"user", "set-role", "root", "--role", "viewer"});
  EXPECT_EQ(r.code, 5);
  EXPECT_EQ(
      r.err,
      "flinkbr: user 'root' is the last administrator: making them viewer would leave none\n");

  // The password from standard input, never from an argument.
  r = run_cli({"user", "reset-password", "bob", "--password-stdin", "-o", "json"},
              "bobs-new-password\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(last_path_, "/api/v1/users/bob/password");
  EXPECT_EQ(last_body_, json({{"password", "bobs-new-password"}}));
  EXPECT_EQ(json::parse(r.out)["name"], "bob");
  EXPECT_EQ(r.out.find("bobs-new-password"), std::string::npos);
  r = run_cli({"user", "reset-password", "bob"}, "short\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "flinkbr: a password must have at least 8 characters\n");
  r = run_cli({"user", "reset-password", "bob", "--password-stdin"}, "");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "flinkbr: --password-stdin: no password on standard input\n");
  r = run_cli({"user", "reset-password", "bob", "--password", "x"});
  EXPECT_EQ(r.code, 2);  // there is no such flag

  r = run_cli({"user", "delete", "bob"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Deleted user bob; their sessions have ended.\n");
  EXPECT_EQ(last_path_, "/api/v1/users/bob");
}

TEST_F(CliTest, ChangeMyPasswordReadsTheCurrentThenTheNewOne) {
  login();
  auto r = run_cli({"user", "change-password", "--password-stdin"}, "s3cret\nmy-new-password\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(last_body_,
            json({{"current_password", "s3cret"}, {"new_password", "my-new-password"}}));
  EXPECT_EQ(r.out, "Changed the password of admin; your other sessions have ended.\n");
  // Errors say which password, in words: neither is a flag.
  r = run_cli({"user", "passwd"}, "wrong\nmy-new-password\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "flinkbr: the current password is wrong\n");
  r = run_cli({"user", "change-password", "--password-stdin"}, "s3cret\nshort\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "flinkbr: the new password: a password must have at least 8 characters\n");
  r = run_cli({"user", "change-password", "--password-stdin"}, "s3cret\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "flinkbr: --password-stdin: no password on standard input\n");
}

TEST_F(CliTest, RestoreCreateFromRecordSendsOnlyTheRecord) {
  login();
  auto r = run_cli({"restore", "create", "r9", "--from-record", "7"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(last_body_, json({{"name", "r9"}, {"from_record", 7}}));
  EXPECT_EQ(r.out,
            "Created restoration task r9 (Created, LocalDir "
            "/b/nightly_20260101000000/1.18.1_Flink_20260101000000.tar.gz). Start it with: "
            "flinkbr restore start r9\n");
  // Into another cluster (a migration), from the newest Succeeded record of a task.
  r = run_cli({"restore", "create", "r10", "--from-backup", "nightly", "--cluster", "dr"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(last_body_, json({{"name", "r10"}, {"from_backup", "nightly"}, {"cluster", "dr"}}));
  r = run_cli({"restore", "create", "r11", "--from-record", "99"});
  EXPECT_EQ(r.code, 4);
  EXPECT_EQ(r.err, "flinkbr: backup record 99 does not exist\n");
}

TEST_F(CliTest, RestoreCreateRefusalsNameTheFlags) {
  login();
  auto r =
      run_cli({"restore", "create", "r", "--from-record", "7", "--source-path", "/b/x.tar.gz"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "flinkbr: --source-path comes from the backup record; give --from-record or "
            "--source-path, not both\n");
  r = run_cli({"restore", "create", "r", "--from-record", "7", "--from-backup", "nightly"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--from-record and --from-backup exclude each other"), std::string::npos);
  r = run_cli({"restore", "create", "r", "--cluster", "prod", "--data-source", "Flink",
               "--path-type", "LocalDir"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "flinkbr: --source-path is required (or take everything from a backup with "
            "--from-record ID or --from-backup TASK)\n");
  // The daemon's field becomes the flag the user typed.
  r = run_cli({"restore", "create", "r", "--cluster", "prod", "--data-source", "Flink",
               "--path-type", "RemoteHDFS", "--source-path", "/b/x.tar.gz", "--namenode-ip", "x"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "flinkbr: --namenode-ip: 'x' is not an IPv4 or IPv6 address\n");
  r = run_cli({"restore", "create", "r", "--from-record", "0"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--from-record"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace flinkbr::cli

namespace flinkbr::cli {
namespace {

TEST_F(CliTest, VersionOfClientAndServer) {
  auto r = run_cli({"version"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("Client version: ") + FLINKBR_VERSION + "\nServer version: 9.9.9 (" +
                       url_ + ")\n");
  r = run_cli({"version", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json({{"client", {{"version", FLINKBR_VERSION}}},
                                      {"server", {{"version", "9.9.9"}, {"url", url_}}}}));
  r = run_cli({"version", "-o", "yaml"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("client:\n  version: \"") + FLINKBR_VERSION +
                       "\"\nserver:\n  url: \"" + url_ + "\"\n  version: \"9.9.9\"\n");
  // No daemon: the client's version, and the reason on standard error.
  r = run_cli({"version", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(r.code, 7);
  EXPECT_EQ(r.out, std::string("Client version: ") + FLINKBR_VERSION + "\n");
  EXPECT_NE(r.err.find("cannot reach the flinkbr daemon"), std::string::npos) << r.err;
  r = run_cli({"version", "--client", "--server", "http://127.0.0.1:1"});
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST_F(CliTest, UnknownCommandsSayWhatWasMeant) {
  auto r = run_cli({"backup", "lst"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "flinkbr: unknown command 'lst' for 'flinkbr backup' (did you mean 'list'?); see "
            "flinkbr backup --help\n");
  r = run_cli({"--server", "http://x:1", "versoin"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "flinkbr: unknown command 'versoin' (did you mean 'version'?); see flinkbr --help\n");
  r = run_cli({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "flinkbr: unknown command 'frobnicate'; see flinkbr --help\n");
  r = run_cli({"restore"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err,
            "flinkbr: 'flinkbr restore' needs a command: create, start, retry, list, show, logs, "
            "delete (see flinkbr restore --help)\n");
  // Help still works on a group and shows examples.
  r = run_cli({"restore", "--help"});
  EXPECT_EQ(r.code, 0);
  r = run_cli({"restore", "create", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("flinkbr restore create undo --from-backup nightly"), std::string::npos);
}

TEST_F(CliTest, VeleroVerbsAndOutputFormats) {
  login();
  auto r = run_cli({"restore", "get", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).size(), 2u);
  r = run_cli({"restore", "get", "r2", "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(json::parse(r.out).size(), 1u);
  EXPECT_EQ(json::parse(r.out)[0]["name"], "r2");
  r = run_cli({"restore", "get", "nope"});
  EXPECT_EQ(r.code, 4);
  EXPECT_EQ(r.err, "flinkbr: no restoration task 'nope'\n");
  r = run_cli({"restore", "get", "r1", "-o", "yaml"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("- ")) << r.out;
  EXPECT_NE(r.out.find("\n  name: \"r1\"\n"), std::string::npos) << r.out;
  r = run_cli({"restore", "list", "-o", "wide"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("SOURCE PATH"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/b/x.tar.gz"), std::string::npos) << r.out;
  r = run_cli({"restore", "list"});
  EXPECT_EQ(r.out.find("SOURCE PATH"), std::string::npos) << r.out;
  r = run_cli({"restore", "list", "-o", "xml"});
  EXPECT_EQ(r.code, 2);
  r = run_cli({"restore", "describe", "x", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["name"], "x");
  r = run_cli({"restore", "logs", "x", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json::array());
}

TEST_F(CliTest, BashCompletionCompletesCommandsFlagsAndValues) {
  auto r = run_cli({"completion", "bash"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string script = (dir_ / "flinkbr.bash").string();
  { std::ofstream(script) << r.out; }
  auto complete = [&](const std::string& words, int cword) {
    const std::string cmd = "bash -c 'source " + script + "; COMP_WORDS=(" + words +
                            "); COMP_CWORD=" + std::to_string(cword) +
                            "; _flinkbr; echo \"${COMPREPLY[*]}\"'";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return std::string("popen failed");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    return out;
  };
  EXPECT_EQ(complete("flinkbr backup li", 2), "list\n");
  EXPECT_EQ(complete("flinkbr res", 1), "restore\n");
  EXPECT_EQ(complete("flinkbr restore create r --path-type \"\"", 5),
            "LocalDir LocalHDFS RemoteHDFS OBS\n");
  EXPECT_EQ(complete("flinkbr --server http://x restore create r --from-r", 6), "--from-record\n");
  r = run_cli({"completion", "zsh"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("#compdef flinkbr\n")) << r.out;
  EXPECT_NE(r.out.find("complete -F _flinkbr flinkbr"), std::string::npos);
  r = run_cli({"completion", "fish"});
  EXPECT_EQ(r.code, 2);
}

TEST_F(CliTest, WaitFollowsTheEventStream) {
  login();
  sse_enabled_ = true;
  // Were --wait polling, it would sleep a minute between two looks.
  poll_ms_ = 60000;
  const auto begin = std::chrono::steady_clock::now();
  auto r = run_cli({"restore", "show", "streamed", "--wait"});
  const auto took = std::chrono::steady_clock::now() - begin;
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_NE(r.err.find("restore streamed: 100%"), std::string::npos) << r.err;
  // One look when the command starts, one when the stream opens, one for the final answer.
  EXPECT_LE(task_gets_.load(), 3);
}

}  // namespace
}  // namespace flinkbr::cli
