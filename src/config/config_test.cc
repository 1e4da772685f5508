#include "config/config.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace flinkbr::config {
namespace {

namespace fs = std::filesystem;

// gmock is not linked into the module tests: a substring check of our own.
#define EXPECT_HAS_SUBSTR(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

// The example of product.md ("Configuration"), with every server key added.
constexpr const char* kFullExample = R"(
server:
  listen: 127.0.0.1:8080
  state_dir: /var/lib/flinkbr          # SQLite database, LocalBackup/, staging, logs
  tls_cert_file: /etc/flinkbr/tls.crt
  tls_key_file: /etc/flinkbr/tls.key
  token_ttl: 8h
  gzip_level: 3
  console_dir: /usr/share/flinkbr/console
  database: postgresql://flinkbr@db.example:5432/flinkbr   # absent: SQLite in state_dir
  database_password_file: /etc/flinkbr/db-password
clusters:
  - name: flink-prod
    version: "1.18.1"                   # or version_command: prints the version
    service:
      status: "systemctl is-active --quiet flink"   # exit 0 running, 3 stopped, else unknown
      stop: "systemctl stop flink"
      start: "systemctl start flink"
      rest_url: http://jobmanager:8081  # optional: a JobManager answering means running
      timeout: 5m
    hadoop_conf_dir: /etc/hadoop/conf   # core-site.xml, hdfs-site.xml for LocalHDFS
    hdfs_user: flink
    webhdfs_port: 9870
    yarn_rm_url: http://resourcemanager:8088
    obs: { endpoint: "https://obs.example.com", region: "region-1", credentials_file: /etc/flinkbr/obs.cred, addressing: path, part_size: 8MiB }
    metadata:
      - { name: ha, type: zookeeper, connect: "zk1:2181,zk2:2181", root: /flink/prod }
      - { name: ha-storage, type: files, uri: "hdfs://hacluster/flink/ha" }
      - { name: conf, type: files, uri: "file:///opt/flink/conf" }
      - { name: jobs-db, type: postgres, dsn: "host=db dbname=flinkserver user=flinkbr", schema: public }
    service_data:
      - { name: savepoints, type: files, uri: "hdfs://hacluster/flink/savepoints" }
  - name: flink-test
    version_command: "cat /opt/flink/VERSION"
)";

Config parse_ok(const std::string& yaml) {
  auto r = parse_config(yaml, "test.yaml");
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return r.value_or(Config{});
}

