// Tests of the zookeeper source against a real ZooKeeper (Debian's `zookeeper` package) that the
// fixture starts on a free loopback port with a fresh data directory, once for the whole suite.
#include "source/zookeeper/zookeeper_source.h"

#ifndef THREADED
#define THREADED
#endif
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"
#include "source/registry.h"
#include "source/testing/capturing_writer.h"
#include "source/zookeeper/batch_writer.h"
#include "source/zookeeper/session.h"
#include "support/tcp_proxy.h"
#include "support/zookeeper_server.h"

namespace flinkbr::source {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCreds = "flinkbr:s3cret";
// Flink JobIDs: 32 hexadecimal digits.
const std::string kJobA = "0123456789abcdef0123456789abcdef";
const std::string kJobB = "fedcba9876543210fedcba9876543210";

using testsupport::free_port;
using testsupport::ZkServer;
// The suite's client authenticates with kCreds unless told otherwise.
class Client : public testsupport::ZkClient {
 public:
  explicit Client(const std::string& connect, bool auth = true)
      : ZkClient(connect, auth ? kCreds : "") {}
};

ZkServer* g_server = nullptr;

std::string payload_of(const std::string& tar);  // below, with the capture's tests

class ZkSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { g_server = new ZkServer(); }
  static void TearDownTestSuite() {
    delete g_server;
    g_server = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(g_server->error().empty())
        << "cannot run the zookeeper source tests against a real ZooKeeper: " << g_server->error();
    tmp_ =
        g_server->dir() + "/t-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(tmp_ + "/staging");
    creds_ = tmp_ + "/zk.creds";
    std::ofstream(creds_) << kCreds << "\n";
    ::chmod(creds_.c_str(), 0600);
  }

  std::unique_ptr<MetadataSource> make(const std::string& root, std::string connect = {},
                                       std::string timeout = "5s") {
    config::SourceConfig cfg;
    cfg.name = "ha";
    cfg.type = "zookeeper";
    cfg.key_path = "clusters[0].metadata[0]";
    cfg.params = {{"connect", connect.empty() ? g_server->connect() : connect},
                  {"root", root},
                  {"session_timeout", timeout},
                  {"digest_credentials_file", creds_}};
    auto s = create(cfg, config::ClusterConfig{});
    EXPECT_TRUE(s) << s.error().message;
    return std::move(*s);
  }

  TaskContext ctx() {
    TaskContext c;
    c.id = "r1-a1";
    c.staging_dir = tmp_ + "/staging";
    c.log = [this](const std::string& l) { log_.push_back(l); };
    return c;
  }
  // ctx() with the Flink-aware capture on: every pointed file lies outside the backup (no files
  // source), so the capture reads and checks the records and pins nothing.
  TaskContext capture_ctx() {
    TaskContext c = ctx();
    c.pin = &outside_the_backup_;
    return c;
  }
  // The payload of a backup of `src` with the capture on; log_ then holds that backup's lines.
  std::string captured_payload(MetadataSource& src) {
    TaskContext with = capture_ctx();
    log_.clear();
    return payload_of(testing::backup_tar(src, with));
  }
  // A Flink job id (32 hex digits): job `j` of a test's own `base`.
  static std::string job_id(int base, int j) {
    char b[33];
    std::snprintf(b, sizeof b, "%032x", base + j);
    return std::string(b);
  }

  // Creates `path` without waiting for it: big trees in a few seconds. One session's requests
  // are applied in order, so parents go first; a synchronous call after the last waits for all.
  static void create_async(Client& c, const std::string& path, std::optional<std::string> data) {
    ASSERT_EQ(zoo_acreate(
                  c.zh(), path.c_str(), data ? data->data() : nullptr,
                  data ? static_cast<int>(data->size()) : -1, &ZOO_OPEN_ACL_UNSAFE, 0,
                  [](int rc, const char*, const void*) { ASSERT_EQ(rc, ZOK); }, nullptr),
              ZOK);
  }

  // Flink-like tree under `root`; returns the ephemeral holder's client (keep it alive).
  std::unique_ptr<Client> populate(Client& c, const std::string& root) {
    c.create("/flink", std::nullopt);
    c.create(root, "");
    c.create(root + "/jobgraphs", std::nullopt);
    c.create(root + "/jobgraphs/job1", std::string("\0\x01\x02graph\0\xff", 10));
    c.create(root + "/jobgraphs/job2", std::string(3000, '\0'));
    c.create(root + "/checkpoints", std::nullopt);
    c.create(root + "/checkpoints/job1", "");
    for (int i = 0; i < 3; ++i)
      c.create(root + "/checkpoints/job1/checkpoint-", "cp" + std::to_string(i),
               ZOO_PERSISTENT_SEQUENTIAL);
    c.create(root + "/checkpoint-counter", std::nullopt);
    c.create(root + "/checkpoint-counter/job1", std::string("\0\0\0\x05", 4));
    c.create(root + "/running_job_registry", "");
    c.create(root + "/running_job_registry/job1", "RUNNING");
    c.create(root + "/empty", "");
    c.create(root + "/null", std::nullopt);
    // Others may only read; the flinkbr digest user may do everything.
    ACL acls[2] = {{ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}},
                   {ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}}};
    ACL_vector ro{2, acls};
    c.create(root + "/protected", "secret-config", ZOO_PERSISTENT, &ro);
    c.create(root + "/protected/child", "c", ZOO_PERSISTENT, &ro);
    c.create(root + "/leader", std::nullopt);
    auto holder = std::make_unique<Client>(g_server->connect(), false);
    holder->create(root + "/leader/resource_manager_lock", "me", ZOO_EPHEMERAL);
    return holder;
  }

  // Backs up through the real archive writer; returns the tar bytes.
  std::string backup_tar(MetadataSource& src) { return testing::backup_tar(src, ctx()); }

  std::unique_ptr<StagedRestore> stage(MetadataSource& src, const std::string& tar) {
    io::StringReader in(tar);
    auto reader = archive::ArchiveReader::open(in);
    EXPECT_TRUE(reader) << reader.error().message;
    auto staged = src.begin_restore(ctx());
    EXPECT_TRUE(staged) << staged.error().message;
    for (;;) {
      auto e = (*reader)->next();
      EXPECT_TRUE(e) << e.error().message;
      if (!e || !*e) break;
      auto st = (*staged)->add(**e, (*reader)->data());
      EXPECT_TRUE(st) << st.error().message;
    }
    auto st = (*staged)->finish_staging();
    EXPECT_TRUE(st) << st.error().message;
    return std::move(*staged);
  }

  std::string tmp_;
  std::string creds_;
  std::vector<std::string> log_;
  const PinFile outside_the_backup_ = [](const std::string&) -> Result<uint64_t> {
    return failed_precondition("outside the backup");
  };
  // Whether a line of the log contains `part`.
  bool logged_containing(std::string_view part) const {
    for (const auto& l : log_)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
};

TEST_F(ZkSourceTest, FlinkTreeDamagedIsRestoredExactly) {
  const std::string root = "/flink/c1";
  Client c(g_server->connect());
  auto holder = populate(c, root);
  auto src = make(root);
  ASSERT_TRUE(src->check());
  auto before = c.snapshot(root);
  ASSERT_EQ(before.at(root + "/leader/resource_manager_lock"), "E|world:anyone:31");
  ASSERT_EQ(before.at(root + "/null"), "NULL|world:anyone:31");
  ASSERT_EQ(before.at(root + "/empty"), "=|world:anyone:31");

  std::string tar = backup_tar(*src);
  bool logged = false;
  for (const auto& l : log_) logged |= l.find("left out 1 ephemeral znodes") != std::string::npos;
  EXPECT_TRUE(logged);
  // The payload: sorted JSON lines, ephemeral left out, sequential flagged.
  {
    io::StringReader in(tar);
    auto reader = archive::ArchiveReader::open(in);
    ASSERT_TRUE(reader);
    auto e = (*reader)->next();
    ASSERT_TRUE(e && *e);
    EXPECT_EQ((*e)->path, "sources/ha/znodes/part-000001.jsonl");
    std::string part = *io::read_all((*reader)->data(), 1 << 24);
    EXPECT_EQ(part.find("resource_manager_lock"), std::string::npos);
    EXPECT_NE(part.substr(0, part.find('\n')).find("\"path\":\"/\","), std::string::npos) << part;
    EXPECT_NE(part.find("\"path\":\"/checkpoints/job1/checkpoint-0000000000\",\"sequential\":true"),
              std::string::npos)
        << part;
    EXPECT_NE(part.find("\"data\":null,\"path\":\"/null\",\"sequential\":false"),
              std::string::npos);
  }

  // Damage: delete (binary node, a subtree with sequential nodes), change, add, open an ACL.
  c.remove_tree(root + "/jobgraphs/job1");
  c.remove_tree(root + "/checkpoints/job1");
  c.set(root + "/checkpoint-counter/job1", std::string("\0\0\0\x09", 4));
  c.set(root + "/null", "");
  c.set(root + "/empty", std::nullopt);
  c.create(root + "/jobgraphs/job3", "new");
  c.create(root + "/extra", "x");
  c.create(root + "/extra/deep", "y");
  c.set_acl(root + "/protected", &ZOO_OPEN_ACL_UNSAFE);

  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto d = staged->diff();
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->added.count, 5u);  // job1, checkpoints/job1 and its 3 children
  EXPECT_EQ(d->removed.items, (std::vector<std::string>{root + "/extra", root + "/extra/deep",
                                                        root + "/jobgraphs/job3"}));
  EXPECT_EQ(d->changed.items,
            (std::vector<std::string>{root + "/checkpoint-counter/job1", root + "/empty",
                                      root + "/null", root + "/protected"}));
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.snapshot(root), before);
  // An ACL that lets others only read holds again.
  Client anon(g_server->connect(), false);
  EXPECT_EQ(zoo_set(anon.zh(), (root + "/protected").c_str(), "x", 1, -1), ZNOAUTH);
}

