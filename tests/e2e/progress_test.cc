// End-to-end: a backup's progress as an operator watches it (issue 17, point 3): the record's
// progress_detail through the REST API while the run is in its write step, and the CLI's --wait
// lines and --json events up to the end, where the bytes done reach the total.
#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <sstream>
#include <thread>

#include "harness.h"

namespace flinkbr::e2e {
namespace {

using nlohmann::json;

// Bytes that do not compress, so that the file is as large as the tree.
std::string noise(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

TEST(Progress, BackupShowsItsStepBytesAndThroughputWhileRunningAndReachesTheTotal) {
  Daemon::Options o;
  // The run waits once source "ha" is in the file: the record is caught in the middle of its
  // write step on any machine.
  o.env["FLINKBR_FAULT_INJECTION"] = "pause-after-backup:ha";
  Daemon d(o);
  d.seed_cluster();
  write_file(d.ha_dir() + "/blob-1", noise(3 << 20, 1));
  write_file(d.conf_dir() + "/blob-2", noise(1 << 20, 2));
  ASSERT_EQ(d.cli({"backup", "create", "watched", "--cluster", "prod", "--data-source", "Flink",
                   "--path-type", "LocalDir"})
                .exit_code,
            0);
  auto run = d.cli({"backup", "run", "watched", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const int64_t id = json::parse(run.out)["id"];

  json rec;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto r = d.api("GET", "/api/v1/backup-records/" + std::to_string(id));
    ASSERT_EQ(r.status, 200) << r.body.dump();
    rec = r.body;
    const json& p = rec["progress_detail"];
    // Once a second the ticker saves what the write step has done, the throughput included;
    // wait for a save after all of "ha" (on a busy machine one may come while it is written).
    if (p["step"] == "write" && p["bytes_done"].get<uint64_t>() >= (uint64_t{3} << 20) &&
        p["bytes_per_second"].get<uint64_t>() > 0)
      break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << rec.dump();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(rec["status"], "Running");
  const json& p = rec["progress_detail"];
  const uint64_t done = p["bytes_done"], total = p["bytes_total"];
  EXPECT_GE(done, uint64_t{3} << 20) << rec.dump();   // all of "ha"
  EXPECT_LT(done, total) << rec.dump();               // not yet "conf"
  EXPECT_GE(total, uint64_t{4} << 20) << rec.dump();  // the estimate: both sources' files
  // The percent follows the bytes: well past the check step, short of the end.
  EXPECT_GT(rec["progress"].get<int>(), 40) << rec.dump();
  EXPECT_LT(rec["progress"].get<int>(), 98) << rec.dump();
  // The list of records says the same.
  auto history = d.api("GET", "/api/v1/backup-tasks/watched/records");
  ASSERT_EQ(history.status, 200) << history.body.dump();
  EXPECT_EQ(history.body["items"][0]["progress_detail"]["step"], "write") << history.body.dump();

  // A run without the pause, watched by the CLI: JSON events with the detail, then the end.
  d.kill9();
  d.env().erase("FLINKBR_FAULT_INJECTION");
  d.start();
  auto wait = d.cli({"backup", "run", "watched", "--wait", "--json"});
  ASSERT_EQ(wait.exit_code, 0) << wait.err;
  json end = json::parse(wait.out);
  EXPECT_EQ(end["status"], "Succeeded");
  EXPECT_EQ(end["progress"], 100);
  EXPECT_EQ(end["progress_detail"]["step"], "done") << end.dump();
  EXPECT_EQ(end["progress_detail"]["bytes_done"], end["progress_detail"]["bytes_total"]);
  EXPECT_GE(end["progress_detail"]["bytes_total"].get<uint64_t>(), uint64_t{4} << 20);
  std::istringstream lines(wait.err);
  int last = -1;
  bool saw_detail = false;
  for (std::string line; std::getline(lines, line);) {
    json e = json::parse(line, nullptr, false);
    ASSERT_TRUE(e.is_object()) << "not a JSON event: " << line;
    EXPECT_EQ(e["kind"], "backup");
    EXPECT_GE(e["progress"].get<int>(), last) << wait.err;
    last = e["progress"];
    if (e.contains("progress_detail")) saw_detail = true;
  }
  EXPECT_TRUE(saw_detail) << wait.err;
  EXPECT_EQ(last, 100) << wait.err;
}

}  // namespace
}  // namespace flinkbr::e2e