TEST(ConfigTest, FullExampleParsesWithEveryField) {
  Config cfg = parse_ok(kFullExample);
  EXPECT_EQ(cfg.server.listen_host, "127.0.0.1");
  EXPECT_EQ(cfg.server.listen_port, 8080);
  EXPECT_EQ(cfg.server.state_dir, "/var/lib/flinkbr");
  EXPECT_EQ(cfg.server.tls_cert_file, "/etc/flinkbr/tls.crt");
  EXPECT_EQ(cfg.server.tls_key_file, "/etc/flinkbr/tls.key");
  EXPECT_EQ(cfg.server.token_ttl_seconds, 8 * 3600);
  EXPECT_EQ(cfg.server.gzip_level, 3);
  // The older key keeps its meaning: a zlib level.
  EXPECT_EQ(cfg.server.compression.to_string(), "zlib:3");
  EXPECT_EQ(cfg.server.console_dir, "/usr/share/flinkbr/console");
  EXPECT_EQ(cfg.server.database, "postgresql://flinkbr@db.example:5432/flinkbr");
  EXPECT_EQ(cfg.server.database_password_file, "/etc/flinkbr/db-password");

  ASSERT_EQ(cfg.clusters.size(), 2u);
  const ClusterConfig& c = cfg.clusters[0];
  EXPECT_EQ(c.name, "flink-prod");
  EXPECT_EQ(c.version, "1.18.1");
  EXPECT_EQ(c.version_command, "");
  EXPECT_EQ(c.service.status, "systemctl is-active --quiet flink");
  EXPECT_EQ(c.service.stop, "systemctl stop flink");
  EXPECT_EQ(c.service.start, "systemctl start flink");
  EXPECT_EQ(c.service.rest_url, "http://jobmanager:8081");
  EXPECT_EQ(c.service.timeout_seconds, 300);
  EXPECT_EQ(c.hadoop_conf_dir, "/etc/hadoop/conf");
  EXPECT_EQ(c.hdfs_user, "flink");
  EXPECT_EQ(c.webhdfs_port, 9870);
  EXPECT_EQ(c.yarn_rm_url, "http://resourcemanager:8088");
  EXPECT_EQ(c.obs.endpoint, "https://obs.example.com");
  EXPECT_EQ(c.obs.region, "region-1");
  EXPECT_EQ(c.obs.credentials_file, "/etc/flinkbr/obs.cred");
  EXPECT_EQ(c.obs.addressing, "path");
  EXPECT_EQ(c.obs.part_size, uint64_t{8} << 20);

  ASSERT_EQ(c.metadata.size(), 4u);
  EXPECT_EQ(c.metadata[0].name, "ha");
  EXPECT_EQ(c.metadata[0].type, "zookeeper");
  EXPECT_EQ(c.metadata[0].key_path, "clusters[0].metadata[0]");
  EXPECT_EQ(c.metadata[0].params,
            (nlohmann::json{{"connect", "zk1:2181,zk2:2181"}, {"root", "/flink/prod"}}));
  EXPECT_EQ(c.metadata[1].name, "ha-storage");
  EXPECT_EQ(c.metadata[1].type, "files");
  EXPECT_EQ(c.metadata[1].params, (nlohmann::json{{"uri", "hdfs://hacluster/flink/ha"}}));
  EXPECT_EQ(c.metadata[2].name, "conf");
  EXPECT_EQ(c.metadata[2].params, (nlohmann::json{{"uri", "file:///opt/flink/conf"}}));
  EXPECT_EQ(c.metadata[3].name, "jobs-db");
  EXPECT_EQ(c.metadata[3].type, "postgres");
  EXPECT_EQ(c.metadata[3].key_path, "clusters[0].metadata[3]");
  EXPECT_EQ(
      c.metadata[3].params,
      (nlohmann::json{{"dsn", "host=db dbname=flinkserver user=flinkbr"}, {"schema", "public"}}));
  ASSERT_EQ(c.service_data.size(), 1u);
  EXPECT_EQ(c.service_data[0].name, "savepoints");
  EXPECT_EQ(c.service_data[0].type, "files");
  EXPECT_EQ(c.service_data[0].key_path, "clusters[0].service_data[0]");
  EXPECT_EQ(c.service_data[0].params,
            (nlohmann::json{{"uri", "hdfs://hacluster/flink/savepoints"}}));

  const ClusterConfig& t = cfg.clusters[1];
  EXPECT_EQ(t.name, "flink-test");
  EXPECT_EQ(t.version, "");
  EXPECT_EQ(t.version_command, "cat /opt/flink/VERSION");
  EXPECT_EQ(t.service.timeout_seconds, 120);
  EXPECT_EQ(t.webhdfs_port, 9870);
  EXPECT_TRUE(t.metadata.empty());

  EXPECT_EQ(cfg.find_cluster("flink-test"), &cfg.clusters[1]);
  EXPECT_EQ(cfg.find_cluster("flink-prod"), &cfg.clusters[0]);
  EXPECT_EQ(cfg.find_cluster("nope"), nullptr);
}

TEST(ConfigTest, LeaseSettingsOfTheManagerGroup) {
  Config defaults = parse_ok("clusters: [{ name: a, version: '1' }]\n");
  EXPECT_EQ(defaults.server.lease_timeout_seconds, 10);
  EXPECT_EQ(defaults.server.lease_renew_seconds, 2);
  Config set = parse_ok(
      "server: { lease_timeout: 1m, lease_renew: 20s }\nclusters: [{ name: a, version: '1' }]\n");
  EXPECT_EQ(set.server.lease_timeout_seconds, 60);
  EXPECT_EQ(set.server.lease_renew_seconds, 20);
  EXPECT_EQ(defaults.server.relay_wait_seconds, 30);
  EXPECT_EQ(parse_ok("server: { relay_wait: 5s }\nclusters: [{ name: a, version: '1' }]\n")
                .server.relay_wait_seconds,
            5);
}

TEST(ConfigTest, DefaultsWhenServerIsLeftOut) {
  Config cfg = parse_ok("clusters: [{ name: a, version: '1.17' }]\n");
  EXPECT_EQ(cfg.server.listen_host, "127.0.0.1");
  EXPECT_EQ(cfg.server.listen_port, 8080);
  EXPECT_EQ(cfg.server.state_dir, (fs::current_path() / "flinkbr-state").string());
  EXPECT_EQ(cfg.server.token_ttl_seconds, 12 * 3600);
  EXPECT_EQ(cfg.server.gzip_level, 6);
  EXPECT_EQ(cfg.server.compression.to_string(), "isal:1");
  EXPECT_EQ(cfg.server.tls_cert_file, "");
  EXPECT_EQ(cfg.clusters[0].version, "1.17");
}

