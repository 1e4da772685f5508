// Test support: a WebHDFS + YARN ResourceManager test server (tests/servers/webhdfs/
// webhdfs_server.py, Python standard library only) started for one test. Each WebHdfsServer owns
// a fresh temporary root directory (the HDFS namespace "/") and one server process in its own
// process group: N NameNode HTTP ports sharing that namespace, one DataNode port, one
// ResourceManager port and one control port, all chosen free by the server itself on the given
// host (127.0.0.1 or ::1). The destructor kills the process group and removes the directory.
// When the server cannot start, error() says why: tests fail with that message, never skip.
//
// Targets including this header need FLINKBR_TEST_SERVERS_DIR (the repo's tests/servers path)
// and link PkgConfig::HTTPLIB (the control calls use cpp-httplib). Not thread-safe: one test
// thread drives a fixture; the server itself serves any number of client threads.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#ifndef FLINKBR_TEST_SERVERS_DIR
#error "FLINKBR_TEST_SERVERS_DIR must name the repo's tests/servers directory"
#endif

namespace flinkbr::testing {

struct WebHdfsOptions {
  std::string host = "127.0.0.1";  // or "::1"
  int namenodes = 1;
  std::vector<int> standby;  // indexes of NameNodes that start in standby
  std::string superuser = "hdfs";
  // Users known to the server and their groups (the superuser needs no entry). An unknown
  // user.name is still accepted, with no groups, as simple authentication does.
  std::map<std::string, std::vector<std::string>> users;
  // ResourceManager queues: name -> RUNNING | STOPPED.
  std::map<std::string, std::string> queues = {{"default", "RUNNING"}};
  int list_page_size = 1000;  // LISTSTATUS_BATCH entries per page (dfs.ls.limit)
  // A request without user.name is refused with 401 SecurityException; otherwise it runs as
  // Hadoop's default web user dr.who.
  bool require_user = false;
};

class WebHdfsServer {
 public:
  // How long the server may take to print its ports.
  static constexpr int kStartSeconds = 60;

  explicit WebHdfsServer(WebHdfsOptions options = {}) : options_(std::move(options)) { start(); }

  ~WebHdfsServer() { stop(); }

  WebHdfsServer(const WebHdfsServer&) = delete;
  WebHdfsServer& operator=(const WebHdfsServer&) = delete;

  // Empty while the server runs; otherwise why it does not (start failure or a failed control
  // call).
  const std::string& error() const { return error_; }

  const std::string& host() const { return options_.host; }
  int namenode_port(int i) const {
    return i >= 0 && static_cast<size_t>(i) < namenode_ports_.size() ? namenode_ports_[i] : 0;
  }
  int namenode_count() const { return static_cast<int>(namenode_ports_.size()); }
  int datanode_port() const { return datanode_port_; }
  int rm_port() const { return rm_port_; }
  int control_port() const { return control_port_; }

  // "127.0.0.1:p" or "[::1]:p": the form of dfs.namenode.http-address and of URL authorities.
  std::string namenode_address(int i) const { return authority(namenode_port(i)); }
  // "http://127.0.0.1:p" (the yarn_rm_url of the cluster).
  std::string rm_url() const { return "http://" + authority(rm_port_); }
  // The local directory that holds the namespace "/": /a/b in HDFS is root_dir()/a/b.
  const std::filesystem::path& root_dir() const { return root_; }

  // Fault and state controls (the control endpoint). A failure sets error().
  void set_standby(int nn, bool standby) {
    control("/standby?nn=" + std::to_string(nn) + "&state=" + (standby ? "standby" : "active"));
  }
  // The next `count` DataNode transfers (OPEN bodies sent, CREATE/APPEND bodies received) are cut
  // after `after_bytes` bytes of body: the connection closes without an answer.
  void drop_next_transfers(int count, uint64_t after_bytes) {
    control("/drop?count=" + std::to_string(count) + "&after=" + std::to_string(after_bytes));
  }
  // Every NameNode and DataNode request waits this long before being served (0 = none).
  void set_delay_ms(int ms) { control("/delay?ms=" + std::to_string(ms)); }
  // state: RUNNING, STOPPED, or "absent" to remove the queue.
  void set_queue(const std::string& name, const std::string& state) {
    control("/queue?name=" + name + "&state=" + state);
  }
  // Back to the start-up state: standby set, queues and users of the options, no faults. The
  // namespace (files and their metadata) is kept.
  void reset() { control("/reset"); }

  // Writes a Hadoop client configuration for a NameService of every NameNode of this server, as
  // real clusters ship them: core-site.xml (fs.defaultFS) and hdfs-site.xml (dfs.nameservices,
  // dfs.ha.namenodes.<ns> = nn1,nn2,..., dfs.namenode.http-address.<ns>.nnK and the matching
  // rpc-address, which this server does not serve).
  void write_hadoop_conf(const std::filesystem::path& dir, const std::string& nameservice) const {
    std::filesystem::create_directories(dir);
    const std::string header =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<?xml-stylesheet type=\"text/xsl\" href=\"configuration.xsl\"?>\n"
        "<configuration>\n";
    auto property = [](const std::string& name, const std::string& value) {
      return "  <property>\n    <name>" + name + "</name>\n    <value>" + value +
             "</value>\n  </property>\n";
    };
    {
      std::ofstream core(dir / "core-site.xml");
      core << header << property("fs.defaultFS", "hdfs://" + nameservice)
           << property("hadoop.security.authentication", "simple") << "</configuration>\n";
    }
    std::string ids;
    std::string addresses;
    for (int i = 0; i < namenode_count(); ++i) {
      const std::string id = "nn" + std::to_string(i + 1);
      ids += (i ? "," : "") + id;
      addresses +=
          property("dfs.namenode.rpc-address." + nameservice + "." + id, authority(8020 + i));
      addresses +=
          property("dfs.namenode.http-address." + nameservice + "." + id, namenode_address(i));
    }
    std::ofstream hdfs(dir / "hdfs-site.xml");
    hdfs << header << property("dfs.nameservices", nameservice)
         << property("dfs.ha.namenodes." + nameservice, ids) << addresses
         << property("dfs.client.failover.proxy.provider." + nameservice,
                     "org.apache.hadoop.hdfs.server.namenode.ha."
                     "ConfiguredFailoverProxyProvider")
         << property("dfs.webhdfs.enabled", "true") << "</configuration>\n";
  }

