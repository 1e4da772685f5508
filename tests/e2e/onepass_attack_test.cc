// End-to-end: an attack review of the restore's one-pass verify step (issue 18), which stages
// while it reads the backup file. Its promises, tried as an attacker and as a careless operator
// would: nothing live changes unless the whole file checked out; a refused, failed, stopped or
// killed verify leaves nothing staged (a files source's hidden sibling ".<base>.flinkbr-stage-<id>"
// beside its live tree, the other sources' staging under <state_dir>/staging/<id>); the free space
// is counted as the staging writes, so that no hostile file fills a disk. For each: what a user
// sees (the task's state and error, `restore show`), the live trees byte for byte, and no
// staging left. The daemon's pauses come from FLINKBR_FAULT_INJECTION (docs/testing.md).
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "harness.h"
#include "support/tmpfs_mount.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testsupport::TmpfsMount;

// Waits until the task is no longer Running; the task as shown.
json wait_ended(Daemon& d, const std::string& name) {
  json shown;
  for (int i = 0; i < 1200; ++i) {
    shown = restore_show(d, name);
    if (shown["state"] != "Running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return shown;
}

// Waits until the log of `task` holds `text`.
bool wait_for_log(Daemon& d, const std::string& task, const std::string& text) {
  json shown;
  for (int i = 0; i < 300; ++i) {
    shown = restore_show(d, task);
    for (const auto& line : shown["log"])
      if (line["text"].get<std::string>().find(text) != std::string::npos) return true;
    if (shown["state"] != "Running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "no \"" << text << "\" in the log of " << task << ": " << shown.dump(2);
  return false;
}

// The failed step of the task's last attempt ("" when none failed).
std::string failed_step(const json& shown) {
  for (const auto& step : shown["attempt_history"].back()["steps"])
    if (step["status"] == "failed") return step["name"];
  return "";
}

// The hidden siblings ("." names: stagings, swapped-out trees) in `dir`.
std::vector<std::string> hidden_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().starts_with(".")) out.push_back(e.path().string());
  return out;
}

// Nothing staged anywhere: no hidden sibling beside the cluster's trees or `more` directories,
// nothing under <state_dir>/staging but the directories of verifications (none either).
void expect_nothing_staged(Daemon& d, const std::vector<std::string>& more = {}) {
  EXPECT_EQ(hidden_in(d.root() + "/cluster"), std::vector<std::string>{});
  for (const auto& dir : more) EXPECT_EQ(hidden_in(dir), std::vector<std::string>{}) << dir;
  std::vector<std::string> staging;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(d.state_dir() + "/staging", ec))
    staging.push_back(e.path().filename().string());
  EXPECT_EQ(staging, std::vector<std::string>{});
}

std::vector<std::string> safety_copies(Daemon& d) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(d.state_dir() + "/safety", ec))
    out.push_back(e.path().string());
  return out;
}

std::string random_bytes(size_t n, unsigned seed = 7) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string gunzip(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out;
  std::vector<char> buf(1 << 20);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf.data());
    z.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&z, Z_NO_FLUSH);
    EXPECT_TRUE(rc == Z_OK || rc == Z_STREAM_END) << rc;
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf.data(), buf.size() - z.avail_out);
  }
  inflateEnd(&z);
  return out;
}

// A file whose many good entries come first and whose manifest (the last entry, which ends the
// file) no longer matches them: its gzip stream is sound, one hex digit of its last SHA-256
// changed. The verify step stages every entry before it reads the manifest.
TEST(OnePassAttack, AManifestDamagedAfterManyGoodEntriesLeavesNothingStaged) {
  const std::string vol = make_temp_dir() + "/vol";
  Daemon::Options o;
  o.extra_metadata = {"{ name: vol, type: files, uri: \"file://" + vol + "\" }"};
  Daemon d(o);
  d.seed_cluster();
  for (int i = 0; i < 16; ++i)
    write_file(vol + "/chk-" + std::to_string(i), random_bytes(2 << 20, static_cast<unsigned>(i)));
  d.set_service_state("stopped");
  const std::string good = d.backup();
  std::string tar = gunzip(read_file(good));
  const size_t at = tar.rfind("\"sha256\":\"");
  ASSERT_NE(at, std::string::npos);
  char& digit = tar[at + 12];
  digit = digit == '0' ? '1' : '0';
  const std::string bad = fs::path(good).parent_path().string() + "/manifest-damaged.tar.gz";
  write_file(bad, gzip_member(tar));
  write_file(vol + "/chk-3", "changed since the backup");
  const Tree before = cluster_tree(d);
  const Tree vol_before = snapshot(vol);

  auto v = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", bad});
  EXPECT_NE(v.exit_code, 0);
  create_restore(d, "late", bad);
  EXPECT_NE(d.cli({"restore", "start", "late", "--wait"}).exit_code, 0);
  json shown = restore_show(d, "late");
  EXPECT_EQ(shown["state"], "Failed");
  EXPECT_EQ(failed_step(shown), "verify") << shown.dump(2);
  const std::string error = shown["error"];
  // The same words as `backup verify`: the file is named damaged.
  EXPECT_NE(v.err.find(error), std::string::npos) << v.err << "\n" << error;
  EXPECT_NE(error.find(bad), std::string::npos) << error;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  EXPECT_EQ(describe_difference(vol_before, snapshot(vol)), "");
  expect_nothing_staged(d, {fs::path(vol).parent_path().string()});
  EXPECT_EQ(safety_copies(d), std::vector<std::string>{});  // a refused file costs no safety copy
}