TEST(ConfigTest, RestoreCapIsOptional) {
  EXPECT_EQ(parse_ok("clusters: [{ name: a, version: '1' }]\n").restore.max_expanded_bytes, 0u);
  EXPECT_EQ(
      parse_ok("restore:\nclusters: [{ name: a, version: '1' }]\n").restore.max_expanded_bytes, 0u);
  EXPECT_EQ(parse_ok("restore: { max_expanded_bytes: 64GiB }\n"
                     "clusters: [{ name: a, version: '1' }]\n")
                .restore.max_expanded_bytes,
            uint64_t{64} << 30);
  EXPECT_EQ(parse_ok("restore: { max_expanded_bytes: 1000 }\n"
                     "clusters: [{ name: a, version: '1' }]\n")
                .restore.max_expanded_bytes,
            1000u);
}

TEST(ConfigTest, RelativeStateDirIsMadeAbsolute) {
  Config cfg =
      parse_ok("server: { state_dir: ./data/../state/ }\nclusters: [{name: a, version: x}]\n");
  EXPECT_EQ(cfg.server.state_dir, (fs::current_path() / "state").string());
}

TEST(ConfigTest, Ipv6Listen) {
  Config cfg = parse_ok("server: { listen: '[::1]:9443' }\nclusters: [{name: a, version: x}]\n");
  EXPECT_EQ(cfg.server.listen_host, "::1");
  EXPECT_EQ(cfg.server.listen_port, 9443);
  cfg = parse_ok("server: { listen: '0.0.0.0:1' }\nclusters: [{name: a, version: x}]\n");
  EXPECT_EQ(cfg.server.listen_host, "0.0.0.0");
  EXPECT_EQ(cfg.server.listen_port, 1);
  cfg = parse_ok(
      "server: { listen: 'flinkbr.example.com:65535' }\nclusters: [{name: a, version: x}]\n");
  EXPECT_EQ(cfg.server.listen_host, "flinkbr.example.com");
  EXPECT_EQ(cfg.server.listen_port, 65535);
}

TEST(ConfigTest, FlowAndBlockStyleSourcesAndParamTypes) {
  Config cfg = parse_ok(R"(
clusters:
  - name: c1
    version: 1.18.1
    metadata:
      - { name: ha, type: zookeeper, connect: "zk1:2181", root: /flink/c1, batch: 250, tls: true, ratio: 0.5, port: "2181", mode: 0755, hosts: [a, 2, false], extra: { k: v } }
      - name: jobs
        type: postgres
        dsn: host=db
        tables:
          - job
          - savepoint
        empty:
    service_data: [{ name: sp, type: files, uri: "file:///sp" }]
)");
  ASSERT_EQ(cfg.clusters.size(), 1u);
  const auto& md = cfg.clusters[0].metadata;
  ASSERT_EQ(md.size(), 2u);
  EXPECT_EQ(md[0].params["connect"], "zk1:2181");
  EXPECT_EQ(md[0].params["root"], "/flink/c1");
  EXPECT_EQ(md[0].params["batch"], 250);
  EXPECT_EQ(md[0].params["tls"], true);
  EXPECT_EQ(md[0].params["ratio"], 0.5);
  EXPECT_EQ(md[0].params["port"], "2181");  // quoted: stays a string
  EXPECT_EQ(md[0].params["mode"], "0755");  // leading zero: stays a string
  EXPECT_EQ(md[0].params["hosts"], (nlohmann::json{"a", 2, false}));
  EXPECT_EQ(md[0].params["extra"], (nlohmann::json{{"k", "v"}}));
  EXPECT_FALSE(md[0].params.contains("name"));
  EXPECT_FALSE(md[0].params.contains("type"));
  EXPECT_EQ(md[1].name, "jobs");
  EXPECT_EQ(md[1].params["dsn"], "host=db");
  EXPECT_EQ(md[1].params["tables"], (nlohmann::json{"job", "savepoint"}));
  EXPECT_TRUE(md[1].params["empty"].is_null());
  EXPECT_EQ(md[1].key_path, "clusters[0].metadata[1]");
  ASSERT_EQ(cfg.clusters[0].service_data.size(), 1u);
  EXPECT_EQ(cfg.clusters[0].service_data[0].params["uri"], "file:///sp");
}

