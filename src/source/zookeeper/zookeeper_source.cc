#include "source/zookeeper/zookeeper_source.h"

#ifndef THREADED
#define THREADED
#endif
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/spool.h"

namespace flinkbr::source::zookeeper {

namespace {

using json = nlohmann::json;

constexpr size_t kPartLimit = 4 * 1024 * 1024;  // bytes of one payload part
constexpr size_t kRequestsInFlight = 2000;      // read requests outstanding at once
constexpr size_t kReadAhead = 2000;             // znodes read but not yet handed on, at most
constexpr size_t kListAhead = 4096;             // paths listed but not yet requested, about
constexpr size_t kReadSessions = 2;             // sessions a tree is read over
constexpr int kResolveDelayMs = 1000;           // between host name resolutions, at least
constexpr size_t kWakeBatch = 64;               // answers handed to the reading thread at once
constexpr size_t kBatchBytes = 512 * 1024;      // serialized bytes of one multi (< 1 MiB)
constexpr size_t kBatchOps = 2000;
constexpr size_t kBatchesInFlight = 8;
constexpr size_t kAclsInFlight = 500;
constexpr std::string_view kPartPrefix = "znodes/part-";
constexpr std::string_view kPartSuffix = ".jsonl";

// Seconds since `t0` with millisecond precision, for the task log ("... in 1.234 s"): the
// benchmark (bench/zookeeper.sh) reads this source's own share of a task from it.
std::string seconds_since(std::chrono::steady_clock::time_point t0) {
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld s", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return buf;
}

// ---- znodes ----

struct Acl {
  int32_t perms = 0;
  std::string scheme;
  std::string id;
  bool operator==(const Acl&) const = default;
};

struct Znode {
  std::optional<std::string> data;  // nullopt: null data
  std::vector<Acl> acl;
  bool sequential = false;
  bool ephemeral = false;
};

std::string child_of(const std::string& rel, const std::string& name) {
  return rel == "/" ? "/" + name : rel + "/" + name;
}

// Sequential heuristic: ZooKeeper names a sequential child with the parent's cversion at the
// time of creation, as 10 decimal digits. A name that ends with 10 digits whose value is below
// the parent's current cversion (which only grows) is taken as created sequential.
bool looks_sequential(const std::string& rel, int32_t parent_cversion) {
  std::string name = rel.substr(rel.rfind('/') + 1);
  if (name.size() < 10) return false;
  std::string digits = name.substr(name.size() - 10);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  long long v = std::stoll(digits);
  return v < static_cast<long long>(parent_cversion);
}

// ---- base64 ----

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void b64_append(std::string& out, std::string_view in) {
  size_t at = out.size();
  out.resize(at + (in.size() + 2) / 3 * 4);
  char* o = out.data() + at;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    *o++ = kB64[v >> 18];
    *o++ = kB64[(v >> 12) & 63];
    *o++ = kB64[(v >> 6) & 63];
    *o++ = kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    *o++ = kB64[v >> 18];
    *o++ = kB64[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    *o++ = kB64[v >> 18];
    *o++ = kB64[(v >> 12) & 63];
    *o++ = kB64[(v >> 6) & 63];
    *o++ = '=';
  }
}

std::optional<std::string> b64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out(in.size() / 4 * 3, '\0');
  char* o = out.data();
  for (size_t i = 0; i < in.size(); i += 4) {
    int a = val(in[i]), b = val(in[i + 1]);
    bool last = i + 4 == in.size();
    int c = (last && in[i + 2] == '=') ? -2 : val(in[i + 2]);
    int d = (last && in[i + 3] == '=') ? -2 : val(in[i + 3]);
    if (a < 0 || b < 0 || c == -1 || d == -1 || (c == -2 && d != -2)) return std::nullopt;
    // Canonical only: the bits a padded quantum leaves unused must be zero.
    if ((c == -2 && (b & 15) != 0) || (c >= 0 && d == -2 && (c & 3) != 0)) return std::nullopt;
    uint32_t v = (uint32_t(a) << 18) | (uint32_t(b) << 12) | (uint32_t(c < 0 ? 0 : c) << 6) |
                 uint32_t(d < 0 ? 0 : d);
    *o++ = char(v >> 16);
    if (c >= 0) *o++ = char((v >> 8) & 255);
    if (d >= 0) *o++ = char(v & 255);
  }
  out.resize(static_cast<size_t>(o - out.data()));
  return out;
}

// ---- JSON lines ----

// Appends `s` as a JSON string the way nlohmann::json::dump() writes it (UTF-8 kept, control
// characters escaped); false when `s` is not valid UTF-8, which JSON cannot carry.
bool append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {  // a multi-byte UTF-8 sequence, copied when well-formed
      size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
      if (n == 0 || c > 0xf4 || i + n > s.size()) return false;
      uint32_t cp = c & (0x7f >> n);
      for (size_t k = 1; k < n; ++k) {
        auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (cc & 0x3f);
      }
      if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
          (cp >= 0xd800 && cp <= 0xdfff))
        return false;
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return true;
}

// Appends the payload line of a znode: keys in byte-wise order, no spaces, as
//   {"acl":[{"id":"anyone","perms":31,"scheme":"world"}],"data":"AAEC","path":"/a","sequential":false}
// Written by hand, not through nlohmann::json: it is the per-znode cost of a backup.
Status append_line(std::string& out, const std::string& rel, const Znode& z) {
  auto not_utf8 = [&](std::string_view what) {
    return failed_precondition(std::string(what) + " is not valid UTF-8 and cannot be stored");
  };
  out += "{\"acl\":[";
  for (size_t i = 0; i < z.acl.size(); ++i) {
    const Acl& a = z.acl[i];
    out += i ? ",{\"id\":" : "{\"id\":";
    if (!append_json_string(out, a.id)) return not_utf8("its ACL id");
    out += ",\"perms\":";
    out += std::to_string(a.perms);
    out += ",\"scheme\":";
    if (!append_json_string(out, a.scheme)) return not_utf8("its ACL scheme");
    out += '}';
  }
  out += "],\"data\":";
  if (z.data) {
    out += '"';
    b64_append(out, *z.data);
    out += '"';
  } else {
    out += "null";
  }
  out += ",\"path\":";
  if (!append_json_string(out, rel)) return not_utf8("its path");
  out += z.sequential ? ",\"sequential\":true}\n" : ",\"sequential\":false}\n";
  return ok();
}

