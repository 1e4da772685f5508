// The C++ fixture of the WebHDFS test server compiles, starts the server and drives it: a
// NameService of two NameNodes (the first standby) on 127.0.0.1 and on ::1, a CREATE through
// the 307 redirect landing in root_dir(), the control calls, and the Hadoop configuration.
#include "webhdfs_fixture.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace flinkbr::testing {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Splits "http://host:port/path?query" into a client-ready authority and the rest.
struct SplitUrl {
  std::string scheme_host_port;
  std::string path_and_query;
};
SplitUrl split(const std::string& url) {
  const auto slash = url.find('/', url.find("//") + 2);
  return {url.substr(0, slash), url.substr(slash)};
}

class WebHdfsOnHost : public ::testing::TestWithParam<std::string> {};

TEST_P(WebHdfsOnHost, StandbyActiveAndCreateThroughTheRedirect) {
  WebHdfsOptions options;
  options.host = GetParam();
  options.namenodes = 2;
  options.standby = {0};
  options.users = {{"alice", {"staff"}}};
  WebHdfsServer server(options);
  ASSERT_EQ(server.error(), "");
  ASSERT_EQ(server.namenode_count(), 2);
  const bool v6 = GetParam() == "::1";
  EXPECT_EQ(server.namenode_address(1),
            (v6 ? "[::1]:" : "127.0.0.1:") + std::to_string(server.namenode_port(1)));

  httplib::Client active(server.host(), server.namenode_port(1));
  auto res = active.Get("/webhdfs/v1/?op=GETFILESTATUS&user.name=hdfs");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  auto status = nlohmann::json::parse(res->body);
  EXPECT_EQ(status["FileStatus"]["type"], "DIRECTORY");
  EXPECT_EQ(status["FileStatus"]["owner"], "hdfs");

  httplib::Client standby(server.host(), server.namenode_port(0));
  res = standby.Get("/webhdfs/v1/?op=GETFILESTATUS&user.name=hdfs");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  auto err = nlohmann::json::parse(res->body);
  EXPECT_EQ(err["RemoteException"]["exception"], "StandbyException");
  EXPECT_EQ(err["RemoteException"]["javaClassName"], "org.apache.hadoop.ipc.StandbyException");

  // Failover through the control port: the first becomes active, the second standby.
  server.set_standby(0, false);
  server.set_standby(1, true);
  ASSERT_EQ(server.error(), "");
  res = standby.Get("/webhdfs/v1/?op=GETFILESTATUS&user.name=hdfs");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = active.Get("/webhdfs/v1/?op=GETFILESTATUS&user.name=hdfs");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  server.reset();
  ASSERT_EQ(server.error(), "");

  // CREATE: step 1 at the active NameNode answers 307 to the DataNode, step 2 sends the data.
  res = active.Put("/webhdfs/v1/backups/one.bin?op=CREATE&user.name=hdfs&overwrite=false", "",
                   "application/octet-stream");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 307);
  const std::string location = res->get_header_value("Location");
  const std::string dn_prefix = "http://" + std::string(v6 ? "[::1]:" : "127.0.0.1:") +
                                std::to_string(server.datanode_port());
  ASSERT_EQ(location.rfind(dn_prefix + "/webhdfs/v1/backups/one.bin?", 0), 0u) << location;
  std::string payload(100000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + 3);
  auto [dn_url, dn_path] = split(location);
  httplib::Client dn(dn_url);
  res = dn.Put(dn_path, payload, "application/octet-stream");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->get_header_value("Location").rfind("hdfs://", 0), 0u);
  EXPECT_EQ(slurp(server.root_dir() / "backups" / "one.bin"), payload);

  // A dropped transfer: OPEN cut after 1000 bytes, the next one whole.
  server.drop_next_transfers(1, 1000);
  ASSERT_EQ(server.error(), "");
  res = active.Get("/webhdfs/v1/backups/one.bin?op=OPEN&user.name=hdfs");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 307);
  auto [open_url, open_path] = split(res->get_header_value("Location"));
  httplib::Client reader(open_url);
  res = reader.Get(open_path);
  EXPECT_FALSE(res && res->status == 200 && res->body == payload);
  res = reader.Get(open_path);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, payload);

  // The ResourceManager's queues.
  server.set_queue("etl", "STOPPED");
  ASSERT_EQ(server.error(), "");
  auto [rm_url, rm_path] = split(server.rm_url() + "/ws/v1/cluster/scheduler");
  httplib::Client rm(rm_url);
  res = rm.Get(rm_path);
  ASSERT_TRUE(res);
  auto queues = nlohmann::json::parse(res->body)["scheduler"]["schedulerInfo"]["queues"]["queue"];
  std::map<std::string, std::string> states;
  for (const auto& q : queues) states[q["queueName"]] = q["state"];
  EXPECT_EQ(states,
            (std::map<std::string, std::string>{{"default", "RUNNING"}, {"etl", "STOPPED"}}));
}

INSTANTIATE_TEST_SUITE_P(Hosts, WebHdfsOnHost, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& info) { return info.param == "::1" ? "IPv6" : "IPv4"; });

TEST(WebHdfsFixture, WritesAHadoopClientConfiguration) {
  WebHdfsOptions options;
  options.namenodes = 2;
  WebHdfsServer server(options);
  ASSERT_EQ(server.error(), "");
  const auto dir = server.root_dir().parent_path() / "conf";
  server.write_hadoop_conf(dir, "hacluster");
  const std::string core = slurp(dir / "core-site.xml");
  const std::string hdfs = slurp(dir / "hdfs-site.xml");
  EXPECT_NE(core.find("<name>fs.defaultFS</name>\n    <value>hdfs://hacluster</value>"),
            std::string::npos);
  EXPECT_NE(hdfs.find("<name>dfs.nameservices</name>\n    <value>hacluster</value>"),
            std::string::npos);
  EXPECT_NE(hdfs.find("<name>dfs.ha.namenodes.hacluster</name>\n    <value>nn1,nn2</value>"),
            std::string::npos);
  EXPECT_NE(hdfs.find("<name>dfs.namenode.http-address.hacluster.nn2</name>\n    <value>" +
                      server.namenode_address(1) + "</value>"),
            std::string::npos)
      << hdfs;
}

TEST(WebHdfsFixture, AServerThatCannotStartSaysWhy) {
  WebHdfsOptions options;
  options.namenodes = 0;
  WebHdfsServer server(options);
  EXPECT_NE(server.error().find("exited at start"), std::string::npos) << server.error();
  EXPECT_NE(server.error().find("--namenodes must be at least 1"), std::string::npos)
      << server.error();
  // A control call on a server that is not running leaves the reason in place.
  server.set_standby(0, true);
  EXPECT_NE(server.error().find("--namenodes must be at least 1"), std::string::npos);
}

TEST(WebHdfsFixture, TheDestructorStopsTheServerAndRemovesItsDirectory) {
  std::filesystem::path root;
  int port = 0;
  {
    WebHdfsServer server;
    ASSERT_EQ(server.error(), "");
    root = server.root_dir();
    port = server.namenode_port(0);
    ASSERT_TRUE(std::filesystem::is_directory(root));
  }
  EXPECT_FALSE(std::filesystem::exists(root.parent_path()));
  httplib::Client gone("127.0.0.1", port);
  gone.set_connection_timeout(std::chrono::seconds(2));
  EXPECT_FALSE(gone.Get("/webhdfs/v1/?op=GETFILESTATUS"));
}

}  // namespace
}  // namespace flinkbr::testing
