#include "server/listen_socket.h"

#include <sys/socket.h>

#include <cerrno>
#include <string>

namespace flinkbr::server {

ListenSocket::ListenSocket(httplib::Server& http) {
  http.set_socket_options([this](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    fd_ = sock;
  });
}

Status ListenSocket::raise_backlog(int backlog) {
  if (fd_ == INVALID_SOCKET)
    return make_error(Errc::kFailedPrecondition,
                      "raising the listen backlog: the server is not bound yet");
  if (::listen(fd_, backlog) != 0)
    return errno_error("raising the listen backlog to " + std::to_string(backlog), errno);
  return ok();
}

}  // namespace flinkbr::server