TEST_F(ZkSourceTest, RestoresIntoAMissingRootWithRestrictiveAcls) {
  const std::string root = "/flink/c2";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, "r");
  ACL acls[2] = {{ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}},
                 {ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}}};
  ACL_vector ro{2, acls};
  c.create(root + "/ro", std::nullopt, ZOO_PERSISTENT, &ro);
  c.create(root + "/ro/a", "a", ZOO_PERSISTENT, &ro);
  c.create(root + "/ro/a/b", std::string(5, '\0'), ZOO_PERSISTENT, &ro);
  auto src = make(root);
  auto before = c.snapshot(root);
  std::string tar = backup_tar(*src);
  c.remove_tree(root);
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.snapshot(root), before);
}

TEST_F(ZkSourceTest, ManyZnodesGoInSeveralPartsAndBatches) {
  const std::string root = "/flink/c3";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  // 3,000 znodes of 2 KiB: > 4 MiB of base64 (two parts) and > 512 KiB per multi (many batches).
  std::string data(2048, 'z');
  for (int i = 0; i < 30; ++i) {
    std::string dir = root + "/d" + std::to_string(i);
    c.create(dir, std::nullopt);
    for (int j = 0; j < 100; ++j)
      zoo_acreate(
          c.zh(), (dir + "/n" + std::to_string(j)).c_str(), data.data(),
          static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE, 0,
          [](int, const char*, const void*) {}, nullptr);
  }
  struct Stat sync_st;
  zoo_exists(c.zh(), root.c_str(), 0, &sync_st);  // after the pipelined creates
  auto src = make(root);
  std::string tar = backup_tar(*src);
  EXPECT_NE(tar.find("znodes/part-000002.jsonl"), std::string::npos);
  c.remove_tree(root + "/d3");
  c.set(root + "/d4/n7", "changed");
  // Enough deletes and ACL changes that the commit's spool files, read backward (children
  // first), span several of their 64 KiB windows: 3,000 znodes to delete, 2,000 ACLs to reset.
  c.create(root + "/extra", std::nullopt);
  for (int j = 0; j < 3000; ++j)
    zoo_acreate(
        c.zh(), (root + "/extra/x" + std::to_string(j)).c_str(), "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0,
        [](int, const char*, const void*) {}, nullptr);
  // world:anyone without WRITE (ADMIN stays, so the restore may set the ACL back).
  struct ACL no_write {
    ZOO_PERM_ALL & ~ZOO_PERM_WRITE, { const_cast<char*>("world"), const_cast<char*>("anyone") }
  };
  struct ACL_vector no_write_acl {
    1, &no_write
  };
  for (int i = 10; i < 30; ++i)
    for (int j = 0; j < 100; ++j)
      zoo_aset_acl(
          c.zh(), (root + "/d" + std::to_string(i) + "/n" + std::to_string(j)).c_str(), -1,
          &no_write_acl, [](int, const void*) {}, nullptr);
  zoo_exists(c.zh(), root.c_str(), 0, &sync_st);
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(zoo_exists(c.zh(), (root + "/extra").c_str(), 0, &sync_st), ZNONODE);
  // verify() compares every ACL with the backup's; and one seen from outside: open again.
  struct ACL_vector acl {};
  ASSERT_EQ(zoo_get_acl(c.zh(), (root + "/d29/n99").c_str(), &acl, &sync_st), ZOK);
  ASSERT_EQ(acl.count, 1);
  EXPECT_EQ(acl.data[0].perms, ZOO_PERM_ALL);
  deallocate_ACL_vector(&acl);
}

TEST_F(ZkSourceTest, SessionLostDuringCommitIsAnErrorWithTheReason) {
  // A payload of 40,000 znodes of 1 KiB (about 60 MB of JSON lines in 4 MiB parts), staged
  // directly: the commit then creates for long enough to be caught in the middle.
  const std::string root = "/flink/lost";
  auto src = make(root, {}, "2s");
  auto ctx_ = ctx();
  auto staged = src->begin_restore(ctx_);
  ASSERT_TRUE(staged) << staged.error().message;
  const std::string acl = R"({"acl":[{"id":"anyone","perms":31,"scheme":"world"}],"data":")";
  const std::string data(1368, 'A');  // base64 of 1,026 zero bytes
  std::string part;
  size_t part_no = 0;
  auto flush = [&] {
    char name[64];
    std::snprintf(name, sizeof name, "sources/ha/znodes/part-%06zu.jsonl", ++part_no);
    archive::Entry e;
    e.path = name;
    e.size = part.size();
    io::StringReader in(part);
    auto st = (*staged)->add(e, in);
    ASSERT_TRUE(st) << st.error().message;
    part.clear();
  };
  part = acl + R"(","path":"/","sequential":false})"
               "\n";
  part.replace(part.find(R"("data":"")"), 9, R"("data":null)");
  for (int d = 0; d < 40; ++d) {
    std::string dir = "/d" + std::to_string(100 + d);
    part += acl + data + R"(","path":")" + dir + R"(","sequential":false})" + "\n";
    for (int n = 0; n < 1000; ++n) {
      part += acl + data + R"(","path":")" + dir + "/n" + std::to_string(1000 + n) +
              R"(","sequential":false})" + "\n";
      if (part.size() > 4 * 1024 * 1024 - 2048) flush();
    }
  }
  flush();
  auto fin = (*staged)->finish_staging();
  ASSERT_TRUE(fin) << fin.error().message;

  auto commit = std::async(std::launch::async, [&] { return (*staged)->commit(); });
  // Pause the server as soon as the commit has created something, past the session timeout.
  Client c(g_server->connect());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool started = false;
  while (!started && std::chrono::steady_clock::now() < deadline &&
         commit.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
    struct Stat st;
    started = zoo_exists(c.zh(), (root + "/d100").c_str(), 0, &st) == ZOK;
  }
  ASSERT_TRUE(started) << "the commit never began creating";
  g_server->pause();
  bool returned = commit.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  g_server->resume();
  ASSERT_TRUE(returned) << "the commit did not return while the server was not answering";
  Status st = commit.get();
  ASSERT_FALSE(st) << "the commit ended before the server was paused; make the payload larger";
  EXPECT_EQ(st.error().code, Errc::kUnavailable) << st.error().message;
  EXPECT_NE(st.error().message.find("on ZooKeeper at " + g_server->connect() + ": "),
            std::string::npos)
      << st.error().message;
  // The C client reports the lost session as one of these, depending on when it noticed.
  const std::string& m = st.error().message;
  EXPECT_TRUE(m.ends_with(": connection loss") || m.ends_with(": operation timeout") ||
              m.ends_with(": session expired"))
      << m;
  EXPECT_EQ(st.error().message.find("creating "), 0u) << st.error().message;

  // Once the server answers again, committing the same staged payload completes the tree: a
  // partly applied tree is repairable (the engine puts its safety copy back the same way).
  // "Answers again": a JVM woken from SIGSTOP on a loaded machine first expires the sessions it
  // held; wait until a new session reads the tree.
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (bool answers = false; !answers && std::chrono::steady_clock::now() < deadline;) {
    Client fresh(g_server->connect());
    struct Stat rs;
    answers = zoo_exists(fresh.zh(), root.c_str(), 0, &rs) == ZOK;
    if (!answers) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  st = (*staged)->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = (*staged)->verify();
  EXPECT_TRUE(st) << st.error().message;
}

