// A fake ZooKeeper server on a loopback socket, scripted per connection, for the tests of the
// pipelined connection (src/source/zookeeper/pipeline.h): what a real 3.8 server never sends
// (torn or lying frames, held connections) and what older servers do (3.4 drops a multiRead, 3.5
// answers it UNIMPLEMENTED and closes the session: ZooKeeperServer.submitRequest of those
// versions). Frames are built from ZooKeeper's jute records (zookeeper.jute): every integer
// big-endian, every packet framed by its length.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace flinkbr::source::zookeeper::fake {

using namespace std::chrono_literals;

inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
inline std::string be32i(int32_t v) {
  return be32(static_cast<uint32_t>(v));
}
inline int32_t i32(const std::string& f, size_t at) {
  auto b = [&](size_t i) { return uint32_t{static_cast<unsigned char>(f[at + i])}; };
  return static_cast<int32_t>((b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3));
}
inline std::string frame(const std::string& body) {
  return be32i(static_cast<int32_t>(body.size())) + body;
}
// A framed answer: ReplyHeader {xid, zxid 0, err} and `body`.
inline std::string answer(int32_t xid, int32_t err, const std::string& body = {}) {
  return frame(be32i(xid) + be32(0) + be32(0) + be32i(err) + body);
}
// A Stat of 68 bytes whose version is `version`.
inline std::string stat(int version = 7) {
  std::string s(68, '\0');
  s[35] = static_cast<char>(version);
  return s;
}
inline std::string data_body(const std::string& v) {
  return be32i(static_cast<int32_t>(v.size())) + v + stat();
}
// MultiResponse entries and its end.
inline std::string multi_ok(const std::string& v) {
  return be32i(4) + '\0' + be32(0) + data_body(v);
}
// A getChildren result of a multiRead (GetChildrenResponse: the names, no Stat).
inline std::string multi_children(const std::vector<std::string>& names) {
  std::string out = be32i(8) + '\0' + be32(0) + be32i(static_cast<int32_t>(names.size()));
  for (const auto& n : names) out += be32i(static_cast<int32_t>(n.size())) + n;
  return out;
}
inline std::string multi_err(int32_t err) {
  return be32i(-1) + '\0' + be32i(err) + be32i(err);
}
inline std::string multi_end() {
  return be32i(-1) + '\1' + be32i(-1);
}
// A WatcherEvent (NodeDataChanged) on xid -1.
inline std::string watch_event() {
  return answer(-1, 0, be32i(3) + be32i(3) + be32i(2) + "/x");
}

// A request as the fake server read it.
struct Request {
  int32_t xid = 0;
  int32_t type = 0;
  std::vector<std::string> paths;  // one, or a multiRead's
  std::vector<int32_t> ops;        // a multiRead's: 4 getData, 8 getChildren
};

// The results a multiRead of `r` gets from a server where every znode holds "v" + its path and
// has the children a and bb.
inline std::string multi_all(const Request& r) {
  std::string body;
  for (size_t i = 0; i < r.ops.size(); ++i)
    body += r.ops[i] == 8 ? multi_children({"a", "bb"}) : multi_ok("v" + r.paths[i]);
  return body;
}

// One accepted connection, for a script to talk over.
class Peer {
 public:
  Peer(int fd, const std::atomic<bool>& stop) : fd_(fd), stop_(stop) {}
  bool stopping() const { return stop_; }
  bool read_frame(std::string& f) {
    char len[4];
    if (!read_exactly(len, 4)) return false;
    f.resize(static_cast<uint32_t>(i32(std::string(len, 4), 0)));
    return read_exactly(f.data(), f.size());
  }
  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // One byte per segment (TCP_NODELAY, a pause between): every split a reader can meet.
  bool send_bytewise(const std::string& s) {
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (char c : s) {
      if (::send(fd_, &c, 1, MSG_NOSIGNAL) != 1) return false;
      std::this_thread::sleep_for(20us);
    }
    return true;
  }
  // Reads the ConnectRequest and grants a session of `timeout_ms`.
  bool hello(int32_t timeout_ms, bool bytewise = false) {
    std::string f;
    if (!read_frame(f)) return false;
    const std::string body = be32(0) + be32i(timeout_ms) + be32(0) + be32(42) + be32(16) +
                             std::string(16, '\0') + std::string(1, '\0');
    return bytewise ? send_bytewise(frame(body)) : send(frame(body));
  }
  // Answers the multiRead probe (xid 1, then a ping) as 3.6 and later do with `multi`, else as
  // 3.4 does (drops it).
  bool probe(bool multi, bool bytewise = false) {
    std::string f;
    if (!read_frame(f) || i32(f, 4) != 22) return false;
    if (!read_frame(f) || i32(f, 4) != 11) return false;
    std::string out = multi ? answer(1, 0, multi_ok("r") + multi_end()) : "";
    out += answer(-2, 0);
    return bytewise ? send_bytewise(out) : send(out);
  }
  // The next request other than a ping (answered).
  bool next(Request& r) {
    std::string f;
    for (;;) {
      if (!read_frame(f) || f.size() < 8) return false;
      r.xid = i32(f, 0);
      r.type = i32(f, 4);
      r.paths.clear();
      r.ops.clear();
      if (r.type == 11) {
        if (!send(answer(-2, 0))) return false;
        continue;
      }
      size_t at = 8;
      auto path = [&] {
        auto n = static_cast<size_t>(i32(f, at));
        r.paths.push_back(f.substr(at + 4, n));
        at += 4 + n;
      };
      if (r.type == 22) {
        // MultiHeader {getData or getChildren, false, -1}, the path, the watch.
        while (i32(f, at) == 4 || i32(f, at) == 8) {
          r.ops.push_back(i32(f, at));
          at += 9;
          path();
          at += 1;
        }
      } else if (r.type != -11) {
        path();
      }
      return true;
    }
  }

 private:
  bool read_exactly(char* to, size_t n) {
    while (n > 0) {
      ssize_t got = ::recv(fd_, to, n, 0);
      if (got <= 0) return false;
      to += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }
  int fd_;
  const std::atomic<bool>& stop_;
};

// A fake server on loopback: each connection is handed to `script`, one at a time.
class Fake {
 public:
  explicit Fake(std::function<void(Peer&)> script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("the fake server cannot listen");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        conn_ = c;
        Peer peer(c, stop_);
        script_(peer);
        conn_ = -1;
        ::close(c);
      }
    });
  }
  ~Fake() {
    stop();
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  // Tells the script to stop, and unblocks it.
  void stop() {
    stop_ = true;
    if (int c = conn_.load(); c >= 0) ::shutdown(c, SHUT_RDWR);
  }
  std::string connect() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::function<void(Peer&)> script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> conn_{-1};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace flinkbr::source::zookeeper::fake
