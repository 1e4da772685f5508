// Tests of the Flink HA test peer against a real ZooKeeper: what it writes is what a Flink
// JobManager writes (the tree, the counter bytes, pointers byte for byte against a stream built
// here from the Java serialization specification and Flink's serialVersionUIDs), its recovery
// check accepts a healthy tree and names what Flink would lose, and churn leaves a consistent
// cluster behind.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/flink_peer.h"
#include "support/zookeeper_server.h"

namespace flinkbr::testsupport {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- a Java serialization stream of Flink's pointer, written from the specification ----------

void u16(std::string& s, size_t v) {
  s += static_cast<char>((v >> 8) & 0xff);
  s += static_cast<char>(v & 0xff);
}
void u64(std::string& s, uint64_t v) {
  for (int i = 7; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
void utf(std::string& s, const std::string& v) {  // ASCII and BMP text: UTF-8 == modified UTF-8
  u16(s, v.size());
  s += v;
}
// TC_CLASSDESC name suid flags, fields as (typecode, name, class signature or ""), no
// annotations, no serializable superclass.
void class_desc(std::string& s, const std::string& name, uint64_t suid, char flags,
                const std::vector<std::tuple<char, std::string, std::string>>& fields) {
  s += '\x72';
  utf(s, name);
  u64(s, suid);
  s += flags;
  u16(s, fields.size());
  for (const auto& [code, fname, sig] : fields) {
    s += code;
    utf(s, fname);
    if (!sig.empty()) {
      s += '\x74';  // TC_STRING: each signature differs, so none is a back-reference
      utf(s, sig);
    }
  }
  s += '\x78';  // TC_ENDBLOCKDATA
  s += '\x70';  // TC_NULL: no superclass
}

// InstantiationUtil.serializeObject(new RetrievableStreamStateHandle(new FileStateHandle(
// new Path(uri), size))): serialVersionUIDs from Flink's sources (314567453677355,
// 350284443258002355, 1) and the JDK's java.net.URI (-6052424284110960213, which has a
// writeObject: flags 0x03 and an end-of-block marker after its field).
std::string flink_pointer(const std::string& uri, uint64_t size) {
  std::string s("\xac\xed\x00\x05", 4);
  s += '\x73';
  class_desc(
      s, "org.apache.flink.runtime.state.RetrievableStreamStateHandle", 314567453677355ULL, 0x02,
      {{'L', "wrappedStreamStateHandle", "Lorg/apache/flink/runtime/state/StreamStateHandle;"}});
  s += '\x73';
  class_desc(s, "org.apache.flink.runtime.state.filesystem.FileStateHandle", 350284443258002355ULL,
             0x02, {{'J', "stateSize", ""}, {'L', "filePath", "Lorg/apache/flink/core/fs/Path;"}});
  u64(s, size);
  s += '\x73';
  class_desc(s, "org.apache.flink.core.fs.Path", 1, 0x02, {{'L', "uri", "Ljava/net/URI;"}});
  s += '\x73';
  class_desc(s, "java.net.URI", 0xac01782e439e49abULL, 0x03,
             {{'L', "string", "Ljava/lang/String;"}});
  s += '\x74';
  utf(s, uri);
  s += '\x78';
  return s;
}

// ---- fixture ------------------------------------------------------------------------------------

ZkServer* g_zk = nullptr;

class FlinkPeerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { g_zk = new ZkServer(); }
  static void TearDownTestSuite() {
    delete g_zk;
    g_zk = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(g_zk->error().empty()) << "no real ZooKeeper: " << g_zk->error();
    const auto& peer = FlinkPeer::get();
    ASSERT_TRUE(peer.error().empty()) << "the Flink HA peer cannot be built: " << peer.error();
    // One cluster per test: "Suite/Param" names become "Suite-Param".
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (auto& c : name)
      if (c == '/' || c == '.') c = '-';
    storage_ = g_zk->dir() + "/storage-" + name;
    fs::create_directories(storage_);
    root_ = "/flink/" + name;
  }

  PeerResult peer(std::vector<std::string> args) {
    args.insert(args.begin() + 1, {"--connect", g_zk->connect(), "--root", root_});
    return FlinkPeer::get().run(args);
  }
  PeerResult populate(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"populate", "--storage", storage_};
    args.insert(args.end(), extra.begin(), extra.end());
    return peer(args);
  }
  json check(const std::vector<std::string>& extra = {}, int expect = 0) {
    std::vector<std::string> args = {"check"};
    args.insert(args.end(), extra.begin(), extra.end());
    PeerResult r = peer(args);
    EXPECT_EQ(r.status, expect) << r.out << r.err;
    try {
      return json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "check printed no JSON: " << r.out << r.err;
      return json::object();
    }
  }

  std::optional<std::string> get(const std::string& path) {
    ZkClient c(g_zk->connect());
    std::vector<char> buf(1 << 16);
    int len = static_cast<int>(buf.size());
    struct Stat st;
    if (zoo_get(c.zh(), path.c_str(), 0, buf.data(), &len, &st) != ZOK) return std::nullopt;
    return std::string(buf.data(), len < 0 ? 0 : static_cast<size_t>(len));
  }
  std::vector<std::string> children(const std::string& path) {
    ZkClient c(g_zk->connect());
    String_vector sv{};
    std::vector<std::string> out;
    if (zoo_get_children(c.zh(), path.c_str(), 0, &sv) != ZOK) return out;
    for (int i = 0; i < sv.count; ++i) out.emplace_back(sv.data[i]);
    deallocate_String_vector(&sv);
    std::sort(out.begin(), out.end());
    return out;
  }
  // The file a local pointer names (the URI is the stream's last string, just before the end
  // marker; these tests' storage paths need no percent-decoding).
  static std::string file_of(const std::string& pointer) {
    const auto at = pointer.rfind("file:");
    return pointer.substr(at + 5, pointer.size() - 1 - (at + 5));
  }

  std::string storage_;
  std::string root_;
};

std::string counter_bytes(int v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// ---- tests --------------------------------------------------------------------------------------

TEST_F(FlinkPeerTest, DumpPointerWritesFlinksBytes) {
  for (const std::string uri : {"file:/var/flink/ha/prod/completedCheckpoint0123456789ab",
                                "hdfs://hacluster/flink/ha/x", "s3://bucket/ha/a%20b/\xc3\xa9"}) {
    PeerResult r = FlinkPeer::get().run({"dump-pointer", "--uri", uri, "--size", "4242"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, flink_pointer(uri, 4242)) << uri;
  }
  // A Flink path string is percent-encoded as java.net.URI quotes: space yes, non-ASCII no.
  PeerResult r =
      FlinkPeer::get().run({"dump-pointer", "--path", "hdfs://ns/ha dir/\xc3\xa9", "--size", "7"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, flink_pointer("hdfs://ns/ha%20dir/\xc3\xa9", 7));
}

class FlinkPeerLayoutTest : public FlinkPeerTest,
                            public ::testing::WithParamInterface<std::string> {};

TEST_P(FlinkPeerLayoutTest, PopulateWritesFlinksTreeAndCheckPasses) {
  const std::string layout = GetParam();
  PeerResult r = populate({"--layout", layout, "--jobs", "2", "--checkpoints", "3"});
  ASSERT_EQ(r.status, 0) << r.err;
  const json summary = json::parse(r.out);
  const std::string cluster = root_.substr(root_.rfind('/') + 1);
  EXPECT_EQ(summary["storage_uri"], "file:" + storage_ + "/" + cluster);
  ASSERT_EQ(summary["jobs"].size(), 2u);

  const bool legacy = layout == "legacy";
  const std::string graphs = root_ + (layout == "2.0" ? "/execution-plans" : "/jobgraphs");
  const std::string prefix = layout == "2.0" ? "submittedExecutionPlan" : "submittedJobGraph";
  for (const auto& job : summary["jobs"]) {
    const std::string id = job["id"];
    EXPECT_EQ(id.size(), 32u);
    // The job graph node: a pointer to <storage>/<cluster-id>/<prefix><12 hex>, with the file's
    // length, byte for byte as Flink serializes it.
    auto pointer = get(graphs + "/" + id);
    ASSERT_TRUE(pointer) << graphs << "/" << id;
    const std::string file = file_of(*pointer);
    EXPECT_EQ(fs::path(file).parent_path(), fs::path(storage_) / cluster);
    EXPECT_EQ(fs::path(file).filename().string().rfind(prefix, 0), 0u) << file;
    EXPECT_EQ(fs::path(file).filename().string().size(), prefix.size() + 12);
    ASSERT_TRUE(fs::is_regular_file(file)) << file;
    EXPECT_EQ(*pointer, flink_pointer("file:" + file, fs::file_size(file)));

    // Checkpoints 1..3 and the SharedCount holding the next id, 4.
    const std::string cps =
        legacy ? root_ + "/checkpoints/" + id : root_ + "/jobs/" + id + "/checkpoints";
    EXPECT_EQ(children(cps), (std::vector<std::string>{"0000000000000000001", "0000000000000000002",
                                                       "0000000000000000003"}));
    for (const auto& name : children(cps)) {
      auto cp = get(cps + "/" + name);
      ASSERT_TRUE(cp);
      const std::string cp_file = file_of(*cp);
      EXPECT_EQ(fs::path(cp_file).filename().string().rfind("completedCheckpoint", 0), 0u);
      ASSERT_TRUE(fs::is_regular_file(cp_file));
      EXPECT_EQ(*cp, flink_pointer("file:" + cp_file, fs::file_size(cp_file)));
      // The lock: since 1.15 a persistent `locks` holding the (now closed) session's ephemeral
      // lock; before, the ephemeral lock right under the node. The session is gone, so only
      // the persistent part remains.
      EXPECT_EQ(children(cps + "/" + name),
                legacy ? std::vector<std::string>{} : std::vector<std::string>{"locks"});
    }
    const std::string counter = legacy ? root_ + "/checkpoint-counter/" + id
                                       : root_ + "/jobs/" + id + "/checkpoint_id_counter";
    EXPECT_EQ(get(counter), counter_bytes(4));
    EXPECT_EQ(job["counter"], 4);
    if (legacy) {
      EXPECT_EQ(get(root_ + "/running_job_registry/" + id), "RUNNING");
    }
  }

  const json report = check();
  EXPECT_EQ(report["ok"], true) << report.dump();
  EXPECT_EQ(report["layout"], layout);
  EXPECT_EQ(report["recovered_jobs"], 2);
  EXPECT_EQ(report["recovered_checkpoints"], 6);
  for (const auto& job : report["jobs"]) {
    EXPECT_EQ(job["latest_checkpoint"], 3);
    EXPECT_EQ(job["counter"], 4);
  }
}

// Where each layout keeps a job's records and a leading JobManager's nodes.
struct LayoutPaths {
  std::string root, layout;
  bool legacy() const { return layout == "legacy"; }
  std::string checkpoints(const std::string& id) const {
    return legacy() ? root + "/checkpoints/" + id : root + "/jobs/" + id + "/checkpoints";
  }
  std::string counter(const std::string& id) const {
    return legacy() ? root + "/checkpoint-counter/" + id
                    : root + "/jobs/" + id + "/checkpoint_id_counter";
  }
  std::string job_leader(const std::string& id) const {
    return legacy()          ? root + "/leader/" + id + "/job_manager_lock"
           : layout == "2.0" ? root + "/leader/job-" + id + "/connection_info"
                             : root + "/leader/" + id + "/connection_info";
  }
  std::string dispatcher() const {
    return legacy() ? root + "/leader/dispatcher_lock"
                    : root + "/leader/dispatcher/connection_info";
  }
  std::string dispatcher_latch() const {
    return legacy() ? root + "/leaderlatch/dispatcher_lock" : root + "/leader/latch";
  }
};

TEST_P(FlinkPeerLayoutTest, ChurnKeepsCounterAheadAndLeavesNoDanglingPointer) {
  const LayoutPaths at{root_, GetParam()};
  PeerResult r = populate({"--layout", GetParam(), "--jobs", "2", "--checkpoints", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> jobs;
  const json populated = json::parse(r.out);  // a range-for over a temporary's member dangles
  for (const auto& j : populated["jobs"]) jobs.push_back(j["id"]);

  // No --layout: churn takes the layout of the tree it finds.
  PeerProcess churn(FlinkPeer::get(),
                    {"churn", "--connect", g_zk->connect(), "--root", root_, "--storage", storage_,
                     "--interval-ms", "5", "--retain", "1", "--report-every", "20"});
  ASSERT_TRUE(churn.wait_for_line("checkpoints=")) << churn.out() << churn.err();
  EXPECT_EQ(churn.out().rfind("churning jobs=2 ", 0), 0u) << churn.out();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // While it runs: every job's counter is ahead of every checkpoint node (the counter is read
  // after the nodes, and ids only grow), and the leader nodes of a live JobManager are there.
  for (const auto& id : jobs) {
    const auto nodes = children(at.checkpoints(id));
    auto counter = get(at.counter(id));
    ASSERT_TRUE(counter && counter->size() == 4);
    const auto* b = reinterpret_cast<const unsigned char*>(counter->data());
    const long next = (long{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    ASSERT_FALSE(nodes.empty());
    for (const auto& n : nodes) EXPECT_LT(std::stol(n), next) << id << "/" << n;
    EXPECT_TRUE(get(at.job_leader(id))) << at.job_leader(id);
  }
  EXPECT_TRUE(get(at.dispatcher())) << at.dispatcher();
  EXPECT_EQ(children(at.dispatcher_latch()).size(), 1u);

  PeerResult done = churn.stop(SIGTERM);
  EXPECT_EQ(done.status, 0) << done.err;
  EXPECT_NE(done.out.find("checkpoints=20 "), std::string::npos) << done.out;
  const auto final_at = done.out.find("final checkpoints=");
  ASSERT_NE(final_at, std::string::npos) << done.out;
  EXPECT_GT(std::stol(done.out.substr(final_at + 18)), 20);

  // Stopped between steps: Flink recovers everything, one retained checkpoint per job, and the
  // HA storage holds exactly the files the pointers name (subsumed files were discarded).
  const json report = check();
  EXPECT_EQ(report["ok"], true) << report.dump();
  EXPECT_EQ(report["layout"], GetParam());
  EXPECT_EQ(report["recovered_jobs"], 2);
  EXPECT_EQ(report["recovered_checkpoints"], 2);
  size_t files = 0;
  for ([[maybe_unused]] const auto& e :
       fs::directory_iterator(fs::path(storage_) / root_.substr(root_.rfind('/') + 1)))
    ++files;
  EXPECT_EQ(files, 4u);  // 2 job graphs + 2 retained checkpoints
  // The session is closed: its ephemeral leader nodes went with it.
  EXPECT_FALSE(get(at.dispatcher()));
}

TEST_P(FlinkPeerLayoutTest, HoldKeepsEphemeralsUntilItsSessionExpires) {
  const LayoutPaths at{root_, GetParam()};
  PeerResult r = populate({"--layout", GetParam(), "--jobs", "1", "--checkpoints", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string id = json::parse(r.out)["jobs"][0]["id"];
  // Where a session's lock of checkpoint 1 goes: under `locks`, or (legacy) under the node.
  const std::string locks =
      at.checkpoints(id) + "/0000000000000000001" + (at.legacy() ? "" : "/locks");
  ASSERT_TRUE(children(locks).empty());

  PeerProcess hold(FlinkPeer::get(), {"hold", "--connect", g_zk->connect(), "--root", root_,
                                      "--storage", storage_, "--session-timeout-ms", "2000"});
  ASSERT_TRUE(hold.wait_for_line("ready")) << hold.out() << hold.err();
  EXPECT_EQ(children(locks).size(), 1u);
  EXPECT_TRUE(get(at.job_leader(id))) << at.job_leader(id);
  EXPECT_TRUE(get(at.dispatcher()));
  hold.kill9();
  // A killed JobManager's ephemerals linger until its session expires (2 s here).
  EXPECT_EQ(children(locks).size(), 1u);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!children(locks).empty() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(children(locks).empty());
  EXPECT_FALSE(get(at.dispatcher()));
  EXPECT_EQ(check()["ok"], true);
}

INSTANTIATE_TEST_SUITE_P(Layouts, FlinkPeerLayoutTest, ::testing::Values("1.15", "legacy", "2.0"),
                         [](const auto& info) {
                           return info.param == "1.15"     ? std::string("Flink115")
                                  : info.param == "legacy" ? std::string("Legacy")
                                                           : std::string("Flink20");
                         });

TEST_F(FlinkPeerTest, OddStoragePathIsPercentEncodedAsJavaDoes) {
  PeerResult r = populate({"--odd-path", "--jobs", "1", "--checkpoints", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string cluster = root_.substr(root_.rfind('/') + 1);
  const json summary = json::parse(r.out);
  // A space is quoted, a non-ASCII letter is kept (java.net.URI's "other" characters).
  EXPECT_EQ(summary["storage_uri"], "file:" + storage_ + "/ha%20storage%20\xc3\xa9/" + cluster);
  const std::string id = summary["jobs"][0]["id"];
  auto pointer = get(root_ + "/jobgraphs/" + id);
  ASSERT_TRUE(pointer);
  const std::string uri = pointer->substr(pointer->rfind("file:"), std::string::npos);
  const std::string encoded = uri.substr(0, uri.size() - 1);
  const std::string name = encoded.substr(encoded.rfind('/') + 1);
  const std::string file = storage_ + "/ha storage \xc3\xa9/" + cluster + "/" + name;
  ASSERT_TRUE(fs::is_regular_file(file)) << file;
  EXPECT_EQ(*pointer, flink_pointer(encoded, fs::file_size(file)));
  EXPECT_EQ(check()["ok"], true);
}

TEST_F(FlinkPeerTest, HdfsStorageUriWithOddPathIsWrittenAndMapped) {
  // HA storage on hdfs://: the pointers name HDFS, the files go to the local directory that
  // stands for it.
  PeerResult r = populate({"--storage-uri", "hdfs://hacluster/flink/ha", "--odd-path", "--jobs",
                           "1", "--checkpoints", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string cluster = root_.substr(root_.rfind('/') + 1);
  const json summary = json::parse(r.out);
  const std::string base = "hdfs://hacluster/flink/ha/ha%20storage%20\xc3\xa9/" + cluster;
  EXPECT_EQ(summary["storage_uri"], base);
  const std::string id = summary["jobs"][0]["id"];
  auto pointer = get(root_ + "/jobgraphs/" + id);
  ASSERT_TRUE(pointer);
  const auto at = pointer->rfind("hdfs:");
  ASSERT_NE(at, std::string::npos);
  const std::string uri = pointer->substr(at, pointer->size() - 1 - at);
  ASSERT_EQ(uri.rfind(base + "/submittedJobGraph", 0), 0u) << uri;
  const std::string file =
      storage_ + "/ha storage \xc3\xa9/" + cluster + "/" + uri.substr(uri.rfind('/') + 1);
  ASSERT_TRUE(fs::is_regular_file(file)) << file;
  EXPECT_EQ(*pointer, flink_pointer(uri, fs::file_size(file)));

  const json unmapped = check({}, 1);
  ASSERT_EQ(unmapped["problems"].size(), 2u) << unmapped.dump();
  EXPECT_EQ(unmapped["problems"][0]["kind"], "unreachable");
  const json mapped = check({"--storage-map", "hdfs://hacluster/flink/ha=" + storage_});
  EXPECT_EQ(mapped["ok"], true) << mapped.dump();
}

TEST_F(FlinkPeerTest, DeletedCheckpointFileFailsWithFlinksMessage) {
  PeerResult r = populate({"--jobs", "1", "--checkpoints", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string id = json::parse(r.out)["jobs"][0]["id"];
  const std::string node = root_ + "/jobs/" + id + "/checkpoints/0000000000000000002";
  auto pointer = get(node);
  ASSERT_TRUE(pointer);
  ASSERT_TRUE(fs::remove(file_of(*pointer)));

  const json report = check({}, 1);
  EXPECT_EQ(report["ok"], false);
  ASSERT_EQ(report["problems"].size(), 1u) << report.dump();
  const auto& p = report["problems"][0];
  EXPECT_EQ(p["node"], node);
  EXPECT_EQ(p["kind"], "dangling");
  EXPECT_EQ(p["message"].get<std::string>().rfind(
                "Could not retrieve checkpoint 2 from state handle under /0000000000000000002"
                ". This indicates that the retrieved state handle is broken. Try cleaning the "
                "state handle store.",
                0),
            0u)
      << p["message"];
  // Checkpoint 1 is still recovered; the counter (3) is ahead of the newest node.
  EXPECT_EQ(report["jobs"][0]["checkpoints"], json::array({1}));
}

TEST_F(FlinkPeerTest, DeletedJobGraphFileFailsWithFlinksMessage) {
  PeerResult r = populate({"--jobs", "1", "--checkpoints", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string id = json::parse(r.out)["jobs"][0]["id"];
  const std::string node = root_ + "/jobgraphs/" + id;
  ASSERT_TRUE(fs::remove(file_of(*get(node))));
  const json report = check({}, 1);
  ASSERT_EQ(report["problems"].size(), 1u) << report.dump();
  EXPECT_EQ(
      report["problems"][0]["message"].get<std::string>().rfind(
          "Could not retrieve submitted JobGraph from state handle under /" + id +
              ". This indicates that the retrieved state handle is broken. Try cleaning the state "
              "handle store.",
          0),
      0u)
      << report.dump();
  EXPECT_EQ(report["problems"][0]["node"], node);
  EXPECT_EQ(report["jobs"][0]["recovered"], false);
  // --expect-jobs: how many jobs a test wants back.
  const json expecting = check({"--expect-jobs", "1"}, 1);
  ASSERT_EQ(expecting["problems"].size(), 2u) << expecting.dump();
  EXPECT_EQ(expecting["problems"][1]["kind"], "expected");
  EXPECT_EQ(expecting["problems"][1]["message"], "Flink would recover 0 jobs, not the 1 expected");
}

TEST_F(FlinkPeerTest, EmptyTreeRecoversNothing) {
  EXPECT_EQ(check()["ok"], true);
  EXPECT_EQ(check({"--expect-jobs", "0"})["recovered_jobs"], 0);
  EXPECT_EQ(check({"--expect-jobs", "2"}, 1)["problems"][0]["kind"], "expected");
}

TEST_F(FlinkPeerTest, NodeWithoutLocksIsReportedLost) {
  PeerResult r = populate({"--jobs", "1", "--checkpoints", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string id = json::parse(r.out)["jobs"][0]["id"];
  const std::string node = root_ + "/jobs/" + id + "/checkpoints/0000000000000000002";
  {
    ZkClient c(g_zk->connect());
    ASSERT_EQ(zoo_delete(c.zh(), (node + "/locks").c_str(), -1), ZOK);
  }
  // The file is there and the pointer is fine: Flink still skips the node, silently.
  const json report = check({}, 1);
  ASSERT_EQ(report["problems"].size(), 1u) << report.dump();
  EXPECT_EQ(report["problems"][0]["node"], node);
  EXPECT_EQ(report["problems"][0]["kind"], "lost");
  EXPECT_NE(report["problems"][0]["message"].get<std::string>().find("marked for deletion"),
            std::string::npos);
  EXPECT_EQ(report["jobs"][0]["latest_checkpoint"], 1);
}

TEST_F(FlinkPeerTest, CorruptPointersAndCounterBehindAreReported) {
  PeerResult r = populate({"--jobs", "1", "--checkpoints", "3"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string id = json::parse(r.out)["jobs"][0]["id"];
  const std::string cp1 = root_ + "/jobs/" + id + "/checkpoints/0000000000000000001";
  const std::string graph = root_ + "/jobgraphs/" + id;
  const std::string counter = root_ + "/jobs/" + id + "/checkpoint_id_counter";
  {
    ZkClient c(g_zk->connect());
    c.set(cp1, std::string("\xac\xed\x00\x05garbage", 11));
    c.set(graph, std::string("\xac\xed\x00\x05", 4));
    c.set(counter, counter_bytes(3));
  }
  const json report = check({}, 1);
  ASSERT_EQ(report["problems"].size(), 3u) << report.dump();
  std::map<std::string, std::string> by_node;
  for (const auto& p : report["problems"]) by_node[p["node"]] = p["message"];
  // A corrupt checkpoint pointer is only logged by getAllAndLock; a corrupt job graph pointer
  // fails the job's recovery.
  EXPECT_EQ(by_node[cp1].rfind("Could not get all ZooKeeper children. Node /0000000000000000001 "
                               "contained corrupted data. Ignoring this node.",
                               0),
            0u)
      << by_node[cp1];
  EXPECT_EQ(by_node[graph].rfind("Could not retrieve the submitted job graph state handle for /" +
                                     id + " from the submitted job graph store.",
                                 0),
            0u)
      << by_node[graph];
  EXPECT_NE(by_node[counter].find("is 3, not ahead of its newest checkpoint 3: Flink would reuse "
                                  "checkpoint id 3"),
            std::string::npos)
      << by_node[counter];
}

TEST_F(FlinkPeerTest, StorageMapReadsPointersIntoAnotherPlace) {
  PeerResult r = populate({"--jobs", "1", "--checkpoints", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string moved = storage_ + "-moved";
  fs::rename(storage_, moved);
  EXPECT_EQ(check({}, 1)["problems"].size(), 2u);
  const json report = check({"--storage-map", "file:" + storage_ + "=" + moved});
  EXPECT_EQ(report["ok"], true) << report.dump();
}

TEST_F(FlinkPeerTest, ChurnStopsWhenStdinCloses) {
  PeerProcess churn(FlinkPeer::get(),
                    {"churn", "--connect", g_zk->connect(), "--root", root_, "--storage", storage_,
                     "--jobs", "1", "--interval-ms", "5", "--report-every", "10"});
  ASSERT_TRUE(churn.wait_for_line("checkpoints=10 ")) << churn.out() << churn.err();
  churn.close_stdin();
  PeerResult done = churn.wait();
  EXPECT_EQ(done.status, 0) << done.err;
  EXPECT_NE(done.out.find("final checkpoints="), std::string::npos) << done.out;
  EXPECT_EQ(check()["ok"], true);
}

TEST_F(FlinkPeerTest, DigestCreatorAclKeepsOthersOut) {
  // Its own top znode: the creator ACL also lands on the parents it creates.
  root_ = "/secure/prod";
  PeerResult r = populate(
      {"--jobs", "1", "--checkpoints", "1", "--digest", "flink:s3cret", "--acl", "creator"});
  ASSERT_EQ(r.status, 0) << r.err;
  {
    ZkClient c(g_zk->connect(), "flink:s3cret");
    ACL_vector acl{};
    struct Stat st;
    ASSERT_EQ(zoo_get_acl(c.zh(), (root_ + "/jobgraphs").c_str(), &acl, &st), ZOK);
    ASSERT_EQ(acl.count, 1);
    EXPECT_STREQ(acl.data[0].id.scheme, "digest");
    EXPECT_EQ(std::string(acl.data[0].id.id).rfind("flink:", 0), 0u);
    EXPECT_NE(std::string(acl.data[0].id.id), "flink:x");
    deallocate_ACL_vector(&acl);
  }
  EXPECT_EQ(check({"--digest", "flink:s3cret"})["ok"], true);
  PeerResult refused = peer({"check"});
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.err.find("NoAuth"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace flinkbr::testsupport
