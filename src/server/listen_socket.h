// How flinkbr's HTTP server listens: one owner per port, and a backlog that fits bursts.
//
// httplib's default_socket_options sets SO_REUSEPORT on Linux (cpp-httplib 0.11, Debian 12): a
// second daemon could then bind the same port and the kernel would split the connections between
// the two. ListenSocket sets SO_REUSEADDR only (a restart may bind while old connections sit in
// TIME_WAIT; Linux still refuses a second listener on the port).
//
// httplib listens with a backlog of 5: when more clients connect at once than the accept queue
// holds, the kernel drops their SYNs and each one waits for its retransmission, a whole second
// later (issue 16 measured p99 1 s under 48 clients; a test with 8 verifies and a health check in
// one burst saw the same second). raise_backlog() listens again with a larger one.
//
// Usage: construct before binding (it installs the socket options), bind, then raise_backlog().
// The object must outlive the bind.
#pragma once

#include <httplib.h>

#include "common/result.h"

namespace flinkbr::server {

class ListenSocket {
 public:
  static constexpr int kBacklog = 1024;

  explicit ListenSocket(httplib::Server& http);
  ListenSocket(const ListenSocket&) = delete;
  ListenSocket& operator=(const ListenSocket&) = delete;

  // After the server is bound: the listen backlog becomes `backlog` (the kernel caps it at
  // net.core.somaxconn).
  Status raise_backlog(int backlog = kBacklog);

 private:
  socket_t fd_ = INVALID_SOCKET;
};

}  // namespace flinkbr::server
