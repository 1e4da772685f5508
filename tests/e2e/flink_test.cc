// End-to-end: Flink-aware backups (issue 14, docs/flink-ha.md). A Flink HA tree and its HA
// storage are written by the Flink HA test peer (tests/peers/flink-ha: Flink's own pointer bytes,
// addAndLock and subsumption as a JobManager does them), backed up and restored through the real
// daemon and CLI against a real ZooKeeper; whether Flink could recover from the result is judged
// by the peer's `check`, a JobManager's recovery.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "flink_fixture.h"
#include "harness.h"
#include "support/flink_peer.h"
#include "support/zookeeper_server.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testsupport::FlinkPeer;
using testsupport::PeerProcess;
using testsupport::ZkClient;

class FlinkEndToEnd : public FlinkFixture {
 protected:
  json peer(const std::vector<std::string>& args, int expect_status = 0) {
    std::vector<std::string> all = args;
    all.insert(all.begin() + 1, {"--connect", zk_server().connect()});
    auto r = FlinkPeer::get().run(all);
    EXPECT_EQ(r.status, expect_status) << r.out << r.err;
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json{{"raw", r.out + r.err}} : j;
  }
  // Flink's recovery of the tree under `root`: what the peer's check prints.
  json check(const std::string& root, int jobs) {
    auto r = FlinkPeer::get().run({"check", "--connect", zk_server().connect(), "--root", root,
                                   "--expect-jobs", std::to_string(jobs)});
    auto j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json{{"ok", false}, {"raw", r.out + r.err}} : j;
  }
};

// A cluster that checkpoints every 5 ms while it is backed up: every backup holds each pointer's
// file with the pointer's size and counters ahead of their checkpoints, and one of them restores
// into a cluster Flink recovers.
TEST_F(FlinkEndToEnd, BackupsOfAChurningClusterAreAllConsistentAndRestoreIntoARecoverableOne) {
  Daemon d(options());
  d.seed_cluster();
  populate(d, 2, 1);
  PeerProcess churn(FlinkPeer::get(),
                    {"churn", "--connect", zk_server().connect(), "--root", root_, "--storage",
                     d.ha_dir(), "--interval-ms", "5", "--jobs", "2", "--report-every", "50"});
  ASSERT_TRUE(churn.wait_for_line("checkpoints=")) << churn.out() << churn.err();

  constexpr int kBackups = 20;
  std::vector<std::string> paths;
  for (int i = 0; i < kBackups; ++i) {
    std::string task = "churn" + std::to_string(i);
    paths.push_back(d.backup(task));
    json c = last_record(d, task)["consistency"];
    EXPECT_EQ(c["state"], "consistent") << task << ": " << c.dump();
    EXPECT_EQ(c["dangling"], json::array()) << task;
    EXPECT_EQ(c["jobs"], 2) << c.dump();
    EXPECT_GE(c["checkpoints"].get<int>(), 2) << c.dump();
    EXPECT_EQ(c["pointers"].get<int>(), 2 + c["checkpoints"].get<int>()) << c.dump();
  }
  auto stopped = churn.stop();
  EXPECT_NE(stopped.out.find("final checkpoints="), std::string::npos) << stopped.out;

  // A JobManager is down (its session gone with the churn); restore a backup taken mid-churn.
  d.set_service_state("stopped");
  create_restore(d, "r1", paths[kBackups / 2]);
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  json recovered = check(root_, 2);
  EXPECT_EQ(recovered["ok"], true) << recovered.dump(2);
}

