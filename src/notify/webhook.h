// Webhook: JSON POSTs to one operator-configured URL (server.webhook_url), delivered on a
// background thread so that a slow or dead receiver never holds up a task.
//
// A notice is queued with post(); the sender thread POSTs it and, when the receiver cannot be
// reached, times out, or answers 5xx or 429, tries again after an exponential backoff (doubling
// from `initial_backoff` up to `max_backoff`) until `max_attempts` tries were made or its
// `deadline` (all tries and waits together, counted from the first try) passed: a POST still in
// flight then is cut, so a receiver that accepts and never answers, or answers a byte at a time,
// holds one notice no longer than that. Any other answer (2xx done, 4xx refused) ends it. The queue
// holds at most `max_queue` notices: when it is full the newest is dropped and counted, so memory
// stays bounded whatever the receiver does.
//
// With a secret, each POST carries X-Flinkbr-Signature: sha256=<hex HMAC-SHA256 of the body>,
// as GitHub's webhooks do, so the receiver can check the sender and that the body is intact. The
// secret is never logged and never part of the body. Failures are logged with the URL's scheme,
// host and port only (a URL may carry a token in its path or query).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace httplib {
class Client;  // cpp-httplib's; only the sender's own file includes it
}

namespace flinkbr::notify {

struct WebhookOptions {
  std::string url;     // http:// or https://, with an optional path and query
  std::string secret;  // empty: no signature header
  int max_attempts = 6;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  std::chrono::milliseconds timeout{5000};    // connect, and each read or write
  std::chrono::milliseconds deadline{60000};  // per notice, retries included
  size_t max_queue = 1000;
};

// What the sender did so far; for tests and logs.
struct WebhookStats {
  uint64_t delivered = 0;  // answered 2xx
  uint64_t attempts = 0;   // POSTs tried, successful or not
  uint64_t abandoned = 0;  // refused (4xx) or out of attempts
  uint64_t dropped = 0;    // not queued: the queue was full, or the sender stopping
};

// HMAC-SHA256 of `body` with `secret`, as lower-case hex.
std::string hmac_sha256_hex(const std::string& secret, const std::string& body);

// The URL without user info, path and query: what logs may show.
std::string redacted_url(const std::string& url);

class WebhookSender {
 public:
  // Starts the sender thread. The URL must have passed validate_webhook_url.
  explicit WebhookSender(WebhookOptions options);
  // stop(): notices still queued are dropped (and logged as such).
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Queues one notice: `event` goes into X-Flinkbr-Event, `body` is POSTed as JSON. Never
  // blocks on the network. Thread-safe.
  void post(std::string event, nlohmann::json body);
  // Ends the sender thread: cuts a POST in flight (shuts its socket down; a connection still
  // being opened takes at most `timeout`), skips the backoff waits, drops what is queued.
  // Idempotent.
  void stop();
  WebhookStats stats();

 private:
  struct Notice {
    std::string event;
    std::string delivery;  // unique per notice, the same on every retry
    std::string body;
  };
  using Clock = std::chrono::steady_clock;
  void run();
  // Cuts the POST in flight when its notice's deadline passes or the sender stops.
  void watch();
  // One POST, cut at `deadline`; true when no retry is due (delivered or refused).
  bool send_once(const Notice& n, Clock::time_point deadline, std::string& why);

  WebhookOptions options_;
  std::string scheme_host_port_;
  std::string path_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Notice> queue_;
  WebhookStats stats_;
  bool stopping_ = false;
  // The POST in flight (owned by send_once, on the sender thread's stack) and when to cut it;
  // under mu_, so that watch() and stop() never reach a client that is gone.
  httplib::Client* in_flight_ = nullptr;
  Clock::time_point in_flight_deadline_;
  bool cut_ = false;          // watch() cut the POST in flight at its deadline
  bool sender_done_ = false;  // run() has returned
  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace flinkbr::notify
