#include "store/store.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "support/postgres_server.h"

namespace flinkbr::store {
namespace {

namespace fs = std::filesystem;

// The whole suite runs against both implementations. PostgreSQL: one throwaway server per test
// binary (tests/support/postgres_server.h), a fresh schema per test.
enum class Backend { kSqlite, kPostgres };

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

// The server, started on first use and stopped when the binary ends; `why` says why not.
testsupport::PgServer* pg_server(std::string* why) {
  static testsupport::PgServer* server = nullptr;
  static std::string failure;
  static bool tried = false;
  if (!tried) {
    tried = true;
    auto* s = new testsupport::PgServer;
    failure = s->start();
    if (failure.empty()) {
      server = s;
      std::atexit([] { server->stop(); });
    } else {
      s->stop();
    }
  }
  *why = failure;
  return server;
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "flinkbr-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = (dir_ / "flinkbr.db").string();
    if (GetParam() == Backend::kPostgres) {
      std::string why;
      pg_ = pg_server(&why);
      if (!pg_) GTEST_SKIP() << "no PostgreSQL server for the tests: " << why;
      static int counter = 0;
      schema_ = "store_test_" + std::to_string(++counter);
      dsn_ = pg_->dsn("postgres");
    }
    reopen();
  }
  void TearDown() override {
    store_.reset();
    if (pg_ && !schema_.empty())
      testsupport::sql(dsn_, "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    fs::remove_all(dir_);
  }
  // Opens another store on the same database (as a second daemon or manager would).
  Result<std::unique_ptr<Store>> open_again() {
    if (GetParam() == Backend::kSqlite) return Store::open_sqlite(path_);
    return Store::open_postgres(dsn_, "", schema_);
  }
  void reopen() {
    store_.reset();
    auto s = open_again();
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  // Runs SQL on the database behind the store's back.
  void raw_sql(const std::string& sql) {
    if (GetParam() == Backend::kPostgres) {
      testsupport::sql(dsn_, "SET search_path TO " + schema_ + "; " + sql);
      return;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* msg = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
    EXPECT_EQ(rc, SQLITE_OK) << (msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(db);
  }

  static BackupTask sample_backup_task(const std::string& name) {
    return BackupTask{.name = name,
                      .cluster = "flink-prod",
                      .data_source = DataSource::kFlinkServiceData,
                      .params = {.path_type = PathType::kRemoteHDFS,
                                 .path = "/backup/flink",
                                 .nameservice = "standby-ns",
                                 .ip_mode = "IPv6",
                                 .namenode_ip = "[fd00::1]:9870",
                                 .queue = "root.default"},
                      .max_copies = 7,
                      .period_seconds = 86400,
                      .start_time = 1764045432,
                      .suspended = true,
                      .next_run = 1764131832,
                      .created_at = 1764000000};
  }
  static RestoreTask sample_restore_task(const std::string& name) {
    return RestoreTask{.name = name,
                       .cluster = "flink-prod",
                       .data_source = DataSource::kFlink,
                       .params = {.path_type = PathType::kOBS,
                                  .path = "bucket/key/1.18.1_Flink_20261125043712.tar.gz",
                                  .nameservice = "",
                                  .ip_mode = "auto",
                                  .namenode_ip = "",
                                  .queue = "q"},
                       .state = RestoreState::kFailed,
                       .progress = 42,
                       .error = "the service is running",
                       .attempts = 2,
                       .created_at = 1764000001,
                       .updated_at = 1764000002};
  }

  fs::path dir_;
  std::string path_;
  testsupport::PgServer* pg_ = nullptr;
  std::string schema_;
  std::string dsn_;
  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), backend_name);

// Properties of the SQLite file itself.
class SqliteStoreTest : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Backends, SqliteStoreTest, ::testing::Values(Backend::kSqlite),
                         backend_name);

// ---- users and tokens --------------------------------------------------------------------

TEST_P(StoreTest, UsersRoundTrip) {
  EXPECT_EQ(*store_->count_users(), 0);
  auto u = store_->create_user("alice", Role::kOperator, "$argon2id$hash");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_GT(u->id, 0);
  EXPECT_GT(u->created_at, 0);

  auto got = store_->get_user("alice");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, u->id);
  EXPECT_EQ(got->name, "alice");
  EXPECT_EQ(got->role, Role::kOperator);
  EXPECT_EQ(got->password_hash, "$argon2id$hash");
  EXPECT_EQ(got->created_at, u->created_at);

  auto by_id = store_->get_user_by_id(u->id);
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->name, "alice");

  ASSERT_TRUE(store_->create_user("bob", Role::kAdministrator, "h2"));
  auto all = store_->list_users();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "alice");
  EXPECT_EQ((*all)[1].role, Role::kAdministrator);
  EXPECT_EQ(*store_->count_users(), 2);
}

TEST_P(StoreTest, UserErrors) {
  ASSERT_TRUE(store_->create_user("alice", Role::kViewer, "h"));
  auto dup = store_->create_user("alice", Role::kViewer, "h");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(dup.error().message, "a user named 'alice' already exists");

  auto missing = store_->get_user("nobody");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().message, "user 'nobody' does not exist");
  EXPECT_EQ(store_->get_user_by_id(999).error().code, Errc::kNotFound);
}

