// The REST API over real HTTP, with the real store, auth and engine on a temporary state
// directory and one cluster whose metadata is a local directory.
#include "server/api.h"
#include "server/listen_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "server/json.h"

namespace flinkbr::server {
namespace {

namespace fs = std::filesystem;

// How often the event streams of these tests check their token again.
constexpr auto kStreamTokenCheckEvery = std::chrono::milliseconds(300);

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
    // An ended session ends its event stream at the next check, 3 s apart by default.
    api_->set_stream_token_check_every(kStreamTokenCheckEvery);
    api_->mount(http_, (dir_ / "no-console").string());
    port_ = http_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    // As the daemon listens (a burst of clients beyond httplib's backlog of 5 waits a second).
    ASSERT_TRUE(listen_socket_.raise_backlog());
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
  ListenSocket listen_socket_{http_};
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

TEST_F(ApiTest, AdministratorsChangeRolesResetPasswordsAndDeleteUsersButNotThemselves) {
  const std::string admin = token("admin", "admin-password");
  const std::string vera = token("vera", "viewer-password");
  // Only administrators manage users.
  auto a = call("POST", "/api/v1/users/otto/role", vera, R"({"role":"administrator"})");
  EXPECT_EQ(a.status, 403);
  EXPECT_EQ(a.body["error"]["message"], "the administrator role is required to change roles");
  EXPECT_EQ(call("DELETE", "/api/v1/users/otto", vera).status, 403);

  a = call("POST", "/api/v1/users/vera/role", admin, R"({"role":"operator"})");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body["role"], "operator");
  // The new role applies to the session already open.
  EXPECT_EQ(call("GET", "/api/v1/auth/me", vera).body["role"], "operator");
  a = call("POST", "/api/v1/users/vera/role", admin, R"({"role":"king"})");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["error"]["field"], "role");
  EXPECT_EQ(call("POST", "/api/v1/users/nobody/role", admin, R"({"role":"viewer"})").status, 404);

  // Not yourself: nothing changed after the refusal.
  a = call("POST", "/api/v1/users/admin/role", admin, R"({"role":"viewer"})");
  EXPECT_EQ(a.status, 409) << a.body;
  EXPECT_EQ(a.body["error"]["message"],
            "you cannot change the role of yourself; another administrator can");
  a = call("DELETE", "/api/v1/users/admin", admin);
  EXPECT_EQ(a.body["error"]["message"], "you cannot delete yourself; another administrator can");
  EXPECT_EQ(call("GET", "/api/v1/auth/me", admin).body["role"], "administrator");

  // A reset ends the user's sessions; the new password logs in, the old does not.
  a = call("POST", "/api/v1/users/vera/password", admin, R"({"password":"short"})");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["error"]["field"], "password");
  EXPECT_EQ(call("GET", "/api/v1/auth/me", vera).status, 200);
  a = call("POST", "/api/v1/users/vera/password", admin, R"({"password":"a-new-password"})");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(call("GET", "/api/v1/auth/me", vera).status, 401);
  EXPECT_EQ(
      call("POST", "/api/v1/auth/login", "", R"({"user":"vera","password":"viewer-password"})")
          .status,
      401);
  const std::string vera2 = token("vera", "a-new-password");

  // Deleting ends the sessions too.
  a = call("DELETE", "/api/v1/users/vera", admin);
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(call("GET", "/api/v1/auth/me", vera2).status, 401);
  EXPECT_EQ(call("DELETE", "/api/v1/users/vera", admin).status, 404);
  auto users = call("GET", "/api/v1/users", admin).body["items"];
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0]["name"], "admin");
  EXPECT_EQ(users[1]["name"], "otto");

  // The audit log says who did it, and never the password.
  auto audit = call("GET", "/api/v1/audit", admin).body["items"];
  std::vector<std::string> actions;
  for (const auto& e : audit) {
    actions.push_back(e["action"]);
    EXPECT_EQ(e.dump().find("a-new-password"), std::string::npos) << e;
  }
  EXPECT_NE(std::find(actions.begin(), actions.end(), "user.delete"), actions.end());
  EXPECT_NE(std::find(actions.begin(), actions.end(), "user.password"), actions.end());
  EXPECT_NE(std::find(actions.begin(), actions.end(), "user.role"), actions.end());

  // Filtered by user and by action, newest first, with the filtered total.
  // (vera's refused try, the change, the unknown role, the unknown user, the own role)
  auto only = call("GET", "/api/v1/audit?action=user.role&limit=4", admin).body;
  ASSERT_EQ(only["items"].size(), 4u) << only;
  EXPECT_EQ(only["total"], 5);
  EXPECT_GT(only["items"][0]["id"], only["items"][1]["id"]);
  for (const auto& e : only["items"]) EXPECT_EQ(e["action"], "user.role");
  EXPECT_EQ(call("GET", "/api/v1/audit?user=admin&action=user.role", admin).body["total"], 4);
  auto vera_logins = call("GET", "/api/v1/audit?user=vera&action=auth.login", admin).body;
  ASSERT_EQ(vera_logins["total"], 3) << vera_logins;  // two good, one refused
  for (const auto& e : vera_logins["items"]) EXPECT_EQ(e["user"], "vera");
  EXPECT_EQ(call("GET", "/api/v1/audit?user=nobody", admin).body["total"], 0);
}

