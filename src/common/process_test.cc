#include "common/process.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace flinkbr {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "flinkbr-process-XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  EXPECT_NE(p, nullptr);
  return tmpl;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// True while `pid` exists and is not a zombie (PID 1 of a container may never reap orphans).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

TEST(RunCommand, ExitCodes) {
  for (int code : {0, 1, 3, 42, 255}) {
    auto r = run_command("exit " + std::to_string(code), 5s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->exit_code, code);
    EXPECT_FALSE(r->timed_out);
  }
}

TEST(RunCommand, KilledBySignalGivesMinusOne) {
  auto r = run_command("kill -9 $$", 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_FALSE(r->timed_out);
}

TEST(RunCommand, CapturesStdoutAndStderrInterleaved) {
  auto r = run_command("echo one; echo two >&2; printf three", 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output, "one\ntwo\nthree");
}

TEST(RunCommand, StdinIsEmpty) {
  auto r = run_command("cat; echo done", 5s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output, "done\n");
}

TEST(RunCommand, KeepsTheLast64KiB) {
  // 200000 bytes: lines "000000\n" .. numbered, so the tail is recognizable.
  auto r =
      run_command("i=0; while [ $i -lt 25000 ]; do printf '%07d\\n' $i; i=$((i+1)); done", 30s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->output.size(), 64u * 1024);
  EXPECT_TRUE(r->output.ends_with("0024999\n"));
}

TEST(RunCommand, TimeoutKillsTheWholeGroup) {
  std::string dir = temp_dir();
  std::string pidfile = dir + "/child.pid";
  auto t0 = Clock::now();
  // A grandchild that ignores nothing, and a shell that waits for it.
  auto r = run_command("sleep 1000 & echo $! > " + pidfile + "; echo started; wait", 500ms);
  auto elapsed = Clock::now() - t0;
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, -1);
  EXPECT_EQ(r->output, "started\n");
  EXPECT_LT(elapsed, 2500ms);
  pid_t child = std::stoi(read_file(pidfile));
  for (int i = 0; i < 50 && alive(child); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(alive(child));
  std::filesystem::remove_all(dir);
}

TEST(RunCommand, TimeoutEscalatesToSigkill) {
  std::string dir = temp_dir();
  std::string pidfile = dir + "/child.pid";
  auto t0 = Clock::now();
  auto r = run_command("trap '' TERM; sh -c 'trap \"\" TERM; sleep 1000' & echo $! > " + pidfile +
                           "; while :; do sleep 0.1; done",
                       300ms);
  auto elapsed = Clock::now() - t0;
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_GE(elapsed, 2s);  // SIGTERM was ignored: SIGKILL came after the grace period
  EXPECT_LT(elapsed, 4s);
  pid_t child = std::stoi(read_file(pidfile));
  for (int i = 0; i < 50 && alive(child); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(alive(child));
  std::filesystem::remove_all(dir);
}

TEST(RunCommand, BackgroundDaemonWithRedirectedOutputReturnsAtOnce) {
  std::string dir = temp_dir();
  std::string pidfile = dir + "/daemon.pid";
  auto t0 = Clock::now();
  auto r = run_command("sleep 1000 >/dev/null 2>&1 & echo $! > " + pidfile + "; echo ok", 10s);
  auto elapsed = Clock::now() - t0;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->output, "ok\n");
  EXPECT_LT(elapsed, 1s);
  // The daemon is the service we started: it must survive the command.
  pid_t daemon = std::stoi(read_file(pidfile));
  EXPECT_TRUE(alive(daemon));
  ::kill(daemon, SIGKILL);
  std::filesystem::remove_all(dir);
}

TEST(RunCommand, BackgroundChildHoldingThePipeDoesNotHangUs) {
  std::string dir = temp_dir();
  std::string pidfile = dir + "/child.pid";
  auto t0 = Clock::now();
  auto r = run_command("sleep 1000 & echo $! > " + pidfile + "; echo ok; exit 7", 10s);
  auto elapsed = Clock::now() - t0;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 7);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->output, "ok\n");
  EXPECT_LT(elapsed, 1s);
  ::kill(std::stoi(read_file(pidfile)), SIGKILL);
  std::filesystem::remove_all(dir);
}

TEST(RunCommand, ShellThatClosedItsOutputStillTimesOut) {
  auto t0 = Clock::now();
  auto r = run_command("exec >/dev/null 2>&1; sleep 1000", 300ms);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(Clock::now() - t0, 2500ms);
}

TEST(RunCommand, ConcurrentCallsKeepTheirOutputApart) {
  std::vector<std::thread> threads;
  std::vector<std::string> outputs(8);
  std::vector<int> codes(8, -2);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([i, &outputs, &codes] {
      auto r = run_command(
          "sleep 0.1; echo thread" + std::to_string(i) + "; exit " + std::to_string(i), 10s);
      if (r) {
        outputs[i] = r->output;
        codes[i] = r->exit_code;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(outputs[i], "thread" + std::to_string(i) + "\n");
    EXPECT_EQ(codes[i], i);
  }
}

TEST(RunCommand, NoDescriptorLeaks) {
  auto count_fds = [] {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  size_t before = count_fds();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(run_command("true", 5s));
  ASSERT_TRUE(run_command("sleep 10", 50ms));
  EXPECT_EQ(count_fds(), before);
}

}  // namespace
}  // namespace flinkbr