TEST_P(StoreTest, TheLastAdministratorIsNeitherDemotedNorDeleted) {
  ASSERT_TRUE(store_->create_user("alice", Role::kAdministrator, "h"));
  ASSERT_TRUE(store_->create_user("bob", Role::kOperator, "h"));
  auto demote = store_->set_user_role("alice", Role::kOperator);
  ASSERT_FALSE(demote);
  EXPECT_EQ(demote.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(demote.error().message,
            "user 'alice' is the last administrator: making them operator would leave none");
  auto del = store_->delete_user("alice");
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(del.error().message,
            "user 'alice' is the last administrator: deleting them would leave none");
  EXPECT_EQ(store_->get_user("alice")->role, Role::kAdministrator);
  // Others change as before; a second administrator lets the first one go.
  ASSERT_TRUE(store_->set_user_role("bob", Role::kViewer));
  ASSERT_TRUE(store_->set_user_role("alice", Role::kAdministrator));  // already one: no change
  ASSERT_TRUE(store_->set_user_role("bob", Role::kAdministrator));
  ASSERT_TRUE(store_->set_user_role("alice", Role::kViewer));
  EXPECT_EQ(store_->delete_user("bob").error().code, Errc::kFailedPrecondition);
  ASSERT_TRUE(store_->delete_user("alice"));
  EXPECT_EQ(store_->delete_user("nobody").error().code, Errc::kNotFound);
  EXPECT_EQ(store_->set_user_role("nobody", Role::kViewer).error().code, Errc::kNotFound);
  EXPECT_EQ(store_->get_user("bob")->role, Role::kAdministrator);
}

TEST_P(StoreTest, AdministratorsDemotingEachOtherAtOnceLeaveOne) {
  // Two managers (two connections) each take one administrator's request: alice demotes bob
  // while bob demotes alice, or deletes. Exactly one of the two may win, every time.
  auto second = open_again();
  ASSERT_TRUE(second) << second.error().message;
  ASSERT_TRUE(store_->create_user("alice", Role::kAdministrator, "h"));
  ASSERT_TRUE(store_->create_user("bob", Role::kAdministrator, "h"));
  for (int round = 0; round < 20; ++round) {
    const bool deleting = round % 2 == 1;
    auto act = [&](Store& s, const std::string& target) {
      return deleting ? s.delete_user(target) : s.set_user_role(target, Role::kOperator);
    };
    auto a = std::async(std::launch::async, [&] { return act(*store_, "bob"); });
    auto b = std::async(std::launch::async, [&] { return act(**second, "alice"); });
    const Status ra = a.get();
    const Status rb = b.get();
    ASSERT_NE(ra.has_value(), rb.has_value()) << "round " << round;
    const Status& refused = ra ? rb : ra;
    EXPECT_EQ(refused.error().code, Errc::kFailedPrecondition);
    EXPECT_NE(refused.error().message.find("is the last administrator"), std::string::npos)
        << refused.error().message;
    int admins = 0;
    auto users = store_->list_users();
    ASSERT_TRUE(users) << users.error().message;
    for (const auto& u : *users) admins += u.role == Role::kAdministrator;
    ASSERT_EQ(admins, 1) << "round " << round;
    // Back to two administrators for the next round.
    const std::string loser = ra ? "bob" : "alice";
    if (deleting)
      ASSERT_TRUE(store_->create_user(loser, Role::kAdministrator, "h"));
    else
      ASSERT_TRUE(store_->set_user_role(loser, Role::kAdministrator));
  }
}

TEST_P(StoreTest, RoleNames) {
  for (Role r : {Role::kViewer, Role::kOperator, Role::kAdministrator})
    EXPECT_EQ(*parse_role(to_string(r)), r);
  EXPECT_EQ(to_string(Role::kAdministrator), "administrator");
  auto bad = parse_role("root", "users[0].role");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(bad.error().field, "users[0].role");
  EXPECT_NE(bad.error().message.find("'root'"), std::string::npos);
}

TEST_P(StoreTest, Tokens) {
  auto u = store_->create_user("alice", Role::kViewer, "h");
  ASSERT_TRUE(u);
  Token t{.token_hash = "aa", .user_id = u->id, .created_at = 100, .expires_at = 200};
  ASSERT_TRUE(store_->put_token(t));
  ASSERT_TRUE(store_->put_token({.token_hash = "bb", .user_id = u->id, .expires_at = 300}));
  EXPECT_EQ(store_->put_token(t).error().code, Errc::kAlreadyExists);

  auto got = store_->get_token("aa");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->user_id, u->id);
  EXPECT_EQ(got->created_at, 100);
  EXPECT_EQ(got->expires_at, 200);

  auto orphan = store_->put_token({.token_hash = "cc", .user_id = 999, .expires_at = 1});
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code, Errc::kNotFound);

  ASSERT_TRUE(store_->delete_expired_tokens(250));
  EXPECT_EQ(store_->get_token("aa").error().code, Errc::kNotFound);
  EXPECT_TRUE(store_->get_token("bb"));
  ASSERT_TRUE(store_->delete_token("bb"));
  EXPECT_EQ(store_->get_token("bb").error().code, Errc::kNotFound);
  EXPECT_TRUE(store_->delete_token("bb"));  // idempotent
}

// ---- backup tasks and records ------------------------------------------------------------

TEST_P(StoreTest, BackupTaskRoundTrip) {
  const BackupTask in = sample_backup_task("daily");
  auto created = store_->create_backup_task(in);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_GT(created->id, 0);

  auto t = store_->get_backup_task("daily");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->id, created->id);
  EXPECT_EQ(t->name, in.name);
  EXPECT_EQ(t->cluster, in.cluster);
  EXPECT_EQ(t->data_source, in.data_source);
  EXPECT_EQ(t->params.path_type, in.params.path_type);
  EXPECT_EQ(t->params.path, in.params.path);
  EXPECT_EQ(t->params.nameservice, in.params.nameservice);
  EXPECT_EQ(t->params.ip_mode, in.params.ip_mode);
  EXPECT_EQ(t->params.namenode_ip, in.params.namenode_ip);
  EXPECT_EQ(t->params.queue, in.params.queue);
  EXPECT_EQ(t->max_copies, in.max_copies);
  EXPECT_EQ(t->period_seconds, in.period_seconds);
  EXPECT_EQ(t->start_time, in.start_time);
  EXPECT_EQ(t->suspended, in.suspended);
  EXPECT_EQ(t->next_run, in.next_run);
  EXPECT_EQ(t->created_at, in.created_at);

  // created_at defaults to now.
  auto fresh = store_->create_backup_task({.name = "manual"});
  ASSERT_TRUE(fresh);
  EXPECT_GT(store_->get_backup_task("manual")->created_at, 0);
}

TEST_P(StoreTest, BackupTaskErrors) {
  ASSERT_TRUE(store_->create_backup_task(sample_backup_task("daily")));
  auto dup = store_->create_backup_task(sample_backup_task("daily"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(dup.error().message, "a backup task named 'daily' already exists");

  auto missing = store_->get_backup_task("x");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().message, "backup task 'x' does not exist");
  auto del = store_->delete_backup_task("x");
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().message, "backup task 'x' does not exist");

  BackupTask ghost = sample_backup_task("ghost");
  ghost.id = 12345;
  EXPECT_EQ(store_->update_backup_task(ghost).error().code, Errc::kNotFound);

  // Renaming onto a taken name.
  auto other = store_->create_backup_task(sample_backup_task("weekly"));
  ASSERT_TRUE(other);
  other->name = "daily";
  auto clash = store_->update_backup_task(*other);
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().code, Errc::kAlreadyExists);
}

TEST_P(StoreTest, BackupTaskUpdateListDelete) {
  for (const char* name : {"a", "b", "c"}) ASSERT_TRUE(store_->create_backup_task({.name = name}));
  auto b = store_->get_backup_task("b");
  ASSERT_TRUE(b);
  b->suspended = true;
  b->next_run = 77;
  b->params.path = "/elsewhere";
  ASSERT_TRUE(store_->update_backup_task(*b));
  auto b2 = store_->get_backup_task("b");
  EXPECT_TRUE(b2->suspended);
  EXPECT_EQ(b2->next_run, 77);
  EXPECT_EQ(b2->params.path, "/elsewhere");

  auto all = store_->list_backup_tasks();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "a");
  EXPECT_EQ((*all)[2].name, "c");
  auto page = store_->list_backup_tasks({.limit = 1, .offset = 1});
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].name, "b");

  ASSERT_TRUE(store_->delete_backup_task("b"));
  EXPECT_EQ(store_->list_backup_tasks()->size(), 2u);
}

