// End-to-end: backup and restoration through the real daemon and CLI, on LocalDir with files
// sources. Each test checks what a user sees: exit statuses, the reason printed, and the
// cluster's directories byte for byte.
#include <gtest/gtest.h>

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "harness.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Damages the cluster in every way a restore must undo.
void damage(Daemon& d) {
  write_file(d.ha_dir() + "/default/completedCheckpoint7a1c-1", "changed");       // changed
  fs::remove(d.ha_dir() + "/default/submittedJobGraph7a1c");                      // deleted
  write_file(d.ha_dir() + "/default/completedCheckpoint7a1c-99", "added since");  // added
  fs::create_directories(d.ha_dir() + "/default/new-dir/sub");                    // added dir
  chmod((d.conf_dir() + "/secret.keytab").c_str(), 0644);                         // mode
  fs::remove_all(d.ha_dir() + "/default/jobresults");                             // empty dir
}

TEST(EndToEnd, BackupThenRestoreBringsBackEveryFileExactly) {
  Daemon d;
  d.seed_cluster();
  Tree before = cluster_tree(d);
  std::string path = d.backup();

  // The backup file is a standard tar.gz named as product.md says.
  EXPECT_TRUE(path.starts_with(d.state_dir() + "/LocalBackup/nightly_")) << path;
  EXPECT_TRUE(fs::path(path).filename().string().starts_with("1.18.1_Flink_")) << path;
  EXPECT_EQ(sh("tar tzf '" + path + "' >/dev/null"), 0);
  auto listing = run({"tar", "tzf", path});
  EXPECT_TRUE(listing.out.starts_with("flinkbr-header.json\n")) << listing.out;
  EXPECT_TRUE(listing.out.ends_with("flinkbr-manifest.json\n")) << listing.out;

  auto history = json::parse(d.cli({"backup", "history", "nightly", "--json"}).out);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0]["status"], "Succeeded");
  EXPECT_EQ(history[0]["backup_object"], "Flink");
  EXPECT_EQ(history[0]["backup_path"], path);

  damage(d);
  ASSERT_NE(describe_difference(before, cluster_tree(d)), "");

  ASSERT_EQ(d.cli({"service", "stop", "prod"}).exit_code, 0);
  auto c = d.cli({"restore", "create", "r1", "--cluster", "prod", "--data-source", "Flink",
                  "--path-type", "LocalDir", "--source-path", path});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");

  auto task = restore_show(d, "r1");
  EXPECT_EQ(task["state"], "Succeeded");
  EXPECT_EQ(task["progress"], 100);
  // The attempt reports what it did, per source.
  auto report = task["attempt_history"].back()["report"]["sources"];
  ASSERT_EQ(report.size(), 2u) << task.dump();
  for (const auto& s : report)
    if (s["name"] == "ha") {
      EXPECT_EQ(s["counts"]["removed"], 3) << s.dump();  // the file, the dir and its child dir
    }

  // Succeeded is final.
  auto again = d.cli({"restore", "start", "r1"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("can never run again"), std::string::npos) << again.err;
  auto retry = d.cli({"restore", "retry", "r1"});
  EXPECT_NE(retry.exit_code, 0);

  // And the service can be started again.
  EXPECT_EQ(d.cli({"service", "start", "prod"}).exit_code, 0);
  EXPECT_EQ(d.service_state(), "running");
}

