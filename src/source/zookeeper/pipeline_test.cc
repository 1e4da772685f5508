// Tests of the pipelined connection (pipeline.h) against a real ZooKeeper (Debian's package, one
// server for the suite), compared with what the C client reads; and against a fake server on a
// loopback socket for the answers a real one never sends (held connections, bad frames).
#include "source/zookeeper/pipeline.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "source/testing/fake_zookeeper.h"
#include "support/tcp_proxy.h"
#include "support/zookeeper_server.h"

namespace flinkbr::source::zookeeper {
namespace {

namespace fs = std::filesystem;
using testsupport::TcpProxy;
using testsupport::ZkClient;
using testsupport::ZkServer;

ZkServer* g_server = nullptr;

// What one completion handed on, copied out of the pipeline's buffers.
struct Answer {
  int rc = 1;  // 1: not called
  int calls = 0;
  std::optional<std::string> data;
  Stat stat{};
  std::vector<std::string> acl;  // "perms|scheme|id"
  std::vector<std::string> children;
};

// Counts the completions a test waits for.
struct Answers {
  std::mutex m;
  std::condition_variable cv;
  std::vector<Answer> got;
  size_t done = 0;

  explicit Answers(size_t n) : got(n) {}
  Answer& at(const void* p) { return *static_cast<Answer*>(const_cast<void*>(p)); }
  void finished(Answer& a) {
    std::lock_guard lk(m);
    ++a.calls;
    ++done;
    cv.notify_all();
  }
  bool wait_all(std::chrono::seconds limit) {
    std::unique_lock lk(m);
    return cv.wait_for(lk, limit, [&] { return done >= got.size(); });
  }
};
Answers* g_answers = nullptr;

void on_data(int rc, const char* value, int len, const Stat* st, const void* d) {
  Answer& a = g_answers->at(d);
  a.rc = rc;
  if (rc == ZOK) {
    if (value && len >= 0) a.data.emplace(value, static_cast<size_t>(len));
    a.stat = *st;
  }
  g_answers->finished(a);
}
void on_acl(int rc, ACL_vector* acl, Stat* st, const void* d) {
  Answer& a = g_answers->at(d);
  a.rc = rc;
  if (rc == ZOK) {
    for (int i = 0; i < acl->count; ++i)
      a.acl.push_back(std::to_string(acl->data[i].perms) + "|" + acl->data[i].id.scheme + "|" +
                      acl->data[i].id.id);
    a.stat = *st;
  }
  g_answers->finished(a);
}
void on_children(int rc, const String_vector* sv, const Stat* st, const void* d) {
  Answer& a = g_answers->at(d);
  a.rc = rc;
  if (rc == ZOK) {
    for (int i = 0; i < sv->count; ++i) a.children.emplace_back(sv->data[i]);
    std::sort(a.children.begin(), a.children.end());
    a.stat = *st;
  }
  g_answers->finished(a);
}

bool same_stat(const Stat& a, const Stat& b) {
  return a.czxid == b.czxid && a.mzxid == b.mzxid && a.ctime == b.ctime && a.mtime == b.mtime &&
         a.version == b.version && a.cversion == b.cversion && a.aversion == b.aversion &&
         a.ephemeralOwner == b.ephemeralOwner && a.dataLength == b.dataLength &&
         a.numChildren == b.numChildren && a.pzxid == b.pzxid;
}

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { g_server = new ZkServer(); }
  static void TearDownTestSuite() {
    delete g_server;
    g_server = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(g_server->error().empty())
        << "cannot run the pipeline tests against a real ZooKeeper: " << g_server->error();
    root_ = "/" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { g_answers = nullptr; }

  Params params(const std::string& connect, int64_t timeout_s = 10) {
    return Params{.connect = connect, .root = root_, .session_timeout_s = timeout_s};
  }
  // A credentials file of `creds` (mode 0600), for the pipeline's digest authentication.
  std::string creds_file(const std::string& creds) {
    std::string f = g_server->dir() + "/creds-" + root_.substr(1);
    std::ofstream(f) << creds << "\n";
    fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write);
    return f;
  }