TEST_P(StoreTest, BackupRecords) {
  auto task = store_->create_backup_task(sample_backup_task("daily"));
  ASSERT_TRUE(task);
  BackupRecord in{.task_id = task->id,
                  .task_name = "daily",
                  .status = BackupStatus::kSucceeded,
                  .started_at = 10,
                  .ended_at = 20,
                  .size = (uint64_t{1} << 40) + 3,
                  .checksum = "sha256:abc",
                  .backup_object = "Flink",
                  .backup_path = "/b/daily_20261125043712/1.18.1_Flink_20261125043712.tar.gz",
                  .system_version = "1.18.1",
                  .error = "",
                  .progress = 100};
  auto r = store_->create_backup_record(in);
  ASSERT_TRUE(r) << r.error().message;
  auto got = store_->get_backup_record(r->id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->task_id, in.task_id);
  EXPECT_EQ(got->task_name, in.task_name);
  EXPECT_EQ(got->status, in.status);
  EXPECT_EQ(got->started_at, in.started_at);
  EXPECT_EQ(got->ended_at, in.ended_at);
  EXPECT_EQ(got->size, in.size);
  EXPECT_EQ(got->checksum, in.checksum);
  EXPECT_EQ(got->backup_object, in.backup_object);
  EXPECT_EQ(got->backup_path, in.backup_path);
  EXPECT_EQ(got->system_version, in.system_version);
  EXPECT_EQ(got->error, in.error);
  EXPECT_EQ(got->progress, in.progress);
  EXPECT_TRUE(got->consistency.is_null());  // not known until the run ends
  EXPECT_EQ(got->progress_detail, ProgressDetail{});

  got->progress_detail = {
      .step = "write", .bytes_done = 1u << 20, .bytes_total = 3u << 20, .bytes_per_second = 99};
  ASSERT_TRUE(store_->update_backup_record(*got));
  EXPECT_EQ(store_->get_backup_record(r->id)->progress_detail, got->progress_detail);

  got->status = BackupStatus::kRemoved;
  got->error = "retention";
  got->consistency = {{"state", "inconsistent"},
                      {"pointers", 3},
                      {"dangling", {"/jobs/a/checkpoints/7 -> file:/ha/x (missing)"}},
                      {"jobs", 1},
                      {"checkpoints", 2}};
  ASSERT_TRUE(store_->update_backup_record(*got));
  EXPECT_EQ(store_->get_backup_record(r->id)->consistency, got->consistency);
  EXPECT_EQ(store_->get_backup_record(r->id)->status, BackupStatus::kRemoved);
  EXPECT_EQ(store_->get_backup_record(r->id)->error, "retention");
  EXPECT_EQ(store_->get_backup_record(999).error().code, Errc::kNotFound);
  BackupRecord ghost;
  ghost.id = 999;
  EXPECT_EQ(store_->update_backup_record(ghost).error().code, Errc::kNotFound);
}

TEST_P(StoreTest, BackupRecordsNewestFirstPagedAndKeptAfterTaskDeletion) {
  auto task = store_->create_backup_task({.name = "daily"});
  auto other = store_->create_backup_task({.name = "other"});
  ASSERT_TRUE(task && other);
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = store_->create_backup_record(
        {.task_id = task->id,
         .task_name = "daily",
         .status = i == 4 ? BackupStatus::kRunning : BackupStatus::kSucceeded,
         .started_at = i});
    ASSERT_TRUE(r);
    ids.push_back(r->id);
  }
  ASSERT_TRUE(store_->create_backup_record(
      {.task_id = other->id, .task_name = "other", .status = BackupStatus::kRunning}));

  auto all = store_->list_backup_records(task->id);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].id, ids[4]);
  EXPECT_EQ((*all)[4].id, ids[0]);
  auto page = store_->list_backup_records(task->id, {.limit = 2, .offset = 2});
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, ids[2]);
  EXPECT_EQ((*page)[1].id, ids[1]);

  auto running = store_->list_running_backup_records();
  ASSERT_TRUE(running);
  ASSERT_EQ(running->size(), 2u);
  EXPECT_EQ((*running)[0].id, ids[4]);

  ASSERT_TRUE(store_->delete_backup_task("daily"));
  auto kept = store_->list_backup_records(task->id);
  ASSERT_EQ(kept->size(), 5u);
  EXPECT_EQ((*kept)[0].task_name, "daily");
  // A new task never takes the id of the deleted one, so the old history stays apart.
  auto again = store_->create_backup_task({.name = "daily"});
  ASSERT_TRUE(again);
  EXPECT_NE(again->id, task->id);
  EXPECT_TRUE(store_->list_backup_records(again->id)->empty());
}

TEST_P(StoreTest, RunsAreCountedOnceWhenTheyEndAndDeletionTakesNothingBack) {
  auto task = store_->create_backup_task({.name = "daily"});
  ASSERT_TRUE(task);
  auto rec = store_->create_backup_record(
      {.task_id = task->id, .task_name = "daily", .status = BackupStatus::kRunning});
  ASSERT_TRUE(rec);
  EXPECT_EQ(*store_->ended_runs("backup", "Succeeded"), 0);  // running: not counted yet
  rec->status = BackupStatus::kSucceeded;
  ASSERT_TRUE(store_->update_backup_record(*rec));
  ASSERT_TRUE(store_->update_backup_record(*rec));  // written again: still one run
  rec->status = BackupStatus::kRemoved;             // retention removes its file
  ASSERT_TRUE(store_->update_backup_record(*rec));
  ASSERT_TRUE(store_->create_backup_record(
      {.task_id = task->id, .task_name = "daily", .status = BackupStatus::kFailed}));
  ASSERT_TRUE(store_->delete_backup_task("daily"));
  EXPECT_EQ(*store_->ended_runs("backup", "Succeeded"), 1);
  EXPECT_EQ(*store_->ended_runs("backup", "Failed"), 1);

  auto rt = store_->create_restore_task(sample_restore_task("undo"));
  ASSERT_TRUE(rt);
  auto a = store_->create_attempt({.task_id = rt->id, .number = 1});
  ASSERT_TRUE(a);
  a->state = RestoreState::kFailed;
  ASSERT_TRUE(store_->update_attempt(*a));
  auto b = store_->create_attempt({.task_id = rt->id, .number = 2});
  ASSERT_TRUE(b);
  b->state = RestoreState::kSucceeded;
  ASSERT_TRUE(store_->update_attempt(*b));
  ASSERT_TRUE(store_->update_attempt(*b));
  ASSERT_TRUE(store_->delete_restore_task("undo"));
  EXPECT_EQ(*store_->ended_runs("restore", "Failed"), 1);
  EXPECT_EQ(*store_->ended_runs("restore", "Succeeded"), 1);
  EXPECT_EQ(*store_->ended_runs("restore", "Running"), 0);
  reopen();  // kept in the database
  EXPECT_EQ(*store_->ended_runs("backup", "Succeeded"), 1);
}

TEST_P(StoreTest, PageLimitsAreClamped) {
  // 1005 rows in one transaction (one commit each through the API would mean 1005 fsyncs).
  raw_sql(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1005) "
      "INSERT INTO audit_log (at, user_name, action, target, outcome, detail) "
      "SELECT i, 'u', 'a', '', 'ok', '' FROM n");
  EXPECT_EQ(store_->list_audit({.limit = 0})->size(), 1u);
  EXPECT_EQ(store_->list_audit({.limit = -5})->size(), 1u);
  EXPECT_EQ(store_->list_audit({.limit = 5000})->size(), 1000u);
  auto negative = store_->list_audit({.limit = 1, .offset = -3});
  ASSERT_EQ(negative->size(), 1u);
  EXPECT_EQ((*negative)[0].at, 1005);
  EXPECT_TRUE(store_->list_audit({.limit = 10, .offset = 2000})->empty());
}

// ---- restoration tasks, attempts, logs ---------------------------------------------------