TEST(EndToEnd, RefusedWhileServiceRunsThenRetrySucceeds) {
  Daemon d;
  d.seed_cluster();
  Tree before = cluster_tree(d);
  std::string path = d.backup();
  damage(d);
  Tree damaged = cluster_tree(d);

  create_restore(d, "r1", path);
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("is running"), std::string::npos) << s.err;
  EXPECT_EQ(describe_difference(damaged, cluster_tree(d)), "");
  auto task = restore_show(d, "r1");
  EXPECT_EQ(task["state"], "Failed");
  EXPECT_NE(task["error"].get<std::string>().find("stop it first"), std::string::npos);

  // Unknown is refused too.
  d.set_service_state("confused");
  s = d.cli({"restore", "retry", "r1", "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("unknown"), std::string::npos) << s.err;
  EXPECT_EQ(describe_difference(damaged, cluster_tree(d)), "");

  d.set_service_state("stopped");
  s = d.cli({"restore", "retry", "r1", "--wait"});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
  task = restore_show(d, "r1");
  EXPECT_EQ(task["attempts"], 3);
}

TEST(EndToEnd, EachCheckRefusesWithItsReasonAndChangesNothing) {
  Daemon d;
  d.seed_cluster();
  std::string path = d.backup();
  damage(d);
  Tree damaged = cluster_tree(d);
  d.set_service_state("stopped");

  auto expect_refused = [&](const std::string& name, const std::string& source_path,
                            const std::string& reason, std::function<void()> before_start = {}) {
    auto c = d.cli({"restore", "create", name, "--cluster", "prod", "--data-source", "Flink",
                    "--path-type", "LocalDir", "--source-path", source_path});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    if (before_start) before_start();
    auto s = d.cli({"restore", "start", name, "--wait"});
    EXPECT_NE(s.exit_code, 0) << name;
    EXPECT_NE(s.err.find(reason), std::string::npos) << name << ": " << s.err;
    EXPECT_EQ(restore_show(d, name)["state"], "Failed");
    EXPECT_EQ(describe_difference(damaged, cluster_tree(d)), "") << name;
  };

  // Missing file: refused at creation, naming the path; and a file that vanished between
  // creation and Start fails the check step, naming the path too.
  std::string missing = d.state_dir() + "/LocalBackup/nope/1.18.1_Flink_20260101000000.tar.gz";
  auto refused = d.cli({"restore", "create", "missing", "--cluster", "prod", "--data-source",
                        "Flink", "--path-type", "LocalDir", "--source-path", missing});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(refused.err, "flinkbr: --source-path: the backup file was not found at LocalDir path " +
                             missing + "\n");
  std::string vanished = d.root() + "/1.18.1_Flink_20260101000009.tar.gz";
  write_file(vanished, read_file(path));
  expect_refused("vanished", vanished, "", [&] { fs::remove(vanished); });
  EXPECT_NE(restore_show(d, "vanished")["error"].get<std::string>().find(
                "not found at LocalDir path " + vanished),
            std::string::npos);

  // Version mismatch.
  d.set_version("1.19.0");
  expect_refused("version", path, "system version 1.18.1");
  d.set_version("1.18.1");

  // One flipped byte in the middle of the file. Creation may already refuse it (its header is
  // read through the gzip stream), so the byte flips after creation, as a disk would.
  std::string flipped = d.root() + "/1.18.1_Flink_20260101000001.tar.gz";
  std::string flipped_data = read_file(path);
  flipped_data[flipped_data.size() / 2] =
      static_cast<char>(flipped_data[flipped_data.size() / 2] ^ 0x55);
  write_file(flipped, read_file(path));
  expect_refused("flipped", flipped, "", [&] { write_file(flipped, flipped_data); });
  auto flipped_error = restore_show(d, "flipped")["error"].get<std::string>();
  EXPECT_TRUE(flipped_error.find("corrupt") != std::string::npos ||
              flipped_error.find("checksum mismatch") != std::string::npos)
      << flipped_error;

  // A truncated file.
  std::string truncated = d.root() + "/1.18.1_Flink_20260101000002.tar.gz";
  {
    std::string data = read_file(path);
    write_file(truncated, data.substr(0, data.size() * 2 / 3));
  }
  expect_refused("truncated", truncated, "truncated");

  // verify reports the same without any task.
  auto good = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", path});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  auto bad = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", flipped});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_FALSE(bad.err.empty());
  auto cut = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", truncated});
  EXPECT_NE(cut.exit_code, 0);
  EXPECT_NE(cut.err.find("truncated"), std::string::npos) << cut.err;
  // The Verify action on a record checks the record's own file.
  auto history = json::parse(d.cli({"backup", "history", "nightly", "--json"}).out);
  auto by_record = d.cli(
      {"backup", "verify", "--record", std::to_string(history[0]["id"].get<int64_t>()), "--json"});
  ASSERT_EQ(by_record.exit_code, 0) << by_record.err;
  auto report = json::parse(by_record.out);
  EXPECT_EQ(report["path"], path);
  EXPECT_EQ(report["system_version"], "1.18.1");
  EXPECT_EQ(report["checksum"], history[0]["checksum"]);
  EXPECT_EQ(report["sources"].size(), 2u);
}

