#include "server/relay.h"

#include <spdlog/spdlog.h>

#include "server/json.h"

namespace flinkbr::server {

namespace {

using Clock = std::chrono::steady_clock;

// What a client told "nothing was done" waits before sending the call again.
constexpr int kRetryAfterSeconds = 5;
// The most events the tail reads at once.
constexpr int kEventBatch = 500;

int64_t seconds_ceil(std::chrono::milliseconds d) {
  return (d.count() + 999) / 1000;
}

std::string seconds_text(std::chrono::milliseconds d) {
  return std::to_string(seconds_ceil(d)) + " s";
}

}  // namespace

GroupRelay::GroupRelay(store::Store& store, GroupMember& member, group::NotifyListener* listener,
                       RelayOptions options)
    : store_(store), member_(member), listener_(listener), options_(options) {}

GroupRelay::~GroupRelay() {
  stop();
}

uint64_t GroupRelay::wait(std::string_view channel, uint64_t seen) {
  if (listener_) return listener_->wait(channel, seen, options_.poll);
  std::unique_lock lock(stop_mu_);
  stop_cv_.wait_for(lock, options_.poll, [&] { return stop_.load(); });
  return seen;
}

Result<RelayAnswer> GroupRelay::submit(const std::string& operation, const std::string& target,
                                       const std::string& args, const std::string& user) {
  const auto start = Clock::now();
  uint64_t seen = listener_ ? listener_->count(store::kResultsChannel) : 0;
  // The deadline in the row is for the active: it takes no command its standby gave up on. Both
  // times are the database's (Store::database_now), as the active's claim compares them.
  const int64_t created =
      TRY_CTX(store_.database_now(), "handing the call to the group's active manager");
  auto cmd =
      TRY_CTX(store_.create_command({.operation = operation,
                                     .target = target,
                                     .args = args,
                                     .user = user,
                                     .origin = member_.address(),
                                     .created_at = created,
                                     .deadline = created + seconds_ceil(options_.wait_for_claim)}),
              "handing the call to the group's active manager");
  const std::string active = member_.active_address();
  const std::string who =
      "the active manager" + (active.empty() ? std::string() : " (" + active + ")");
  const std::string what = operation + " '" + target + "'";
  auto nothing_done = [&]() -> Result<RelayAnswer> {
    Error e{Errc::kUnavailable,
            "this manager is a standby of its group and " + who + " did not take this call (" +
                what + ") within " + seconds_text(options_.wait_for_claim) +
                "; nothing was done. Check that the active manager runs and reaches the state "
                "database (GET /api/v1/health on any member names it), then send the call again",
            {},
            true};
    e.retry_after_seconds = kRetryAfterSeconds;
    return std::unexpected(std::move(e));
  };
  for (;;) {
    const auto elapsed = Clock::now() - start;
    auto now = store_.get_command(cmd.id);
    if (!now && now.error().code == Errc::kNotFound)
      // Deleted under the standby (by hand, or pruned): no answer will ever come, and whether an
      // active took it cannot be known any more.
      return make_error(Errc::kUnavailable,
                        "the command that handed this call (" + what + ") to " + who +
                            " was removed from the state database before it was answered; it "
                            "may have been carried out: check the state of '" +
                            target + "' before sending it again");
    if (now && now->state == store::CommandState::kDone) {
      RelayAnswer answer{.status = now->http_status, .retry_after_seconds = now->retry_after};
      answer.body = json::parse(now->body, nullptr, /*allow_exceptions=*/false);
      if (answer.body.is_discarded())
        return internal_error("the active manager's answer to " + what + " is not JSON");
      return answer;
    }
    if (now && now->state == store::CommandState::kExpired) return nothing_done();
    const bool claimed = now && now->state == store::CommandState::kClaimed;
    if (claimed && elapsed >= options_.wait_for_answer)
      return make_error(Errc::kTimeout, who + " took this call (" + what +
                                            ") but did not answer within " +
                                            seconds_text(options_.wait_for_answer) +
                                            "; it may still carry it out: check the state of '" +
                                            target + "' before sending it again");
    if (!claimed && elapsed >= options_.wait_for_claim) {
      // Withdrawn in one UPDATE: then no active will ever take it. When an active took it in
      // the same instant, the UPDATE changes nothing and its answer is awaited.
      auto withdrawn = store_.expire_command(cmd.id);
      if (!withdrawn)
        return make_error(Errc::kUnavailable,
                          "this manager is a standby of its group and cannot read the state "
                          "database to learn whether " +
                              who + " took this call (" + what + "): " + withdrawn.error().message +
                              "; check the state of '" + target + "' before sending it again");
      if (*withdrawn) return nothing_done();
      // Not pending any more: an active took it (its answer is awaited below), or the row could
      // not be read. Either way the loop waits before it looks again, never spins.
    }
    seen = wait(store::kResultsChannel, seen);
    if (stopping()) return make_error(Errc::kUnavailable, "this manager is stopping", {}, true);
  }
}

void GroupRelay::start(std::function<RelayAnswer(const store::RelayCommand&)> execute,
                       task::EventBus& engine_events, task::EventBus& stream_events) {
  execute_ = std::move(execute);
  executor_ = std::thread([this] { execute_loop(); });
  pump_ = std::thread([this, &engine_events] { pump_loop(engine_events); });
  tail_ = std::thread([this, &stream_events] { tail_loop(stream_events); });
}

void GroupRelay::stop() {
  {
    std::lock_guard g(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  for (std::thread* t : {&executor_, &pump_, &tail_})
    if (t->joinable()) t->join();
  std::lock_guard g(workers_mu_);
  for (auto& w : workers_)
    if (w.thread.joinable()) w.thread.join();
  workers_.clear();
}

void GroupRelay::execute_loop() {
  uint64_t seen = listener_ ? listener_->count(store::kCommandsChannel) : 0;
  int64_t orphans_answered_for = 0;  // the epoch whose predecessors' commands were answered
  auto pruned = Clock::time_point();
  std::string last_error;
  while (!stopping()) {
    {
      // Threads of commands already answered.
      std::lock_guard g(workers_mu_);
      for (auto it = workers_.begin(); it != workers_.end();) {
        if (it->done->load()) {
          it->thread.join();
          it = workers_.erase(it);
        } else {
          ++it;
        }
      }
    }
    store::Store* fenced = member_.fenced_store();
    if (fenced) {
      const int64_t epoch = member_.epoch();
      Status st = ok();
      if (orphans_answered_for != epoch) {
        Error e{Errc::kUnavailable,
                member_.interrupted_by() +
                    " while the previous active manager carried out this call; it was not "
                    "carried out again, and may have been carried out in part: check the state "
                    "of what it was for before sending it again"};
        auto n =
            fenced->fail_orphaned_commands(epoch, errc_http_status(e.code), dump(error_json(e)));
        if (n) {
          orphans_answered_for = epoch;
          if (*n > 0)
            spdlog::warn("relay: answered {} call(s) the previous active manager had taken", *n);
        } else {
          st = std::unexpected(n.error());
        }
      }
      // The database's clock, which stamped the commands (Store::database_now).
      auto now = fenced->database_now();
      if (!now) st = std::unexpected(now.error());
      if (st && Clock::now() - pruned > std::chrono::minutes(1)) {
        const int64_t before = *now - options_.keep.count();
        if (auto a = fenced->prune_commands(before); !a)
          st = a;
        else if (auto b = fenced->prune_events(before); !b)
          st = b;
        else
          pruned = Clock::now();
      }
      while (st && !stopping()) {
        auto claimed = fenced->claim_command(epoch, *now);
        if (!claimed) {
          st = std::unexpected(claimed.error());
          break;
        }
        if (!claimed->has_value()) break;
        store::RelayCommand cmd = std::move(**claimed);
        // The row may have been written by hand: what it names is logged sanitized.
        spdlog::info("relay: carrying out {} '{}' for {} (from {})",
                     sanitize_for_log(cmd.operation), sanitize_for_log(cmd.target, 255),
                     sanitize_for_log(cmd.user),
                     cmd.origin.empty() ? "a standby" : sanitize_for_log(cmd.origin, 255));
        auto done = std::make_shared<std::atomic<bool>>(false);
        std::lock_guard g(workers_mu_);
        workers_.push_back({std::thread([this, fenced, epoch, cmd, done] {
                              RelayAnswer answer = execute_(cmd);
                              if (auto f = fenced->finish_command(cmd.id, epoch, answer.status,
                                                                  dump(answer.body),
                                                                  answer.retry_after_seconds);
                                  !f)
                                spdlog::error("relay: cannot record the answer to {} '{}': {}",
                                              sanitize_for_log(cmd.operation),
                                              sanitize_for_log(cmd.target, 255), f.error().message);
                              done->store(true);
                            }),
                            done});
      }
      if (!st && st.error().message != last_error) {
        spdlog::warn("relay: {}", st.error().message);
        last_error = st.error().message;
      } else if (st) {
        last_error.clear();
      }
    }
    seen = wait(store::kCommandsChannel, seen);
  }
}

void GroupRelay::pump_loop(task::EventBus& engine_events) {
  int64_t after = engine_events.last_seq();
  std::string last_error;
  while (!stopping()) {
    const auto begin = Clock::now();
    auto batch = engine_events.wait_after(after, std::chrono::milliseconds(500));
    if (batch.empty() && Clock::now() - begin < std::chrono::milliseconds(250)) {
      // The bus is closed (the daemon stops): wait for stop() without spinning.
      std::unique_lock lock(stop_mu_);
      stop_cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stop_.load(); });
      continue;
    }
    for (const auto& e : batch) {
      after = e.seq;
      // A lost event costs the streams one update; the clients poll the full state anyway.
      if (auto st = store_.append_event(e.type, dump(e.data)); !st) {
        if (st.error().message != last_error)
          spdlog::warn("relay: an event for the group's streams is lost: {}", st.error().message);
        last_error = st.error().message;
      } else {
        last_error.clear();
      }
    }
  }
}

void GroupRelay::tail_loop(task::EventBus& stream_events) {
  uint64_t seen = listener_ ? listener_->count(store::kEventsChannel) : 0;
  // From the newest event on: a stream shows what happens from now (and what it kept since).
  int64_t after = -1;
  while (!stopping()) {
    if (after < 0) {
      if (auto last = store_.last_event_id()) after = *last;
    } else if (auto events = store_.list_events_after(after, kEventBatch)) {
      for (const auto& e : *events) {
        json data = json::parse(e.data, nullptr, /*allow_exceptions=*/false);
        if (!data.is_discarded()) stream_events.publish_at(e.id, e.type, std::move(data));
        after = e.id;
      }
      if (events->size() == static_cast<size_t>(kEventBatch)) continue;
    }
    seen = wait(store::kEventsChannel, seen);
  }
}

}  // namespace flinkbr::server