  std::string root_;
};

TEST_F(PipelineTest, ReadsWhatTheCClientReads) {
  ZkClient c(g_server->connect(), "flinkbr:s3cret");
  c.create(root_, "r");
  c.create(root_ + "/empty", "");
  c.create(root_ + "/null", std::nullopt);
  c.create(root_ + "/big", std::string(1000 * 1000, 'x'));
  c.create(root_ + "/binary", std::string("a\0b\xff\n", 5));
  ACL acls[] = {{ZOO_PERM_READ, {const_cast<char*>("world"), const_cast<char*>("anyone")}},
                {ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}}};
  ACL_vector acl{2, acls};
  c.create(root_ + "/guarded", "g", ZOO_PERSISTENT, &acl);
  c.create(root_ + "/dir", "d");
  for (int i = 0; i < 1000; ++i) c.create(root_ + "/dir/child-" + std::to_string(i), "");
  c.set(root_ + "/empty", "now set");

  auto s = Session::open(params(g_server->connect()));
  ASSERT_TRUE(s) << s.error().message;
  // The chroot of the connect string applies as the C client applies it; authenticated as the
  // C client is (ZooKeeper masks the digest ids of an ACL to a session without ADMIN on it).
  Params chrooted = params(g_server->connect() + root_);
  chrooted.credentials_file = creds_file("flinkbr:s3cret");
  auto pl = Pipeline::open(chrooted, **s);
  ASSERT_TRUE(pl) << pl.error().message;
  EXPECT_EQ((*pl)->server(), g_server->connect());

  const std::vector<std::string> rels = {"/",        "/empty", "/null",        "/big",    "/binary",
                                         "/guarded", "/dir",   "/dir/child-7", "/missing"};
  Answers answers(3 * rels.size());
  g_answers = &answers;
  for (size_t i = 0; i < rels.size(); ++i) {
    ASSERT_EQ((*pl)->aget(rels[i], on_data, &answers.got[3 * i]), ZOK);
    ASSERT_EQ((*pl)->aget_acl(rels[i], on_acl, &answers.got[3 * i + 1]), ZOK);
    ASSERT_EQ((*pl)->aget_children2(rels[i], on_children, &answers.got[3 * i + 2]), ZOK);
  }
  ASSERT_TRUE(answers.wait_all(std::chrono::seconds(30)));

  std::vector<char> buf(2 * 1000 * 1000);
  for (size_t i = 0; i < rels.size(); ++i) {
    const std::string path = rels[i] == "/" ? root_ : root_ + rels[i];
    SCOPED_TRACE(path);
    const Answer& data = answers.got[3 * i];
    const Answer& acl_a = answers.got[3 * i + 1];
    const Answer& kids = answers.got[3 * i + 2];
    EXPECT_EQ(data.calls, 1);
    EXPECT_EQ(acl_a.calls, 1);
    EXPECT_EQ(kids.calls, 1);

    int len = static_cast<int>(buf.size());
    Stat st{};
    int rc = zoo_get(c.zh(), path.c_str(), 0, buf.data(), &len, &st);
    EXPECT_EQ(data.rc, rc);
    if (rc == ZOK) {
      std::optional<std::string> expected;
      if (len >= 0) expected.emplace(buf.data(), static_cast<size_t>(len));
      EXPECT_EQ(data.data, expected);
      EXPECT_TRUE(same_stat(data.stat, st));
    }

    ACL_vector got_acl{};
    Stat acl_st{};
    rc = zoo_get_acl(c.zh(), path.c_str(), &got_acl, &acl_st);
    EXPECT_EQ(acl_a.rc, rc);
    if (rc == ZOK) {
      std::vector<std::string> expected;
      for (int k = 0; k < got_acl.count; ++k)
        expected.push_back(std::to_string(got_acl.data[k].perms) + "|" + got_acl.data[k].id.scheme +
                           "|" + got_acl.data[k].id.id);
      deallocate_ACL_vector(&got_acl);
      EXPECT_EQ(acl_a.acl, expected);
      EXPECT_TRUE(same_stat(acl_a.stat, acl_st));
    }

    String_vector names{};
    Stat kids_st{};
    rc = zoo_get_children2(c.zh(), path.c_str(), 0, &names, &kids_st);
    EXPECT_EQ(kids.rc, rc);
    if (rc == ZOK) {
      std::vector<std::string> expected(names.data, names.data + names.count);
      deallocate_String_vector(&names);
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(kids.children, expected);
      EXPECT_TRUE(same_stat(kids.stat, kids_st));
    }
  }
  EXPECT_EQ(answers.got[3 * 2].data, std::nullopt) << "null data reads as null";
  EXPECT_EQ(answers.got[3 * 6 + 2].children.size(), 1000u);
  EXPECT_EQ(answers.got[3 * 8].rc, ZNONODE);
  EXPECT_EQ(answers.got[3 * 5 + 1].acl.size(), 2u);
}