bool valid_rel_path(const std::string& p) {
  if (p == "/") return true;
  if (p.empty() || p[0] != '/' || p.back() == '/') return false;
  size_t start = 1;
  for (;;) {
    size_t end = p.find('/', start);
    std::string_view comp =
        std::string_view(p).substr(start, end == std::string::npos ? end : end - start);
    if (comp.empty() || comp == "." || comp == "..") return false;
    for (char c : comp)
      if (c == '\0') return false;
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

Result<std::pair<std::string, Znode>> from_line(const std::string& line, size_t lineno) {
  auto bad = [&](const std::string& why) {
    return corruption("zookeeper payload line " + std::to_string(lineno) + ": " + why);
  };
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  for (const auto& [k, v] : j.items())
    if (k != "path" && k != "data" && k != "acl" && k != "sequential")
      return bad("unknown field '" + k + "'");
  if (!j.contains("path") || !j["path"].is_string()) return bad("no path");
  std::string rel = j["path"].get<std::string>();
  if (!valid_rel_path(rel)) return bad("invalid path '" + rel + "'");
  Znode z;
  if (!j.contains("data")) return bad(rel + ": no data");
  if (j["data"].is_string()) {
    auto d = b64_decode(j["data"].get<std::string>());
    if (!d) return bad(rel + ": data is not valid base64");
    z.data = std::move(*d);
  } else if (!j["data"].is_null()) {
    return bad(rel + ": data must be a base64 string or null");
  }
  if (!j.contains("acl") || !j["acl"].is_array() || j["acl"].empty())
    return bad(rel + ": acl must be a non-empty list");
  for (const auto& a : j["acl"]) {
    if (!a.is_object() || a.size() != 3 || !a.contains("perms") ||
        !a["perms"].is_number_integer() || !a.contains("scheme") || !a["scheme"].is_string() ||
        !a.contains("id") || !a["id"].is_string())
      return bad(rel + ": malformed acl entry");
    int64_t perms = a["perms"].get<int64_t>();
    if (perms < 0 || perms > 31) return bad(rel + ": acl perms out of range");
    z.acl.push_back(
        {static_cast<int32_t>(perms), a["scheme"].get<std::string>(), a["id"].get<std::string>()});
  }
  if (!j.contains("sequential") || !j["sequential"].is_boolean())
    return bad(rel + ": no sequential flag");
  z.sequential = j["sequential"].get<bool>();
  return std::make_pair(std::move(rel), std::move(z));
}

// The fast path of reading a payload line: exactly the form append_line() writes, with strings
// of printable ASCII without escapes. Anything else (or anything invalid) returns false and goes
// through from_line(), which accepts every valid JSON spelling and names what is wrong.
bool parse_canonical(std::string_view line, std::string& rel, Znode& z) {
  size_t i = 0;
  auto lit = [&](std::string_view l) {
    if (line.substr(i, l.size()) != l) return false;
    i += l.size();
    return true;
  };
  auto str = [&](std::string& out) {  // after the opening quote, up to and past the closing one
    size_t start = i;
    for (; i < line.size(); ++i) {
      auto c = static_cast<unsigned char>(line[i]);
      if (c == '"') break;
      if (c == '\\' || c < 0x20 || c >= 0x7f) return false;
    }
    if (i >= line.size()) return false;
    out.assign(line.substr(start, i - start));
    ++i;
    return true;
  };
  if (!lit("{\"acl\":[")) return false;
  z = Znode{};
  for (;;) {
    Acl a;
    if (!lit("{\"id\":\"") || !str(a.id) || !lit(",\"perms\":")) return false;
    size_t start = i;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
    size_t n = i - start;
    if (n == 0 || n > 2 || (n == 2 && line[start] == '0')) return false;
    a.perms = std::stoi(std::string(line.substr(start, n)));
    if (a.perms > 31) return false;
    if (!lit(",\"scheme\":\"") || !str(a.scheme) || !lit("}")) return false;
    z.acl.push_back(std::move(a));
    if (lit("],")) break;
    if (!lit(",")) return false;
  }
  if (!lit("\"data\":")) return false;
  if (!lit("null")) {
    std::string b64;
    if (!lit("\"") || !str(b64)) return false;
    auto d = b64_decode(b64);
    if (!d) return false;
    z.data = std::move(*d);
  }
  if (!lit(",\"path\":\"") || !str(rel) || !valid_rel_path(rel)) return false;
  if (lit(",\"sequential\":true}"))
    z.sequential = true;
  else if (!lit(",\"sequential\":false}"))
    return false;
  return i == line.size();
}

Result<std::pair<std::string, Znode>> parse_line(const std::string& line, size_t lineno) {
  std::pair<std::string, Znode> out;
  if (parse_canonical(line, out.first, out.second)) return out;
  return from_line(line, lineno);
}

// ---- configuration ----

struct Params {
  std::string connect;
  std::string root;
  int64_t session_timeout_s = 30;
  std::string credentials_file;
};

std::string field_name(const config::SourceConfig& cfg, std::string_view key) {
  return cfg.key_path.empty() ? std::string(key) : cfg.key_path + "." + std::string(key);
}

Result<Params> params_from_config(const config::SourceConfig& cfg) {
  if (!cfg.params.is_object())
    return invalid_argument(cfg.key_path, "the settings of a zookeeper source must be a map");
  Params p;
  for (const auto& [key, value] : cfg.params.items()) {
    std::string f = field_name(cfg, key);
    if (key != "connect" && key != "root" && key != "session_timeout" &&
        key != "digest_credentials_file")
      return invalid_argument(f, "unknown key '" + key +
                                     "' for a zookeeper source (expected: connect, root, "
                                     "session_timeout, digest_credentials_file)");
    if (!value.is_string()) return invalid_argument(f, "must be a string");
  }
  auto get = [&](std::string_view key) -> std::string {
    auto it = cfg.params.find(std::string(key));
    return it == cfg.params.end() ? std::string() : it->get<std::string>();
  };
  p.connect = get("connect");
  if (p.connect.empty())
    return invalid_argument(field_name(cfg, "connect"),
                            "a zookeeper source needs a connect string (host:port[,host:port])");
  for (char c : p.connect)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return invalid_argument(field_name(cfg, "connect"),
                              "must not contain spaces or control characters");
  p.root = get("root");
  if (p.root.empty())
    return invalid_argument(field_name(cfg, "root"), "a zookeeper source needs a root znode");
  if (p.root == "/" || !valid_rel_path(p.root))
    return invalid_argument(field_name(cfg, "root"),
                            "'" + p.root +
                                "' must be an absolute, normalized znode path below / "
                                "(e.g. /flink/cluster-1)");
  if (auto t = get("session_timeout"); !t.empty()) {
    p.session_timeout_s = TRY(config::parse_duration(t, field_name(cfg, "session_timeout")));
    if (p.session_timeout_s > 3600)
      return invalid_argument(field_name(cfg, "session_timeout"), "must be at most 1h");
  }
  p.credentials_file = get("digest_credentials_file");
  if (!p.credentials_file.empty() && p.credentials_file[0] != '/')
    return invalid_argument(field_name(cfg, "digest_credentials_file"), "must be an absolute path");
  return p;
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

// ---- session ----

void drop_log(const char*) {}

Errc errc_of(int rc) {
  if (rc == ZNONODE) return Errc::kNotFound;
  if (rc == ZNOAUTH || rc == ZAUTHFAILED) return Errc::kPermissionDenied;
  if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
      rc == ZINVALIDSTATE || rc == ZCLOSING)
    return Errc::kUnavailable;
  if (rc == ZNODEEXISTS) return Errc::kAlreadyExists;
  return Errc::kIOError;
}

class Session {
 public:
  static Result<std::unique_ptr<Session>> open(const Params& p) {
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
                          "ZooKeeper at " + p.connect +
                              " did not answer the authentication within " +
                              std::to_string(p.session_timeout_s) + " s",
                          {}, true);
      if (*s->auth_rc_ != ZOK) {
        std::string user = creds.substr(0, creds.find(':'));
        return make_error(Errc::kPermissionDenied, "ZooKeeper at " + p.connect +
                                                       " refused the digest credentials of '" +
                                                       user + "': " + zerror(*s->auth_rc_));
      }
    }
    return s;
  }

  ~Session() {
    if (zh_) zookeeper_close(zh_);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  zhandle_t* zh() const { return zh_; }
  const std::string& connect() const { return connect_; }
  bool authenticated() const { return auth_; }

  std::unexpected<Error> error(int rc, const std::string& what) const {
    return make_error(errc_of(rc), what + " on ZooKeeper at " + connect_ + ": " + zerror(rc), {},
                      errc_of(rc) == Errc::kUnavailable);
  }

  // Brings the server this session is connected to up to date with the leader (ZooKeeper's
  // sync), so that reads after it see every write the ensemble committed before: a new session
  // may land on a follower that has not applied a restore's last transactions yet.
  Status sync(const std::string& path) {
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

 private:
  explicit Session(std::string connect) : connect_(std::move(connect)) {}

  static void watcher(zhandle_t*, int type, int state, const char*, void* ctx) {
    if (type != ZOO_SESSION_EVENT || !ctx) return;
    auto* s = static_cast<Session*>(ctx);
    std::lock_guard lk(s->m_);
    s->state_ = state;
    s->cv_.notify_all();
  }

 private:
  struct SyncDone {
    std::mutex m;
    std::condition_variable cv;
    std::optional<int> rc;
  };

  static void on_sync(int rc, const char*, const void* data) {
    std::unique_ptr<std::shared_ptr<SyncDone>> ref(
        static_cast<std::shared_ptr<SyncDone>*>(const_cast<void*>(data)));
    SyncDone& d = **ref;
    std::lock_guard lk(d.m);
    d.rc = rc;
    d.cv.notify_all();
  }

  static void on_auth(int rc, const void* data) {
    auto* s = static_cast<Session*>(const_cast<void*>(data));
    std::lock_guard lk(s->m_);
    s->auth_rc_ = rc;
    s->cv_.notify_all();
  }

  std::string connect_;
  zhandle_t* zh_ = nullptr;
  std::mutex m_;
  std::condition_variable cv_;
  int state_ = 0;
  std::optional<int> auth_rc_;
  bool auth_ = false;
};

// ---- reading a tree, pipelined ----

// Reads every znode below a root (ephemeral ones included, flagged) and hands them to a visitor
// in byte-wise path order, the order of the payload, without holding the tree: only the znodes
// being read and those read ahead of a smaller one still being listed are in memory.
//
// Per znode: zoo_aget (data and Stat) and zoo_aget_acl at once; zoo_aget_children2 only when the
// Stat counts children, so a leaf (most of a Flink tree) costs two requests. Up to
// kRequestsInFlight requests are outstanding; the smallest known path is always issued first, so
// the visitor's next znode is never starved by read-ahead.
//
// The znodes are dealt in turn over kReadSessions sessions (the given one and more opened with
// the same parameters): the server answers one session's requests in order, and measured on a
// 2-core machine two sessions read faster, the server spending about a third less CPU
// (docs/benchmarks.md, "ZooKeeper"). The requests of one znode go over one session.
class TreeReader {
 public:
  using Visit = std::function<Status(const std::string& rel, Znode& z)>;

  TreeReader(Session& s, std::string root, const TaskContext* ctx)
      : s_(s), root_(std::move(root)), ctx_(ctx), zhs_{s.zh()} {}

  // Opens the further sessions to read over (see above), on the server of the first one: the
  // servers of an ensemble may lag each other by a few transactions, and a znode that one
  // session lists must not be missing for the session that reads it.
  Status open_sessions(const Params& p) {
    Params same = p;
    size_t chroot = p.connect.find('/');
    std::string hosts = p.connect.substr(0, chroot);
    if (hosts.find(',') != std::string::npos) {
      // An ensemble: pin the further sessions to this session's server. Where that server's
      // address cannot be given back as a connect string, read over this session alone.
      const char* server = zoo_get_current_server(s_.zh());
      std::string at = server ? server : "";
      if (at.empty() || std::count(at.begin(), at.end(), ':') != 1) return ok();
      same.connect = at + (chroot == std::string::npos ? "" : p.connect.substr(chroot));
    }
    while (zhs_.size() < kReadSessions) {
      auto extra = Session::open(same);
      if (!extra) {
        if (same.connect == p.connect) return std::unexpected(std::move(extra).error());
        return ok();  // the pinned server refused a second session: one session reads it all
      }
      extra_.push_back(std::move(*extra));
      zhs_.push_back(extra_.back()->zh());
    }
    return ok();
  }

  // kNotFound when the root does not exist. Znodes that vanish while being read are skipped.
  Status read(const Visit& visit) {
    std::map<std::string, bool> unissued{{"/", false}};  // known, not requested; -> sequential
    std::map<std::string, std::unique_ptr<Req>> issued;  // requested, not visited yet
    // Read znodes with children, not listed yet. Listing every inner znode read ahead would put
    // all their children's paths in `unissued` (a whole level of checkpoints: memory growing
    // with the tree), so a listing waits until the paths listed ahead fall under kListAhead,
    // except the smallest znode's, which the visitor waits for.
    std::map<std::string, Req*> unlisted;
    size_t listing = 0;  // children counted by the Stats of the listings in flight
    std::optional<Error> failure;
    std::vector<Req*> got;
    for (;;) {
      // List: the smallest first, bounded by the paths listed ahead.
      while (!failure && !unlisted.empty()) {
        Req* r = unlisted.begin()->second;
        bool front = issued.begin()->second.get() == r;
        size_t n = static_cast<size_t>(r->stat.numChildren);
        if (!front && unissued.size() + listing + n > kListAhead) break;
        unlisted.erase(unlisted.begin());
        listing += n;
        issue_children(r);
      }
      // Issue: the smallest known paths first, bounded by requests in flight and read-ahead.
      while (!failure && !unissued.empty()) {
        auto u = unissued.begin();
        bool front = issued.empty() || u->first < issued.begin()->first;
        if (!front && (issued.size() >= kReadAhead || inflight() >= kRequestsInFlight)) break;
        auto r = std::make_unique<Req>();
        r->owner = this;
        r->rel = u->first;
        r->path = abs(r->rel);
        r->z.sequential = u->second;
        unissued.erase(u);
        Req* raw = r.get();
        issued.emplace(raw->rel, std::move(r));
        issue_get(raw);
      }
      // Visit, in order, what is complete and cannot be preceded by a path not known yet.
      while (!failure && !issued.empty()) {
        auto it = issued.begin();
        Req& r = *it->second;
        if (!r.complete || (!unissued.empty() && unissued.begin()->first < it->first)) break;
        if (!r.vanished) {
          if (auto st = visit(r.rel, r.z); !st) failure = st.error();
        }
        issued.erase(it);
      }
      if (failure && inflight() == 0) break;
      if (!failure && issued.empty() && unissued.empty()) break;
      // Wait for answers. With none to come, go round again: visiting may have made a parked
      // znode the smallest, which is then listed (nothing in flight would wait forever).
      {
        std::unique_lock lk(m_);
        if (done_.empty() && inflight_ == 0) continue;
        cv_.wait(lk, [&] { return !done_.empty(); });
        got.swap(done_);
      }
      for (Req* r : got) {
        if (r->listing) listing -= static_cast<size_t>(r->stat.numChildren);
        if (failure) continue;
        if (r->rc == ZNONODE) {
          if (r->rel == "/")
            failure =
                Error{Errc::kNotFound, "znode " + root_ + " does not exist on " + s_.connect()};
          r->complete = r->vanished = true;
          continue;
        }
        if (r->rc != ZOK) {
          failure = s_.error(r->rc, "reading " + r->path).error();
          continue;
        }
        if (!r->listing && r->stat.numChildren > 0) {
          unlisted.emplace(r->rel, r);
          continue;
        }
        if (r->listing) {
          int32_t cversion = r->child_stat.cversion;
          for (auto& name : r->children) {
            std::string child = child_of(r->rel, name);
            bool seq = looks_sequential(child, cversion);
            unissued.emplace(std::move(child), seq);
          }
          r->children = {};
        }
        r->complete = true;
      }
      got.clear();
      if (!failure && ctx_ && ctx_->is_cancelled()) failure = Error{Errc::kCancelled, "cancelled"};
    }
    if (failure) return std::unexpected(std::move(*failure));
    return ok();
  }

  std::string abs(const std::string& rel) const { return rel == "/" ? root_ : root_ + rel; }

 private:
  struct Req {
    TreeReader* owner = nullptr;
    zhandle_t* zh = nullptr;  // the session of its requests
    std::string rel;
    std::string path;
    int rc = ZOK;     // first failure of its requests (ZNONODE wins: vanished)
    int pending = 0;  // requests not answered yet
    bool listing = false;
    bool complete = false;
    bool vanished = false;
    Stat stat{};
    Stat child_stat{};
    std::vector<std::string> children;
    Znode z;
  };

  size_t inflight() const { return inflight_.load(std::memory_order_relaxed); }

  void answered(Req* r, int rc) {
    std::lock_guard lk(m_);
    size_t left = --inflight_;
    if (rc != ZOK && (r->rc == ZOK || rc == ZNONODE)) r->rc = rc;
    if (--r->pending == 0) {
      done_.push_back(r);
      // Wake the reader once per batch of answers, not per znode: every wake-up is a context
      // switch on cores the server shares. With few answers still to come, wake at once.
      if (done_.size() >= kWakeBatch || left < 2 * kWakeBatch) cv_.notify_one();
    }
  }

  void issue_get(Req* r) {
    {
      std::lock_guard lk(m_);
      r->pending = 2;
      inflight_ += 2;
    }
    r->zh = zhs_[turn_++ % zhs_.size()];
    int rc = zoo_aget(r->zh, r->path.c_str(), 0, &on_data, r);
    if (rc != ZOK) answered(r, rc);
    rc = zoo_aget_acl(r->zh, r->path.c_str(), &on_acl, r);
    if (rc != ZOK) answered(r, rc);
  }

  void issue_children(Req* r) {
    r->listing = true;
    {
      std::lock_guard lk(m_);
      r->pending = 1;
      ++inflight_;
    }
    int rc = zoo_aget_children2(r->zh, r->path.c_str(), 0, &on_children, r);
    if (rc != ZOK) answered(r, rc);
  }

  static void on_data(int rc, const char* value, int len, const Stat* st, const void* d) {
    auto* r = static_cast<Req*>(const_cast<void*>(d));
    if (rc == ZOK) {
      if (value && len >= 0) r->z.data.emplace(value, static_cast<size_t>(len));
      if (st) {
        r->stat = *st;
        r->z.ephemeral = st->ephemeralOwner != 0;
      }
    }
    r->owner->answered(r, rc);
  }
  static void on_acl(int rc, ACL_vector* acl, Stat*, const void* d) {
    auto* r = static_cast<Req*>(const_cast<void*>(d));
    if (rc == ZOK && acl)
      for (int i = 0; i < acl->count; ++i)
        r->z.acl.push_back({acl->data[i].perms,
                            acl->data[i].id.scheme ? acl->data[i].id.scheme : "",
                            acl->data[i].id.id ? acl->data[i].id.id : ""});
    r->owner->answered(r, rc);
  }
  static void on_children(int rc, const String_vector* sv, const Stat* st, const void* d) {
    auto* r = static_cast<Req*>(const_cast<void*>(d));
    if (rc == ZOK) {
      if (sv) {
        r->children.reserve(static_cast<size_t>(sv->count));
        for (int i = 0; i < sv->count; ++i) r->children.emplace_back(sv->data[i]);
      }
      if (st) r->child_stat = *st;
    }
    r->owner->answered(r, rc);
  }

  Session& s_;
  std::string root_;
  const TaskContext* ctx_;
  std::vector<zhandle_t*> zhs_;  // s_ and extra_
  std::vector<std::unique_ptr<Session>> extra_;
  size_t turn_ = 0;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Req*> done_;
  std::atomic<size_t> inflight_{0};
};

// ---- writing, pipelined ----

// ACL storage in the C client's layout.
struct CAcl {
  explicit CAcl(const std::vector<Acl>& in) : src(in) {
    for (auto& a : src) {
      ACL c{};
      c.perms = a.perms;
      c.id.scheme = a.scheme.data();
      c.id.id = a.id.data();
      acls.push_back(c);
    }
    vec.count = static_cast<int32_t>(acls.size());
    vec.data = acls.data();
  }
  CAcl(const CAcl&) = delete;
  CAcl& operator=(const CAcl&) = delete;
  std::vector<Acl> src;
  std::vector<ACL> acls;
  ACL_vector vec{};
};

struct Op {
  enum Kind { kCreate, kDelete, kSetData, kSetAcl } kind;
  std::string path;  // absolute
  std::optional<std::string> data;
  std::shared_ptr<const CAcl> acl;  // create and set-ACL; shared by the ops of one ACL

  size_t bytes() const {
    size_t n = 32 + path.size() + (data ? data->size() : 0);
    if (acl)
      for (const auto& a : acl->src) n += 16 + a.scheme.size() + a.id.size();
    return n;
  }
};

class Writer {
 public:
  explicit Writer(Session& s) : s_(s) {}
  ~Writer() { (void)drain(); }

  // Queues an op; multi-able ops are grouped into batches, set-ACL ops go one by one.
  Status add(Op op) {
    if (op.kind == Op::kSetAcl) {
      TRY(flush());
      auto b = std::make_unique<Batch>();
      b->ops.push_back(std::move(op));
      return submit(std::move(b));
    }
    if (pending_ &&
        (pending_->ops.size() >= kBatchOps || pending_->bytes + op.bytes() > kBatchBytes))
      TRY(flush());
    if (!pending_) pending_ = std::make_unique<Batch>();
    pending_->bytes += op.bytes();
    pending_->ops.push_back(std::move(op));
    return ok();
  }

  Status flush() {
    if (!pending_) return ok();
    return submit(std::move(pending_));
  }

  // Flushes and waits for everything; the first failure in submission order.
  Status finish() {
    TRY(flush());
    return drain();
  }

 private:
  struct Batch {
    Writer* owner = nullptr;
    std::vector<Op> ops;
    size_t bytes = 0;
    std::vector<zoo_op_t> cops;
    std::vector<zoo_op_result_t> results;
    std::vector<char> pathbuf;
    int rc = ZOK;
    bool done = false;
  };

  Status submit(std::unique_ptr<Batch> b) {
    b->owner = this;
    Batch* raw = b.get();
    {
      std::unique_lock lk(m_);
      size_t limit = raw->ops[0].kind == Op::kSetAcl ? kAclsInFlight : kBatchesInFlight;
      cv_.wait(lk, [&] { return inflight_ < limit; });
      ++inflight_;
    }
    batches_.push_back(std::move(b));
    int rc;
    if (raw->ops[0].kind == Op::kSetAcl) {
      // The C API takes a non-const ACL_vector it only reads.
      rc = zoo_aset_acl(s_.zh(), raw->ops[0].path.c_str(), -1,
                        const_cast<ACL_vector*>(&raw->ops[0].acl->vec), &on_done, raw);
    } else {
      raw->cops.resize(raw->ops.size());
      raw->results.resize(raw->ops.size());
      raw->pathbuf.resize(raw->ops.size() * 2);
      for (size_t i = 0; i < raw->ops.size(); ++i) {
        Op& op = raw->ops[i];
        const char* data = op.data ? op.data->data() : nullptr;
        int len = op.data ? static_cast<int>(op.data->size()) : -1;
        switch (op.kind) {
          case Op::kCreate:
            zoo_create_op_init(&raw->cops[i], op.path.c_str(), data, len, &op.acl->vec,
                               ZOO_PERSISTENT, &raw->pathbuf[2 * i], 2);
            break;
          case Op::kDelete:
            zoo_delete_op_init(&raw->cops[i], op.path.c_str(), -1);
            break;
          case Op::kSetData:
            zoo_set_op_init(&raw->cops[i], op.path.c_str(), data, len, -1, nullptr);
            break;
          case Op::kSetAcl:
            break;
        }
      }
      rc = zoo_amulti(s_.zh(), static_cast<int>(raw->cops.size()), raw->cops.data(),
                      raw->results.data(), &on_done, raw);
    }
    if (rc != ZOK) on_done(rc, raw);
    // Forget completed batches at the front.
    std::lock_guard lk(m_);
    while (!batches_.empty() && batches_.front()->done) {
      if (batches_.front()->rc != ZOK && !first_error_) first_error_ = describe(*batches_.front());
      batches_.pop_front();
    }
    if (first_error_) return std::unexpected(*first_error_);
    return ok();
  }

  Status drain() {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return inflight_ == 0; });
    for (auto& b : batches_)
      if (b->rc != ZOK && !first_error_) first_error_ = describe(*b);
    batches_.clear();
    if (first_error_) return std::unexpected(*first_error_);
    return ok();
  }

  Error describe(const Batch& b) const {
    static constexpr const char* kVerb[] = {"creating", "deleting", "setting the data of",
                                            "setting the ACL of"};
    if (b.ops[0].kind != Op::kSetAcl && b.rc != ZCONNECTIONLOSS && b.rc != ZSESSIONEXPIRED)
      for (size_t i = 0; i < b.results.size(); ++i) {
        int err = b.results[i].err;
        if (err != ZOK && err != ZRUNTIMEINCONSISTENCY)
          return s_.error(err, std::string(kVerb[b.ops[i].kind]) + " " + b.ops[i].path).error();
      }
    return s_
        .error(b.rc, std::string(kVerb[b.ops[0].kind]) + " " + b.ops[0].path +
                         (b.ops.size() > 1 ? " (and " + std::to_string(b.ops.size() - 1) +
                                                 " more znodes in one batch)"
                                           : ""))
        .error();
  }

  static void on_done(int rc, const void* d) {
    auto* b = static_cast<Batch*>(const_cast<void*>(d));
    Writer* w = b->owner;
    std::lock_guard lk(w->m_);
    b->rc = rc;
    b->done = true;
    --w->inflight_;
    w->cv_.notify_all();
  }

  Session& s_;
  std::unique_ptr<Batch> pending_;
  std::deque<std::unique_ptr<Batch>> batches_;
  std::mutex m_;
  std::condition_variable cv_;
  size_t inflight_ = 0;
  std::optional<Error> first_error_;
};

