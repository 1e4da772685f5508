#include "group/election.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

namespace flinkbr::group {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often a wait on the database looks whether the election is stopping.
constexpr milliseconds kPollSlice{100};
// The longest a standby waits for a connection or an answer before it gives the session up.
constexpr milliseconds kStandbyQueryLimit{5'000};

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;
using ResPtr = std::unique_ptr<PGresult, ResultClearer>;

std::string trimmed(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

// The key split as pg_locks shows a bigint advisory key.
const std::string kLockHigh = std::to_string(static_cast<uint64_t>(kElectionLockKey) >> 32);
const std::string kLockLow = std::to_string(static_cast<uint64_t>(kElectionLockKey) & 0xffffffffu);

std::string ms_text(milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

}  // namespace

std::string_view role_name(Role role) {
  return role == Role::kActive ? "active" : "standby";
}

Status ElectionOptions::validate() const {
  if (lease_timeout < milliseconds(1'000) || lease_timeout > milliseconds(600'000))
    return invalid_argument(
        "server.lease_timeout",
        "server.lease_timeout: must be from 1 s to 10 min, got " + ms_text(lease_timeout));
  if (renew <= milliseconds(0))
    return invalid_argument("server.lease_renew", "server.lease_renew: must be positive");
  if (renew * 3 > lease_timeout)
    return invalid_argument("server.lease_renew",
                            "server.lease_renew: must be at most a third of server.lease_timeout "
                            "(" +
                                ms_text(lease_timeout) + "), got " + ms_text(renew) +
                                "; the active must renew several times before its lease runs out");
  return ok();
}

// The election's own libpq session. Every call waits at most until a given time and gives up
// early when the election stops; on any failure the caller drops the session (which, for an
// active, releases the advisory lock).
struct Election::Session {
  ConnPtr conn;

  std::string error_text() const { return trimmed(PQerrorMessage(conn.get())); }

  // Waits until the socket is readable (or writable), `until`, or `stop()`.
  // Returns false on timeout or stop.
  bool wait_socket(bool for_write, Clock::time_point until,
                   const std::function<bool()>& stop) const {
    for (;;) {
      if (stop()) return false;
      auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      if (left <= milliseconds(0)) return false;
      pollfd p{PQsocket(conn.get()), static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
      int n = ::poll(&p, 1, static_cast<int>(std::min(left, kPollSlice).count()));
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) return true;  // let libpq report the socket's error
    }
  }

  static Result<std::unique_ptr<Session>> connect(const std::string& conninfo,
                                                  const std::string& schema,
                                                  Clock::time_point until,
                                                  const std::function<bool()>& stop) {
    // The lease table lives in the store's schema (store/store.h); an empty schema keeps the
    // server's search_path.
    const std::string options = schema.empty() ? "" : "-c search_path=" + schema;
    const char* keys[] = {"dbname", "application_name", schema.empty() ? nullptr : "options",
                          nullptr};
    const char* values[] = {conninfo.c_str(), "flinkbr-election", options.c_str(), nullptr};
    auto s = std::make_unique<Session>();
    s->conn.reset(PQconnectStartParams(keys, values, /*expand_dbname=*/1));
    if (!s->conn) return make_error(Errc::kUnavailable, "out of memory", {}, true);
    if (PQstatus(s->conn.get()) == CONNECTION_BAD)
      return make_error(Errc::kUnavailable, s->error_text(), {}, true);
    // Queries are sent without blocking too: a cut network must not hold the thread past the
    // deadline.
    PQsetnonblocking(s->conn.get(), 1);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
      if (st == PGRES_POLLING_OK) break;
      if (st == PGRES_POLLING_FAILED)
        return make_error(Errc::kUnavailable, s->error_text(), {}, true);
      if (!s->wait_socket(st == PGRES_POLLING_WRITING, until, stop))
        return make_error(Errc::kTimeout, "no connection within the time allowed", {}, true);
      st = PQconnectPoll(s->conn.get());
    }
    return s;
  }

  // Runs one statement with text parameters and returns its result.
  Result<ResPtr> exec(const std::string& sql, const std::vector<std::string>& params,
                      Clock::time_point until, const std::function<bool()>& stop) {
    std::vector<const char*> p;
    for (const auto& s : params) p.push_back(s.c_str());
    PGconn* c = conn.get();
    if (!PQsendQueryParams(c, sql.c_str(), static_cast<int>(p.size()), nullptr, p.data(), nullptr,
                           nullptr, 0))
      return make_error(Errc::kUnavailable, error_text(), {}, true);
    for (int f; (f = PQflush(c)) != 0;) {
      if (f < 0) return make_error(Errc::kUnavailable, error_text(), {}, true);
      if (!wait_socket(true, until, stop))
        return make_error(Errc::kTimeout, "no answer within the time allowed", {}, true);
    }
    while (PQisBusy(c)) {
      if (!wait_socket(false, until, stop))
        return make_error(Errc::kTimeout, "no answer within the time allowed", {}, true);
      if (!PQconsumeInput(c)) return make_error(Errc::kUnavailable, error_text(), {}, true);
    }
    ResPtr first;
    while (ResPtr r{PQgetResult(c)})
      if (!first) first = std::move(r);
    if (!first) return make_error(Errc::kUnavailable, error_text(), {}, true);
    auto st = PQresultStatus(first.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
      return make_error(Errc::kUnavailable, trimmed(PQresultErrorMessage(first.get())), {}, true);
    return first;
  }
};

Result<std::unique_ptr<Election>> Election::start(ElectionOptions options, Callbacks callbacks) {
  TRY(options.validate());
  std::unique_ptr<Election> e(new Election(std::move(options), std::move(callbacks)));
  e->thread_ = std::thread([p = e.get()] { p->run(); });
  return e;
}

Election::Election(ElectionOptions options, Callbacks callbacks)
    : options_(std::move(options)), callbacks_(std::move(callbacks)) {
  info_.reason = "the election has not reached PostgreSQL yet";
}

Election::~Election() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Election::stopping() const {
  std::lock_guard lk(mu_);
  return stop_;
}

bool Election::still_active() const {
  std::lock_guard lk(mu_);
  return info_.role == Role::kActive && Clock::now() < deadline_;
}

Status Election::check() const {
  std::lock_guard lk(mu_);
  if (info_.role == Role::kActive && Clock::now() < deadline_) return ok();
  if (info_.role == Role::kActive)
    return failed_precondition("this manager's lease (epoch " + std::to_string(info_.epoch) +
                               ") was not renewed in time; it no longer acts");
  return failed_precondition("this manager is a standby (" + info_.reason +
                             "); only the active manager acts");
}

int64_t Election::epoch() const {
  std::lock_guard lk(mu_);
  return info_.role == Role::kActive ? info_.epoch : 0;
}

GroupInfo Election::info() const {
  std::lock_guard lk(mu_);
  GroupInfo out = info_;
  // A lapsed deadline is reported at once, before the thread notices it.
  if (out.role == Role::kActive && Clock::now() >= deadline_) {
    out.role = Role::kStandby;
    out.reason = "the lease was not renewed in time";
  }
  return out;
}

void Election::run() {
  while (!stopping()) {
    milliseconds wait{0};
    try {
      wait = step();
    } catch (const std::exception& e) {  // from a callback: never leave the thread
      spdlog::error("election: {}", e.what());
      wait = options_.renew;
    }
    std::unique_lock lk(mu_);
    wake_.wait_for(lk, wait, [this] { return stop_; });
  }
  step_down("this manager is stopping");
  session_.reset();  // closing the session releases the lock at once
}

milliseconds Election::step() {
  auto stop = [this] { return stopping(); };
  bool active = [this] {
    std::lock_guard lk(mu_);
    return info_.role == Role::kActive;
  }();
  if (active) return renew_lease();
  if (!session_) {
    auto s =
        Session::connect(options_.conninfo, options_.schema,
                         Clock::now() + std::min(options_.lease_timeout, kStandbyQueryLimit), stop);
    if (!s) {
      set_standby_reason("cannot reach PostgreSQL: " + s.error().message);
      return options_.renew;
    }
    session_ = std::move(*s);
    // The row always exists (epoch 0: nobody yet), so that a standby can always judge the
    // lease and lock it while it ends a stale holder.
    auto seeded = session_->exec(
        "INSERT INTO manager_lease (id, epoch, holder, address, backend_pid, renewed_at) "
        "VALUES (1, 0, '', '', 0, to_timestamp(0)) ON CONFLICT (id) DO NOTHING",
        {}, Clock::now() + kStandbyQueryLimit, stop);
    if (!seeded) {
      session_.reset();
      set_standby_reason("cannot prepare the lease: " + seeded.error().message);
      return options_.renew;
    }
  }
  return try_to_lead();
}

milliseconds Election::try_to_lead() {
  auto stop = [this] { return stopping(); };
  auto limit = [this] {
    return Clock::now() + std::min(options_.lease_timeout, kStandbyQueryLimit);
  };
  auto lost = [this](const std::string& what, const Error& e) {
    session_.reset();
    set_standby_reason(what + ": " + e.message);
    return options_.renew;
  };

  auto locked = session_->exec("SELECT pg_try_advisory_lock($1::bigint)",
                               {std::to_string(kElectionLockKey)}, limit(), stop);
  if (!locked) return lost("cannot take part in the election", locked.error());
  if (std::string_view(PQgetvalue(locked->get(), 0, 0)) == "t") {
    // Sent before the epoch bump: the database stamps renewed_at at or after this instant,
    // which is what the local deadline is measured from.
    auto sent = Clock::now();
    auto bumped = session_->exec(
        "INSERT INTO manager_lease AS l (id, epoch, holder, address, backend_pid, renewed_at) "
        "VALUES (1, 1, $1, $2, pg_backend_pid(), now()) ON CONFLICT (id) DO UPDATE SET "
        "epoch = l.epoch + 1, holder = EXCLUDED.holder, address = EXCLUDED.address, "
        "backend_pid = EXCLUDED.backend_pid, renewed_at = EXCLUDED.renewed_at RETURNING epoch",
        {options_.holder, options_.address}, sent + options_.lease_timeout - options_.margin(),
        stop);
    if (!bumped) return lost("cannot write the lease", bumped.error());
    become_active(std::stoll(PQgetvalue(bumped->get(), 0, 0)), sent);
    return options_.renew;
  }

  // Someone else holds the lock: read the lease by the database's clock.
  const std::string kRead =
      "SELECT epoch, holder, address, "
      "(EXTRACT(EPOCH FROM (clock_timestamp() - renewed_at)) * 1000)::bigint "
      "FROM manager_lease WHERE id = 1";
  auto lease = session_->exec(kRead, {}, limit(), stop);
  if (!lease) return lost("cannot read the lease", lease.error());
  if (PQntuples(lease->get()) != 1)
    return lost("cannot read the lease", Error{.message = "no row"});
  auto remember = [this](PGresult* r) {
    std::lock_guard lk(mu_);
    info_.epoch = std::stoll(PQgetvalue(r, 0, 0));
    info_.active_holder = PQgetvalue(r, 0, 1);
    info_.active_address = PQgetvalue(r, 0, 2);
    info_.reason = info_.epoch == 0
                       ? "another member is taking the lease"
                       : "member " + info_.active_holder + " at " + info_.active_address +
                             " is active with epoch " + std::to_string(info_.epoch);
  };
  remember(lease->get());
  if (std::stoll(PQgetvalue(lease->get(), 0, 3)) <= options_.lease_timeout.count())
    return options_.renew;

  // The lease is stale: its holder is paused, stalled or cut off, and keeps its lock for ever.
  // Judge again with the row locked, so that no epoch bump can commit between the judgement
  // and the termination: whoever we end then either wrote the stale row (its own deadline has
  // long passed) or holds the lock without having written its epoch (it never became active).
  auto locked_tx = [&]() -> Result<bool> {
    TRY(session_->exec("BEGIN", {}, limit(), stop));
    auto row = TRY(session_->exec(kRead + " FOR UPDATE", {}, limit(), stop));
    remember(row.get());
    if (std::stoll(PQgetvalue(row.get(), 0, 3)) <= options_.lease_timeout.count()) {
      TRY(session_->exec("ROLLBACK", {}, limit(), stop));
      return false;
    }
    auto ended = TRY(session_->exec(
        "SELECT pid, pg_terminate_backend(pid, $3::bigint) FROM pg_locks "
        "WHERE locktype = 'advisory' AND classid = $1::oid AND objid = $2::oid "
        "AND objsubid = 1 AND granted",
        {kLockHigh, kLockLow, std::to_string(kStandbyQueryLimit.count() / 2)}, limit(), stop));
    for (int i = 0; i < PQntuples(ended.get()); ++i)
      spdlog::warn(
          "election: the lease of {} (epoch {}) went unrenewed for more than {}; ended its "
          "PostgreSQL session (backend {}, terminated: {})",
          PQgetvalue(row.get(), 0, 1), PQgetvalue(row.get(), 0, 0), ms_text(options_.lease_timeout),
          PQgetvalue(ended.get(), i, 0), PQgetvalue(ended.get(), i, 1));
    TRY(session_->exec("COMMIT", {}, limit(), stop));
    return true;
  }();
  if (!locked_tx) return lost("cannot take over the stale lease", locked_tx.error());
  return *locked_tx ? milliseconds(0) : options_.renew;  // ended it: try the lock at once
}

milliseconds Election::renew_lease() {
  auto stop = [this] { return stopping(); };
  Clock::time_point deadline;
  int64_t epoch = 0;
  {
    std::lock_guard lk(mu_);
    deadline = deadline_;
    epoch = info_.epoch;
  }
  auto sent = Clock::now();
  if (sent >= deadline) {
    session_.reset();
    step_down("the lease was not renewed in time (last renewal more than " +
              ms_text(options_.lease_timeout - options_.margin()) + " ago)");
    return milliseconds(0);
  }
  auto r = session_->exec("UPDATE manager_lease SET renewed_at = now() WHERE id = 1 AND epoch = $1",
                          {std::to_string(epoch)}, deadline, stop);
  if (!r || std::string_view(PQcmdTuples(r->get())) != "1") {
    std::string why = !r ? "renewing the lease failed: " + r.error().message
                         : "another member took the lease over (epoch " + std::to_string(epoch) +
                               " is no longer current)";
    session_.reset();
    step_down(why);
    return options_.renew;
  }
  // Renewed, but too late: this member already stopped acting at its deadline (check() failed
  // and the engine's runs were told so). Acting again as if nothing happened would leave those
  // runs failed by an active that never stepped down; step down instead, as a member that
  // lapsed always does (a stalled backend answering at the last moment made this a race).
  if (Clock::now() >= deadline) {
    session_.reset();
    step_down("the lease was not renewed in time (the renewal answered after the deadline)");
    return options_.renew;
  }
  {
    std::lock_guard lk(mu_);
    deadline_ = sent + options_.lease_timeout - options_.margin();
  }
  // The next renewal is due `renew` after this one was sent, however long it took.
  return std::max(milliseconds(0),
                  std::chrono::duration_cast<milliseconds>(sent + options_.renew - Clock::now()));
}

void Election::become_active(int64_t epoch, Clock::time_point sent) {
  {
    std::lock_guard lk(mu_);
    info_.role = Role::kActive;
    info_.epoch = epoch;
    info_.active_holder = options_.holder;
    info_.active_address = options_.address;
    info_.reason.clear();
    deadline_ = sent + options_.lease_timeout - options_.margin();
  }
  spdlog::info("election: this manager ({}) is active with epoch {}", options_.holder, epoch);
  if (callbacks_.became_active) callbacks_.became_active(epoch);
}

void Election::step_down(const std::string& reason) {
  int64_t epoch = 0;
  {
    std::lock_guard lk(mu_);
    if (info_.role != Role::kActive) return;
    info_.role = Role::kStandby;
    info_.reason = reason;
    info_.active_holder.clear();
    info_.active_address.clear();
    deadline_ = {};
    epoch = info_.epoch;
  }
  spdlog::warn("election: this manager stepped down from epoch {}: {}", epoch, reason);
  if (callbacks_.stepped_down) callbacks_.stepped_down(epoch, reason);
}

void Election::set_standby_reason(const std::string& reason) {
  std::lock_guard lk(mu_);
  if (info_.role != Role::kActive) info_.reason = reason;
}

}  // namespace flinkbr::group
