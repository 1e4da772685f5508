#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <utility>

#include "common/fd.h"

extern char** environ;

namespace flinkbr {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kOutputLimit = 64 * 1024;
constexpr auto kKillGrace = std::chrono::seconds(2);
// Without a pidfd (kernels before 5.3) the exit of the shell is noticed by polling this often.
constexpr auto kExitPollTick = std::chrono::milliseconds(20);

// posix_spawn attributes and file actions, destroyed on every path.
struct SpawnSetup {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  bool attr_ok = false;
  bool actions_ok = false;
  ~SpawnSetup() {
    if (attr_ok) posix_spawnattr_destroy(&attr);
    if (actions_ok) posix_spawn_file_actions_destroy(&actions);
  }
};

// Keeps the last kOutputLimit bytes; trims lazily so that appending stays amortized O(n).
void append_output(std::string& out, std::string_view data) {
  out.append(data);
  if (out.size() > 2 * kOutputLimit) out.erase(0, out.size() - kOutputLimit);
}

// Reads what is available. Returns false at end of file (every writer closed the pipe).
bool read_available(int fd, std::string& out) {
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      append_output(out, std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    // EAGAIN: drained for now. Any other error: treat as end of output.
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// True once the shell has exited. WNOWAIT leaves it a zombie, so its pid (which is also the
// process group id) cannot be reused before we reap it: kill(-pgid) stays safe until then.
bool has_exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0)
    return errno != EINTR;  // ECHILD: someone else reaped it; nothing left to wait for
  return info.si_pid != 0;
}

int poll_timeout_ms(Clock::duration remaining, bool have_pidfd) {
  if (remaining < Clock::duration::zero()) remaining = Clock::duration::zero();
  if (!have_pidfd && remaining > kExitPollTick) remaining = kExitPollTick;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining).count();
  return static_cast<int>(std::min<int64_t>(ms, 60'000));
}

// Waits until the shell has exited or `deadline`, collecting output meanwhile. Returns whether
// it exited. `pipe_open` becomes false at end of file on the pipe.
bool wait_exit(pid_t pid, int pidfd, int pipe_fd, bool& pipe_open, std::string& out,
               Clock::time_point deadline, bool also_wait_for_eof) {
  for (;;) {
    bool exited = has_exited(pid);
    if (exited && (!also_wait_for_eof || !pipe_open)) return true;
    auto now = Clock::now();
    if (now >= deadline) return exited;
    pollfd fds[2];
    nfds_t n = 0;
    if (pipe_open) fds[n++] = {pipe_fd, POLLIN, 0};
    if (pidfd >= 0 && !exited) fds[n++] = {pidfd, POLLIN, 0};
    int r = ::poll(fds, n, poll_timeout_ms(deadline - now, pidfd >= 0 && !exited));
    if (r < 0 && errno != EINTR) return has_exited(pid);
    if (r > 0 && pipe_open && fds[0].revents != 0) pipe_open = read_available(pipe_fd, out);
  }
}

}  // namespace

Result<CommandResult> run_command(const std::string& command_line,
                                  std::chrono::milliseconds timeout) {
  const auto started = Clock::now();

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return errno_error("creating a pipe", errno);
  Fd read_end(pipe_fds[0]);
  Fd write_end(pipe_fds[1]);
  // Only our end is non-blocking: the write end's file description is the child's stdout.
  if (::fcntl(read_end.get(), F_SETFL, O_NONBLOCK) != 0)
    return errno_error("setting up the output pipe", errno);

  SpawnSetup setup;
  if (int e = posix_spawnattr_init(&setup.attr); e != 0)
    return errno_error("starting a command", e);
  setup.attr_ok = true;
  if (int e = posix_spawn_file_actions_init(&setup.actions); e != 0)
    return errno_error("starting a command", e);
  setup.actions_ok = true;

  // A new process group (pgid = the shell's pid) so that a timeout kills the whole tree; a clean
  // signal state whatever this thread blocked or ignored.
  sigset_t empty_mask, all_signals;
  sigemptyset(&empty_mask);
  sigfillset(&all_signals);
  int e = posix_spawnattr_setflags(
      &setup.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (e == 0) e = posix_spawnattr_setpgroup(&setup.attr, 0);
  if (e == 0) e = posix_spawnattr_setsigmask(&setup.attr, &empty_mask);
  if (e == 0) e = posix_spawnattr_setsigdefault(&setup.attr, &all_signals);
  // stdin from /dev/null; stdout and stderr into the pipe. The original pipe descriptors are
  // O_CLOEXEC, so neither the child nor any process another thread spawns keeps them.
  if (e == 0)
    e = posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&setup.actions, write_end.get(), STDOUT_FILENO);
  if (e == 0) e = posix_spawn_file_actions_adddup2(&setup.actions, write_end.get(), STDERR_FILENO);
  if (e != 0) return errno_error("starting a command", e);

  char sh[] = "/bin/sh";
  char dash_c[] = "-c";
  std::string line = command_line;
  char* argv[] = {sh, dash_c, line.data(), nullptr};
  pid_t pid = -1;
  e = posix_spawn(&pid, sh, &setup.actions, &setup.attr, argv, environ);
  if (e != 0) return errno_error("starting /bin/sh -c", e);
  write_end.reset();

  // glibc's <sys/pidfd.h> lacks extern "C" for C++ in some versions: call the kernel directly.
  // -1 on kernels before 5.3: the exit is then noticed by polling.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  CommandResult result;
  bool pipe_open = true;
  const auto deadline = started + timeout;
  bool exited = wait_exit(pid, pidfd.get(), read_end.get(), pipe_open, result.output, deadline,
                          /*also_wait_for_eof=*/false);
  if (exited) {
    // The shell is gone. A background child may still hold the pipe (a daemon that did not
    // redirect its output): take what is buffered now and do not wait for it.
    if (pipe_open) pipe_open = read_available(read_end.get(), result.output);
  } else {
    result.timed_out = true;
    ::kill(-pid, SIGTERM);
    // Give the group kKillGrace to go away: the shell exited and nobody holds the pipe.
    wait_exit(pid, pidfd.get(), read_end.get(), pipe_open, result.output, Clock::now() + kKillGrace,
              /*also_wait_for_eof=*/true);
    // The shell is not reaped yet, so the group id still names our group only.
    ::kill(-pid, SIGKILL);
    if (pipe_open) read_available(read_end.get(), result.output);
  }

  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r == pid && WIFEXITED(status) && !result.timed_out) result.exit_code = WEXITSTATUS(status);

  if (result.output.size() > kOutputLimit)
    result.output.erase(0, result.output.size() - kOutputLimit);
  return result;
}

}  // namespace flinkbr