int sh(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ConfigTest, EmbeddedDefault) {
  fs::path base = fs::path(::testing::TempDir()) / ("flinkbr-config-" + std::to_string(getpid()));
  fs::path state = base / "it's state";  // a quote in the path: the commands must quote it
  fs::remove_all(base);
  Config cfg = embedded_default(state.string());
  const std::string dir = state.string();
  EXPECT_EQ(cfg.server.listen_host, "127.0.0.1");
  EXPECT_EQ(cfg.server.listen_port, 8080);
  EXPECT_EQ(cfg.server.state_dir, dir);
  ASSERT_EQ(cfg.clusters.size(), 1u);
  const ClusterConfig& c = cfg.clusters[0];
  EXPECT_EQ(c.name, "demo");
  EXPECT_EQ(c.version, "1.18.1");
  ASSERT_EQ(c.metadata.size(), 2u);
  EXPECT_EQ(c.metadata[0].name, "ha-storage");
  EXPECT_EQ(c.metadata[0].type, "files");
  // The state directory has a quote but no blank: "it's state" -> "it's%20state".
  const std::string uri_dir = "file://" + base.string() + "/it's%20state";
  EXPECT_EQ(c.metadata[0].params["uri"], uri_dir + "/demo/flink/ha");
  EXPECT_EQ(c.metadata[1].name, "conf");
  EXPECT_EQ(c.metadata[1].params["uri"], uri_dir + "/demo/flink/conf");
  ASSERT_EQ(c.service_data.size(), 1u);
  EXPECT_EQ(c.service_data[0].name, "savepoints");
  EXPECT_EQ(c.service_data[0].params["uri"], uri_dir + "/demo/flink/savepoints");
  EXPECT_EQ(c.service.timeout_seconds, 30);
  EXPECT_HAS_SUBSTR(c.service.start, ("sleep 2147483647"));
  EXPECT_HAS_SUBSTR(c.service.status, (shell_quote(dir + "/demo/flink.pid")));

  // The placeholder service behaves as a service: stopped, started, running, stopped again.
  EXPECT_EQ(sh(c.service.status), 3);
  EXPECT_EQ(sh(c.service.stop), 0);  // stopping a stopped service is fine
  ASSERT_EQ(sh(c.service.start), 0);
  EXPECT_TRUE(fs::exists(state / "demo" / "flink.pid"));
  EXPECT_EQ(sh(c.service.status), 0);
  EXPECT_EQ(sh(c.service.start), 0);  // already running: no second process
  EXPECT_EQ(sh(c.service.stop), 0);
  EXPECT_EQ(sh(c.service.status), 3);
  EXPECT_FALSE(fs::exists(state / "demo" / "flink.pid"));
  fs::remove_all(base);

  // Blanks and '%' in the state directory are percent-encoded in the URIs.
  Config odd = embedded_default("/srv/my state/100%");
  EXPECT_EQ(odd.clusters[0].metadata[0].params["uri"],
            "file:///srv/my%20state/100%25/demo/flink/ha");

  Config rel = embedded_default();
  EXPECT_EQ(rel.server.state_dir, (fs::current_path() / "flinkbr-state").string());
}

TEST(ConfigTest, ShellQuote) {
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("/a b/c"), "'/a b/c'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(sh("test \"$(printf %s " + shell_quote("a'b $HOME `x` \"q\"") +
               ")\" = 'a'\\''b $HOME `x` \"q\"'"),
            0);
}

TEST(ConfigTest, ParseDuration) {
  EXPECT_EQ(parse_duration("30s", "f").value(), 30);
  EXPECT_EQ(parse_duration("2m", "f").value(), 120);
  EXPECT_EQ(parse_duration("12h", "f").value(), 12 * 3600);
  EXPECT_EQ(parse_duration("1d", "f").value(), 86400);
  for (const char* bad : {"", "s", "12", "0s", "-1h", "1.5h", "1w", "h12", " 1h", "99999d"}) {
    auto r = parse_duration(bad, "x.timeout");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument);
    EXPECT_EQ(r.error().field, "x.timeout");
  }
}

struct Refusal {
  const char* what;
  const char* yaml;
  const char* field;
  const char* message;  // a part of the message
};

constexpr const char* kCluster = "clusters: [{ name: a, version: '1' }]\n";

class RefusalTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(RefusalTest, NamesTheKeyPath) {
  const Refusal& p = GetParam();
  auto r = parse_config(p.yaml, "flinkbr.yaml");
  ASSERT_FALSE(r.has_value()) << p.what;
  EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << p.what;
  EXPECT_EQ(r.error().field, p.field) << p.what << ": " << r.error().message;
  EXPECT_HAS_SUBSTR(r.error().message, (p.message)) << p.what;
}

INSTANTIATE_TEST_SUITE_P(
    Config, RefusalTest,
    ::testing::Values(
        Refusal{"unknown top-level key", "serveur: {}\nclusters: []\n", "serveur",
                "unknown key 'serveur' in flinkbr.yaml:1:1; did you mean 'server'?"},
        Refusal{"unknown key without a hint", "colour: blue\n", "colour",
                "unknown key 'colour' in flinkbr.yaml:1:1"},
        Refusal{"unknown nested key with hint",
                "clusters:\n  - name: a\n    version: '1'\n    service:\n      stopp: x\n",
                "clusters[0].service.stopp",
                "unknown key 'clusters[0].service.stopp' in flinkbr.yaml:5:7; did you mean "
                "'stop'?"},
        Refusal{"unknown server key", "server: { listn: ':80' }\n", "server.listn",
                "did you mean 'listen'?"},
        Refusal{"unknown obs key", "clusters: [{ name: a, version: '1', obs: { regoin: r } }]\n",
                "clusters[0].obs.regoin", "did you mean 'region'?"},
        Refusal{"duplicate key", "server:\n  gzip_level: 1\n  gzip_level: 2\n", "server.gzip_level",
                "server.gzip_level: duplicate key (flinkbr.yaml:3:3)"},
        Refusal{"webhook URL without a scheme", "server: { webhook_url: 'hooks.example.com/x' }\n",
                "server.webhook_url", "expected an http:// or https:// URL"},
        // The HTTP library turned a port out of range into an exception that killed the daemon
        // at the first notice (attack review of issue 17).
        Refusal{"webhook URL with a port out of range",
                "server: { webhook_url: 'http://127.0.0.1:99999999999/x' }\n", "server.webhook_url",
                "a port 1-65535"},
        Refusal{"webhook URL with credentials", "server: { webhook_url: 'http://u:p@h/x' }\n",
                "server.webhook_url", "no user:password@"},
        Refusal{"webhook URL with an unclosed IPv6 host",
                "server: { webhook_url: 'http://[::1/x' }\n", "server.webhook_url",
                "expected an http:// or https:// URL"},
        Refusal{"webhook_on_success not a boolean",
                "server: { webhook_url: 'http://h/x', webhook_on_success: yes please }\n",
                "server.webhook_on_success", "expected true or false"},
        Refusal{"webhook secret without a URL", "server: { webhook_secret_file: /etc/s }\n",
                "server.webhook_secret_file", "set server.webhook_url too"},
        Refusal{"no clusters key", "server: {}\n", "clusters",
                "clusters: missing; at least one cluster is required"},
        Refusal{"empty file", "", "clusters", "clusters: missing"},
        Refusal{"empty cluster list", "clusters: []\n", "clusters", "clusters: empty"},
        Refusal{"clusters not a list", "clusters: { name: a }\n", "clusters",
                "clusters: expected a list of clusters, got a map"},
        Refusal{"missing cluster name", "clusters:\n  - version: '1'\n", "clusters[0].name",
                "clusters[0].name: missing"},
        Refusal{"bad cluster name", "clusters: [{ name: 'a b', version: '1' }]\n",
                "clusters[0].name", "expected a name of 1-64 characters"},
        Refusal{"dot-dot cluster name", "clusters: [{ name: '..', version: '1' }]\n",
                "clusters[0].name", "expected a name"},
        Refusal{"too long cluster name",
                "clusters: [{ name: "
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, version: '1' "
                "}]\n",
                "clusters[0].name", "expected a name"},
        Refusal{"duplicate cluster name",
                "clusters:\n  - { name: a, version: '1' }\n  - { name: a, version: '2' }\n",
                "clusters[1].name", "cluster name 'a' is already used by clusters[0]"},
        Refusal{"duplicate source name across lists",
                "clusters:\n  - name: a\n    version: '1'\n    metadata:\n      - { name: x, type: "
                "files, uri: 'file:///a' }\n    service_data:\n      - { name: x, type: files, "
                "uri: 'file:///b' }\n",
                "clusters[0].service_data[0].name",
                "source name 'x' is already used by clusters[0].metadata[0]"},
        Refusal{"duplicate source name in one list",
                "clusters: [{ name: a, version: '1', metadata: [{ name: x, type: files }, { name: "
                "x, type: files }] }]\n",
                "clusters[0].metadata[1].name", "already used by clusters[0].metadata[0]"},
        Refusal{"source without name",
                "clusters: [{ name: a, version: '1', metadata: [{ type: files }] }]\n",
                "clusters[0].metadata[0].name", "clusters[0].metadata[0].name: missing"},
        Refusal{"source without type",
                "clusters: [{ name: a, version: '1', metadata: [{ name: x }] }]\n",
                "clusters[0].metadata[0].type", "clusters[0].metadata[0].type: missing"},
        Refusal{"source not a map", "clusters: [{ name: a, version: '1', metadata: [x] }]\n",
                "clusters[0].metadata[0]",
                "clusters[0].metadata[0]: expected a map of keys, got 'x'"},
        Refusal{"metadata not a list",
                "clusters: [{ name: a, version: '1', metadata: { name: x } }]\n",
                "clusters[0].metadata", "expected a list of sources, got a map"},
        Refusal{"version and version_command",
                "clusters: [{ name: a, version: '1', version_command: 'echo 1' }]\n",
                "clusters[0].version_command", "set either version or version_command, not both"},
        Refusal{"neither version nor version_command", "clusters: [{ name: a }]\n",
                "clusters[0].version", "clusters[0].version: missing; set version"},
        Refusal{"bad listen", "server: { listen: localhost }\n", "server.listen",
                "server.listen: expected host:port such as 127.0.0.1:8080"},
        Refusal{"bare IPv6 listen", "server: { listen: '::1:8080' }\n", "server.listen",
                "brackets"},
        Refusal{"bad IPv6 listen", "server: { listen: '[zz]:8080' }\n", "server.listen",
                "not an IPv6 address"},
        Refusal{"listen port zero", "server: { listen: '127.0.0.1:0' }\n", "server.listen",
                "from 1 to 65535"},
        Refusal{"listen port too big", "server: { listen: '127.0.0.1:65536' }\n", "server.listen",
                "from 1 to 65535"},
        Refusal{"listen port not a number", "server: { listen: '127.0.0.1:http' }\n",
                "server.listen", "must be a number"},
        Refusal{"bad webhdfs_port", "clusters: [{ name: a, version: '1', webhdfs_port: 70000 }]\n",
                "clusters[0].webhdfs_port", "expected a whole number from 1 to 65535, got '70000'"},
        Refusal{"bad gzip_level", "server: { gzip_level: 10 }\n", "server.gzip_level",
                "server.gzip_level: expected a whole number from 1 to 9"},
        Refusal{"gzip_level not a number", "server: { gzip_level: fast }\n", "server.gzip_level",
                "got 'fast'"},
        Refusal{"bad compression", "server: { compression: 'isal:4' }\n", "server.compression",
                "server.compression: 'isal:4' is not a compression; expected isal:<0-3>"},
        Refusal{"compression and gzip_level", "server: { compression: 'zlib:6', gzip_level: 6 }\n",
                "server.compression", "set either compression or gzip_level"},
        Refusal{"bad token_ttl", "server: { token_ttl: 12 }\n", "server.token_ttl",
                "server.token_ttl: expected a duration such as 12h"},
        Refusal{"lease_renew over a third of the default lease_timeout",
                "server: { lease_renew: 5s }\n", "server.lease_renew",
                "server.lease_renew: must be at most a third of server.lease_timeout (10s), got "
                "5s; the active must renew several times before its lease runs out "
                "(flinkbr.yaml:1:24)"},
        Refusal{"lease_timeout too short for the default lease_renew",
                "server: { lease_timeout: 5s }\n", "server.lease_renew",
                "must be at most a third of server.lease_timeout (5s), got 2s"},
        Refusal{"lease_timeout over 10 minutes", "server: { lease_timeout: 11m }\n",
                "server.lease_timeout", "server.lease_timeout: at most 10m"},
        Refusal{"relay_wait over 10 minutes", "server: { relay_wait: 11m }\n", "server.relay_wait",
                "server.relay_wait: at most 10m: a relayed call must not hold its client longer, "
                "got 660s"},
        Refusal{"lease_timeout not a duration", "server: { lease_timeout: 10 }\n",
                "server.lease_timeout", "server.lease_timeout: expected a duration such as 12h"},
        Refusal{"bad service timeout",
                "clusters: [{ name: a, version: '1', service: { timeout: 2w } }]\n",
                "clusters[0].service.timeout", "expected a duration such as 12h (a whole number"},
        Refusal{"tls cert without key", "server: { tls_cert_file: /c }\n", "server.tls_key_file",
                "server.tls_key_file: missing; tls_cert_file is set"},
        Refusal{"tls key without cert", "server: { tls_key_file: /k }\n", "server.tls_cert_file",
                "server.tls_cert_file: missing; tls_key_file is set"},
        Refusal{"database password file without database",
                "server: { database_password_file: /etc/flinkbr/db-password }\n",
                "server.database_password_file",
                "server.database_password_file: set without server.database"},
        Refusal{"bad rest_url scheme",
                "clusters: [{ name: a, version: '1', service: { rest_url: 'ftp://jm:8081' } }]\n",
                "clusters[0].service.rest_url",
                "clusters[0].service.rest_url: expected an http:// or https:// URL"},
        Refusal{"rest_url without host",
                "clusters: [{ name: a, version: '1', service: { rest_url: 'http://' } }]\n",
                "clusters[0].service.rest_url", "got 'http://'"},
        Refusal{"bad yarn_rm_url", "clusters: [{ name: a, version: '1', yarn_rm_url: rm:8088 }]\n",
                "clusters[0].yarn_rm_url", "expected an http:// or https:// URL"},
        Refusal{"bad obs addressing",
                "clusters: [{ name: a, version: '1', obs: { addressing: dns } }]\n",
                "clusters[0].obs.addressing", "expected 'path' or 'virtual', got 'dns'"},
        Refusal{"obs part size below S3's minimum",
                "clusters: [{ name: a, version: '1', obs: { part_size: 4MiB } }]\n",
                "clusters[0].obs.part_size", "between 5MiB and 5GiB, got '4MiB'"},
        Refusal{"obs part size without a known unit",
                "clusters: [{ name: a, version: '1', obs: { part_size: 16MB } }]\n",
                "clusters[0].obs.part_size", "units B, KiB, MiB, GiB"},
        Refusal{"restore cap without a known unit",
                "restore: { max_expanded_bytes: 64GB }\nclusters: [{ name: a, version: '1' }]\n",
                "restore.max_expanded_bytes", "units B, KiB, MiB, GiB"},
        Refusal{"unknown restore key",
                "restore: { max_expanded: 1 }\nclusters: [{ name: a, version: '1' }]\n",
                "restore.max_expanded", "unknown key 'restore.max_expanded'"},
        Refusal{"server not a map", "server: 127.0.0.1:8080\n", "server",
                "server: expected a map of keys, got '127.0.0.1:8080' (flinkbr.yaml:1:9)"},
        Refusal{"service not a map",
                "clusters: [{ name: a, version: '1', service: 'systemctl restart flink' }]\n",
                "clusters[0].service", "clusters[0].service: expected a map of keys"},
        Refusal{"cluster not a map", "clusters: [flink-prod]\n", "clusters[0]",
                "clusters[0]: expected a map of keys, got 'flink-prod'"},
        Refusal{"top level not a map", "- a\n- b\n", "flinkbr.yaml",
                "the configuration: expected a map of keys, got a list"},
        Refusal{"string expected", "clusters: [{ name: [a], version: '1' }]\n", "clusters[0].name",
                "expected a string, got a list"},
        Refusal{"malformed YAML", "server:\n  listen: 127.0.0.1:8080\n  state_dir: [unclosed\n",
                "flinkbr.yaml", "flinkbr.yaml:4:"},
        Refusal{"malformed YAML bad indentation", "server:\n  listen: x\n bad: y\n", "flinkbr.yaml",
                "flinkbr.yaml:3:"},
        Refusal{"empty source parameter key",
                "clusters: [{ name: a, version: '1', metadata: [{ name: x, type: files, '': 1 }] "
                "}]\n",
                "clusters[0].metadata[0]", "keys must be plain words, got ''"},
        Refusal{"list as a key", "? [a]\n: b\n", "flinkbr.yaml", "keys must be plain words"},
        Refusal{"two documents", "clusters: []\n---\nclusters: []\n", "flinkbr.yaml",
                "expected one YAML document"}),
    [](const ::testing::TestParamInfo<Refusal>& info) {
      std::string name;
      for (char c : std::string(info.param.what)) name += std::isalnum(c) ? c : '_';
      return name;
    });