 private:
  std::string authority(int port) const {
    const bool v6 = options_.host.find(':') != std::string::npos;
    return (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(port);
  }

  void control(const std::string& path_and_query) {
    if (control_port_ == 0) {
      if (error_.empty()) error_ = "webhdfs test server is not running";
      return;
    }
    httplib::Client client(options_.host, control_port_);
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(10));
    auto res = client.Post(path_and_query);
    if (!res) {
      error_ = "webhdfs control " + path_and_query + ": " + httplib::to_string(res.error());
    } else if (res->status != 200) {
      error_ = "webhdfs control " + path_and_query + ": HTTP " + std::to_string(res->status) + " " +
               res->body;
    }
  }

  std::string log_tail() const {
    std::ifstream in(dir_ / "server.log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }

  void start() {
    const std::string script = std::string(FLINKBR_TEST_SERVERS_DIR) + "/webhdfs/webhdfs_server.py";
    std::string pattern =
        (std::filesystem::temp_directory_path() / "flinkbr-webhdfs-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
      error_ = "mkdtemp failed for the webhdfs test server";
      return;
    }
    dir_ = pattern;
    root_ = dir_ / "root";
    std::error_code ec;
    std::filesystem::create_directories(root_, ec);

    std::vector<std::string> args = {"python3",          script,
                                     "--root",           root_.string(),
                                     "--host",           options_.host,
                                     "--namenodes",      std::to_string(options_.namenodes),
                                     "--superuser",      options_.superuser,
                                     "--list-page-size", std::to_string(options_.list_page_size)};
    if (options_.require_user) args.push_back("--require-user");
    if (!options_.standby.empty()) {
      std::string s;
      for (int i : options_.standby) s += (s.empty() ? "" : ",") + std::to_string(i);
      args.insert(args.end(), {"--standby", s});
    }
    for (const auto& [user, groups] : options_.users) {
      std::string s = user + ":";
      for (size_t i = 0; i < groups.size(); ++i) s += (i ? "," : "") + groups[i];
      args.insert(args.end(), {"--user", s});
    }
    for (const auto& [queue, state] : options_.queues) {
      args.insert(args.end(), {"--queue", queue + ":" + state});
    }

    // stdin: a pipe we hold open (the server exits when it closes, so a killed test leaves no
    // server behind); stdout: the ports line; stderr: a log kept for error().
    int in_pipe[2];
    int out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
      error_ = "pipe failed for the webhdfs test server";
      return;
    }
    const std::string log = (dir_ / "server.log").string();
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::dup2(in_pipe[0], 0);
      ::dup2(out_pipe[1], 1);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) ::dup2(fd, 2);
      ::execvp("python3", argv.data());
      ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    stdin_fd_ = in_pipe[1];
    if (pid_ < 0) {
      ::close(out_pipe[0]);
      error_ = "fork failed for the webhdfs test server";
      return;
    }
    ::setpgid(pid_, pid_);  // also here: no race with the child's own setpgid

    std::string line;
    // Generous: python3 importing its modules on a machine loaded by an ASan suite took over
    // 10 s once.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kStartSeconds);
    bool got_line = false;
    while (!got_line) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{out_pipe[0], POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[512];
      ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
      if (n <= 0) break;  // the server exited
      line.append(buf, static_cast<size_t>(n));
      got_line = line.find('\n') != std::string::npos;
    }
    ::close(out_pipe[0]);
    if (!got_line) {
      // Output closed without a line: the server is exiting; give it a moment to be reaped.
      int status = 0;
      bool exited = false;
      const auto reap_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (!(exited = ::waitpid(pid_, &status, WNOHANG) == pid_) &&
             std::chrono::steady_clock::now() < reap_deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (exited) pid_ = -1;
      stop_process();
      if (exited && WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        error_ = "webhdfs test server: python3 could not be run (apt-get install python3)";
      } else if (exited) {
        error_ = "webhdfs test server exited at start: " + log_tail();
      } else {
        error_ = "webhdfs test server did not print its ports within " +
                 std::to_string(kStartSeconds) + " s: " + log_tail();
      }
      return;
    }
    try {
      auto j = nlohmann::json::parse(line.substr(0, line.find('\n')));
      for (const auto& p : j.at("namenodes")) namenode_ports_.push_back(p.get<int>());
      datanode_port_ = j.at("datanode").get<int>();
      rm_port_ = j.at("rm").get<int>();
      control_port_ = j.at("control").get<int>();
    } catch (const std::exception& e) {
      stop_process();
      error_ = "webhdfs test server printed an unreadable ports line '" + line + "': " + e.what();
    }
  }

  void stop_process() {
    if (stdin_fd_ >= 0) {
      ::close(stdin_fd_);
      stdin_fd_ = -1;
    }
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    control_port_ = 0;
  }

  void stop() {
    stop_process();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  WebHdfsOptions options_;
  std::string error_;
  std::filesystem::path dir_;
  std::filesystem::path root_;
  std::vector<int> namenode_ports_;
  int datanode_port_ = 0;
  int rm_port_ = 0;
  int control_port_ = 0;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
};

}  // namespace flinkbr::testing
