// The REST API over real HTTP, with the real store, auth and engine on a temporary state
// directory and one cluster whose metadata is a local directory.
#include "server/api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "server/json.h"

namespace flinkbr::server {
namespace {

namespace fs = std::filesystem;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "flinkbr-api-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "conf");
    std::ofstream(dir_ / "conf" / "flink-conf.yaml") << "a: 1\n";
    auto cfg = config::parse_config(
        "server:\n"
        "  state_dir: " +
            (dir_ / "state").string() +
            "\n"
            "clusters:\n"
            "  - name: c1\n"
            "    version: \"1.18.1\"\n"
            "    service: { status: \"exit 3\", stop: \"true\", start: \"true\" }\n"
            "    metadata:\n"
            "      - { name: conf, type: files, uri: \"file://" +
            (dir_ / "conf").string() + "\" }\n",
        "test");
    ASSERT_TRUE(cfg) << cfg.error().message;
    config_ = *cfg;
    fs::create_directories(config_.server.state_dir);
    auto s = store::Store::open((fs::path(config_.server.state_dir) / "flinkbr.db").string());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
    auth_ = std::make_unique<auth::Auth>(*store_, 3600);
    ASSERT_TRUE(auth_->create_user("admin", store::Role::kAdministrator, "admin-password"));
    ASSERT_TRUE(auth_->create_user("vera", store::Role::kViewer, "viewer-password"));
    ASSERT_TRUE(auth_->create_user("otto", store::Role::kOperator, "operator-password"));
    engine_ = std::make_unique<task::Engine>(config_, *store_, events_);
    api_ = std::make_unique<Api>(config_, *engine_, *auth_, *store_, events_);
    api_->mount(http_, (dir_ / "no-console").string());
    port_ = http_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void TearDown() override {
    events_.close();
    http_.stop();
    thread_.join();
    api_.reset();
    engine_.reset();
    auth_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(30);
    return c;
  }

  std::string token(const std::string& user, const std::string& password) {
    auto r = client().Post("/api/v1/auth/login",
                           json{{"user", user}, {"password", password}}.dump(), "application/json");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body)["token"];
  }

  struct Answer {
    int status = 0;
    json body;
  };
  Answer call(const std::string& method, const std::string& path, const std::string& tok,
              const std::string& body = "") {
    httplib::Headers h;
    if (!tok.empty()) h.emplace("Authorization", "Bearer " + tok);
    auto c = client();
    httplib::Result r = method == "GET"    ? c.Get(path, h)
                        : method == "POST" ? c.Post(path, h, body, "application/json")
                                           : c.Delete(path, h);
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return {};
    json j = json::parse(r->body, nullptr, false);
    return {r->status, j};
  }

  fs::path dir_;
  config::Config config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<auth::Auth> auth_;
  task::EventBus events_;
  std::unique_ptr<task::Engine> engine_;
  std::unique_ptr<Api> api_;
  httplib::Server http_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ApiTest, HealthFollowsReadiness) {
  auto a = call("GET", "/api/v1/health", "");
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.body["status"], "starting");
  api_->set_ready(true);
  a = call("GET", "/api/v1/health", "");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body["status"], "ok");
  EXPECT_EQ(a.body["version"], FLINKBR_VERSION);
}

TEST_F(ApiTest, LoginMeLogout) {
  auto r = client().Post("/api/v1/auth/login", R"({"user":"otto","password":"operator-password"})",
                         "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["user"]["name"], "otto");
  EXPECT_EQ(j["user"]["role"], "operator");
  EXPECT_TRUE(j["expires_at"].get<std::string>().ends_with("Z"));
  const std::string tok = j["token"];
  auto me = call("GET", "/api/v1/auth/me", tok);
  EXPECT_EQ(me.status, 200);
  EXPECT_EQ(me.body["name"], "otto");
  EXPECT_FALSE(me.body.contains("password_hash"));
  EXPECT_EQ(call("POST", "/api/v1/auth/logout", tok).status, 200);
  EXPECT_EQ(call("GET", "/api/v1/auth/me", tok).status, 401);
}

TEST_F(ApiTest, Unauthenticated) {
  auto a = call("GET", "/api/v1/clusters", "");
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.body["error"]["code"], "unauthenticated");
  a = call("GET", "/api/v1/clusters", "deadbeef");
  EXPECT_EQ(a.status, 401);
  a = call("POST", "/api/v1/auth/login", "", R"({"user":"admin","password":"nope"})");
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.body["error"]["message"], "wrong user name or password");
}

