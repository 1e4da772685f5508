// The task engine with a real store, real files sources and a service driven by a real shell
// command: the restoration state machine, backup records, retention and validation.
#include "task/engine.h"

#include <gtest/gtest.h>

#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>
#include <set>
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
                                             "apply:done", "verify-result:done"}));
  EXPECT_FALSE(view->log.empty());

  // Deleting the task removes its safety copies.
  std::string safety = view->attempts[1].safety_copy;
  EXPECT_TRUE(fs::exists(safety));
  ASSERT_TRUE(engine_->delete_restore_task("r"));
  EXPECT_FALSE(fs::exists(safety));
}

// A backup run's events name its steps in order, the percent never goes back, the bytes of the
// write step count towards the sources' estimate, and the record ends at 100 % with the bytes
// written as the total.
TEST_F(EngineTest, BackupProgressNamesTheStepsAndEndsAtTheTotal) {
  // Enough bytes that the write step has something to count.
  std::string big(300000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7919) % 26);
  std::ofstream(dir_ / "conf" / "big.bin") << big;
  ASSERT_TRUE(engine_->create_backup_task({.name = "b",
                                           .cluster = "c1",
                                           .data_source = "Flink",
                                           .path_type = "LocalDir",
                                           .verify = true}));
  const int64_t before = events_.last_seq();
  auto rec = run_backup_and_wait("b");
  ASSERT_EQ(rec.status, BackupStatus::kSucceeded) << rec.error;

  std::vector<std::string> steps;
  int last_percent = -1;
  uint64_t write_total = 0;
  for (const auto& e : events_.wait_after(before, std::chrono::milliseconds(100))) {
    if (e.type != "backup" || e.data["id"] != rec.id) continue;
    const int percent = e.data["progress"];
    EXPECT_GE(percent, last_percent) << e.data.dump();
    last_percent = percent;
    const auto& d = e.data["progress_detail"];
    ASSERT_TRUE(d.is_object()) << e.data.dump();
    const std::string step = d["step"];
    if (steps.empty() || steps.back() != step) steps.push_back(step);
    if (step == "write" && d["bytes_total"].get<uint64_t>() > 0)
      write_total = d["bytes_total"].get<uint64_t>();
    EXPECT_LE(d["bytes_done"].get<uint64_t>(),
              std::max<uint64_t>(d["bytes_total"].get<uint64_t>(), d["bytes_done"]))
        << e.data.dump();
  }
  // The first event is the record's creation (no step yet).
  if (!steps.empty() && steps.front().empty()) steps.erase(steps.begin());
  EXPECT_EQ(steps, (std::vector<std::string>{"check", "write", "verify", "prune", "done"}));
  EXPECT_EQ(last_percent, 100);
  EXPECT_GE(write_total, big.size() + 4);  // the estimate: both files of the source
  EXPECT_EQ(rec.progress, 100);
  EXPECT_EQ(rec.progress_detail.step, "done");
  EXPECT_EQ(rec.progress_detail.bytes_done, rec.progress_detail.bytes_total);
  EXPECT_GE(rec.progress_detail.bytes_total, big.size());
}

// A restoration attempt carries its progress detail too, and ends at "done".
TEST_F(EngineTest, RestoreAttemptProgressDetailEndsDone) {
  ASSERT_TRUE(engine_->create_backup_task(
      {.name = "b", .cluster = "c1", .data_source = "Flink", .path_type = "LocalDir"}));
  auto rec = run_backup_and_wait("b");
  ASSERT_EQ(rec.status, BackupStatus::kSucceeded) << rec.error;
  ASSERT_TRUE(engine_->create_restore_task({.name = "r",
                                            .cluster = "c1",
                                            .data_source = "Flink",
                                            .path_type = "LocalDir",
                                            .source_path = rec.backup_path}));
  const int64_t before = events_.last_seq();
  ASSERT_TRUE(engine_->start_restore("r"));
  ASSERT_EQ(wait_restore("r").state, RestoreState::kSucceeded);
  auto view = engine_->get_restore_task("r");
  ASSERT_TRUE(view);
  const auto& d = view->attempts.back().progress_detail;
  EXPECT_EQ(d.step, "done");
  EXPECT_EQ(d.bytes_done, d.bytes_total);
  EXPECT_GT(d.bytes_total, 0u);
  EXPECT_EQ(view->attempts.back().phase, store::AttemptPhase::kDone);
  std::set<std::string> seen;
  for (const auto& e : events_.wait_after(before, std::chrono::milliseconds(100)))
    if (e.type == "restore") seen.insert(e.data["progress_detail"]["step"].get<std::string>());
  for (const char* step : {"check", "verify", "safety-copy", "apply", "verify-result"})
    EXPECT_TRUE(seen.contains(step)) << step;
}

// A manager that may no longer act (the fence says so) writes no task state and starts no run.
TEST_F(EngineTest, ARefusingFenceWritesNothing) {
  struct Refusing : Fence {
    Status check() override {
      return make_error(Errc::kUnavailable, "this manager lost its lease (epoch 7)");
    }
  } fence;
  ASSERT_TRUE(engine_->create_backup_task(
      {.name = "b", .cluster = "c1", .data_source = "Flink", .path_type = "LocalDir"}));
  auto ok_rec = run_backup_and_wait("b");
  ASSERT_EQ(ok_rec.status, BackupStatus::kSucceeded);
  ASSERT_TRUE(engine_->create_restore_task({.name = "r",
                                            .cluster = "c1",
                                            .data_source = "Flink",
                                            .path_type = "LocalDir",
                                            .source_path = ok_rec.backup_path}));
  engine_.reset();
  engine_ = std::make_unique<Engine>(config_, *store_, events_, &fence);
  ASSERT_TRUE(engine_->recover());
  auto run = engine_->run_backup("b");
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().message, "this manager lost its lease (epoch 7)");
  auto start = engine_->start_restore("r");
  ASSERT_FALSE(start);
  EXPECT_EQ(start.error().code, Errc::kUnavailable);
  // A periodic task due at once: the scheduler may not move its next_run nor run it.
  ASSERT_TRUE(engine_->create_backup_task({.name = "p",
                                           .cluster = "c1",
                                           .data_source = "Flink",
                                           .path_type = "LocalDir",
                                           .period = "1s"}));
  const int64_t next_run = store_->get_backup_task("p")->next_run;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the scheduler had its chance
  EXPECT_EQ(store_->get_backup_task("p")->next_run, next_run);
  EXPECT_TRUE(engine_->backup_history("p", {})->empty());
  EXPECT_EQ(engine_->backup_history("b", {})->size(), 1u);
  auto view = engine_->get_restore_task("r");
  EXPECT_EQ(view->task.state, RestoreState::kCreated);
  EXPECT_TRUE(view->attempts.empty());
  engine_.reset();
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