TEST_F(ZkSourceTest, PayloadIsInByteOrderWhereItDiffersFromTreeOrder) {
  // '-' (0x2d) sorts before '/' (0x2f): "/x-y" comes between "/x" and "/x/c", so the payload
  // order interleaves a subtree with a sibling, and the streaming reader must follow it.
  const std::string root = "/flink/order";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const char* p : {"/x", "/x/c", "/x/c/d", "/x-y", "/x-y/e", "/x.z", "/x0", "/x/c-1"})
    c.create(root + p, std::string(p));
  auto src = make(root);
  auto before = c.snapshot(root);
  std::string tar = backup_tar(*src);
  {
    io::StringReader in(tar);
    auto reader = archive::ArchiveReader::open(in);
    ASSERT_TRUE(reader);
    auto e = (*reader)->next();
    ASSERT_TRUE(e && *e);
    std::string part = *io::read_all((*reader)->data(), 1 << 24);
    std::vector<std::string> paths;
    for (size_t at = 0; (at = part.find("\"path\":\"", at)) != std::string::npos;) {
      at += 8;
      paths.push_back(part.substr(at, part.find('"', at) - at));
    }
    EXPECT_EQ(paths, (std::vector<std::string>{"/", "/x", "/x-y", "/x-y/e", "/x.z", "/x/c",
                                               "/x/c-1", "/x/c/d", "/x0"}));
  }
  c.remove_tree(root + "/x");
  c.remove_tree(root + "/x-y");
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.snapshot(root), before);
}

// verify() proves the result without listing the live tree: every staged path read back equal,
// and each znode's Stat.numChildren equal to its staged children. Whatever changes the tree
// between the commit and verify() must still fail it, naming the first difference in path
// order as the full comparison does. The tree has a sibling between a znode and its children
// in byte-wise order ("/x-y" between "/x" and "/x/c"), a restrictive ACL and null data.
TEST_F(ZkSourceTest, VerifyFindsWhatChangedAfterTheCommit) {
  const std::string root = "/flink/tamper";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const char* p : {"/x", "/x/c", "/x/c/d", "/x-y", "/x-y/e", "/x.z", "/x0", "/x/c-1"})
    c.create(root + p, std::string(p));
  c.create(root + "/null", std::nullopt);
  ACL acls[2] = {{ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}},
                 {ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}}};
  ACL_vector ro{2, acls};
  c.create(root + "/ro", "r", ZOO_PERSISTENT, &ro);
  auto src = make(root);
  std::string tar = backup_tar(*src);
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto holder = std::make_unique<Client>(g_server->connect(), false);

  struct Case {
    std::string what;
    std::function<void()> tamper;
    std::string message;  // how verify()'s message starts, "" when it must pass
  };
  const std::vector<Case> cases = {
      {"a znode added under a leaf", [&] { c.create(root + "/x/c/d/new", "n"); },
       root + "/x/c/d/new: present but not in the backup"},
      // "/x" is still open while "/x-y" and "/x.z" are read: its count closes after them.
      {"a znode added under an interleaved parent", [&] { c.create(root + "/x/b", "n"); },
       root + "/x/b: present but not in the backup"},
      {"a znode added under the root", [&] { c.create(root + "/zz", std::nullopt); },
       root + "/zz: present but not in the backup"},
      {"a znode deleted", [&] { c.remove_tree(root + "/x-y/e"); },
       root + "/x-y/e: missing after the restore"},
      // As many children as staged, one of them not staged.
      {"a znode replaced by another",
       [&] {
         c.remove_tree(root + "/x/c-1");
         c.create(root + "/x/c-2", "n");
       },
       root + "/x/c-1: missing after the restore"},
      {"a subtree deleted", [&] { c.remove_tree(root + "/x"); },
       root + "/x: missing after the restore"},
      {"data changed", [&] { c.set(root + "/x.z", "other"); },
       root + "/x.z: data differs from the backup"},
      {"null data became empty", [&] { c.set(root + "/null", ""); },
       root + "/null: data differs from the backup"},
      {"ACL opened", [&] { c.set_acl(root + "/ro", &ZOO_OPEN_ACL_UNSAFE); },
       root + "/ro: ACL world:anyone:31, expected world:anyone:1,digest:flinkbr:"},
      {"ephemeral in place of a persistent znode",
       [&] {
         c.remove_tree(root + "/x0");
         holder->create(root + "/x0", "/x0", ZOO_EPHEMERAL);
       },
       root + "/x0: ephemeral, but persistent in the backup"},
      // The first difference in path order: "/x/c/new" sorts before "/x0".
      {"two differences",
       [&] {
         c.set(root + "/x0", "other");
         c.create(root + "/x/c/new", "n");
       },
       root + "/x/c/new: present but not in the backup"},
      // An ephemeral znode of an open session under a restored znode is left alone, as the
      // commit leaves it.
      {"an ephemeral znode of an open session added",
       [&] { holder->create(root + "/x/c/lock", std::nullopt, ZOO_EPHEMERAL); }, ""},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.what);
    auto st = staged->commit();
    ASSERT_TRUE(st) << st.error().message;
    log_.clear();
    st = staged->verify();
    ASSERT_TRUE(st) << st.error().message;
    for (const auto& l : log_) EXPECT_EQ(l.find("reading it whole"), std::string::npos) << l;
    k.tamper();
    log_.clear();
    st = staged->verify();
    if (k.message.empty()) {
      EXPECT_TRUE(st) << st.error().message;
      for (const auto& l : log_) EXPECT_EQ(l.find("reading it whole"), std::string::npos) << l;
    } else {
      if (st) {
        ADD_FAILURE() << "verify() passed, expected: " << k.message;
        continue;
      }
      EXPECT_EQ(st.error().code, Errc::kCorruption);
      EXPECT_TRUE(st.error().message.starts_with(k.message)) << st.error().message;
    }
    holder = std::make_unique<Client>(g_server->connect(), false);  // its ephemerals go
  }
}

// Every payload part of a backup, in order.
std::string payload_of(const std::string& tar) {
  io::StringReader in(tar);
  auto reader = archive::ArchiveReader::open(in);
  EXPECT_TRUE(reader) << reader.error().message;
  std::string all;
  for (;;) {
    auto e = (*reader)->next();
    EXPECT_TRUE(e) << e.error().message;
    if (!e || !*e) break;
    if ((**e).path.find("/znodes/part-") == std::string::npos) continue;
    all += *io::read_all((*reader)->data(), 1 << 26);
  }
  return all;
}

TEST_F(ZkSourceTest, FlinkCaptureOfAQuietClusterBacksUpWhatThePlainReadDoes) {
  // The capture reads each set of records itself and the tree reader skips them; the checkpoint
  // sets of the layout before 1.15 are captured at their counters, all before the reader reaches
  // the first of them, and wait in a spool file. With Flink quiet, the payload must be the
  // plain read's, byte for byte: nothing lost, repeated or out of order.
  const std::string root = "/flink/capture";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  auto job = [](int j) { return job_id(0xabc000, j); };
  auto id = [](int i) {
    char b[20];
    std::snprintf(b, sizeof b, "%019d", 7 + i);
    return std::string(b);
  };
  const std::string old = root + "/old", now = root + "/new";
  c.create(old, "");
  for (const char* d :
       {"/jobgraphs", "/checkpoints", "/checkpoint-counter", "/running_job_registry"})
    c.create(old + d, std::nullopt);
  for (int j = 0; j < 6; ++j) {
    c.create(old + "/jobgraphs/" + job(j), "graph " + std::to_string(j));
    c.create(old + "/checkpoint-counter/" + job(j), std::string("\0\0\0\x15", 4));
    c.create(old + "/running_job_registry/" + job(j), "RUNNING");
    c.create(old + "/checkpoints/" + job(j), std::nullopt);
    for (int i = 0; i < 20; ++i)
      c.create(old + "/checkpoints/" + job(j) + "/" + id(i), std::string(300, 'a' + i % 26));
  }
  c.create(now, "");
  c.create(now + "/jobgraphs", std::nullopt);
  c.create(now + "/jobs", std::nullopt);
  auto holder = std::make_unique<Client>(g_server->connect(), false);
  for (int j = 0; j < 3; ++j) {
    c.create(now + "/jobgraphs/" + job(j), "graph");
    c.create(now + "/jobgraphs/" + job(j) + "/locks", std::nullopt);
    c.create(now + "/jobs/" + job(j), std::nullopt);
    c.create(now + "/jobs/" + job(j) + "/checkpoint_id_counter", std::string("\0\0\0\x05", 4));
    c.create(now + "/jobs/" + job(j) + "/checkpoints", std::nullopt);
    for (int i = 0; i < 4; ++i) {
      const std::string cp = now + "/jobs/" + job(j) + "/checkpoints/" + id(i);
      c.create(cp, "checkpoint " + std::to_string(i));
      c.create(cp + "/locks", std::nullopt);
    }
  }
  holder->create(now + "/jobs/" + job(0) + "/checkpoints/" + id(3) + "/locks/l", "", ZOO_EPHEMERAL);
  auto src = make(root);
  const std::string plain = payload_of(backup_tar(*src));
  const std::string captured = captured_payload(*src);
  EXPECT_EQ(captured, plain);
  EXPECT_NE(plain.find("/old/checkpoints/" + job(5) + "/" + id(19)), std::string::npos);
  EXPECT_EQ(plain.find("/locks/l\""), std::string::npos);
  EXPECT_TRUE(
      logged_containing("Flink HA capture: 141 records, 0 files pinned, 0 record sets "
                        "read again, 0 records being subsumed left out"))
      << ::testing::PrintToString(log_);
}