TEST_P(StoreTest, RestoreTaskRoundTrip) {
  const RestoreTask in = sample_restore_task("r1");
  auto created = store_->create_restore_task(in);
  ASSERT_TRUE(created) << created.error().message;
  auto t = store_->get_restore_task("r1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->id, created->id);
  EXPECT_EQ(t->name, in.name);
  EXPECT_EQ(t->cluster, in.cluster);
  EXPECT_EQ(t->data_source, in.data_source);
  EXPECT_EQ(t->params.path_type, in.params.path_type);
  EXPECT_EQ(t->params.path, in.params.path);
  EXPECT_EQ(t->params.nameservice, in.params.nameservice);
  EXPECT_EQ(t->params.ip_mode, in.params.ip_mode);
  EXPECT_EQ(t->params.namenode_ip, in.params.namenode_ip);
  EXPECT_EQ(t->params.queue, in.params.queue);
  EXPECT_EQ(t->state, in.state);
  EXPECT_EQ(t->progress, in.progress);
  EXPECT_EQ(t->error, in.error);
  EXPECT_EQ(t->attempts, in.attempts);
  EXPECT_EQ(t->created_at, in.created_at);
  EXPECT_EQ(t->updated_at, in.updated_at);

  t->state = RestoreState::kSucceeded;
  t->progress = 100;
  t->error.clear();
  ASSERT_TRUE(store_->update_restore_task(*t));
  auto t2 = store_->get_restore_task("r1");
  EXPECT_EQ(t2->state, RestoreState::kSucceeded);
  EXPECT_EQ(t2->progress, 100);
  EXPECT_EQ(t2->error, "");
}

TEST_P(StoreTest, RestoreTaskErrorsAndListing) {
  ASSERT_TRUE(store_->create_restore_task(sample_restore_task("r1")));
  ASSERT_TRUE(store_->create_restore_task(sample_restore_task("r2")));
  ASSERT_TRUE(store_->create_restore_task(sample_restore_task("r3")));
  auto dup = store_->create_restore_task(sample_restore_task("r2"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(dup.error().message, "a restoration task named 'r2' already exists");
  auto missing = store_->get_restore_task("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_EQ(missing.error().message, "restoration task 'nope' does not exist");
  EXPECT_EQ(store_->delete_restore_task("nope").error().message,
            "restoration task 'nope' does not exist");

  auto all = store_->list_restore_tasks();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "r1");
  EXPECT_EQ((*all)[2].name, "r3");
  auto page = store_->list_restore_tasks({.limit = 2, .offset = 1});
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].name, "r2");
}

TEST(ProgressDetailText, RoundTripsAndRefusesMalformedText) {
  ProgressDetail p{.step = "verify", .bytes_done = 7, .bytes_total = 0, .bytes_per_second = 3};
  EXPECT_EQ(*parse_progress_detail(progress_detail_text(p)), p);
  EXPECT_EQ(*parse_progress_detail(""), ProgressDetail{});  // rows from before the column
  EXPECT_EQ(parse_progress_detail("{").error().field, "progress_detail");
  EXPECT_EQ(parse_progress_detail(R"({"bytes_done": -1})").error().message,
            "bytes_done is not a byte count");
  EXPECT_EQ(parse_progress_detail(R"({"step": 3})").error().message, "step is not a string");
}

TEST(AttemptPhaseNames, RoundTrip) {
  for (auto p : {AttemptPhase::kChecking, AttemptPhase::kApplying, AttemptPhase::kRolledBack,
                 AttemptPhase::kDamaged, AttemptPhase::kDone})
    EXPECT_EQ(*parse_attempt_phase(to_string(p)), p);
  EXPECT_EQ(to_string(AttemptPhase::kRolledBack), "rolled-back");
  EXPECT_EQ(parse_attempt_phase("Applying").error().field, "phase");
}

TEST_P(StoreTest, AttemptsAndLogs) {
  auto task = store_->create_restore_task(sample_restore_task("r1"));
  ASSERT_TRUE(task);
  RestoreAttempt in{.task_id = task->id,
                    .number = 1,
                    .state = RestoreState::kFailed,
                    .progress = 37,
                    .phase = AttemptPhase::kApplying,
                    .error = "znode /flink/x: connection loss",
                    .safety_copy = "/state/safety/r1-1.tar.gz",
                    .steps = {{.name = "check",
                               .status = "done",
                               .started_at = 1,
                               .ended_at = 2,
                               .detail = "version 1.18.1"},
                              {.name = "apply", .status = "failed", .started_at = 3}},
                    .report = {{"ha",
                                {{"added", {"/a", "/b"}},
                                 {"changed", nlohmann::json::array()},
                                 {"removed", {"/c\"quoted\""}}}}},
                    .started_at = 100,
                    .ended_at = 200,
                    .progress_detail = {.step = "stage",
                                        .bytes_done = 5000000000,
                                        .bytes_total = 6000000000,
                                        .bytes_per_second = 12345}};
  auto a = store_->create_attempt(in);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_GT(a->id, 0);

  auto list = store_->list_attempts(task->id);
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 1u);
  const RestoreAttempt& got = (*list)[0];
  EXPECT_EQ(got.id, a->id);
  EXPECT_EQ(got.task_id, in.task_id);
  EXPECT_EQ(got.number, in.number);
  EXPECT_EQ(got.state, in.state);
  EXPECT_EQ(got.progress, in.progress);
  EXPECT_EQ(got.phase, in.phase);
  EXPECT_EQ(got.progress_detail, in.progress_detail);
  EXPECT_EQ(to_json(got.progress_detail),
            nlohmann::json::parse(R"({"step": "stage", "bytes_done": 5000000000,
                                      "bytes_total": 6000000000, "bytes_per_second": 12345})"));
  EXPECT_EQ(got.error, in.error);
  EXPECT_EQ(got.safety_copy, in.safety_copy);
  ASSERT_EQ(got.steps.size(), 2u);
  EXPECT_EQ(got.steps[0].name, "check");
  EXPECT_EQ(got.steps[0].status, "done");
  EXPECT_EQ(got.steps[0].started_at, 1);
  EXPECT_EQ(got.steps[0].ended_at, 2);
  EXPECT_EQ(got.steps[0].detail, "version 1.18.1");
  EXPECT_EQ(got.steps[1].name, "apply");
  EXPECT_EQ(got.steps[1].ended_at, 0);
  EXPECT_EQ(got.report, in.report);
  EXPECT_EQ(got.started_at, in.started_at);
  EXPECT_EQ(got.ended_at, in.ended_at);

  // Update, then a second attempt; listing is oldest first.
  RestoreAttempt upd = *a;
  upd.steps.push_back({.name = "verify-result", .status = "skipped"});
  upd.report["conf"] = {{"added", {"flink-conf.yaml"}}};
  upd.state = RestoreState::kSucceeded;
  ASSERT_TRUE(store_->update_attempt(upd));
  auto second = store_->create_attempt({.task_id = task->id, .number = 2});
  ASSERT_TRUE(second);
  list = store_->list_attempts(task->id);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].steps.size(), 3u);
  EXPECT_EQ((*list)[0].report, upd.report);
  EXPECT_EQ((*list)[0].state, RestoreState::kSucceeded);
  EXPECT_EQ((*list)[1].number, 2);
  EXPECT_TRUE((*list)[1].report.is_object());
  EXPECT_TRUE((*list)[1].steps.empty());

  auto dup = store_->create_attempt({.task_id = task->id, .number = 2});
  EXPECT_EQ(dup.error().code, Errc::kAlreadyExists);
  auto orphan = store_->create_attempt({.task_id = 999, .number = 1});
  EXPECT_EQ(orphan.error().code, Errc::kNotFound);
  RestoreAttempt ghost;
  ghost.id = 999;
  EXPECT_EQ(store_->update_attempt(ghost).error().code, Errc::kNotFound);

  // Logs.
  ASSERT_TRUE(store_->append_log(a->id, {.at = 5, .level = "info", .text = "checks passed"}));
  ASSERT_TRUE(store_->append_log(a->id, {.at = 6, .level = "error", .text = "apply failed"}));
  ASSERT_TRUE(store_->append_log(second->id, {.level = "warn", .text = "slow"}));
  auto log = store_->list_log(a->id);
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 2u);
  EXPECT_EQ((*log)[0].at, 5);
  EXPECT_EQ((*log)[0].level, "info");
  EXPECT_EQ((*log)[0].text, "checks passed");
  EXPECT_EQ((*log)[1].text, "apply failed");
  EXPECT_GT((*store_->list_log(second->id))[0].at, 0);  // defaults to now
  EXPECT_EQ(store_->append_log(999, {.text = "x"}).error().code, Errc::kNotFound);

  // Deleting the task takes its attempts and logs with it.
  ASSERT_TRUE(store_->delete_restore_task("r1"));
  EXPECT_TRUE(store_->list_attempts(task->id)->empty());
  EXPECT_TRUE(store_->list_log(a->id)->empty());
}

