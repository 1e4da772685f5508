#include "harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <zlib.h>

extern char** environ;

namespace flinkbr::e2e {

namespace fs = std::filesystem;

CommandOutput run(const std::vector<std::string>& argv, const std::string& input,
                  const std::map<std::string, std::string>& env, const std::string& cwd) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  (void)!write(in_pipe[1], input.data(), input.size());
  close(in_pipe[1]);
  CommandOutput r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string gzip_member(const std::string& data) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

int sh(const std::string& command_line) {
  return run({"sh", "-c", command_line}).exit_code;
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "flinkbr-e2e-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

void write_file(const std::string& path, const std::string& data) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Tree snapshot(const std::string& dir) {
  Tree t;
  if (!fs::exists(dir)) return t;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    struct stat st {};
    lstat(it->path().c_str(), &st);
    TreeEntry e;
    e.is_dir = S_ISDIR(st.st_mode);
    e.mode = st.st_mode & 07777;
    e.mtime = st.st_mtime;
    if (S_ISREG(st.st_mode)) e.content = read_file(it->path().string());
    if (S_ISLNK(st.st_mode)) e.content = "symlink:" + fs::read_symlink(it->path()).string();
    t[fs::relative(it->path(), dir).string()] = e;
  }
  struct stat root {};
  stat(dir.c_str(), &root);
  t["."] = {true, static_cast<unsigned>(root.st_mode & 07777), 0, {}};
  return t;
}

std::string describe_difference(const Tree& expected, const Tree& actual) {
  std::string out;
  for (const auto& [path, e] : expected) {
    auto it = actual.find(path);
    if (it == actual.end()) {
      out += "missing: " + path + "\n";
    } else if (!(it->second == e)) {
      out += "differs: " + path;
      if (it->second.mode != e.mode)
        out += " (mode " + std::to_string(it->second.mode) + " vs " + std::to_string(e.mode) + ")";
      if (it->second.mtime != e.mtime) out += " (mtime)";
      if (it->second.content != e.content) out += " (content)";
      out += "\n";
    }
  }
  for (const auto& [path, e] : actual)
    if (!expected.contains(path)) out += "unexpected: " + path + "\n";
  return out;
}

Daemon::Daemon() : Daemon(Options{}) {}

Daemon::Daemon(Options options) : options_(std::move(options)) {
  root_ = make_temp_dir();
  port_ = free_port();
  fs::create_directories(ha_dir());
  fs::create_directories(conf_dir());
  fs::create_directories(savepoints_dir());
  set_service_state("running");
  set_version(options_.version);
  write_config();
  start();
  login();
}

Daemon::~Daemon() {
  stop();
  std::error_code ec;
  fs::remove_all(root_, ec);
}

std::string Daemon::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

void Daemon::set_service_state(const std::string& state) {
  write_file(root_ + "/service-state", state + "\n");
}
std::string Daemon::service_state() const {
  std::string s = read_file(root_ + "/service-state");
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}
void Daemon::set_version(const std::string& version) {
  write_file(root_ + "/version", version + "\n");
}
void Daemon::set_status_delay(int seconds) {
  write_file(root_ + "/status-delay", std::to_string(seconds) + "\n");
}

std::string Daemon::cluster_settings_yaml() const {
  std::string out;
  for (const auto& line : options_.cluster_settings) out += "    " + line + "\n";
  return out;
}

std::string Daemon::extra_metadata_yaml() const {
  std::string out;
  for (const auto& entry : options_.extra_metadata) out += "      - " + entry + "\n";
  return out;
}

std::string Daemon::cluster_yaml(const std::string& name, const std::string& ha_dir,
                                 const std::string& conf_dir,
                                 const std::vector<std::string>& extra_metadata) const {
  const std::string& r = root_;
  std::string yaml = "  - name: " + name + "\n    version_command: \"cat '" + r +
                     "/version'\"\n"
                     "    service:\n"
                     "      status: \"case $(cat '" +
                     r +
                     "/service-state') in running) exit 0;; stopped) exit 3;; *) exit 1;; esac\"\n"
                     "      stop: \"echo stopped > '" +
                     r + "/service-state'\"\n      start: \"echo running > '" + r +
                     "/service-state'\"\n      timeout: 10s\n"
                     "    metadata:\n"
                     "      - { name: ha, type: files, uri: \"file://" +
                     ha_dir + "\" }\n      - { name: conf, type: files, uri: \"file://" + conf_dir +
                     "\" }\n";
  for (const auto& entry : extra_metadata) yaml += "      - " + entry + "\n";
  return yaml;
}

void Daemon::add_cluster(const std::string& yaml) {
  stop();
  options_.extra_clusters += yaml;
  write_config();
  start();
}

std::string Daemon::server_settings_yaml() const {
  std::string out;
  for (const auto& line : options_.server_settings) out += "  " + line + "\n";
  return out;
}

void Daemon::write_config() {
  const std::string r = root_;
  std::string yaml = "server:\n  listen: 127.0.0.1:" + std::to_string(port_) +
                     "\n  state_dir: " + state_dir() + "\n" + server_settings_yaml() +
                     "clusters:\n"
                     "  - name: prod\n"
                     "    version_command: \"cat '" +
                     r +
                     "/version'\"\n"
                     "    service:\n"
                     "      status: \"[ -f '" +
                     r + "/status-delay' ] && sleep $(cat '" + r + "/status-delay'); case $(cat '" +
                     r +
                     "/service-state') in running) exit 0;; stopped) exit 3;; *) exit 1;; esac\"\n"
                     "      stop: \"echo stopped > '" +
                     r +
                     "/service-state'\"\n"
                     "      start: \"echo running > '" +
                     r +
                     "/service-state'\"\n"
                     "      timeout: 10s\n" +
                     cluster_settings_yaml() +
                     "    metadata:\n"
                     "      - { name: ha, type: files, uri: \"file://" +
                     ha_dir() +
                     "\" }\n"
                     "      - { name: conf, type: files, uri: \"file://" +
                     conf_dir() + "\" }\n" + extra_metadata_yaml() +
                     "    service_data:\n"
                     "      - { name: savepoints, type: files, uri: \"file://" +
                     savepoints_dir() + "\" }\n" + options_.extra_clusters;
  write_file(root_ + "/flinkbr.yaml", yaml);
}

void Daemon::start() {
  if (pid_ > 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    int log = open((root_ + "/daemon.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(log, 1);
    dup2(log, 2);
    for (const auto& [k, v] : options_.env) setenv(k.c_str(), v.c_str(), 1);
    std::string config = root_ + "/flinkbr.yaml";
    execl(FLINKBR_BINARY, FLINKBR_BINARY, "serve", "--config", config.c_str(), nullptr);
    _exit(127);
  }
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(std::chrono::milliseconds(200));
  for (int i = 0; i < 300; ++i) {
    auto res = client.Get("/api/v1/health");
    if (res && res->status == 200) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the daemon exited at start:\n" + read_file(root_ + "/daemon.log"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("the daemon did not become healthy:\n" +
                           read_file(root_ + "/daemon.log"));
}

void Daemon::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill9();
}

void Daemon::add_top_level_config(const std::string& yaml) {
  stop();
  std::string config = read_file(root_ + "/flinkbr.yaml");
  size_t at = config.find("clusters:\n");
  if (at == std::string::npos) throw std::runtime_error("flinkbr.yaml has no clusters: section");
  config.insert(at, yaml);
  write_file(root_ + "/flinkbr.yaml", config);
  start();
}

int Daemon::wait_exit(double limit_s) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int>(limit_s * 1000));
  for (;;) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Daemon::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

CommandOutput Daemon::cli(const std::vector<std::string>& args, const std::string& input,
                          const std::string& as) {
  std::vector<std::string> argv = {FLINKBR_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input, {{"FLINKBR_SERVER", url()}, {"FLINKBR_CONFIG_DIR", cli_dir(as)}});
}

std::string Daemon::admin_password() const {
  std::string p = read_file(state_dir() + "/initial-admin-password");
  while (!p.empty() && p.back() == '\n') p.pop_back();
  return p;
}

void Daemon::login(const std::string& user, const std::string& password) {
  std::string pw = password.empty() ? admin_password() : password;
  auto r = cli({"login", "--user", user}, pw + "\n", user);
  if (r.exit_code != 0) throw std::runtime_error("login failed: " + r.err);
}

std::string Daemon::token(const std::string& user) const {
  auto j = nlohmann::json::parse(read_file(cli_dir(user) + "/credentials.json"));
  return j.at("token").get<std::string>();
}

Daemon::Response Daemon::api(const std::string& method, const std::string& path,
                             const nlohmann::json& body, const std::string& as) {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(std::chrono::seconds(60));
  httplib::Headers headers;
  if (!as.empty()) headers.emplace("Authorization", "Bearer " + token(as));
  httplib::Result res{nullptr, httplib::Error::Unknown};
  std::string payload = body.is_null() ? std::string() : body.dump();
  if (method == "GET")
    res = client.Get(path.c_str(), headers);
  else if (method == "POST")
    res = client.Post(path.c_str(), headers, payload, "application/json");
  else if (method == "DELETE")
    res = client.Delete(path.c_str(), headers);
  Response r;
  if (!res) return r;
  r.status = res->status;
  r.body = nlohmann::json::parse(res->body, nullptr, false);
  return r;
}

void Daemon::seed_cluster() {
  write_file(ha_dir() + "/default/submittedJobGraph7a1c",
             std::string("\xAC\xED\x00\x05graph\0x", 12));
  write_file(ha_dir() + "/default/completedCheckpoint7a1c-1", std::string(5000, 'c'));
  write_file(ha_dir() + "/default/blob/job_7a1c/blob_p-1", std::string(100000, '\0') + "end");
  write_file(ha_dir() + "/default/empty-file", "");
  fs::create_directories(ha_dir() + "/default/jobresults");
  write_file(conf_dir() + "/flink-conf.yaml", "jobmanager.rpc.address: localhost\n");
  write_file(conf_dir() + "/masters", "localhost:8081\n");
  write_file(conf_dir() + "/secret.keytab", "keytab\n");
  chmod((conf_dir() + "/secret.keytab").c_str(), 0600);
  chmod((ha_dir() + "/default/blob").c_str(), 0750);
  write_file(savepoints_dir() + "/savepoint-1/_metadata", "savepoint bytes");
  // Distinct, old modification times, so a restore that loses them is caught.
  sh("find '" + root_ + "/cluster' -exec touch -h -d '2024-03-01 12:00:00' {} +");
  sh("touch -d '2023-01-02 03:04:05' '" + ha_dir() + "/default/completedCheckpoint7a1c-1'");
}

std::string Daemon::backup(const std::string& task, const std::string& data_source) {
  auto tasks = api("GET", "/api/v1/backup-tasks/" + task);
  if (tasks.status == 404) {
    auto c = cli({"backup", "create", task, "--cluster", "prod", "--data-source", data_source,
                  "--path-type", "LocalDir"});
    if (c.exit_code != 0) throw std::runtime_error("backup create failed: " + c.err);
  }
  auto r = cli({"backup", "run", task, "--wait"});
  if (r.exit_code != 0) throw std::runtime_error("backup run failed: " + r.err + r.out);
  auto h = cli({"backup", "history", task, "--json"});
  auto records = nlohmann::json::parse(h.out);
  return records.at(0).at("backup_path").get<std::string>();
}

Tree cluster_tree(Daemon& d) {
  Tree t;
  for (auto& [dir, name] : {std::pair{d.ha_dir(), "ha"}, std::pair{d.conf_dir(), "conf"}})
    for (auto& [path, e] : snapshot(dir)) t[std::string(name) + "/" + path] = e;
  return t;
}

void create_restore(Daemon& d, const std::string& name, const std::string& path,
                    const std::string& cluster, const std::string& data_source) {
  auto c = d.cli({"restore", "create", name, "--cluster", cluster, "--data-source", data_source,
                  "--path-type", "LocalDir", "--source-path", path});
  ASSERT_EQ(c.exit_code, 0) << c.err;
}

nlohmann::json restore_show(Daemon& d, const std::string& name) {
  auto r = d.cli({"restore", "show", name, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

}  // namespace flinkbr::e2e