// A request sent whole but for its last byte: the server's thread waits for it in the middle of
// reading the body, so that finish() on two of them starts both handlers at the same moment.
class HeldRequest {
 public:
  HeldRequest(int port, const std::string& method, const std::string& path,
              const std::string& token, const std::string& body) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    const std::string req =
        method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
        "Authorization: Bearer " + token +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    last_ = req.back();
    const std::string head = req.substr(0, req.size() - 1);
    (void)::send(fd_, head.data(), head.size(), 0);
    timeval tv{.tv_sec = 30, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~HeldRequest() {
    if (fd_ >= 0) ::close(fd_);
  }
  HeldRequest(const HeldRequest&) = delete;
  HeldRequest& operator=(const HeldRequest&) = delete;
  void finish() { (void)::send(fd_, &last_, 1, 0); }
  // The answer's status and JSON body (the server closes the connection after it).
  std::pair<int, json> answer() {
    std::string all;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd_, buf, sizeof buf, 0)) > 0;)
      all.append(buf, static_cast<size_t>(n));
    const size_t body = all.find("\r\n\r\n");
    if (!all.starts_with("HTTP/1.1 ") || body == std::string::npos) return {0, json(all)};
    return {std::stoi(all.substr(9, 3)), json::parse(all.substr(body + 4), nullptr, false)};
  }

 private:
  int fd_ = -1;
  char last_ = 0;
};

TEST_F(ApiTest, TwoAdministratorsDemotingEachOtherAtOnceLeaveOne) {
  // Two administrators demote (or delete) each other with requests released at the same moment:
  // whichever way they interleave, one administrator remains and the refusal is one the user can
  // read. (On a loaded machine the second handler often runs only after the first has
  // committed, so it is the role check that refuses; the store suite's
  // AdministratorsDemotingEachOtherAtOnceLeaveOne forces the interleaving on both databases.)
  ASSERT_TRUE(auth_->create_user("root", store::Role::kAdministrator, "root-password"));
  std::map<std::string, std::string> tokens = {{"admin", token("admin", "admin-password")},
                                               {"root", token("root", "root-password")}};
  int refused_by_the_store = 0;
  for (int round = 0; round < 30; ++round) {
    const bool deleting = round % 2 == 1;
    auto held = [&](const std::string& who, const std::string& whom) {
      return deleting
                 ? std::make_unique<HeldRequest>(port_, "DELETE", "/api/v1/users/" + whom,
                                                 tokens.at(who), "{}")
                 : std::make_unique<HeldRequest>(port_, "POST", "/api/v1/users/" + whom + "/role",
                                                 tokens.at(who), R"({"role":"operator"})");
    };
    auto a = held("admin", "root");
    auto b = held("root", "admin");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // both handlers are waiting
    // The last bytes from two threads released together, so that neither waits for the
    // other's handler to be scheduled first.
    std::atomic<int> ready{0};
    auto release = [&](HeldRequest& r) {
      ++ready;
      while (ready.load() < 2) {
      }
      r.finish();
    };
    std::thread ta(release, std::ref(*a));
    std::thread tb(release, std::ref(*b));
    ta.join();
    tb.join();
    const auto [sa, ja] = a->answer();
    const auto [sb, jb] = b->answer();
    ASSERT_NE(sa == 200, sb == 200) << "round " << round << ": " << ja << " " << jb;
    const bool admin_won = sa == 200;
    const int refused_status = admin_won ? sb : sa;
    const json& refused = admin_won ? jb : ja;
    const std::string winner = admin_won ? "admin" : "root";
    const std::string loser = admin_won ? "root" : "admin";
    // Refused by the store's write (both passed the role check) or, when the other's write
    // came first, by the role check itself (or the token of a deleted user).
    if (refused_status == 409) {
      ++refused_by_the_store;
      EXPECT_EQ(refused["error"]["message"],
                "user '" + winner + "' is the last administrator: " +
                    (deleting ? "deleting them" : "making them operator") + " would leave none");
    } else {
      EXPECT_TRUE(refused_status == 403 || refused_status == 401) << refused;
    }
    auto users = call("GET", "/api/v1/users", tokens.at(winner)).body;
    int admins = 0;
    for (const auto& u : users["items"]) admins += u["role"] == "administrator";
    ASSERT_EQ(admins, 1) << users;
    // Back to two administrators for the next round.
    if (deleting) {
      ASSERT_EQ(
          call("POST", "/api/v1/users", tokens.at(winner),
               json{{"name", loser}, {"role", "administrator"}, {"password", loser + "-password"}}
                   .dump())
              .status,
          201);
      tokens[loser] = token(loser, loser + "-password");
    } else {
      ASSERT_EQ(call("POST", "/api/v1/users/" + loser + "/role", tokens.at(winner),
                     R"({"role":"administrator"})")
                    .status,
                200);
    }
  }
  RecordProperty("refused_by_the_store", refused_by_the_store);
}

