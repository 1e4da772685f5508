// End-to-end: server.webhook_url with the real daemon. A real HTTP receiver (cpp-httplib) on a
// loopback port gets one signed JSON POST per run that ends: a successful backup (with
// webhook_on_success), a restoration refused while the Flink service runs, a backup whose source
// is gone. The secret is in no body and not in the daemon's log.
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "harness.h"

namespace flinkbr::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string hmac_hex(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    static const char* d = "0123456789abcdef";
    out += d[mac[i] >> 4];
    out += d[mac[i] & 15];
  }
  return out;
}

struct Post {
  std::string body;
  std::string signature;
  std::string event;
};

class Receiver {
 public:
  Receiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard g(mu_);
      posts_.push_back({req.body, req.get_header_value("X-Flinkbr-Signature"),
                        req.get_header_value("X-Flinkbr-Event")});
      // The first POST is answered 500: the daemon must try again.
      res.status = ++count_ == 1 ? 500 : 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  // The POSTs answered 200, once `n` arrived (or after 20 s).
  std::vector<Post> accepted(size_t n) {
    for (int i = 0; i < 400; ++i) {
      {
        std::lock_guard g(mu_);
        if (posts_.size() >= n + 1) break;
      }
      std::this_thread::sleep_for(50ms);
    }
    std::lock_guard g(mu_);
    if (posts_.empty()) return {};
    return {posts_.begin() + 1, posts_.end()};
  }
  std::vector<Post> all() {
    std::lock_guard g(mu_);
    return posts_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Post> posts_;
  int count_ = 0;
};

TEST(Webhook, EndedRunsArePostedSignedAndRetried) {
  Receiver receiver;
  const std::string secret = "e2e-webhook-secret-7f3a";
  const std::string dir = make_temp_dir();
  write_file(dir + "/webhook-secret", secret + "\n");
  std::filesystem::permissions(dir + "/webhook-secret", std::filesystem::perms::owner_read |
                                                            std::filesystem::perms::owner_write);
  Daemon d(Daemon::Options{.server_settings = {"webhook_url: " + receiver.url(),
                                               "webhook_on_success: true",
                                               "webhook_secret_file: " + dir + "/webhook-secret"}});
  d.seed_cluster();
  const std::string path = d.backup();
  // Refused at its check step while the Flink service runs: a Failed attempt.
  ASSERT_EQ(d.cli({"restore", "create", "r1", "--from-backup", "nightly"}).exit_code, 0);
  EXPECT_NE(d.cli({"restore", "start", "r1", "--wait"}).exit_code, 0);
  // A backup whose source is gone fails.
  std::filesystem::remove_all(d.ha_dir());
  EXPECT_NE(d.cli({"backup", "run", "nightly", "--wait"}).exit_code, 0);

  auto posts = receiver.accepted(3);
  ASSERT_EQ(posts.size(), 3u);
  // The first POST was answered 500 and came again, with the same delivery id.
  auto all = receiver.all();
  EXPECT_EQ(all[0].body, all[1].body);

  std::map<std::string, json> by_event;
  for (const auto& p : posts) {
    EXPECT_EQ(p.signature, "sha256=" + hmac_hex(secret, p.body)) << p.body;
    EXPECT_EQ(p.body.find(secret), std::string::npos) << p.body;
    by_event[p.event] = json::parse(p.body);
  }
  ASSERT_EQ(by_event.size(), 3u);
  const json& ok = by_event["backup.succeeded"];
  EXPECT_EQ(ok["kind"], "backup");
  EXPECT_EQ(ok["task"], "nightly");
  EXPECT_EQ(ok["status"], "Succeeded");
  EXPECT_EQ(ok["path"], path);
  EXPECT_EQ(ok["cluster"], "prod");
  EXPECT_EQ(ok["manager"], d.url());
  EXPECT_TRUE(ok["record_id"].is_number_integer());

  const json& restore = by_event["restore.failed"];
  EXPECT_EQ(restore["kind"], "restore");
  EXPECT_EQ(restore["task"], "r1");
  EXPECT_EQ(restore["status"], "Failed");
  EXPECT_EQ(restore["attempt"], 1);
  EXPECT_EQ(restore["path"], path);
  EXPECT_NE(restore["error"].get<std::string>().find("running"), std::string::npos) << restore;

  const json& failed = by_event["backup.failed"];
  EXPECT_EQ(failed["status"], "Failed");
  EXPECT_NE(failed["error"].get<std::string>().find(d.ha_dir()), std::string::npos) << failed;
  EXPECT_TRUE(failed["started_at"].is_string());
  EXPECT_TRUE(failed["ended_at"].is_string());

  // The secret is not in the daemon's log either.
  d.stop();
  const std::string log = read_file(d.state_dir() + "/logs/flinkbr.log");
  EXPECT_NE(log.find("webhook: notices of ended runs go to http://127.0.0.1:"), std::string::npos)
      << log;
  EXPECT_EQ(log.find(secret), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Webhook, AnUnreadableSecretFileIsRefusedAtStartNamingTheKey) {
  const std::string dir = make_temp_dir();
  write_file(dir + "/flinkbr.yaml",
             "server:\n  webhook_url: http://127.0.0.1:9/hook\n  webhook_secret_file: " + dir +
                 "/missing\nclusters: [{name: a, version: '1'}]\n");
  auto r = run({FLINKBR_BINARY, "serve", "--config", dir + "/flinkbr.yaml", "--check-config"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("server.webhook_secret_file: cannot open the webhook secret file " + dir +
                       "/missing"),
            std::string::npos)
      << r.err;
  std::filesystem::remove_all(dir);
}

TEST(Webhook, ASecretFileOthersCanReadIsRefusedAtStartNamingTheFile) {
  const std::string dir = make_temp_dir();
  write_file(dir + "/webhook-secret", "e2e-webhook-secret-7f3a\n");
  std::filesystem::permissions(dir + "/webhook-secret", std::filesystem::perms::owner_read |
                                                            std::filesystem::perms::owner_write |
                                                            std::filesystem::perms::group_read);
  write_file(dir + "/flinkbr.yaml",
             "server:\n  webhook_url: http://127.0.0.1:9/hook\n  webhook_secret_file: " + dir +
                 "/webhook-secret\nclusters: [{name: a, version: '1'}]\n");
  for (const char* check : {"--check-config", ""}) {
    std::vector<std::string> args = {FLINKBR_BINARY, "serve", "--config", dir + "/flinkbr.yaml"};
    if (*check) args.push_back(check);
    auto r = run(args);
    EXPECT_EQ(r.exit_code, 2) << check << r.out << r.err;
    EXPECT_NE(r.err.find("server.webhook_secret_file: the webhook secret file " + dir +
                         "/webhook-secret has mode 0640; it must be readable by its owner only"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("e2e-webhook-secret-7f3a"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace flinkbr::e2e