// ---- comparing, without holding data ----

// A znode as a restore compares it: its data by digest, its ACL by index in an AclTable.
struct Meta {
  std::string rel;
  std::array<unsigned char, 16> digest{};  // first 16 bytes of the SHA-256 of the data
  uint32_t acl = 0;
  bool null_data = false;
  bool ephemeral = false;
  bool same_content(const Meta& o) const {
    return null_data == o.null_data && digest == o.digest && acl == o.acl;
  }
};

// ---- spooling per-znode state to the staging directory ----

// A file (io::Spool: unnamed, in the staging directory) that holds what a restore would
// otherwise keep in memory per znode, so that the daemon's memory does not grow with the tree
// (issue 9, point 5). Reads go through one window of the file, so walking it in order, forward
// or backward, costs a system call per 64 KiB. Append-only: a window read earlier stays valid.
class SpoolFile {
 public:
  // `path` names the file's place (its directory) and the file in messages.
  explicit SpoolFile(std::string path) : path_(std::move(path)) {}

  Status open() {
    spool_ = TRY_CTX(io::Spool::create(path_.substr(0, path_.rfind('/'))),
                     "creating the staging file " + path_);
    return ok();
  }

  Status append(std::string_view bytes) { return spool_->append(bytes); }

  uint64_t size() const { return spool_ ? spool_->size() : 0; }