// Writes a backup file by hand with libarchive: a valid header, the given hostile entry, and a
// manifest that lists it, so that only the entry itself can be the reason of a refusal.
struct RawEntry {
  std::string path;
  unsigned type = AE_IFREG;
  std::string data;
  std::string link;  // symlink target or hardlink source
};
void write_hostile(const std::string& file, const RawEntry& hostile) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  ASSERT_EQ(archive_write_open_filename(a, file.c_str()), ARCHIVE_OK);
  auto add = [&](const RawEntry& e) {
    struct archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.path.c_str());
    archive_entry_set_filetype(en, e.type);
    archive_entry_set_perm(en, e.type == AE_IFDIR ? 0755 : 0644);
    archive_entry_set_mtime(en, 1700000000, 0);
    if (e.type == AE_IFLNK) archive_entry_set_symlink(en, e.link.c_str());
    if (!e.link.empty() && e.type == AE_IFREG) archive_entry_set_hardlink(en, e.link.c_str());
    archive_entry_set_size(en, e.type == AE_IFREG && e.link.empty() ? e.data.size() : 0);
    archive_write_header(a, en);
    if (!e.data.empty()) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(en);
  };
  add({"flinkbr-header.json", AE_IFREG,
       R"({"format_version":1,"system_version":"1.18.1","data_source":"Flink",)"
       R"("cluster":"prod","execution_time":"20260101000000","tool_version":"test",)"
       R"("sources":[{"name":"ha","kind":"files","location":"x"}]})"});
  add({"sources/ha/tree", AE_IFDIR});
  add(hostile);
  add({"flinkbr-manifest.json", AE_IFREG,
       json{{"format_version", 1},
            {"entries",
             {{{"path", "sources/ha/tree"},
               {"type", "dir"},
               {"size", 0},
               {"sha256", ""},
               {"mode", 493},
               {"mtime", 1700000000}},
              {{"path", hostile.path},
               {"type", "file"},
               {"size", hostile.data.size()},
               {"sha256", ""},
               {"mode", 420},
               {"mtime", 1700000000}}}}}
           .dump()});
  archive_write_close(a);
  archive_write_free(a);
}

TEST(EndToEnd, HostileArchivesAreRefusedBeforeAnythingChanges) {
  Daemon d;
  d.seed_cluster();
  d.set_service_state("stopped");
  Tree before = cluster_tree(d);
  std::string outside = d.root() + "/escaped";

  struct Case {
    std::string name;
    RawEntry entry;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"dotdot",
       {"sources/ha/tree/../../../../../../../../" + outside.substr(1), AE_IFREG, "evil"}},
      {"dotdot-short", {"../escaped", AE_IFREG, "evil"}},
      {"absolute", {outside, AE_IFREG, "evil"}},
      {"symlink", {"sources/ha/tree/link", AE_IFLNK, "", d.root()}},
      {"hardlink", {"sources/ha/tree/hard", AE_IFREG, "", "/etc/passwd"}},
  };
  int n = 0;
  for (const auto& [name, entry, reason] : cases) {
    SCOPED_TRACE(name);
    std::string file = d.root() + "/1.18.1_Flink_2026010100000" + std::to_string(n++) + ".tar.gz";
    write_hostile(file, entry);
    create_restore(d, name, file);
    auto s = d.cli({"restore", "start", name, "--wait"});
    EXPECT_NE(s.exit_code, 0);
    auto task = restore_show(d, name);
    EXPECT_EQ(task["state"], "Failed");
    EXPECT_NE(task["error"].get<std::string>().find(reason), std::string::npos) << task["error"];
    EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");
    EXPECT_FALSE(fs::exists(outside)) << "an entry escaped the target";
    EXPECT_FALSE(fs::exists(d.ha_dir() + "/link"));
    EXPECT_FALSE(fs::exists(d.ha_dir() + "/hard"));
    auto verify = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", file});
    EXPECT_NE(verify.exit_code, 0);
  }
}

