// TaskNotifier: turns the end of a task into a webhook notice. It reads the task EventBus (the
// same feed as GET /api/v1/events) on its own thread, and for every backup run and every
// restoration attempt that ends Failed (and Succeeded when `on_success`) reads the full record
// from the state database and queues one notice on the WebhookSender:
//
//   {"event": "backup.failed", "kind": "backup", "task": "nightly", "status": "Failed",
//    "error": "...", "started_at": "2026-...Z", "ended_at": "2026-...Z", "record_id": 12,
//    "attempt": null, "path": "/backups/...", "cluster": "prod", "data_source": "Flink",
//    "manager": "http://flinkbr.example:8080", "delivery": "<id>"}
//
// "kind" is "backup" or "restore"; a restoration notice has "attempt" (1, 2, ...) and the
// task's source path in "path", and "record_id" null. Each run is notified once (a run's final
// state may be published more than once). The engine does not know about it.
//
// Not covered: runs that the daemon marks Failed at start after a crash (crash recovery does not
// publish events); the EventBus keeps 1024 events, and this reader never falls that far behind.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "notify/webhook.h"
#include "store/store.h"
#include "task/events.h"

namespace flinkbr::notify {

struct TaskNotifierOptions {
  bool on_success = false;  // server.webhook_on_success
  std::string manager;      // this daemon's address, e.g. "http://127.0.0.1:8080"
};

class TaskNotifier {
 public:
  // Starts reading `events` from now on. `store` and `events` must outlive it.
  TaskNotifier(TaskNotifierOptions options, task::EventBus& events, store::Store& store,
               WebhookSender& sender);
  ~TaskNotifier();  // stop()
  TaskNotifier(const TaskNotifier&) = delete;
  TaskNotifier& operator=(const TaskNotifier&) = delete;
  void stop();  // idempotent; does not stop the sender

  // The notice for one event, or null when the event is not the end of a run to notify (or
  // was notified already). Public for tests; called on the reader thread only.
  nlohmann::json notice_for(const task::Event& event);

 private:
  void run(int64_t after);
  bool first_time(const std::string& key);

  TaskNotifierOptions options_;
  task::EventBus& events_;
  store::Store& store_;
  WebhookSender& sender_;
  std::atomic<bool> stopping_{false};
  std::deque<std::string> seen_order_;  // bounded memory of notified runs
  std::set<std::string> seen_;
  std::thread thread_;
};

}  // namespace flinkbr::notify