  // The n bytes at `off`, valid until the next read. `backward`: the caller walks towards the
  // start of the file, so the window is filled with what precedes `off`.
  Result<std::string_view> read(uint64_t off, size_t n, bool backward) {
    const uint64_t size = this->size();
    if (off > size || n > size - off) return io_error("the staging file " + path_ + " shrank");
    if (off < win_off_ || off + n > win_off_ + win_.size()) {
      uint64_t len = std::max<uint64_t>(n, kWindow);
      uint64_t start = !backward ? off : off + n >= len ? off + n - len : 0;
      len = std::min<uint64_t>(len, size - start);
      win_.resize(static_cast<size_t>(len));
      size_t got = TRY(spool_->read_at(start, win_));
      if (got != win_.size()) return io_error("the staging file " + path_ + " shrank");
      win_off_ = start;
    }
    return std::string_view(win_.data(), win_.size())
        .substr(static_cast<size_t>(off - win_off_), n);
  }

 private:
  static constexpr size_t kWindow = 64 * 1024;

  std::string path_;
  std::optional<io::Spool> spool_;
  std::vector<char> win_;
  uint64_t win_off_ = 0;
};

// Records of any length in a SpoolFile, framed [u32 length][bytes][u32 length] so that they
// can be read in either direction (deletes and final ACLs go children first: backward).
class RecordSpool {
 public:
  explicit RecordSpool(std::string path) : file_(std::move(path)) {}

