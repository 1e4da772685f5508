#include "service/service_controller.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace flinkbr::service {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A placeholder service: a `sleep` daemon whose pid lives in a pid file of a temp directory.
class PlaceholderService : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "flinkbr-service-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    pidfile_ = dir_ + "/service.pid";
    cfg_.start = "sleep 1000 >/dev/null 2>&1 & echo $! > " + pidfile_;
    // Not just `kill -0`: when PID 1 of a container does not reap orphans, a killed daemon stays
    // a zombie, which `kill -0` still finds. A zombie counts as stopped.
    cfg_.status = "p=$(cat " + pidfile_ +
                  " 2>/dev/null) && [ -r /proc/$p/stat ] && "
                  "[ \"$(sed 's/.*) //' /proc/$p/stat | cut -c1)\" != Z ] && exit 0 || exit 3";
    cfg_.stop = "kill $(cat " + pidfile_ + ")";
    cfg_.timeout_seconds = 10;
  }
  void TearDown() override {
    std::ifstream in(pidfile_);
    int pid = 0;
    if (in >> pid && pid > 1) ::kill(pid, SIGKILL);
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::string pidfile_;
  config::ServiceConfig cfg_;
};

TEST_F(PlaceholderService, StatusStartStop) {
  auto c = make_controller(cfg_);
  EXPECT_EQ(c->status().state, ServiceState::kStopped);
  EXPECT_EQ(c->status().detail, "status command exited 3");

  ASSERT_TRUE(c->start(10s));
  EXPECT_EQ(c->status().state, ServiceState::kRunning);
  // Starting a running service is a no-op (the command is not run twice).
  std::string first_pid;
  std::getline(std::ifstream(pidfile_), first_pid);
  ASSERT_TRUE(c->start(10s));
  std::string second_pid;
  std::getline(std::ifstream(pidfile_), second_pid);
  EXPECT_EQ(first_pid, second_pid);

  auto t0 = Clock::now();
  auto stopped = c->stop(10s);
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_EQ(c->status().state, ServiceState::kStopped);
  ASSERT_TRUE(c->stop(10s));  // already stopped: ok, no failing `kill`
}

TEST_F(PlaceholderService, StatusExitOtherThan0Or3IsUnknown) {
  cfg_.status = "echo 'cannot reach systemd'; echo more; exit 1";
  auto s = make_controller(cfg_)->status();
  EXPECT_EQ(s.state, ServiceState::kUnknown);
  EXPECT_EQ(s.detail, "status command exited 1: cannot reach systemd");
}

TEST_F(PlaceholderService, NothingConfiguredIsUnknown) {
  auto s = make_controller(config::ServiceConfig{})->status();
  EXPECT_EQ(s.state, ServiceState::kUnknown);
  EXPECT_EQ(s.detail, "no status command or rest_url configured");
}

TEST_F(PlaceholderService, MissingCommandsAreRefused) {
  cfg_.stop.clear();
  cfg_.start.clear();
  auto c = make_controller(cfg_);
  auto r = c->stop(1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(r.error().message, "no stop command configured for this cluster");
  r = c->start(1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "no start command configured for this cluster");
}

TEST_F(PlaceholderService, FailingCommandNamesExitCodeAndOutput) {
  cfg_.start = "echo 'flink: no such file' >&2; exit 2";
  auto r = make_controller(cfg_)->start(5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(r.error().message, "start command exited 2: flink: no such file");
}

TEST_F(PlaceholderService, ServiceThatDoesNotStopTimesOut) {
  auto c = make_controller(cfg_);
  ASSERT_TRUE(c->start(10s));
  cfg_.stop = "true";  // "succeeds" but leaves the service running
  auto c2 = make_controller(cfg_);
  auto t0 = Clock::now();
  auto r = c2->stop(1s);
  auto elapsed = Clock::now() - t0;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTimeout);
  EXPECT_TRUE(r.error().message.starts_with("the service is still running after 1 s"))
      << r.error().message;
  EXPECT_GE(elapsed, 1s);
  EXPECT_LT(elapsed, 3s);
}

TEST_F(PlaceholderService, ConcurrentStartsRunTheCommandOnce) {
  cfg_.start = "echo x >> " + dir_ + "/starts; " + cfg_.start;
  auto c = make_controller(cfg_);
  std::thread a([&] { EXPECT_TRUE(c->start(10s)); });
  std::thread b([&] { EXPECT_TRUE(c->start(10s)); });
  a.join();
  b.join();
  std::ifstream in(dir_ + "/starts");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(all, "x\n");
}

// A fake JobManager REST endpoint.
class FakeJobManager {
 public:
  explicit FakeJobManager(int status) {
    server_.Get("/overview", [status](const httplib::Request&, httplib::Response& res) {
      res.status = status;
      res.set_content(R"({"taskmanagers":1})", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) std::this_thread::sleep_for(5ms);
  }
  ~FakeJobManager() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A port with nothing listening: bind, note the port, close.
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(RestProbe, AnsweringJobManagerMeansRunningWhateverTheCommandSays) {
  FakeJobManager jm(200);
  config::ServiceConfig cfg;
  cfg.rest_url = jm.url();
  auto s = make_controller(cfg)->status();
  EXPECT_EQ(s.state, ServiceState::kRunning) << s.detail;

  cfg.status = "exit 3";
  cfg.rest_url = jm.url() + "/";  // a trailing slash is fine
  s = make_controller(cfg)->status();
  EXPECT_EQ(s.state, ServiceState::kRunning) << s.detail;
  EXPECT_NE(s.detail.find("answered 200"), std::string::npos) << s.detail;
}

TEST(RestProbe, NotAnsweringWithoutCommandIsUnknown) {
  config::ServiceConfig cfg;
  cfg.rest_url = "http://127.0.0.1:" + std::to_string(unused_port());
  auto t0 = Clock::now();
  auto s = make_controller(cfg)->status();
  EXPECT_EQ(s.state, ServiceState::kUnknown);
  EXPECT_NE(s.detail.find("no status command configured"), std::string::npos) << s.detail;
  EXPECT_LT(Clock::now() - t0, 4s);

  // With a status command, the command decides.
  cfg.status = "exit 3";
  s = make_controller(cfg)->status();
  EXPECT_EQ(s.state, ServiceState::kStopped) << s.detail;
}

TEST(RestProbe, Non200FallsBackToTheCommand) {
  FakeJobManager jm(503);
  config::ServiceConfig cfg;
  cfg.rest_url = jm.url();
  cfg.status = "exit 3";
  auto s = make_controller(cfg)->status();
  EXPECT_EQ(s.state, ServiceState::kStopped) << s.detail;
  EXPECT_NE(s.detail.find("answered 503"), std::string::npos) << s.detail;
}

TEST(ServiceState, Names) {
  EXPECT_EQ(to_string(ServiceState::kRunning), "running");
  EXPECT_EQ(to_string(ServiceState::kStopped), "stopped");
  EXPECT_EQ(to_string(ServiceState::kUnknown), "unknown");
}

}  // namespace
}  // namespace flinkbr::service
