// End-to-end: a restoration looks at the disks before it writes (issue 16, points 4 and 5). A
// files source on a small tmpfs that cannot hold the staged tree beside the live one is refused
// with the numbers and the mount; a files source whose directory is a mount point is refused at
// the check step with the reason. In both cases nothing changes and nothing staged is left. These
// tests mount tmpfs file systems (root only); they skip, saying why, where mounting is not
// permitted, and unmount when they end, also when they fail.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
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

std::string random_bytes(size_t n) {
  std::mt19937 rng(7);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// The failed step of the last attempt of `task`, and the task as shown.
std::pair<std::string, json> failed_step(Daemon& d, const std::string& task) {
  auto shown = json::parse(d.cli({"restore", "show", task, "--json"}).out);
  std::string failed;
  for (const auto& step : shown["attempt_history"].back()["steps"]) {
    EXPECT_TRUE(step["name"] == "check" || step["name"] == "verify") << shown.dump(2);
    if (step["status"] == "failed") failed = step["name"];
  }
  return {failed, shown};
}

// Creates restoration task `task` of the backup file at `path` and starts it, which must fail;
// the failed step and the task as shown.
std::pair<std::string, json> refused_restore(Daemon& d, const std::string& task,
                                             const std::string& path) {
  create_restore(d, task, path);
  EXPECT_NE(d.cli({"restore", "start", task, "--wait"}).exit_code, 0);
  return failed_step(d, task);
}

// Nothing beside the source's directory but the directory itself.
void expect_no_leftovers(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(fs::path(dir).parent_path()))
    EXPECT_EQ(e.path(), fs::path(dir)) << "left over: " << e.path();
}

