// End-to-end: the LocalHDFS and RemoteHDFS path types through the real daemon and CLI, against
// the WebHDFS + ResourceManager test server (tests/servers/webhdfs). Round trips are checked
// byte for byte on the cluster's directories; refusals by the reason the user reads and by the
// cluster being unchanged.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness.h"
#include "servers/webhdfs/webhdfs_fixture.h"
#include "storage/hdfs/hdfs_driver.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using flinkbr::testing::WebHdfsServer;
using nlohmann::json;

void damage(Daemon& d) {
  write_file(d.ha_dir() + "/default/completedCheckpoint7a1c-1", "changed");
  fs::remove(d.ha_dir() + "/default/submittedJobGraph7a1c");
  write_file(d.ha_dir() + "/default/completedCheckpoint7a1c-99", "added since");
  fs::create_directories(d.ha_dir() + "/default/new-dir/sub");
}

// A test server, a Hadoop client configuration for it (NameService `ns`) and the cluster keys
// that point the daemon at them.
struct Hdfs {
  explicit Hdfs(flinkbr::testing::WebHdfsOptions options, const std::string& ns = "hacluster")
      : server(std::move(options)), conf_dir(make_temp_dir()) {
    server.write_hadoop_conf(conf_dir, ns);
  }
  ~Hdfs() {
    std::error_code ec;
    fs::remove_all(conf_dir, ec);
  }
  // Keys of cluster "prod": its Hadoop configuration, user, WebHDFS port and ResourceManager.
  std::vector<std::string> cluster_yaml(const std::string& user = "hdfs",
                                        bool with_rm = true) const {
    std::vector<std::string> lines = {"hadoop_conf_dir: " + conf_dir, "hdfs_user: " + user,
                                      "webhdfs_port: " + std::to_string(server.namenode_port(0))};
    if (with_rm) lines.push_back("yarn_rm_url: " + server.rm_url());
    return lines;
  }
  // A storage driver of this server as `user`, for set-up and checks from the test.
  std::unique_ptr<storage::StorageDriver> driver(const std::string& user = "hdfs") const {
    storage::HdfsDriverOptions o;
    for (int i = 0; i < server.namenode_count(); ++i)
      o.client.namenodes.push_back("http://" + server.namenode_address(i));
    o.client.nameservice = "hacluster";
    o.client.user = user;
    return std::move(*storage::make_hdfs_driver(o));
  }
  fs::path on_disk(const std::string& hdfs_uri) const {
    std::string p = hdfs_uri.substr(hdfs_uri.find('/', 7) + 1);
    return server.root_dir() / p;
  }
  WebHdfsServer server;
  std::string conf_dir;
};

json history(Daemon& d, const std::string& task) {
  auto h = d.cli({"backup", "history", task, "--json"});
  EXPECT_EQ(h.exit_code, 0) << h.err;
  return json::parse(h.out);
}

