// EventBus: the live feed behind GET /api/v1/events (server-sent events). Task runs publish
// progress and state changes; readers wait for events newer than the last one they saw. Keeps
// the most recent 1024 events in memory; a reader that fell further behind gets what is left
// (it polls the REST API for the full state anyway). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace flinkbr::task {

struct Event {
  int64_t seq = 0;      // increasing from 1 (a group's feed: its own ids, see publish_at)
  std::string type;     // "restore", "backup", "service"
  nlohmann::json data;  // the task or record as the REST API shows it
};

class EventBus {
 public:
  void publish(std::string type, nlohmann::json data);
  // Publishes with an id given by someone else (a manager group's event feed, whose ids grow
  // across the whole group): kept only when `seq` is above every id published so far, so that
  // ids stay increasing for Last-Event-ID. Returns whether it was kept.
  bool publish_at(int64_t seq, std::string type, nlohmann::json data);
  // Events with seq > after; waits up to `timeout` for the first one. Empty on timeout or
  // after close().
  std::vector<Event> wait_after(int64_t after, std::chrono::milliseconds timeout);
  int64_t last_seq();
  // Wakes every waiter; later waits return at once (daemon shutdown).
  void close();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  int64_t seq_ = 0;
  bool closed_ = false;
};

}  // namespace flinkbr::task