  Status open() { return file_.open(); }

  // The offset of the record, for RecordSpool::at().
  Result<uint64_t> append(std::string_view rec) {
    uint64_t off = file_.size();
    auto len = static_cast<uint32_t>(rec.size());
    char n[4];
    std::memcpy(n, &len, 4);
    TRY(file_.append({n, 4}));
    TRY(file_.append(rec));
    TRY(file_.append({n, 4}));
    ++count_;
    return off;
  }

  size_t count() const { return count_; }

  // The record at `off` (an offset append() returned), valid until the next read.
  Result<std::string_view> at(uint64_t off) { return read_at(off, false); }

  // Walks the records in order (or in reverse order).
  class Cursor {
   public:
    Cursor(RecordSpool& s, bool backward)
        : s_(s), backward_(backward), pos_(backward ? s.file_.size() : 0) {}
    // The next record, or nullopt at the end; valid until the next read of the spool.
    Result<std::optional<std::string_view>> next() {
      if (backward_) {
        if (pos_ == 0) return std::nullopt;
        if (pos_ < 8) return s_.shrank();
        uint32_t len = TRY(s_.len_at(pos_ - 4, true));
        if (pos_ < 8 + uint64_t{len}) return s_.shrank();
        pos_ -= 8 + uint64_t{len};
        return TRY(s_.read_at(pos_, true));
      }
      if (pos_ == s_.file_.size()) return std::nullopt;
      std::string_view rec = TRY(s_.read_at(pos_, false));
      pos_ += 8 + rec.size();
      return rec;
    }

   private:
    RecordSpool& s_;
    bool backward_;
    uint64_t pos_;
  };

 private:
  std::unexpected<Error> shrank() const { return io_error("a staging file of the restore shrank"); }

  Result<uint32_t> len_at(uint64_t off, bool backward) {
    std::string_view b = TRY(file_.read(off, 4, backward));
    uint32_t len;
    std::memcpy(&len, b.data(), 4);
    return len;
  }

  Result<std::string_view> read_at(uint64_t off, bool backward) {
    uint32_t len = TRY(len_at(off, backward));
    return file_.read(off + 4, len, backward);
  }