TEST_F(ZkSourceTest, FlinkCaptureOfManyLegacyJobsInBatchesKeepsThePlainPayload) {
  // 300 jobs of the layout before 1.15: their checkpoint sets are captured in passes of 256 jobs,
  // each streamed through one window with at most 32 sets in hand, each set's counter read after
  // it. With Flink quiet, the payload is the plain read's, byte for byte, across the pass's seam
  // (256) and the short last pass. (Created asynchronously: one session's requests are applied
  // in order, parents first.)
  const std::string root = "/flink/batches";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const char* d :
       {"/jobgraphs", "/checkpoints", "/checkpoint-counter", "/running_job_registry"})
    c.create(root + d, std::nullopt);
  auto job = [](int j) { return job_id(0xdef000, j); };
  auto create = [&](const std::string& path, std::optional<std::string> data) {
    create_async(c, path, std::move(data));
  };
  for (int j = 0; j < 300; ++j) {
    create(root + "/jobgraphs/" + job(j), "graph " + std::to_string(j));
    create(root + "/checkpoint-counter/" + job(j), std::string("\0\0\0\x03", 4));
    create(root + "/running_job_registry/" + job(j), "RUNNING");
    create(root + "/checkpoints/" + job(j), std::nullopt);
    for (int i = 1; i <= 2; ++i)
      create(root + "/checkpoints/" + job(j) + "/000000000000000000" + std::to_string(i),
             std::string(200, static_cast<char>('a' + (j + i) % 26)));
  }
  c.create(root + "/last", "after the asynchronous creates");
  auto src = make(root);
  const std::string plain = payload_of(backup_tar(*src));
  const std::string captured = captured_payload(*src);
  EXPECT_EQ(captured, plain);
  EXPECT_NE(plain.find("/checkpoints/" + job(299) + "/0000000000000000002"), std::string::npos);
  EXPECT_TRUE(
      logged_containing("Flink HA capture: 900 records, 0 files pinned, 0 record sets "
                        "read again"))
      << ::testing::PrintToString(log_);
}

TEST_F(ZkSourceTest, FlinkCaptureOfManyJobsOf115InBatchesKeepsThePlainPayload) {
  // 300 jobs of Flink 1.15 and later (jobs/<job>/{checkpoint_id_counter,checkpoints}): the
  // capture reads their sets in passes of 256 jobs from the first job on, each set before its
  // counter. With Flink quiet, the payload is the plain read's, byte for byte.
  const std::string root = "/flink/batches115";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const char* d : {"/jobgraphs", "/jobs"}) c.create(root + d, std::nullopt);
  auto job = [](int j) { return job_id(0x115000, j); };
  auto create = [&](const std::string& path, std::optional<std::string> data) {
    create_async(c, path, std::move(data));
  };
  for (int j = 0; j < 300; ++j) {
    create(root + "/jobgraphs/" + job(j), "graph " + std::to_string(j));
    create(root + "/jobgraphs/" + job(j) + "/locks", std::nullopt);
    create(root + "/jobs/" + job(j), std::nullopt);
    create(root + "/jobs/" + job(j) + "/checkpoint_id_counter", std::string("\0\0\0\x03", 4));
    create(root + "/jobs/" + job(j) + "/checkpoints", std::nullopt);
    for (int i = 1; i <= 2; ++i) {
      const std::string cp =
          root + "/jobs/" + job(j) + "/checkpoints/000000000000000000" + std::to_string(i);
      create(cp, std::string(200, static_cast<char>('a' + (j + i) % 26)));
      create(cp + "/locks", std::nullopt);
    }
  }
  c.create(root + "/last", "after the asynchronous creates");
  auto src = make(root);
  const std::string plain = payload_of(backup_tar(*src));
  const std::string captured = captured_payload(*src);
  EXPECT_EQ(captured, plain);
  EXPECT_NE(plain.find("/jobs/" + job(299) + "/checkpoints/0000000000000000002/locks"),
            std::string::npos);
  EXPECT_TRUE(
      logged_containing("Flink HA capture: 900 records, 0 files pinned, 0 record sets "
                        "read again, 0 records being subsumed left out"))
      << ::testing::PrintToString(log_);
}

TEST_F(ZkSourceTest, FlinkCaptureOf115LeavesOutACheckpointBeingSubsumedInAStreamedSet) {
  // Three jobs read in one pass; job 1's older checkpoint has lost its `locks` child (Flink
  // deletes `locks` first when it subsumes a checkpoint). Its set is read again on its own, and
  // the record, still without `locks`, is left out: Flink would skip it, and its file may be
  // gone by the time a restore needs it. Everything else is the plain read's.
  const std::string root = "/flink/subsumed115";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  c.create(root + "/jobs", std::nullopt);
  auto job = [](int j) { return job_id(0x5b5000, j); };
  for (int j = 0; j < 3; ++j) {
    c.create(root + "/jobs/" + job(j), std::nullopt);
    c.create(root + "/jobs/" + job(j) + "/checkpoint_id_counter", std::string("\0\0\0\x03", 4));
    c.create(root + "/jobs/" + job(j) + "/checkpoints", std::nullopt);
    for (int i = 1; i <= 2; ++i) {
      const std::string cp =
          root + "/jobs/" + job(j) + "/checkpoints/000000000000000000" + std::to_string(i);
      c.create(cp, "checkpoint " + std::to_string(i));
      if (j != 1 || i != 1) c.create(cp + "/locks", std::nullopt);
    }
  }
  auto src = make(root);
  const std::string plain = payload_of(backup_tar(*src));
  const std::string gone = "/jobs/" + job(1) + "/checkpoints/0000000000000000001\"";
  ASSERT_NE(plain.find(gone), std::string::npos);
  const std::string captured = captured_payload(*src);
  EXPECT_EQ(captured.find(gone), std::string::npos) << captured;
  std::string expected = plain;
  const size_t at = expected.rfind('\n', expected.find(gone)) + 1;
  expected.erase(at, expected.find('\n', at) + 1 - at);
  EXPECT_EQ(captured, expected);
  EXPECT_TRUE(
      logged_containing("Flink HA capture: 5 records, 0 files pinned, 1 record sets "
                        "read again, 1 records being subsumed left out"))
      << ::testing::PrintToString(log_);
}

// A znode of a checkpoint set that the capture reads ahead (layout before 1.15) and holds as a
// payload line, whose ACL ZooKeeper masked: the backup is refused as the plain read refuses it,
// naming the same znode, code and field.
TEST_F(ZkSourceTest, FlinkCaptureRefusesAMaskedAclInASetReadAheadAsThePlainReadDoes) {
  const std::string root = "/flink/maskedcapture";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const char* d : {"/jobgraphs", "/checkpoints", "/checkpoint-counter"})
    c.create(root + d, std::nullopt);
  auto job = [](int j) { return job_id(0xac1000, j); };
  Client owner(g_server->connect(), false);
  ASSERT_EQ(zoo_add_auth(owner.zh(), "digest", "owner:pw", 8, nullptr, nullptr), ZOK);
  struct Stat sync_st;
  zoo_exists(owner.zh(), "/", 0, &sync_st);
  ACL acls[2] = {{ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}},
                 {ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}}};
  ACL_vector acl{2, acls};
  for (int j = 0; j < 4; ++j) {
    c.create(root + "/checkpoint-counter/" + job(j), std::string("\0\0\0\x02", 4));
    c.create(root + "/checkpoints/" + job(j), std::nullopt);
    const std::string cp = root + "/checkpoints/" + job(j) + "/0000000000000000001";
    if (j == 2)
      owner.create(cp, "masked", ZOO_PERSISTENT, &acl);
    else
      c.create(cp, "checkpoint");
  }
  auto src = make(root);
  testing::CapturingWriter plain_out;
  archive::SourceArchiveWriter plain_archive(plain_out, "ha");
  auto plain = src->backup(plain_archive, ctx());
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find(job(2) + "/0000000000000000001 has the ACL entry"),
            std::string::npos)
      << plain.error().message;

  TaskContext with = capture_ctx();
  testing::CapturingWriter captured_out;
  archive::SourceArchiveWriter captured_archive(captured_out, "ha");
  auto captured = src->backup(captured_archive, with);
  ASSERT_FALSE(captured);
  EXPECT_EQ(captured.error().message, plain.error().message);
  EXPECT_EQ(captured.error().code, Errc::kPermissionDenied);
  EXPECT_EQ(captured.error().field, plain.error().field);
}

