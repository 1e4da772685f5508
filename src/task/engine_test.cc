// The task engine with a real store, real files sources and a service driven by a real shell
// command: the restoration state machine, backup records, retention and validation.
#include "task/engine.h"

#include <gtest/gtest.h>

#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "task/validate.h"

namespace flinkbr::task {
namespace {

namespace fs = std::filesystem;

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "flinkbr-engine-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "conf");
    std::ofstream(dir_ / "conf" / "flink-conf.yaml") << "a: 1\n";
    std::ofstream(dir_ / "service") << "stopped\n";
    std::string svc = (dir_ / "service").string();
    auto cfg = config::parse_config(
        "server:\n  state_dir: " + (dir_ / "state").string() +
            "\nclusters:\n  - name: c1\n    version: \"1.18.1\"\n    service:\n"
            "      status: \"grep -q running '" +
            svc +
            "' && exit 0; exit 3\"\n"
            "      stop: \"echo stopped > '" +
            svc +
            "'\"\n"
            "      start: \"echo running > '" +
            svc +
            "'\"\n"
            "    metadata:\n      - { name: conf, type: files, uri: \"file://" +
            (dir_ / "conf").string() + "\" }\n",
        "test");
    ASSERT_TRUE(cfg) << cfg.error().message;
    config_ = *cfg;
    fs::create_directories(config_.server.state_dir);
    store_ = std::move(*store::Store::open((dir_ / "state" / "flinkbr.db").string()));
    engine_ = std::make_unique<Engine>(config_, *store_, events_);
    ASSERT_TRUE(engine_->recover());
  }
  void TearDown() override {
    engine_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  store::BackupRecord run_backup_and_wait(const std::string& task) {
    auto rec = engine_->run_backup(task);
    EXPECT_TRUE(rec) << rec.error().message;
    for (int i = 0; i < 400; ++i) {
      auto r = engine_->get_backup_record(rec->id);
      if (r && r->status != BackupStatus::kRunning) return *r;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ADD_FAILURE() << "backup did not end";
    return {};
  }

  store::RestoreTask wait_restore(const std::string& name) {
    for (int i = 0; i < 400; ++i) {
      auto v = engine_->get_restore_task(name);
      if (v && v->task.state != RestoreState::kRunning) return v->task;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ADD_FAILURE() << "restore did not end";
    return {};
  }

  fs::path dir_;
  config::Config config_;
  EventBus events_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, RestorationStateMachine) {
  ASSERT_TRUE(engine_->create_backup_task(
      {.name = "b", .cluster = "c1", .data_source = "Flink", .path_type = "LocalDir"}));
  auto rec = run_backup_and_wait("b");
  ASSERT_EQ(rec.status, BackupStatus::kSucceeded) << rec.error;
  EXPECT_TRUE(rec.checksum.starts_with("sha256:"));
  EXPECT_EQ(rec.backup_object, "Flink");

  auto t = engine_->create_restore_task({.name = "r",
                                         .cluster = "c1",
                                         .data_source = "Flink",
                                         .path_type = "LocalDir",
                                         .source_path = rec.backup_path});
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->state, RestoreState::kCreated);

  // Retry of a task that never ran is refused; so is a start of a Failed task.
  EXPECT_EQ(engine_->retry_restore("r").error().code, Errc::kFailedPrecondition);

  std::ofstream(dir_ / "service") << "running\n";
  ASSERT_TRUE(engine_->start_restore("r"));
  auto failed = wait_restore("r");
  EXPECT_EQ(failed.state, RestoreState::kFailed);
  EXPECT_NE(failed.error.find("is running"), std::string::npos) << failed.error;
  EXPECT_EQ(engine_->start_restore("r").error().code, Errc::kFailedPrecondition);

  std::ofstream(dir_ / "service") << "stopped\n";
  ASSERT_TRUE(engine_->retry_restore("r"));
  auto done = wait_restore("r");
  EXPECT_EQ(done.state, RestoreState::kSucceeded) << done.error;
  EXPECT_EQ(done.progress, 100);
  EXPECT_EQ(done.attempts, 2);

  // Succeeded is final.
  auto again = engine_->start_restore("r");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("can never run again"), std::string::npos);
  EXPECT_FALSE(engine_->retry_restore("r"));

  auto view = engine_->get_restore_task("r");
  ASSERT_TRUE(view);
  ASSERT_EQ(view->attempts.size(), 2u);
  EXPECT_EQ(view->attempts[0].state, RestoreState::kFailed);
  EXPECT_EQ(view->attempts[1].state, RestoreState::kSucceeded);
  EXPECT_FALSE(view->attempts[1].safety_copy.empty());
  std::vector<std::string> steps;
  for (const auto& s : view->attempts[1].steps) steps.push_back(s.name + ":" + s.status);
  EXPECT_EQ(steps, (std::vector<std::string>{"check:done", "verify:done", "safety-copy:done",
                                             "stage:done", "apply:done", "verify-result:done"}));
  EXPECT_FALSE(view->log.empty());

  // Deleting the task removes its safety copies.
  std::string safety = view->attempts[1].safety_copy;
  EXPECT_TRUE(fs::exists(safety));
  ASSERT_TRUE(engine_->delete_restore_task("r"));
  EXPECT_FALSE(fs::exists(safety));
}

TEST_F(EngineTest, RetentionKeepsTheNewestCopies) {
  ASSERT_TRUE(engine_->create_backup_task({.name = "b",
                                           .cluster = "c1",
                                           .data_source = "Flink",
                                           .path_type = "LocalDir",
                                           .max_copies = 2}));
  std::vector<store::BackupRecord> runs;
  for (int i = 0; i < 4; ++i) runs.push_back(run_backup_and_wait("b"));
  // Runs never share an execution second, so their files never share a name.
  for (size_t i = 1; i < runs.size(); ++i) EXPECT_NE(runs[i].backup_path, runs[i - 1].backup_path);
  auto history = engine_->backup_history("b", {});
  ASSERT_TRUE(history);
  ASSERT_EQ(history->size(), 4u);
  EXPECT_EQ((*history)[0].status, BackupStatus::kSucceeded);
  EXPECT_EQ((*history)[1].status, BackupStatus::kSucceeded);
  EXPECT_EQ((*history)[2].status, BackupStatus::kRemoved);
  EXPECT_EQ((*history)[3].status, BackupStatus::kRemoved);
  EXPECT_TRUE(fs::exists((*history)[0].backup_path));
  EXPECT_TRUE(fs::exists((*history)[1].backup_path));
  EXPECT_FALSE(fs::exists((*history)[2].backup_path));
  EXPECT_FALSE(fs::exists((*history)[3].backup_path));
}

TEST_F(EngineTest, LocalDirBackupRefusedWhenTheDiskIsTooFull) {
  // A sparse file larger than the free space of the disk: the estimate of the backup exceeds
  // what the disk can take, without writing a byte.
  struct statvfs vfs {};
  ASSERT_EQ(statvfs(dir_.c_str(), &vfs), 0);
  uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  fs::path huge = dir_ / "conf" / "huge.bin";
  { std::ofstream(huge).put('x'); }
  fs::resize_file(huge, free_bytes + (1ULL << 30));
  ASSERT_TRUE(engine_->create_backup_task(
      {.name = "b", .cluster = "c1", .data_source = "Flink", .path_type = "LocalDir"}));
  auto rec = run_backup_and_wait("b");
  EXPECT_EQ(rec.status, BackupStatus::kFailed);
  EXPECT_NE(rec.error.find("not enough free space"), std::string::npos) << rec.error;
  EXPECT_FALSE(fs::exists(rec.backup_path));
}

TEST_F(EngineTest, FieldsAreValidatedWithTheirNames) {
  auto field_of = [](const auto& r) { return r ? std::string("<ok>") : r.error().field; };
  EXPECT_EQ(field_of(engine_->create_backup_task({.name = "", .cluster = "c1"})), "name");
  EXPECT_EQ(field_of(engine_->create_backup_task(
                {.name = "b", .cluster = "c1", .data_source = "Flink", .path_type = "NFS"})),
            "path_type");
  EXPECT_EQ(field_of(engine_->create_backup_task({.name = "b",
                                                  .cluster = "c1",
                                                  .data_source = "Flink",
                                                  .path_type = "LocalDir",
                                                  .period = "5x"})),
            "period");
  EXPECT_EQ(field_of(engine_->create_restore_task({.name = "r",
                                                   .cluster = "c1",
                                                   .data_source = "Flink",
                                                   .path_type = "LocalDir",
                                                   .source_path = "/x/../y.tar.gz"})),
            "source_path");
  // A file name that says FlinkServiceData cannot be restored as Flink.
  EXPECT_EQ(
      field_of(engine_->create_restore_task(
          {.name = "r",
           .cluster = "c1",
           .data_source = "Flink",
           .path_type = "LocalDir",
           .source_path = "/b/t_20260101000000/1.18.1_FlinkServiceData_20260101000000.tar.gz"})),
      "source_path");
  EXPECT_EQ(field_of(engine_->create_restore_task({.name = "r",
                                                   .cluster = "c1",
                                                   .data_source = "Flink",
                                                   .path_type = "LocalDir",
                                                   .source_path = "/b/1.18.1_Flink_1.tar.gz",
                                                   .namenode_ip = "10.0.0.1"})),
            "namenode_ip");
}

TEST(Validate, Periods) {
  EXPECT_EQ(*parse_period("period", "30s"), 30);
  EXPECT_EQ(*parse_period("period", "15m"), 900);
  EXPECT_EQ(*parse_period("period", "1h"), 3600);
  EXPECT_EQ(*parse_period("period", "1d"), 86400);
  for (const char* bad : {"", "s", "0s", "-1h", "1w", "1.5h", "h1"})
    EXPECT_FALSE(parse_period("period", bad)) << bad;
}

TEST(Validate, Paths) {
  EXPECT_TRUE(validate_absolute_path("p", "/a/b"));
  EXPECT_TRUE(validate_absolute_path("p", "/"));
  for (const char* bad : {"", "a/b", "/a//b", "/a/./b", "/a/../b", "/a/\x01"})
    EXPECT_FALSE(validate_absolute_path("p", bad)) << bad;
  EXPECT_FALSE(validate_backup_file_path("p", "/a/b.zip"));
  EXPECT_TRUE(validate_backup_file_path("p", "/a/1_Flink_2.tar.gz"));
}

TEST(Validate, ObjectPaths) {
  EXPECT_TRUE(validate_object_path("path", "flink-backups/prod/nightly"));
  EXPECT_TRUE(validate_object_path("path", "b.1-x"));
  for (const char* bad : {"", "/bucket/key", "Bucket/key", "ab/key", "b_x/key", "bucket//key",
                          "bucket/./key", "bucket/../key"}) {
    auto st = validate_object_path("path", bad);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().field, "path") << bad;
  }
  EXPECT_NE(validate_object_path("path", "/b/k").error().message.find("must start with the bucket"),
            std::string::npos);
}

}  // namespace
}  // namespace flinkbr::task
