#include "notify/webhook.h"

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace flinkbr::notify {

namespace {

struct ParsedUrl {
  std::string scheme;
  std::string authority;  // host[:port], user info removed
  std::string path;       // with the query; "/" when absent
};

std::optional<ParsedUrl> parse_url(const std::string& url) {
  ParsedUrl out;
  size_t colon = url.find("://");
  if (colon == std::string::npos) return std::nullopt;
  out.scheme = url.substr(0, colon);
  if (out.scheme != "http" && out.scheme != "https") return std::nullopt;
  std::string rest = url.substr(colon + 3);
  size_t slash = rest.find_first_of("/?#");
  out.authority = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (size_t hash = out.path.find('#'); hash != std::string::npos) out.path.resize(hash);
  if (out.path.empty() || out.path[0] == '?') out.path = "/" + out.path;
  if (size_t at = out.authority.rfind('@'); at != std::string::npos)
    out.authority = out.authority.substr(at + 1);
  if (out.authority.empty() || out.authority.starts_with(":")) return std::nullopt;
  if (out.authority.find_first_of(" \t\r\n") != std::string::npos) return std::nullopt;
  if (out.path.find_first_of(" \t\r\n") != std::string::npos) return std::nullopt;
  return out;
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    // Only an identifier, not a secret: the clock is good enough when OpenSSL cannot help.
    auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    for (size_t i = 0; i < bytes; ++i) raw[i] = static_cast<char>(t >> ((i % 8) * 8));
  }
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

std::string hmac_sha256_hex(const std::string& secret, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += digits[mac[i] >> 4];
    out += digits[mac[i] & 15];
  }
  return out;
}

std::string redacted_url(const std::string& url) {
  auto p = parse_url(url);
  if (!p) return "(an invalid URL)";
  return p->scheme + "://" + p->authority;
}

WebhookSender::WebhookSender(WebhookOptions options) : options_(std::move(options)) {
  auto p = parse_url(options_.url);
  if (p) {
    scheme_host_port_ = p->scheme + "://" + p->authority;
    path_ = p->path;
  }
  thread_ = std::thread([this] {
    run();
    std::lock_guard g(mu_);
    sender_done_ = true;
    cv_.notify_all();
  });
  watchdog_ = std::thread([this] { watch(); });
}

WebhookSender::~WebhookSender() {
  stop();
}

void WebhookSender::post(std::string event, nlohmann::json body) {
  std::string delivery = random_hex(16);
  body["delivery"] = delivery;
  std::lock_guard g(mu_);
  if (stopping_ || queue_.size() >= options_.max_queue) {
    ++stats_.dropped;
    spdlog::warn("webhook: {} notice dropped: {}", event,
                 stopping_ ? "the daemon is stopping" : "the queue is full (receiver down?)");
    return;
  }
  queue_.push_back({std::move(event), std::move(delivery), body.dump()});
  cv_.notify_all();
}

void WebhookSender::stop() {
  {
    std::lock_guard g(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  {
    // Shutting the socket down makes the POST fail at once; waiting for it to time out held a
    // daemon's shutdown for as long as a slow receiver liked. Again until the sender has left:
    // a POST that was only about to connect when first cut would wait for its timeout.
    std::unique_lock lock(mu_);
    while (thread_.joinable() && !sender_done_) {
      if (in_flight_) in_flight_->stop();
      cv_.wait_for(lock, std::chrono::milliseconds(50));
    }
  }
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
  std::lock_guard g(mu_);
  if (!queue_.empty()) {
    spdlog::warn("webhook: {} notice(s) not delivered: the daemon is stopping", queue_.size());
    stats_.dropped += queue_.size();
    queue_.clear();
  }
}

WebhookStats WebhookSender::stats() {
  std::lock_guard g(mu_);
  return stats_;
}

void WebhookSender::watch() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (in_flight_ && Clock::now() >= in_flight_deadline_) {
      in_flight_->stop();
      cut_ = true;
      in_flight_deadline_ = Clock::time_point::max();
    }
    if (in_flight_ && in_flight_deadline_ != Clock::time_point::max())
      cv_.wait_until(lock, in_flight_deadline_);
    else
      cv_.wait(lock);
  }
}

bool WebhookSender::send_once(const Notice& n, Clock::time_point deadline, std::string& why) {
  httplib::Client client(scheme_host_port_);
  // No single wait beyond what is left of the notice's deadline (the watchdog cuts the rest: a
  // receiver that sends a byte now and then resets a read timeout).
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  const auto timeout = std::clamp(left, std::chrono::milliseconds(1), options_.timeout);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
  client.set_connection_timeout(secs.count(), usecs.count());
  client.set_read_timeout(secs.count(), usecs.count());
  client.set_write_timeout(secs.count(), usecs.count());
  client.set_follow_location(false);  // a redirect would carry the body somewhere unexpected
  httplib::Headers headers{{"User-Agent", std::string("flinkbr/") + FLINKBR_VERSION},
                           {"X-Flinkbr-Event", n.event},
                           {"X-Flinkbr-Delivery", n.delivery}};
  if (!options_.secret.empty())
    headers.emplace("X-Flinkbr-Signature", "sha256=" + hmac_sha256_hex(options_.secret, n.body));
  {
    std::lock_guard g(mu_);
    if (stopping_) {
      why = "the daemon is stopping";
      return false;
    }
    in_flight_ = &client;
    in_flight_deadline_ = deadline;
    cut_ = false;
  }
  cv_.notify_all();  // the watchdog's new deadline
  auto res = client.Post(path_, headers, n.body, "application/json");
  bool cut = false;
  {
    std::lock_guard g(mu_);
    in_flight_ = nullptr;
    cut = std::exchange(cut_, false);
  }
  if (cut) {
    why = "cut at the notice's deadline (" + std::to_string(options_.deadline.count()) + " ms)";
    return false;
  }
  if (!res) {
    why = "no answer (" + httplib::to_string(res.error()) + ")";
    return false;
  }
  if (res->status >= 200 && res->status < 300) return true;
  why = "HTTP " + std::to_string(res->status);
  if (res->status >= 500 || res->status == 429) return false;
  why += "; not retried";
  return true;
}

void WebhookSender::run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Notice n = std::move(queue_.front());
    queue_.pop_front();
    auto backoff = options_.initial_backoff;
    const auto deadline = Clock::now() + options_.deadline;
    for (int attempt = 1;; ++attempt) {
      lock.unlock();
      std::string why;
      bool done = false;
      try {
        done = send_once(n, deadline, why);
      } catch (const std::exception& e) {
        // The HTTP library throws on what the configuration check missed; never on this thread.
        done = true;
        why = std::string("cannot send: ") + e.what();
      }
      lock.lock();
      ++stats_.attempts;
      if (done && why.empty()) {
        ++stats_.delivered;
        break;
      }
      if (stopping_) {
        ++stats_.dropped;
        spdlog::warn("webhook: {} notice {} not delivered: the daemon is stopping", n.event,
                     n.delivery);
        return;
      }
      // The next try would start after the backoff: past the deadline, there is none.
      const bool late = Clock::now() + backoff >= deadline;
      if (late && !done && !why.contains("deadline"))
        why += "; no time left for another try before the notice's deadline (" +
               std::to_string(options_.deadline.count()) + " ms)";
      if (done || late || attempt >= options_.max_attempts) {
        ++stats_.abandoned;
        spdlog::error("webhook: {} notice {} to {} abandoned after {} attempt(s): {}", n.event,
                      n.delivery, redacted_url(options_.url), attempt, why);
        break;
      }
      spdlog::warn("webhook: {} notice {} to {}: {}; retrying in {} ms", n.event, n.delivery,
                   redacted_url(options_.url), why, backoff.count());
      if (cv_.wait_for(lock, backoff, [&] { return stopping_; })) {
        ++stats_.dropped;
        spdlog::warn("webhook: {} notice {} not delivered: the daemon is stopping", n.event,
                     n.delivery);
        return;
      }
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

}  // namespace flinkbr::notify
