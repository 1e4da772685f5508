// Test support: a TCP forwarder on loopback that a test can cut and restore, to take a server
// away from one client only (a network cut between one manager and PostgreSQL while the others
// still reach it). Cut, the listening socket is closed, so a new connection is refused, and
// every forwarded connection is closed, so the client's session ends as when a link drops.
// Header-only; one thread forwards every connection with poll().
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace flinkbr::testsupport {

class TcpProxy {
 public:
  // Listens on a free loopback port and forwards each connection to 127.0.0.1:target_port.
  explicit TcpProxy(int target_port) : target_port_(target_port) {
    if (::pipe2(wake_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    listen_fd_ = listen_on(0);
    if (listen_fd_ < 0) throw std::runtime_error("the proxy cannot listen");
    thread_ = std::thread([this] { loop(); });
  }
  ~TcpProxy() {
    command(Command::kStop);
    thread_.join();
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  // Closes the listener and every forwarded connection; returns once they are closed.
  void cut() { command(Command::kCut); }
  // Listens again on the same port.
  void restore() { command(Command::kRestore); }

 private:
  enum class Command { kNone, kCut, kRestore, kStop };

  // A listening socket on 127.0.0.1:port (0: any free port, remembered in port_); -1 on error.
  int listen_on(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      return -1;
    }
    port_ = ntohs(a.sin_port);
    return fd;
  }

  int connect_target() const {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  // Sends the caller's command to the loop and waits until it has been carried out.
  void command(Command c) {
    std::unique_lock lock(mu_);
    command_ = c;
    const char byte = 1;
    if (::write(wake_[1], &byte, 1) != 1) return;
    done_.wait(lock, [&] { return command_ == Command::kNone; });
  }

  void close_all() {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    for (auto& [a, b] : pairs_) {
      ::close(a);
      ::close(b);
    }
    pairs_.clear();
  }

  // Copies what `from` has to `to`; false when the connection is over.
  static bool forward(int from, int to) {
    char buf[65536];
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::write(to, buf + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      off += w;
    }
    return true;
  }

  void loop() {
    for (;;) {
      std::vector<pollfd> fds{{wake_[0], POLLIN, 0}};
      if (listen_fd_ >= 0) fds.push_back({listen_fd_, POLLIN, 0});
      const size_t first_pair = fds.size();
      for (auto& [a, b] : pairs_) {
        fds.push_back({a, POLLIN, 0});
        fds.push_back({b, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents) {
        char byte;
        (void)::read(wake_[0], &byte, 1);
        std::lock_guard lock(mu_);
        const Command c = std::exchange(command_, Command::kNone);
        if (c == Command::kCut || c == Command::kStop) close_all();
        if (c == Command::kRestore && listen_fd_ < 0) listen_fd_ = listen_on(port_);
        done_.notify_all();
        if (c == Command::kStop) return;
        continue;  // the descriptors polled may be closed now
      }
      std::vector<std::pair<int, int>> alive;
      if (first_pair == 2 && fds[1].revents) {
        int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
          int server = connect_target();
          if (server < 0)
            ::close(client);
          else
            alive.emplace_back(client, server);  // polled from the next round
        }
      }
      for (size_t i = 0; i < pairs_.size(); ++i) {
        auto [a, b] = pairs_[i];
        const short ra = fds[first_pair + 2 * i].revents;
        const short rb = fds[first_pair + 2 * i + 1].revents;
        bool ok = true;
        if (ra) ok = forward(a, b);
        if (ok && rb) ok = forward(b, a);
        if (ok) {
          alive.emplace_back(a, b);
        } else {
          ::close(a);
          ::close(b);
        }
      }
      pairs_ = std::move(alive);
    }
  }

  const int target_port_;
  int port_ = 0;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::vector<std::pair<int, int>> pairs_;  // (client, server), touched by the loop only
  std::mutex mu_;
  std::condition_variable done_;
  Command command_ = Command::kNone;
  std::thread thread_;
};

}  // namespace flinkbr::testsupport
