// End-to-end harness: starts the real `flinkbr serve` on a free loopback port with a fresh state
// directory and a test cluster, and drives it with the real `flinkbr` CLI. Nothing is mocked:
// the cluster's metadata sources are real directories, its service is driven by real shell
// commands through a state file the test can change.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace flinkbr::e2e {

struct CommandOutput {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a program (no shell), feeding `input` on stdin, with extra environment variables.
CommandOutput run(const std::vector<std::string>& argv, const std::string& input = {},
                  const std::map<std::string, std::string>& env = {}, const std::string& cwd = {});
// Runs a shell command line; for test set-up only (tar, chmod ...).
int sh(const std::string& command_line);
// `data` as one gzip member (zlib level 6), for hand-made backup files.
std::string gzip_member(const std::string& data);

int free_port();
std::string make_temp_dir();
void write_file(const std::string& path, const std::string& data);
std::string read_file(const std::string& path);

// Everything a user can see of a directory tree: every entry's type, mode, mtime and content.
struct TreeEntry {
  bool is_dir = false;
  unsigned mode = 0;
  long long mtime = 0;
  std::string content;
  bool operator==(const TreeEntry&) const = default;
};
using Tree = std::map<std::string, TreeEntry>;
Tree snapshot(const std::string& dir);
// A readable list of the differences, empty when equal.
std::string describe_difference(const Tree& expected, const Tree& actual);

class Daemon;
// The metadata trees of the test cluster "prod" ("ha/..." and "conf/..."), as snapshot() sees them.
Tree cluster_tree(Daemon& d);

class Daemon {
 public:
  struct Options {
    std::string version = "1.18.1";
    std::map<std::string, std::string> env;  // for the daemon, e.g. FLINKBR_FAULT_INJECTION
    // More metadata sources of "prod", after "ha" and "conf": YAML flow maps, one per entry,
    // e.g. "{ name: zk, type: zookeeper, connect: \"127.0.0.1:2181\", root: /flink/prod }".
    std::vector<std::string> extra_metadata;
    // More keys of the cluster "prod", one YAML line each at the cluster's level, e.g.
    // "obs: { endpoint: \"http://127.0.0.1:9000\", region: us-east-1 }".
    std::vector<std::string> cluster_settings;
    // More clusters, as YAML list items at the level of "  - name: prod" (cluster_yaml() writes
    // one like prod); the migration tests restore into them.
    std::string extra_clusters;
    // More keys of "server", one YAML line each, e.g. "webhook_url: http://127.0.0.1:9/hook" or
    // "database: postgresql://u@host:5432/db".
    std::vector<std::string> server_settings;
  };
  Daemon();
  explicit Daemon(Options options);
  ~Daemon();  // stops the daemon

  // The test cluster "prod": metadata sources "ha" and "conf", service data "savepoints".
  std::string ha_dir() const { return root_ + "/cluster/ha"; }
  std::string conf_dir() const { return root_ + "/cluster/conf"; }
  std::string savepoints_dir() const { return root_ + "/cluster/savepoints"; }
  std::string state_dir() const { return root_ + "/state"; }
  std::string root() const { return root_; }
  std::string url() const;

  // Service state as the status command reports it: "running", "stopped" or anything else
  // (unknown).
  void set_service_state(const std::string& state);
  std::string service_state() const;
  // The version the cluster's version command prints.
  void set_version(const std::string& version);
  // Makes the status command sleep `seconds` before answering (concurrency tests).
  void set_status_delay(int seconds);

  // The daemon's environment from its next start().
  std::map<std::string, std::string>& env() { return options_.env; }
  void start();
  void stop();   // SIGTERM and wait
  void kill9();  // SIGKILL and wait
  // Waits up to `limit_s` for the daemon to exit on its own (a group member that stepped down
  // exits 75): its wait status, after which running() is false; -1 while it still runs.
  int wait_exit(double limit_s);
  // Adds top-level YAML (e.g. a "restore:" section) before "clusters:" and restarts the daemon.
  void add_top_level_config(const std::string& yaml);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }

  // Runs `flinkbr <args>` against this daemon with the admin's (or `as`) credentials.
  CommandOutput cli(const std::vector<std::string>& args, const std::string& input = {},
                    const std::string& as = "admin");
  // Logs `user` in with `password` (admin: the initial password).
  void login(const std::string& user = "admin", const std::string& password = {});
  std::string admin_password() const;
  std::string token(const std::string& user = "admin") const;

  // REST helpers with the admin's token (or none).
  struct Response {
    int status = 0;
    nlohmann::json body;
  };
  Response api(const std::string& method, const std::string& path,
               const nlohmann::json& body = nullptr, const std::string& as = "admin");

  // A cluster like "prod" (same version and service commands) named `name`, with the files
  // sources "ha" at `ha_dir` and "conf" at `conf_dir` and the YAML flow maps `extra_metadata`,
  // for Options::extra_clusters.
  std::string cluster_yaml(const std::string& name, const std::string& ha_dir,
                           const std::string& conf_dir,
                           const std::vector<std::string>& extra_metadata) const;

  // Stops the daemon, adds a cluster (cluster_yaml()) to its configuration and starts it again.
  void add_cluster(const std::string& yaml);

  // Fills the cluster with a small Flink-like tree.
  void seed_cluster();
  // The latest backup path of a backup task (runs it and waits).
  std::string backup(const std::string& task = "nightly", const std::string& data_source = "Flink");

 private:
  void write_config();
  std::string extra_metadata_yaml() const;
  std::string cluster_settings_yaml() const;
  std::string server_settings_yaml() const;
  std::string cli_dir(const std::string& user) const { return root_ + "/cli-" + user; }
  Options options_;
  std::string root_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Creates restoration task `name` of the LocalDir backup file at `path` for `cluster` and
// `data_source`; the test fails when the CLI refuses.
void create_restore(Daemon& d, const std::string& name, const std::string& path,
                    const std::string& cluster = "prod", const std::string& data_source = "Flink");
// The task as `restore show NAME --json` prints it.
nlohmann::json restore_show(Daemon& d, const std::string& name);

}  // namespace flinkbr::e2e
