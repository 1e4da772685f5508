// Test support: the Flink HA test peer (tests/peers/flink-ha), a Java program that writes,
// churns, holds and checks a Flink ZooKeeper HA tree and its HA storage files as a Flink
// JobManager does. Header-only, like zookeeper_server.h.
//
//   FlinkPeer::get()          compiles the peer once per test process (javac into a fresh
//                             temporary directory, removed at exit); error() says why it cannot.
//   peer.run({...})           one command to its end: exit status, standard output and error.
//   PeerProcess(peer, {...})  a long-running command (churn, hold) as a child process: killed and
//                             reaped by the destructor, and by the kernel when the test dies
//                             (PR_SET_PDEATHSIG).
//
// Link the CMake target flink_peer_support: it sets FLINKBR_FLINK_PEER_SRC (the peer's sources)
// and, when javac was found at configure time, FLINKBR_FLINK_PEER_CLASSES (the classes compiled
// at build time, used instead of running javac in the test).
// Commands and options: tests/peers/flink-ha/README.md.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace flinkbr::testsupport {

// The ZooKeeper Java client and the logging it needs (Debian's zookeeper and libslf4j-java).
inline constexpr const char* kFlinkPeerClasspath =
    "/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:"
    "/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar";

struct PeerResult {
  int status = -1;  // exit status; 128 + signal when killed; -1 when it could not start
  std::string out;
  std::string err;
};

namespace flink_peer_detail {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

inline std::vector<char*> argv_of(std::vector<std::string>& args) {
  std::vector<char*> v;
  for (auto& a : args) v.push_back(a.data());
  v.push_back(nullptr);
  return v;
}

// fork + exec with stdin from `in_fd`, stdout/stderr to the files given; the child dies with
// the test process.
inline pid_t spawn(std::vector<std::string> args, int in_fd, const std::string& out_path,
                   const std::string& err_path) {
  pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (in_fd >= 0) ::dup2(in_fd, 0);
  ::dup2(out, 1);
  ::dup2(err, 2);
  auto argv = argv_of(args);
  ::execvp(argv[0], argv.data());
  ::_exit(127);
}

inline std::string make_temp_dir(const char* stem) {
  std::string tmpl = (std::filesystem::temp_directory_path() / stem).string() + "-XXXXXX";
  return ::mkdtemp(tmpl.data()) ? tmpl : std::string();
}

}  // namespace flink_peer_detail

class FlinkPeer {
 public:
  // The peer of this process, compiled at the first call.
  static const FlinkPeer& get() {
    static FlinkPeer peer;
    return peer;
  }
  const std::string& error() const { return error_; }
  const std::string& classes_dir() const { return classes_; }

  // The command line of one peer command.
  std::vector<std::string> command(const std::vector<std::string>& args) const {
    std::vector<std::string> cmd = {"java",
                                    "-XX:+UseSerialGC",
                                    "-XX:TieredStopAtLevel=1",
                                    "-Xshare:auto",
                                    "-Dfile.encoding=UTF-8",
                                    "-Dsun.jnu.encoding=UTF-8",
                                    "-cp",
                                    classes_ + ":" + kFlinkPeerClasspath,
                                    "flinkbr.peer.FlinkHaPeer"};
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
  }

  // Runs one command to its end; `input` becomes its standard input (empty when not given).
  PeerResult run(const std::vector<std::string>& args, const std::string& input = {}) const {
    PeerResult r;
    if (!error_.empty()) {
      r.err = error_;
      return r;
    }
    const std::string dir = flink_peer_detail::make_temp_dir("flinkbr-peer-run");
    const std::string in_path = dir + "/in";
    std::ofstream(in_path, std::ios::binary) << input;
    int in = ::open(in_path.c_str(), O_RDONLY);
    pid_t pid = flink_peer_detail::spawn(command(args), in, dir + "/out", dir + "/err");
    ::close(in);
    int status = 0;
    if (pid > 0 && ::waitpid(pid, &status, 0) == pid)
      r.status = flink_peer_detail::decode_status(status);
    r.out = flink_peer_detail::slurp(dir + "/out");
    r.err = flink_peer_detail::slurp(dir + "/err");
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return r;
  }

  FlinkPeer(const FlinkPeer&) = delete;
  FlinkPeer& operator=(const FlinkPeer&) = delete;
  ~FlinkPeer() {
    std::error_code ec;
    if (owns_classes_) std::filesystem::remove_all(classes_, ec);
  }

