#include "group/notify_listener.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <memory>

#include <spdlog/spdlog.h>

namespace flinkbr::group {

namespace {

struct PgFree {
  void operator()(PGconn* c) const { PQfinish(c); }
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, PgFree>;
using ResPtr = std::unique_ptr<PGresult, PgFree>;

// How long the thread sleeps in poll() before it looks at the stop flag again, and how long it
// waits between two connection attempts.
constexpr int kPollSliceMs = 250;
constexpr auto kReconnectEvery = std::chrono::seconds(1);

std::string message_of(PGconn* c) {
  std::string m = c ? PQerrorMessage(c) : "out of memory";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

}  // namespace

NotifyListener::NotifyListener(std::string conninfo, std::vector<std::string> channels)
    : conninfo_(std::move(conninfo)), channels_(std::move(channels)) {
  for (const auto& ch : channels_) counts_[ch] = 0;
  thread_ = std::thread([this] { run(); });
}

NotifyListener::~NotifyListener() {
  {
    std::lock_guard g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t NotifyListener::count(std::string_view channel) {
  std::lock_guard g(mu_);
  auto it = counts_.find(channel);
  return it == counts_.end() ? 0 : it->second;
}

uint64_t NotifyListener::wait(std::string_view channel, uint64_t seen,
                              std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  auto it = counts_.find(channel);
  if (it == counts_.end()) {
    cv_.wait_for(lock, timeout, [&] { return stop_; });
    return 0;
  }
  cv_.wait_for(lock, timeout, [&] { return stop_ || it->second > seen; });
  return it->second;
}

bool NotifyListener::listening() {
  std::lock_guard g(mu_);
  return listening_;
}

void NotifyListener::wake_all() {
  {
    std::lock_guard g(mu_);
    for (auto& [channel, n] : counts_) ++n;
  }
  cv_.notify_all();
}

void NotifyListener::run() {
  ConnPtr conn;
  std::string last_error;
  auto stopping = [this] {
    std::lock_guard g(mu_);
    return stop_;
  };
  while (!stopping()) {
    if (!conn) {
      const char* keys[] = {"dbname", "application_name", "connect_timeout", nullptr};
      const char* values[] = {conninfo_.c_str(), "flinkbr-listener", "5", nullptr};
      ConnPtr c(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
      bool ok = c && PQstatus(c.get()) == CONNECTION_OK;
      for (size_t i = 0; ok && i < channels_.size(); ++i) {
        char* quoted = PQescapeIdentifier(c.get(), channels_[i].c_str(), channels_[i].size());
        if (!quoted) {
          ok = false;
          break;
        }
        ResPtr r(PQexec(c.get(), (std::string("LISTEN ") + quoted).c_str()));
        PQfreemem(quoted);
        ok = PQresultStatus(r.get()) == PGRES_COMMAND_OK;
      }
      if (!ok) {
        const std::string why = message_of(c.get());
        if (why != last_error) spdlog::warn("group notifications: not listening: {}", why);
        last_error = why;
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, kReconnectEvery, [&] { return stop_; });
        continue;
      }
      if (!last_error.empty()) spdlog::info("group notifications: listening again");
      last_error.clear();
      conn = std::move(c);
      {
        std::lock_guard g(mu_);
        listening_ = true;
      }
      // Whatever was sent while the session was down is lost: every waiter reads again.
      wake_all();
    }
    pollfd p{PQsocket(conn.get()), POLLIN, 0};
    const int n = ::poll(&p, 1, kPollSliceMs);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) continue;
    if (!PQconsumeInput(conn.get()) || PQstatus(conn.get()) != CONNECTION_OK) {
      spdlog::warn("group notifications: the session ended: {}", message_of(conn.get()));
      last_error = "ended";
      conn.reset();
      std::lock_guard g(mu_);
      listening_ = false;
      continue;
    }
    bool any = false;
    while (PGnotify* note = PQnotifies(conn.get())) {
      {
        std::lock_guard g(mu_);
        if (auto it = counts_.find(std::string_view(note->relname)); it != counts_.end())
          ++it->second;
      }
      PQfreemem(note);
      any = true;
    }
    if (any) cv_.notify_all();
  }
}

}  // namespace flinkbr::group