TEST_P(StoreTest, InvalidUtf8InReportIsStoredNotRejected) {
  auto task = store_->create_restore_task(sample_restore_task("r1"));
  ASSERT_TRUE(task);
  RestoreAttempt a{.task_id = task->id, .number = 1};
  a.report = {{"files", {{"added", {std::string("bad\xff name")}}}}};
  auto created = store_->create_attempt(a);
  ASSERT_TRUE(created) << created.error().message;
  auto list = store_->list_attempts(task->id);
  ASSERT_TRUE(list);
  EXPECT_EQ((*list)[0].report["files"]["added"].size(), 1u);
}

// ---- audit and settings ------------------------------------------------------------------

TEST_P(StoreTest, AuditNewestFirst) {
  ASSERT_TRUE(store_->append_audit({.at = 1,
                                    .user = "admin",
                                    .action = "backup.create",
                                    .target = "daily",
                                    .outcome = "ok",
                                    .detail = "LocalDir"}));
  ASSERT_TRUE(store_->append_audit(
      {.user = "op", .action = "restore.start", .target = "r1", .outcome = "failed_precondition"}));
  auto all = store_->list_audit();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].action, "restore.start");
  EXPECT_EQ((*all)[0].outcome, "failed_precondition");
  EXPECT_GT((*all)[0].at, 1);  // defaults to now
  const AuditEntry& first = (*all)[1];
  EXPECT_GT(first.id, 0);
  EXPECT_EQ(first.at, 1);
  EXPECT_EQ(first.user, "admin");
  EXPECT_EQ(first.action, "backup.create");
  EXPECT_EQ(first.target, "daily");
  EXPECT_EQ(first.outcome, "ok");
  EXPECT_EQ(first.detail, "LocalDir");
}

TEST_P(StoreTest, Settings) {
  auto none = store_->get_setting("scheduler.paused");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store_->put_setting("scheduler.paused", "true"));
  ASSERT_TRUE(store_->put_setting("scheduler.paused", "false"));
  EXPECT_EQ(**store_->get_setting("scheduler.paused"), "false");

  EXPECT_EQ(**store_->get_setting("schema_version"), std::to_string(latest_schema_version()));
  EXPECT_EQ(store_->put_setting("schema_version", "0").error().code, Errc::kInvalidArgument);
}

// ---- the file ----------------------------------------------------------------------------

TEST_P(StoreTest, ReopenedDatabaseKeepsData) {
  auto u = store_->create_user("alice", Role::kAdministrator, "hash");
  ASSERT_TRUE(u);
  ASSERT_TRUE(store_->put_token({.token_hash = "t", .user_id = u->id, .expires_at = 1}));
  auto bt = store_->create_backup_task(sample_backup_task("daily"));
  ASSERT_TRUE(bt);
  ASSERT_TRUE(store_->create_backup_record({.task_id = bt->id, .task_name = "daily"}));
  auto rt = store_->create_restore_task(sample_restore_task("r1"));
  ASSERT_TRUE(rt);
  auto at = store_->create_attempt({.task_id = rt->id, .number = 1, .report = {{"k", 1}}});
  ASSERT_TRUE(at);
  ASSERT_TRUE(store_->append_log(at->id, {.level = "info", .text = "hello"}));
  ASSERT_TRUE(store_->append_audit({.user = "alice", .action = "x"}));
  ASSERT_TRUE(store_->put_setting("k", "v"));

  reopen();
  EXPECT_EQ(store_->get_user("alice")->role, Role::kAdministrator);
  EXPECT_EQ(store_->get_token("t")->user_id, u->id);
  EXPECT_EQ(store_->get_backup_task("daily")->params.namenode_ip, "[fd00::1]:9870");
  EXPECT_EQ(store_->list_backup_records(bt->id)->size(), 1u);
  EXPECT_EQ(store_->get_restore_task("r1")->error, "the service is running");
  EXPECT_EQ((*store_->list_attempts(rt->id))[0].report["k"], 1);
  EXPECT_EQ((*store_->list_log(at->id))[0].text, "hello");
  EXPECT_EQ(store_->list_audit()->size(), 1u);
  EXPECT_EQ(**store_->get_setting("k"), "v");
  EXPECT_EQ(**store_->get_setting("schema_version"), std::to_string(latest_schema_version()));
}

TEST_P(SqliteStoreTest, DatabaseFileIsPrivate) {
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST_P(StoreTest, NewerSchemaIsRefused) {
  store_.reset();
  raw_sql("UPDATE settings SET value = '99' WHERE key = 'schema_version'");
  auto s = open_again();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kFailedPrecondition);
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos);
}

TEST_P(StoreTest, UnknownStoredEnumIsCorruption) {
  ASSERT_TRUE(store_->create_user("alice", Role::kViewer, "h"));
  raw_sql("UPDATE users SET role = 'emperor'");
  auto u = store_->get_user("alice");
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().code, Errc::kCorruption);
}

TEST_P(StoreTest, UnknownStoredPhaseIsCorruption) {
  auto task = store_->create_restore_task(sample_restore_task("r1"));
  ASSERT_TRUE(task);
  ASSERT_TRUE(store_->create_attempt({.task_id = task->id, .number = 1}));
  raw_sql("UPDATE restore_attempts SET phase = 'half-done'");
  auto list = store_->list_attempts(task->id);
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().code, Errc::kCorruption);
}

