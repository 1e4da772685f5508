#include "group/state_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <thread>

namespace flinkbr::group {

namespace {

// The holder's PID as written in the file; "" when it is not there (yet).
std::string read_pid(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid;
}

}  // namespace

Result<StateDirLock> StateDirLock::acquire(const std::string& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return errno_error("creating the state directory " + state_dir, ec.value());
  std::string path = (std::filesystem::path(state_dir) / "flinkbr.lock").string();
  // O_CLOEXEC: service commands the daemon runs must not inherit the lock and keep it after
  // the daemon is gone.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("opening the lock file " + path, errno);
  StateDirLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) return errno_error("locking " + path, err);
    // The holder writes its PID right after it locks: give it a moment.
    std::string pid = read_pid(fd);
    for (int i = 0; i < 20 && pid.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      pid = read_pid(fd);
    }
    return failed_precondition("another flinkbr (PID " + (pid.empty() ? "unknown" : pid) +
                               ") already serves the state directory " + state_dir + " (it holds " +
                               path +
                               "); stop it first, or give this one another server.state_dir");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    return errno_error("writing the PID into " + path, errno);
  return lock;
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace flinkbr::group
