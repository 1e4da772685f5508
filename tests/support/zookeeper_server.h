// Test support: a real ZooKeeper server (Debian's `zookeeper` package) on a free loopback port
// with a fresh data directory, and a small synchronous client to set up and inspect trees.
// Header-only; used by the zookeeper source's tests and the end-to-end tests.
#pragma once

#ifndef THREADED
#define THREADED
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/ports.h"

namespace flinkbr::testsupport {

inline constexpr const char* kZooKeeperJar = "/usr/share/java/zookeeper.jar";

// Sends a four-letter word; the answer, or "" when nothing listens.
inline std::string four_letter(int port, const std::string& word) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{1, 0};  // a listener that never answers must not hang the fixture
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::write(fd, word.data(), word.size()) == static_cast<ssize_t>(word.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

class ZkServer {
 public:
  // Starts the server; the reason in error() when it cannot.
  explicit ZkServer(int heap_mb = 512) {
    if (::access("/usr/bin/java", X_OK) != 0 && std::system("command -v java >/dev/null") != 0) {
      error_ = "java is not installed (run scripts/install-deps.sh: default-jre-headless)";
      return;
    }
    if (::access(kZooKeeperJar, R_OK) != 0) {
      error_ = std::string(kZooKeeperJar) + " is missing (run scripts/install-deps.sh: zookeeper)";
      return;
    }
    std::string tmpl = (std::filesystem::temp_directory_path() / "flinkbr-zk-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    port_ = free_port();
    {
      std::ofstream cfg(dir_ + "/zoo.cfg");
      cfg << "tickTime=500\nminSessionTimeout=1000\ndataDir=" << dir_
          << "/data\nclientPort=" << port_
          << "\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
          << "4lw.commands.whitelist=srvr,ruok,mntr\nmaxClientCnxns=0\n";
    }
    std::filesystem::create_directories(dir_ + "/data");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // no server left behind when a test crashes
      std::string log = dir_ + "/server.log";
      FILE* f = std::freopen(log.c_str(), "w", stdout);
      if (f) ::dup2(::fileno(stdout), 2);
      std::string cfg = dir_ + "/zoo.cfg";
      const std::string heap = "-Xmx" + std::to_string(heap_mb) + "m";
      ::execlp("java", "java", heap.c_str(), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Dzookeeper.jmx.log4j.disable=true", "-cp", kZooKeeperJar,
               "org.apache.zookeeper.server.ZooKeeperServerMain", cfg.c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (four_letter(port_, "srvr").find("Mode: standalone") != std::string::npos) return;
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "ZooKeeper exited at start; see " + dir_ + "/server.log";
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    error_ = "ZooKeeper did not report Mode: standalone within 30 s; see " + dir_ + "/server.log";
  }
  ~ZkServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  const std::string& error() const { return error_; }
  std::string connect() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  // SIGSTOP / SIGCONT: a server that stops answering without closing its connections. pause()
  // returns once every thread of the server is stopped: SIGSTOP is delivered asynchronously, and
  // on a busy machine a thread may still answer a request sent just after kill() returned.
  void pause() const {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGSTOP);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!all_stopped() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void resume() const {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
  }
  const std::string& dir() const { return dir_; }

 private:
  // Whether every thread of the server is in state T (stopped), from /proc.
  bool all_stopped() const {
    const std::string tasks = "/proc/" + std::to_string(pid_) + "/task";
    std::error_code ec;
    for (const auto& t : std::filesystem::directory_iterator(tasks, ec)) {
      std::ifstream in(t.path() / "stat");
      std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const size_t close = stat.rfind(')');
      if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'T' &&
          stat[close + 2] != 't')
        return false;
    }
    return !ec;
  }
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

class ZkClient {
 public:
  // `digest`: "user:password" added to the session when not empty.
  explicit ZkClient(const std::string& connect, std::string digest = {}) {
    zh_ = zookeeper_init2(connect.c_str(), &watcher, 5000, nullptr, this, 0, [](const char*) {});
    std::unique_lock lk(m_);
    cv_.wait_for(lk, std::chrono::seconds(10), [&] { return connected_; });
    lk.unlock();
    if (!digest.empty()) {
      std::string c = digest;
      EXPECT_EQ(zoo_add_auth(
                    zh_, "digest", c.data(), static_cast<int>(c.size()), [](int, const void*) {},
                    nullptr),
                ZOK);
      // A synchronous read after add_auth orders it before what follows.
      struct Stat st;
      zoo_exists(zh_, "/", 0, &st);
    }
  }
  ~ZkClient() { zookeeper_close(zh_); }
  zhandle_t* zh() const { return zh_; }

  std::string create(const std::string& path, std::optional<std::string> data,
                     int mode = ZOO_PERSISTENT, ACL_vector* acl = &ZOO_OPEN_ACL_UNSAFE) {
    char buf[512];
    int rc = zoo_create(zh_, path.c_str(), data ? data->data() : nullptr,
                        data ? static_cast<int>(data->size()) : -1, acl, mode, buf, sizeof buf);
    EXPECT_EQ(rc, ZOK) << "create " << path << ": " << zerror(rc);
    return buf;
  }
  void set(const std::string& path, std::optional<std::string> data) {
    int rc = zoo_set(zh_, path.c_str(), data ? data->data() : nullptr,
                     data ? static_cast<int>(data->size()) : -1, -1);
    EXPECT_EQ(rc, ZOK) << "set " << path << ": " << zerror(rc);
  }
  void remove_tree(const std::string& path) {
    String_vector sv{};
    if (zoo_get_children(zh_, path.c_str(), 0, &sv) != ZOK) return;
    for (int i = 0; i < sv.count; ++i) remove_tree(path + "/" + sv.data[i]);
    deallocate_String_vector(&sv);
    int rc = zoo_delete(zh_, path.c_str(), -1);
    EXPECT_EQ(rc, ZOK) << "delete " << path << ": " << zerror(rc);
  }
  void set_acl(const std::string& path, ACL_vector* acl) {
    int rc = zoo_set_acl(zh_, path.c_str(), -1, acl);
    EXPECT_EQ(rc, ZOK) << "set_acl " << path << ": " << zerror(rc);
  }

  // path -> "E|" for ephemeral, else "<data or NULL>|<acl>"
  std::map<std::string, std::string> snapshot(const std::string& path) {
    std::map<std::string, std::string> out;
    walk(path, out);
    return out;
  }

 private:
  void walk(const std::string& path, std::map<std::string, std::string>& out) {
    std::vector<char> buf(1 << 20);
    int len = static_cast<int>(buf.size());
    struct Stat st;
    int rc = zoo_get(zh_, path.c_str(), 0, buf.data(), &len, &st);
    if (rc != ZOK) {
      ADD_FAILURE() << "get " << path << ": " << zerror(rc);
      return;
    }
    std::string v = st.ephemeralOwner ? "E"
                    : len < 0         ? "NULL"
                                      : "=" + std::string(buf.data(), static_cast<size_t>(len));
    ACL_vector acl{};
    if (zoo_get_acl(zh_, path.c_str(), &acl, &st) == ZOK) {
      for (int i = 0; i < acl.count; ++i)
        v += std::string("|") + acl.data[i].id.scheme + ":" + acl.data[i].id.id + ":" +
             std::to_string(acl.data[i].perms);
      deallocate_ACL_vector(&acl);
    }
    out[path] = v;
    String_vector sv{};
    if (zoo_get_children(zh_, path.c_str(), 0, &sv) != ZOK) return;
    for (int i = 0; i < sv.count; ++i) walk(path + "/" + sv.data[i], out);
    deallocate_String_vector(&sv);
  }
  static void watcher(zhandle_t*, int type, int state, const char*, void* ctx) {
    auto* c = static_cast<ZkClient*>(ctx);
    if (type != ZOO_SESSION_EVENT) return;
    std::lock_guard lk(c->m_);
    c->connected_ = state == ZOO_CONNECTED_STATE;
    c->cv_.notify_all();
  }
  zhandle_t* zh_ = nullptr;
  std::mutex m_;
  std::condition_variable cv_;
  bool connected_ = false;
};

}  // namespace flinkbr::testsupport
