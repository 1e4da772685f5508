// ProgressMeter and BackupRecorder: what a progress bar shows (step, bytes, throughput, percent)
// with a clock the test moves.
#include "task/progress.h"

#include <gtest/gtest.h>

#include "task/backup_run.h"

namespace flinkbr::task {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  ProgressMeter::Clock::time_point now{};
  std::function<ProgressMeter::Clock::time_point()> fn() {
    return [this] { return now; };
  }
};

TEST(ProgressMeter, StepBytesAndThroughput) {
  FakeClock clock;
  ProgressMeter m(clock.fn());
  m.begin_step("write", 1000);
  EXPECT_EQ(m.detail(), (store::ProgressDetail{.step = "write", .bytes_total = 1000}));
  clock.now += 2s;
  m.bytes(400);
  EXPECT_EQ(m.detail().bytes_done, 400u);
  EXPECT_EQ(m.detail().bytes_per_second, 200u);
  EXPECT_DOUBLE_EQ(m.fraction(), 0.4);
  // Bytes never go backwards.
  m.bytes(300);
  EXPECT_EQ(m.detail().bytes_done, 400u);
  // An estimate that was low: the total follows the bytes done, done never exceeds it.
  clock.now += 2s;
  m.bytes(1500);
  EXPECT_EQ(m.detail().bytes_total, 1500u);
  EXPECT_DOUBLE_EQ(m.fraction(), 1.0);
  // A stall: the throughput falls.
  clock.now += 11s;
  m.bytes(1500);
  EXPECT_EQ(m.detail().bytes_per_second, 100u);

  // A new step starts from zero with its own total.
  m.begin_step("verify", 50);
  EXPECT_EQ(m.detail(), (store::ProgressDetail{.step = "verify", .bytes_total = 50}));
  clock.now += 1s;
  m.bytes(50);
  m.begin_step("prune");
  EXPECT_EQ(m.detail().bytes_total, 0u);
  EXPECT_DOUBLE_EQ(m.fraction(), 0);  // unknown total

  // The end: the largest total, at the rate of the step that moved the most bytes.
  m.finish();
  EXPECT_EQ(m.detail(),
            (store::ProgressDetail{
                .step = "done", .bytes_done = 1500, .bytes_total = 1500, .bytes_per_second = 100}));
}

TEST(ProgressMeter, UnknownTotalStaysUnknownAndFinishCountsTheBytes) {
  FakeClock clock;
  ProgressMeter m(clock.fn());
  m.begin_step("write");
  clock.now += 1s;
  m.bytes(777);
  EXPECT_EQ(m.detail().bytes_total, 0u);
  EXPECT_EQ(m.detail().bytes_per_second, 777u);
  m.finish();
  EXPECT_EQ(m.detail().bytes_done, 777u);
  EXPECT_EQ(m.detail().bytes_total, 777u);
}

TEST(ProgressMeter, NoRateInTheFirstMilliseconds) {
  FakeClock clock;
  ProgressMeter m(clock.fn());
  m.begin_step("write", 10);
  clock.now += 1ms;
  m.bytes(10);
  EXPECT_EQ(m.detail().bytes_per_second, 0u);  // not 10,000 B/s from one millisecond
}

TEST(BackupRecorder, PercentFollowsTheBandAndNeverGoesBack) {
  FakeClock clock;
  store::BackupRecord r;
  BackupRecorder rec(nullptr, nullptr, r, ProgressMeter(clock.fn()));
  rec.begin_step("check", 0, 0, 2);
  EXPECT_EQ(r.progress, 0);
  EXPECT_EQ(r.progress_detail.step, "check");
  rec.begin_step("write", 1000, 2, 98);
  EXPECT_EQ(r.progress, 2);
  rec.bytes(500);
  EXPECT_EQ(r.progress, 50);
  EXPECT_EQ(r.progress_detail.bytes_done, 500u);
  EXPECT_EQ(r.progress_detail.bytes_total, 1000u);
  // A low estimate: the total grows, the percent stays below the band's end.
  rec.bytes(4000);
  EXPECT_EQ(r.progress, 98);
  EXPECT_EQ(r.progress_detail.bytes_total, 4000u);
  // A later step with a lower band does not move the percent back.
  rec.begin_step("prune", 0, 50, 60);
  EXPECT_EQ(r.progress, 98);
  EXPECT_LT(r.progress, 100);  // 100 belongs to a run that has succeeded
  rec.finish();
  EXPECT_EQ(r.progress, 100);
  EXPECT_EQ(r.progress_detail,
            (store::ProgressDetail{
                .step = "done", .bytes_done = 4000, .bytes_total = 4000, .bytes_per_second = 0}));
}

}  // namespace
}  // namespace flinkbr::task