// ZooKeeper's digest authentication never fails by itself: wrong credentials are another
// identity, which the ACL then refuses.
TEST_F(PipelineTest, ReadsAsTheSourcesDigestUser) {
  ZkClient c(g_server->connect(), "flinkbr:s3cret");
  ACL only[] = {{ZOO_PERM_ALL, {const_cast<char*>("auth"), const_cast<char*>("")}}};
  ACL_vector acl{1, only};
  c.create(root_, "secret", ZOO_PERSISTENT, &acl);
  auto s = Session::open(params(g_server->connect()));
  ASSERT_TRUE(s) << s.error().message;

  auto read_with = [&](const std::string& creds) {
    Params p = params(g_server->connect());
    if (!creds.empty()) p.credentials_file = creds_file(creds);
    auto pl = Pipeline::open(p, **s);
    EXPECT_TRUE(pl) << pl.error().message;
    if (!pl) return 1;
    Answers answers(1);
    g_answers = &answers;
    EXPECT_EQ((*pl)->aget(root_, on_data, &answers.got[0]), ZOK);
    EXPECT_TRUE(answers.wait_all(std::chrono::seconds(10)));
    if (answers.got[0].rc == ZOK) {
      EXPECT_EQ(answers.got[0].data, "secret");
    }
    return answers.got[0].rc;
  };
  EXPECT_EQ(read_with("flinkbr:s3cret"), ZOK);
  EXPECT_EQ(read_with("flinkbr:wrong"), ZNOAUTH);
  EXPECT_EQ(read_with(""), ZNOAUTH);
}

TEST_F(PipelineTest, ACutConnectionFailsEveryRequestInFlightAndRefusesTheNext) {
  ZkClient c(g_server->connect());
  c.create(root_, std::string(1000, 'v'));
  TcpProxy proxy(g_server->port());
  const std::string via = "127.0.0.1:" + std::to_string(proxy.port());
  auto s = Session::open(params(via));
  ASSERT_TRUE(s) << s.error().message;
  auto pl = Pipeline::open(params(via), **s);
  ASSERT_TRUE(pl) << pl.error().message;

  constexpr size_t kRequests = 20000;
  Answers answers(kRequests);
  g_answers = &answers;
  size_t issued = 0;
  for (; issued < kRequests; ++issued) {
    if (issued == kRequests / 4) proxy.cut();
    if ((*pl)->aget(root_, on_data, &answers.got[issued]) != ZOK) break;
  }
  {
    // Requests refused when issued are not completed.
    std::lock_guard lk(answers.m);
    answers.got.resize(issued);
  }
  ASSERT_TRUE(answers.wait_all(std::chrono::seconds(30))) << "a completion never came";
  size_t lost = 0;
  for (const Answer& a : answers.got) {
    EXPECT_EQ(a.calls, 1);
    EXPECT_TRUE(a.rc == ZOK || a.rc == ZCONNECTIONLOSS) << a.rc;
    lost += a.rc == ZCONNECTIONLOSS;
  }
  EXPECT_GT(lost, 0u);
  Answer late;
  EXPECT_EQ((*pl)->aget(root_, on_data, &late), ZCONNECTIONLOSS);
  EXPECT_EQ(late.calls, 0);
}