// A file of many one-byte entries lists a few hundred bytes but takes a block per entry where it
// is staged: counted by their sizes, they passed every limit and filled the small file system
// until a write failed with ENOSPC (found by this review). They are counted in blocks now and
// refused with the numbers before the disk is full.
TEST(OnePassAttack, ManyTinyEntriesAreCountedInBlocksAndRefusedBeforeTheDiskIsFull) {
  const std::string mnt = make_temp_dir() + "/small";
  TmpfsMount mount(mnt, "size=4m");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  const std::string data = mnt + "/data";
  Daemon::Options o;
  o.extra_metadata = {"{ name: vol, type: files, uri: \"file://" + data + "\" }"};
  Daemon d(o);
  d.seed_cluster();
  // 600 one-byte files: 600 bytes of data, 600 pages (2.3 MiB) of the 4 MiB tmpfs; the staged
  // copy beside them would need as much again.
  for (int i = 0; i < 600; ++i) write_file(data + "/f" + std::to_string(i), "x");
  d.set_service_state("stopped");
  const std::string path = d.backup();
  write_file(data + "/f7", "y");
  const Tree before = cluster_tree(d);
  const Tree vol_before = snapshot(data);

  create_restore(d, "tiny", path);
  EXPECT_NE(d.cli({"restore", "start", "tiny", "--wait"}).exit_code, 0);
  json shown = restore_show(d, "tiny");
  EXPECT_EQ(shown["state"], "Failed");
  EXPECT_EQ(failed_step(shown), "verify") << shown.dump(2);
  const std::string error = shown["error"];
  EXPECT_NE(error.find("not enough free space on the file system of " + mnt), std::string::npos)
      << error;
  EXPECT_NE(error.find("in whole blocks of 4096 bytes"), std::string::npos) << error;
  EXPECT_EQ(error.find("No space left on device"), std::string::npos) << error;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  EXPECT_EQ(describe_difference(vol_before, snapshot(data)), "");
  expect_nothing_staged(d, {mnt});
}

// kill -9 of the daemon while the verify step has staged part of the file: the restart removes
// the staging beside the live tree and in the state directory, and says what happened.
TEST(OnePassAttack, AKillDuringTheVerifyStepLeavesNothingStagedAfterTheRestart) {
  Daemon::Options o;
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-in-verify:ha";
  Daemon d(o);
  d.seed_cluster();
  const std::string path = d.backup();
  write_file(d.ha_dir() + "/default/empty-file", "changed since the backup\n");
  const Tree before = cluster_tree(d);
  d.set_service_state("stopped");
  create_restore(d, "killed", path);
  ASSERT_EQ(d.cli({"restore", "start", "killed"}).exit_code, 0);
  ASSERT_TRUE(wait_for_log(d, "killed", "fault injection: pausing in the verify step"));
  // Staged beside the live trees, not applied.
  EXPECT_EQ(hidden_in(d.root() + "/cluster").size(), 2u);  // ha's and conf's stagings
  EXPECT_TRUE(fs::exists(d.state_dir() + "/staging"));
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  d.kill9();
  d.env().erase("FLINKBR_FAULT_INJECTION");
  d.start();
  json shown = restore_show(d, "killed");
  EXPECT_EQ(shown["state"], "Failed");
  const std::string error = shown["error"];
  EXPECT_NE(error.find("daemon stopped"), std::string::npos) << error;
  EXPECT_NE(error.find("it had not changed the cluster yet"), std::string::npos) << error;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  expect_nothing_staged(d);
  EXPECT_EQ(safety_copies(d), std::vector<std::string>{});
  // The task can be run again, and then restores the backup.
  ASSERT_EQ(d.cli({"restore", "retry", "killed", "--wait"}).exit_code, 0);
  EXPECT_EQ(read_file(d.ha_dir() + "/default/empty-file"), "");
  expect_nothing_staged(d);
}

