// The Prometheus exposition of a real state database.
#include "server/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace flinkbr::server {
namespace {

namespace fs = std::filesystem;

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("plain-task_1"), "plain-task_1");
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Metrics, CountsRecordsAndTheNewestSuccessOfEachTask) {
  std::string dir = "/tmp/flinkbr-metrics-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  auto store = store::Store::open(dir + "/flinkbr.db");
  ASSERT_TRUE(store) << store.error().message;

  // No task yet: every status series is there, at zero.
  auto empty = render_metrics(**store);
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_NE(empty->find("flinkbr_backup_runs_total{status=\"Failed\"} 0\n"), std::string::npos)
      << *empty;
  EXPECT_NE(empty->find("flinkbr_restore_runs_total{status=\"Succeeded\"} 0\n"), std::string::npos);

  store::BackupTask t{.name = "night\"ly", .cluster = "c1"};
  auto task = (*store)->create_backup_task(t);
  ASSERT_TRUE(task) << task.error().message;
  auto add = [&](BackupStatus status, int64_t started, int64_t ended, uint64_t size) {
    store::BackupRecord r{.task_id = task->id,
                          .task_name = task->name,
                          .status = status,
                          .started_at = started,
                          .ended_at = ended,
                          .size = size};
    ASSERT_TRUE((*store)->create_backup_record(r));
  };
  add(BackupStatus::kSucceeded, 1000, 1010, 111);
  add(BackupStatus::kSucceeded, 2000, 2030, 222);
  add(BackupStatus::kFailed, 3000, 3005, 0);
  auto text = render_metrics(**store);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_NE(text->find("flinkbr_backup_runs_total{status=\"Succeeded\"} 2\n"), std::string::npos)
      << *text;
  EXPECT_NE(text->find("flinkbr_backup_runs_total{status=\"Failed\"} 1\n"), std::string::npos);
  EXPECT_NE(
      text->find("flinkbr_backup_last_success_timestamp_seconds{task=\"night\\\"ly\"} 2030\n"),
      std::string::npos)
      << *text;
  // The duration is the newest finished run's, failed or not; the size the newest success's.
  EXPECT_NE(text->find("flinkbr_backup_last_duration_seconds{task=\"night\\\"ly\"} 5\n"),
            std::string::npos);
  EXPECT_NE(text->find("flinkbr_backup_last_size_bytes{task=\"night\\\"ly\"} 222\n"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(Metrics, RunCountersOnlyGrowAndCountARunWhenItEnds) {
  std::string dir = "/tmp/flinkbr-metrics-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  auto opened = store::Store::open(dir + "/flinkbr.db");
  ASSERT_TRUE(opened) << opened.error().message;
  store::Store& store = **opened;
  auto has = [&](const std::string& line) {
    auto text = render_metrics(store);
    EXPECT_TRUE(text) << text.error().message;
    return text && text->find("\n" + line + "\n") != std::string::npos;
  };
  auto task = store.create_backup_task({.name = "nightly", .cluster = "c1"});
  ASSERT_TRUE(task);
  auto rec = store.create_backup_record(
      {.task_id = task->id, .task_name = "nightly", .status = BackupStatus::kRunning});
  ASSERT_TRUE(rec);
  auto rt = store.create_restore_task({.name = "undo", .cluster = "c1"});
  ASSERT_TRUE(rt);
  auto att = store.create_attempt({.task_id = rt->id, .number = 1});
  ASSERT_TRUE(att);
  // Running: in the gauges, not in the counters (no "Running" series at all).
  EXPECT_TRUE(has("flinkbr_backup_running 1"));
  EXPECT_TRUE(has("flinkbr_restore_running 1"));
  EXPECT_TRUE(has("flinkbr_backup_runs_total{status=\"Succeeded\"} 0"));
  EXPECT_FALSE(has("flinkbr_backup_runs_total{status=\"Running\"} 1"));
  EXPECT_FALSE(has("flinkbr_restore_runs_total{status=\"Running\"} 1"));

  rec->status = BackupStatus::kSucceeded;
  ASSERT_TRUE(store.update_backup_record(*rec));
  att->state = RestoreState::kFailed;
  ASSERT_TRUE(store.update_attempt(*att));
  EXPECT_TRUE(has("flinkbr_backup_runs_total{status=\"Succeeded\"} 1"));
  EXPECT_TRUE(has("flinkbr_restore_runs_total{status=\"Failed\"} 1"));
  EXPECT_TRUE(has("flinkbr_backup_running 0"));

  // Deleting the tasks takes nothing back: a counter never decreases.
  ASSERT_TRUE(store.delete_backup_task("nightly"));
  ASSERT_TRUE(store.delete_restore_task("undo"));
  EXPECT_TRUE(has("flinkbr_backup_runs_total{status=\"Succeeded\"} 1"));
  EXPECT_TRUE(has("flinkbr_restore_runs_total{status=\"Failed\"} 1"));
  EXPECT_TRUE(has("flinkbr_restore_running 0"));
  fs::remove_all(dir);
}

TEST(Metrics, ScheduledTasksHaveTheirPeriodAndStart) {
  std::string dir = "/tmp/flinkbr-metrics-XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  auto store = store::Store::open(dir + "/flinkbr.db");
  ASSERT_TRUE(store) << store.error().message;
  ASSERT_TRUE((*store)->create_backup_task(
      {.name = "daily", .cluster = "c1", .period_seconds = 86400, .start_time = 1800000000}));
  ASSERT_TRUE((*store)->create_backup_task({.name = "manual", .cluster = "c1"}));
  ASSERT_TRUE((*store)->create_backup_task({.name = "paused",
                                            .cluster = "c1",
                                            .period_seconds = 3600,
                                            .start_time = 1800000000,
                                            .suspended = true}));
  auto text = render_metrics(**store);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_NE(text->find("\nflinkbr_backup_period_seconds{task=\"daily\"} 86400\n"),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("\nflinkbr_backup_start_timestamp_seconds{task=\"daily\"} 1800000000\n"),
            std::string::npos);
  // Manual and suspended tasks are never late.
  EXPECT_EQ(text->find("period_seconds{task=\"manual\"}"), std::string::npos);
  EXPECT_EQ(text->find("period_seconds{task=\"paused\"}"), std::string::npos);
  EXPECT_EQ(text->find("start_timestamp_seconds{task=\"paused\"}"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace flinkbr::server
