#include "task/events.h"

namespace flinkbr::task {

namespace {
constexpr size_t kKeep = 1024;
}

void EventBus::publish(std::string type, nlohmann::json data) {
  {
    std::lock_guard g(mu_);
    events_.push_back({++seq_, std::move(type), std::move(data)});
    while (events_.size() > kKeep) events_.pop_front();
  }
  cv_.notify_all();
}

bool EventBus::publish_at(int64_t seq, std::string type, nlohmann::json data) {
  {
    std::lock_guard g(mu_);
    if (seq <= seq_) return false;
    seq_ = seq;
    events_.push_back({seq, std::move(type), std::move(data)});
    while (events_.size() > kKeep) events_.pop_front();
  }
  cv_.notify_all();
  return true;
}

std::vector<Event> EventBus::wait_after(int64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || seq_ > after; });
  std::vector<Event> out;
  if (closed_) return out;
  for (const auto& e : events_)
    if (e.seq > after) out.push_back(e);
  return out;
}

int64_t EventBus::last_seq() {
  std::lock_guard g(mu_);
  return seq_;
}

void EventBus::close() {
  {
    std::lock_guard g(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace flinkbr::task