TEST_F(ApiTest, EveryUserChangesTheirOwnPasswordWithTheCurrentOne) {
  const std::string vera = token("vera", "viewer-password");
  const std::string other = token("vera", "viewer-password");
  auto a = call("POST", "/api/v1/auth/password", vera,
                R"({"current_password":"wrong-password","new_password":"a-new-password"})");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.body["error"]["field"], "current_password");
  EXPECT_EQ(a.body["error"]["message"], "the current password is wrong");
  a = call("POST", "/api/v1/auth/password", vera,
           R"({"current_password":"viewer-password","new_password":"short"})");
  EXPECT_EQ(a.body["error"]["field"], "new_password");
  // Nothing changed after the refusals.
  EXPECT_EQ(call("GET", "/api/v1/auth/me", other).status, 200);
  a = call("POST", "/api/v1/auth/password", vera,
           R"({"current_password":"viewer-password","new_password":"a-new-password"})");
  ASSERT_EQ(a.status, 200) << a.body;
  // This session stays; the others end.
  EXPECT_EQ(call("GET", "/api/v1/auth/me", vera).status, 200);
  EXPECT_EQ(call("GET", "/api/v1/auth/me", other).status, 401);
  token("vera", "a-new-password");
}

// A stolen session must not guess its user's password through a change of password faster than
// a login could: the login throttle counts these guesses too.
TEST_F(ApiTest, GuessingTheCurrentPasswordIsThrottledLikeALogin) {
  const std::string vera = token("vera", "viewer-password");
  for (int i = 0; i < 10; ++i) {
    auto a = call("POST", "/api/v1/auth/password", vera,
                  R"({"current_password":"guess-)" + std::to_string(i) +
                      R"(","new_password":"attacker-owned-1"})");
    ASSERT_EQ(a.status, 400) << i << a.body;
  }
  // Throttled now, even for the right password: the password did not change.
  auto a = call("POST", "/api/v1/auth/password", vera,
                R"({"current_password":"viewer-password","new_password":"attacker-owned-1"})");
  EXPECT_EQ(a.status, 429) << a.body;
  EXPECT_EQ(call("GET", "/api/v1/auth/me", vera).status, 200);
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
  // Each attempt carries its own log; the top-level one is the latest attempt's.
  EXPECT_FALSE(t["log"].empty());
  EXPECT_EQ(t["attempt_history"][0]["log"], t["log"]);
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

TEST_F(ApiTest, LoginsBeyondTenFailuresInARowAnswer429WithRetryAfter) {
  const auto login = [&](const std::string& user, const std::string& password) {
    return client().Post("/api/v1/auth/login", json{{"user", user}, {"password", password}}.dump(),
                         "application/json");
  };
  for (int i = 0; i < 10; ++i) {
    auto r = login("otto", "guess " + std::to_string(i));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << r->body;
  }
  // Then the right password is refused too, for now.
  auto r = login("otto", "operator-password");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "resource_exhausted");
  // Audited, as every login attempt.
  store::Page page{.limit = 100};
  auto entries = store_->list_audit(page);
  ASSERT_TRUE(entries);
  int refused = 0;
  for (const auto& e : *entries)
    if (e.action == "auth.login" && e.user == "otto" && e.outcome == "resource_exhausted")
      ++refused;
  EXPECT_EQ(refused, 1);
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