TEST(EndToEnd, AFailureWhileApplyingPutsTheSafetyCopyBack) {
  Daemon::Options o;
  o.env["FLINKBR_FAULT_INJECTION"] = "fail-after-apply:conf";
  Daemon d(o);
  d.seed_cluster();
  std::string path = d.backup();
  damage(d);
  Tree damaged = cluster_tree(d);
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto s = d.cli({"restore", "start", "r1", "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("safety copy was put back"), std::string::npos) << s.err;
  EXPECT_EQ(describe_difference(damaged, cluster_tree(d)), "");
  auto task = restore_show(d, "r1");
  EXPECT_EQ(task["state"], "Failed");
  EXPECT_FALSE(task["attempt_history"][0]["safety_copy"].get<std::string>().empty());
}

TEST(EndToEnd, KillDuringRestoreThenRestartLeavesTheClusterAsBefore) {
  Daemon::Options o;
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-after-apply:conf";
  Daemon d(o);
  d.seed_cluster();
  std::string path = d.backup();
  damage(d);
  Tree damaged = cluster_tree(d);
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  ASSERT_EQ(d.cli({"restore", "start", "r1"}).exit_code, 0);
  // Wait until the first source has been applied: the cluster is half-restored now.
  bool paused = false;
  for (int i = 0; i < 300 && !paused; ++i) {
    auto task = restore_show(d, "r1");
    for (const auto& line : task["log"])
      if (line["text"].get<std::string>().find("fault injection: pausing") != std::string::npos)
        paused = true;
    if (!paused) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(paused);
  EXPECT_NE(describe_difference(damaged, cluster_tree(d)), "");
  d.kill9();
  d.start();
  auto task = restore_show(d, "r1");
  EXPECT_EQ(task["state"], "Failed");
  EXPECT_NE(task["error"].get<std::string>().find("daemon stopped"), std::string::npos)
      << task.dump();
  EXPECT_EQ(describe_difference(damaged, cluster_tree(d)), "");
}

TEST(EndToEnd, ServiceDataRestoreRefusedWhileMetadataRestoreRuns) {
  Daemon d;
  d.seed_cluster();
  std::string meta = d.backup("meta", "Flink");
  std::string sp = d.backup("sp", "FlinkServiceData");
  d.set_service_state("stopped");
  create_restore(d, "m", meta);
  create_restore(d, "s", sp, "prod", "FlinkServiceData");
  d.set_status_delay(4);  // the metadata restoration holds the cluster while it checks
  ASSERT_EQ(d.cli({"restore", "start", "m"}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  auto s = d.cli({"restore", "start", "s", "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("metadata restoration (task 'm') is running"), std::string::npos) << s.err;
  EXPECT_NE(s.err.find("restore service data after"), std::string::npos) << s.err;
  d.set_status_delay(0);
  fs::remove(d.root() + "/status-delay");
  // The metadata restoration goes on undisturbed.
  for (int i = 0; i < 200; ++i) {
    if (restore_show(d, "m")["state"] != "Running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(restore_show(d, "m")["state"], "Succeeded");
}

TEST(EndToEnd, DryRunListsTheDifferencesAndChangesNothing) {
  Daemon d;
  d.seed_cluster();
  std::string path = d.backup();
  damage(d);
  Tree damaged = cluster_tree(d);
  d.set_service_state("stopped");
  create_restore(d, "r1", path);
  auto audit_before = d.api("GET", "/api/v1/audit?limit=1000").body["items"];
  auto p = d.cli({"restore", "start", "r1", "--dry-run", "--json"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  auto preview = json::parse(p.out);
  json ha;
  for (const auto& s : preview["sources"])
    if (s["name"] == "ha") ha = s;
  ASSERT_FALSE(ha.is_null()) << preview.dump();
  auto has = [](const json& list, const std::string& item) {
    for (const auto& x : list)
      if (x.get<std::string>().find(item) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has(ha["added"], "submittedJobGraph7a1c")) << ha.dump();
  EXPECT_TRUE(has(ha["changed"], "completedCheckpoint7a1c-1")) << ha.dump();
  EXPECT_TRUE(has(ha["removed"], "completedCheckpoint7a1c-99")) << ha.dump();
  EXPECT_EQ(describe_difference(damaged, cluster_tree(d)), "");
  EXPECT_EQ(restore_show(d, "r1")["state"], "Created");
  EXPECT_EQ(restore_show(d, "r1")["attempts"], 0);
  // The audit log holds the preview record and nothing else new.
  auto audit_after = d.api("GET", "/api/v1/audit?limit=1000").body["items"];
  ASSERT_EQ(audit_after.size(), audit_before.size() + 1) << audit_after.dump();
  EXPECT_EQ(audit_after[0]["action"], "restore.dry_run") << audit_after[0].dump();
  EXPECT_EQ(audit_after[0]["outcome"], "ok");
}

}  // namespace
}  // namespace flinkbr::e2e
