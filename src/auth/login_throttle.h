// Login throttling: after kFreeFailures failed logins in a row for one user name (known or not,
// so the answer never tells which) or from one client address, further attempts are refused
// without looking at the password until a delay has passed, and each failure past the limit
// doubles the delay (kFirstDelay up to kMaxDelay). A success resets the user's and the address's
// count. In memory: a daemon restart forgets, which costs an attacker a restart per few guesses.
//
// Pure bookkeeping: the caller passes the time, so tests need no clock. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace flinkbr::auth {

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kFreeFailures = 10;
  static constexpr auto kFirstDelay = std::chrono::seconds(5);
  static constexpr auto kMaxDelay = std::chrono::minutes(15);
  // Entries kept at most; past it, the ones idle longest go first (random names must not grow
  // the map without bound).
  static constexpr size_t kMaxEntries = 10000;

  // How long to wait when an attempt for `user` from `address` must be refused now; nullopt when
  // it may go ahead. `address` "" is not tracked.
  std::optional<std::chrono::seconds> blocked(const std::string& user, const std::string& address,
                                              Clock::time_point now);
  void failed(const std::string& user, const std::string& address, Clock::time_point now);
  void succeeded(const std::string& user, const std::string& address);
  // Names and addresses tracked now (at most about kMaxEntries).
  size_t size() const;

 private:
  struct Entry {
    int failures = 0;
    Clock::time_point blocked_until{};
    Clock::time_point last_failure{};
  };
  void fail_key(const std::string& key, Clock::time_point now);
  void prune(Clock::time_point now);

  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;  // "u:<name>" and "a:<address>"
};

}  // namespace flinkbr::auth
