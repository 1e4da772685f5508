#include "source/zookeeper/pipeline.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

namespace flinkbr::source::zookeeper {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kReadChunk = 256 * 1024;  // bytes of answers read at once, at least
constexpr milliseconds kCloseWait{1000};   // for the answer to closeSession, at most
// A gathered multiRead goes out at once when fewer requests of its pipeline than this wait for
// the server's answer: the server must never run out of work because of a batch.
constexpr size_t kFlushBelow = 8;
// Reads of answers in one round of the I/O thread, at most: a server that always has something
// to send (a stream of events, hostile or not) must not keep the thread from sending requests
// and from seeing that it is to stop.
constexpr int kReadsPerRound = 16;

int ms_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, 60'000));
}

uint32_t be32(const char* p) {
  unsigned char b[4];
  std::memcpy(b, p, 4);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

// "10.0.0.1:2181", "[::1]:2181" or "::1:2181" (how the C client gives an IPv6 server) as a host
// and a port.
std::pair<std::string, std::string> host_port(const std::string& at) {
  size_t colon = at.rfind(':');
  std::string host = colon == std::string::npos ? at : at.substr(0, colon);
  std::string port = colon == std::string::npos ? "2181" : at.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, port};
}

// host_port's inverse: "10.0.0.1:2181", "[::1]:2181".
std::string endpoint(const std::string& host, const std::string& port) {
  return host.find(':') == std::string::npos ? host + ":" + port : "[" + host + "]:" + port;
}

// Sends all of `data` before `deadline`; an errno, ETIMEDOUT, or 0.
int send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return errno;
    pollfd pfd{fd, POLLOUT, 0};
    if (::poll(&pfd, 1, ms_until(deadline)) == 0) return ETIMEDOUT;
  }
  return 0;
}

// Reads one frame (without its length) before `deadline`: an errno, ETIMEDOUT, ECONNRESET for
// the end of the stream, or EPROTO for a length out of range.
int recv_frame(int fd, std::string& frame, Clock::time_point deadline) {
  auto read_exactly = [&](char* to, size_t n) -> int {
    while (n > 0) {
      ssize_t got = ::recv(fd, to, n, 0);
      if (got > 0) {
        to += got;
        n -= static_cast<size_t>(got);
        continue;
      }
      if (got == 0) return ECONNRESET;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return errno;
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, ms_until(deadline)) == 0) return ETIMEDOUT;
    }
    return 0;
  };
  char len[4];
  if (int err = read_exactly(len, 4)) return err;
  uint32_t n = be32(len);
  if (n > wire::kMaxFrame) return EPROTO;
  frame.resize(n);
  return read_exactly(frame.data(), n);
}

}  // namespace

Result<std::unique_ptr<Pipeline>> Pipeline::open(const Params& p, const Session& s) {
  // The server the C session's socket is connected to (getpeername). Not
  // zoo_get_current_server: it formats into one static buffer of the C client, which the I/O
  // threads of every session in the process also format into when they log a connection, so
  // what it gives may be another session's server, another ZooKeeper's even, or torn.
  for (int tries = 1;; ++tries) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (zookeeper_get_connected_host(s.zh(), reinterpret_cast<sockaddr*>(&addr), &len) &&
        ::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                      NI_NUMERICHOST | NI_NUMERICSERV) == 0)
      return open_at(p, endpoint(host, serv));
    // Between servers (the C client reconnects on its own): wait for it a moment.
    if (tries == 20)
      return make_error(Errc::kUnavailable,
                        "the ZooKeeper session of " + p.connect + " is not connected", {}, true);
    std::this_thread::sleep_for(milliseconds(50));
  }
}

Result<std::unique_ptr<Pipeline>> Pipeline::open_at(const Params& p, const std::string& server) {
  auto pl = TRY(connect(p, server, true));
  if (!pl) pl = TRY(connect(p, server, false));  // ZooKeeper 3.5 closed the first session
  pl->wake_ = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!pl->wake_) return errno_error("creating an eventfd for ZooKeeper at " + pl->server_, errno);
  pl->io_ = std::thread([raw = pl.get()] { raw->run(); });
  return pl;
}