// The seed's "data is migrated to a new cluster": the new cluster has no root znode and its HA
// storage elsewhere. The restore creates the root and rewrites every pointer into the new HA
// storage; the preview says so first.
TEST_F(FlinkEndToEnd, RestoringIntoANewClusterCreatesTheRootAndRewritesThePointers) {
  Daemon d2(options());
  const std::string dr_root = "/flink/dr" + suffix_;
  const std::string dr_ha = d2.root() + "/dr/ha storage", dr_conf = d2.root() + "/dr/conf";
  fs::create_directories(dr_ha);
  fs::create_directories(dr_conf);
  d2.add_cluster(d2.cluster_yaml("dr", dr_ha, dr_conf, {zk_source(dr_root)}));
  d2.seed_cluster();
  peer(
      {"populate", "--root", root_, "--storage", d2.ha_dir(), "--jobs", "2", "--checkpoints", "2"});
  std::string path = d2.backup();
  json c = last_record(d2, "nightly")["consistency"];
  ASSERT_EQ(c["state"], "consistent") << c.dump();
  const int pointers = c["pointers"].get<int>();
  EXPECT_EQ(pointers, 2 + 2 * 2);

  d2.set_service_state("stopped");
  create_restore(d2, "to-dr", path, "dr");
  auto preview = d2.cli({"restore", "start", "to-dr", "--dry-run", "--json"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  json flink = json::parse(preview.out)["flink"];
  ASSERT_EQ(flink["rewrites"].size(), 1u) << flink.dump(2);
  EXPECT_EQ(flink["rewrites"][0]["from"], "file://" + d2.ha_dir());
  EXPECT_EQ(flink["rewrites"][0]["to"], "file://" + dr_ha);
  EXPECT_EQ(flink["rewrites"][0]["count"], pointers) << flink.dump(2);
  EXPECT_EQ(flink["jobs"].size(), 2u) << flink.dump(2);
  EXPECT_EQ(flink["dangling"], json::array());

  auto s = d2.cli({"restore", "start", "to-dr", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  // Flink of the new cluster recovers both jobs from the new HA storage (the space in its path
  // is percent-encoded in the pointers, as Flink's Path writes it).
  json recovered = check(dr_root, 2);
  EXPECT_EQ(recovered["ok"], true) << recovered.dump(2);
  // ... and nothing of it points into the old cluster's storage: remove that and check again.
  fs::remove_all(d2.ha_dir());
  recovered = check(dr_root, 2);
  EXPECT_EQ(recovered["ok"], true) << recovered.dump(2);
}

// Flink before 1.15 takes a job graph's lock as a direct ephemeral child and gives it no `locks`
// child; with its JobManager stopped a job graph has no child at all. The capture once took each
// of them for a record being subsumed and left every job graph out of the backup (found by the
// speed round's 100,000-znode bench). Every job comes back, and Flink recovers them.
TEST_F(FlinkEndToEnd, AClusterOfTheLayoutBefore115KeepsEveryJobGraph) {
  Daemon d(options());
  d.seed_cluster();
  peer({"populate", "--root", root_, "--storage", d.ha_dir(), "--jobs", "3", "--checkpoints", "2",
        "--layout", "legacy"});
  ASSERT_EQ(check(root_, 3)["ok"], true);
  std::string path = d.backup();
  json c = last_record(d, "nightly")["consistency"];
  EXPECT_EQ(c["state"], "consistent") << c.dump();
  EXPECT_EQ(c["jobs"], 3) << c.dump();
  EXPECT_EQ(c["pointers"], 3 + 3 * 2) << c.dump();

  // The tree lost (an upgrade gone wrong); the restore brings back what Flink recovers.
  ZkClient(zk_server().connect()).remove_tree(root_);
  d.set_service_state("stopped");
  create_restore(d, "legacy", path);
  auto s = d.cli({"restore", "start", "legacy", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  json recovered = check(root_, 3);
  EXPECT_EQ(recovered["ok"], true) << recovered.dump(2);
}

// A live HA storage that already lost a file is backed up as it is and said to be inconsistent,
// naming the pointer; its restore is refused before anything changes, unless --allow-dangling.
TEST_F(FlinkEndToEnd, ADanglingPointerIsRecordedAndItsRestoreRefusedUnlessAllowed) {
  Daemon d(options());
  d.seed_cluster();
  populate(d, 1, 2);
  std::string lost;
  // The peer's files are under <storage>/<cluster-id>, the last component of the root.
  for (const auto& e : fs::directory_iterator(d.ha_dir() + "/prod" + suffix_))
    if (e.path().filename().string().starts_with("completedCheckpoint")) lost = e.path().string();
  ASSERT_FALSE(lost.empty());
  fs::remove(lost);
  std::string path = d.backup();
  json c = last_record(d, "nightly")["consistency"];
  EXPECT_EQ(c["state"], "inconsistent") << c.dump();
  ASSERT_EQ(c["dangling"].size(), 1u) << c.dump();
  EXPECT_NE(c["dangling"][0].get<std::string>().find(fs::path(lost).filename().string()),
            std::string::npos)
      << c.dump();

  ZkClient zk(zk_server().connect());
  zk.remove_tree(root_ + "/jobgraphs");
  auto before = zk.snapshot(root_);
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto refused = d.cli({"restore", "start", "r1", "--wait"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("dangling"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--allow-dangling"), std::string::npos) << refused.err;
  EXPECT_EQ(zk.snapshot(root_), before);

  auto allowed = d.cli({"restore", "retry", "r1", "--allow-dangling", "--wait"});
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
  json task = restore_show(d, "r1");
  EXPECT_NE(task.dump().find("--allow-dangling"), std::string::npos);
  EXPECT_NE(zk.snapshot(root_), before);  // the job graph is back
}

// A checkpoint counter behind its newest checkpoint would make Flink reuse that id: the backup
// says so. A record whose bytes are no pointer is what Flink only logs and ignores: the backup
// names it as unreadable and stays consistent.
TEST_F(FlinkEndToEnd, ACounterBehindAndCorruptPointerBytesAreReportedAsFlinkSeesThem) {
  Daemon d(options());
  d.seed_cluster();
  json populated = peer(
      {"populate", "--root", root_, "--storage", d.ha_dir(), "--jobs", "2", "--checkpoints", "2"});
  ASSERT_EQ(populated["jobs"].size(), 2u) << populated.dump();
  const std::string job0 = populated["jobs"][0]["id"], job1 = populated["jobs"][1]["id"];
  ZkClient zk(zk_server().connect());
  // Corrupt bytes that still start as Java serialization, in job 1's newest checkpoint.
  const std::string cp = root_ + "/jobs/" + job1 + "/checkpoints/0000000000000000002";
  zk.set(cp, std::string("\xac\xed\x00\x05\x73\x72\xff\xff", 8));
  d.backup("corrupt");
  json c = last_record(d, "corrupt")["consistency"];
  EXPECT_EQ(c["state"], "consistent") << c.dump();
  ASSERT_EQ(c["unreadable_count"], 1) << c.dump();
  EXPECT_NE(c["unreadable"][0].get<std::string>().find(job1), std::string::npos) << c.dump();

  // The counter of job 0 set back to 1: behind its checkpoints 1 and 2.
  zk.set(root_ + "/jobs/" + job0 + "/checkpoint_id_counter", std::string("\0\0\0\x01", 4));
  d.backup("behind");
  c = last_record(d, "behind")["consistency"];
  EXPECT_EQ(c["state"], "inconsistent") << c.dump();
  ASSERT_EQ(c["counters_behind"].size(), 1u) << c.dump();
  EXPECT_NE(c["counters_behind"][0].get<std::string>().find(job0), std::string::npos);
}

// A JobManager killed with kill -9 leaves its ephemeral locks and leader nodes until its session
// expires; an operator may also have deleted the whole HA root. Neither stops the restore.
TEST_F(FlinkEndToEnd, LingeringEphemeralsAndADeletedRootDoNotStopTheRestore) {
  Daemon d(options());
  d.seed_cluster();
  populate(d, 2, 1);
  std::string path = d.backup();
  PeerProcess hold(FlinkPeer::get(), {"hold", "--connect", zk_server().connect(), "--root", root_,
                                      "--storage", d.ha_dir(), "--session-timeout-ms", "30000"});
  ASSERT_TRUE(hold.wait_for_line("ready")) << hold.err();
  hold.kill9();  // its session lives on for 30 s

  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  EXPECT_EQ(check(root_, 2)["ok"], true);

  ZkClient zk(zk_server().connect());
  zk.remove_tree("/flink");
  create_restore(d, "r2", path);
  s = d.cli({"restore", "start", "r2", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  json recovered = check(root_, 2);
  EXPECT_EQ(recovered["ok"], true) << recovered.dump(2);
}

}  // namespace
}  // namespace flinkbr::e2e
