// The state directory's lock: held by one StateDirLock at a time (also within one process), the
// PID named in the refusal, released by the kernel when the holder dies.
#include "group/state_dir_lock.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

namespace flinkbr::group {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    std::string t = (fs::temp_directory_path() / "flinkbr-lock-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string path;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(StateDirLockTest, ASecondHolderIsRefusedWithThePidOfTheFirst) {
  TempDir tmp;
  std::string dir = tmp.path + "/state";  // created by the lock when missing
  {
    auto first = StateDirLock::acquire(dir);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(slurp(dir + "/flinkbr.lock"), std::to_string(::getpid()) + "\n");
    auto second = StateDirLock::acquire(dir);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::kFailedPrecondition);
    EXPECT_EQ(second.error().message,
              "another flinkbr (PID " + std::to_string(::getpid()) +
                  ") already serves the state directory " + dir + " (it holds " + dir +
                  "/flinkbr.lock); stop it first, or give this one another server.state_dir");
    // Refused, it left the holder's PID in place.
    EXPECT_EQ(slurp(dir + "/flinkbr.lock"), std::to_string(::getpid()) + "\n");
  }
  // Released with its holder.
  EXPECT_TRUE(StateDirLock::acquire(dir));
}

TEST(StateDirLockTest, TheKernelReleasesItWhenTheHolderIsKilled) {
  TempDir tmp;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  if (child == 0) {
    auto held = StateDirLock::acquire(tmp.path);
    char c = held ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    for (;;) ::pause();
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto refused = StateDirLock::acquire(tmp.path);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("(PID " + std::to_string(child) + ")"), std::string::npos)
      << refused.error().message;
  ::kill(child, SIGKILL);
  int status;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(StateDirLock::acquire(tmp.path));
}

TEST(StateDirLockTest, AnUnwritableDirectoryIsAnErrorNamingTheFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes anywhere: no unwritable directory to test";
  TempDir tmp;
  fs::permissions(tmp.path, fs::perms::owner_read | fs::perms::owner_exec);
  auto r = StateDirLock::acquire(tmp.path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kIOError);
  EXPECT_NE(r.error().message.find(tmp.path + "/flinkbr.lock"), std::string::npos);
  fs::permissions(tmp.path, fs::perms::owner_all);
}

}  // namespace
}  // namespace flinkbr::group
