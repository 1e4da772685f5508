// The command relay and the event feed of a manager group (docs/design.md, "The command relay").
//
// Every member answers the whole API, but only the active acts. A standby that receives a call
// which would run work (Run now, Start, Retry, a service's stop/start, ...) authenticates,
// authorizes and validates it exactly as the active would (the same handler, up to the point
// where it would act), then writes a command row: the operation, its target and body, the
// user's name and a deadline; never a token or a secret. The active takes it (woken by
// PostgreSQL's NOTIFY, or by its fallback poll), reads the user's role again, carries it out
// with the API's own handler, and writes the answer (status and JSON body); the standby answers
// its client with exactly that.
//
// Through the database rather than by forwarding the HTTP request: a standby would need the
// active's credentials, or would have to pass the client's token on, to forward; the database is
// what every member already reaches and trusts, and the fencing epoch makes "taken once, by the
// active" a single UPDATE.
//
// At most once: a command goes pending -> claimed in one UPDATE ... WHERE state = 'pending' on
// the active's fenced store view, so a deposed active takes nothing and no command is taken
// twice. A standby that gives up withdraws it (pending -> expired) in one UPDATE too, and only
// then tells its client that nothing was done. A command that an active took and never answered
// (it died) is answered by the next active as failed, naming the fail-over; it is never run again
// by itself, since a run may have started.
//
// The event feed: the active's task events are appended to the group_events table (their ids
// grow for the whole group, across fail-overs) and every member's event stream reads them from
// there, woken by NOTIFY, so GET /api/v1/events shows the same ids on every member.
//
// Thread-safe. stop() (or the destructor) joins every thread it started.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "group/notify_listener.h"
#include "server/group_member.h"
#include "store/store.h"
#include "task/events.h"

namespace flinkbr::server {

// What the active answered: the HTTP status, the JSON body, and a Retry-After (0: none).
struct RelayAnswer {
  int status = 200;
  nlohmann::json body = nlohmann::json::object();
  int retry_after_seconds = 0;
};

struct RelayOptions {
  // How long a standby waits for an active to take its command; then it withdraws it and
  // answers 503 (nothing was done).
  std::chrono::milliseconds wait_for_claim{std::chrono::seconds(30)};
  // How long it waits for the answer once an active took the command (a service command waits
  // for the service's state, up to its configured timeout); then 504.
  std::chrono::milliseconds wait_for_answer{std::chrono::minutes(10)};
  // The fallback poll when no notification comes (a lost listening session).
  std::chrono::milliseconds poll{std::chrono::seconds(1)};
  // Commands and events older than this are deleted (by the active).
  std::chrono::seconds keep{std::chrono::hours(1)};
};

class GroupRelay {
 public:
  // Borrowed: `store` (the daemon's plain store), `member`, `listener` (null: poll only); they
  // outlive the relay.
  GroupRelay(store::Store& store, GroupMember& member, group::NotifyListener* listener,
             RelayOptions options = {});
  ~GroupRelay();
  GroupRelay(const GroupRelay&) = delete;
  GroupRelay& operator=(const GroupRelay&) = delete;

  // True while this member is the active one: it carries calls out itself.
  bool acts_here() const { return member_.fenced_store() != nullptr; }

  // On a standby: writes the command and waits for the active's answer. Errors: the store's
  // (kUnavailable when PostgreSQL does not answer), kUnavailable with a Retry-After when no
  // active took the command in time (withdrawn: nothing was done), kTimeout when the active took
  // it and did not answer in time (it may still carry it out).
  [[nodiscard]] Result<RelayAnswer> submit(const std::string& operation, const std::string& target,
                                           const std::string& args, const std::string& user);

  // Starts the threads: the executor (while this member is active, takes commands and carries
  // each out with `execute` on a thread of its own), the pump (this member's task events from
  // `engine_events` into the group's feed) and the tail (the group's feed into `stream_events`,
  // which the API's event stream reads). Call once.
  void start(std::function<RelayAnswer(const store::RelayCommand&)> execute,
             task::EventBus& engine_events, task::EventBus& stream_events);
  // Stops and joins the threads; a command being carried out finishes first.
  void stop();

 private:
  void execute_loop();
  void pump_loop(task::EventBus& engine_events);
  void tail_loop(task::EventBus& stream_events);
  // Waits on `channel` (or the fallback poll) and returns the channel's new count.
  uint64_t wait(std::string_view channel, uint64_t seen);
  bool stopping() const { return stop_.load(); }

  store::Store& store_;
  GroupMember& member_;
  group::NotifyListener* listener_;
  const RelayOptions options_;
  std::function<RelayAnswer(const store::RelayCommand&)> execute_;
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;  // with stop_cv_: wakes the polls without a listener at stop()
  std::condition_variable stop_cv_;

  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex workers_mu_;
  std::list<Worker> workers_;
  std::thread executor_;
  std::thread pump_;
  std::thread tail_;
};

}  // namespace flinkbr::server