// The daemon stopped (SIGTERM) in the middle of the verify step: the run is cancelled, its
// staging removed before the daemon exits, and the task says so.
TEST(OnePassAttack, AStopDuringTheVerifyStepCancelsItAndLeavesNothingStaged) {
  Daemon::Options o;
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-in-verify:ha";
  Daemon d(o);
  d.seed_cluster();
  const std::string path = d.backup();
  write_file(d.conf_dir() + "/masters", "changed since the backup\n");
  const Tree before = cluster_tree(d);
  d.set_service_state("stopped");
  create_restore(d, "stopped", path);
  ASSERT_EQ(d.cli({"restore", "start", "stopped"}).exit_code, 0);
  ASSERT_TRUE(wait_for_log(d, "stopped", "fault injection: pausing in the verify step"));
  d.stop();
  d.env().erase("FLINKBR_FAULT_INJECTION");
  d.start();
  json shown = restore_show(d, "stopped");
  EXPECT_EQ(shown["state"], "Failed");
  EXPECT_EQ(failed_step(shown), "verify") << shown.dump(2);
  EXPECT_NE(shown["error"].get<std::string>().find("cancelled"), std::string::npos)
      << shown["error"];
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  expect_nothing_staged(d);
}

// A preview (restore start --dry-run) stages as a restore does, beside the live tree, but is no
// task: a daemon killed during the preview of a large file left its staged tree there for good,
// since the restart cleaned up only the tasks left Running (found by this review).
TEST(OnePassAttack, AKillDuringAPreviewLeavesNothingStagedAfterTheRestart) {
  Daemon::Options o;
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-in-verify:ha";
  Daemon d(o);
  d.seed_cluster();
  const std::string path = d.backup();
  const Tree before = cluster_tree(d);
  create_restore(d, "peek", path);  // a preview runs while Flink runs
  std::thread preview([&] { (void)d.cli({"restore", "start", "peek", "--dry-run", "--json"}); });
  bool staged = false;
  for (int i = 0; i < 600 && !staged; ++i) {
    for (const auto& h : hidden_in(d.root() + "/cluster"))
      if (fs::exists(h + "/default")) staged = true;
    if (!staged) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(staged);
  d.kill9();
  preview.join();
  d.env().erase("FLINKBR_FAULT_INJECTION");
  d.start();
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  expect_nothing_staged(d);
  EXPECT_EQ(restore_show(d, "peek")["state"], "Created");
}

// The safety copy, taken after the verify step now, fails (its directory cannot be created):
// what the verify step staged is removed, nothing live changed, and the task says why.
TEST(OnePassAttack, ASafetyCopyThatFailsAfterTheStagingLeavesNothingStaged) {
  Daemon d;
  d.seed_cluster();
  const std::string path = d.backup();
  write_file(d.ha_dir() + "/default/empty-file", "changed since the backup\n");
  const Tree before = cluster_tree(d);
  d.set_service_state("stopped");
  std::error_code ec;
  fs::remove_all(d.state_dir() + "/safety", ec);
  write_file(d.state_dir() + "/safety", "a file where the safety copies' directory belongs");
  create_restore(d, "nosafety", path);
  EXPECT_NE(d.cli({"restore", "start", "nosafety", "--wait"}).exit_code, 0);
  json shown = restore_show(d, "nosafety");
  EXPECT_EQ(shown["state"], "Failed");
  EXPECT_EQ(failed_step(shown), "safety-copy") << shown.dump(2);
  EXPECT_NE(shown["error"].get<std::string>().find("taking the safety copy"), std::string::npos)
      << shown["error"];
  EXPECT_NE(shown["attempt_history"].back()["phase"], "damaged") << shown.dump(2);
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  expect_nothing_staged(d);
}

// The backup file overwritten in place while the verify step reads it (an operator copying
// another file over it): what the step reads is checked whole, so the mixed file is refused as
// damaged and nothing is left; a file renamed over it is not seen (the open file is read).
TEST(OnePassAttack, ABackupFileOverwrittenWhileItIsReadIsRefusedAndLeavesNothing) {
  Daemon::Options o;
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-in-verify:ha:3";
  Daemon d(o);
  d.seed_cluster();
  // Incompressible, so that the read-ahead is far from the file's end at the pause.
  write_file(d.ha_dir() + "/default/zz-large", random_bytes(24 << 20));
  d.set_service_state("stopped");
  const std::string path = d.backup();
  write_file(d.conf_dir() + "/masters", "changed since the backup\n");
  const Tree before = cluster_tree(d);
  create_restore(d, "overwritten", path);
  ASSERT_EQ(d.cli({"restore", "start", "overwritten"}).exit_code, 0);
  ASSERT_TRUE(wait_for_log(d, "overwritten", "fault injection: pausing in the verify step"));
  {
    // The second half of the file, in place (no new inode).
    const uint64_t size = fs::file_size(path);
    FILE* f = std::fopen(path.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, static_cast<long>(size / 2), SEEK_SET);
    const std::string junk = random_bytes(size - size / 2, 99);
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  json shown = wait_ended(d, "overwritten");
  EXPECT_EQ(shown["state"], "Failed");
  EXPECT_EQ(failed_step(shown), "verify") << shown.dump(2);
  EXPECT_NE(shown["error"].get<std::string>().find(path), std::string::npos) << shown["error"];
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  expect_nothing_staged(d);
  EXPECT_EQ(safety_copies(d), std::vector<std::string>{});
}

// Two restorations of different clusters whose stagings share a file system, at once: each
// measured the free space alone and counted only its own writes, so that together they filled a
// file system each alone fits on, and the second writer failed with ENOSPC (found by this
// review). Each now counts what the others of the daemon admitted since it measured. Here dr's
// restoration pauses in its verify step (measured, nothing large staged) while prod's stages its
// 5 MiB and holds them until its apply (prod's status command takes 5 s); then dr's would stage
// its own 5 MiB where 6 MiB were free.
TEST(OnePassAttack, TwoRestorationsStagingOnOneFileSystemAtOnceCannotFillIt) {
  const std::string mnt = make_temp_dir() + "/shared";
  TmpfsMount mount(mnt, "size=16m");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  const std::string a = mnt + "/a", b = mnt + "/b";
  Daemon::Options o;
  o.extra_metadata = {"{ name: vol, type: files, uri: \"file://" + a + "\" }"};
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-in-verify:vol2:8";
  Daemon d(o);
  d.seed_cluster();
  const std::string dr = make_temp_dir();
  write_file(dr + "/ha/x", "dr's ha");
  write_file(dr + "/conf/flink-conf.yaml", "dr's conf");
  write_file(a + "/a-small", "a");
  write_file(a + "/b-large", random_bytes(5 << 20, 1));
  write_file(b + "/a-small", "b");
  write_file(b + "/b-large", random_bytes(5 << 20, 2));
  d.add_cluster(d.cluster_yaml("dr", dr + "/ha", dr + "/conf",
                               {"{ name: vol2, type: files, uri: \"file://" + b + "\" }"}));
  const std::string prod_file = d.backup();
  ASSERT_EQ(d.cli({"backup", "create", "dr-nightly", "--cluster", "dr", "--data-source", "Flink",
                   "--path-type", "LocalDir"})
                .exit_code,
            0);
  const std::string dr_file = d.backup("dr-nightly");
  write_file(a + "/a-small", "changed since the backup");
  write_file(b + "/a-small", "changed since the backup");
  const Tree b_before = snapshot(b);
  d.set_service_state("stopped");
  create_restore(d, "into-prod", prod_file);
  auto c = d.cli({"restore", "create", "into-dr", "--cluster", "dr", "--data-source", "Flink",
                  "--path-type", "LocalDir", "--source-path", dr_file});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  ASSERT_EQ(d.cli({"restore", "start", "into-dr"}).exit_code, 0);
  ASSERT_TRUE(wait_for_log(d, "into-dr", "fault injection: pausing in the verify step"));
  d.set_status_delay(5);  // prod's only
  ASSERT_EQ(d.cli({"restore", "start", "into-prod"}).exit_code, 0);
  json drs = wait_ended(d, "into-dr");
  json prod = wait_ended(d, "into-prod");
  d.set_status_delay(0);
  EXPECT_EQ(prod["state"], "Succeeded") << prod.dump(2);
  EXPECT_EQ(read_file(a + "/a-small"), "a");
  EXPECT_EQ(drs["state"], "Failed");
  EXPECT_EQ(failed_step(drs), "verify") << drs.dump(2);
  const std::string error = drs["error"];
  EXPECT_NE(error.find("not enough free space on the file system of " + mnt), std::string::npos)
      << error;
  EXPECT_EQ(error.find("No space left on device"), std::string::npos) << error;
  EXPECT_EQ(describe_difference(b_before, snapshot(b)), "");
  expect_nothing_staged(d, {mnt, dr});
}

}  // namespace
}  // namespace flinkbr::e2e