TEST_F(ApiTest, Roles) {
  const std::string viewer = token("vera", "viewer-password");
  auto a = call("GET", "/api/v1/clusters", viewer);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body["items"][0]["name"], "c1");
  EXPECT_EQ(a.body["items"][0]["service"]["state"], "stopped");
  a = call("POST", "/api/v1/restore-tasks/r1/start", viewer);
  EXPECT_EQ(a.status, 403);
  EXPECT_EQ(a.body["error"]["code"], "permission_denied");
  EXPECT_EQ(a.body["error"]["message"], "the operator role is required to start a restoration");
  EXPECT_EQ(call("GET", "/api/v1/audit", viewer).status, 403);
  const std::string op = token("otto", "operator-password");
  EXPECT_EQ(call("GET", "/api/v1/users", op).status, 403);
  EXPECT_EQ(call("GET", "/api/v1/users", token("admin", "admin-password")).status, 200);
}

TEST_F(ApiTest, Validation) {
  const std::string op = token("otto", "operator-password");
  auto a = call("POST", "/api/v1/backup-tasks", op, R"({"name":"t","colour":"red"})");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["error"]["field"], "colour");
  a = call("POST", "/api/v1/backup-tasks", op, R"({"name":"t","max_copies":"2"})");
  EXPECT_EQ(a.body["error"]["message"], "max_copies: expected an integer");
  a = call("POST", "/api/v1/backup-tasks", op, "[]");
  EXPECT_EQ(a.body["error"]["field"], "body");
  a = call("POST", "/api/v1/backup-tasks", op,
           R"({"name":"t","cluster":"c1","data_source":"Nope","path_type":"LocalDir"})");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["error"]["field"], "data_source");
  a = call("GET", "/api/v1/restore-tasks/" + std::string(300, 'x'), op);
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["error"]["field"], "name");
  a = call("GET", "/api/v1/restore-tasks/a%01b", op);
  EXPECT_EQ(a.body["error"]["message"], "name: contains control characters");
  a = call("POST", "/api/v1/backup-tasks/x/run", op, R"({"now":true})");
  EXPECT_EQ(a.body["error"]["field"], "now");
  a = call("GET", "/api/v1/backup-tasks?limit=5000", op);
  EXPECT_EQ(a.body["error"]["field"], "limit");
  a = call("GET", "/api/v1/nothing-here", op);
  EXPECT_EQ(a.status, 404);
  EXPECT_EQ(a.body["error"]["code"], "not_found");
}