TEST_F(PipelineTest, AServerThatStopsAnsweringTimesOutInTwoThirdsOfTheSession) {
  ZkClient c(g_server->connect());
  c.create(root_, "v");
  auto s = Session::open(params(g_server->connect(), 3));
  ASSERT_TRUE(s) << s.error().message;
  auto pl = Pipeline::open(params(g_server->connect(), 3), **s);
  ASSERT_TRUE(pl) << pl.error().message;
  Answers answers(1);
  g_answers = &answers;
  g_server->pause();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ((*pl)->aget(root_, on_data, &answers.got[0]), ZOK);
  bool answered = answers.wait_all(std::chrono::seconds(10));
  auto took = std::chrono::steady_clock::now() - t0;
  g_server->resume();
  ASSERT_TRUE(answered);
  EXPECT_EQ(answers.got[0].rc, ZOPERATIONTIMEOUT);
  EXPECT_GE(took, std::chrono::milliseconds(1900));
  EXPECT_LE(took, std::chrono::milliseconds(4000));
}

TEST_F(PipelineTest, PingsKeepAnIdleSessionAlive) {
  ZkClient c(g_server->connect());
  c.create(root_, "v");
  auto s = Session::open(params(g_server->connect(), 2));
  ASSERT_TRUE(s) << s.error().message;
  auto pl = Pipeline::open(params(g_server->connect(), 2), **s);
  ASSERT_TRUE(pl) << pl.error().message;
  std::this_thread::sleep_for(std::chrono::seconds(5));  // two and a half session timeouts
  Answers answers(1);
  g_answers = &answers;
  ASSERT_EQ((*pl)->aget(root_, on_data, &answers.got[0]), ZOK);
  ASSERT_TRUE(answers.wait_all(std::chrono::seconds(10)));
  EXPECT_EQ(answers.got[0].rc, ZOK);
  EXPECT_EQ(answers.got[0].data, "v");
}

TEST_F(PipelineTest, DestroyingItCompletesEveryRequestOnce) {
  ZkClient c(g_server->connect());
  c.create(root_, std::string(1000, 'v'));
  auto s = Session::open(params(g_server->connect()));
  ASSERT_TRUE(s) << s.error().message;
  auto pl = Pipeline::open(params(g_server->connect()), **s);
  ASSERT_TRUE(pl) << pl.error().message;
  Answers answers(5000);
  g_answers = &answers;
  for (auto& a : answers.got) ASSERT_EQ((*pl)->aget(root_, on_data, &a), ZOK);
  pl->reset();
  ASSERT_TRUE(answers.wait_all(std::chrono::seconds(0)));
  for (const Answer& a : answers.got) {
    EXPECT_EQ(a.calls, 1);
    EXPECT_TRUE(a.rc == ZOK || a.rc == ZCLOSING) << a.rc;
  }
}

