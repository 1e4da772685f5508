// The WebHDFS client and the HDFS storage driver against the WebHDFS test server
// (tests/servers/webhdfs): round trips byte for byte, HA fail-over, broken transfers, refusals.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "../../../tests/servers/webhdfs/webhdfs_fixture.h"
#include "storage/hdfs/hadoop_conf.h"
#include "storage/hdfs/hdfs_driver.h"
#include "storage/hdfs/remote.h"
#include "storage/hdfs/webhdfs_client.h"
#include "storage/open.h"

namespace flinkbr::storage {
namespace {

namespace fs = std::filesystem;
using flinkbr::testing::WebHdfsServer;

#define ASSERT_OK(expr)                                           \
  do {                                                            \
    auto&& ok_r_ = (expr);                                        \
    ASSERT_TRUE(ok_r_) << #expr << ": " << ok_r_.error().message; \
  } while (0)

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string url_of(const WebHdfsServer& server, int nn) {
  return "http://" + server.namenode_address(nn);
}

HdfsDriverOptions options_for(const WebHdfsServer& server, std::vector<int> nns,
                              std::string user = "hdfs") {
  HdfsDriverOptions o;
  for (int i : nns) o.client.namenodes.push_back(url_of(server, i));
  o.client.nameservice = "hacluster";
  o.client.user = std::move(user);
  o.client.retry_base_ms = 20;
  o.read_chunk = 64 * 1024;
  o.write_chunk = 100 * 1024;
  return o;
}

std::unique_ptr<Storage> open(const HdfsDriverOptions& o) {
  auto d = make_hdfs_driver(o);
  EXPECT_TRUE(d) << d.error().message;
  return std::make_unique<Storage>(std::move(*d));
}

Status put(Storage& s, const std::string& path, const std::string& data, WriteOptions wo = {}) {
  auto w = TRY(s.open_write(path, wo));
  TRY(w->write(io::as_bytes(data)));
  return w->finish();
}

Result<std::string> get(Storage& s, const std::string& path) {
  auto r = TRY(s.open_read(path));
  return io::read_all(*r, size_t{1} << 30);
}

std::string disk(const WebHdfsServer& server, const std::string& path) {
  std::ifstream in(server.root_dir() / path.substr(1), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Names left in a directory of the namespace that are not `keep` (temporary files).
std::vector<std::string> leftovers(const WebHdfsServer& server, const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(server.root_dir() / dir.substr(1), ec))
    if (e.path().filename().string().find("flinkbr-tmp") != std::string::npos)
      out.push_back(e.path().filename().string());
  return out;
}

TEST(HdfsDriver, RoundTripOfManyChunksIsExact) {
  WebHdfsServer server;
  ASSERT_EQ(server.error(), "");
  auto s = open(options_for(server, {0}));
  const std::string data = random_bytes(1'000'003, 1);  // 10 CREATE/APPEND chunks, 16 OPENs
  ASSERT_OK(put(*s, "/flinkbr/backup/t_1/a.tar.gz", data));
  EXPECT_EQ(disk(server, "/flinkbr/backup/t_1/a.tar.gz"), data);
  EXPECT_TRUE(leftovers(server, "/flinkbr/backup/t_1").empty());
  auto back = get(*s, "hdfs://hacluster/flinkbr/backup/t_1/a.tar.gz");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, data);
  auto info = s->stat("/flinkbr/backup/t_1/a.tar.gz");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->size, data.size());
  EXPECT_FALSE(info->is_dir);
  // An empty file too.
  ASSERT_OK(put(*s, "/flinkbr/empty", ""));
  EXPECT_EQ(*get(*s, "/flinkbr/empty"), "");
}

TEST(HdfsDriver, StandbyNameNodeIsSkippedForTheActiveOne) {
  WebHdfsServer server({.namenodes = 2, .standby = {0}});
  ASSERT_EQ(server.error(), "");
  auto s = open(options_for(server, {0, 1}));
  ASSERT_OK(put(*s, "/ha/file", "data"));
  EXPECT_EQ(*get(*s, "/ha/file"), "data");
  // The active one fails over: nn1 active again, nn2 standby.
  server.set_standby(0, false);
  server.set_standby(1, true);
  ASSERT_EQ(server.error(), "");
  EXPECT_EQ(*get(*s, "/ha/file"), "data");
}

TEST(HdfsDriver, EveryNameNodeStandbyIsRefusedWithTheHint) {
  WebHdfsServer server({.namenodes = 1, .standby = {0}});
  ASSERT_EQ(server.error(), "");
  auto o = options_for(server, {0});
  o.client.max_attempts = 2;
  o.client.all_standby_hint = "NameService 'remote' is not in the Hadoop configuration";
  auto s = open(o);
  auto r = s->stat("/x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kUnavailable);
  EXPECT_NE(r.error().message.find("standby"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("not in the Hadoop configuration"), std::string::npos);
}

TEST(HdfsDriver, DroppedWritesAreResumedAndTheFileIsExact) {
  WebHdfsServer server;
  ASSERT_EQ(server.error(), "");
  auto s = open(options_for(server, {0}));
  const std::string data = random_bytes(350'000, 2);
  // The CREATE and the first APPEND break part way; the writer resumes from the length reached.
  server.drop_next_transfers(2, 30'000);
  ASSERT_EQ(server.error(), "");
  auto st = put(*s, "/drop/w", data);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(disk(server, "/drop/w"), data);
  EXPECT_TRUE(leftovers(server, "/drop").empty());
}

TEST(HdfsDriver, DroppedReadsResumeAtTheOffsetReached) {
  WebHdfsServer server;
  ASSERT_EQ(server.error(), "");
  auto o = options_for(server, {0});
  o.read_chunk = 1 << 20;
  auto s = open(o);
  const std::string data = random_bytes(300'000, 3);
  ASSERT_OK(put(*s, "/drop/r", data));
  server.drop_next_transfers(3, 50'000);
  auto back = get(*s, "/drop/r");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, data);
}

TEST(HdfsDriver, MissingFileIsNotFoundNamingTheUri) {
  WebHdfsServer server;
  ASSERT_EQ(server.error(), "");
  auto s = open(options_for(server, {0}));
  auto r = s->open_read("/no/such.tar.gz");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kNotFound);
  EXPECT_NE(r.error().message.find("hdfs://hacluster/no/such.tar.gz"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(s->remove("/no/such.tar.gz").error().code, Errc::kNotFound);
}

TEST(HdfsDriver, WrongUserIsPermissionDeniedAndNothingIsLeft) {
  WebHdfsServer server;
  ASSERT_EQ(server.error(), "");
  auto admin = open(options_for(server, {0}, "hdfs"));
  ASSERT_OK(admin->make_dir("/secure"));
  ASSERT_OK(admin->set_attributes("/secure", 0755, std::nullopt));
  auto mallory = open(options_for(server, {0}, "mallory"));
  auto st = put(*mallory, "/secure/x", "data");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kPermissionDenied);
  EXPECT_NE(st.error().message.find("mallory"), std::string::npos) << st.error().message;
  std::error_code ec;
  EXPECT_TRUE(fs::is_empty(server.root_dir() / "secure", ec));
}

TEST(HdfsDriver, ExistingFileIsNotReplacedUnlessAsked) {
  WebHdfsServer server;
  ASSERT_EQ(server.error(), "");
  auto s = open(options_for(server, {0}));
  ASSERT_OK(put(*s, "/f", "one"));
  auto st = put(*s, "/f", "two");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(disk(server, "/f"), "one");
  ASSERT_OK(put(*s, "/f", "three", {.overwrite = true}));
  EXPECT_EQ(disk(server, "/f"), "three");
  EXPECT_TRUE(leftovers(server, "/").empty());
}

TEST(HdfsDriver, WriterDestroyedUnfinishedLeavesNothing) {
  WebHdfsServer server;
  ASSERT_EQ(server.error(), "");
  auto s = open(options_for(server, {0}));
  {
    auto w = s->open_write("/half/f", {});
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->write(io::as_bytes(random_bytes(250'000, 4))));  // two chunks sent
  }
  EXPECT_FALSE(*s->exists("/half/f"));
  EXPECT_TRUE(leftovers(server, "/half").empty());
}

TEST(HdfsDriver, ListingFollowsPagesAndDirectoriesWork) {
  WebHdfsServer server({.list_page_size = 3});
  ASSERT_EQ(server.error(), "");
  auto s = open(options_for(server, {0}));
  for (int i = 0; i < 8; ++i) ASSERT_OK(put(*s, "/dir/f" + std::to_string(i), "x"));
  ASSERT_OK(s->make_dir("/dir/sub/deeper"));
  ASSERT_OK(s->make_dir("/dir/sub/deeper"));  // exists: ok
  auto list = s->list("/dir");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->size(), 9u);
  int dirs = 0;
  for (const auto& e : *list) dirs += e.is_dir && e.path == "/dir/sub";
  EXPECT_EQ(dirs, 1);

  ASSERT_OK(s->set_attributes("/dir/f1", 0600, 1'600'000'000));
  auto info = s->stat("/dir/f1");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->mode, 0600u);
  EXPECT_EQ(info->mtime, 1'600'000'000);

  ASSERT_OK(s->rename("/dir/sub", "/moved/sub"));
  EXPECT_TRUE(*s->exists("/moved/sub/deeper"));
  EXPECT_EQ(s->rename("/dir/f2", "/dir/f3").error().code, Errc::kAlreadyExists);
  ASSERT_OK(s->remove_tree("/dir"));
  EXPECT_FALSE(*s->exists("/dir"));
  EXPECT_EQ(s->remove_tree("/dir").error().code, Errc::kNotFound);
}

// Answers whose members have another type than the specification's (found by
// fuzz/fuzz_webhdfs_json.cc; the reproducers are in fuzz/crashes/webhdfs_json): nlohmann's value()
// threw on them, out of the client. They are now malformed answers, or absent members.
TEST(WebHdfsAnswers, MembersOfTheWrongTypeAreRefusedNotThrown) {
  using hdfs::parse_boolean_answer;
  using hdfs::parse_file_status_answer;
  auto ex = hdfs::parse_remote_exception(
      R"({"RemoteException":{"exception":1,"javaClassName":"a.b.StandbyException","message":2}})");
  EXPECT_EQ(ex.exception, "StandbyException");
  EXPECT_EQ(ex.message, "");

  auto st = parse_file_status_answer(R"({"FileStatus":{"pathSuffix":"a","permission":755}})",
                                     "hdfs://ns1/x");
  ASSERT_TRUE(st.has_value()) << st.error().message;
  EXPECT_EQ(st->path_suffix, "a");
  EXPECT_EQ(st->permission, 0u);

  EXPECT_EQ(parse_boolean_answer("[true]"), std::nullopt);
  EXPECT_EQ(parse_boolean_answer(R"({"boolean":"true"})"), std::nullopt);
  EXPECT_EQ(parse_boolean_answer(R"({"boolean":true})"), std::optional<bool>(true));
  EXPECT_EQ(parse_boolean_answer(R"({"boolean":false})"), std::optional<bool>(false));
}

// Found by fuzz/fuzz_webhdfs_json.cc (fuzz/crashes/webhdfs_json/listing_float_out_of_range.json):
// a number too big for an integer was converted with undefined behaviour.
TEST(WebHdfsAnswers, NumbersThatAreNoIntegersAreMalformed) {
  for (const char* fs : {R"({"length":1e85})", R"({"length":-1})", R"({"length":2.5})",
                         R"({"modificationTime":1.4e85})", R"({"modificationTime":"1"})"}) {
    auto st =
        hdfs::parse_file_status_answer(std::string(R"({"FileStatus":)") + fs + "}", "hdfs://n/a");
    ASSERT_FALSE(st.has_value()) << fs;
    EXPECT_EQ(st.error().code, Errc::kIOError);
    EXPECT_TRUE(st.error().message.starts_with("stat of hdfs://n/a: a FileStatus has a malformed "))
        << st.error().message;
  }
  auto page = hdfs::parse_listing_page_answer(
      R"({"DirectoryListing":{"partialListing":{"FileStatuses":{"FileStatus":[]}},)"
      R"("remainingEntries":1e85}})",
      "hdfs://n/d");
  ASSERT_FALSE(page.has_value());
  EXPECT_EQ(page.error().message,
            "HDFS answered LISTSTATUS_BATCH of hdfs://n/d with a malformed remainingEntries");
  auto ok = hdfs::parse_file_status_answer(
      R"({"FileStatus":{"length":24930,"modificationTime":1320171722771}})", "hdfs://n/a");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->length, 24930u);
  EXPECT_EQ(ok->modification_ms, 1320171722771);
}

TEST(WebHdfsAnswers, PermissionsAboveTheStickyBitAreMalformed) {
  auto ok = hdfs::parse_file_status_answer(R"({"FileStatus":{"permission":"1777"}})", "hdfs://n/a");
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ok->permission, 01777u);
  for (std::string perm : {"17777", "77777777777", "8", "-1"}) {
    std::string body = R"({"FileStatus":{"permission":")" + perm + R"("}})";
    auto st = hdfs::parse_file_status_answer(body, "hdfs://n/a");
    ASSERT_FALSE(st.has_value()) << perm;
    EXPECT_EQ(st.error().message,
              "stat of hdfs://n/a: a FileStatus has a malformed permission '" + perm + "'");
  }
  auto page = hdfs::parse_listing_page_answer(R"({"DirectoryListing":{"partialListing":)"
                                              R"({"FileStatuses":{"FileStatus":[{"permission":)"
                                              R"("17777"}]}},"remainingEntries":0}})",
                                              "hdfs://n/d");
  ASSERT_FALSE(page.has_value());
  EXPECT_NE(page.error().message.find("listing hdfs://n/d"), std::string::npos);
}

TEST(HdfsPaths, NormalizeAcceptsTheRecordFormOfItsOwnNameService) {
  EXPECT_EQ(*normalize_hdfs_path("hdfs://ns1/a//b/", "ns1"), "/a/b");
  EXPECT_EQ(*normalize_hdfs_path("/", "ns1"), "/");
  EXPECT_EQ(normalize_hdfs_path("hdfs://ns2/a", "ns1").error().code, Errc::kInvalidArgument);
  EXPECT_FALSE(normalize_hdfs_path("a/b", "ns1"));
  EXPECT_FALSE(normalize_hdfs_path("/a/../b", "ns1"));
}

TEST(HadoopConf, ResolvesTheNameNodesOfANameService) {
  WebHdfsServer server({.namenodes = 2});
  ASSERT_EQ(server.error(), "");
  const fs::path dir = fs::path(::testing::TempDir()) / "hadoop-conf-resolve";
  server.write_hadoop_conf(dir, "hacluster");
  auto conf = hdfs::load_hadoop_conf(dir.string());
  ASSERT_TRUE(conf) << conf.error().message;
  auto nns = hdfs::resolve_nameservice(*conf, "hacluster");
  ASSERT_TRUE(nns) << nns.error().message;
  ASSERT_EQ(nns->size(), 2u);
  EXPECT_EQ((*nns)[0].id, "nn1");
  EXPECT_EQ((*nns)[0].url, url_of(server, 0));
  EXPECT_EQ((*nns)[1].url, url_of(server, 1));
  auto unknown = hdfs::resolve_nameservice(*conf, "other");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, Errc::kNotFound);
  EXPECT_NE(unknown.error().message.find("'other'"), std::string::npos);
  EXPECT_NE(unknown.error().message.find("hacluster"), std::string::npos);
  EXPECT_TRUE(hdfs::knows_nameservice(*conf, "hacluster"));
  EXPECT_FALSE(hdfs::knows_nameservice(*conf, "other"));
  fs::remove_all(dir);
}

TEST(HadoopConf, MalformedXmlNamesTheFileAndLine) {
  std::map<std::string, std::string> props;
  auto st = hdfs::parse_hadoop_xml("<configuration>\n<property><name>a</name>\n</configuration>",
                                   "hdfs-site.xml", props);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("hdfs-site.xml"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("line"), std::string::npos);
  ASSERT_TRUE(hdfs::parse_hadoop_xml(
      "<?xml version=\"1.0\"?><configuration><property><name>k</name><value> v </value>"
      "<final>true</final></property><property><name>k</name><value>w</value></property>"
      "<!-- comment --></configuration>",
      "core-site.xml", props));
  EXPECT_EQ(props["k"], "v");  // final wins
  auto dir = hdfs::load_hadoop_conf("");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("hadoop_conf_dir"), std::string::npos);
}

TEST(RemoteHdfs, NameNodeAddressesAndIpModes) {
  auto a = hdfs::parse_namenode_address("10.0.0.5", "auto", 9870);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->authority(), "10.0.0.5:9870");
  EXPECT_FALSE(a->ipv6);
  EXPECT_EQ(hdfs::parse_namenode_address("10.0.0.5:50070", "", 9870)->authority(),
            "10.0.0.5:50070");
  EXPECT_EQ(hdfs::parse_namenode_address("::1", "IPv6", 9870)->authority(), "[::1]:9870");
  EXPECT_EQ(hdfs::parse_namenode_address("[::1]:1234", "auto", 9870)->authority(), "[::1]:1234");
  EXPECT_EQ(hdfs::parse_namenode_address("[fd00::5]", "IPv6", 9870)->authority(), "[fd00::5]:9870");
  for (std::string bad : {"", "namenode", "10.0.0", "10.0.0.5:", "10.0.0.5:99999", "[::1", "[::1]x",
                          "[10.0.0.5]", "10.0.0.5:80a", "1.2.3.4.5"}) {
    auto r = hdfs::parse_namenode_address(bad, "auto", 9870);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().field, "namenode_ip") << bad;
  }
  auto v4 = hdfs::parse_namenode_address("::1", "IPv4", 9870);
  ASSERT_FALSE(v4);
  EXPECT_EQ(v4.error().field, "ip_mode");
  EXPECT_NE(v4.error().message.find("contradicts"), std::string::npos);
  EXPECT_EQ(hdfs::parse_namenode_address("10.0.0.5", "IPv6", 9870).error().field, "ip_mode");
}

TEST(RemoteHdfs, YarnQueueMustExistAndRun) {
  WebHdfsServer server({.queues = {{"default", "RUNNING"}, {"etl", "STOPPED"}}});
  ASSERT_EQ(server.error(), "");
  hdfs::YarnOptions y{.rm_url = server.rm_url(), .cluster = "prod"};
  EXPECT_TRUE(hdfs::check_yarn_queue(y, "default"));
  EXPECT_TRUE(hdfs::check_yarn_queue(y, "root.default"));
  auto stopped = hdfs::check_yarn_queue(y, "etl");
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(stopped.error().message.find("'etl' is STOPPED"), std::string::npos)
      << stopped.error().message;
  auto missing = hdfs::check_yarn_queue(y, "nightly");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("'nightly' does not exist"), std::string::npos)
      << missing.error().message;
  server.set_queue("etl", "RUNNING");
  EXPECT_TRUE(hdfs::check_yarn_queue(y, "etl"));
  auto no_rm = hdfs::check_yarn_queue({.cluster = "prod"}, "default");
  ASSERT_FALSE(no_rm);
  EXPECT_NE(no_rm.error().message.find("yarn_rm_url"), std::string::npos);
}

TEST(OpenStorage, RemoteHdfsOnIpv6FailsOverThroughTheHadoopConfiguration) {
  WebHdfsServer server({.host = "::1", .namenodes = 2, .standby = {0}});
  ASSERT_EQ(server.error(), "");
  const fs::path dir = fs::path(::testing::TempDir()) / "hadoop-conf-remote";
  server.write_hadoop_conf(dir, "remote");
  config::ClusterConfig cluster;
  cluster.name = "prod";
  cluster.hdfs_user = "hdfs";
  cluster.webhdfs_port = server.namenode_port(0);
  // Unknown NameService: the standby NameNode is refused, saying why.
  auto s = open_storage({.type = PathType::kRemoteHDFS,
                         .nameservice = "remote",
                         .ip_mode = "IPv6",
                         .namenode_ip = "::1"},
                        &cluster);
  ASSERT_TRUE(s) << s.error().message;
  auto r = (*s)->stat("/");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not in the cluster's Hadoop configuration"), std::string::npos)
      << r.error().message;
  // Known NameService: fail-over to the active NameNode.
  cluster.hadoop_conf_dir = dir.string();
  s = open_storage({.type = PathType::kRemoteHDFS,
                    .nameservice = "remote",
                    .ip_mode = "auto",
                    .namenode_ip = "[::1]:" + std::to_string(server.namenode_port(0))},
                   &cluster);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_OK(put(**s, "/v6/f", "over IPv6"));
  EXPECT_EQ(disk(server, "/v6/f"), "over IPv6");
  // LocalHDFS of an unknown NameService is refused naming it.
  auto local = open_storage({.type = PathType::kLocalHDFS, .nameservice = "nope"}, &cluster);
  ASSERT_FALSE(local);
  EXPECT_EQ(local.error().field, "nameservice");
  EXPECT_NE(local.error().message.find("'nope'"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flinkbr::storage