// A database of schema version 4 (before progress_detail) opens, migrates and reads its rows
// with an empty detail.
TEST_P(SqliteStoreTest, SchemaFourMigratesToProgressDetail) {
  auto bt = store_->create_backup_task(sample_backup_task("b1"));
  ASSERT_TRUE(bt);
  auto rec = store_->create_backup_record(
      {.task_id = bt->id, .task_name = "b1", .status = BackupStatus::kSucceeded, .progress = 100});
  ASSERT_TRUE(rec);
  auto rt = store_->create_restore_task(sample_restore_task("r1"));
  ASSERT_TRUE(rt);
  ASSERT_TRUE(store_->create_attempt({.task_id = rt->id,
                                      .number = 1,
                                      .phase = AttemptPhase::kDone,
                                      .progress_detail = {.step = "x"}}));
  store_.reset();
  raw_sql(
      "ALTER TABLE backup_records DROP COLUMN progress_detail;"
      "ALTER TABLE restore_attempts DROP COLUMN progress_detail;"
      "DROP TABLE relay_commands; DROP TABLE group_events;"  // migration 6
      "UPDATE settings SET value = '4' WHERE key = 'schema_version'");
  auto reopened = Store::open(path_);
  ASSERT_TRUE(reopened) << reopened.error().message;
  store_ = std::move(*reopened);
  EXPECT_EQ(**store_->get_setting("schema_version"), std::to_string(latest_schema_version()));
  auto got = store_->get_backup_record(rec->id);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->progress_detail, ProgressDetail{});
  EXPECT_EQ(got->progress, 100);
  auto attempts = store_->list_attempts(rt->id);
  ASSERT_TRUE(attempts) << attempts.error().message;
  ASSERT_EQ(attempts->size(), 1u);
  EXPECT_EQ((*attempts)[0].progress_detail, ProgressDetail{});
  EXPECT_EQ((*attempts)[0].phase, AttemptPhase::kDone);
}

TEST_P(SqliteStoreTest, OpenFailsInMissingDirectory) {
  auto s = Store::open((dir_ / "no" / "such" / "dir" / "x.db").string());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kIOError);
}

// ---- concurrency -------------------------------------------------------------------------

TEST_P(StoreTest, ConcurrentWritesFromThreads) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 15;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string name = "task-" + std::to_string(t) + "-" + std::to_string(i);
        auto task = store_->create_backup_task({.name = name});
        if (!task) {
          ++failures;
          continue;
        }
        if (!store_->create_backup_record({.task_id = task->id, .task_name = name})) ++failures;
        if (!store_->append_audit({.user = "u", .action = "backup.create", .target = name}))
          ++failures;
        if (!store_->list_backup_tasks({.limit = 10})) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto tasks = store_->list_backup_tasks({.limit = 1000});
  ASSERT_TRUE(tasks);
  EXPECT_EQ(tasks->size(), size_t{kThreads * kPerThread});
  std::set<int64_t> ids;
  for (const auto& t : *tasks) {
    ids.insert(t.id);
    EXPECT_EQ(store_->list_backup_records(t.id)->size(), 1u);
  }
  EXPECT_EQ(ids.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(store_->list_audit({.limit = 1000})->size(), size_t{kThreads * kPerThread});
}

TEST_P(StoreTest, TwoConnectionsOnOneDatabase) {
  // Two Stores (as a daemon and a maintenance tool might) write at once; the busy timeout and
  // BEGIN IMMEDIATE keep both correct.
  auto second = open_again();
  ASSERT_TRUE(second) << second.error().message;
  std::atomic<int> failures{0};
  auto writer = [&](Store& s, const std::string& who) {
    for (int i = 0; i < 50; ++i)
      if (!s.append_audit({.user = who, .action = "x"})) ++failures;
  };
  std::thread a(writer, std::ref(*store_), "a");
  std::thread b(writer, std::ref(**second), "b");
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->list_audit({.limit = 1000})->size(), 100u);
}

// ---- fencing (the manager group) ---------------------------------------------------------