TEST(RestoreSpace, ASmallFileSystemThatCannotHoldTheStagedTreeIsRefusedWithTheNumbers) {
  const std::string mnt = make_temp_dir() + "/small";
  TmpfsMount mount(mnt, "size=4m");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  const std::string data = mnt + "/data";
  Daemon::Options o;
  o.extra_metadata = {"{ name: vol, type: files, uri: \"file://" + data + "\" }"};
  Daemon d(o);
  d.seed_cluster();
  fs::create_directories(data);
  write_file(data + "/state.bin", random_bytes(3 << 20));  // 3 MiB of the 4 MiB
  d.set_service_state("stopped");
  const std::string path = d.backup();
  const Tree before = cluster_tree(d);
  const Tree vol_before = snapshot(data);

  auto [step, shown] = refused_restore(d, "big", path);
  EXPECT_EQ(shown["state"], "Failed");
  // The verify step stages as it reads: it stopped at the entry that did not fit, read the rest
  // of the file, and gave the manifest's totals; before the safety copy.
  EXPECT_EQ(step, "verify") << shown.dump(2);
  const std::string error = shown["error"];
  EXPECT_NE(error.find("not enough free space on the file system of " + mnt +
                       ": the restore "
                       "needs 3.0 MiB (3145728 bytes) there (staging source 'vol'"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("are free"), std::string::npos) << error;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  EXPECT_EQ(describe_difference(vol_before, snapshot(data)), "");
  expect_no_leftovers(data);
}

TEST(RestoreSpace, AnExpandedSizeOverTheCapIsRefusedByVerifyAndRestore) {
  Daemon d;
  d.add_top_level_config("restore:\n  max_expanded_bytes: 64KiB\n");
  d.seed_cluster();  // about 105 KB of files
  d.set_service_state("stopped");
  const std::string path = d.backup();
  const Tree before = cluster_tree(d);
  const std::string reason = "more than restore.max_expanded_bytes allows (64.0 KiB (65536 bytes))";

  auto v = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", path});
  EXPECT_NE(v.exit_code, 0);
  EXPECT_NE(v.err.find(reason), std::string::npos) << v.err;

  auto [step, shown] = refused_restore(d, "capped", path);
  EXPECT_EQ(step, "verify") << shown.dump(2);
  EXPECT_NE(shown["error"].get<std::string>().find("the backup file expands to "),
            std::string::npos)
      << shown["error"];
  EXPECT_NE(shown["error"].get<std::string>().find(reason), std::string::npos) << shown["error"];
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
}

// Two files sources, one inside the other: the outer one's switch would replace the inner one's
// tree and carry its staging away. Refused at the check step, before anything is staged.
TEST(RestoreCheck, ASourceInsideAnotherIsRefusedAtTheCheckStepAndNothingChanges) {
  const std::string outer = make_temp_dir() + "/data";
  const std::string inner = outer + "/blobs";
  fs::create_directories(inner);
  write_file(outer + "/a", "a");
  write_file(inner + "/b", "b");
  Daemon::Options o;
  o.extra_metadata = {"{ name: data, type: files, uri: \"file://" + outer + "\" }",
                      "{ name: blobs, type: files, uri: \"file://" + inner + "\" }"};
  Daemon d(o);
  d.seed_cluster();
  d.set_service_state("stopped");
  const std::string path = d.backup();
  const Tree before = cluster_tree(d);
  auto [step, shown] = refused_restore(d, "nested", path);
  EXPECT_EQ(step, "check") << shown.dump(2);
  EXPECT_NE(shown["error"].get<std::string>().find(
                "source 'blobs' (file://" + inner + ") lies inside source 'data' (file://" + outer +
                "): restoring one would replace the other's data"),
            std::string::npos)
      << shown["error"];
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  EXPECT_EQ(read_file(inner + "/b"), "b");
  expect_no_leftovers(outer);
}

TEST(RestoreMountPoint, ASourceThatIsAMountPointIsRefusedAtTheCheckStepAndNothingChanges) {
  const std::string vol = make_temp_dir() + "/vol";
  TmpfsMount mount(vol, "size=8m");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  Daemon::Options o;
  o.extra_metadata = {"{ name: vol, type: files, uri: \"file://" + vol + "\" }"};
  Daemon d(o);
  d.seed_cluster();
  write_file(vol + "/checkpoint", "the backup's bytes");
  d.set_service_state("stopped");
  const std::string path = d.backup();
  write_file(vol + "/checkpoint", "changed since");
  const Tree before = cluster_tree(d);
  const Tree vol_before = snapshot(vol);

  auto [step, shown] = refused_restore(d, "onto-mount", path);
  EXPECT_EQ(step, "check") << shown.dump(2);
  const std::string error = shown["error"];
  EXPECT_NE(error.find(vol + " is a mount point"), std::string::npos) << error;
  EXPECT_NE(error.find("Configure the source's uri as a directory below the mount point"),
            std::string::npos)
      << error;
  // Not "damaged": nothing was changed, and the task says so.
  EXPECT_NE(shown["attempt_history"].back()["phase"], "damaged") << shown.dump(2);
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  EXPECT_EQ(describe_difference(vol_before, snapshot(vol)), "");
  EXPECT_TRUE(shown["attempt_history"].back()["safety_copy"].get<std::string>().empty());
}

// A switch that fails without changing its tree (EBUSY: the directory became a mount point after
// the check) after another source was applied: only the applied source is put back, and the task
// ends "rolled-back", not "damaged" (before issue 16 it tried to put the untouched source back
// too, failed the same way and reported a damaged cluster).
TEST(RestoreMountPoint, ASwitchThatFailsWithoutChangingItsTreeIsNotReportedDamaged) {
  Daemon::Options o;
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-after-apply:conf";  // conf is applied before ha
  // The pause ends once the test has mounted over ha (this file), not a minute later.
  const std::string resume = make_temp_dir() + "/resume";
  o.env["FLINKBR_FAULT_RESUME_FILE"] = resume;
  Daemon d(o);
  d.seed_cluster();
  const std::string path = d.backup();
  write_file(d.conf_dir() + "/masters", "changed since the backup\n");
  write_file(d.ha_dir() + "/default/empty-file", "changed since the backup\n");
  const Tree damaged = cluster_tree(d);
  d.set_service_state("stopped");
  ASSERT_EQ(d.cli({"restore", "create", "r1", "--cluster", "prod", "--data-source", "Flink",
                   "--path-type", "LocalDir", "--source-path", path})
                .exit_code,
            0);
  ASSERT_EQ(d.cli({"restore", "start", "r1"}).exit_code, 0);
  bool paused = false;
  for (int i = 0; i < 300 && !paused; ++i) {
    auto task = json::parse(d.cli({"restore", "show", "r1", "--json"}).out);
    for (const auto& line : task["log"])
      if (line["text"].get<std::string>().find("fault injection: pausing") != std::string::npos)
        paused = true;
    if (!paused) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(paused);
  json shown;
  {
    // ha becomes a mount point while the apply pauses: its switch fails with EBUSY.
    TmpfsMount mount(d.ha_dir(), "size=1m");
    if (!mount.mounted()) GTEST_SKIP() << mount.why();
    write_file(resume, "");
    for (int i = 0; i < 900; ++i) {
      shown = json::parse(d.cli({"restore", "show", "r1", "--json"}).out);
      if (shown["state"] != "Running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  EXPECT_EQ(shown["state"], "Failed") << shown.dump(2);
  const std::string error = shown["error"];
  EXPECT_NE(error.find("Device or resource busy"), std::string::npos) << error;
  EXPECT_NE(error.find("the safety copy was put back"), std::string::npos) << error;
  EXPECT_EQ(shown["attempt_history"].back()["phase"], "rolled-back") << shown.dump(2);
  // Both trees as they were before the attempt: conf put back, ha never changed.
  EXPECT_EQ(describe_difference(damaged, cluster_tree(d)), "");
  for (const auto& e : fs::directory_iterator(d.root() + "/cluster"))
    EXPECT_FALSE(e.path().filename().string().starts_with(".")) << "left over: " << e.path();
}

}  // namespace
}  // namespace flinkbr::e2e