Result<std::unique_ptr<Pipeline>> Pipeline::connect(const Params& p, const std::string& server,
                                                    bool probe) {
  const std::string creds = TRY(load_credentials(p));
  auto [host, port] = host_port(server);
  std::unique_ptr<Pipeline> pl(new Pipeline());
  pl->server_ = endpoint(host, port);
  const size_t slash = p.connect.find('/');
  if (slash != std::string::npos && p.connect.substr(slash) != "/")
    pl->chroot_ = p.connect.substr(slash);
  const auto deadline = Clock::now() + std::chrono::seconds(p.session_timeout_s);
  const std::string at = "ZooKeeper at " + pl->server_;
  auto unavailable = [&](const std::string& what) {
    return make_error(Errc::kUnavailable, at + " " + what, {}, true);
  };
  // A send_all or recv_frame that failed while waiting for `answer` ("" or "the ... ").
  auto io_failed = [&](int err, const std::string& answer) {
    if (err == ETIMEDOUT)
      return unavailable("did not answer " + answer + "within " +
                         std::to_string(p.session_timeout_s) + " s");
    return unavailable(std::string("closed the connection: ") + std::strerror(err));
  };

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return unavailable(std::string("cannot be resolved: ") + gai_strerror(rc));
  int last_err = ECONNREFUSED;
  for (addrinfo* a = found; a && !pl->fd_; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd) {
      last_err = errno;
      continue;
    }
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_err = errno;
        continue;
      }
      pollfd pfd{fd.get(), POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (::poll(&pfd, 1, ms_until(deadline)) == 0) {
        last_err = ETIMEDOUT;
        continue;
      }
      if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        last_err = err ? err : errno;
        continue;
      }
    }
    pl->fd_ = std::move(fd);
  }
  ::freeaddrinfo(found);
  if (!pl->fd_) return unavailable(std::string("refused a connection: ") + std::strerror(last_err));
  // Requests go out in batches the pipeline makes itself: each should leave at once.
  int one = 1;
  (void)::setsockopt(pl->fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  std::string out, frame;
  wire::append_connect(out, static_cast<int32_t>(p.session_timeout_s * 1000));
  int err = send_all(pl->fd_.get(), out, deadline);
  if (!err) err = recv_frame(pl->fd_.get(), frame, deadline);
  if (err) return io_failed(err, "");
  auto hs = wire::decode_connect(frame);
  if (!hs) return unavailable("answered the connection with a malformed handshake");
  if (hs->timeout_ms <= 0) return unavailable("refused a new session");
  // Pings and the answer timeout follow the negotiated timeout, but never a longer one than the
  // source asked for: a server granting days (hostile, or a maxSessionTimeout set so) must not
  // make a silent server waited for days. A shorter one is the server's: its session ends then.
  pl->timeout_ms_ = static_cast<int>(std::min<int64_t>(hs->timeout_ms, p.session_timeout_s * 1000));

  if (!creds.empty()) {
    const std::string user = creds.substr(0, creds.find(':'));
    auto refused = [&](const std::string& why) {
      return make_error(Errc::kPermissionDenied,
                        at + " refused the digest credentials of '" + user + "': " + why);
    };
    out.clear();
    wire::append_auth(out, "digest", creds);
    err = send_all(pl->fd_.get(), out, deadline);
    if (!err) err = recv_frame(pl->fd_.get(), frame, deadline);
    // The server answers a refusal and closes the connection; it may be closed before the
    // answer is read.
    if (err == ECONNRESET || err == EPIPE) return refused(zerror(ZAUTHFAILED));
    if (err) return io_failed(err, "the authentication ");
    std::string_view body;
    auto h = wire::decode_header(frame, body);
    if (!h || h->xid != wire::kAuthXid)
      return unavailable("answered the authentication with something else");
    if (h->err != ZOK) return refused(zerror(h->err));
  }

  if (!probe) return pl;

  // Does the server have multiRead? A multiRead of the root, then a ping (see pipeline.h).
  std::string ops;
  wire::append_multi_op(ops, wire::kGetData, pl->chroot_.empty() ? "/" : pl->chroot_);
  out.clear();
  const int32_t probe_xid = pl->next_xid();
  wire::append_multi(out, probe_xid, ops);
  wire::append_ping(out);
  err = send_all(pl->fd_.get(), out, deadline);
  for (bool ping_answered = false; !err && !ping_answered;) {
    // recv_frame looks at the deadline only when it has nothing to read: a server streaming
    // events instead of answering must not hold open() past it.
    if (Clock::now() >= deadline) {
      err = ETIMEDOUT;
      break;
    }
    err = recv_frame(pl->fd_.get(), frame, deadline);
    if (err) break;
    std::string_view body;
    auto h = wire::decode_header(frame, body);
    if (!h) return unavailable("answered a multiRead with a malformed frame");
    if (h->xid == wire::kPingXid) {
      ping_answered = true;  // after the multiRead's answer, or instead of it (3.4)
    } else if (h->xid == probe_xid && h->err == ZUNIMPLEMENTED) {
      return std::unique_ptr<Pipeline>();  // 3.5: the session is being closed
    } else if (h->xid == probe_xid && h->err == ZOK) {
      std::vector<wire::MultiResult> results;
      if (!wire::decode_multi(body, {wire::kGetData}, results))
        return unavailable("answered a multiRead with a malformed frame");
      pl->multi_read_ = true;
    } else if (h->xid != wire::kWatchXid) {
      return unavailable("answered a multiRead with error " + std::to_string(h->err));
    }
  }
  if (err) return io_failed(err, "");
  return pl;
}