  SpoolFile file_;
  size_t count_ = 0;
};

// The staged tree's index, sorted byte-wise by path: one record per znode (digest, ACL id,
// null-data flag, path) and a file of their offsets, for the rare lookup of one path.
class StagedIndex {
 public:
  explicit StagedIndex(const std::string& base)
      : recs_(base + ".index"), offsets_(base + ".offsets") {}

  Status open() {
    TRY(recs_.open());
    return offsets_.open();
  }

  Status add(const Meta& m) {
    std::string rec(21 + m.rel.size(), '\0');
    std::memcpy(rec.data(), m.digest.data(), 16);
    std::memcpy(rec.data() + 16, &m.acl, 4);
    rec[20] = m.null_data ? 1 : 0;
    std::memcpy(rec.data() + 21, m.rel.data(), m.rel.size());
    uint64_t off = TRY(recs_.append(rec));
    char o[8];
    std::memcpy(o, &off, 8);
    return offsets_.append({o, 8});
  }

  size_t size() const { return recs_.count(); }

  static Result<Meta> decode(std::string_view rec) {
    if (rec.size() < 22) return io_error("a staging file of the restore is damaged");
    Meta m;
    std::memcpy(m.digest.data(), rec.data(), 16);
    std::memcpy(&m.acl, rec.data() + 16, 4);
    m.null_data = rec[20] != 0;
    m.rel.assign(rec.substr(21));
    return m;
  }

  // Whether the index holds `rel`: a binary search over the files.
  Result<bool> contains(std::string_view rel) {
    size_t lo = 0, hi = size();
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      std::string_view o = TRY(offsets_.read(uint64_t{mid} * 8, 8, false));
      uint64_t off;
      std::memcpy(&off, o.data(), 8);
      std::string_view rec = TRY(recs_.at(off));
      if (rec.size() < 22) return io_error("a staging file of the restore is damaged");
      std::string_view r = rec.substr(21);
      if (r == rel) return true;
      if (r < rel)
        lo = mid + 1;
      else
        hi = mid;
    }
    return false;
  }

  // Walks the index in order.
  class Cursor {
   public:
    explicit Cursor(StagedIndex& idx) : c_(idx.recs_, false) {}
    Result<std::optional<Meta>> next() {
      auto rec = TRY(c_.next());
      if (!rec) return std::nullopt;
      return TRY(decode(*rec));
    }

   private:
    RecordSpool::Cursor c_;
  };

 private:
  RecordSpool recs_;
  SpoolFile offsets_;
};

// Distinct ACLs; a tree has few.
class AclTable {
 public:
  uint32_t intern(std::vector<Acl>&& acl) {
    auto it = index_.find(acl);
    if (it != index_.end()) return it->second;
    auto id = static_cast<uint32_t>(list_.size());
    list_.push_back(acl);
    index_.emplace(std::move(acl), id);
    return id;
  }
  const std::vector<Acl>& get(uint32_t id) const { return list_[id]; }
  size_t size() const { return list_.size(); }

 private:
  static constexpr auto kLess = [](const std::vector<Acl>& a, const std::vector<Acl>& b) {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(), [](const Acl& x, const Acl& y) {
          return std::tie(x.perms, x.scheme, x.id) < std::tie(y.perms, y.scheme, y.id);
        });
  };
  std::vector<std::vector<Acl>> list_;
  std::map<std::vector<Acl>, uint32_t, decltype(kLess)> index_{kLess};
};

// SHA-256 through one reused OpenSSL context.
class Digester {
 public:
  Digester() : ctx_(EVP_MD_CTX_new()) {}
  ~Digester() { EVP_MD_CTX_free(ctx_); }
  Digester(const Digester&) = delete;
  Digester& operator=(const Digester&) = delete;
  std::array<unsigned char, 16> of(std::string_view data) {
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_, full, &len) != 1)
      throw std::runtime_error("SHA-256 failed");  // out of memory in OpenSSL
    std::array<unsigned char, 16> out;
    std::memcpy(out.data(), full, out.size());
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

Meta make_meta(std::string rel, Znode& z, AclTable& acls, Digester& digester) {
  Meta m;
  m.rel = std::move(rel);
  m.null_data = !z.data;
  if (z.data) m.digest = digester.of(*z.data);
  m.acl = acls.intern(std::move(z.acl));
  m.ephemeral = z.ephemeral;
  return m;
}

std::string describe_acl(const std::vector<Acl>& acl) {
  std::string s;
  for (const auto& a : acl)
    s += (s.empty() ? "" : ",") + a.scheme + ":" + a.id + ":" + std::to_string(a.perms);
  return s;
}

// "/" for "/a", "/a" for "/a/b".
std::string parent_view(std::string_view rel) {
  auto slash = rel.rfind('/');
  return slash == 0 ? "/" : std::string(rel.substr(0, slash));
}

// ---- staged restore ----

// The staged payload stays in its staging file and its index in two more (StagedIndex); what a
// commit finds per znode goes to spool files too. Memory holds the distinct ACLs and bounded
// buffers, whatever the size of the tree. commit() reads the payload again, in order, for the
// data it has to write.
class ZkStagedRestore final : public StagedRestore {
 public:
  ZkStagedRestore(Params p, std::string name, const TaskContext& ctx)
      : p_(std::move(p)), log_(ctx.log), prefix_("zookeeper source '" + name + "': ") {
    std::string safe;
    for (char c : name) safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
    base_ = ctx.staging_dir + "/zookeeper-" + safe + "-" + ctx.id;
    file_ = base_ + ".jsonl";
    index_ = std::make_unique<StagedIndex>(base_);
  }
  ~ZkStagedRestore() override { ::unlink(file_.c_str()); }

  Status open() {
    out_.open(file_, std::ios::binary | std::ios::trunc);
    if (!out_) return errno_error("creating the staging file " + file_, errno);
    return index_->open();
  }

