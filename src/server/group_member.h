// This daemon as a member of a manager group (server.database set; docs/design.md, "The manager
// group"): it runs the election (group/election.h) and is the engine's fence (task/fence.h).
//
// - Standby: the fence refuses, so the engine starts no run and writes no task state; the API
//   still answers everything that only reads or edits definitions in the shared database, and
//   refuses what would run work, naming the active manager's address.
// - Became active (epoch E): task-state writes go through the store's view fenced on E, and
//   `on_active` runs (crash recovery of the dead active's runs, then the scheduler) on a thread
//   of its own, so that the election keeps renewing while recovery works.
// - Stepped down (lost the lease, PostgreSQL, or its own deadline): the process exits at once
//   with status 75 (EX_TEMPFAIL) without another write or cluster step. A run in flight cannot be
//   resumed safely by a manager that may no longer act, and a fresh start joins the group as a
//   standby: the systemd unit restarts it (Restart=on-failure). The same choice as Kubernetes'
//   controller-manager, which exits when it loses its lease.
#pragma once

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "config/config.h"
#include "group/election.h"
#include "store/store.h"
#include "task/fence.h"

namespace flinkbr::server {

// The exit status of a manager that stepped down.
inline constexpr int kSteppedDownExitCode = 75;

class GroupMember final : public task::Fence {
 public:
  // `conninfo`/`password`: the group's database (store/database.h's PostgresTarget). `address`:
  // this member's URL, shown by the others' health answers. `store` is the daemon's store (on
  // the same database); it outlives the member.
  static Result<std::unique_ptr<GroupMember>> start(const config::ServerConfig& server,
                                                    const std::string& conninfo,
                                                    const std::string& password,
                                                    const std::string& address, store::Store& store,
                                                    std::function<Status()> on_active);
  ~GroupMember() override;

  // Lets the activation run `on_active` (held back until the engine it calls exists). Call once.
  void ready();

  Status check() override;
  store::Store& writes_to(store::Store& plain) override;
  // "the active manager stopped (fail-over to <this member>, epoch N)".
  std::string interrupted_by() const override;

  // {"role": "active"|"standby", "epoch": N, "active_address": "..."}
  nlohmann::json health() const;

  // For the command relay (server/relay.h). The store view fenced on this member's epoch once
  // it is active (it lives as long as the member), null while a standby.
  store::Store* fenced_store() const { return writes_.load(); }
  // This member's epoch once active (0 before).
  int64_t epoch() const { return epoch_.load(); }
  // This member's own address.
  const std::string& address() const { return address_; }
  // The active's address as this member last read it from the lease ("" when unknown).
  std::string active_address() const;

 private:
  GroupMember(store::Store& store, std::function<Status()> on_active)
      : store_(store), on_active_(std::move(on_active)) {}
  void became_active(int64_t epoch);

  store::Store& store_;
  std::function<Status()> on_active_;
  std::mutex mu_;
  std::unique_ptr<store::Store> fenced_;  // set once, when this member becomes active
  std::atomic<store::Store*> writes_{nullptr};
  std::string address_;
  std::atomic<int64_t> epoch_{0};
  std::promise<void> ready_;
  std::shared_future<void> ready_future_ = ready_.get_future().share();
  std::atomic<bool> readied_{false};
  std::thread activation_;
  std::unique_ptr<group::Election> election_;  // last: stopped first
};

}  // namespace flinkbr::server