// Opens GET /events with `tok`, runs `act` once the stream is open, and returns what the stream
// sent when it ended within 20 s after (the server ended it, or the client saw the event
// "still-open"); nullopt when it was still open then.
std::optional<std::string> stream_ended_by(int port, const std::string& tok,
                                           const std::function<void()>& act) {
  std::promise<void> opened;
  std::promise<void> ended;
  std::atomic<bool> give_up{false};
  std::string received;
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60);
    bool open = false;
    c.Get("/api/v1/events?token=" + tok, [&](const char* data, size_t n) {
      received.append(data, n);
      if (!open && received.find(": connected") != std::string::npos) {
        open = true;
        opened.set_value();
      }
      // The client leaves by itself once it has seen the marker event of a stream that stays.
      return !give_up.load() && received.find("\"still-open\"") == std::string::npos;
    });
    if (!open) opened.set_value();
    ended.set_value();
  });
  opened.get_future().wait();
  auto end = ended.get_future();
  if (end.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready) {
    reader.join();
    ADD_FAILURE() << "the stream did not open: " << received;
    return std::nullopt;
  }
  act();
  const bool done = end.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  give_up = true;  // the reader leaves at the next keep-alive
  reader.join();
  if (!done) return std::nullopt;
  return received;
}

TEST_F(ApiTest, EventStreamEndsWithItsSession) {
  const std::string kEnded = "event: session_ended\ndata: {\"reason\":\"invalid token\"}\n\n";
  // A logout of the stream's token.
  const std::string vera = token("vera", "viewer-password");
  auto out = stream_ended_by(
      port_, vera, [&] { EXPECT_EQ(call("POST", "/api/v1/auth/logout", vera).status, 200); });
  ASSERT_TRUE(out) << "the stream outlived the logout of its token";
  EXPECT_TRUE(out->ends_with(kEnded)) << *out;

  // A password reset by an administrator.
  const std::string admin = token("admin", "admin-password");
  const std::string vera2 = token("vera", "viewer-password");
  out = stream_ended_by(port_, vera2, [&] {
    EXPECT_EQ(call("POST", "/api/v1/users/vera/password", admin, R"({"password":"a-new-password"})")
                  .status,
              200);
  });
  ASSERT_TRUE(out) << "the stream outlived a password reset";
  EXPECT_TRUE(out->ends_with(kEnded)) << *out;

  // The deletion of its user.
  const std::string otto = token("otto", "operator-password");
  out = stream_ended_by(
      port_, otto, [&] { EXPECT_EQ(call("DELETE", "/api/v1/users/otto", admin).status, 200); });
  ASSERT_TRUE(out) << "the stream outlived the deletion of its user";
  EXPECT_TRUE(out->ends_with(kEnded)) << *out;

  // A stream whose session stays keeps going past several checks (the stream looks at most once
  // per second-long wait for events, so at least 3 checks in these 3.5 s).
  out = stream_ended_by(port_, admin, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    events_.publish("backup", {{"name", "still-open"}});
  });
  ASSERT_TRUE(out);
  EXPECT_EQ(out->find("session_ended"), std::string::npos) << *out;
  EXPECT_NE(out->find("\"still-open\""), std::string::npos) << *out;
}

