// One ZooKeeper session of the zookeeper source: the connection parameters, the digest
// credentials, and the mapping of the C client's return codes to flinkbr's error catalogue.
//
// Session::open() connects (waiting at most the session timeout for the server to answer) and
// authenticates with the digest credentials when some are configured; the session is closed by
// the destructor. Every error names the server ("... on ZooKeeper at zk1:2181: connection
// loss"). The credentials themselves never appear in a message, only the user name.
//
// A Session may be used from several threads as the C client allows (its asynchronous calls
// are thread-safe); open() and the destructor are not concurrent with anything.
#pragma once

#ifndef THREADED
#define THREADED
#endif
#include <zookeeper/zookeeper.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/result.h"
#include "config/config.h"

namespace flinkbr::source::zookeeper {

// The validated settings of a zookeeper source (zookeeper_source.h lists the keys).
struct Params {
  std::string connect;
  std::string root;
  int64_t session_timeout_s = 30;
  std::string credentials_file;
};

// The parameters of a zookeeper source's configuration (zookeeper_source.h lists the keys);
// kInvalidArgument naming "<key_path>.<key>".
[[nodiscard]] Result<Params> params_from_config(const config::SourceConfig& cfg);

// "user:password" from the credentials file (mode 0600 required, else kPermissionDenied naming
// it) or FLINKBR_ZK_DIGEST; "" when neither is configured.
[[nodiscard]] Result<std::string> load_credentials(const Params& p);

// The catalogue code of a ZooKeeper return code (ZNONODE: kNotFound, ZNOAUTH: kPermissionDenied,
// connection troubles: kUnavailable, ...).
Errc errc_of(int rc);

// Seconds since `t0` with millisecond precision, for the task log ("1.234 s"): the benchmark
// (bench/zookeeper.sh) reads the source's own share of a task from these lines.
std::string seconds_since(std::chrono::steady_clock::time_point t0);

class Session {
 public:
  // Connects to p.connect and authenticates. kUnavailable (retryable) when the server does not
  // answer within the session timeout; kPermissionDenied when it refuses the credentials.
  [[nodiscard]] static Result<std::unique_ptr<Session>> open(const Params& p);

  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  zhandle_t* zh() const { return zh_; }
  const std::string& connect() const { return connect_; }
  // Whether digest credentials were added to this session.
  bool authenticated() const { return auth_; }
  // This session's id (0 before it is connected): the ephemeralOwner of its ephemeral znodes.
  int64_t id() const;

  // The error of return code `rc` while doing `what`, naming the server.
  std::unexpected<Error> error(int rc, const std::string& what) const;

  // Brings the server this session is connected to up to date with the leader (ZooKeeper's
  // sync), so that reads after it see every write the ensemble committed before: a new session
  // may land on a follower that has not applied a restore's last transactions yet.
  [[nodiscard]] Status sync(const std::string& path);

 private:
  struct SyncDone {
    std::mutex m;
    std::condition_variable cv;
    std::optional<int> rc;
  };

  explicit Session(std::string connect) : connect_(std::move(connect)) {}

  static void watcher(zhandle_t*, int type, int state, const char*, void* ctx);
  static void on_sync(int rc, const char*, const void* data);
  static void on_auth(int rc, const void* data);

  std::string connect_;
  zhandle_t* zh_ = nullptr;
  std::mutex m_;
  std::condition_variable cv_;
  int state_ = 0;
  std::optional<int> auth_rc_;
  bool auth_ = false;
};

}  // namespace flinkbr::source::zookeeper
