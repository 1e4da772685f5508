// End-to-end: one daemon per state directory and per listen address (issue 15, point 4). A
// second `flinkbr serve` on a state directory already served refuses at once with the first's
// PID and changes nothing, not even while the first is in the middle of applying a restore; a
// listen address already taken (by another flinkbr, or by any socket, SO_REUSEPORT or not) is
// refused, never shared.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "harness.h"

namespace flinkbr::e2e {
namespace {

using nlohmann::json;

// `flinkbr serve --config <file>` listening on `listen`; killed after 30 s if it does not stop
// by itself (a daemon that starts serving fails the test instead of hanging it).
CommandOutput serve(const std::string& config, const std::string& listen) {
  return run({"timeout", "30", FLINKBR_BINARY, "serve", "--config", config}, {},
             {{"FLINKBR_LISTEN", listen}});
}

// The state directory as a refused start must leave it. flinkbr.lock aside: a start refused for
// its listen address did hold the directory's lock (it checks the lock first), so the file names
// that short-lived PID; the lock itself was released when it exited.
Tree state_of(const Daemon& d) {
  Tree t = snapshot(d.state_dir());
  t.erase("flinkbr.lock");
  return t;
}

std::string address_in_use(int port) {
  return "flinkbr: cannot listen on 127.0.0.1:" + std::to_string(port) +
         ": the address is already in use by another process (another flinkbr?); it is never "
         "shared. Stop that process or set server.listen (or FLINKBR_LISTEN) to a free address\n";
}

TEST(SingleInstance, ASecondDaemonOnAServedStateDirectoryRefusesWithThePidAndChangesNothing) {
  // The first daemon is in the middle of applying a restore: what a second daemon once
  // "recovered", putting the safety copy back under the first one's feet.
  Daemon::Options o;
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-after-apply:conf";
  Daemon d(o);
  d.seed_cluster();
  std::string path = d.backup();
  d.set_service_state("stopped");
  auto created = d.cli({"restore", "create", "r1", "--cluster", "prod", "--data-source", "Flink",
                        "--path-type", "LocalDir", "--source-path", path});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_EQ(d.cli({"restore", "start", "r1"}).exit_code, 0);
  bool paused = false;
  for (int i = 0; i < 300 && !paused; ++i) {
    paused = restore_show(d, "r1").dump().find("fault injection: pausing") != std::string::npos;
    if (!paused) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(paused) << restore_show(d, "r1").dump();
  Tree cluster_before = cluster_tree(d);
  Tree state_before = snapshot(d.state_dir());

  auto second = serve(d.root() + "/flinkbr.yaml", "127.0.0.1:" + std::to_string(free_port()));
  EXPECT_EQ(second.exit_code, 5) << second.err;  // failed_precondition
  EXPECT_EQ(second.err, "flinkbr: another flinkbr (PID " + std::to_string(d.pid()) +
                            ") already serves the state directory " + d.state_dir() +
                            " (it holds " + d.state_dir() +
                            "/flinkbr.lock); stop it first, or give this one another "
                            "server.state_dir\n");
  EXPECT_EQ(describe_difference(state_before, snapshot(d.state_dir())), "");
  EXPECT_EQ(describe_difference(cluster_before, cluster_tree(d)), "");
  // The first daemon still runs its restore, untouched.
  EXPECT_EQ(restore_show(d, "r1")["state"], "Running");

  // The lock dies with its holder: after kill -9 the directory can be served again at once.
  d.kill9();
  d.start();
  EXPECT_EQ(restore_show(d, "r1")["state"], "Failed");
}

TEST(SingleInstance, AListenAddressTakenByAnotherDaemonIsRefusedNotShared) {
  Daemon first;
  Daemon second;  // its own state directory; started once so that it has state to keep
  second.stop();
  Tree state_before = state_of(second);

  auto r = serve(second.root() + "/flinkbr.yaml", "127.0.0.1:" + std::to_string(first.port()));
  EXPECT_EQ(r.exit_code, 7) << r.err;  // unavailable
  EXPECT_EQ(r.err, address_in_use(first.port()));
  EXPECT_EQ(describe_difference(state_before, state_of(second)), "");
  // The first one still serves its own API.
  EXPECT_EQ(first.api("GET", "/api/v1/health").status, 200);
}

TEST(SingleInstance, AListenAddressTakenByAPlainSocketIsRefused) {
  Daemon d;
  d.stop();
  // A plain listener, and one with SO_REUSEPORT, which a daemon setting SO_REUSEPORT itself (as
  // cpp-httplib's defaults do) would have joined, splitting the connections.
  for (bool reuseport : {false, true}) {
    SCOPED_TRACE(reuseport ? "SO_REUSEPORT listener" : "plain listener");
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    int yes = 1;
    if (reuseport) {
      ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes), 0);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(fd, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    int port = ntohs(addr.sin_port);
    Tree state_before = state_of(d);

    auto r = serve(d.root() + "/flinkbr.yaml", "127.0.0.1:" + std::to_string(port));
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_EQ(r.err, address_in_use(port));
    EXPECT_EQ(describe_difference(state_before, state_of(d)), "");
    ::close(fd);
  }
}

}  // namespace
}  // namespace flinkbr::e2e
