// The webhook against a real HTTP receiver (cpp-httplib) on a loopback port: delivery, the
// signature, retries after 500s and after a refused connection, the bounded queue, and the
// notices TaskNotifier builds from a real state database and EventBus.
#include "notify/webhook.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "notify/task_notifier.h"
#include "store/store.h"
#include "task/events.h"

namespace flinkbr::notify {
namespace {

using namespace std::chrono_literals;

struct Received {
  std::string body;
  std::string event;
  std::string delivery;
  std::string signature;
  std::string path;
};

// A real HTTP server on 127.0.0.1 recording every POST; `answer` picks the status of each.
class Receiver {
 public:
  explicit Receiver(
      int port = 0, std::function<int(int)> answer = [](int) { return 200; })
      : answer_(std::move(answer)) {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard g(mu_);
      got_.push_back({req.body, req.get_header_value("X-Flinkbr-Event"),
                      req.get_header_value("X-Flinkbr-Delivery"),
                      req.get_header_value("X-Flinkbr-Signature"), req.target});
      res.status = answer_(static_cast<int>(got_.size()));
    });
    port_ = port == 0 ? server_.bind_to_any_port("127.0.0.1") : port;
    if (port != 0 && !server_.bind_to_port("127.0.0.1", port)) port_ = -1;
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (port_ > 0 && !server_.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<Received> got() {
    std::lock_guard g(mu_);
    return got_;
  }
  // Waits until `n` POSTs arrived (or 10 s).
  std::vector<Received> wait_for(size_t n) {
    for (int i = 0; i < 1000 && got().size() < n; ++i) std::this_thread::sleep_for(10ms);
    return got();
  }

 private:
  std::function<int(int)> answer_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Received> got_;
};

WebhookOptions fast(std::string url, std::string secret = "") {
  return {.url = std::move(url),
          .secret = std::move(secret),
          .max_attempts = 4,
          .initial_backoff = 50ms,
          .max_backoff = 200ms,
          .timeout = 2000ms};
}

template <typename F>
bool eventually(F f) {
  for (int i = 0; i < 1000; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(Webhook, PostsTheJsonWithAVerifiableSignatureAndNoSecret) {
  Receiver r;
  const std::string secret = "s3cr3t-Shared-Only-With-The-Receiver";
  WebhookSender sender(fast(r.url("/hook?token=abc"), secret));
  sender.post("backup.failed", {{"task", "nightly"}, {"status", "Failed"}});
  auto got = r.wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/hook?token=abc");
  EXPECT_EQ(got[0].event, "backup.failed");
  auto body = nlohmann::json::parse(got[0].body);
  EXPECT_EQ(body["task"], "nightly");
  EXPECT_EQ(body["delivery"], got[0].delivery);
  EXPECT_EQ(got[0].delivery.size(), 32u);
  // The receiver's check: HMAC-SHA256 of the exact body with the shared secret.
  EXPECT_EQ(got[0].signature, "sha256=" + hmac_sha256_hex(secret, got[0].body));
  EXPECT_NE(got[0].signature, "sha256=" + hmac_sha256_hex("another secret", got[0].body));
  EXPECT_EQ(got[0].body.find(secret), std::string::npos);
  EXPECT_TRUE(eventually([&] { return sender.stats().delivered == 1; }));
  EXPECT_EQ(sender.stats().attempts, 1u);
}

TEST(Webhook, HmacMatchesAKnownVector) {
  // RFC 4231 test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Webhook, NoSignatureWithoutASecret) {
  Receiver r;
  WebhookSender sender(fast(r.url()));
  sender.post("restore.failed", {{"task", "undo"}});
  auto got = r.wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].signature, "");
}

TEST(Webhook, RetriesAfter500sWithTheSameDelivery) {
  Receiver r(0, [](int n) { return n <= 2 ? 500 : 204; });
  WebhookSender sender(fast(r.url()));
  sender.post("backup.failed", {{"task", "nightly"}});
  auto got = r.wait_for(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].delivery, got[2].delivery);
  EXPECT_EQ(got[0].body, got[2].body);
  EXPECT_TRUE(eventually([&] { return sender.stats().delivered == 1; }));
  EXPECT_EQ(sender.stats().attempts, 3u);
  EXPECT_EQ(sender.stats().abandoned, 0u);
}

TEST(Webhook, GivesUpAfterMaxAttemptsAndOnA4xx) {
  Receiver always500(0, [](int) { return 503; });
  WebhookSender a(fast(always500.url()));
  a.post("backup.failed", {{"task", "x"}});
  EXPECT_TRUE(eventually([&] { return a.stats().abandoned == 1; }));
  EXPECT_EQ(always500.got().size(), 4u);  // max_attempts

  Receiver refuses(0, [](int) { return 400; });
  WebhookSender b(fast(refuses.url()));
  b.post("backup.failed", {{"task", "x"}});
  EXPECT_TRUE(eventually([&] { return b.stats().abandoned == 1; }));
  std::this_thread::sleep_for(300ms);  // longer than the backoff: no second try comes
  EXPECT_EQ(refuses.got().size(), 1u);
}

TEST(Webhook, RetriesAfterARefusedConnection) {
  int port = 0;
  {
    Receiver probe;  // a free port, then nobody listens on it
    port = probe.port();
  }
  WebhookOptions o = fast("http://127.0.0.1:" + std::to_string(port) + "/hook");
  o.max_attempts = 20;
  WebhookSender sender(o);
  sender.post("restore.failed", {{"task", "undo"}});
  ASSERT_TRUE(eventually([&] { return sender.stats().attempts >= 1; }));
  EXPECT_EQ(sender.stats().delivered, 0u);
  Receiver r(port);  // the receiver comes back
  ASSERT_EQ(r.port(), port);
  auto got = r.wait_for(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(got[0].body)["task"], "undo");
  EXPECT_TRUE(eventually([&] { return sender.stats().delivered == 1; }));
  EXPECT_GE(sender.stats().attempts, 2u);
}

TEST(Webhook, TheQueueIsBoundedAndPostNeverBlocks) {
  Receiver slow(0, [](int) {
    std::this_thread::sleep_for(300ms);
    return 500;
  });
  WebhookOptions o = fast(slow.url());
  o.max_queue = 3;
  WebhookSender sender(o);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) sender.post("backup.failed", {{"i", i}});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms);
  // One is being sent, three wait, six were dropped (or seven, if the sender had not taken the
  // first yet).
  EXPECT_GE(sender.stats().dropped, 6u);
  EXPECT_LE(sender.stats().dropped, 7u);
  sender.stop();  // does not wait for the retries
  EXPECT_EQ(sender.stats().dropped + sender.stats().delivered + sender.stats().abandoned, 10u);
}