TEST_P(StoreTest, FencedWritesFollowTheGroupEpoch) {
  auto fenced7 = store_->fenced(7);
  auto stale = store_->fenced(6);
  if (GetParam() == Backend::kSqlite) {
    // One daemon per state directory: the view passes everything through, with no lease at all.
    ASSERT_TRUE(stale->create_backup_task({.name = "daily"}));
    EXPECT_TRUE(fenced7->get_backup_task("daily"));
    return;
  }
  // No lease yet: no manager may write as the active one.
  auto none = fenced7->create_backup_task({.name = "daily"});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(none.error().message, "fenced: this manager's epoch is 7, the group has no lease");

  raw_sql(
      "INSERT INTO manager_lease (id, epoch, holder, address, backend_pid, renewed_at) "
      "VALUES (1, 7, 'm1', '127.0.0.1:8080', 1, now())");
  auto task = fenced7->create_backup_task({.name = "daily"});
  ASSERT_TRUE(task) << task.error().message;
  ASSERT_TRUE(fenced7->append_audit({.user = "u", .action = "backup.create"}));

  // A manager that lost the lease writes nothing, whatever it writes.
  auto refused = stale->create_backup_task({.name = "weekly"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(refused.error().message, "fenced: this manager's epoch is 6, the group is at 7");
  BackupTask changed = *task;
  changed.suspended = true;
  EXPECT_EQ(stale->update_backup_task(changed).error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(stale->delete_backup_task("daily").error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(stale->put_setting("scheduler.paused", "true").error().code, Errc::kFailedPrecondition);
  // Nothing changed; reads pass through the stale view.
  EXPECT_EQ(*stale->count_backup_tasks(), 1);
  EXPECT_FALSE(stale->get_backup_task("daily")->suspended);
  EXPECT_FALSE(store_->get_setting("scheduler.paused")->has_value());
  EXPECT_EQ(*store_->count_audit(), 1);

  // A take-over moves the group to epoch 8: the old active is fenced from then on.
  raw_sql("UPDATE manager_lease SET epoch = 8, holder = 'm2' WHERE id = 1");
  auto after = fenced7->update_backup_task(changed);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().message, "fenced: this manager's epoch is 7, the group is at 8");
  EXPECT_FALSE(store_->get_backup_task("daily")->suspended);
  EXPECT_TRUE(store_->fenced(8)->update_backup_task(changed));
  EXPECT_TRUE(store_->get_backup_task("daily")->suspended);
}

TEST_P(StoreTest, ManagerLeaseTableExists) {
  // The election (src/group/) expects exactly this table; both dialects have it.
  if (GetParam() == Backend::kSqlite)
    raw_sql(
        "INSERT INTO manager_lease (id, epoch, holder, address, backend_pid, renewed_at) "
        "VALUES (1, 1, 'm', 'a', 2, 1764000000)");
  else
    raw_sql(
        "INSERT INTO manager_lease (id, epoch, holder, address, backend_pid, renewed_at) "
        "VALUES (1, 1, 'm', 'a', 2, now())");
  EXPECT_TRUE(store_->fenced(1)->put_setting("k", "v"));
}

// ---- the command relay and the event feed of a manager group -------------------------------

TEST_P(StoreTest, RelayCommandIsClaimedOnceAndAnsweredByItsClaimer) {
  if (GetParam() == Backend::kPostgres)
    raw_sql(
        "INSERT INTO manager_lease (id, epoch, holder, address, backend_pid, renewed_at) "
        "VALUES (1, 7, 'm1', 'http://a', 1, now())");
  const int64_t now = now_seconds();
  auto created = store_->create_command({.operation = "backup.run",
                                         .target = "nightly",
                                         .args = "",
                                         .user = "ops",
                                         .origin = "http://standby:8080",
                                         .deadline = now + 30});
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->state, CommandState::kPending);
  EXPECT_GT(created->id, 0);

  auto active = store_->fenced(7);
  auto claimed = active->claim_command(7, now);
  ASSERT_TRUE(claimed) << claimed.error().message;
  ASSERT_TRUE(claimed->has_value());
  EXPECT_EQ((*claimed)->id, created->id);
  EXPECT_EQ((*claimed)->state, CommandState::kClaimed);
  EXPECT_EQ((*claimed)->epoch, 7);
  EXPECT_EQ((*claimed)->operation, "backup.run");
  EXPECT_EQ((*claimed)->target, "nightly");
  EXPECT_EQ((*claimed)->user, "ops");
  EXPECT_EQ((*claimed)->origin, "http://standby:8080");
  // At most once: nothing else to take, and the standby can no longer withdraw it.
  EXPECT_FALSE(active->claim_command(7, now)->has_value());
  EXPECT_FALSE(*store_->expire_command(created->id));
  // Only its claimer answers it.
  auto other = store_->finish_command(created->id, 6, 500, "{}", 0);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(other.error().message,
            "relay command " + std::to_string(created->id) + " is not claimed by epoch 6");
  ASSERT_TRUE(active->finish_command(created->id, 7, 202, R"({"id":1})", 0));
  auto done = store_->get_command(created->id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, CommandState::kDone);
  EXPECT_EQ(done->http_status, 202);
  EXPECT_EQ(done->body, R"({"id":1})");
  EXPECT_GT(done->finished_at, 0);
  // Answered once.
  EXPECT_FALSE(active->finish_command(created->id, 7, 500, "{}", 0));
  EXPECT_EQ(store_->get_command(created->id)->http_status, 202);
}

TEST_P(StoreTest, ExpiredOrLateCommandsAreNeverClaimed) {
  const int64_t now = now_seconds();
  auto gave_up = store_->create_command(
      {.operation = "restore.start", .target = "r1", .user = "ops", .deadline = now + 30});
  ASSERT_TRUE(gave_up);
  EXPECT_TRUE(*store_->expire_command(gave_up->id));
  auto late = store_->create_command(
      {.operation = "backup.run", .target = "n", .user = "ops", .deadline = now - 1});
  ASSERT_TRUE(late);
  auto claim = store_->claim_command(1, now);
  ASSERT_TRUE(claim) << claim.error().message;
  EXPECT_FALSE(claim->has_value());
  EXPECT_EQ(store_->get_command(gave_up->id)->state, CommandState::kExpired);
  EXPECT_EQ(store_->get_command(late->id)->state, CommandState::kPending);
  EXPECT_EQ(store_->get_command(999999).error().code, Errc::kNotFound);
}

TEST_P(StoreTest, ANewActiveAnswersTheCommandsItsPredecessorTookAndNeverRunsThem) {
  if (GetParam() == Backend::kPostgres)
    raw_sql(
        "INSERT INTO manager_lease (id, epoch, holder, address, backend_pid, renewed_at) "
        "VALUES (1, 7, 'm1', 'http://a', 1, now())");
  const int64_t now = now_seconds();
  auto taken = store_->create_command(
      {.operation = "service.stop", .target = "prod", .user = "ops", .deadline = now + 30});
  auto waiting = store_->create_command(
      {.operation = "backup.run", .target = "n", .user = "ops", .deadline = now + 30});
  ASSERT_TRUE(taken && waiting);
  ASSERT_TRUE(store_->fenced(7)->claim_command(7, now)->has_value());
  // The active of epoch 7 dies; epoch 8 takes over.
  if (GetParam() == Backend::kPostgres) raw_sql("UPDATE manager_lease SET epoch = 8 WHERE id = 1");
  auto next = store_->fenced(8);
  const std::string body = R"({"error":{"code":"unavailable","message":"fail-over"}})";
  auto failed = next->fail_orphaned_commands(8, 503, body);
  ASSERT_TRUE(failed) << failed.error().message;
  EXPECT_EQ(*failed, 1);
  auto orphan = store_->get_command(taken->id);
  EXPECT_EQ(orphan->state, CommandState::kDone);
  EXPECT_EQ(orphan->http_status, 503);
  EXPECT_EQ(orphan->body, body);
  // The old active can no longer answer it; the pending one goes to the new active.
  EXPECT_FALSE(store_->finish_command(taken->id, 7, 200, "{}", 0));
  auto claimed = next->claim_command(8, now);
  ASSERT_TRUE(claimed->has_value());
  EXPECT_EQ((*claimed)->id, waiting->id);
  EXPECT_EQ(*next->fail_orphaned_commands(8, 503, body), 0);  // its own stays claimed
}

TEST_P(StoreTest, OldCommandsAndEventsArePruned) {
  const int64_t now = now_seconds();
  auto old_cmd = store_->create_command({.operation = "backup.run",
                                         .target = "n",
                                         .user = "u",
                                         .created_at = now - 7200,
                                         .deadline = now - 7170});
  auto new_cmd = store_->create_command(
      {.operation = "backup.run", .target = "n", .user = "u", .deadline = now + 30});
  ASSERT_TRUE(old_cmd && new_cmd);
  ASSERT_TRUE(store_->prune_commands(now - 3600));
  EXPECT_EQ(store_->get_command(old_cmd->id).error().code, Errc::kNotFound);
  EXPECT_TRUE(store_->get_command(new_cmd->id));

  EXPECT_EQ(*store_->last_event_id(), 0);
  auto first = store_->append_event("backup", R"({"id":1,"status":"Running"})");
  auto second = store_->append_event("restore", R"({"name":"r"})");
  ASSERT_TRUE(first && second);
  EXPECT_GT(*second, *first);
  EXPECT_EQ(*store_->last_event_id(), *second);
  auto after = store_->list_events_after(*first);
  ASSERT_TRUE(after);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].id, *second);
  EXPECT_EQ((*after)[0].type, "restore");
  EXPECT_EQ((*after)[0].data, R"({"name":"r"})");
  EXPECT_EQ(store_->list_events_after(0)->size(), 2u);
  raw_sql("UPDATE group_events SET at = at - 7200 WHERE id = " + std::to_string(*first));
  ASSERT_TRUE(store_->prune_events(now - 3600));
  EXPECT_EQ(store_->list_events_after(0)->size(), 1u);
  // Ids never go back, even once the newest rows are gone.
  raw_sql("DELETE FROM group_events");
  EXPECT_GT(*store_->append_event("backup", "{}"), *second);
}

// ---- PostgreSQL specifics ----------------------------------------------------------------

class PostgresStoreTest : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Backends, PostgresStoreTest, ::testing::Values(Backend::kPostgres),
                         backend_name);

TEST_P(PostgresStoreTest, TablesLiveInTheirOwnSchema) {
  auto rows = testsupport::sql(dsn_,
                               "SELECT count(*) FROM information_schema.tables WHERE "
                               "table_schema = '" +
                                   schema_ +
                                   "' AND table_name IN ('users', "
                                   "'backup_tasks', 'restore_log', 'manager_lease', 'settings')");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], "5");
  rows = testsupport::sql(
      dsn_, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'");
  EXPECT_EQ(rows[0][0], "0");
}