// A Flink HA pointer as Flink serializes it (fuzz/corpus/pointer/file.ser): the capture pins the
// file of a record whose data is one.
std::string flink_pointer() {
  const std::string hex =
      "aced00057372003b6f72672e6170616368652e666c696e6b2e72756e74696d652e73746174652e5265747269"
      "657661626c6553747265616d537461746548616e646c6500011e18f155972b0200014c001877726170706564"
      "53747265616d537461746548616e646c657400324c6f72672f6170616368652f666c696e6b2f72756e74696d"
      "652f73746174652f53747265616d537461746548616e646c653b7870737200396f72672e6170616368652e66"
      "6c696e6b2e72756e74696d652e73746174652e66696c6573797374656d2e46696c65537461746548616e646c"
      "6504dc75d862bd1bb30200024a0009737461746553697a654c000866696c655061746874001f4c6f72672f61"
      "70616368652f666c696e6b2f636f72652f66732f506174683b787000000000000004d27372001d6f72672e61"
      "70616368652e666c696e6b2e636f72652e66732e5061746800000000000000010200014c000375726974000e"
      "4c6a6176612f6e65742f5552493b78707372000c6a6176612e6e65742e555249ac01782e439e49ab0300014c"
      "0006737472696e677400124c6a6176612f6c616e672f537472696e673b787074003266696c653a2f64617461"
      "2f68612f70726f642f636f6d706c65746564436865636b706f696e7431613262336334643565366678";
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// The connection to ZooKeeper is cut while the capture streams the checkpoint sets of the layout
// before 1.15 (here: while it pins the files of the third record it checks, the reads of the
// next sets in flight over both of its sessions). The backup fails with the reason, naming a
// znode of the cluster, once every read in flight is answered (the C client answers each with
// "connection loss"): no hang, nothing read after it is freed (run it under ASan too).
TEST_F(ZkSourceTest, FlinkCaptureWhoseConnectionIsCutMidStreamFailsWithTheReason) {
  const std::string root = "/flink/cutstream";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const char* d : {"/jobgraphs", "/checkpoints", "/checkpoint-counter"})
    c.create(root + d, std::nullopt);
  auto job = [](int j) { return job_id(0xc07000, j); };
  const std::string pointer = flink_pointer();
  auto create = [&](const std::string& path, std::optional<std::string> data) {
    create_async(c, path, std::move(data));
  };
  for (int j = 0; j < 120; ++j) {
    create(root + "/checkpoint-counter/" + job(j), std::string("\0\0\0\x09", 4));
    create(root + "/checkpoints/" + job(j), std::nullopt);
    for (int i = 1; i <= 8; ++i)
      create(root + "/checkpoints/" + job(j) + "/000000000000000000" + std::to_string(i), pointer);
  }
  c.create(root + "/last", "after the asynchronous creates");

  testsupport::TcpProxy proxy(g_server->port());
  auto src = make(root, "127.0.0.1:" + std::to_string(proxy.port()));
  int pins = 0;
  PinFile pin = [&](const std::string&) -> Result<uint64_t> {
    if (++pins == 3) proxy.cut();
    return failed_precondition("outside the backup");
  };
  TaskContext with = ctx();
  with.pin = &pin;
  testing::CapturingWriter out;
  archive::SourceArchiveWriter archive(out, "ha");
  Status st = src->backup(archive, with);
  ASSERT_GE(pins, 3) << "the capture pinned nothing: no pointer was read";
  ASSERT_FALSE(st) << "the backup succeeded with its connection cut";
  EXPECT_EQ(st.error().code, Errc::kUnavailable) << st.error().message;
  EXPECT_NE(st.error().message.find(" " + root + "/"), std::string::npos) << st.error().message;
  const std::string& m = st.error().message;
  EXPECT_TRUE(m.ends_with(": connection loss") || m.ends_with(": session expired") ||
              m.ends_with(": invalid zhandle state"))
      << m;
}

// Checkpoint sets of the layout before 1.15 that are not as Flink writes them, read ahead in one
// streamed pass: job ids in upper case (sorting before lower case), a checkpoint directory
// replaced by a znode with data, a counter whose checkpoints directory does not exist and a
// directory without a counter, a record of nearly 1 MB (jute's limit), and a subtree below a
// record deeper than Flink's. With Flink quiet, the payload is the plain read's, byte for byte.
TEST_F(ZkSourceTest, FlinkCaptureOfOddLegacySetsKeepsThePlainPayload) {
  const std::string root = "/flink/oddsets";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const char* d : {"/jobgraphs", "/checkpoints", "/checkpoint-counter"})
    c.create(root + d, std::nullopt);
  auto job = [](int j, bool upper = false) {
    char b[33];
    std::snprintf(b, sizeof b, upper ? "%032X" : "%032x", 0xabcde0 + j);
    return std::string(b);
  };
  const std::string counter("\0\0\0\x04", 4);
  for (int j = 0; j < 6; ++j)
    for (bool upper : {false, true}) {
      c.create(root + "/checkpoint-counter/" + job(j, upper), counter);
      if (j == 1) continue;  // a counter without checkpoints
      const std::string dir = root + "/checkpoints/" + job(j, upper);
      if (j == 2) {  // a directory replaced by a znode with data
        c.create(dir, "not a directory");
        continue;
      }
      c.create(dir, std::nullopt);
      for (int i = 1; i <= 3; ++i)
        c.create(dir + "/000000000000000000" + std::to_string(i), "checkpoint " + job(j, upper));
    }
  c.create(root + "/checkpoints/" + job(9), std::nullopt);  // no counter
  c.create(root + "/checkpoints/" + job(9) + "/0000000000000000001", "alone");
  const std::string big = root + "/checkpoints/" + job(3) + "/0000000000000000002";
  c.set(big, std::string(1000 * 1000, 'b'));
  std::string deep = root + "/checkpoints/" + job(4) + "/0000000000000000001";
  for (const char* d : {"/a", "/b", "/c", "/d", "/e"}) c.create(deep += d, d);

  auto src = make(root);
  const std::string plain = payload_of(backup_tar(*src));
  TaskContext with = capture_ctx();
  const std::string captured = payload_of(testing::backup_tar(*src, with));
  EXPECT_NE(plain.find(job(4) + "/0000000000000000001/a/b/c/d/e\""), std::string::npos);
  EXPECT_NE(plain.find(job(5, true) + "/0000000000000000003\""), std::string::npos);
  EXPECT_EQ(captured.size(), plain.size());
  EXPECT_TRUE(captured == plain);
}

// The task is cancelled while the capture streams the checkpoint sets of the layout before 1.15
// (here: while it pins the files of the second record it checks): the backup ends as cancelled
// once every read in flight is answered.
TEST_F(ZkSourceTest, FlinkCaptureCancelledMidStreamEndsCancelled) {
  const std::string root = "/flink/cancelstream";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const char* d : {"/jobgraphs", "/checkpoints", "/checkpoint-counter"})
    c.create(root + d, std::nullopt);
  auto job = [](int j) { return job_id(0xca0000, j); };
  const std::string pointer = flink_pointer();
  for (int j = 0; j < 40; ++j) {
    c.create(root + "/checkpoint-counter/" + job(j), std::string("\0\0\0\x09", 4));
    c.create(root + "/checkpoints/" + job(j), std::nullopt);
    for (int i = 1; i <= 4; ++i)
      c.create(root + "/checkpoints/" + job(j) + "/000000000000000000" + std::to_string(i),
               pointer);
  }
  auto src = make(root);
  std::atomic<bool> cancelled{false};
  int pins = 0;
  PinFile pin = [&](const std::string&) -> Result<uint64_t> {
    if (++pins == 2) cancelled = true;
    return failed_precondition("outside the backup");
  };
  TaskContext with = ctx();
  with.pin = &pin;
  with.cancelled = &cancelled;
  testing::CapturingWriter out;
  archive::SourceArchiveWriter archive(out, "ha");
  Status st = src->backup(archive, with);
  ASSERT_GE(pins, 2);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kCancelled) << st.error().message;
}

