// Test support: one @20minutes/s3rver per test process, started on first use on a free loopback
// port (node --openssl-legacy-provider tests/servers/s3rver.js, which runs its lib/cli.js) with a
// fresh data directory and the bucket kBucket, and stopped at exit. When node or the package is
// missing (tests/servers/s3rver.sh installs it), error() says why: the tests fail with that message
// rather than skip.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "storage/s3/s3_driver.h"

namespace flinkbr::storage::testing {

inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

class S3rver {
 public:
  static constexpr const char* kBucket = "flinkbr-test";

  static S3rver& instance() {
    static S3rver server;
    return server;
  }

  const std::string& error() const { return error_; }
  const std::string& endpoint() const { return endpoint_; }

  S3Options options() const {
    S3Options o;
    o.endpoint = endpoint_;
    o.region = "us-east-1";
    o.credentials = {"S3RVER", "S3RVER"};
    o.allow_small_parts = true;
    o.retry_base_ms = 20;
    return o;
  }

  ~S3rver() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

 private:
  S3rver() { start(); }

  void start() {
    const std::string servers = FLINKBR_TEST_SERVERS_DIR;
    const std::string cli = servers + "/node_modules/@20minutes/s3rver/lib/cli.js";
    if (std::system("command -v node >/dev/null 2>&1") != 0) {
      error_ =
          "node is not installed: the S3 tests need Node.js and @20minutes/s3rver "
          "(apt-get install nodejs npm; then tests/servers/s3rver.sh)";
      return;
    }
    if (!std::filesystem::exists(cli)) {
      std::string cmd = "sh '" + servers + "/s3rver.sh' >&2";
      if (std::system(cmd.c_str()) != 0 || !std::filesystem::exists(cli)) {
        error_ =
            "@20minutes/s3rver is not installed and tests/servers/s3rver.sh could not "
            "install it (see above); the S3 tests need it";
        return;
      }
    }
    std::string pattern =
        (std::filesystem::temp_directory_path() / "flinkbr-s3rver-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = pattern;
    const std::string data = dir_ + "/data";
    const std::string log = dir_ + "/s3rver.log";
    std::filesystem::create_directories(data);
    int port = free_loopback_port();
    const std::string port_s = std::to_string(port);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      FILE* f = std::freopen(log.c_str(), "w", stdout);
      if (f) ::dup2(::fileno(stdout), 2);
      const std::string launcher = servers + "/s3rver.js";
      ::execlp("node", "node", "--openssl-legacy-provider", launcher.c_str(), "-d", data.c_str(),
               "-a", "127.0.0.1", "-p", port_s.c_str(), "--configure-bucket", kBucket,
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (pid_ < 0) {
      error_ = "fork failed";
      return;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        std::ifstream in(log);
        std::stringstream ss;
        ss << in.rdbuf();
        error_ = "s3rver exited at start: " + ss.str();
        return;
      }
      if (port_open(port)) {
        endpoint_ = "http://127.0.0.1:" + port_s;
        // --configure-bucket may finish after the port opens: wait for the bucket.
        auto driver = make_s3_driver(options());
        while (driver && std::chrono::steady_clock::now() < deadline) {
          if ((*driver)->stat(kBucket)) return;
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        error_ = "s3rver did not create bucket " + std::string(kBucket);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    error_ = "s3rver did not open port " + port_s + " within 30 s";
  }

  std::string error_;
  std::string endpoint_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace flinkbr::storage::testing
