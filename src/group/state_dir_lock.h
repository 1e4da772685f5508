// One daemon per state directory (SQLite mode): `flinkbr serve` holds an exclusive flock on
// <state_dir>/flinkbr.lock for its whole life, with its PID written inside for people and for
// the refusal message. The kernel releases the lock when the process dies, kill -9 included, so
// a stale file never blocks a restart.
//
// Only SQLite mode takes it: in PostgreSQL mode the members of a manager group share the state
// directory and the election (group/election.h) decides which one acts.
#pragma once

#include <string>

#include "common/result.h"

namespace flinkbr::group {

class StateDirLock {
 public:
  // Creates the directory if missing, then takes the lock without waiting. A directory already
  // served: kFailedPrecondition naming the directory and the holder's PID, and nothing in the
  // directory changed. Other failures: kIOError naming the file.
  static Result<StateDirLock> acquire(const std::string& state_dir);

  StateDirLock(StateDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  StateDirLock& operator=(StateDirLock&&) = delete;
  StateDirLock(const StateDirLock&) = delete;
  ~StateDirLock();  // releases the lock (the file stays; its PID is then stale and harmless)

 private:
  explicit StateDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace flinkbr::group