TEST_F(PipelineTest, ASilentServerIsRefusedAtOpenWithinTheSessionTimeout) {
  fake::Fake silent([](fake::Peer& c) {  // reads, never answers
    std::string f;
    while (c.read_frame(f)) {
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  auto pl = Pipeline::open_at(params(silent.connect(), 2), silent.connect());
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(pl);
  EXPECT_EQ(pl.error().code, Errc::kUnavailable);
  EXPECT_EQ(pl.error().message, "ZooKeeper at " + silent.connect() + " did not answer within 2 s");
  EXPECT_LE(took, std::chrono::seconds(4));
}

TEST_F(PipelineTest, AnAnswerToNoRequestOrAnOversizedFrameFailsTheConnection) {
  for (bool stray : {true, false}) {
    SCOPED_TRACE(stray ? "an answer to xid 77" : "a frame of 2 GiB");
    fake::Fake server([&](fake::Peer& c) {
      if (!c.hello(4000) || !c.probe(false)) return;
      fake::Request r;
      while (c.next(r))
        if (!c.send(stray ? fake::answer(77, 0) : fake::be32(0x80000000u))) return;
    });
    auto pl = Pipeline::open_at(params(server.connect(), 4), server.connect());
    ASSERT_TRUE(pl) << pl.error().message;
    Answers answers(2);
    g_answers = &answers;
    ASSERT_EQ((*pl)->aget("/a", on_data, &answers.got[0]), ZOK);
    ASSERT_EQ((*pl)->aget("/b", on_data, &answers.got[1]), ZOK);
    ASSERT_TRUE(answers.wait_all(std::chrono::seconds(10)));
    EXPECT_EQ(answers.got[0].rc, ZMARSHALLINGERROR);
    EXPECT_EQ(answers.got[1].rc, ZMARSHALLINGERROR);
    Answer late;
    EXPECT_EQ((*pl)->aget("/c", on_data, &late), ZMARSHALLINGERROR);
  }
}

// Servers before 3.6 have no multiRead: 3.4 drops it, 3.5 closes the session over it. Either
// way the pipeline reads one getData at a time, on a session that works.
TEST_F(PipelineTest, AServerWithoutMultiReadIsReadOneRequestAtATime) {
  for (bool v35 : {false, true}) {
    SCOPED_TRACE(v35 ? "3.5" : "3.4");
    std::atomic<int> sessions{0};
    fake::Fake server([&](fake::Peer& c) {
      const int session = ++sessions;
      if (!c.hello(4000)) return;
      fake::Request r;
      if (v35 && session == 1) {
        if (c.next(r) && r.type == 22) c.send(fake::answer(r.xid, ZUNIMPLEMENTED));
        return;  // and the session is closed
      }
      if (!v35 && !c.probe(false)) return;
      while (c.next(r))
        if (!c.send(r.type == 4 ? fake::answer(r.xid, 0, fake::data_body("v"))
                                : fake::answer(r.xid, ZNONODE)))
          return;
    });
    auto pl = Pipeline::open_at(params(server.connect(), 4), server.connect());
    ASSERT_TRUE(pl) << pl.error().message;
    EXPECT_FALSE((*pl)->multi_read());
    EXPECT_EQ(sessions.load(), v35 ? 2 : 1);
    Answers answers(40);
    g_answers = &answers;
    for (auto& a : answers.got) ASSERT_EQ((*pl)->aget("/a", on_data, &a), ZOK);
    ASSERT_TRUE(answers.wait_all(std::chrono::seconds(10)));
    for (const Answer& a : answers.got) {
      EXPECT_EQ(a.rc, ZOK);
      EXPECT_EQ(a.data, "v");
      EXPECT_EQ(a.stat.version, 7);  // fake::stat()'s
    }
  }
}

TEST_F(PipelineTest, ZooKeeper38GathersGetDataIntoMultiReads) {
  ZkClient c(g_server->connect());
  c.create(root_, "r");
  for (int i = 0; i < 100; ++i) c.create(root_ + "/n" + std::to_string(i), "v" + std::to_string(i));
  auto s = Session::open(params(g_server->connect()));
  ASSERT_TRUE(s) << s.error().message;
  auto pl = Pipeline::open(params(g_server->connect()), **s);
  ASSERT_TRUE(pl) << pl.error().message;
  EXPECT_TRUE((*pl)->multi_read());
  // 100 present and one missing, with getACLs in between: each answer is its own.
  Answers answers(202);
  g_answers = &answers;
  for (int i = 0; i < 101; ++i) {
    const std::string rel = root_ + "/n" + std::to_string(i);
    ASSERT_EQ((*pl)->aget(rel, on_data, &answers.got[2 * i]), ZOK);
    ASSERT_EQ((*pl)->aget_acl(rel, on_acl, &answers.got[2 * i + 1]), ZOK);
  }
  ASSERT_TRUE(answers.wait_all(std::chrono::seconds(10)));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(answers.got[2 * i].rc, ZOK);
    EXPECT_EQ(answers.got[2 * i].data, "v" + std::to_string(i));
    EXPECT_EQ(answers.got[2 * i].stat.dataLength,
              static_cast<int>(("v" + std::to_string(i)).size()));
    EXPECT_EQ(answers.got[2 * i + 1].acl, std::vector<std::string>{"31|world|anyone"});
  }
  EXPECT_EQ(answers.got[200].rc, ZNONODE);
  EXPECT_EQ(answers.got[201].rc, ZNONODE);
}

}  // namespace
}  // namespace flinkbr::source::zookeeper