TEST_F(ApiTest, TheRestoreListCarriesProgressDetailAsTheSingleAnswerDoes) {
  const std::string viewer = token("vera", "viewer-password");
  store::RestoreTask task{.name = "r1", .cluster = "c1"};
  task.params.path_type = PathType::kLocalDir;
  task.params.path = "/nowhere/1.18.1_Flink_20260101000000.tar.gz";
  auto t = store_->create_restore_task(task);
  ASSERT_TRUE(t) << t.error().message;
  ASSERT_TRUE(store_->create_restore_task({.name = "r0", .cluster = "c1"}));
  store::RestoreAttempt first{.task_id = t->id, .number = 1, .state = RestoreState::kFailed};
  first.progress_detail = {.step = "verify", .bytes_done = 1, .bytes_total = 2};
  ASSERT_TRUE(store_->create_attempt(first));
  store::RestoreAttempt latest{.task_id = t->id, .number = 2};
  latest.progress_detail = {
      .step = "stage", .bytes_done = 1024, .bytes_total = 4096, .bytes_per_second = 512};
  ASSERT_TRUE(store_->create_attempt(latest));

  auto list = call("GET", "/api/v1/restore-tasks", viewer).body["items"];
  ASSERT_EQ(list.size(), 2u) << list;
  for (const auto& item : list) {
    auto one = call("GET", "/api/v1/restore-tasks/" + item["name"].get<std::string>(), viewer);
    ASSERT_TRUE(item.contains("progress_detail")) << item;
    EXPECT_EQ(item["progress_detail"], one.body["progress_detail"]) << item["name"];
  }
  const auto& r1 = list[0]["name"] == "r1" ? list[0] : list[1];
  EXPECT_EQ(r1["progress_detail"]["step"], "stage");
  EXPECT_EQ(r1["progress_detail"]["bytes_done"], 1024);
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

// ---- Console sessions: cookie, anti-CSRF header, logout, events, paging -----------------------

// What the console does: log in for a cookie. Returns the cookie ("flinkbr_session=<hex>") and
// the session's anti-CSRF token.
struct ConsoleSession {
  std::string cookie;
  std::string csrf;
  std::string set_cookie;  // the whole Set-Cookie header of the login
};

class ConsoleApiTest : public ApiTest {
 protected:
  ConsoleSession console_login(const std::string& user, const std::string& password) {
    auto r = client().Post("/api/v1/auth/login", httplib::Headers{{"X-Flinkbr-CSRF", "login"}},
                           json{{"user", user}, {"password", password}, {"cookie", true}}.dump(),
                           "application/json");
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    ConsoleSession s;
    s.set_cookie = r->get_header_value("Set-Cookie");
    s.cookie = s.set_cookie.substr(0, s.set_cookie.find(';'));
    s.csrf = json::parse(r->body).value("csrf_token", "");
    return s;
  }
  Answer cookie_call(const std::string& method, const std::string& path, const ConsoleSession& s,
                     const std::string& csrf, const std::string& body = "",
                     std::string* set_cookie = nullptr) {
    httplib::Headers h{{"Cookie", "theme=dark; " + s.cookie + "; other=1"}};
    if (!csrf.empty()) h.emplace("X-Flinkbr-CSRF", csrf);
    auto c = client();
    httplib::Result r = method == "GET"    ? c.Get(path, h)
                        : method == "POST" ? c.Post(path, h, body, "application/json")
                                           : c.Delete(path, h);
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return {};
    if (set_cookie) *set_cookie = r->get_header_value("Set-Cookie");
    return {r->status, json::parse(r->body, nullptr, false)};
  }
};

TEST_F(ConsoleApiTest, LoginSetsAnHttpOnlyStrictCookieAndHidesTheToken) {
  auto r = client().Post("/api/v1/auth/login", httplib::Headers{{"X-Flinkbr-CSRF", "login"}},
                         R"({"user":"otto","password":"operator-password","cookie":true})",
                         "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string sc = r->get_header_value("Set-Cookie");
  EXPECT_TRUE(sc.starts_with("flinkbr_session=")) << sc;
  EXPECT_EQ(sc.find(';'), std::string("flinkbr_session=").size() + 64) << sc;  // 32 bytes, hex
  EXPECT_NE(sc.find("; HttpOnly"), std::string::npos) << sc;
  EXPECT_NE(sc.find("; SameSite=Strict"), std::string::npos) << sc;
  EXPECT_NE(sc.find("; Path=/"), std::string::npos) << sc;
  // The token's lifetime.
  EXPECT_NE(sc.find("; Max-Age=" + std::to_string(config_.server.token_ttl_seconds)),
            std::string::npos)
      << sc;
  EXPECT_EQ(sc.find("Secure"), std::string::npos) << "no TLS here: " << sc;
  json j = json::parse(r->body);
  // Scripts of the page never see the token: only the cookie carries it.
  EXPECT_FALSE(j.contains("token")) << r->body;
  EXPECT_EQ(j["user"]["role"], "operator");
  EXPECT_EQ(j["csrf_token"].get<std::string>().size(), 64u);

  // The cookie authenticates reads, and /auth/me tells the role and the anti-CSRF token (so a
  // reloaded page finds both).
  ConsoleSession s{.cookie = sc.substr(0, sc.find(';')), .csrf = j["csrf_token"]};
  auto me = cookie_call("GET", "/api/v1/auth/me", s, "");
  EXPECT_EQ(me.status, 200);
  EXPECT_EQ(me.body["name"], "otto");
  EXPECT_EQ(me.body["role"], "operator");
  EXPECT_EQ(me.body["session"], "cookie");
  EXPECT_EQ(me.body["csrf_token"], s.csrf);
  // A Bearer client is told its role too, and gets no anti-CSRF token (it needs none).
  auto bearer_me = call("GET", "/api/v1/auth/me", token("vera", "viewer-password"));
  EXPECT_EQ(bearer_me.body["role"], "viewer");
  EXPECT_EQ(bearer_me.body["session"], "bearer");
  EXPECT_FALSE(bearer_me.body.contains("csrf_token"));
}

TEST_F(ConsoleApiTest, ACookieLoginWithoutTheCustomHeaderIsRefused) {
  // What a cross-site form could send: no custom header.
  auto r = client().Post("/api/v1/auth/login",
                         R"({"user":"otto","password":"operator-password","cookie":true})",
                         "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_FALSE(r->has_header("Set-Cookie"));
  EXPECT_EQ(json::parse(r->body)["error"]["message"],
            "a console login must carry the header X-Flinkbr-CSRF (any value)");
}

TEST_F(ConsoleApiTest, StateChangesByCookieNeedTheSessionsCsrfToken) {
  const ConsoleSession s = console_login("otto", "operator-password");
  const std::string body =
      R"({"name":"nightly","cluster":"c1","data_source":"Flink","path_type":"LocalDir"})";
  // No header (a forged cross-site request), then another session's token: refused, nothing made.
  for (const std::string& csrf :
       {std::string(), std::string(64, 'a'), console_login("admin", "admin-password").csrf}) {
    auto a = cookie_call("POST", "/api/v1/backup-tasks", s, csrf, body);
    EXPECT_EQ(a.status, 403) << csrf;
    EXPECT_EQ(a.body["error"]["code"], "permission_denied");
    EXPECT_NE(a.body["error"]["message"].get<std::string>().find("X-Flinkbr-CSRF"),
              std::string::npos);
  }
  EXPECT_EQ(cookie_call("GET", "/api/v1/backup-tasks", s, "").body["total"], 0);
  // DELETE is protected the same way.
  EXPECT_EQ(cookie_call("DELETE", "/api/v1/backup-tasks/nightly", s, "").status, 403);

  auto a = cookie_call("POST", "/api/v1/backup-tasks", s, s.csrf, body);
  EXPECT_EQ(a.status, 201) << a.body;
  auto list = cookie_call("GET", "/api/v1/backup-tasks", s, "");
  EXPECT_EQ(list.body["total"], 1);
  EXPECT_EQ(list.body["items"][0]["name"], "nightly");
  EXPECT_TRUE(list.body["items"][0]["last_run"].is_null());

  // The Bearer API of the CLI is unchanged: no header needed.
  EXPECT_EQ(call("POST", "/api/v1/backup-tasks/nightly/suspend", token("otto", "operator-password"))
                .status,
            409);  // a manual task cannot be suspended: the call got through to the engine
}

TEST_F(ConsoleApiTest, LogoutEndsTheSessionAndClearsTheCookie) {
  const ConsoleSession s = console_login("vera", "viewer-password");
  // Logging out changes state: without the header it is refused and the session lives on.
  EXPECT_EQ(cookie_call("POST", "/api/v1/auth/logout", s, "").status, 403);
  EXPECT_EQ(cookie_call("GET", "/api/v1/auth/me", s, "").status, 200);
  std::string set_cookie;
  auto a = cookie_call("POST", "/api/v1/auth/logout", s, s.csrf, "", &set_cookie);
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(set_cookie.starts_with("flinkbr_session=;")) << set_cookie;
  EXPECT_NE(set_cookie.find("Max-Age=0"), std::string::npos) << set_cookie;
  // The old cookie is worthless now, even replayed.
  EXPECT_EQ(cookie_call("GET", "/api/v1/auth/me", s, "").status, 401);
}

TEST_F(ConsoleApiTest, SecureCookieUnderTls) {
  // The flag follows server.tls_cert_file; the Api does not load the certificate itself.
  config::Config tls = config_;
  tls.server.tls_cert_file = "/nonexistent/cert.pem";
  Api api(tls, *engine_, *auth_, *store_, events_);
  httplib::Server http;
  api.mount(http, "");
  int port = http.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { http.listen_after_bind(); });
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  httplib::Client c("127.0.0.1", port);
  auto r =
      c.Post("/api/v1/auth/login", httplib::Headers{{"X-Flinkbr-CSRF", "login"}},
             R"({"user":"otto","password":"operator-password","cookie":true})", "application/json");
  http.stop();
  t.join();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Set-Cookie").find("; Secure"), std::string::npos);
}

TEST_F(ConsoleApiTest, EventStreamWorksWithTheCookie) {
  const ConsoleSession s = console_login("vera", "viewer-password");
  std::string received;
  std::thread reader([&] {
    auto c = client();
    c.Get("/api/v1/events", httplib::Headers{{"Cookie", s.cookie}},
          [&](const char* data, size_t n) {
            received.append(data, n);
            return received.find("\"cookie-event\"") == std::string::npos;
          });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  events_.publish("restore", {{"name", "cookie-event"}});
  reader.join();
  EXPECT_NE(received.find("event: restore\ndata: {\"name\":\"cookie-event\"}"), std::string::npos)
      << received;
  // A forged or expired cookie is no credential.
  auto r = client().Get("/api/v1/events",
                        httplib::Headers{{"Cookie", "flinkbr_session=" + std::string(64, '0')}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
}

// Issue 9: 10,000 restoration tasks are answered a page at a time (LIMIT/OFFSET in SQL), with
// the total, in the order they were made.
TEST_F(ApiTest, TenThousandRestorationTasksArePaged) {
  constexpr int kTasks = 10000;
  for (int i = 0; i < kTasks; ++i) {
    store::RestoreTask t;
    char name[16];
    std::snprintf(name, sizeof name, "r%05d", i);
    t.name = name;
    t.cluster = "c1";
    t.params.path = "/backups/" + t.name + ".tar.gz";
    t.created_at = t.updated_at = 1;
    ASSERT_TRUE(store_->create_restore_task(t)) << i;
  }
  const std::string viewer = token("vera", "viewer-password");
  const auto begin = std::chrono::steady_clock::now();
  auto a = call("GET", "/api/v1/restore-tasks?limit=100&offset=9950", viewer);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - begin)
                      .count();
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body["total"], kTasks);
  EXPECT_EQ(a.body["limit"], 100);
  EXPECT_EQ(a.body["offset"], 9950);
  ASSERT_EQ(a.body["items"].size(), 50u);
  EXPECT_EQ(a.body["items"][0]["name"], "r09950");
  EXPECT_EQ(a.body["items"][49]["name"], "r09999");
  // Without limit: the default page of 100, the first ones.
  a = call("GET", "/api/v1/restore-tasks", viewer);
  ASSERT_EQ(a.body["items"].size(), 100u);
  EXPECT_EQ(a.body["items"][0]["name"], "r00000");
  EXPECT_EQ(a.body["items"][99]["name"], "r00099");
  // Past the end: an empty page, still with the total.
  a = call("GET", "/api/v1/restore-tasks?limit=10&offset=10000", viewer);
  EXPECT_TRUE(a.body["items"].empty());
  EXPECT_EQ(a.body["total"], kTasks);
  RecordProperty("page_ms", static_cast<int>(ms));
}

// ---- Starvation (issue 16): streams and slow calls do not hold the request workers ------------

// An open GET /events on a raw socket: its answer's head has arrived when this returns.
class HeldStream {
 public:
  HeldStream(int port, const std::string& token) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    const std::string req = "GET /api/v1/events?token=" + token + " HTTP/1.1\r\nHost: x\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) return;
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[1024];
    while (head_.find(": connected") == std::string::npos &&
           head_.find("\r\n\r\n{") == std::string::npos) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      head_.append(buf, static_cast<size_t>(n));
    }
  }
  ~HeldStream() {
    if (fd_ >= 0) ::close(fd_);
  }
  HeldStream(const HeldStream&) = delete;
  HeldStream& operator=(const HeldStream&) = delete;
  const std::string& head() const { return head_; }

 private:
  int fd_ = -1;
  std::string head_;
};

TEST_F(ApiTest, HeldStreamsAndHostileVerifiesLeaveHealthAndTheApiAnswering) {
  api_->set_ready(true);
  ASSERT_TRUE(auth_->create_user("wendy", store::Role::kViewer, "viewer-password"));
  const std::vector<std::string> tokens = {
      token("vera", "viewer-password"), token("wendy", "viewer-password"),
      token("otto", "operator-password"), token("admin", "admin-password")};
  // 16 streams: each user's share (4), as many as the request workers.
  std::vector<std::unique_ptr<HeldStream>> streams;
  for (const auto& t : tokens)
    for (int i = 0; i < 4; ++i) {
      streams.push_back(std::make_unique<HeldStream>(port_, t));
      ASSERT_TRUE(streams.back()->head().starts_with("HTTP/1.1 200"))
          << "stream " << streams.size() << ": " << streams.back()->head();
    }
  // A fifth stream of one user: 429 with Retry-After, the others untouched.
  {
    auto r = client().Get("/api/v1/events?token=" + tokens[0]);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429) << r->body;
    EXPECT_EQ(r->get_header_value("Retry-After"), "5");
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "resource_exhausted");
  }

  // 8 verifies of a FIFO nobody writes to (it used to hold a worker until someone did), in
  // parallel with the health checks below.
  const fs::path fifo = dir_ / "1.18.1_Flink_20260101000000.tar.gz";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string body = json{{"path_type", "LocalDir"}, {"source_path", fifo.string()}}.dump();
  std::vector<std::future<std::pair<int, std::string>>> verifies;
  for (int i = 0; i < 8; ++i)
    verifies.push_back(std::async(std::launch::async, [&, i] {
      httplib::Client c("127.0.0.1", port_);
      c.set_read_timeout(10);
      auto r = c.Post("/api/v1/backup-verify",
                      httplib::Headers{{"Authorization", "Bearer " + tokens[2 + i % 2]}}, body,
                      "application/json");
      return r ? std::pair{r->status, r->body} : std::pair{0, std::string("no answer")};
    }));

  // Health and an authenticated read answer within a second, again and again.
  for (int i = 0; i < 10; ++i) {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(1);
    c.set_read_timeout(1);
    auto begin = std::chrono::steady_clock::now();
    auto h = c.Get("/api/v1/health");
    ASSERT_TRUE(h) << "health did not answer within a second (round " << i << ")";
    EXPECT_EQ(h->status, 200);
    auto l = c.Get("/api/v1/clusters", httplib::Headers{{"Authorization", "Bearer " + tokens[0]}});
    ASSERT_TRUE(l) << "GET /clusters did not answer within a second (round " << i << ")";
    EXPECT_EQ(l->status, 200);
    EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(1));
  }
  for (auto& v : verifies) {
    ASSERT_EQ(v.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    auto [status, text] = v.get();
    // Refused at once: a FIFO is not a backup file.
    EXPECT_EQ(status, 400) << text;
    EXPECT_NE(text.find("not a regular file"), std::string::npos) << text;
  }
}

