#include "source/zookeeper/session.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace flinkbr::source::zookeeper {

namespace {

constexpr int kResolveDelayMs = 1000;  // between host name resolutions, at least

void drop_log(const char*) {}

}  // namespace

std::string seconds_since(std::chrono::steady_clock::time_point t0) {
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld s", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return buf;
}

// "user:password" from the file (mode 0600 required) or FLINKBR_ZK_DIGEST; "" when neither.
Result<std::string> load_credentials(const Params& p) {
  if (p.credentials_file.empty()) {
    const char* env = std::getenv("FLINKBR_ZK_DIGEST");
    std::string s = env ? env : "";
    if (!s.empty() && s.find(':') == std::string::npos)
      return invalid_argument("FLINKBR_ZK_DIGEST", "must be user:password");
    return s;
  }
  int fd = ::open(p.credentials_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno_error("opening the digest credentials file " + p.credentials_file, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 07777) != 0600) {
    ::close(fd);
    return make_error(Errc::kPermissionDenied,
                      "the digest credentials file " + p.credentials_file +
                          " must be a regular file of mode 0600 (readable only by its owner)");
  }
  std::string s;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
    if (s.size() > 65536) break;
  }
  ::close(fd);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.find(':') == std::string::npos || s.find('\n') != std::string::npos)
    return make_error(Errc::kInvalidArgument, "the digest credentials file " + p.credentials_file +
                                                  " must hold one line user:password");
  return s;
}

Errc errc_of(int rc) {
  if (rc == ZNONODE) return Errc::kNotFound;
  if (rc == ZNOAUTH || rc == ZAUTHFAILED) return Errc::kPermissionDenied;
  if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
      rc == ZINVALIDSTATE || rc == ZCLOSING)
    return Errc::kUnavailable;
  if (rc == ZNODEEXISTS) return Errc::kAlreadyExists;
  return Errc::kIOError;
}

Result<std::unique_ptr<Session>> Session::open(const Params& p) {
  std::string creds = TRY(load_credentials(p));
  std::unique_ptr<Session> s(new Session(p.connect));
  int timeout_ms = static_cast<int>(p.session_timeout_s * 1000);
  s->zh_ = zookeeper_init2(p.connect.c_str(), &Session::watcher, timeout_ms, nullptr, s.get(), 0,
                           &drop_log);
  if (!s->zh_) return errno_error("connecting to ZooKeeper at " + p.connect, errno);
  // By default the C client resolves the host names every time it checks its socket: a
  // getaddrinfo (a netlink socket, /etc files) per wake-up of its I/O thread, about one per
  // request when pipelining, most of the client's system time. Once a second still follows
  // DNS changes (and a lost connection always resolves again).
  zoo_set_servers_resolution_delay(s->zh_, kResolveDelayMs);
  {
    std::unique_lock lk(s->m_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(p.session_timeout_s);
    bool answered = s->cv_.wait_until(lk, deadline, [&] {
      return s->state_ == ZOO_CONNECTED_STATE || s->state_ == ZOO_AUTH_FAILED_STATE ||
             s->state_ == ZOO_EXPIRED_SESSION_STATE;
    });
    if (!answered || s->state_ != ZOO_CONNECTED_STATE)
      return make_error(Errc::kUnavailable,
                        "ZooKeeper at " + p.connect + " did not answer within " +
                            std::to_string(p.session_timeout_s) + " s",
                        {}, true);
  }
  if (!creds.empty()) {
    s->auth_ = true;
    int rc = zoo_add_auth(s->zh_, "digest", creds.data(), static_cast<int>(creds.size()),
                          &Session::on_auth, s.get());
    if (rc != ZOK) return s->error(rc, "authenticating");
    std::unique_lock lk(s->m_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(p.session_timeout_s);
    if (!s->cv_.wait_until(lk, deadline, [&] { return s->auth_rc_.has_value(); }))
      return make_error(Errc::kUnavailable,
                        "ZooKeeper at " + p.connect + " did not answer the authentication within " +
                            std::to_string(p.session_timeout_s) + " s",
                        {}, true);
    if (*s->auth_rc_ != ZOK) {
      std::string user = creds.substr(0, creds.find(':'));
      return make_error(Errc::kPermissionDenied, "ZooKeeper at " + p.connect +
                                                     " refused the digest credentials of '" + user +
                                                     "': " + zerror(*s->auth_rc_));
    }
  }
  return s;
}

Session::~Session() {
  if (zh_) zookeeper_close(zh_);
}

int64_t Session::id() const {
  const clientid_t* c = zh_ ? zoo_client_id(zh_) : nullptr;
  return c ? c->client_id : 0;
}

std::unexpected<Error> Session::error(int rc, const std::string& what) const {
  return make_error(errc_of(rc), what + " on ZooKeeper at " + connect_ + ": " + zerror(rc), {},
                    errc_of(rc) == Errc::kUnavailable);
}

Status Session::sync(const std::string& path) {
  // Shared with the completion, which the C client always calls (ZCONNECTIONLOSS, ZCLOSING
  // included), and which drops its reference.
  auto done = std::make_shared<SyncDone>();
  auto* ref = new std::shared_ptr<SyncDone>(done);
  int rc = zoo_async(zh_, path.c_str(), &Session::on_sync, ref);
  if (rc != ZOK) {
    delete ref;
    return error(rc, "syncing " + path);
  }
  std::unique_lock lk(done->m);
  done->cv.wait(lk, [&] { return done->rc.has_value(); });
  if (*done->rc != ZOK) return error(*done->rc, "syncing " + path);
  return ok();
}

void Session::watcher(zhandle_t*, int type, int state, const char*, void* ctx) {
  if (type != ZOO_SESSION_EVENT || !ctx) return;
  auto* s = static_cast<Session*>(ctx);
  std::lock_guard lk(s->m_);
  s->state_ = state;
  s->cv_.notify_all();
}

void Session::on_sync(int rc, const char*, const void* data) {
  std::unique_ptr<std::shared_ptr<SyncDone>> ref(
      static_cast<std::shared_ptr<SyncDone>*>(const_cast<void*>(data)));
  SyncDone& d = **ref;
  std::lock_guard lk(d.m);
  d.rc = rc;
  d.cv.notify_all();
}

void Session::on_auth(int rc, const void* data) {
  auto* s = static_cast<Session*>(const_cast<void*>(data));
  std::lock_guard lk(s->m_);
  s->auth_rc_ = rc;
  s->cv_.notify_all();
}

}  // namespace flinkbr::source::zookeeper
