#include "auth/login_throttle.h"

#include <algorithm>
#include <vector>

namespace flinkbr::auth {

namespace {
std::string user_key(const std::string& user) {
  return "u:" + user;
}
std::string address_key(const std::string& address) {
  return "a:" + address;
}

// The delay after the n-th failure in a row (n >= kFreeFailures): kFirstDelay, doubling.
LoginThrottle::Clock::duration delay_after(int failures) {
  const int doublings = std::min(failures - LoginThrottle::kFreeFailures, 20);
  const auto d = LoginThrottle::kFirstDelay * (int64_t{1} << std::max(doublings, 0));
  return std::min<LoginThrottle::Clock::duration>(d, LoginThrottle::kMaxDelay);
}
}  // namespace

std::optional<std::chrono::seconds> LoginThrottle::blocked(const std::string& user,
                                                           const std::string& address,
                                                           Clock::time_point now) {
  std::lock_guard lock(mutex_);
  Clock::duration wait{};
  for (const std::string& key :
       {user_key(user), address.empty() ? std::string() : address_key(address)}) {
    if (key.empty()) continue;
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.failures < kFreeFailures) continue;
    wait = std::max(wait, it->second.blocked_until - now);
  }
  if (wait <= Clock::duration::zero()) return std::nullopt;
  // Whole seconds, rounded up: Retry-After must not invite a retry that is still refused.
  return std::chrono::ceil<std::chrono::seconds>(wait);
}

void LoginThrottle::failed(const std::string& user, const std::string& address,
                           Clock::time_point now) {
  std::lock_guard lock(mutex_);
  fail_key(user_key(user), now);
  if (!address.empty()) fail_key(address_key(address), now);
  if (entries_.size() > kMaxEntries) prune(now);
}

void LoginThrottle::succeeded(const std::string& user, const std::string& address) {
  std::lock_guard lock(mutex_);
  entries_.erase(user_key(user));
  if (!address.empty()) entries_.erase(address_key(address));
}

size_t LoginThrottle::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void LoginThrottle::fail_key(const std::string& key, Clock::time_point now) {
  Entry& e = entries_[key];
  ++e.failures;
  e.last_failure = now;
  if (e.failures >= kFreeFailures) e.blocked_until = now + delay_after(e.failures);
}

void LoginThrottle::prune(Clock::time_point now) {
  // First what no longer blocks and has been quiet for the longest delay.
  std::erase_if(entries_, [&](const auto& kv) {
    return kv.second.blocked_until <= now && now - kv.second.last_failure > kMaxDelay;
  });
  if (entries_.size() <= kMaxEntries) return;
  std::vector<std::pair<Clock::time_point, std::string>> by_age;
  by_age.reserve(entries_.size());
  for (const auto& [k, e] : entries_) by_age.emplace_back(e.last_failure, k);
  const size_t drop = entries_.size() - kMaxEntries * 9 / 10;
  std::nth_element(by_age.begin(), by_age.begin() + static_cast<ptrdiff_t>(drop), by_age.end());
  for (size_t i = 0; i < drop; ++i) entries_.erase(by_age[i].second);
}

}  // namespace flinkbr::auth