TEST_F(ApiTest, SlowCallsBeyondAUsersShareAnswer429AndHealthStillAnswers) {
  // A service that keeps running and whose stop command takes a second: each stop call is a
  // long-running call (it ends when the stop's wait for "stopped" times out).
  config::Config slow = config_;
  slow.clusters[0].service.status = "exit 0";
  slow.clusters[0].service.stop = "sleep 1";
  slow.clusters[0].service.timeout_seconds = 1;
  task::Engine engine(slow, *store_, events_);
  Api api(slow, engine, *auth_, *store_, events_);
  httplib::Server http;
  ListenSocket listen_socket(http);
  api.mount(http, "");
  api.set_ready(true);
  const int port = http.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  ASSERT_TRUE(listen_socket.raise_backlog());
  std::thread t([&] { http.listen_after_bind(); });
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string otto = token("otto", "operator-password");

  using Clock = std::chrono::steady_clock;
  std::vector<std::future<std::pair<int, Clock::duration>>> stops;
  for (int i = 0; i < 5; ++i)
    stops.push_back(std::async(std::launch::async, [&] {
      const auto begin = Clock::now();
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(30);
      auto r =
          c.Post("/api/v1/clusters/c1/service/stop",
                 httplib::Headers{{"Authorization", "Bearer " + otto}}, "", "application/json");
      if (r && r->status == 429) {
        EXPECT_EQ(r->get_header_value("Retry-After"), "5");
      }
      return std::pair{r ? r->status : 0, Clock::now() - begin};
    }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(1);
    auto h = c.Get("/api/v1/health");
    ASSERT_TRUE(h) << "health did not answer within a second";
    EXPECT_EQ(h->status, 200);
  }
  int refused = 0;
  for (auto& f : stops) {
    auto [status, took] = f.get();
    if (status == 429) {
      ++refused;
      EXPECT_LT(took, std::chrono::milliseconds(900)) << "the refusal waited for the others";
    } else {
      EXPECT_NE(status, 0);
      EXPECT_GE(took, std::chrono::seconds(1)) << "status " << status;
    }
  }
  http.stop();
  t.join();
  engine.shutdown();
  // Four at once are the user's share; the fifth is refused at once.
  EXPECT_EQ(refused, 1);
}

}  // namespace
}  // namespace flinkbr::server