Pipeline::~Pipeline() {
  if (!io_.joinable()) return;
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  io_.join();
}

int Pipeline::aget(const std::string& path, data_completion_t done, const void* data) {
  return issue(wire::kGetData, path, reinterpret_cast<void (*)()>(done), data);
}
int Pipeline::aget_acl(const std::string& path, acl_completion_t done, const void* data) {
  return issue(wire::kGetAcl, path, reinterpret_cast<void (*)()>(done), data);
}
int Pipeline::aget_children2(const std::string& path, strings_stat_completion_t done,
                             const void* data) {
  return issue(wire::kGetChildren2, path, reinterpret_cast<void (*)()>(done), data);
}

int Pipeline::issue(wire::Op op, const std::string& path, void (*done)(), const void* data) {
  bool wake = false;
  {
    std::lock_guard lk(m_);
    if (failed_ != ZOK) return failed_;
    if (stop_) return ZCLOSING;
    std::string rooted;  // the path with the connect string's chroot, as the C client sends it
    std::string_view full = path;
    if (!chroot_.empty()) {
      rooted = path == "/" ? chroot_ : chroot_ + path;
      full = rooted;
    }
    if ((op == wire::kGetData || op == wire::kGetChildren2) && multi_read_) {
      // Gathered; sent when the batch is full, or by the I/O thread when the server runs short
      // of this pipeline's requests (then it is woken for it). A multiRead has no
      // getChildren2: a listing is a getChildren and then a getData of the same znode, whose
      // Stat, taken after the listing, stands for the one getChildren2 gives (its cversion is
      // then at least the listing's: a child listed is never newer than the Stat). ZooKeeper 3.6
      // and later apply no write between them anyway: a server answers a multiRead in one go, and
      // its CommitProcessor drains the reads in flight before it applies a commit.
      const size_t ops = op == wire::kGetChildren2 ? 2 : 1;
      // A listing does not take the batch past kMultiOps (what bounds its answer): the batch
      // goes without it, and it starts the next one.
      bool closed = false;
      if (batch_ops_ + ops > kMultiOps) {
        close_batch();
        closed = true;
      }
      if (op == wire::kGetChildren2) wire::append_multi_op(batch_, wire::kGetChildren, full);
      wire::append_multi_op(batch_, wire::kGetData, full);
      batch_ops_ += ops;
      batch_subs_.push_back({0, op, done, data, {}});
      if (batch_ops_ >= kMultiOps)
        close_batch();
      else if (!closed && pending_.size() >= kFlushBelow)
        return ZOK;
    } else {
      int32_t xid = next_xid();
      wire::append_request(out_, xid, op, full);
      pending_.push_back({xid, op, done, data, {}});
    }
    wake = std::exchange(armed_, false);
  }
  if (wake) {
    uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }
  return ZOK;
}