TEST_P(PostgresStoreTest, ADeposedActiveClaimsNothing) {
  raw_sql(
      "INSERT INTO manager_lease (id, epoch, holder, address, backend_pid, renewed_at) "
      "VALUES (1, 8, 'm2', 'http://b', 1, now())");
  auto cmd = store_->create_command(
      {.operation = "backup.run", .target = "n", .user = "u", .deadline = now_seconds() + 30});
  ASSERT_TRUE(cmd);
  auto stale = store_->fenced(7)->claim_command(7, now_seconds());
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().message, "fenced: this manager's epoch is 7, the group is at 8");
  EXPECT_EQ(store_->get_command(cmd->id)->state, CommandState::kPending);
}

// A standby's command and an active's answer wake the other side at once (LISTEN/NOTIFY).
TEST_P(PostgresStoreTest, CommandsAnswersAndEventsNotifyTheirChannels) {
  PGconn* listener = PQconnectdb(dsn_.c_str());
  ASSERT_EQ(PQstatus(listener), CONNECTION_OK) << PQerrorMessage(listener);
  for (const char* ch : {"flinkbr_commands", "flinkbr_results", "flinkbr_events"})
    PQclear(PQexec(listener, (std::string("LISTEN ") + ch).c_str()));
  // The next notification's channel and payload, waiting up to 10 s.
  auto next = [&]() -> std::pair<std::string, std::string> {
    for (int i = 0; i < 100; ++i) {
      PQconsumeInput(listener);
      if (PGnotify* n = PQnotifies(listener)) {
        std::pair<std::string, std::string> out{n->relname, n->extra};
        PQfreemem(n);
        return out;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return {};
  };
  raw_sql(
      "INSERT INTO manager_lease (id, epoch, holder, address, backend_pid, renewed_at) "
      "VALUES (1, 3, 'm', 'http://a', 1, now())");
  auto cmd = store_->create_command(
      {.operation = "backup.run", .target = "n", .user = "u", .deadline = now_seconds() + 30});
  ASSERT_TRUE(cmd);
  const std::string id = std::to_string(cmd->id);
  EXPECT_EQ(next(), (std::pair<std::string, std::string>{"flinkbr_commands", id}));
  ASSERT_TRUE(store_->fenced(3)->claim_command(3, now_seconds())->has_value());
  ASSERT_TRUE(store_->fenced(3)->finish_command(cmd->id, 3, 202, "{}", 0));
  EXPECT_EQ(next(), (std::pair<std::string, std::string>{"flinkbr_results", id}));
  auto ev = store_->append_event("backup", "{}");
  ASSERT_TRUE(ev);
  EXPECT_EQ(next(), (std::pair<std::string, std::string>{"flinkbr_events", std::to_string(*ev)}));
  PQfinish(listener);
}

TEST_P(PostgresStoreTest, ReconnectsAfterTheServerRestarts) {
  ASSERT_TRUE(store_->create_user("alice", Role::kViewer, "h"));
  ASSERT_EQ(pg_->restart(), "");
  // The session was cut: the first call fails, retryable, and says why.
  auto cut = store_->get_user("alice");
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, Errc::kUnavailable);
  EXPECT_TRUE(cut.error().retryable);
  // The next call connects again by itself; the data is there.
  auto again = store_->get_user("alice");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->role, Role::kViewer);
  EXPECT_TRUE(store_->create_user("bob", Role::kViewer, "h"));
  EXPECT_EQ(*store_->count_users(), 2);
}

TEST_P(PostgresStoreTest, UnreachableServerIsUnavailableAndHidesThePassword) {
  const std::string secret = "s3cret-Pa55word";
  auto s = Store::open_postgres(
      "postgresql://flinkbr@127.0.0.1:" + std::to_string(testsupport::free_port()) + "/flinkbr",
      secret, schema_);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::kUnavailable);
  EXPECT_NE(s.error().message.find("127.0.0.1"), std::string::npos) << s.error().message;
  EXPECT_EQ(s.error().message.find(secret), std::string::npos) << s.error().message;
  // A wrong database on a live server: the password is not in the message either.
  auto wrong = Store::open_postgres(pg_->dsn("no_such_db"), secret, schema_);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("no_such_db"), std::string::npos) << wrong.error().message;
  EXPECT_EQ(wrong.error().message.find(secret), std::string::npos);
}

TEST_P(PostgresStoreTest, ManagersMigratingAtOnceDoNotRace) {
  // A fresh schema, four managers opening it at the same moment.
  schema_ += "_race";
  constexpr int kManagers = 4;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kManagers);
  for (int i = 0; i < kManagers; ++i)
    threads.emplace_back([&, i] {
      auto s = Store::open_postgres(dsn_, "", schema_);
      if (!s) errors[i] = s.error().message;
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  auto rows = testsupport::sql(
      dsn_, "SELECT value FROM " + schema_ + ".settings WHERE key = 'schema_version'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], std::to_string(latest_schema_version()));
  testsupport::sql(dsn_, "DROP SCHEMA " + schema_ + " CASCADE");
}

TEST_P(PostgresStoreTest, LargeTextRoundTrips) {
  auto task = store_->create_restore_task(sample_restore_task("r1"));
  ASSERT_TRUE(task);
  auto attempt = store_->create_attempt({.task_id = task->id, .number = 1});
  ASSERT_TRUE(attempt);
  // 8 MiB of text with quotes, backslashes, question marks, $1 and non-ASCII.
  std::string big;
  const std::string piece = "it's a \\ \"quoted\" ? $1 Zürich ✓ line\n";
  while (big.size() < (8u << 20)) big += piece;
  ASSERT_TRUE(store_->append_log(attempt->id, {.at = 1, .level = "info", .text = big}));
  auto log = store_->list_log(attempt->id);
  ASSERT_TRUE(log);
  ASSERT_EQ(log->size(), 1u);
  EXPECT_TRUE((*log)[0].text == big);
  RestoreAttempt a = *attempt;
  a.report = {{"added", nlohmann::json::array()}};
  for (int i = 0; i < 20000; ++i) a.report["added"].push_back("/flink/ha/job-" + std::to_string(i));
  ASSERT_TRUE(store_->update_attempt(a));
  EXPECT_EQ((*store_->list_attempts(task->id))[0].report, a.report);
}

TEST_P(PostgresStoreTest, PagingIsStableOverManyRows) {
  raw_sql(
      "INSERT INTO backup_records (task_id, task_name, status, started_at, ended_at, size, "
      "checksum, backup_object, backup_path, system_version, error, progress) "
      "SELECT 1, 'daily', 'Succeeded', i, i, i, '', '', '', '', '', 100 "
      "FROM generate_series(1, 2500) AS i");
  EXPECT_EQ(*store_->count_backup_records(1), 2500);
  std::set<int64_t> seen;
  int64_t previous = INT64_MAX;
  for (int64_t offset = 0;; offset += 1000) {
    auto page = store_->list_backup_records(1, {.limit = 1000, .offset = offset});
    ASSERT_TRUE(page) << page.error().message;
    if (page->empty()) break;
    for (const auto& r : *page) {
      EXPECT_LT(r.id, previous);  // newest first across pages
      previous = r.id;
      seen.insert(r.id);
    }
  }
  EXPECT_EQ(seen.size(), 2500u);
}

}  // namespace
}  // namespace flinkbr::store