  Status add(const archive::Entry& entry, io::Reader& data) override {
    if (finished_) return failed_precondition("add() after finish_staging()");
    std::string_view rel = entry.relative_path();
    if (entry.type == archive::EntryType::kDirectory && (rel.empty() || rel == "znodes"))
      return ok();
    char expected[32];
    std::snprintf(expected, sizeof expected, "znodes/part-%06zu.jsonl", parts_ + 1);
    if (entry.type != archive::EntryType::kFile || rel != expected)
      return corruption("zookeeper payload: unexpected entry '" + entry.path + "' (expected " +
                        expected + ")");
    if (entry.size > kPartLimit + 1024 * 1024)
      return corruption("zookeeper payload: entry '" + entry.path + "' is too large");
    std::string content = TRY(io::read_all(data, entry.size + 1));
    if (content.size() != entry.size)
      return corruption("zookeeper payload: entry '" + entry.path + "' is truncated");
    if (!content.empty() && content.back() != '\n')
      return corruption("zookeeper payload: entry '" + entry.path + "' does not end a line");
    out_.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out_) return io_error("writing the staging file " + file_);
    ++parts_;
    return ok();
  }

  Status finish_staging() override {
    out_.close();
    if (!out_) return io_error("writing the staging file " + file_);
    std::ifstream in(file_, std::ios::binary);
    if (!in) return errno_error("reading the staging file " + file_, errno);
    std::string line, prev;
    size_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      auto [rel, z] = TRY(parse_line(line, lineno));
      if (lineno == 1 && rel != "/")
        return corruption("zookeeper payload: the first znode must be the root \"/\"");
      if (lineno > 1 && !(prev < rel))
        return corruption("zookeeper payload: znode " + rel + " is out of order or repeated");
      if (rel != "/" && !TRY(has_staged_parent(rel, prev)))
        return corruption("zookeeper payload: znode " + rel + " has no parent in the backup");
      TRY(index_->add(make_meta(rel, z, acls_, digester_)));
      prev = std::move(rel);
    }
    if (index_->size() == 0)
      return corruption("zookeeper payload: no znodes (the root is missing)");
    finished_ = true;
    return ok();
  }

  Result<SourceDiff> diff() override {
    if (!finished_) return failed_precondition("diff() before finish_staging()");
    auto session = TRY(Session::open(p_));
    SourceDiff d;
    TRY(walk_live(
        *session,
        [&](const Meta& l, const Meta* st) -> Status {
          if (TRY(kept_ephemeral(l, st))) return ok();
          if (!st)
            d.removed.add(abs(l.rel));
          else if (l.ephemeral || !l.same_content(*st))
            d.changed.add(abs(l.rel));
          return ok();
        },
        [&](const Meta& st) -> Status {
          d.added.add(abs(st.rel));
          return ok();
        }));
    return d;
  }

  Status commit() override {
    if (!finished_) return failed_precondition("commit() before finish_staging()");
    auto t0 = std::chrono::steady_clock::now();
    auto session = TRY(Session::open(p_));
    // One ordered pass over the live tree against the staged one; what is kept of it goes to
    // spool files: the live znodes to delete and, per staged znode in index order, how the live
    // one differs (one byte).
    enum : uint8_t { kAbsent = 0, kSame = 1, kDataDiffers = 2, kAclDiffers = 4 };
    RecordSpool to_delete(base_ + ".delete");
    SpoolFile live_state(base_ + ".state");
    RecordSpool acl_todo(base_ + ".acl");
    TRY(to_delete.open());
    TRY(live_state.open());
    TRY(acl_todo.open());
    bool root_exists = false;
    TRY(walk_live(
        *session,
        [&](const Meta& l, const Meta* st) -> Status {
          root_exists = true;
          if (TRY(kept_ephemeral(l, st))) return ok();
          if (!st || l.ephemeral) TRY(to_delete.append(l.rel));
          if (!st) return ok();
          char state = static_cast<char>(
              l.ephemeral
                  ? kAbsent
                  : kSame |
                        (l.null_data != st->null_data || l.digest != st->digest ? kDataDiffers
                                                                                : 0) |
                        (l.acl != st->acl ? kAclDiffers : 0));
          return live_state.append({&state, 1});
        },
        [&](const Meta&) -> Status {
          char state = kAbsent;
          return live_state.append({&state, 1});
        }));
    if (live_state.size() != index_->size())
      return io_error("the staging file " + base_ + ".state is incomplete");
    if (!root_exists) TRY(create_ancestors(*session));
    auto temp_acl = std::make_shared<const CAcl>(
        session->authenticated() ? std::vector<Acl>{{ZOO_PERM_ALL, "auth", ""}}
                                 : std::vector<Acl>{{ZOO_PERM_ALL, "world", "anyone"}});
    // One C-layout ACL per distinct ACL, shared by its ops: no per-znode copies.
    std::vector<std::shared_ptr<const CAcl>> cacls(acls_.size());
    auto cacl = [&](uint32_t id) {
      if (!cacls[id]) cacls[id] = std::make_shared<const CAcl>(acls_.get(id));
      return cacls[id];
    };
    size_t deleted = 0, set_data = 0, created = 0, set_acl = 0;
    {
      Writer w(*session);
      // 1. deletes, children first (reverse byte-wise order).
      RecordSpool::Cursor dels(to_delete, true);
      while (auto rel = TRY(dels.next())) {
        TRY(w.add({Op::kDelete, abs(std::string(*rel)), std::nullopt, nullptr}));
        ++deleted;
      }
      // 2. in payload order (parents first): the data of kept znodes that differs, and the
      // znodes to create. The data comes from the staging file, read again line by line. The
      // znodes whose ACL is set afterwards (changed, or created with a temporary ACL) are
      // spooled as "<ACL id><path>" for step 3.
      std::ifstream in(file_, std::ios::binary);
      if (!in) return errno_error("reading the staging file " + file_, errno);
      std::string line;
      StagedIndex::Cursor idx(*index_);
      std::optional<Meta> next = TRY(idx.next());
      for (size_t i = 0; next; ++i) {
        Meta m = std::move(*next);
        next = TRY(idx.next());  // one ahead: whether m gets children
        if (!std::getline(in, line)) return io_error("the staging file " + file_ + " shrank");
        uint8_t state = static_cast<uint8_t>(TRY(live_state.read(i, 1, false))[0]);
        bool create = state == kAbsent;
        bool temp = false;
        if (create || (state & kDataDiffers)) {
          auto [rel, z] = TRY(parse_line(line, i + 1));
          if (rel != m.rel) return io_error("the staging file " + file_ + " changed");
          if (!create) {
            TRY(w.add({Op::kSetData, abs(m.rel), std::move(z.data), nullptr}));
            ++set_data;
          } else {
            const auto& acl = acls_.get(m.acl);
            bool world_create = std::any_of(acl.begin(), acl.end(), [](const Acl& a) {
              return a.scheme == "world" && a.id == "anyone" && (a.perms & ZOO_PERM_CREATE);
            });
            bool has_children = next && next->rel.starts_with(m.rel == "/" ? "/" : m.rel + "/");
            temp = has_children && !world_create;
            TRY(w.add({Op::kCreate, abs(m.rel), std::move(z.data), temp ? temp_acl : cacl(m.acl)}));
            ++created;
          }
        }
        if ((state & kAclDiffers) || temp) {
          std::string rec(4, '\0');
          std::memcpy(rec.data(), &m.acl, 4);
          rec += m.rel;
          TRY(acl_todo.append(rec));
        }
      }
      TRY(w.flush());
      // 3. final ACLs, children first.
      RecordSpool::Cursor acls(acl_todo, true);
      while (auto rec = TRY(acls.next())) {
        if (rec->size() < 5) return io_error("the staging file " + base_ + ".acl is damaged");
        uint32_t id;
        std::memcpy(&id, rec->data(), 4);
        if (id >= acls_.size()) return io_error("the staging file " + base_ + ".acl is damaged");
        TRY(w.add({Op::kSetAcl, abs(std::string(rec->substr(4))), std::nullopt, cacl(id)}));
        ++set_acl;
      }
      TRY(w.finish());
    }
    committed_ = true;
    if (log_)
      log_(prefix_ + "deleted " + std::to_string(deleted) + ", created " + std::to_string(created) +
           ", set the data of " + std::to_string(set_data) + " and the ACL of " +
           std::to_string(set_acl) + " znodes in " + seconds_since(t0));
    return ok();
  }

  Status verify() override {
    if (!committed_) return failed_precondition("verify() before commit()");
    auto session = TRY(Session::open(p_));
    // This new session may be on a follower that has not applied the commit's last writes.
    TRY(session->sync(p_.root.empty() ? "/" : p_.root));
    return walk_live(
        *session,
        [&](const Meta& l, const Meta* st) -> Status {
          if (TRY(kept_ephemeral(l, st))) return ok();
          if (!st) return corruption(abs(l.rel) + ": present but not in the backup");
          if (l.ephemeral)
            return corruption(abs(l.rel) + ": ephemeral, but persistent in the backup");
          if (l.null_data != st->null_data || l.digest != st->digest)
            return corruption(abs(l.rel) + ": data differs from the backup");
          if (l.acl != st->acl)
            return corruption(abs(l.rel) + ": ACL " + describe_acl(acls_.get(l.acl)) +
                              ", expected " + describe_acl(acls_.get(st->acl)));
          return ok();
        },
        [&](const Meta& st) -> Status {
          return corruption(abs(st.rel) + ": missing after the restore");
        });
  }

 private:
  std::string abs(const std::string& rel) const { return rel == "/" ? p_.root : p_.root + rel; }

  // Whether the parent of `rel` is in the index so far, `prev` being the last path added. All
  // ancestors of `prev` are (each path was checked for its parent), so a parent that is `prev`
  // or one of its ancestors needs no lookup; byte-wise order interleaves a sibling such as
  // "/a-b" between "/a" and "/a/c", and only then the index is searched.
  Result<bool> has_staged_parent(const std::string& rel, const std::string& prev) {
    std::string parent = parent_view(rel);
    if (parent == "/" || parent == prev ||
        (prev.starts_with(parent) && prev.size() > parent.size() && prev[parent.size()] == '/'))
      return true;
    return index_->contains(parent);
  }

  // A live ephemeral znode that a restore leaves alone: not a path of the backup (`staged` is
  // null), parent kept.
  Result<bool> kept_ephemeral(const Meta& live, const Meta* staged) {
    if (!live.ephemeral || staged) return false;
    return index_->contains(parent_view(live.rel));
  }

  // Reads the live tree and walks it against the staged one in one ordered pass, keeping
  // nothing of either: on_live(live, staged znode of that path or null) for every live znode,
  // on_missing(staged znode) for every staged znode the live tree lacks, both in byte-wise path
  // order; every staged znode gets exactly one of the two. A missing root is an empty live tree.
  Status walk_live(Session& s, const std::function<Status(const Meta&, const Meta*)>& on_live,
                   const std::function<Status(const Meta&)>& on_missing) {
    TreeReader reader(s, p_.root, nullptr);
    TRY(reader.open_sessions(p_));
    StagedIndex::Cursor staged(*index_);
    std::optional<Meta> cur = TRY(staged.next());
    auto st = reader.read([&](const std::string& rel, Znode& z) -> Status {
      Meta l = make_meta(rel, z, acls_, digester_);
      while (cur && cur->rel < l.rel) {
        TRY(on_missing(*cur));
        cur = TRY(staged.next());
      }
      if (cur && cur->rel == l.rel) {
        TRY(on_live(l, &*cur));
        cur = TRY(staged.next());
        return ok();
      }
      return on_live(l, nullptr);
    });
    if (!st && st.error().code != Errc::kNotFound) return st;
    while (cur) {
      TRY(on_missing(*cur));
      cur = TRY(staged.next());
    }
    return ok();
  }

  // Creates the (missing) ancestors of the root, open, with null data.
  Status create_ancestors(Session& s) {
    for (size_t pos = p_.root.find('/', 1); pos != std::string::npos;
         pos = p_.root.find('/', pos + 1)) {
      std::string path = p_.root.substr(0, pos);
      int rc = zoo_create(s.zh(), path.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                          nullptr, 0);
      if (rc != ZOK && rc != ZNODEEXISTS) return s.error(rc, "creating " + path);
    }
    return ok();
  }

  Params p_;
  std::function<void(const std::string&)> log_;
  std::string prefix_;
  std::string base_;  // staging files: base_ + ".jsonl", ".index", ".offsets", ...
  std::string file_;
  std::ofstream out_;
  size_t parts_ = 0;
  std::unique_ptr<StagedIndex> index_;
  AclTable acls_;
  Digester digester_;
  bool finished_ = false;
  bool committed_ = false;
};