int32_t Pipeline::next_xid() {
  int32_t xid = next_xid_;
  next_xid_ = next_xid_ == INT32_MAX ? 1 : next_xid_ + 1;
  return xid;
}

void Pipeline::close_batch() {
  int32_t xid = next_xid();
  wire::append_multi(out_, xid, batch_);
  pending_.push_back({xid, wire::kMultiRead, nullptr, nullptr, std::move(batch_subs_)});
  batch_.clear();
  batch_subs_.clear();
  batch_ops_ = 0;
}

void Pipeline::complete_with(const Pending& p, int rc) {
  switch (p.op) {
    case wire::kMultiRead:
      for (const Pending& sub : p.subs) complete_with(sub, rc);
      break;
    case wire::kGetData:
      reinterpret_cast<data_completion_t>(p.done)(rc, nullptr, -1, nullptr, p.data);
      break;
    case wire::kGetAcl:
      reinterpret_cast<acl_completion_t>(p.done)(rc, nullptr, nullptr, p.data);
      break;
    default:
      reinterpret_cast<strings_stat_completion_t>(p.done)(rc, nullptr, nullptr, p.data);
      break;
  }
}

bool Pipeline::deliver(const Pending& p, int err, std::string_view body) {
  if (err != ZOK) {
    complete_with(p, err);
    return true;
  }
  switch (p.op) {
    case wire::kMultiRead: {
      multi_ops_.clear();
      for (const Pending& sub : p.subs) {
        if (sub.op == wire::kGetChildren2) multi_ops_.push_back(wire::kGetChildren);
        multi_ops_.push_back(wire::kGetData);
      }
      if (!wire::decode_multi(body, multi_ops_, multi_)) break;
      size_t k = 0;
      for (const Pending& sub : p.subs) {
        if (sub.op == wire::kGetChildren2) {
          const wire::MultiResult& names = multi_[k++];
          const wire::MultiResult& st = multi_[k++];
          // Listed, then gone before its Stat was read: gone, as a getChildren2 after it.
          if (int rc = names.err != ZOK ? names.err : st.err; rc != ZOK) {
            complete_with(sub, rc);
            continue;
          }
          children_.assign(names.names, st.data.stat);
          reinterpret_cast<strings_stat_completion_t>(sub.done)(ZOK, &children_.vector,
                                                                &children_.stat, sub.data);
          continue;
        }
        const wire::MultiResult& r = multi_[k++];
        if (r.err != ZOK) {
          complete_with(sub, r.err);
          continue;
        }
        auto* value = r.data.data ? r.data.data->data() : nullptr;
        int len = r.data.data ? static_cast<int>(r.data.data->size()) : -1;
        reinterpret_cast<data_completion_t>(sub.done)(ZOK, value, len, &r.data.stat, sub.data);
      }
      return true;
    }
    case wire::kGetData: {
      auto r = wire::decode_data(body);
      if (!r) break;
      auto* value = r->data ? r->data->data() : nullptr;
      int len = r->data ? static_cast<int>(r->data->size()) : -1;
      reinterpret_cast<data_completion_t>(p.done)(ZOK, value, len, &r->stat, p.data);
      return true;
    }
    case wire::kGetAcl:
      if (!wire::decode_acl(body, acl_)) break;
      reinterpret_cast<acl_completion_t>(p.done)(ZOK, &acl_.vector, &acl_.stat, p.data);
      return true;
    default:
      if (!wire::decode_children(body, children_)) break;
      reinterpret_cast<strings_stat_completion_t>(p.done)(ZOK, &children_.vector, &children_.stat,
                                                          p.data);
      return true;
  }
  // Failed before the completion hears of it: what it (or a thread it wakes) issues next is
  // refused, as pipeline.h promises, rather than taken and failed by fail() a moment later.
  {
    std::lock_guard lk(m_);
    if (failed_ == ZOK) failed_ = ZMARSHALLINGERROR;
  }
  complete_with(p, ZMARSHALLINGERROR);
  return false;
}