 private:
  FlinkPeer() {
#ifdef FLINKBR_FLINK_PEER_CLASSES
    if (std::filesystem::exists(std::string(FLINKBR_FLINK_PEER_CLASSES) +
                                "/flinkbr/peer/FlinkHaPeer.class")) {
      classes_ = FLINKBR_FLINK_PEER_CLASSES;
      return;
    }
#endif
#ifndef FLINKBR_FLINK_PEER_SRC
    error_ = "FLINKBR_FLINK_PEER_SRC is not defined: the test target must name the peer's sources";
#else
    if (std::system("command -v javac >/dev/null 2>&1") != 0) {
      error_ = "javac is not installed (run scripts/install-deps.sh: default-jdk-headless)";
      return;
    }
    if (::access("/usr/share/java/zookeeper.jar", R_OK) != 0) {
      error_ = "/usr/share/java/zookeeper.jar is missing (run scripts/install-deps.sh: zookeeper)";
      return;
    }
    classes_ = flink_peer_detail::make_temp_dir("flinkbr-peer-classes");
    if (classes_.empty()) {
      error_ = "mkdtemp failed for the peer's classes";
      return;
    }
    owns_classes_ = true;
    std::vector<std::string> args = {"javac", "-encoding", "UTF-8", "-nowarn",
                                     "-d",    classes_,    "-cp",   kFlinkPeerClasspath};
    for (const auto& e : std::filesystem::recursive_directory_iterator(FLINKBR_FLINK_PEER_SRC))
      if (e.path().extension() == ".java") args.push_back(e.path().string());
    const std::string log = classes_ + "/javac.log";
    pid_t pid = flink_peer_detail::spawn(args, -1, log, log + ".err");
    int status = 0;
    if (pid <= 0 || ::waitpid(pid, &status, 0) != pid ||
        flink_peer_detail::decode_status(status) != 0) {
      error_ = "javac failed on the Flink HA peer: " + flink_peer_detail::slurp(log + ".err");
    }
#endif
  }

  std::string classes_;
  bool owns_classes_ = false;
  std::string error_;
};

// A long-running peer command (churn, hold). Its standard input is a pipe the test holds
// (close_stdin() ends a churn); its output goes to files read by wait_for_line() and stop().
class PeerProcess {
 public:
  PeerProcess(const FlinkPeer& peer, const std::vector<std::string>& args) {
    dir_ = flink_peer_detail::make_temp_dir("flinkbr-peer-proc");
    int fds[2];
    if (!peer.error().empty() || dir_.empty() || ::pipe2(fds, O_CLOEXEC) != 0) return;
    // The child's end must survive exec: dup2 onto 0 clears O_CLOEXEC for it.
    pid_ = flink_peer_detail::spawn(peer.command(args), fds[0], dir_ + "/out", dir_ + "/err");
    ::close(fds[0]);
    stdin_ = fds[1];
  }
  ~PeerProcess() {
    kill9();
    close_stdin();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  std::string out() const { return flink_peer_detail::slurp(dir_ + "/out"); }
  std::string err() const { return flink_peer_detail::slurp(dir_ + "/err"); }

  // Waits until standard output has a line starting with `prefix`; false when the process ended
  // or the deadline passed first (a bound against hangs, not a timed assertion).
  bool wait_for_line(const std::string& prefix,
                     std::chrono::milliseconds deadline = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      std::istringstream lines(out());
      for (std::string line; std::getline(lines, line);)
        if (line.rfind(prefix, 0) == 0) return true;
      if (!running() || reap(false)) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  // Ends the process with `sig` (SIGTERM: churn finishes its step and prints its final count)
  // and waits for it; its exit status and output.
  PeerResult stop(int sig = SIGTERM) {
    if (pid_ > 0) ::kill(pid_, sig);
    return wait();
  }
  // Waits for the process to end by itself (after close_stdin()).
  PeerResult wait() {
    reap(true);
    return {status_, out(), err()};
  }
  // kill -9: what a dying JobManager looks like to ZooKeeper (its session lingers).
  void kill9() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
    reap(true);
  }

 private:
  // True once the process has been reaped.
  bool reap(bool block) {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, block ? 0 : WNOHANG) == pid_) {
      status_ = flink_peer_detail::decode_status(status);
      pid_ = -1;
      return true;
    }
    return false;
  }

  std::string dir_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int status_ = -1;
};

}  // namespace flinkbr::testsupport
