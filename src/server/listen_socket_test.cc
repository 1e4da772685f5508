#include "server/listen_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <vector>

namespace flinkbr::server {
namespace {

// Starts `n` connections to 127.0.0.1:port without anyone accepting them, and counts those whose
// handshake completed (the kernel put them in the accept queue) within `wait_ms`.
int connections_queued(int port, int n, int wait_ms) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fds.push_back(fd);
  }
  ::usleep(wait_ms * 1000);
  int queued = 0;
  for (int fd : fds) {
    // A connection the server's kernel answered is writable and has no pending error.
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    if (::poll(&p, 1, 0) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
        err == 0)
      ++queued;
    ::close(fd);
  }
  return queued;
}

TEST(ListenSocketTest, RaisingBeforeBindingIsAnError) {
  httplib::Server http;
  ListenSocket s(http);
  auto st = s.raise_backlog();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("not bound"), std::string::npos) << st.error().message;
}

TEST(ListenSocketTest, TheSocketRefusesASecondListenerOnItsPort) {
  httplib::Server first;
  ListenSocket a(first);
  const int port = first.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  httplib::Server second;
  ListenSocket b(second);
  EXPECT_FALSE(second.bind_to_port("127.0.0.1", port)) << "port " << port << " was shared";
}

TEST(ListenSocketTest, ARaisedBacklogQueuesABurstThatHttplibsWouldDrop) {
  // Nobody accepts: only the kernel's accept queue holds the burst.
  httplib::Server small;
  const int small_port = small.bind_to_any_port("127.0.0.1");
  ASSERT_GT(small_port, 0);
  httplib::Server large;
  ListenSocket s(large);
  const int large_port = large.bind_to_any_port("127.0.0.1");
  ASSERT_GT(large_port, 0);
  ASSERT_TRUE(s.raise_backlog());

  // Linux queues backlog + 1 connections; httplib's backlog is 5.
  EXPECT_LE(connections_queued(small_port, 32, 200), 6 + 1);
  EXPECT_EQ(connections_queued(large_port, 32, 200), 32);
}

}  // namespace
}  // namespace flinkbr::server