void Pipeline::fail(int rc) {
  std::deque<Pending> pending;
  {
    std::lock_guard lk(m_);
    if (failed_ == ZOK) failed_ = rc;
    rc = failed_;
    pending.swap(pending_);
    for (Pending& sub : batch_subs_) pending.push_back(std::move(sub));
    batch_subs_.clear();
    batch_.clear();
    batch_ops_ = 0;
    out_.clear();
  }
  for (const Pending& p : pending) complete_with(p, rc);
  fd_.reset();
}

void Pipeline::run() {
  const milliseconds ping_every{std::max(timeout_ms_ / 3, 1)};
  const milliseconds answer_within{std::max<int64_t>(int64_t{timeout_ms_} * 2 / 3, 1)};
  std::string wbuf;  // requests taken from out_, not all sent yet
  size_t sent = 0;   // of wbuf
  std::vector<char> rbuf(kReadChunk);
  size_t have = 0;  // bytes in rbuf
  auto last_send = Clock::now();
  auto waiting_since = Clock::now();  // the last answer, or when requests started waiting
  bool was_waiting = false;
  bool ping_out = false;
  bool answered = false;  // take_frames() completed a request

  // Decodes and completes the whole frames in rbuf; false when the stream cannot go on.
  auto take_frames = [&]() -> bool {
    size_t off = 0;
    size_t need = 0;
    bool ok = true;
    while (ok && have - off >= 4) {
      const uint32_t len = be32(rbuf.data() + off);
      if (len > wire::kMaxFrame) {
        ok = false;
        break;
      }
      if (have - off - 4 < len) {
        need = len + 4;
        break;
      }
      std::string_view frame(rbuf.data() + off + 4, len);
      off += 4 + len;
      std::string_view body;
      auto h = wire::decode_header(frame, body);
      if (!h) {
        ok = false;
      } else if (h->xid == wire::kPingXid) {
        ping_out = false;
      } else if (h->xid == wire::kWatchXid || h->xid == wire::kAuthXid) {
        // No watch is set and authentication was answered in open(): nothing to do.
      } else {
        Pending p{};
        {
          std::lock_guard lk(m_);
          if (pending_.empty() || pending_.front().xid != h->xid) {
            ok = false;  // an answer to no request of ours, or out of order
          } else {
            p = std::move(pending_.front());
            pending_.pop_front();
          }
        }
        if (ok) ok = deliver(p, h->err, body);
        answered = true;
      }
    }
    std::memmove(rbuf.data(), rbuf.data() + off, have - off);
    have -= off;
    if (need > rbuf.size()) {
      rbuf.resize(need);
    } else if (need == 0 && rbuf.size() > 4 * kReadChunk && have < kReadChunk / 2) {
      // A large answer is through: give its buffer back rather than keep it for the session.
      rbuf.resize(kReadChunk);
      rbuf.shrink_to_fit();
    }
    return ok;
  };

  bool stopping = false;
  while (!stopping) {
    size_t waiting;
    {
      std::lock_guard lk(m_);
      stopping = stop_;
      if (!batch_subs_.empty() && pending_.size() < kFlushBelow) close_batch();
      if (wbuf.size() == sent) {
        wbuf.swap(out_);
        sent = 0;
      } else {
        wbuf += out_;
      }
      out_.clear();
      waiting = pending_.size();
      armed_ = false;
    }
    if (stopping || !fd_) break;
    auto now = Clock::now();
    if (waiting > 0 && !was_waiting) waiting_since = now;
    was_waiting = waiting > 0;
    if (!ping_out && now - last_send >= ping_every) {
      wire::append_ping(wbuf);
      ping_out = true;
      if (!was_waiting) waiting_since = now;
    }
    // Send what is queued.
    while (sent < wbuf.size()) {
      ssize_t n = ::send(fd_.get(), wbuf.data() + sent, wbuf.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        last_send = now;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) break;
      fail(ZCONNECTIONLOSS);
      break;
    }
    if (!fd_) continue;
    if (sent == wbuf.size()) {
      wbuf.clear();
      sent = 0;
    }
    // Sleep until answers come, the socket takes more, new requests, or a deadline.
    auto deadline = last_send + ping_every;
    if (was_waiting || ping_out) deadline = std::min(deadline, waiting_since + answer_within);
    {
      std::lock_guard lk(m_);
      // A batch issued since the top of the loop is sent by this thread alone (issue() wakes
      // it only when it is armed): going to sleep on it would hold it until the next ping.
      if (!out_.empty() || stop_ || (!batch_subs_.empty() && pending_.size() < kFlushBelow))
        continue;
      armed_ = true;
    }
    pollfd pfd[2] = {{fd_.get(), static_cast<short>(POLLIN | (wbuf.empty() ? 0 : POLLOUT)), 0},
                     {wake_.get(), POLLIN, 0}};
    int n = ::poll(pfd, 2, ms_until(deadline) + 1);
    if (n < 0 && errno != EINTR) {
      fail(ZSYSTEMERROR);
      continue;
    }
    if (pfd[1].revents & POLLIN) {
      uint64_t count;
      (void)!::read(wake_.get(), &count, sizeof count);
    }
    if (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) {
      for (int reads = 0; reads < kReadsPerRound; ++reads) {
        if (rbuf.size() - have < kReadChunk / 4) rbuf.resize(rbuf.size() + kReadChunk);
        ssize_t got = ::recv(fd_.get(), rbuf.data() + have, rbuf.size() - have, 0);
        if (got > 0) {
          have += static_cast<size_t>(got);
          answered = false;
          if (!take_frames()) {
            fail(ZMARSHALLINGERROR);
            break;
          }
          // The server is answering when it answers a request, sends part of an answer, or
          // has no request to answer. Ping answers and events alone do not count while requests
          // wait: a server that answers pings and never a request is not waited for forever.
          // And the clock starts after the completions: the time they took (a slow consumer,
          // requests they issued and this thread has not sent yet) is not the server's.
          bool waiting;
          {
            std::lock_guard lk(m_);
            waiting = !pending_.empty();
          }
          if (answered || have > 0 || !waiting) waiting_since = Clock::now();
          continue;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) break;
        fail(ZCONNECTIONLOSS);  // closed by the server, or reset
        break;
      }
    }
    if (!fd_) continue;
    bool any;
    {
      std::lock_guard lk(m_);
      any = !pending_.empty();
    }
    if ((any || ping_out) && Clock::now() - waiting_since > answer_within) fail(ZOPERATIONTIMEOUT);
  }

  // Stopping: what is still in flight is not waited for. closeSession ends the session now
  // rather than when its timeout runs out on the server, which answers it and closes.
  std::deque<Pending> pending;
  int32_t xid;
  {
    std::lock_guard lk(m_);
    if (failed_ == ZOK) failed_ = ZCLOSING;
    pending.swap(pending_);
    for (Pending& sub : batch_subs_) pending.push_back(std::move(sub));
    batch_subs_.clear();
    xid = next_xid();
  }
  for (const Pending& p : pending) complete_with(p, ZCLOSING);
  if (!fd_) return;
  std::string bye;
  wire::append_close(bye, xid);
  const auto deadline = Clock::now() + kCloseWait;
  if (send_all(fd_.get(), bye, deadline) != 0) return;
  // Until the server closes, or the deadline, also when it keeps sending.
  while (Clock::now() < deadline) {
    ssize_t got = ::recv(fd_.get(), rbuf.data(), rbuf.size(), 0);
    if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) return;
    if (got < 0 && errno == EAGAIN) {
      pollfd pfd{fd_.get(), POLLIN, 0};
      if (::poll(&pfd, 1, ms_until(deadline)) <= 0) return;
    }
  }
}

}  // namespace flinkbr::source::zookeeper
