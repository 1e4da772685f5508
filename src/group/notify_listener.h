// NotifyListener: a dedicated libpq session that LISTENs on a few PostgreSQL channels and wakes
// the threads waiting for them. The manager group's command relay and event feed
// (server/relay.h) use it so that a standby's command, the active's answer and the active's task
// events reach the other members at once instead of at their next poll.
//
// A notification is only a hint: waiters read the tables again after it, and also after their
// own timeout (the fallback poll), so that a lost session (PostgreSQL restarted, a network cut)
// delays them by one poll and loses nothing. The session reconnects by itself every second
// while it is down, and counts a reconnection as a wake-up of every channel (notifications sent
// while it was down are lost).
//
// The password comes the libpq way (PGPASSWORD, set by the group member before any session
// starts); it never appears in a message. Thread-safe; the destructor stops and joins the thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace flinkbr::group {

class NotifyListener {
 public:
  // `conninfo`: a libpq URI or key=value string (no password). Starts the session's thread.
  NotifyListener(std::string conninfo, std::vector<std::string> channels);
  ~NotifyListener();
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  // The wake-ups of `channel` so far (notifications and reconnections).
  uint64_t count(std::string_view channel);
  // Waits until `channel` has had more than `seen` wake-ups, `timeout` has passed, or the
  // listener stops; returns the count then.
  uint64_t wait(std::string_view channel, uint64_t seen, std::chrono::milliseconds timeout);
  // True while the session listens (for the log and the tests).
  bool listening();

 private:
  void run();
  void wake_all();

  const std::string conninfo_;
  const std::vector<std::string> channels_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, uint64_t, std::less<>> counts_;
  bool listening_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: started after everything above exists
};

}  // namespace flinkbr::group