TEST(ConfigTest, MalformedYamlMessageHasLineAndColumn) {
  auto r = parse_config("clusters:\n  - name: a\n     version: '1'\n", "/etc/flinkbr.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().field, "/etc/flinkbr.yaml");
  // "/etc/flinkbr.yaml:<line>:<column>: <what yaml-cpp says>"
  EXPECT_EQ(r.error().message, "/etc/flinkbr.yaml:3:13: illegal map value");
}

TEST(ConfigTest, ValueErrorsSayWhere) {
  auto r = parse_config(std::string("server:\n  listen: nowhere\n") + kCluster, "f.yaml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message,
            "server.listen: expected host:port such as 127.0.0.1:8080 (IPv6 as [::1]:8080), got "
            "'nowhere'; the port is missing (f.yaml:2:11)");
}

TEST(ConfigTest, CompressionSetting) {
  EXPECT_EQ(parse_ok("server: { compression: 'zlib:9' }\n" + std::string(kCluster))
                .server.compression.to_string(),
            "zlib:9");
  EXPECT_EQ(parse_ok("server: { compression: 'isal:3' }\n" + std::string(kCluster))
                .server.compression.to_string(),
            "isal:3");
  EXPECT_EQ(
      parse_ok("server:\n  compression:\n" + std::string(kCluster)).server.compression.to_string(),
      "isal:1");
}

TEST(ConfigTest, WebhookSettings) {
  Config none = parse_ok(kCluster);
  EXPECT_EQ(none.server.webhook_url, "");
  EXPECT_FALSE(none.server.webhook_on_success);
  Config cfg = parse_ok(
      "server:\n  webhook_url: https://alerts.example.com/flinkbr?token=t\n"
      "  webhook_on_success: true\n  webhook_secret_file: /etc/flinkbr/webhook-secret\n" +
      std::string(kCluster));
  EXPECT_EQ(cfg.server.webhook_url, "https://alerts.example.com/flinkbr?token=t");
  EXPECT_TRUE(cfg.server.webhook_on_success);
  EXPECT_EQ(cfg.server.webhook_secret_file, "/etc/flinkbr/webhook-secret");
}

TEST(ConfigTest, NullValuesMeanNotSet) {
  Config cfg = parse_ok("server:\n  listen:\n  gzip_level:\n" + std::string(kCluster));
  EXPECT_EQ(cfg.server.listen_port, 8080);
  EXPECT_EQ(cfg.server.gzip_level, 6);
}

TEST(ConfigTest, LoadConfig) {
  fs::path dir = fs::path(::testing::TempDir()) / ("flinkbr-load-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string path = (dir / "flinkbr.yaml").string();

  auto missing = load_config(path);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().message, "configuration file " + path + " does not exist");

  auto is_dir = load_config(dir.string());
  ASSERT_FALSE(is_dir.has_value());
  EXPECT_EQ(is_dir.error().code, Errc::kIOError);

  std::ofstream(path) << kFullExample;
  auto loaded = load_config(path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_EQ(loaded->clusters.size(), 2u);

  std::ofstream(path) << "clusters:\n  - name: a\n    verson: '1'\n";
  auto bad = load_config(path);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().field, "clusters[0].verson");
  EXPECT_HAS_SUBSTR(bad.error().message, ("unknown key 'clusters[0].verson' in " + path +
                                          ":3:5; did you mean "
                                          "'version'?"));
  fs::remove_all(dir);
}

// The commented example of the repository parses, and says what docs/configuration.md says.
TEST(ConfigTest, RepositoryExampleParses) {
  fs::path example = fs::path(__FILE__).parent_path() / ".." / ".." / "examples" / "flinkbr.yaml";
  if (!fs::exists(example)) GTEST_SKIP() << example << " is not there";
  auto r = load_config(example.string());
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->clusters.size(), 2u);
  EXPECT_EQ(r->server.state_dir, "/var/lib/flinkbr");
  EXPECT_EQ(r->clusters[0].name, "flink-prod");
  EXPECT_EQ(r->clusters[0].version, "1.18.1");
  EXPECT_EQ(r->clusters[0].metadata.size(), 3u);
  EXPECT_EQ(r->clusters[0].service_data.size(), 1u);
  EXPECT_EQ(r->clusters[0].obs.credentials_file, "/etc/flinkbr/obs.cred");
  EXPECT_NE(r->clusters[1].version_command, "");
}

}  // namespace
}  // namespace flinkbr::config