TEST_F(ZkSourceTest, WideZnodeWaitsForItsListingAndIsReadWhole) {
  // "/wide" has more children than the reader lists ahead (about 4,096), so its listing waits
  // until it is the smallest znode not yet handed on; the leaves before it answer around then.
  // Once hung when nothing else was in flight at that moment.
  const std::string root = "/flink/wide";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (int i = 0; i < 20; ++i) c.create(root + "/a" + std::to_string(i), "leaf");
  c.create(root + "/wide", std::nullopt);
  for (int j = 0; j < 5000; ++j)
    zoo_acreate(
        c.zh(), (root + "/wide/w" + std::to_string(j)).c_str(), "w", 1, &ZOO_OPEN_ACL_UNSAFE, 0,
        [](int, const char*, const void*) {}, nullptr);
  c.create(root + "/z", "last");
  auto src = make(root);
  auto before = c.snapshot(root);
  std::string tar = backup_tar(*src);
  c.remove_tree(root + "/wide");
  c.set(root + "/z", "changed");
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.snapshot(root), before);
  EXPECT_EQ(before.size(), 1u + 20 + 1 + 5000 + 1);
}

// A connect string naming several servers (an ensemble): the further read sessions are pinned
// to the first session's server, so that no znode one session lists can be missing for another
// (followers lag). Here both names are the one test server; the round trip must be exact.
TEST_F(ZkSourceTest, EnsembleConnectStringRoundTripsExactly) {
  const std::string root = "/flink/ensemble";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (int i = 0; i < 20; ++i) {
    c.create(root + "/job" + std::to_string(i), "graph " + std::to_string(i));
    for (int j = 0; j < 10; ++j)
      c.create(root + "/job" + std::to_string(i) + "/chk-" + std::to_string(j),
               std::string(100 + j, static_cast<char>('a' + i)));
  }
  auto before = c.snapshot(root);
  const std::string ensemble =
      "localhost:" + std::to_string(g_server->port()) + "," + g_server->connect();
  auto src = make(root, ensemble);
  std::string tar = backup_tar(*src);
  c.remove_tree(root + "/job3");
  c.set(root + "/job4/chk-2", "changed");
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.snapshot(root), before);
}

// A new cluster has no root znode yet, and an operator may have deleted the whole HA tree: the
// check passes, and the restore creates the root and every missing parent.
TEST_F(ZkSourceTest, MissingRootIsCreatedWithItsParentsAlsoOnABrandNewZooKeeper) {
  const std::string root = "/ha-gone/dr";
  Client c(g_server->connect());
  c.create("/ha-gone", std::nullopt);
  c.create(root, "cluster");
  c.create(root + "/jobgraphs", std::nullopt);
  c.create(root + "/jobgraphs/" + kJobA, "graph");
  c.create(root + "/jobgraphs/" + kJobA + "/locks", std::nullopt);
  auto src = make(root);
  auto before = c.snapshot(root);
  std::string tar = backup_tar(*src);

  // The whole HA tree deleted, /ha-gone included.
  c.remove_tree("/ha-gone");
  ASSERT_TRUE(src->check()) << "a missing root must not be refused at the check";
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  auto st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.snapshot(root), before);
  EXPECT_EQ(c.snapshot("/ha-gone").at("/ha-gone"), "NULL|world:anyone:31");

  // A brand new ZooKeeper, without /ha-gone, into which the backup migrates.
  ZkServer fresh;
  ASSERT_TRUE(fresh.error().empty()) << fresh.error();
  auto dst = make(root, fresh.connect());
  ASSERT_TRUE(dst->check());
  staged.reset();  // the same attempt id: its staging files go first
  staged = stage(*dst, tar);
  ASSERT_TRUE(staged);
  st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  Client fc(fresh.connect());
  EXPECT_EQ(fc.snapshot(root), before);
}

// The safety copy of a cluster without its root records the root as absent; putting it back
// removes what the restore created.
TEST_F(ZkSourceTest, AbsentRootIsBackedUpAsAbsentAndRestoredAsRemoved) {
  const std::string root = "/ha-absent/c1";
  auto src = make(root);
  std::string tar = backup_tar(*src);
  bool logged = false;
  for (const auto& l : log_)
    logged |= l == "zookeeper source 'ha': znode " + root + " does not exist on " +
                       g_server->connect() + ": backed up as absent";
  EXPECT_TRUE(logged);
  Client c(g_server->connect());
  c.create("/ha-absent", std::nullopt);
  c.create(root, "x");
  c.create(root + "/a", "y");
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto d = staged->diff();
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->removed.items, (std::vector<std::string>{root, root + "/a"}));
  ASSERT_TRUE(staged->commit());
  auto st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(zoo_exists(c.zh(), root.c_str(), 0, nullptr), ZNONODE);
}

// Flink 1.15 and later skip a job graph or checkpoint node without children ("marked for
// deletion"): every such record comes back with its empty persistent locks child, whether the
// backup held it or not, and the restore's own verification still passes.
TEST_F(ZkSourceTest, FlinkRecordsComeBackWithTheirLocksChild) {
  const std::string root = "/flink/c7";
  const std::string cp = "/checkpoints/0000000000000000005";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  c.create(root + "/jobgraphs", std::nullopt);
  c.create(root + "/jobs", std::nullopt);
  Client jm(g_server->connect(), false);  // the JobManager's session, holding the locks
  for (const std::string& job : {kJobA, kJobB}) {
    c.create(root + "/jobs/" + job, std::nullopt);
    c.create(root + "/jobs/" + job + "/checkpoints", std::nullopt);
    c.create(root + "/jobs/" + job + "/checkpoint_id_counter", std::string("\0\0\0\x06", 4));
  }
  // Job A as Flink writes it: the record, its persistent locks, an ephemeral lock.
  for (const std::string& rec : {"/jobgraphs/" + kJobA, "/jobs/" + kJobA + cp}) {
    c.create(root + rec, "pointer");
    c.create(root + rec + "/locks", std::string("\x7f\0\0\x01", 4));
    jm.create(root + rec + "/locks/6c1b2e9a-lock", std::nullopt, ZOO_EPHEMERAL);
  }
  // Job B's records without their locks child (as a tool that copied only the records left them).
  ACL acls[2] = {{ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}},
                 {ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}}};
  ACL_vector ro{2, acls};
  c.create(root + "/jobgraphs/" + kJobB, "pointer", ZOO_PERSISTENT, &ro);
  c.create(root + "/jobs/" + kJobB + cp, "pointer");
  auto src = make(root);
  std::string tar = backup_tar(*src);
  auto expected = c.snapshot(root);
  for (const std::string& rec : {"/jobgraphs/" + kJobA, "/jobs/" + kJobA + cp})
    ASSERT_EQ(expected.erase(root + rec + "/locks/6c1b2e9a-lock"), 1u);
  // The added locks child is empty and has its record's ACL.
  const std::string& b_graph = expected.at(root + "/jobgraphs/" + kJobB);
  ASSERT_NE(b_graph.find("|digest:flinkbr:"), std::string::npos) << b_graph;
  expected[root + "/jobgraphs/" + kJobB + "/locks"] = "=" + b_graph.substr(b_graph.find('|'));
  expected[root + "/jobs/" + kJobB + cp + "/locks"] = "=|world:anyone:31";

  c.remove_tree(root);
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  bool logged = false;
  for (const auto& l : log_)
    logged |= l.starts_with(
        "zookeeper source 'ha': the backup holds 2 Flink job graph, execution "
        "plan or checkpoint znodes without their persistent 'locks' child");
  EXPECT_TRUE(logged);
  auto d = staged->diff();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->added.count, expected.size());
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.snapshot(root), expected);
}

// Before Flink 1.15 job graphs held their locks as direct ephemeral children: a tree of that
// layout gets no locks child.
TEST_F(ZkSourceTest, LegacyLayoutJobGraphsGetNoLocksChild) {
  const std::string root = "/flink/c8";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  c.create(root + "/jobgraphs", std::nullopt);
  c.create(root + "/jobgraphs/" + kJobA, "pointer");
  c.create(root + "/checkpoints", std::nullopt);
  c.create(root + "/checkpoints/" + kJobA, std::nullopt);
  c.create(root + "/checkpoints/" + kJobA + "/0000000000000000003", "pointer");
  c.create(root + "/checkpoint-counter", std::nullopt);
  c.create(root + "/checkpoint-counter/" + kJobA, std::string("\0\0\0\x04", 4));
  auto src = make(root);
  auto before = c.snapshot(root);
  std::string tar = backup_tar(*src);
  c.remove_tree(root);
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  ASSERT_TRUE(staged->verify());
  EXPECT_EQ(c.snapshot(root), before);
}

