// The manager group's election: which of several `flinkbr serve` processes sharing one PostgreSQL
// database is the active one (runs tasks, schedules, crash recovery) and which are standbys.
//
// Each member keeps a dedicated libpq session (never the store's) and competes for one
// session-level advisory lock. The member holding it bumps the fencing epoch in the lease row
// (table manager_lease, one row) and from then on renews the row's renewed_at every `renew`.
// A paused holder keeps its session and so its lock for ever; a standby that cannot take the
// lock therefore reads the lease, and once the database's own clock says the lease went
// unrenewed for longer than `lease_timeout`, it ends the stale holder's backend
// (pg_terminate_backend) and takes the lock itself.
//
// Why at most one member acts at a time (docs/design.md, "The manager group", says it at length):
//  1. The epoch lives in the database and only the holder of the advisory lock bumps it. Every
//     state change of a task is written by the store in a transaction that reads the lease row
//     FOR SHARE and aborts unless the epoch is the writer's. The bump takes the row's lock, so a
//     write either commits before the new epoch exists or sees it and writes nothing.
//  2. Steps that touch a cluster (outside the database) are guarded by check(), a purely local
//     test: the member's own monotonic clock has not passed last-renewal-start + lease_timeout
//     - margin. The renewal was sent at that start, so the database stamped renewed_at at or
//     after it; a standby ends the holder only when its database's now() - renewed_at exceeds
//     lease_timeout, i.e. at least `margin` after the holder's own deadline. A holder that was
//     paused (SIGSTOP, a stall, a cut to PostgreSQL) finds its deadline passed on waking, before
//     any round trip, and refuses to act.
//  3. Which member acts is decided by whoever holds the lock: two members never both hold it.
// What stays open: a cluster step that passed check() and is then paused in the middle finishes
// its current call after waking. Callers check before each step and keep single steps shorter
// than `margin`; the epoch (1) still refuses every task-state write that follows.
//
// Thread-safety: all public methods may be called from any thread. The callbacks run on the
// election's own thread, one at a time, never with an internal lock held.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"

namespace flinkbr::group {

// The advisory lock key every member competes for ("flinkbr" in ASCII). pg_locks shows it as
// classid 0x00666c69, objid 0x6e6b6272, objsubid 1.
inline constexpr int64_t kElectionLockKey = 0x00666c696e6b6272;

// The lease table (created by the store's migrations; tests create it with this DDL).
inline constexpr const char* kLeaseTableDdl =
    "CREATE TABLE IF NOT EXISTS manager_lease(id INTEGER PRIMARY KEY CHECK (id = 1), "
    "epoch BIGINT NOT NULL, holder TEXT NOT NULL, address TEXT NOT NULL, "
    "backend_pid INTEGER NOT NULL, renewed_at TIMESTAMPTZ NOT NULL)";

enum class Role {
  kStandby,  // not allowed to act: another member holds the lease, or none is reachable
  kActive,   // holds the lease with `epoch`; may act while check() succeeds
};
std::string_view role_name(Role role);  // "active" | "standby"

struct ElectionOptions {
  // libpq connection string or URI of the group's database. The password comes the libpq way
  // (PGPASSWORD, PGPASSFILE); messages never include this string.
  std::string conninfo;
  // The schema holding manager_lease (the store's, "flinkbr"); empty: the server's search_path.
  std::string schema;
  std::string holder;   // who this member is, for people reading the lease (host:pid)
  std::string address;  // this member's listen address, shown by standbys' health answers
  // A lease unrenewed for longer than this (by the database's clock) is taken over.
  std::chrono::milliseconds lease_timeout{10'000};
  // The active renews this often; a standby looks at the lease this often.
  std::chrono::milliseconds renew{2'000};

  // Refuses nonsense: renew must be positive and at most a third of lease_timeout (so that an
  // active gets at least two renewals in before its own deadline). Fields named as the
  // configuration's keys (server.lease_timeout, server.lease_renew).
  Status validate() const;
  // How long before a standby may take over the active stops acting: lease_timeout / 4.
  std::chrono::milliseconds margin() const { return lease_timeout / 4; }
};

// What GET /api/v1/health reports about the group.
struct GroupInfo {
  Role role = Role::kStandby;
  // Active: this member's epoch. Standby: the epoch last seen in the lease row (0 if none).
  int64_t epoch = 0;
  std::string active_address;  // from the lease row; "" when unknown
  std::string active_holder;   // from the lease row; "" when unknown
  std::string reason;          // standby: why (last step-down, or "cannot reach ...")
};

class Election {
 public:
  struct Callbacks {
    // This member became active with `epoch` (strictly greater than every earlier epoch).
    std::function<void(int64_t epoch)> became_active;
    // This member stopped being active (lost the lease, the database, or its deadline passed).
    std::function<void(int64_t epoch, const std::string& reason)> stepped_down;
  };

  // Validates the options and starts the election thread. Never blocks on the database.
  static Result<std::unique_ptr<Election>> start(ElectionOptions options, Callbacks callbacks = {});
  // Stops the thread and closes the session, which releases the lock: a standby takes over
  // at its next look (within `renew`).
  ~Election();
  Election(const Election&) = delete;
  Election& operator=(const Election&) = delete;

  // True while this member is active and its local deadline has not passed.
  bool still_active() const;
  // ok() under the same condition; otherwise kFailedPrecondition saying why this member must
  // not act. Cheap (no database round trip): call it before every step that touches a cluster.
  Status check() const;
  // The epoch this member acts under; 0 when not active.
  int64_t epoch() const;
  GroupInfo info() const;

 private:
  struct Session;
  using Clock = std::chrono::steady_clock;

  Election(ElectionOptions options, Callbacks callbacks);
  void run();
  // One pass of the loop; returns how long to wait before the next.
  std::chrono::milliseconds step();
  std::chrono::milliseconds try_to_lead();
  std::chrono::milliseconds renew_lease();
  void become_active(int64_t epoch, Clock::time_point sent);
  void step_down(const std::string& reason);
  void set_standby_reason(const std::string& reason);
  bool stopping() const;

  const ElectionOptions options_;
  const Callbacks callbacks_;
  std::unique_ptr<Session> session_;  // only the election thread touches it

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  GroupInfo info_;
  Clock::time_point deadline_{};  // active: last renewal sent + lease_timeout - margin
  std::thread thread_;
};

}  // namespace flinkbr::group
