// End-to-end: the Flink-aware backups (issue 14, docs/flink-ha.md) against a hostile or careless
// world. Whoever can write Flink's ZooKeeper tree (often open to every client of the ensemble)
// controls the pointers a backup follows; an operator may edit a backup file or retry a refused
// restore. Each test is one attack, run through the real daemon and CLI against a real
// ZooKeeper, and asserts what the user sees and that nothing leaks, hangs or half-changes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "flink_fixture.h"
#include "harness.h"
#include "servers/webhdfs/webhdfs_fixture.h"
#include "support/flink_peer.h"
#include "support/zookeeper_server.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testsupport::FlinkPeer;
using testsupport::PeerProcess;
using testsupport::ZkClient;

class FlinkAttack : public FlinkFixture {
 protected:
  // The bytes Flink writes for a pointer to `uri` (taken as it is) of `size` bytes.
  static std::string pointer(const std::string& uri, int64_t size) {
    auto r = FlinkPeer::get().run({"dump-pointer", "--uri", uri, "--size", std::to_string(size)});
    EXPECT_EQ(r.status, 0) << r.err;
    return r.out;
  }
  // A job graph record as addAndLock leaves it once its JobManager is gone: the node with its
  // persistent `locks` child (without it, Flink and the capture skip the record).
  void add_job_graph(ZkClient& zk, const std::string& job, const std::string& data) {
    zk.create(root_ + "/jobgraphs/" + job, data);
    zk.create(root_ + "/jobgraphs/" + job + "/locks", std::string());
  }
  // `jobs` jobs of `layout` checkpointing every millisecond, backed up five times: every backup
  // consistent (each counter ahead of its checkpoints, every pointer's file held), and the third
  // restores into a cluster Flink recovers. Each layout has its checkpoint sets read many jobs
  // at once (FlinkCapture::stream_sets), ahead of the tree reader.
  void churn_backups_restore(const std::string& layout, int jobs) {
    Daemon d(options());
    d.seed_cluster();
    populate(d, jobs, 1, layout);
    PeerProcess churn(FlinkPeer::get(), {"churn", "--connect", zk_server().connect(), "--root",
                                         root_, "--storage", d.ha_dir(), "--interval-ms", "1",
                                         "--jobs", std::to_string(jobs), "--report-every", "200"});
    ASSERT_TRUE(churn.wait_for_line("checkpoints=")) << churn.out() << churn.err();
    std::vector<std::string> paths;
    for (int i = 0; i < 5; ++i) {
      const std::string task = "churn" + std::to_string(i);
      paths.push_back(d.backup(task));
      json c = last_record(d, task)["consistency"];
      EXPECT_EQ(c["state"], "consistent") << c.dump();
      EXPECT_EQ(c["jobs"], jobs) << c.dump();
      EXPECT_GE(c["checkpoints"].get<int>(), jobs) << c.dump();
      EXPECT_EQ(c["pointers"].get<int>(), jobs + c["checkpoints"].get<int>()) << c.dump();
    }
    auto stopped = churn.stop();
    ASSERT_NE(stopped.out.find("final checkpoints="), std::string::npos) << stopped.out;
    std::printf("churn (%s): %s\n", layout.c_str(),
                stopped.out.substr(stopped.out.rfind("final")).c_str());

    d.set_service_state("stopped");
    create_restore(d, "r1", paths[2]);
    auto s = d.cli({"restore", "start", "r1", "--wait"});
    ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
    auto check = FlinkPeer::get().run({"check", "--connect", zk_server().connect(), "--root", root_,
                                       "--expect-jobs", std::to_string(jobs)});
    json recovered = json::parse(check.out, nullptr, false);
    EXPECT_TRUE(recovered.is_object() && recovered.value("ok", false)) << check.out << check.err;
  }
  // Polls a task's newest record until it is no longer Running (or `seconds` pass).
  json wait_record(Daemon& d, const std::string& task, int seconds = 180) {
    json r;
    for (int i = 0; i < seconds * 10; ++i) {
      auto h = d.cli({"backup", "history", task, "--json"});
      if (h.exit_code == 0) {
        json all = json::parse(h.out, nullptr, false);
        if (all.is_array() && !all.empty()) {
          r = all.at(0);
          if (r["status"] != "Running") return r;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return r;
  }
};

// Hostile pointers under jobgraphs/: a path through a symbolic link out of the HA storage, an
// encoded NUL, an encoded "..", a URI of 70,000 bytes, a file used as a directory, a FIFO, a
// link to /dev/zero, encoded line breaks. None of them may fail or hang the backup (one such node
// would otherwise stop every backup of the cluster), none may bring a file from outside the HA
// storage into the backup, and each is named dangling in the record, in a bounded one-line form.
TEST_F(FlinkAttack, HostilePointersAreNamedDanglingNeitherFailTheBackupNorLeakOutsideFiles) {
  Daemon d(options());
  d.seed_cluster();
  populate(d, 1, 1);
  const std::string outside = d.root() + "/outside";
  fs::create_directories(outside);
  write_file(outside + "/secret.txt", "TOP-SECRET-OUTSIDE-THE-HA-STORAGE\n");
  fs::create_directory_symlink(outside, d.ha_dir() + "/escape");
  ASSERT_EQ(::mkfifo((d.ha_dir() + "/fifo").c_str(), 0600), 0);
  write_file(d.ha_dir() + "/plain", "x");
  fs::create_symlink("/dev/zero", d.ha_dir() + "/zero");

  const std::string ha = "file:" + d.ha_dir();
  ZkClient zk(zk_server().connect());
  const std::string secret_size = std::to_string(fs::file_size(outside + "/secret.txt"));
  add_job_graph(zk, "a0000000000000000000000000000001",
                pointer(ha + "/escape/secret.txt", std::stoll(secret_size)));
  add_job_graph(zk, "a0000000000000000000000000000002",
                pointer(ha + "/submittedJobGraph%00evil", 1));
  add_job_graph(zk, "a0000000000000000000000000000003",
                pointer(ha + "/%2e%2e/outside/secret.txt", std::stoll(secret_size)));
  add_job_graph(zk, "a0000000000000000000000000000004",
                pointer(ha + "/" + std::string(70000, 'a'), 1));
  add_job_graph(zk, "a0000000000000000000000000000005", pointer(ha + "/plain/sub", 1));
  add_job_graph(zk, "a0000000000000000000000000000006", pointer(ha + "/fifo", 1));
  add_job_graph(zk, "a0000000000000000000000000000007", pointer(ha + "/line%0Abreak%0Dfeed", 1));
  add_job_graph(zk, "a0000000000000000000000000000008", pointer(ha + "/zero", 1 << 20));

  const std::string path = d.backup();  // asserts the run succeeded
  json c = last_record(d, "nightly")["consistency"];
  EXPECT_EQ(c["state"], "inconsistent") << c.dump();
  EXPECT_EQ(c["dangling"].size(), 8u) << c.dump();
  for (const auto& entry : c["dangling"]) {
    const std::string s = entry.get<std::string>();
    EXPECT_LT(s.size(), 1024u) << "a dangling entry is bounded";
    for (unsigned char ch : s) EXPECT_GE(ch, 0x20) << "no control character in " << s;
  }

  // Nothing of the outside directory is in the file.
  const std::string x = make_temp_dir();
  ASSERT_EQ(sh("tar xzf '" + path + "' -C '" + x + "'"), 0);
  EXPECT_NE(sh("grep -rq TOP-SECRET '" + x + "'"), 0) << "a file outside the HA storage leaked";
}

// The plainest leak, alone: a directory link in the HA storage and a pointer through it. The walk
// of the files source skips links; the pin must not follow one either, or whoever can write a
// znode gets any file the daemon can read (its state database, a credentials file) into a backup.
TEST_F(FlinkAttack, APointerThroughALinkInTheHaStorageBringsNothingFromOutside) {
  Daemon d(options());
  d.seed_cluster();
  populate(d, 1, 1);
  const std::string outside = d.root() + "/outside";
  fs::create_directories(outside);
  write_file(outside + "/secret.txt", "TOP-SECRET-OUTSIDE-THE-HA-STORAGE\n");
  fs::create_directory_symlink(outside, d.ha_dir() + "/escape");
  ZkClient zk(zk_server().connect());
  add_job_graph(zk, "b0000000000000000000000000000001",
                pointer("file:" + d.ha_dir() + "/escape/secret.txt",
                        static_cast<int64_t>(fs::file_size(outside + "/secret.txt"))));

  const std::string path = d.backup();
  json c = last_record(d, "nightly")["consistency"];
  EXPECT_EQ(c["state"], "inconsistent") << c.dump();
  ASSERT_EQ(c["dangling"].size(), 1u) << c.dump();
  EXPECT_NE(c["dangling"][0].get<std::string>().find("escape/secret.txt"), std::string::npos);
  const std::string x = make_temp_dir();
  ASSERT_EQ(sh("tar xzf '" + path + "' -C '" + x + "'"), 0);
  EXPECT_NE(sh("grep -rq TOP-SECRET '" + x + "'"), 0) << "a file outside the HA storage leaked";
}

// Re-spells every zookeeper payload line of a backup file as another JSON writer would (Python's
// json.dumps: spaces after ',' and ':'), with a manifest that matches: a file edited by hand,
// whose lines the restore accepts as they are. Returns the new file's path.
std::string respell_zookeeper_lines(const std::string& in, const std::string& dir) {
  const std::string script = dir + "/respell.py", out = dir + "/edited.tar.gz";
  write_file(script, R"PY(
import hashlib, io, json, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
tin = tarfile.open(src, "r:gz")
members = [(m, tin.extractfile(m).read() if m.isfile() else None) for m in tin.getmembers()]
new = {}
for i, (m, data) in enumerate(members):
    if m.isfile() and "/znodes/" in m.name and m.name.endswith(".jsonl"):
        data = "".join(json.dumps(json.loads(l)) + "\n" for l in data.decode().splitlines())
        new[m.name] = data.encode()
        members[i] = (m, new[m.name])
for i, (m, data) in enumerate(members):
    if m.name.endswith("flinkbr-manifest.json"):
        lines = []
        for l in data.decode().split("\n"):
            s = l.strip()
            if s.startswith("{") and '"path"' in s:
                comma = s.endswith(",")
                e = json.loads(s.rstrip(","))
                if e.get("path") in new:
                    e["size"] = len(new[e["path"]])
                    e["sha256"] = hashlib.sha256(new[e["path"]]).hexdigest()
                    l = json.dumps(e, separators=(",", ":")) + ("," if comma else "")
            lines.append(l)
        members[i] = (m, "\n".join(lines).encode())
assert new, "no zookeeper payload part"
tout = tarfile.open(dst, "w:gz", format=tin.format)
for m, data in members:
    if data is None:
        tout.addfile(m)
    else:
        m.size = len(data)
        tout.addfile(m, io.BytesIO(data))
tout.close()
)PY");
  EXPECT_EQ(sh("python3 '" + script + "' '" + in + "' '" + out + "'"), 0);
  return out;
}

// A backup file edited by hand with another JSON writer, holding a dangling pointer: the restore
// accepts any JSON spelling of a zookeeper line, so the consistency check must read the same
// lines, or the dangling pointer would be restored without a word.
TEST_F(FlinkAttack, AHandEditedFileIsCheckedAsTheRestoreReadsIt) {
  Daemon d(options());
  d.seed_cluster();
  populate(d, 1, 2);
  for (const auto& e : fs::directory_iterator(d.ha_dir() + "/prod" + suffix_))
    if (e.path().filename().string().starts_with("completedCheckpoint")) {
      fs::remove(e.path());
      break;
    }
  const std::string path = d.backup();
  ASSERT_EQ(last_record(d, "nightly")["consistency"]["state"], "inconsistent");
  const std::string edited = respell_zookeeper_lines(path, make_temp_dir());
  auto verify = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", edited});
  ASSERT_EQ(verify.exit_code, 0) << verify.err << verify.out;

  ZkClient zk(zk_server().connect());
  zk.remove_tree(root_ + "/jobgraphs");
  auto before = zk.snapshot(root_);
  d.set_service_state("stopped");
  auto c = d.cli({"restore", "create", "edited", "--cluster", "prod", "--data-source", "Flink",
                  "--path-type", "LocalDir", "--source-path", edited});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto preview = d.cli({"restore", "start", "edited", "--dry-run", "--json"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  json flink = json::parse(preview.out)["flink"];
  EXPECT_EQ(flink["consistency"]["state"], "inconsistent") << flink.dump(2);
  EXPECT_EQ(flink["jobs"].size(), 1u) << flink.dump(2);
  auto refused = d.cli({"restore", "start", "edited", "--wait"});
  EXPECT_NE(refused.exit_code, 0) << refused.out;
  EXPECT_NE(refused.err.find("dangling"), std::string::npos) << refused.err;
  EXPECT_EQ(zk.snapshot(root_), before) << "a refused restore changed nothing";
}

// A migration whose target HA storage has a space, a '%' and a non-ASCII letter in its name (the
// configuration's URI spells the '%' as %25, as a file URI must): every pointer is rewritten to
// a URI Flink decodes back to that directory, and Flink of the new cluster recovers from it alone.
TEST_F(FlinkAttack, MigrationIntoAStorageNamedWithSpacePercentAndNonAscii) {
  Daemon d(options());
  const std::string dr_root = "/flink/dr" + suffix_;
  const std::string on_disk = d.root() + "/dr/ha 50% \xC3\xA9t\xC3\xA9";
  const std::string in_uri = d.root() + "/dr/ha 50%25 \xC3\xA9t\xC3\xA9";
  const std::string dr_conf = d.root() + "/dr/conf";
  fs::create_directories(on_disk);
  fs::create_directories(dr_conf);
  d.add_cluster(d.cluster_yaml("dr", in_uri, dr_conf,
                               {"{ name: zk, type: zookeeper, connect: \"" + zk_server().connect() +
                                "\", root: " + dr_root + " }"}));
  d.seed_cluster();
  populate(d, 2, 2);
  const std::string path = d.backup();
  ASSERT_EQ(last_record(d, "nightly")["consistency"]["state"], "consistent");

  d.set_service_state("stopped");
  auto c = d.cli({"restore", "create", "to-dr", "--cluster", "dr", "--data-source", "Flink",
                  "--path-type", "LocalDir", "--source-path", path});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto preview = d.cli({"restore", "start", "to-dr", "--dry-run", "--json"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  json flink = json::parse(preview.out)["flink"];
  ASSERT_EQ(flink["rewrites"].size(), 1u) << flink.dump(2);
  EXPECT_EQ(flink["rewrites"][0]["count"], 2 + 2 * 2) << flink.dump(2);
  auto s = d.cli({"restore", "start", "to-dr", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  fs::remove_all(d.ha_dir());  // nothing may point into the old storage
  auto r = FlinkPeer::get().run(
      {"check", "--connect", zk_server().connect(), "--root", dr_root, "--expect-jobs", "2"});
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  json recovered = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(recovered.is_object() && recovered.value("ok", false)) << r.out;
}

// The HA storage on HDFS (the WebHDFS test server; pointers name hdfs://hacluster/flink/ha while
// the files lie in the server's namespace directory), the cluster checkpointing every 20 ms: the
// walk of the HDFS tree meets files that Flink deletes between the listing and their read (the
// capture did not pin them: no record of the backup names them) and skips them as the local walk
// does, instead of failing the backup; every backup is consistent, and one restores into a tree
// that Flink recovers reading the files back from that namespace. (At 5 ms a WebHDFS pin takes
// longer than a checkpoint lives: see docs/flink-ha.md, "Limits".)
TEST_F(FlinkAttack, AChurningClusterWithItsHaStorageOnHdfsIsCapturedConsistently) {
  flinkbr::testing::WebHdfsServer server;
  ASSERT_EQ(server.error(), "");
  const std::string conf_dir = make_temp_dir();
  server.write_hadoop_conf(conf_dir, "hacluster");
  const std::string on_disk = (server.root_dir() / "flink" / "ha").string();
  fs::create_directories(on_disk);
  Daemon::Options o = options();
  o.extra_metadata.push_back(
      "{ name: ha-storage, type: files, uri: \"hdfs://hacluster/flink/ha\" }");
  o.cluster_settings = {"hadoop_conf_dir: " + conf_dir, "hdfs_user: hdfs",
                        "webhdfs_port: " + std::to_string(server.namenode_port(0))};
  Daemon d(o);
  d.seed_cluster();
  const std::string uri = "hdfs://hacluster/flink/ha";
  auto r = FlinkPeer::get().run({"populate", "--connect", zk_server().connect(), "--root", root_,
                                 "--storage", on_disk, "--storage-uri", uri, "--jobs", "2",
                                 "--checkpoints", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  // A checkpoint every 100 ms per job. A file can be captured only if its copy over WebHDFS
  // (this test's server is Python; under ASan on a loaded machine a copy took longer than 20 ms)
  // ends before Flink subsumes it: at 20 ms a set then changed on each of its 100 reads and the
  // backup said, rightly, that it lacked a checkpoint's file. The local-disk churn tests of this
  // file go down to 1 ms.
  PeerProcess churn(FlinkPeer::get(), {"churn", "--connect", zk_server().connect(), "--root", root_,
                                       "--storage", on_disk, "--storage-uri", uri, "--interval-ms",
                                       "100", "--jobs", "2", "--report-every", "5"});
  ASSERT_TRUE(churn.wait_for_line("checkpoints=")) << churn.out() << churn.err();
  std::vector<std::string> paths;
  for (int i = 0; i < 3; ++i) {
    const std::string task = "hdfs" + std::to_string(i);
    paths.push_back(d.backup(task));
    json c = last_record(d, task)["consistency"];
    EXPECT_EQ(c["state"], "consistent") << c.dump();
    if (c["state"] != "consistent") {
      std::string log = read_file(d.root() + "/daemon.log");
      std::printf("%s\n", log.substr(log.size() > 6000 ? log.size() - 6000 : 0).c_str());
    }
    EXPECT_EQ(c["jobs"], 2) << c.dump();
    EXPECT_EQ(c["pointers"].get<int>(), 2 + c["checkpoints"].get<int>()) << c.dump();
  }
  churn.stop();

  d.set_service_state("stopped");
  auto c = d.cli({"restore", "create", "r1", "--cluster", "prod", "--data-source", "Flink",
                  "--path-type", "LocalDir", "--source-path", paths[1]});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  auto check = FlinkPeer::get().run({"check", "--connect", zk_server().connect(), "--root", root_,
                                     "--expect-jobs", "2", "--storage-map", uri + "=" + on_disk});
  json recovered = json::parse(check.out, nullptr, false);
  EXPECT_TRUE(recovered.is_object() && recovered.value("ok", false)) << check.out << check.err;
}

// Flink before 1.15 keeps every job's checkpoint counter in one directory that sorts before all
// the jobs' checkpoints, so the capture reads the checkpoint sets of many jobs in one streamed
// pass at the first counter (flink_capture.h, stream_sets()), keeps a set only if nothing of it
// was subsumed meanwhile (the others are read again on their own), and reads each counter after
// its set. With 40 jobs checkpointing every millisecond, every backup is consistent (each counter
// ahead of its job's checkpoints, every pointer's file there) and one restores into a tree Flink
// recovers.
TEST_F(FlinkAttack, AChurningClusterOfTheLayoutBefore115IsCapturedConsistently) {
  churn_backups_restore("legacy", 40);
}

// Flink 1.15 and later keep each job's counter and checkpoints under jobs/<job>: at the first
// job the capture reads the sets of the jobs that follow in the same streamed pass, and a record
// without its `locks` child (being subsumed) sends its set to be read again on its own.
TEST_F(FlinkAttack, AChurningClusterOfTheLayoutOf115IsCapturedConsistently) {
  churn_backups_restore("1.15", 40);
}

// Regular files under `dir` whose name contains `part` (all when empty).
std::vector<std::string> files_under(const std::string& dir, const std::string& part = {}) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file() && it->path().filename().string().find(part) != std::string::npos)
      out.push_back(it->path().string());
  return out;
}

// kill -9 of the daemon in the middle of the capture of a churning cluster with large HA files:
// no spooled copy and no temporary backup file stay behind, the record ends Failed with a
// reason after the restart (never stuck Running), and the next backup is whole and consistent.
TEST_F(FlinkAttack, KillNineDuringACaptureLeavesNothingBehindAndTheRecordFails) {
  Daemon::Options o = options();
  // The backup waits once the zookeeper source (and so every pin) is done: the kill lands
  // in the middle of it whatever the speed of the machine.
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-after-backup:zk";
  Daemon d(o);
  d.seed_cluster();
  auto r = FlinkPeer::get().run({"populate", "--connect", zk_server().connect(), "--root", root_,
                                 "--storage", d.ha_dir(), "--jobs", "6", "--checkpoints", "4",
                                 "--payload-bytes", "4000000"});
  ASSERT_EQ(r.status, 0) << r.err;
  PeerProcess churn(FlinkPeer::get(), {"churn", "--connect", zk_server().connect(), "--root", root_,
                                       "--storage", d.ha_dir(), "--interval-ms", "5", "--jobs", "6",
                                       "--retain", "4", "--report-every", "20"});
  ASSERT_TRUE(churn.wait_for_line("checkpoints=")) << churn.out() << churn.err();

  auto c = d.cli({"backup", "create", "big", "--cluster", "prod", "--data-source", "Flink",
                  "--path-type", "LocalDir"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto run = d.cli({"backup", "run", "big"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  bool running = false;
  for (int i = 0; i < 200 && !running; ++i) {
    auto h = d.cli({"backup", "history", "big", "--json"});
    json all = json::parse(h.out, nullptr, false);
    running = all.is_array() && !all.empty() && all[0]["status"] == "Running";
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(running) << "the backup never showed Running";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  d.kill9();
  d.env().erase("FLINKBR_FAULT_INJECTION");

  EXPECT_EQ(files_under(d.state_dir() + "/staging"), std::vector<std::string>{})
      << "spooled copies of pinned files outlive the daemon";
  d.start();
  json rec = wait_record(d, "big", 30);
  EXPECT_EQ(rec["status"], "Failed") << rec.dump();
  EXPECT_NE(rec.dump().find("daemon stopped"), std::string::npos) << rec.dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // leftovers go on a worker
  EXPECT_EQ(files_under(d.state_dir() + "/LocalBackup", ".tmp-"), std::vector<std::string>{});

  auto again = d.cli({"backup", "run", "big", "--wait"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  json consistency = wait_record(d, "big")["consistency"];
  EXPECT_EQ(consistency["state"], "consistent") << consistency.dump();
  EXPECT_EQ(consistency["jobs"], 6) << consistency.dump();
}

// Two backups of the same cluster at once while it checkpoints every millisecond over eight
// jobs: both converge, both are consistent, and each takes a bounded time.
TEST_F(FlinkAttack, TwoBackupsAtOnceOfAClusterCheckpointingEveryMillisecondAreConsistent) {
  Daemon d(options());
  d.seed_cluster();
  populate(d, 8, 1);
  PeerProcess churn(FlinkPeer::get(),
                    {"churn", "--connect", zk_server().connect(), "--root", root_, "--storage",
                     d.ha_dir(), "--interval-ms", "1", "--jobs", "8", "--report-every", "200"});
  ASSERT_TRUE(churn.wait_for_line("checkpoints=")) << churn.out() << churn.err();
  for (const std::string task : {"a", "b"}) {
    auto c = d.cli({"backup", "create", task, "--cluster", "prod", "--data-source", "Flink",
                    "--path-type", "LocalDir"});
    ASSERT_EQ(c.exit_code, 0) << c.err;
  }
  for (int round = 0; round < 3; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (const std::string task : {"a", "b"}) {
      auto run = d.cli({"backup", "run", task});
      ASSERT_EQ(run.exit_code, 0) << run.err;
    }
    for (const std::string task : {"a", "b"}) {
      json rec = wait_record(d, task, 120);
      ASSERT_EQ(rec["status"], "Succeeded") << rec.dump();
      EXPECT_EQ(rec["consistency"]["state"], "consistent") << rec["consistency"].dump();
      EXPECT_EQ(rec["consistency"]["jobs"], 8) << rec["consistency"].dump();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("round %d: two concurrent backups of a 1 ms churn took %.2f s\n", round, seconds);
    EXPECT_LT(seconds, 60.0);
  }
  auto stopped = churn.stop();
  std::printf("churn: %s\n", stopped.out.substr(stopped.out.rfind("final")).c_str());
}

}  // namespace
}  // namespace flinkbr::e2e