// Curator, and so Flink, creates its namespace (/flink/<cluster-id>) and parents as container
// znodes, whose Stat carries a special ephemeralOwner: they are persistent and backed up, the
// root included, and come back as persistent znodes.
TEST_F(ZkSourceTest, ContainerZnodesAreBackedUpAsPersistent) {
  const std::string root = "/ha-containers/c1";
  Client c(g_server->connect());
  c.create("/ha-containers", std::nullopt, ZOO_CONTAINER);
  c.create(root, "namespace", ZOO_CONTAINER);
  c.create(root + "/jobgraphs", std::nullopt, ZOO_CONTAINER);
  c.create(root + "/jobgraphs/" + kJobA, "pointer");
  c.create(root + "/jobgraphs/" + kJobA + "/locks", std::nullopt);
  auto src = make(root);
  std::string tar = backup_tar(*src);
  bool logged = false;
  for (const auto& l : log_) logged |= l == "zookeeper source 'ha': left out 0 ephemeral znodes";
  EXPECT_TRUE(logged);
  c.remove_tree("/ha-containers");
  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  auto st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.snapshot(root),
            (std::map<std::string, std::string>{
                {root, "=namespace|world:anyone:31"},
                {root + "/jobgraphs", "NULL|world:anyone:31"},
                {root + "/jobgraphs/" + kJobA, "=pointer|world:anyone:31"},
                {root + "/jobgraphs/" + kJobA + "/locks", "NULL|world:anyone:31"}}));
}

// A JobManager that died (or froze) keeps its session, and so its ephemeral znodes, until the
// session expires. Its leader znodes are reported at the check; the restore neither fails nor
// waits for them: the stale locks under restored records go (a restored cluster starts
// unlocked), leader znodes whose parent stays are left to their session, the others go with
// their parent.
TEST_F(ZkSourceTest, LingeringEphemeralsOfAnOpenSessionNeitherFailNorHangTheRestore) {
  const std::string root = "/flink/c9";
  const std::string cp = "/jobs/" + kJobA + "/checkpoints/0000000000000000042";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const std::string& p : std::vector<std::string>{"/jobgraphs", "/jobs", "/jobs/" + kJobA,
                                                       "/jobs/" + kJobA + "/checkpoints", "/leader",
                                                       "/leader/latch", "/leader/dispatcher"})
    c.create(root + p, std::nullopt);
  auto jm = std::make_unique<Client>(g_server->connect(), false);  // never closed below
  for (const std::string& rec : {"/jobgraphs/" + kJobA, cp}) {
    c.create(root + rec, "pointer");
    c.create(root + rec + "/locks", std::nullopt);
    jm->create(root + rec + "/locks/0b6a-lock", std::nullopt, ZOO_EPHEMERAL);
  }
  jm->create(root + "/leader/dispatcher/connection_info", "akka://jm", ZOO_EPHEMERAL);
  std::string latch =
      jm->create(root + "/leader/latch/_c_5e1f-latch-", std::nullopt, ZOO_EPHEMERAL_SEQUENTIAL);
  auto src = make(root);
  std::string tar = backup_tar(*src);
  auto expected = c.snapshot(root);
  // Appeared after the backup: a leader znode whose persistent parent the restore removes.
  c.create(root + "/leader/rest_server", std::nullopt);
  jm->create(root + "/leader/rest_server/connection_info", "http://jm", ZOO_EPHEMERAL);

  // The check reports the leader znodes of the open session.
  char session[32];
  std::snprintf(session, sizeof session, "0x%llx",
                static_cast<unsigned long long>(zoo_client_id(jm->zh())->client_id));
  auto warnings = src->live_warnings();
  ASSERT_TRUE(warnings) << warnings.error().message;
  const std::string tail =
      " belongs to the open ZooKeeper session " + std::string(session) +
      ": a JobManager of this cluster may still be running (or stopped less than a session "
      "timeout ago)";
  EXPECT_EQ(*warnings, (std::vector<std::string>{
                           "zookeeper source 'ha': the ephemeral leader znode " + root +
                               "/leader/dispatcher/connection_info" + tail,
                           "zookeeper source 'ha': the ephemeral leader znode " + latch + tail,
                           "zookeeper source 'ha': the ephemeral leader znode " + root +
                               "/leader/rest_server/connection_info" + tail}));

  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  for (const std::string& rec : {"/jobgraphs/" + kJobA, cp}) {
    EXPECT_EQ(zoo_exists(c.zh(), (root + rec + "/locks/0b6a-lock").c_str(), 0, nullptr), ZNONODE);
    ASSERT_EQ(expected.erase(root + rec + "/locks/0b6a-lock"), 1u);
  }
  EXPECT_EQ(c.snapshot(root), expected);  // leader znodes of the open session kept
  std::vector<std::string> want = {
      "zookeeper source 'ha': deleted 2 ephemeral Flink lock znodes left by JobManager sessions "
      "that are not closed yet: a restored cluster starts unlocked",
      "zookeeper source 'ha': left 2 ephemeral znodes of open sessions alone (leader latches, "
      "connection info): they vanish when their sessions end or expire"};
  for (const auto& w : want) EXPECT_NE(std::find(log_.begin(), log_.end(), w), log_.end()) << w;

  // Once the session is closed, nothing is reported.
  jm.reset();
  warnings = src->live_warnings();
  ASSERT_TRUE(warnings);
  EXPECT_TRUE(warnings->empty());
}

// The same with a JobManager-like Java process that holds a session and is then frozen
// (SIGSTOP): its session stays open on the server until it expires (30 s), its locks and leader
// znodes with it. The restore neither fails nor waits for them.
TEST_F(ZkSourceTest, EphemeralsOfAFrozenJavaClientNeitherFailNorHangTheRestore) {
  const std::string root = "/flink/c11";
  const std::string lock = root + "/jobgraphs/" + kJobA + "/locks/frozen-lock";
  const std::string leader = root + "/leader/dispatcher/connection_info";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  for (const std::string& p :
       std::vector<std::string>{"/jobgraphs", "/jobgraphs/" + kJobA,
                                "/jobgraphs/" + kJobA + "/locks", "/leader", "/leader/dispatcher"})
    c.create(root + p,
             p == "/jobgraphs/" + kJobA ? std::optional<std::string>("pointer") : std::nullopt);
  auto src = make(root);
  std::string tar = backup_tar(*src);
  auto expected = c.snapshot(root);

  // ZooKeeper's own Java client, reading commands from a pipe, in a process group of its own.
  // Nothing between fork and exec allocates: other threads of this process may hold malloc's lock.
  const std::string connect = g_server->connect();
  int in[2];
  ASSERT_EQ(::pipe(in), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in[0], 0);
    ::close(in[0]);
    ::close(in[1]);
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execlp("java", "java", "-cp", testsupport::kZooKeeperJar,
             "org.apache.zookeeper.ZooKeeperMain", "-server", connect.c_str(),
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(in[0]);
  struct Reap {
    pid_t pid;
    int fd;
    ~Reap() {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ::close(fd);
    }
  } reap{pid, in[1]};
  std::string cmds = "create -e " + lock + " x\ncreate -e " + leader + " akka://jm\n";
  ASSERT_EQ(::write(in[1], cmds.data(), cmds.size()), static_cast<ssize_t>(cmds.size()));
  struct Stat leader_stat {};
  for (int i = 0; i < 600; ++i) {  // the JVM starts in a few seconds; give up after a minute
    if (zoo_exists(c.zh(), lock.c_str(), 0, nullptr) == ZOK &&
        zoo_exists(c.zh(), leader.c_str(), 0, &leader_stat) == ZOK)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(leader_stat.ephemeralOwner, 0) << "the Java client did not create its znodes";
  ASSERT_EQ(::kill(-pid, SIGSTOP), 0);

  auto warnings = src->live_warnings();
  ASSERT_TRUE(warnings) << warnings.error().message;
  ASSERT_EQ(warnings->size(), 1u);
  EXPECT_NE((*warnings)[0].find(leader), std::string::npos) << (*warnings)[0];

  auto staged = stage(*src, tar);
  ASSERT_TRUE(staged);
  auto st = staged->commit();
  ASSERT_TRUE(st) << st.error().message;
  st = staged->verify();
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(zoo_exists(c.zh(), lock.c_str(), 0, nullptr), ZNONODE);
  expected[leader] = "E|world:anyone:31";  // still the frozen session's
  EXPECT_EQ(c.snapshot(root), expected);
}

// ZooKeeper masks the digest ids of an ACL ("owner:x") to a session without ADMIN permission
// on the znode. A backup never records such an ACL: it names the znode and what to configure.
TEST_F(ZkSourceTest, MaskedDigestAclIsRefusedNamingTheZnode) {
  const std::string root = "/flink/c10";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  c.create(root, std::nullopt);
  Client owner(g_server->connect(), false);
  ASSERT_EQ(zoo_add_auth(owner.zh(), "digest", "owner:pw", 8, nullptr, nullptr), ZOK);
  struct Stat sync_st;
  zoo_exists(owner.zh(), "/", 0, &sync_st);
  ACL acls[2] = {{ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}},
                 {ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}}};
  ACL_vector acl{2, acls};
  owner.create(root + "/secret", "s", ZOO_PERSISTENT, &acl);

  auto src = make(root);
  testing::CapturingWriter captured;
  archive::SourceArchiveWriter out(captured, "ha");
  auto st = src->backup(out, ctx());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kPermissionDenied);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[0].digest_credentials_file");
  EXPECT_EQ(st.error().message,
            "znode " + root +
                "/secret has the ACL entry digest:owner:x, which ZooKeeper masked because these "
                "credentials lack ADMIN permission on it: a backup cannot record its ACL. "
                "Configure digest_credentials_file with the digest credentials (user:password) "
                "of the znode's owner 'owner' or of a ZooKeeper super user");

  // With the owner's credentials the real digest is read, and the backup round-trips it.
  std::ofstream(creds_) << "owner:pw\n";
  auto as_owner = make(root);
  auto before = owner.snapshot(root);
  ASSERT_EQ(before.at(root + "/secret").find(":x:"), std::string::npos);
  std::string tar = backup_tar(*as_owner);
  owner.remove_tree(root + "/secret");
  auto staged = stage(*as_owner, tar);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  ASSERT_TRUE(staged->verify());
  EXPECT_EQ(owner.snapshot(root), before);
}