std::string run_backup(Daemon& d, const std::vector<std::string>& create_args) {
  std::vector<std::string> args = {"backup", "create",        "nightly", "--cluster",
                                   "prod",   "--data-source", "Flink"};
  args.insert(args.end(), create_args.begin(), create_args.end());
  auto c = d.cli(args);
  EXPECT_EQ(c.exit_code, 0) << c.err;
  auto r = d.cli({"backup", "run", "nightly", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  auto h = history(d, "nightly");
  EXPECT_EQ(h.at(0)["status"], "Succeeded") << h.dump();
  return h.at(0)["backup_path"].get<std::string>();
}

CommandOutput create_restore(Daemon& d, const std::string& name,
                             const std::vector<std::string>& args) {
  std::vector<std::string> all = {"restore", "create",        name,   "--cluster",
                                  "prod",    "--data-source", "Flink"};
  all.insert(all.end(), args.begin(), args.end());
  return d.cli(all);
}

// A restoration that must end Failed with `reason`, leaving the cluster as it was.
void expect_refused_run(Daemon& d, const std::string& name, const std::string& reason) {
  Tree before = cluster_tree(d);
  auto s = d.cli({"restore", "start", name, "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find(reason), std::string::npos) << s.err;
  auto show = json::parse(d.cli({"restore", "show", name, "--json"}).out);
  EXPECT_EQ(show["state"], "Failed");
  EXPECT_NE(show["error"].get<std::string>().find(reason), std::string::npos) << show.dump();
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
}

// A restoration task the daemon must refuse at creation, with `reason` on the CLI and `field`
// in the API's error; no task is created.
void expect_refused_create(Daemon& d, const std::vector<std::string>& args,
                           const std::string& field, const std::string& reason) {
  auto c = create_restore(d, "refused", args);
  EXPECT_EQ(c.exit_code, 2) << c.err;
  EXPECT_NE(c.err.find(reason), std::string::npos) << c.err;
  json body = {{"name", "refused"}, {"cluster", "prod"}, {"data_source", "Flink"}};
  for (size_t i = 0; i + 1 < args.size(); i += 2) {
    std::string key = args[i].substr(2);
    std::replace(key.begin(), key.end(), '-', '_');
    body[key] = args[i + 1];
  }
  auto api = d.api("POST", "/api/v1/restore-tasks", body);
  EXPECT_EQ(api.status, 400) << api.body.dump();
  EXPECT_NE(api.body.dump().find("\"" + field + "\""), std::string::npos) << api.body.dump();
  auto list = json::parse(d.cli({"restore", "list", "--json"}).out);
  for (const auto& t : list) EXPECT_NE(t["name"], "refused") << list.dump();
}

TEST(Hdfs, LocalHdfsRoundTripThroughAStandbyFirstNameService) {
  Hdfs hdfs({.namenodes = 2, .standby = {0}});
  ASSERT_EQ(hdfs.server.error(), "");
  Daemon d({.cluster_settings = hdfs.cluster_yaml()});
  d.seed_cluster();
  Tree before = cluster_tree(d);

  std::string path = run_backup(d, {"--path-type", "LocalHDFS"});
  EXPECT_TRUE(path.starts_with("hdfs://hacluster/flinkbr/backup/nightly_")) << path;
  EXPECT_TRUE(fs::path(path).filename().string().starts_with("1.18.1_Flink_")) << path;
  // The file is a standard tar.gz at the place product.md gives.
  EXPECT_EQ(sh("tar tzf '" + hdfs.on_disk(path).string() + "' >/dev/null"), 0);

  damage(d);
  ASSERT_EQ(d.cli({"service", "stop", "prod"}).exit_code, 0);
  auto c = create_restore(d, "r1", {"--path-type", "LocalHDFS", "--source-path", path});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
}

class RemoteHdfs : public ::testing::TestWithParam<std::string> {};

TEST_P(RemoteHdfs, RoundTrip) {
  const std::string host = GetParam();
  Hdfs hdfs({.host = host}, "standby");
  ASSERT_EQ(hdfs.server.error(), "");
  // The cluster does not list the remote NameService: only the given NameNode is used.
  Daemon d({.cluster_settings = {"hdfs_user: hdfs",
                                 "webhdfs_port: " + std::to_string(hdfs.server.namenode_port(0)),
                                 "yarn_rm_url: " + hdfs.server.rm_url()}});
  d.seed_cluster();
  Tree before = cluster_tree(d);
  const std::string with_port = hdfs.server.namenode_address(0);  // 127.0.0.1:p or [::1]:p

  std::string path = run_backup(d, {"--path-type", "RemoteHDFS", "--nameservice", "standby",
                                    "--namenode-ip", with_port, "--path", "/backups"});
  EXPECT_TRUE(path.starts_with("hdfs://standby/backups/nightly_Flink_")) << path;
  EXPECT_TRUE(fs::exists(hdfs.on_disk(path))) << path;

  damage(d);
  ASSERT_EQ(d.cli({"service", "stop", "prod"}).exit_code, 0);
  // The address without a port: the cluster's webhdfs_port.
  auto c = create_restore(d, "r1",
                          {"--path-type", "RemoteHDFS", "--nameservice", "standby", "--ip-mode",
                           host == "::1" ? "IPv6" : "IPv4", "--namenode-ip", host, "--queue",
                           "default", "--source-path", path});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
}

INSTANTIATE_TEST_SUITE_P(Hosts, RemoteHdfs, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& info) { return info.param == "::1" ? "IPv6" : "IPv4"; });

TEST(Hdfs, DroppedTransfersAreRetriedAndTheRestoreIsExact) {
  Hdfs hdfs({});
  ASSERT_EQ(hdfs.server.error(), "");
  Daemon d({.cluster_settings = hdfs.cluster_yaml()});
  d.seed_cluster();
  Tree before = cluster_tree(d);
  hdfs.server.drop_next_transfers(1, 300);  // the upload of the backup file breaks
  ASSERT_EQ(hdfs.server.error(), "");
  std::string path = run_backup(d, {"--path-type", "LocalHDFS"});
  damage(d);
  ASSERT_EQ(d.cli({"service", "stop", "prod"}).exit_code, 0);
  ASSERT_EQ(create_restore(d, "r1", {"--path-type", "LocalHDFS", "--source-path", path}).exit_code,
            0);
  hdfs.server.drop_next_transfers(2, 300);  // and so do two reads of it
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
}

// Every "*.flinkbr-tmp" file below the server's namespace.
std::vector<fs::path> hdfs_temporaries(const Hdfs& hdfs) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(hdfs.server.root_dir(), ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->path().filename().string().ends_with(".flinkbr-tmp")) out.push_back(it->path());
  return out;
}

// A daemon killed while its upload waits to be renamed leaves a temporary file in HDFS; the
// next start marks the run Failed and removes that file, and no file ever had the final name.
TEST(Hdfs, TemporaryFileOfABackupInterruptedByACrashIsRemovedAtTheNextStart) {
  Hdfs hdfs({});
  ASSERT_EQ(hdfs.server.error(), "");
  Daemon d({.cluster_settings = hdfs.cluster_yaml()});
  d.seed_cluster();
  ASSERT_EQ(d.cli({"backup", "create", "nightly", "--cluster", "prod", "--data-source", "Flink",
                   "--path-type", "LocalHDFS"})
                .exit_code,
            0);
  hdfs.server.set_delay_ms(1500);  // every request waits: the RENAME that commits too
  ASSERT_EQ(d.cli({"backup", "run", "nightly"}).exit_code, 0);
  std::vector<fs::path> temporaries;
  for (int i = 0; i < 3000 && temporaries.empty(); ++i) {
    temporaries = hdfs_temporaries(hdfs);
    if (temporaries.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(temporaries.size(), 1u) << "the upload never reached HDFS";
  d.kill9();
  hdfs.server.set_delay_ms(0);
  ASSERT_TRUE(fs::exists(temporaries[0]));

  d.start();
  for (int i = 0; i < 200 && fs::exists(temporaries[0]); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(fs::exists(temporaries[0])) << temporaries[0];
  EXPECT_TRUE(hdfs_temporaries(hdfs).empty());
  auto h = history(d, "nightly");
  ASSERT_EQ(h.size(), 1u) << h.dump();
  EXPECT_EQ(h[0]["status"], "Failed") << h.dump();
  EXPECT_NE(h[0]["error"].get<std::string>().find("daemon stopped"), std::string::npos) << h.dump();
  EXPECT_FALSE(fs::exists(hdfs.on_disk(h[0]["backup_path"].get<std::string>())));
  // The task still works.
  auto r = d.cli({"backup", "run", "nightly", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_EQ(history(d, "nightly").at(0)["status"], "Succeeded");
}

TEST(Hdfs, RefusalsSayWhyAndChangeNothing) {
  Hdfs hdfs({.queues = {{"default", "RUNNING"}, {"etl", "STOPPED"}}});
  ASSERT_EQ(hdfs.server.error(), "");
  // The daemon works as user flink, in a directory open to it.
  auto admin = hdfs.driver("hdfs");
  ASSERT_TRUE(admin->make_dir("/flinkbr"));
  ASSERT_TRUE(admin->set_attributes("/flinkbr", 0777, std::nullopt));
  Daemon d({.cluster_settings = hdfs.cluster_yaml("flink")});
  d.seed_cluster();
  std::string path = run_backup(d, {"--path-type", "LocalHDFS"});
  ASSERT_EQ(d.cli({"service", "stop", "prod"}).exit_code, 0);
  damage(d);

  // A missing file: refused at creation, the path tried named.
  expect_refused_create(d,
                        {"--path-type", "LocalHDFS", "--source-path",
                         "/flinkbr/backup/none/1.18.1_Flink_20260101000000.tar.gz"},
                        "source_path",
                        "was not found at LocalHDFS path "
                        "/flinkbr/backup/none/1.18.1_Flink_20260101000000.tar.gz");

  // A file the user may not read.
  {
    auto in = admin->open_read(path.substr(std::string("hdfs://hacluster").size()));
    ASSERT_TRUE(in);
    auto out = admin->open_write("/secure/1.18.1_Flink_20260101000000.tar.gz", {});
    ASSERT_TRUE(out);
    ASSERT_TRUE(io::copy(**in, **out));
    ASSERT_TRUE((*out)->finish());
    ASSERT_TRUE(
        admin->set_attributes("/secure/1.18.1_Flink_20260101000000.tar.gz", 0600, std::nullopt));
  }
  // A file the user may not read: refused at creation too.
  expect_refused_create(d,
                        {"--path-type", "LocalHDFS", "--source-path",
                         "hdfs://hacluster/secure/1.18.1_Flink_20260101000000.tar.gz"},
                        "source_path", "to user 'flink'");

  // An unknown NameService, at creation.
  const std::string plain = path.substr(std::string("hdfs://hacluster").size());
  expect_refused_create(
      d, {"--path-type", "LocalHDFS", "--nameservice", "nope", "--source-path", plain},
      "nameservice", "NameService 'nope' is not in the Hadoop configuration");

  // RemoteHDFS: the queue must exist and run on the ResourceManager.
  const std::string nn = hdfs.server.namenode_address(0);
  auto remote = [&](const std::string& name, const std::string& queue) {
    return create_restore(d, name,
                          {"--path-type", "RemoteHDFS", "--nameservice", "hacluster",
                           "--namenode-ip", nn, "--queue", queue, "--source-path", path});
  };
  ASSERT_EQ(remote("no-queue", "nightly").exit_code, 0);
  expect_refused_run(d, "no-queue", "YARN queue 'nightly' does not exist");
  ASSERT_EQ(remote("stopped", "etl").exit_code, 0);
  expect_refused_run(d, "stopped", "YARN queue 'etl' is STOPPED, not RUNNING");

  // An address that answers HTTP, but not as a NameNode (the ResourceManager's).
  ASSERT_EQ(create_restore(d, "not-nn",
                           {"--path-type", "RemoteHDFS", "--namenode-ip",
                            "127.0.0.1:" + std::to_string(hdfs.server.rm_port()), "--queue",
                            "default", "--source-path", path})
                .exit_code,
            0);
  expect_refused_run(d, "not-nn", "does not answer as a WebHDFS NameNode");

  // The IP mode contradicting the address, and malformed addresses, at creation.
  expect_refused_create(d,
                        {"--path-type", "RemoteHDFS", "--ip-mode", "IPv4", "--namenode-ip", "::1",
                         "--queue", "default", "--source-path", path},
                        "ip_mode", "--ip-mode IPv4 contradicts the IPv6 NameNode address '::1'");
  expect_refused_create(d,
                        {"--path-type", "RemoteHDFS", "--ip-mode", "IPv6", "--namenode-ip",
                         "127.0.0.1", "--queue", "default", "--source-path", path},
                        "ip_mode", "contradicts");
  for (std::string bad : {"10.0.0", "[::1", "127.0.0.1:99999", "namenode.example.com"})
    expect_refused_create(d,
                          {"--path-type", "RemoteHDFS", "--namenode-ip", bad, "--queue", "default",
                           "--source-path", path},
                          "namenode_ip", "is not a NameNode IP address");
}

// Everything a user sees of an HDFS tree through WebHDFS: type, permission, mtime and content.
Tree hdfs_tree(storage::StorageDriver& driver, const std::string& root) {
  Tree out;
  std::vector<std::string> dirs = {root};
  while (!dirs.empty()) {
    std::string dir = dirs.back();
    dirs.pop_back();
    auto list = driver.list(dir);
    EXPECT_TRUE(list) << list.error().message;
    if (!list) return out;
    for (const auto& e : *list) {
      TreeEntry t{.is_dir = e.is_dir, .mode = e.mode, .mtime = e.mtime};
      if (e.is_dir) {
        dirs.push_back(e.path);
      } else {
        auto r = driver.open_read(e.path);
        EXPECT_TRUE(r);
        if (r) t.content = io::read_all(**r, size_t{1} << 26).value_or("<unreadable>");
      }
      out[e.path.substr(root.size() + 1)] = t;
    }
  }
  return out;
}

void put(storage::StorageDriver& driver, const std::string& path, const std::string& data,
         uint32_t mode, int64_t mtime) {
  auto w = driver.open_write(path, {.overwrite = true});
  ASSERT_TRUE(w) << w.error().message;
  ASSERT_TRUE((*w)->write(io::as_bytes(data)));
  auto st = (*w)->finish();
  ASSERT_TRUE(st) << st.error().message;
  st = driver.set_attributes(path, mode, mtime);
  ASSERT_TRUE(st) << st.error().message;
}

TEST(Hdfs, FilesSourceOnHdfsIsRestoredExactly) {
  Hdfs hdfs({.namenodes = 2, .standby = {0}});
  ASSERT_EQ(hdfs.server.error(), "");
  auto admin = hdfs.driver("hdfs");
  // Flink's high-availability.storageDir on HDFS.
  put(*admin, "/flink/ha/default/completedCheckpoint1", std::string(70000, 'c') + "end", 0640,
      1'700'000'000);
  put(*admin, "/flink/ha/default/submittedJobGraph", std::string("\xAC\xED\0\x05", 4), 0600,
      1'700'000'100);
  put(*admin, "/flink/ha/default/empty", "", 0644, 1'700'000'200);
  ASSERT_TRUE(admin->make_dir("/flink/ha/default/jobresults"));
  ASSERT_TRUE(admin->set_attributes("/flink/ha/default/jobresults", 0750, std::nullopt));
  Daemon d(
      {.extra_metadata = {"{ name: ha-storage, type: files, uri: \"hdfs://hacluster/flink/ha\" }"},
       .cluster_settings = hdfs.cluster_yaml()});
  d.seed_cluster();
  const Tree before = hdfs_tree(*admin, "/flink/ha");
  ASSERT_EQ(before.size(), 5u);
  const Tree local_before = cluster_tree(d);
  std::string path = d.backup();  // to LocalDir

  // Change, delete and add on HDFS.
  put(*admin, "/flink/ha/default/completedCheckpoint1", "changed", 0644, 1'800'000'000);
  ASSERT_TRUE(admin->remove("/flink/ha/default/submittedJobGraph"));
  put(*admin, "/flink/ha/default/added", "added since", 0644, 1'800'000'000);
  ASSERT_TRUE(admin->remove("/flink/ha/default/jobresults"));
  ASSERT_NE(describe_difference(before, hdfs_tree(*admin, "/flink/ha")), "");

  ASSERT_EQ(d.cli({"service", "stop", "prod"}).exit_code, 0);
  ASSERT_EQ(create_restore(d, "r1", {"--path-type", "LocalDir", "--source-path", path}).exit_code,
            0);
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  EXPECT_EQ(describe_difference(before, hdfs_tree(*admin, "/flink/ha")), "");
  EXPECT_EQ(describe_difference(local_before, cluster_tree(d)), "");
  // No staging or old tree is left beside the live one.
  auto siblings = admin->list("/flink");
  ASSERT_TRUE(siblings);
  EXPECT_EQ(siblings->size(), 1u);
}

TEST(Hdfs, RemoteHdfsWithoutResourceManagerIsRefused) {
  Hdfs hdfs({});
  ASSERT_EQ(hdfs.server.error(), "");
  Daemon d({.cluster_settings = hdfs.cluster_yaml("hdfs", /*with_rm=*/false)});
  d.seed_cluster();
  Tree before = cluster_tree(d);
  expect_refused_create(
      d,
      {"--path-type", "RemoteHDFS", "--namenode-ip", hdfs.server.namenode_address(0), "--queue",
       "default", "--source-path", "/b/1.18.1_Flink_20260101000000.tar.gz"},
      "queue", "set yarn_rm_url");
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
}

}  // namespace
}  // namespace flinkbr::e2e