// ---- the source ----

class ZkSource final : public MetadataSource {
 public:
  ZkSource(config::SourceConfig cfg, Params p) : cfg_(std::move(cfg)), p_(std::move(p)) {
    prefix_ = "zookeeper source '" + cfg_.name + "': ";
  }

  const config::SourceConfig& config() const override { return cfg_; }

  std::string location() const override { return "zookeeper://" + p_.connect + p_.root; }

  Status check() override {
    auto s = TRY(Session::open(p_));
    String_vector children{};
    int rc = zoo_get_children(s->zh(), p_.root.c_str(), 0, &children);
    if (rc == ZOK) deallocate_String_vector(&children);
    if (rc == ZNONODE) return not_found("znode " + p_.root + " does not exist on " + p_.connect);
    if (rc == ZNOAUTH)
      return make_error(Errc::kPermissionDenied,
                        "not allowed to read znode " + p_.root + " on " + p_.connect +
                            (s->authenticated() ? " with the configured digest credentials"
                                                : " without credentials"));
    if (rc != ZOK) return s->error(rc, "reading " + p_.root);
    return ok();
  }

  Status backup(archive::SourceArchiveWriter& out, const TaskContext& ctx) override {
    auto t0 = std::chrono::steady_clock::now();
    auto s = TRY(Session::open(p_));
    TreeReader reader(*s, p_.root, &ctx);
    TRY(reader.open_sessions(p_));
    size_t ephemeral = 0, kept = 0;
    std::string part;
    part.reserve(kPartLimit + 64 * 1024);
    size_t part_no = 0;
    int64_t now = static_cast<int64_t>(std::time(nullptr));
    auto flush = [&]() -> Status {
      char name[40];
      std::snprintf(name, sizeof name, "znodes/part-%06zu.jsonl", ++part_no);
      TRY(out.add_bytes(name, part, 0644, now));
      part.clear();
      return ok();
    };
    std::string line;
    TRY(reader.read([&](const std::string& rel, Znode& z) -> Status {
      if (z.ephemeral) {
        ++ephemeral;
        return ok();
      }
      line.clear();
      if (auto st = append_line(line, rel, z); !st)
        return failed_precondition("znode " + reader.abs(rel) +
                                   " cannot be stored in a backup: " + st.error().message);
      if (!part.empty() && part.size() + line.size() > kPartLimit) TRY(flush());
      part += line;
      ++kept;
      return ok();
    }));
    if (!part.empty()) TRY(flush());
    if (ctx.log) {
      ctx.log(prefix_ + "backed up " + std::to_string(kept) + " znodes under " + p_.root + " in " +
              seconds_since(t0));
      ctx.log(prefix_ + "left out " + std::to_string(ephemeral) + " ephemeral znodes");
    }
    return ok();
  }

  Result<std::unique_ptr<StagedRestore>> begin_restore(const TaskContext& ctx) override {
    if (ctx.staging_dir.empty()) return failed_precondition("no staging directory for the restore");
    if (ctx.id.empty() || ctx.id.find('/') != std::string::npos || ctx.id.starts_with("."))
      return invalid_argument("ctx.id", "'" + ctx.id + "' is not a valid attempt id");
    auto staged = std::make_unique<ZkStagedRestore>(p_, cfg_.name, ctx);
    TRY(staged->open());
    return std::unique_ptr<StagedRestore>(std::move(staged));
  }

  // Staging lives in the engine's staging directory, which the engine removes; nothing of an
  // interrupted attempt is left in ZooKeeper apart from the partly restored tree, which the
  // engine's safety copy puts back.
  Status cleanup_after_crash(const std::string&) override { return ok(); }

 private:
  const config::SourceConfig cfg_;
  Params p_;
  std::string prefix_;
};

}  // namespace

Status validate_config(const config::SourceConfig& cfg) {
  TRY(params_from_config(cfg));
  return ok();
}

Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg) {
  Params p = TRY(params_from_config(cfg));
  return std::make_unique<ZkSource>(cfg, std::move(p));
}

}  // namespace flinkbr::source::zookeeper
