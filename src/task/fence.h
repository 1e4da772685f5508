// The fence: one question asked before every step of a task that touches a cluster and before
// every write of task state — "is this manager still the one allowed to act?". With one daemon
// per state directory the answer is always yes (NoFence). Manager high availability (issue 15)
// answers it with a fencing epoch kept in the database: a manager that was paused and lost its
// lease gets an error here, writes nothing more and steps down. Everything that writes task
// state goes through StateWriter (task/state_writer.h), which asks the fence first.
#pragma once

#include <string>

#include "common/result.h"
#include "store/store.h"

namespace flinkbr::task {

class Fence {
 public:
  virtual ~Fence() = default;
  // ok() while this manager may act; an error (kUnavailable, naming why) once it may not. Called
  // from any task thread: implementations are thread-safe and cheap (no network round trip per
  // call is promised; a cached epoch with a deadline is enough).
  [[nodiscard]] virtual Status check() = 0;
  // The store that task-state writes go to, given the daemon's own `plain` store. A manager of a
  // group answers with its epoch-fenced view (store::Store::fenced), so that a write that passed
  // check() still commits only while the group's epoch is this manager's.
  virtual store::Store& writes_to(store::Store& plain) { return plain; }
  // Who stopped the runs that crash recovery finds Running, for their reason: "the daemon
  // stopped" alone; a group's new active names the fail-over.
  virtual std::string interrupted_by() const { return "the daemon stopped"; }
};

// One daemon per state directory: nothing to fence.
class NoFence final : public Fence {
 public:
  Status check() override { return ok(); }
};

}  // namespace flinkbr::task