TEST_F(ApiTest, BackupAndRestoreRoundTrip) {
  const std::string op = token("otto", "operator-password");
  auto a = call("POST", "/api/v1/backup-tasks", op,
                R"({"name":"nightly","cluster":"c1","data_source":"Flink","path_type":"LocalDir",
                    "max_copies":2})");
  ASSERT_EQ(a.status, 201) << a.body.dump();
  EXPECT_EQ(a.body["mode"], "manual");
  EXPECT_EQ(a.body["max_copies"], 2);
  a = call("POST", "/api/v1/backup-tasks/nightly/run", op);
  ASSERT_EQ(a.status, 202) << a.body.dump();
  const int64_t id = a.body["id"];
  json rec;
  for (int i = 0; i < 200; ++i) {
    rec = call("GET", "/api/v1/backup-records/" + std::to_string(id), op).body;
    if (rec["status"] != "Running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(rec["status"], "Succeeded") << rec.dump();
  EXPECT_EQ(rec["backup_object"], "Flink");
  a = call("GET", "/api/v1/backup-tasks/nightly/records", op);
  ASSERT_EQ(a.body["items"].size(), 1u);

  a = call("POST", "/api/v1/backup-verify", op,
           json{{"path_type", "LocalDir"}, {"source_path", rec["backup_path"]}}.dump());
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["system_version"], "1.18.1");
  EXPECT_EQ(a.body["sources"][0]["name"], "conf");

  std::ofstream(dir_ / "conf" / "flink-conf.yaml") << "a: 2\n";
  a = call("POST", "/api/v1/restore-tasks", op,
           json{{"name", "r1"},
                {"cluster", "c1"},
                {"data_source", "Flink"},
                {"path_type", "LocalDir"},
                {"source_path", rec["backup_path"]}}
               .dump());
  ASSERT_EQ(a.status, 201) << a.body.dump();
  EXPECT_EQ(a.body["state"], "Created");
  EXPECT_FALSE(a.body.contains("error"));
  a = call("POST", "/api/v1/restore-tasks/r1/start", op, R"({"dry_run":true})");
  ASSERT_EQ(a.status, 200) << a.body.dump();
  EXPECT_EQ(a.body["sources"][0]["changed"][0], "flink-conf.yaml");
  EXPECT_EQ(call("GET", "/api/v1/restore-tasks/r1", op).body["state"], "Created");
  a = call("POST", "/api/v1/restore-tasks/r1/start", op);
  ASSERT_EQ(a.status, 202) << a.body.dump();
  json t;
  for (int i = 0; i < 200; ++i) {
    t = call("GET", "/api/v1/restore-tasks/r1", op).body;
    if (t["state"] != "Running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(t["state"], "Succeeded") << t.dump();
  EXPECT_EQ(t["progress"], 100);
  ASSERT_EQ(t["attempt_history"].size(), 1u);
  EXPECT_FALSE(t["attempt_history"][0]["steps"].empty());
  EXPECT_TRUE(t["log"].is_array());
  a = call("POST", "/api/v1/restore-tasks/r1/start", op);
  EXPECT_EQ(a.status, 409);

  // Every state-changing call is in the audit log, newest first.
  a = call("GET", "/api/v1/audit?limit=1000", token("admin", "admin-password"));
  ASSERT_EQ(a.status, 200);
  std::vector<std::string> actions;
  for (const auto& e : a.body["items"]) actions.push_back(e["action"]);
  for (const char* want : {"backup.create", "backup.run", "backup.verify", "restore.create",
                           "restore.dry_run", "restore.start", "auth.login"})
    EXPECT_NE(std::find(actions.begin(), actions.end(), want), actions.end()) << want;
  EXPECT_EQ(a.body["items"][1]["action"], "restore.start");
  EXPECT_EQ(a.body["items"][1]["outcome"], "failed_precondition");
  EXPECT_EQ(a.body["items"][1]["user"], "otto");
  EXPECT_EQ(a.body["items"][1]["target"], "r1");
  // No password or token anywhere in it.
  const std::string text = a.body.dump();
  EXPECT_EQ(text.find("operator-password"), std::string::npos);
  EXPECT_EQ(text.find(op), std::string::npos);
}

TEST_F(ApiTest, LoginAttemptsAreAudited) {
  call("POST", "/api/v1/auth/login", "", R"({"user":"mallory","password":"guess"})");
  auto a = call("GET", "/api/v1/audit", token("admin", "admin-password"));
  bool found = false;
  for (const auto& e : a.body["items"])
    if (e["action"] == "auth.login" && e["user"] == "mallory") {
      found = true;
      EXPECT_EQ(e["outcome"], "unauthenticated");
      EXPECT_EQ(e["detail"].get<std::string>().find("guess"), std::string::npos);
    }
  EXPECT_TRUE(found);
}

TEST_F(ApiTest, EventStream) {
  const std::string viewer = token("vera", "viewer-password");
  events_.publish("restore", {{"name", "old"}});
  std::string received;
  std::thread reader([&] {
    auto c = client();
    c.Get("/api/v1/events?token=" + viewer, httplib::Headers{{"Last-Event-ID", "0"}},
          [&](const char* data, size_t n) {
            received.append(data, n);
            return received.find("\"new\"") == std::string::npos;  // stop after the 2nd event
          });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  events_.publish("backup", {{"name", "new"}});
  reader.join();
  EXPECT_NE(received.find("id: 1\nevent: restore\ndata: {\"name\":\"old\"}\n\n"), std::string::npos)
      << received;
  EXPECT_NE(received.find("id: 2\nevent: backup\ndata: {\"name\":\"new\"}\n\n"), std::string::npos)
      << received;
}

TEST_F(ApiTest, EventStreamNeedsCredentials) {
  EXPECT_EQ(call("GET", "/api/v1/events", "").status, 401);
}

TEST_F(ApiTest, ConsoleNotBuiltPage) {
  auto r = client().Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("console is not built"), std::string::npos);
}

TEST_F(ApiTest, PostWithoutContentLengthIsAnEmptyBody) {
  // What `curl -X POST` sends: no Content-Length, no body, and the connection stays open.
  const std::string tok = token("otto", "operator-password");
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req =
      "POST /api/v1/auth/logout HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\n\r\n";
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  timeval tv{.tv_sec = 3, .tv_usec = 0};  // httplib's own read timeout is 5 s
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[512];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  ASSERT_GT(n, 12);
  EXPECT_EQ(std::string(buf, 12), "HTTP/1.1 200");
}

}  // namespace
}  // namespace flinkbr::server