// A receiver that never answers: a listening socket. The kernel completes the handshake and
// takes the POST into its buffers; no answer ever comes. With `trickle`, each connection gets an
// answer's first bytes one at a time, never the end (a read timeout never fires).
class SilentReceiver {
 public:
  explicit SilentReceiver(bool trickle = false) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return;
    port_ = ntohs(addr.sin_port);
    if (trickle) thread_ = std::thread([this] { trickle_answers(); });
  }
  ~SilentReceiver() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  // Waits (10 s at most) for a connection to arrive; the sender is then in the middle of a POST.
  bool connection_arrived() {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, 10000) == 1;
  }

 private:
  void trickle_answers() {
    std::vector<int> conns;
    static constexpr std::string_view kHead = "HTTP/1.1 200 OK\r\nX-Slow: ";
    size_t sent = 0;
    while (!stop_) {
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 200) == 1) conns.push_back(::accept(fd_, nullptr, nullptr));
      for (int c : conns) {
        const char byte = sent < kHead.size() ? kHead[sent] : 'x';
        (void)::send(c, &byte, 1, MSG_NOSIGNAL);
      }
      ++sent;
    }
    for (int c : conns) ::close(c);
  }
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Waits up to 30 s for `f`.
template <typename F>
bool within_30s(F f) {
  for (int i = 0; i < 3000; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

TEST(Webhook, ANoticeToAReceiverThatNeverAnswersEndsAtItsDeadline) {
  for (bool trickle : {false, true}) {
    SCOPED_TRACE(trickle ? "a receiver that answers a byte at a time" : "a silent receiver");
    SilentReceiver r(trickle);
    WebhookOptions o = fast(r.url());
    o.max_attempts = 1000;
    o.timeout = 120s;  // each wait alone would hold the notice for minutes
    o.deadline = 2s;
    WebhookSender sender(o);
    sender.post("backup.failed", {{"task", "nightly"}});
    ASSERT_TRUE(within_30s([&] { return sender.stats().abandoned == 1; }))
        << "attempts so far: " << sender.stats().attempts;
    EXPECT_EQ(sender.stats().delivered, 0u);
  }
}

TEST(Webhook, StopCutsAPostInFlight) {
  SilentReceiver r;
  WebhookOptions o = fast(r.url());
  o.timeout = 120s;
  o.deadline = 600s;
  WebhookSender sender(o);
  sender.post("backup.failed", {{"task", "nightly"}});
  ASSERT_TRUE(r.connection_arrived());
  auto begin = std::chrono::steady_clock::now();
  sender.stop();
  // Several seconds of slack for a loaded machine; without the cut it waited for the timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 10s);
  EXPECT_EQ(sender.stats().dropped, 1u);
  EXPECT_EQ(sender.stats().delivered, 0u);
}

TEST(Webhook, RedactedUrlKeepsSchemeHostAndPortOnly) {
  EXPECT_EQ(redacted_url("https://user:pw@hooks.example.com:8443/p/TOKEN?key=1"),
            "https://hooks.example.com:8443");
  EXPECT_EQ(redacted_url("http://[::1]:9/x"), "http://[::1]:9");
}

class TaskNotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/flinkbr-notify-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_.data()), nullptr);
    auto s = store::Store::open(dir_ + "/flinkbr.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(TaskNotifierTest, AFailedBackupPostsOneNoticeWithTheRecord) {
  auto task = store_->create_backup_task({.name = "nightly", .cluster = "prod"});
  ASSERT_TRUE(task) << task.error().message;
  auto rec = store_->create_backup_record({.task_id = task->id,
                                           .task_name = "nightly",
                                           .status = BackupStatus::kFailed,
                                           .started_at = 1800000000,
                                           .ended_at = 1800000007,
                                           .backup_object = "Flink",
                                           .backup_path = "/b/nightly.tar.gz",
                                           .error = "source 'ha' (zk): connection refused"});
  ASSERT_TRUE(rec) << rec.error().message;
  auto ok_rec = store_->create_backup_record({.task_id = task->id,
                                              .task_name = "nightly",
                                              .status = BackupStatus::kSucceeded,
                                              .started_at = 1800000100,
                                              .ended_at = 1800000101});
  ASSERT_TRUE(ok_rec);

  Receiver r;
  WebhookSender sender(fast(r.url()));
  task::EventBus bus;
  TaskNotifier notifier({.manager = "http://flinkbr.example:8080"}, bus, *store_, sender);
  bus.publish("backup", {{"id", rec->id}, {"task", "nightly"}, {"status", "Running"}});
  bus.publish("backup", {{"id", rec->id}, {"task", "nightly"}, {"status", "Failed"}});
  bus.publish("backup", {{"id", rec->id}, {"task", "nightly"}, {"status", "Failed"}});  // again
  bus.publish("backup", {{"id", ok_rec->id}, {"task", "nightly"}, {"status", "Succeeded"}});
  bus.publish("service", {{"cluster", "prod"}, {"state", "stopped"}});
  auto got = r.wait_for(1);
  std::this_thread::sleep_for(300ms);  // nothing else comes
  got = r.got();
  ASSERT_EQ(got.size(), 1u);
  auto n = nlohmann::json::parse(got[0].body);
  EXPECT_EQ(n["event"], "backup.failed");
  EXPECT_EQ(n["kind"], "backup");
  EXPECT_EQ(n["task"], "nightly");
  EXPECT_EQ(n["status"], "Failed");
  EXPECT_EQ(n["error"], "source 'ha' (zk): connection refused");
  EXPECT_EQ(n["started_at"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(n["ended_at"], "2027-01-15T08:00:07Z");
  EXPECT_EQ(n["record_id"], rec->id);
  EXPECT_EQ(n["path"], "/b/nightly.tar.gz");
  EXPECT_EQ(n["cluster"], "prod");
  EXPECT_EQ(n["data_source"], "Flink");
  EXPECT_EQ(n["manager"], "http://flinkbr.example:8080");
}

TEST_F(TaskNotifierTest, SucceededOnlyWhenAskedAndRestoreAttemptsOnceEach) {
  auto task = store_->create_restore_task(
      {.name = "undo", .cluster = "prod", .params = {.path = "/b/x.tar.gz"}});
  ASSERT_TRUE(task) << task.error().message;
  auto a1 = store_->create_attempt({.task_id = task->id,
                                    .number = 1,
                                    .state = RestoreState::kFailed,
                                    .error = "the Flink service of cluster 'prod' is running",
                                    .started_at = 1800000000,
                                    .ended_at = 1800000001});
  ASSERT_TRUE(a1) << a1.error().message;
  auto a2 = store_->create_attempt({.task_id = task->id,
                                    .number = 2,
                                    .state = RestoreState::kSucceeded,
                                    .started_at = 1800000100,
                                    .ended_at = 1800000130});
  ASSERT_TRUE(a2);

  Receiver r;
  WebhookSender sender(fast(r.url()));
  task::EventBus bus;
  TaskNotifier notifier({.on_success = true, .manager = "m"}, bus, *store_, sender);
  bus.publish("restore", {{"name", "undo"}, {"state", "Failed"}, {"attempt", 1}});
  bus.publish("restore", {{"name", "undo"}, {"state", "Failed"}, {"attempt", 1}});
  bus.publish("restore", {{"name", "undo"}, {"state", "Succeeded"}, {"attempt", 2}});
  auto got = r.wait_for(2);
  std::this_thread::sleep_for(300ms);
  got = r.got();
  ASSERT_EQ(got.size(), 2u);
  auto f = nlohmann::json::parse(got[0].body);
  EXPECT_EQ(f["event"], "restore.failed");
  EXPECT_EQ(f["attempt"], 1);
  EXPECT_EQ(f["record_id"], nullptr);
  EXPECT_EQ(f["path"], "/b/x.tar.gz");
  EXPECT_EQ(f["error"], "the Flink service of cluster 'prod' is running");
  auto s = nlohmann::json::parse(got[1].body);
  EXPECT_EQ(s["event"], "restore.succeeded");
  EXPECT_EQ(s["attempt"], 2);
  EXPECT_EQ(s["ended_at"], "2027-01-15T08:02:10Z");

  // Without on_success, a Succeeded attempt posts nothing.
  TaskNotifier quiet({.on_success = false}, bus, *store_, sender);
  task::Event ev{.seq = 1,
                 .type = "restore",
                 .data = {{"name", "undo"}, {"state", "Succeeded"}, {"attempt", 2}}};
  EXPECT_TRUE(quiet.notice_for(ev).is_null());
}

}  // namespace
}  // namespace flinkbr::notify
