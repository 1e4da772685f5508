// The daemon's configuration: one YAML file (docs/configuration.md documents every key), or the
// embedded default when `flinkbr serve` runs without --config. Unknown keys and malformed values
// are refused at start with the key named, e.g. "clusters[0].metadata[1].uri: ...".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "io/parallel_gzip.h"

namespace flinkbr::config {

// One metadata or service-data source. `type` selects the implementation in
// source/registry.h; `params` holds the remaining keys of its YAML map (e.g. "uri" for files,
// "connect"/"root" for zookeeper), validated by that implementation.
struct SourceConfig {
  std::string name;
  std::string type;  // "files", "zookeeper", "postgres"
  nlohmann::json params = nlohmann::json::object();
  std::string key_path;  // "clusters[0].metadata[1]", for error messages
};

struct ServiceConfig {
  std::string status;    // shell command line: exit 0 running, 3 stopped, else unknown
  std::string stop;      // shell command line
  std::string start;     // shell command line
  std::string rest_url;  // optional Flink JobManager REST URL; GET /overview answering = running
  int timeout_seconds = 120;  // for stop/start to reach the wanted state
};

struct ObsConfig {
  std::string endpoint;
  std::string region;
  std::string credentials_file;
  std::string addressing;  // "", "path", "virtual"
  // Bytes per part of a multipart upload, 5 MiB to 5 GiB (S3's limits): also the memory an
  // upload holds. A backup file may have at most 10,000 parts.
  uint64_t part_size = uint64_t{16} << 20;
};

struct ClusterConfig {
  std::string name;
  std::string version;          // fixed system version, or
  std::string version_command;  // a shell command printing it
  ServiceConfig service;
  std::string hadoop_conf_dir;
  std::string hdfs_user;                // user.name of simple authentication; default: the OS user
  int webhdfs_port = 9870;              // RemoteHDFS: when the NameNode address has no port
  std::string yarn_rm_url;              // ResourceManager, for the queue check of RemoteHDFS
  std::string hdfs_auth = "simple";     // "simple" (user.name) or "kerberos" (SPNEGO)
  std::string hdfs_ca_file;             // PEM CA bundle for HTTPS WebHDFS; empty: the system's
  std::string webhdfs_scheme = "http";  // RemoteHDFS: "http" or "https"
  ObsConfig obs;
  std::vector<SourceConfig> metadata;
  std::vector<SourceConfig> service_data;
};

struct ServerConfig {
  std::string listen_host = "127.0.0.1";  // an IPv6 address without brackets: "::1"
  int listen_port = 8080;
  std::string state_dir = "./flinkbr-state";  // made absolute at load
  std::string tls_cert_file;                  // both set: serve HTTPS
  std::string tls_key_file;
  int token_ttl_seconds = 12 * 3600;
  // How backup files are compressed (always one standard gzip stream). Set by `compression`
  // ("isal:1" by default), or by the older `gzip_level` N, which means "zlib:N".
  io::Compression compression;
  int gzip_level = 6;       // as configured; only meaningful when the file set it
  std::string console_dir;  // static console files; default: found next to the binary
  // A JSON POST for every backup run and restoration attempt that ends Failed (and Succeeded
  // with webhook_on_success) to webhook_url; signed with the secret in webhook_secret_file
  // when set (docs/operations.md).
  std::string webhook_url;
  bool webhook_on_success = false;
  std::string webhook_secret_file;
  // The state database. Empty: SQLite in <state_dir>/flinkbr.db. Else a PostgreSQL URI
  // (postgresql://user@host:port/db) without a password; the password comes from the
  // environment (FLINKBR_DATABASE_PASSWORD) or database_password_file (store/database.h).
  std::string database;
  std::string database_password_file;  // a file of mode 0600, owned by the daemon's user
  // The manager group's election (PostgreSQL mode): a standby takes over once the active's lease
  // went unrenewed for lease_timeout; the active renews every lease_renew (at most a third).
  int lease_timeout_seconds = 10;
  int lease_renew_seconds = 2;
  // How long a standby waits for an active to take a call it relays (server/relay.h); then it
  // withdraws the command and answers 503 (nothing was done).
  int relay_wait_seconds = 30;
};

// How restorations run, for every cluster.
struct RestoreSettings {
  // A hard cap on what a backup file may expand to (the sizes its manifest lists, all sources);
  // a restore of a larger file is refused before anything is staged. 0: no cap.
  uint64_t max_expanded_bytes = 0;
};

struct Config {
  ServerConfig server;
  RestoreSettings restore;
  std::vector<ClusterConfig> clusters;

  const ClusterConfig* find_cluster(std::string_view name) const;
};

// Parses YAML text. `origin` names the file in messages.
Result<Config> parse_config(const std::string& yaml_text, const std::string& origin);
// Reads and parses a file.
Result<Config> load_config(const std::string& path);
// The embedded default: 127.0.0.1:8080, state in ./flinkbr-state (or `state_dir`), one demo
// cluster whose sources live under <state_dir>/demo and whose service is a placeholder
// process. See server/demo.h for the seeding of its data.
Config embedded_default(const std::string& state_dir = "./flinkbr-state");

// Quotes `s` for POSIX sh as one word: wrapped in single quotes, each embedded ' written as '\''.
// "" becomes ''.
std::string shell_quote(std::string_view s);

// Parses a duration "N{s,m,h,d}" (a positive integer and a unit, e.g. "30s", "12h", "1d") into
// seconds. kInvalidArgument naming `field` when malformed, zero, or longer than 3650 days. Shared
// by the configuration (token_ttl, service.timeout) and anything else that takes such durations.
Result<int64_t> parse_duration(std::string_view text, std::string_view field);

}  // namespace flinkbr::config