// An ephemeral znode may vanish between the restore's comparison and its delete (its session
// expired): that delete is no failure, while a plain delete of a missing znode still is.
TEST_F(ZkSourceTest, DeleteIfExistsToleratesAVanishedZnode) {
  zookeeper::Params p{g_server->connect(), "/", 5, creds_};
  auto session = zookeeper::Session::open(p);
  ASSERT_TRUE(session) << session.error().message;
  Client c(g_server->connect());
  c.create("/vanishing", "x");
  {
    zookeeper::Writer w(**session);
    ASSERT_TRUE(w.add({zookeeper::Op::kDeleteIfExists, "/vanishing", std::nullopt, nullptr}));
    ASSERT_TRUE(w.add({zookeeper::Op::kDeleteIfExists, "/never-was", std::nullopt, nullptr}));
    auto st = w.finish();
    ASSERT_TRUE(st) << st.error().message;
  }
  EXPECT_EQ(zoo_exists(c.zh(), "/vanishing", 0, nullptr), ZNONODE);
  zookeeper::Writer w(**session);
  ASSERT_TRUE(w.add({zookeeper::Op::kDelete, "/never-was", std::nullopt, nullptr}));
  auto st = w.finish();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound);
  EXPECT_EQ(st.error().message,
            "deleting /never-was on ZooKeeper at " + g_server->connect() + ": no node");
}

TEST_F(ZkSourceTest, ServerDownIsUnavailableAtCheck) {
  std::string down = "127.0.0.1:" + std::to_string(free_port());
  auto src = make("/flink/c1", down, "1s");
  auto t0 = std::chrono::steady_clock::now();
  auto st = src->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kUnavailable);
  EXPECT_EQ(st.error().message, "ZooKeeper at " + down + " did not answer within 1 s");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(ZkSourceTest, UnauthorizedReadIsPermissionDenied) {
  const std::string root = "/flink/c4";
  Client c(g_server->connect());
  zoo_create(c.zh(), "/flink", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
  ACL only[1] = {{ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}}};
  ACL_vector acl{1, only};
  c.create(root, "x", ZOO_PERSISTENT, &acl);
  std::ofstream(creds_) << "intruder:wrong\n";
  auto st = make(root)->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kPermissionDenied) << st.error().message;
}

TEST(ZkSourceConfig, ValidatesParams) {
  config::SourceConfig cfg;
  cfg.name = "ha";
  cfg.type = "zookeeper";
  cfg.key_path = "clusters[0].metadata[0]";
  cfg.params = {{"connect", "127.0.0.1:2181"}, {"root", "/flink/c"}, {"bogus", "1"}};
  auto st = validate_config(cfg);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[0].bogus");
  cfg.params = {{"connect", "127.0.0.1:2181"}, {"root", "flink"}};
  st = validate_config(cfg);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[0].root");
  cfg.params = {{"root", "/flink"}};
  st = validate_config(cfg);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[0].connect");
  cfg.params = {{"connect", "h:1"}, {"root", "/flink"}, {"session_timeout", "soon"}};
  st = validate_config(cfg);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().field, "clusters[0].metadata[0].session_timeout");
  cfg.params = {{"connect", "h:1"}, {"root", "/flink/c"}, {"session_timeout", "10s"}};
  EXPECT_TRUE(validate_config(cfg));
}

TEST(ZkSourceConfig, CredentialsFileMustBe0600) {
  std::string tmpl = (fs::temp_directory_path() / "flinkbr-zkc-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  std::string file = tmpl + "/creds";
  std::ofstream(file) << kCreds;
  ::chmod(file.c_str(), 0644);
  config::SourceConfig cfg;
  cfg.name = "ha";
  cfg.type = "zookeeper";
  cfg.params = {
      {"connect", "127.0.0.1:1"}, {"root", "/flink/c"}, {"digest_credentials_file", file}};
  auto src = create(cfg, config::ClusterConfig{});
  ASSERT_TRUE(src);
  auto st = (*src)->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kPermissionDenied);
  EXPECT_NE(st.error().message.find(file), std::string::npos) << st.error().message;
  fs::remove_all(tmpl);
}

TEST(ZkSourceStaging, RefusesMalformedPayloads) {
  std::string tmpl = (fs::temp_directory_path() / "flinkbr-zks-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  config::SourceConfig cfg;
  cfg.name = "ha";
  cfg.type = "zookeeper";
  cfg.params = {{"connect", "127.0.0.1:1"}, {"root", "/flink/c"}};
  auto src = create(cfg, config::ClusterConfig{});
  ASSERT_TRUE(src);
  const std::string acl = R"("acl":[{"id":"anyone","perms":31,"scheme":"world"}])";
  auto line = [&](const std::string& path, const std::string& data) {
    return "{" + acl + R"(,"data":)" + data + R"(,"path":")" + path + R"(","sequential":false})" +
           "\n";
  };
  struct Case {
    std::string part_name;
    std::string content;
    std::string why;
  };
  std::vector<Case> cases = {
      {"znodes/part-000001.jsonl", line("/", "null") + line("/a", "\"!!\""), "base64"},
      {"znodes/part-000001.jsonl", line("/", "null") + line("/b", "null") + line("/a", "null"),
       "out of order"},
      {"znodes/part-000001.jsonl", line("/", "null") + line("/a/b", "null"), "no parent"},
      // "/a-b" sorts between "/a" and "/a/c": the parent of "/a/c" is looked up in the staged
      // index on disk, not among the ancestors of the previous path.
      {"znodes/part-000001.jsonl", line("/", "null") + line("/a-b", "null") + line("/a/c", "null"),
       "/a/c has no parent"},
      {"znodes/part-000001.jsonl", line("/a", "null"), "root"},
      {"znodes/part-000001.jsonl", line("/", "null") + line("/../x", "null"), "invalid path"},
      {"znodes/part-000002.jsonl", line("/", "null"), "unexpected entry"},
      {"znodes/part-000001.jsonl", "{\"path\":\"/\"}\n", "no data"},
  };
  for (const auto& c : cases) {
    TaskContext ctx;
    ctx.id = "r1-a1";
    ctx.staging_dir = tmpl;
    auto staged = (*src)->begin_restore(ctx);
    ASSERT_TRUE(staged) << staged.error().message;
    archive::Entry e;
    e.path = "sources/ha/" + c.part_name;
    e.size = c.content.size();
    io::StringReader data(c.content);
    Status st = (*staged)->add(e, data);
    if (st) st = (*staged)->finish_staging();
    ASSERT_FALSE(st) << c.why;
    EXPECT_EQ(st.error().code, Errc::kCorruption) << c.why;
    EXPECT_NE(st.error().message.find(c.why), std::string::npos) << st.error().message;
  }
  // A well-formed payload stages; null and empty data stay apart.
  TaskContext ctx;
  ctx.id = "r1-a2";
  ctx.staging_dir = tmpl;
  auto staged = (*src)->begin_restore(ctx);
  ASSERT_TRUE(staged);
  std::string ok_part = line("/", "null") + line("/a", "\"\"") + line("/a-b", "null") +
                        line("/a/c", "null") + line("/b", "\"AAEC\"");
  archive::Entry e;
  e.path = "sources/ha/znodes/part-000001.jsonl";
  e.size = ok_part.size();
  io::StringReader data(ok_part);
  ASSERT_TRUE((*staged)->add(e, data));
  auto st = (*staged)->finish_staging();
  EXPECT_TRUE(st) << st.error().message;
  staged->reset();
  EXPECT_TRUE(fs::is_empty(tmpl));  // the staging file goes with the staged restore
  fs::remove_all(tmpl);
}

}  // namespace
}  // namespace flinkbr::source
