#include "server/api.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "server/json.h"
#include "server/metrics.h"
#include "server/worker_pool.h"

namespace flinkbr::server {

namespace {

using httplib::Request;
using httplib::Response;
using Clock = std::chrono::steady_clock;

// Open GET /events streams, in all and per user. Each holds a thread lent out of the request
// pool (worker_pool.h) for as long as it is open; the caps bound those threads. Four per user
// leave room for a few console tabs; one viewer cannot take all.
constexpr int kMaxEventStreams = 32;
constexpr int kMaxEventStreamsPerUser = 4;
// Calls that may take long (they read a whole backup file or wait for a service command), in
// all and per user; each holds a lent-out thread too while it runs.
constexpr int kMaxSlowCalls = 16;
constexpr int kMaxSlowCallsPerUser = 4;
// Threads that serve ordinary requests whatever streams and slow calls hold.
constexpr size_t kRequestWorkers = 16;
// What a refused stream or slow call is told to wait (Retry-After).
constexpr int kBusyRetryAfterSeconds = 5;
// Largest request body accepted (every body of this API is a few hundred bytes).
constexpr size_t kMaxBodyBytes = 1 << 20;
constexpr auto kKeepAliveEvery = std::chrono::seconds(15);
// An open event stream checks its token again this often (by default; see
// Api::set_stream_token_check_every): a logout, a password reset or the deletion of its user
// ends the stream within about this long, as it ends any other call.
constexpr auto kStreamTokenCheckEvery = std::chrono::seconds(3);
// The console's session: the token rides in this HttpOnly cookie, so the page's scripts never
// see it; state-changing calls authenticated by the cookie must carry kCsrfHeader (see
// docs/design.md, "Console sessions").
constexpr std::string_view kSessionCookie = "flinkbr_session";
constexpr std::string_view kCsrfHeader = "X-Flinkbr-CSRF";

// A successful answer: a status and a JSON body, or (for the event stream) a function that sets
// up the response itself.
struct Reply {
  int status = 200;
  json body = json::object();
  std::function<void(Response&)> stream;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Set-Cookie
};

// What a handler sees, and what it leaves for the audit trail.
struct Call {
  const Request& req;
  std::optional<store::User> user;  // set when the route needs credentials
  std::string token;
  bool by_cookie = false;  // the token came from the session cookie (the console)
  std::string action;      // audit action; the route's, a handler may refine it
  std::string target;      // audit target; the first {name} unless the handler sets it
  std::string detail;      // audit detail on success (short; never secrets)
  std::string audit_user;  // for unauthenticated calls (login: the name tried)
  // The manager group's relay (server/relay.h): `relayed_in` on the active, for a command a
  // standby wrote (carried out here, never relayed again); `answered_by_active` on a standby
  // whose answer came from the active, which audited the call.
  bool relayed_in = false;
  bool answered_by_active = false;
  bool lent_out = false;  // a slow call: its thread is already lent out of the request pool

  std::string param(size_t i) const { return req.matches[i].str(); }
};

using HandlerFn = std::function<Result<Reply>(Call&)>;

struct Route {
  std::string method;               // "GET", "POST", "DELETE"
  std::string pattern;              // regex after /api/v1
  std::optional<store::Role> role;  // nullopt: no credentials needed
  std::string action;               // audit action for state-changing calls; "" for reads
  std::string what;                 // "start a restoration", for the permission error
  bool token_in_query = false;      // GET /events: EventSource cannot send headers
  bool slow = false;                // may run long: capped, on a lent-out thread (see kSlowRoutes)
  HandlerFn fn;
};

// Counts what each user holds of a capped resource (event streams, slow calls), and in all.
// A Slot gives its share back when destroyed. Thread-safe.
class Quota {
 public:
  class Slot {
   public:
    Slot() = default;
    Slot(Quota* q, std::string user) : q_(q), user_(std::move(user)) {}
    Slot(Slot&& o) noexcept : q_(std::exchange(o.q_, nullptr)), user_(std::move(o.user_)) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (q_) q_->give_back(user_);
    }

   private:
    Quota* q_ = nullptr;
    std::string user_;
  };

  Quota(int total, int per_user, std::string what)
      : total_(total), per_user_(per_user), what_(std::move(what)) {}

  // A slot for `user`; kResourceExhausted (429) past the user's share, kUnavailable (503) past
  // the total, both with a Retry-After.
  Result<Slot> take(const std::string& user) {
    std::lock_guard lock(mutex_);
    int& mine = by_user_[user];
    if (mine >= per_user_) {
      Error e{Errc::kResourceExhausted,
              "too many " + what_ + " of user '" + user + "' at once (at most " +
                  std::to_string(per_user_) + "); retry when one has ended",
              {},
              true};
      e.retry_after_seconds = kBusyRetryAfterSeconds;
      return std::unexpected(std::move(e));
    }
    if (all_ >= total_) {
      Error e{Errc::kUnavailable,
              "the daemon serves " + std::to_string(total_) + " " + what_ + " already; retry later",
              {},
              true};
      e.retry_after_seconds = kBusyRetryAfterSeconds;
      return std::unexpected(std::move(e));
    }
    ++mine;
    ++all_;
    return Slot(this, user);
  }

 private:
  void give_back(const std::string& user) {
    std::lock_guard lock(mutex_);
    --all_;
    if (auto it = by_user_.find(user); it != by_user_.end() && --it->second <= 0)
      by_user_.erase(it);
  }

  const int total_;
  const int per_user_;
  const std::string what_;
  std::mutex mutex_;
  std::map<std::string, int> by_user_;
  int all_ = 0;
};

// The calls that may hold their thread long: they read a whole backup file (verify, a restore's
// checks and preview, a restore task's file checked at creation) or wait for a service command.
// Listed apart so that the route table stays as it is.
constexpr std::pair<std::string_view, std::string_view> kSlowRoutes[] = {
    {"POST", "/backup-verify"},
    {"POST", "/backup-records/([^/]+)/verify"},
    {"POST", "/restore-tasks"},
    {"POST", "/restore-tasks/([^/]+)/start"},
    {"POST", "/restore-tasks/([^/]+)/retry"},
    {"POST", "/clusters/([^/]+)/service/stop"},
    {"POST", "/clusters/([^/]+)/service/start"},
};

// The calls a standby hands to the active (docs/design.md, "The command relay"): those that run
// work or whose checks only the active can make. The active carries out these and nothing else,
// whatever a command row names: the row is data that anyone holding the state database's
// credentials can write, and a password, a role or a user must never change through it (a
// password would also rest in the row as clear text).
constexpr std::string_view kRelayedActions[] = {
    "backup.run",    "backup.suspend", "backup.resume", "backup.delete", "restore.start",
    "restore.retry", "restore.delete", "service.stop",  "service.start",
};

bool is_relayed_action(std::string_view action) {
  return std::ranges::find(kRelayedActions, action) != std::end(kRelayedActions);
}

Status require(const json& body, std::string_view field) {
  if (string_field(body, field).empty())
    return invalid_argument(std::string(field), std::string(field) + ": required");
  return ok();
}

// No body, or an empty object: state-changing calls that take no parameters still refuse
// fields they do not know, so that a typo is not silently ignored.
Status no_body(const Request& req) {
  TRY(parse_request(req.body, {}, /*allow_empty=*/true));
  return ok();
}

Result<store::Page> page_of(const Request& req) {
  auto param = [&](const char* key) -> std::optional<std::string_view> {
    auto it = req.params.find(key);
    if (it == req.params.end()) return std::nullopt;
    return std::string_view(it->second);
  };
  return parse_page(param("limit"), param("offset"));
}

json page_json(json items, const store::Page& page, int64_t total) {
  return {{"items", std::move(items)},
          {"limit", page.limit},
          {"offset", page.offset},
          {"total", total}};
}

// The value of cookie `name` in the request's Cookie header(s), "" when absent.
std::string cookie_value(const Request& req, std::string_view name) {
  const size_t n = req.get_header_value_count("Cookie");
  for (size_t i = 0; i < n; ++i) {
    const std::string header = req.get_header_value("Cookie", i);
    std::string_view h = header;
    while (!h.empty()) {
      size_t end = h.find(';');
      std::string_view pair = h.substr(0, end);
      h = end == std::string_view::npos ? std::string_view() : h.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name)
        return std::string(pair.substr(eq + 1));
    }
  }
  return {};
}

template <class T, class F>
json items_json(const std::vector<T>& v, F&& to_json) {
  json a = json::array();
  for (const auto& x : v) a.push_back(to_json(x));
  return a;
}

Result<int64_t> record_id(std::string_view s) {
  int64_t id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || p != s.data() + s.size() || id <= 0)
    return invalid_argument("id", "id: expected a positive integer");
  return id;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

void write_json(Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(dump(body), "application/json");
}

void write_error(Response& res, const Error& e) {
  if (e.code == Errc::kUnauthenticated) res.set_header("WWW-Authenticate", "Bearer");
  if (e.retry_after_seconds > 0)
    res.set_header("Retry-After", std::to_string(e.retry_after_seconds));
  write_json(res, errc_http_status(e.code), error_json(e));
}

// Start time of the request this thread is serving, for the request log (httplib serves a
// request on one thread from routing to logging).
thread_local std::optional<Clock::time_point> t_request_start;

constexpr std::string_view kNoConsolePage = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>flinkbr</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>flinkbr</h1>
<p>The web console is not built, so this daemon serves only its REST API under
<code>/api/v1/</code> (see <code>docs/openapi.yaml</code>).</p>
<p>Use the command line meanwhile, for example:</p>
<pre>flinkbr login --user admin
flinkbr cluster list
flinkbr backup list
flinkbr restore list</pre>
<p>or build the console and point <code>server.console_dir</code> at it.</p>
</body></html>
)";

}  // namespace

struct Api::Impl {
  const config::Config& config;
  task::Engine& engine;
  auth::Auth& auth;
  store::Store& store;
  task::EventBus& events;
  std::atomic<bool> ready{false};
  std::function<json()> health_extras;  // set before mount; see set_health_extras
  GroupRelay* relay = nullptr;          // set before mount; see set_relay
  // Set before mount; see set_stream_token_check_every.
  std::chrono::milliseconds stream_token_check_every = kStreamTokenCheckEvery;
  Quota stream_quota{kMaxEventStreams, kMaxEventStreamsPerUser, "open event streams"};
  Quota slow_quota{kMaxSlowCalls, kMaxSlowCallsPerUser, "long-running calls"};
  // The HTTP server's task queue when mount() chose it (httplib creates it when it starts
  // listening and deletes it when it stops); null otherwise, and then nothing is lent out.
  std::atomic<WorkerPool*> pool{nullptr};
  std::vector<Route> routes;

  Impl(const config::Config& c, task::Engine& e, auth::Auth& a, store::Store& s, task::EventBus& ev)
      : config(c), engine(e), auth(a), store(s), events(ev) {
    define_routes();
    for (auto& r : routes)
      for (const auto& [method, pattern] : kSlowRoutes)
        if (r.method == method && r.pattern == pattern) r.slow = true;
  }

  // Lends the calling thread out of the request pool (see worker_pool.h). Always within the
  // pool's bound, since the quotas are below it.
  WorkerPool::Hold lend_thread() {
    WorkerPool* p = pool.load();
    return p ? p->try_hold() : WorkerPool::Hold();
  }

  // ---- Plumbing -------------------------------------------------------------------------------

  Result<store::User> authenticate(Call& call, bool token_in_query) {
    const Request& req = call.req;
    std::string token;
    if (req.has_header("Authorization")) {
      std::string h = req.get_header_value("Authorization");
      if (!iequals_prefix(h, "bearer "))
        return make_error(Errc::kUnauthenticated,
                          "the Authorization header must be 'Bearer <token>'");
      token = h.substr(7);
      while (!token.empty() && token.front() == ' ') token.erase(0, 1);
      while (!token.empty() && token.back() == ' ') token.pop_back();
    } else if (token_in_query && req.has_param("token")) {
      token = req.get_param_value("token");
    } else if (std::string v = cookie_value(req, kSessionCookie); !v.empty()) {
      token = std::move(v);
      call.by_cookie = true;
    }
    if (token.empty())
      return make_error(Errc::kUnauthenticated,
                        "authentication required: send 'Authorization: Bearer <token>' with a "
                        "token from POST /api/v1/auth/login (flinkbr login)");
    // Tokens are hex; anything else cannot be one, and must not reach the logs.
    if (token.size() > 256 ||
        token.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      return make_error(Errc::kUnauthenticated, "invalid or expired token; log in again");
    auto user = auth.authenticate(token);
    if (!user) return std::unexpected(user.error());
    call.token = std::move(token);
    return user;
  }

  // Set-Cookie for the console's session cookie: HttpOnly (scripts cannot read it),
  // SameSite=Strict (no other site's page makes the browser send it), Secure under TLS.
  // An empty token clears it.
  std::string session_cookie(const std::string& token) const {
    std::string c =
        std::string(kSessionCookie) + "=" + token + "; Path=/; HttpOnly; SameSite=Strict";
    c += "; Max-Age=" + std::to_string(token.empty() ? 0 : config.server.token_ttl_seconds);
    if (!config.server.tls_cert_file.empty()) c += "; Secure";
    return c;
  }

  void audit(const Call& call, const Result<Reply>& out) {
    store::AuditEntry e;
    e.at = now_seconds();
    e.user = call.user ? call.user->name
                       : (call.audit_user.empty() ? std::string("anonymous") : call.audit_user);
    e.action = call.action;
    e.target = sanitize_for_log(call.target, 255);
    if (out) {
      e.outcome = "ok";
      e.detail = call.detail;
    } else {
      e.outcome = std::string(errc_name(out.error().code));
      e.detail = sanitize_for_log(out.error().message, 200);
    }
    if (auto st = store.append_audit(e); !st)
      spdlog::warn("audit: cannot record {} {} by {}: {}", e.action, e.target, e.user,
                   st.error().message);
  }

  void handle(const Route& route, const Request& req, Response& res) {
    Call call{.req = req, .action = route.action};
    if (req.matches.size() > 1) call.target = sanitize_for_log(req.matches[1].str(), 255);

    Result<Reply> out = [&]() -> Result<Reply> {
      if (route.role) {
        call.user = TRY(authenticate(call, route.token_in_query));
        if (!auth::allows(call.user->role, *route.role))
          return make_error(Errc::kPermissionDenied,
                            "the " + std::string(store::to_string(*route.role)) +
                                " role is required to " + route.what);
        // A browser sends the cookie by itself; only our console can read the session's
        // anti-CSRF token and put it in a header (another site cannot set custom headers on a
        // request to us without a CORS preflight, which this daemon never grants).
        if (call.by_cookie && route.method != "GET" &&
            !auth::Auth::csrf_matches(call.token, req.get_header_value(std::string(kCsrfHeader))))
          return make_error(Errc::kPermissionDenied,
                            "a request authenticated by the console's session cookie must carry "
                            "the header " +
                                std::string(kCsrfHeader) +
                                " with the session's csrf_token (GET /api/v1/auth/me); reload the "
                                "console");
      }
      for (size_t i = 1; i < req.matches.size(); ++i)
        TRY(check_path_param(req.matches[i].str(),
                             route.pattern.starts_with("/backup-records/") ? "id" : "name"));
      // A slow call keeps its thread out of the request pool while it runs (the slot and the
      // hold end with this scope).
      std::optional<Quota::Slot> slot;
      WorkerPool::Hold hold;
      if (route.slow) {
        slot.emplace(TRY(slow_quota.take(call.user ? call.user->name : std::string())));
        hold = lend_thread();
        call.lent_out = true;
      }
      // Third-party exceptions stop here (result.h: none cross our interfaces).
      try {
        return route.fn(call);
      } catch (const std::exception& e) {
        spdlog::error("{} {}: unexpected exception: {}", req.method,
                      sanitize_for_log(req.path, 200), e.what());
        return internal_error("internal error while serving the request; see the daemon log");
      }
    }();

    if (!call.action.empty() && !call.answered_by_active) audit(call, out);
    if (out)
      for (const auto& [k, v] : out->headers) res.set_header(k, v);
    if (!out) {
      write_error(res, out.error());
      return;
    }
    if (out->stream) {
      out->stream(res);
      return;
    }
    write_json(res, out->status, out->body);
  }

  // On a standby of a manager group: hands the call, validated up to here by its handler exactly
  // as the active would, to the active through the database (server/relay.h), and answers what
  // the active answered. nullopt where this member carries the call out itself.
  std::optional<Result<Reply>> relayed(Call& c) {
    if (!relay || c.relayed_in || relay->acts_here()) return std::nullopt;
    // A handler that relays must be listed, or the active would refuse its command.
    if (!is_relayed_action(c.action))
      return std::unexpected(internal_error("'" + c.action + "' is not a relayed call"));
    // The wait may be long (up to the relay's bounds): the thread is lent out meanwhile, and
    // counts as a slow call (per user and in all), as a slow route's does. Without the quota,
    // calls waiting for an active that does not take them held every thread of the pool, and the
    // standby answered nothing else, not even its health, until they gave up.
    std::optional<Quota::Slot> slot;
    WorkerPool::Hold hold;
    if (!c.lent_out) {
      auto taken = slow_quota.take(c.user->name);
      if (!taken) return std::unexpected(std::move(taken.error()));
      slot.emplace(std::move(*taken));
      hold = lend_thread();
    }
    auto answer = relay->submit(c.action, c.param(1), c.req.body, c.user->name);
    if (!answer) return std::unexpected(std::move(answer.error()));
    c.answered_by_active = true;
    Reply r{.status = answer->status, .body = std::move(answer->body)};
    if (answer->retry_after_seconds > 0)
      r.headers.emplace_back("Retry-After", std::to_string(answer->retry_after_seconds));
    return r;
  }

  RelayAnswer execute(const store::RelayCommand& cmd) {
    const Route* route = nullptr;
    for (const auto& r : routes)
      if (r.action == cmd.operation && is_relayed_action(r.action) &&
          r.pattern.find("([^/]+)") != std::string::npos)
        route = &r;
    httplib::Request req;
    req.body = cmd.args;
    req.remote_addr = cmd.origin;
    // A command row may have been written by hand: what it names reaches the audit trail and the
    // log only sanitized.
    Call call{.req = req, .action = sanitize_for_log(cmd.operation, 64), .relayed_in = true};
    call.target = sanitize_for_log(cmd.target, 255);
    // The route's path with the command's target, matched by the route's own pattern, so that
    // the handler reads its parameter as for a request (the string outlives the match).
    std::string path;
    Result<Reply> out = [&]() -> Result<Reply> {
      if (!route)
        return invalid_argument("operation", "operation: '" + sanitize_for_log(cmd.operation, 64) +
                                                 "' is not a call that a standby hands to the "
                                                 "active manager; nothing was done");
      TRY(check_path_param(cmd.target));
      path = route->pattern;
      path.replace(path.find("([^/]+)"), 7, cmd.target);
      req.method = route->method;
      if (!std::regex_match(path, req.matches, std::regex(route->pattern)))
        return invalid_argument("name", "name: not a valid name");
      // The role as it is now: an administrator may have changed it since the standby checked.
      auto user = store.get_user(cmd.user);
      if (!user && user.error().code == Errc::kNotFound)
        return make_error(Errc::kUnauthenticated, "user '" + sanitize_for_log(cmd.user, 64) +
                                                      "' no longer exists; log in again");
      call.user = TRY(std::move(user));
      if (!auth::allows(call.user->role, *route->role))
        return make_error(Errc::kPermissionDenied, "the " +
                                                       std::string(store::to_string(*route->role)) +
                                                       " role is required to " + route->what);
      try {
        return route->fn(call);
      } catch (const std::exception& e) {
        spdlog::error("relayed {} '{}': unexpected exception: {}", cmd.operation,
                      sanitize_for_log(cmd.target, 200), e.what());
        return internal_error("internal error while serving the request; see the daemon log");
      }
    }();
    if (out && !cmd.origin.empty())
      call.detail += (call.detail.empty() ? "" : " ") + std::string("via ") + cmd.origin;
    audit(call, out);
    if (!out)
      return RelayAnswer{.status = errc_http_status(out.error().code),
                         .body = error_json(out.error()),
                         .retry_after_seconds = out.error().retry_after_seconds};
    return RelayAnswer{.status = out->status, .body = std::move(out->body)};
  }

  void add(httplib::Server& http, const Route& route) {
    const Route* r = &route;  // `routes` is never resized after define_routes()
    httplib::Server::Handler h = [this, r](const Request& req, Response& res) {
      handle(*r, req, res);
    };
    const std::string pattern = "/api/v1" + route.pattern;
    if (route.pattern == "/metrics") http.Get("/metrics", h);
    if (route.method == "GET")
      http.Get(pattern, h);
    else if (route.method == "POST")
      http.Post(pattern, h);
    else if (route.method == "DELETE")
      http.Delete(pattern, h);
  }

  void get(std::string pattern, std::optional<store::Role> role, HandlerFn fn,
           bool token_in_query = false, std::string what = "read this") {
    routes.push_back(Route{.method = "GET",
                           .pattern = std::move(pattern),
                           .role = role,
                           .what = std::move(what),
                           .token_in_query = token_in_query,
                           .fn = std::move(fn)});
  }
  void change(std::string method, std::string pattern, std::optional<store::Role> role,
              std::string action, std::string what, HandlerFn fn) {
    routes.push_back(Route{.method = std::move(method),
                           .pattern = std::move(pattern),
                           .role = role,
                           .action = std::move(action),
                           .what = std::move(what),
                           .fn = std::move(fn)});
  }

  // ---- Routes ---------------------------------------------------------------------------------

  void define_routes() {
    using store::Role;
    constexpr auto kViewer = Role::kViewer;
    constexpr auto kOperator = Role::kOperator;
    constexpr auto kAdmin = Role::kAdministrator;
    const std::string kName = "([^/]+)";

    // Auth.
    change("POST", "/auth/login", std::nullopt, "auth.login", "",
           [this](Call& c) { return login(c); });
    change("POST", "/auth/logout", kViewer, "auth.logout", "log out",
           [this](Call& c) -> Result<Reply> {
             TRY(no_body(c.req));
             c.target = c.user->name;
             TRY(auth.logout(c.token));
             Reply r{.body = {{"logged_out", true}}};
             if (c.by_cookie) r.headers.emplace_back("Set-Cookie", session_cookie(""));
             return r;
           });
    get("/auth/me", kViewer, [](Call& c) -> Result<Reply> {
      json me = user_json(*c.user);
      me["session"] = c.by_cookie ? "cookie" : "bearer";
      // Readable only by a page of our own origin (no CORS), which is the point.
      if (c.by_cookie) me["csrf_token"] = auth::Auth::csrf_token(c.token);
      return Reply{.body = std::move(me)};
    });

    // Users.
    get(
        "/users", kAdmin,
        [this](Call&) -> Result<Reply> {
          auto users = TRY(store.list_users());
          return Reply{.body = {{"items", items_json(users, user_json)}}};
        },
        false, "list users");
    change("POST", "/users", kAdmin, "user.create", "create users",
           [this](Call& c) -> Result<Reply> {
             json body = TRY(parse_request(c.req.body, kUserFields));
             c.target = string_field(body, "name");
             TRY(require(body, "name"));
             TRY(require(body, "role"));
             TRY(require(body, "password"));
             auto role = TRY(store::parse_role(string_field(body, "role")));
             auto user = TRY(auth.create_user(c.target, role, string_field(body, "password")));
             c.detail = "role=" + std::string(store::to_string(role));
             return Reply{.status = 201, .body = user_json(user)};
           });

    // An administrator changes other users only: their own role and account stay, so that no
    // slip leaves the daemon without an administrator.
    auto not_yourself = [](const Call& c, std::string_view what) -> Status {
      if (c.param(1) == c.user->name)
        return failed_precondition("you cannot " + std::string(what) +
                                   " yourself; another administrator can");
      return ok();
    };
    change("POST", "/users/" + kName + "/role", kAdmin, "user.role", "change roles",
           [this, not_yourself](Call& c) -> Result<Reply> {
             json body = TRY(parse_request(c.req.body, kRoleFields));
             c.target = c.param(1);
             TRY(require(body, "role"));
             auto role = TRY(store::parse_role(string_field(body, "role")));
             TRY(not_yourself(c, "change the role of"));
             TRY(store.set_user_role(c.param(1), role));
             c.detail = "role=" + std::string(store::to_string(role));
             return Reply{.body = user_json(TRY(store.get_user(c.param(1))))};
           });
    change("POST", "/users/" + kName + "/password", kAdmin, "user.password", "reset passwords",
           [this, not_yourself](Call& c) -> Result<Reply> {
             json body = TRY(parse_request(c.req.body, kPasswordFields));
             c.target = c.param(1);
             TRY(require(body, "password"));
             TRY(not_yourself(c, "reset the password of"));
             auto user = TRY(store.get_user(c.param(1)));
             TRY(auth.set_password(user, string_field(body, "password"), "password"));
             return Reply{.body = user_json(user)};
           });
    change("DELETE", "/users/" + kName, kAdmin, "user.delete", "delete users",
           [this, not_yourself](Call& c) -> Result<Reply> {
             c.target = c.param(1);
             TRY(not_yourself(c, "delete"));
             TRY(store.delete_user(c.param(1)));
             return Reply{.body = {{"name", c.param(1)}, {"deleted", true}}};
           });
    // Every user changes their own password, knowing the current one; their other sessions end.
    change(
        "POST", "/auth/password", kViewer, "auth.password", "change your password",
        [this](Call& c) -> Result<Reply> {
          json body = TRY(parse_request(c.req.body, kMyPasswordFields));
          c.target = c.user->name;
          TRY(require(body, "current_password"));
          TRY(require(body, "new_password"));
          auto user = TRY(store.get_user(c.user->name));
          TRY(auth.check_current_password(user, string_field(body, "current_password"),
                                          c.req.remote_addr, "current_password"));
          TRY(auth.set_password(user, string_field(body, "new_password"), "new_password", c.token));
          return Reply{.body = {{"name", user.name}, {"password_changed", true}}};
        });

    // Clusters and services.
    get("/clusters", kViewer, [this](Call&) -> Result<Reply> {
      auto clusters = TRY(engine.list_clusters());
      return Reply{.body = {{"items", items_json(clusters, cluster_json)}}};
    });
    get("/clusters/" + kName + "/service", kViewer, [this](Call& c) -> Result<Reply> {
      auto st = TRY(engine.service_status(c.param(1)));
      return Reply{.body = cluster_service_json(c.param(1), st)};
    });
    change("POST", "/clusters/" + kName + "/service/stop", kOperator, "service.stop",
           "stop a Flink service", [this](Call& c) -> Result<Reply> {
             TRY(no_body(c.req));
             if (auto r = relayed(c)) return std::move(*r);
             TRY(engine.service_stop(c.param(1)));
             auto st = TRY(engine.service_status(c.param(1)));
             c.detail = "state=" + std::string(service::to_string(st.state));
             return Reply{.body = cluster_service_json(c.param(1), st)};
           });
    change("POST", "/clusters/" + kName + "/service/start", kOperator, "service.start",
           "start a Flink service", [this](Call& c) -> Result<Reply> {
             TRY(no_body(c.req));
             if (auto r = relayed(c)) return std::move(*r);
             TRY(engine.service_start(c.param(1)));
             auto st = TRY(engine.service_status(c.param(1)));
             c.detail = "state=" + std::string(service::to_string(st.state));
             return Reply{.body = cluster_service_json(c.param(1), st)};
           });

    // Backup tasks and records.
    get("/backup-tasks", kViewer, [this](Call& c) -> Result<Reply> {
      auto page = TRY(page_of(c.req));
      auto tasks = TRY(engine.list_backup_tasks(page));
      const int64_t total = TRY(store.count_backup_tasks());
      // Each task with its latest run (one indexed query per task of this page), so that a list
      // shows "last run and its status" without a request per row.
      json items = json::array();
      for (const auto& t : tasks) {
        json j = backup_task_json(t);
        auto last = TRY(store.list_backup_records(t.id, {.limit = 1}));
        j["last_run"] = last.empty() ? json(nullptr)
                                     : json{{"id", last[0].id},
                                            {"status", to_string(last[0].status)},
                                            {"started_at", time_json(last[0].started_at)},
                                            {"ended_at", time_json(last[0].ended_at)}};
        items.push_back(std::move(j));
      }
      return Reply{.body = page_json(std::move(items), page, total)};
    });
    change("POST", "/backup-tasks", kOperator, "backup.create", "create a backup task",
           [this](Call& c) -> Result<Reply> {
             json body = TRY(parse_request(c.req.body, kBackupTaskFields));
             task::BackupTaskSpec spec{
                 .name = string_field(body, "name"),
                 .cluster = string_field(body, "cluster"),
                 .data_source = string_field(body, "data_source"),
                 .path_type = string_field(body, "path_type"),
                 .path = string_field(body, "path"),
                 .nameservice = string_field(body, "nameservice"),
                 .namenode_ip = string_field(body, "namenode_ip"),
                 .max_copies = int_field(body, "max_copies", 0),
                 .period = string_field(body, "period"),
                 .start_time = string_field(body, "start_time"),
                 .verify = bool_field(body, "verify"),
             };
             c.target = spec.name;
             auto t = TRY(engine.create_backup_task(spec));
             c.detail = "cluster=" + t.cluster +
                        " data_source=" + std::string(to_string(t.data_source)) +
                        " path_type=" + std::string(to_string(t.params.path_type)) +
                        (t.period_seconds > 0 ? " period=" + std::to_string(t.period_seconds) + "s"
                                              : std::string());
             return Reply{.status = 201, .body = backup_task_json(t)};
           });
    get("/backup-tasks/" + kName, kViewer, [this](Call& c) -> Result<Reply> {
      return Reply{.body = backup_task_json(TRY(engine.get_backup_task(c.param(1))))};
    });
    change("DELETE", "/backup-tasks/" + kName, kOperator, "backup.delete", "delete a backup task",
           [this](Call& c) -> Result<Reply> {
             // The active alone knows which backup tasks are running.
             if (auto r = relayed(c)) return std::move(*r);
             TRY(engine.delete_backup_task(c.param(1)));
             return Reply{.body = {{"name", c.param(1)}, {"deleted", true}}};
           });
    change("POST", "/backup-tasks/" + kName + "/run", kOperator, "backup.run", "run a backup",
           [this](Call& c) -> Result<Reply> {
             TRY(no_body(c.req));
             if (auto r = relayed(c)) return std::move(*r);
             auto rec = TRY(engine.run_backup(c.param(1)));
             c.detail = "record=" + std::to_string(rec.id);
             return Reply{.status = 202, .body = backup_record_json(rec)};
           });
    for (bool suspend : {true, false}) {
      change("POST", "/backup-tasks/" + kName + (suspend ? "/suspend" : "/resume"), kOperator,
             suspend ? "backup.suspend" : "backup.resume",
             suspend ? "suspend a backup task" : "resume a backup task",
             [this, suspend](Call& c) -> Result<Reply> {
               TRY(no_body(c.req));
               if (auto r = relayed(c)) return std::move(*r);
               TRY(engine.suspend_backup(c.param(1), suspend));
               return Reply{.body = backup_task_json(TRY(engine.get_backup_task(c.param(1))))};
             });
    }
    get("/backup-tasks/" + kName + "/records", kViewer, [this](Call& c) -> Result<Reply> {
      auto page = TRY(page_of(c.req));
      auto recs = TRY(engine.backup_history(c.param(1), page));
      const auto task = TRY(engine.get_backup_task(c.param(1)));
      const int64_t total = TRY(store.count_backup_records(task.id));
      return Reply{.body = page_json(items_json(recs, backup_record_json), page, total)};
    });
    get("/backup-records/" + kName, kViewer, [this](Call& c) -> Result<Reply> {
      auto id = TRY(record_id(c.param(1)));
      return Reply{.body = backup_record_json(TRY(engine.get_backup_record(id)))};
    });
    change("POST", "/backup-records/" + kName + "/verify", kOperator, "backup.verify",
           "verify a backup file", [this](Call& c) -> Result<Reply> {
             TRY(no_body(c.req));
             auto id = TRY(record_id(c.param(1)));
             c.target = "record " + c.param(1);
             auto v = TRY(engine.verify_record(id));
             c.detail = v.checksum;
             return Reply{.body = verify_json(v)};
           });
    change("POST", "/backup-verify", kOperator, "backup.verify", "verify a backup file",
           [this](Call& c) -> Result<Reply> {
             json body = TRY(parse_request(c.req.body, kFileFields));
             task::FileSpec spec{
                 .cluster = string_field(body, "cluster"),
                 .path_type = string_field(body, "path_type"),
                 .source_path = string_field(body, "source_path"),
                 .nameservice = string_field(body, "nameservice"),
                 .ip_mode = string_field(body, "ip_mode"),
                 .namenode_ip = string_field(body, "namenode_ip"),
             };
             c.target = spec.source_path;
             auto v = TRY(engine.verify_file(spec));
             c.detail = v.checksum;
             return Reply{.body = verify_json(v)};
           });

    // Restoration tasks.
    get("/restore-tasks", kViewer, [this](Call& c) -> Result<Reply> {
      auto page = TRY(page_of(c.req));
      auto tasks = TRY(engine.list_restore_tasks(page));
      const int64_t total = TRY(store.count_restore_tasks());
      // Each with its latest attempt's progress_detail, as GET /restore-tasks/{name} has it (one
      // indexed query per task of this page), so that a list draws the same progress bars.
      json items = json::array();
      for (const auto& t : tasks) {
        json j = restore_task_json(t);
        const auto attempts = TRY(store.list_attempts(t.id));
        j["progress_detail"] = store::to_json(attempts.empty() ? store::ProgressDetail{}
                                                               : attempts.back().progress_detail);
        items.push_back(std::move(j));
      }
      return Reply{.body = page_json(std::move(items), page, total)};
    });
    change("POST", "/restore-tasks", kOperator, "restore.create", "create a restoration task",
           [this](Call& c) -> Result<Reply> {
             json body = TRY(parse_request(c.req.body, kRestoreTaskFields));
             task::RestoreTaskSpec spec{
                 .name = string_field(body, "name"),
                 .cluster = string_field(body, "cluster"),
                 .data_source = string_field(body, "data_source"),
                 .path_type = string_field(body, "path_type"),
                 .source_path = string_field(body, "source_path"),
                 .nameservice = string_field(body, "nameservice"),
                 .ip_mode = string_field(body, "ip_mode"),
                 .namenode_ip = string_field(body, "namenode_ip"),
                 .queue = string_field(body, "queue"),
                 .from_backup = string_field(body, "from_backup"),
             };
             if (body.contains("from_record")) {
               spec.from_record = body["from_record"].get<int64_t>();
               if (spec.from_record <= 0)
                 return invalid_argument("from_record", "from_record: expected a record id (> 0)");
             }
             c.target = spec.name;
             auto t = TRY(engine.create_restore_task(spec));
             c.detail = "cluster=" + t.cluster +
                        " data_source=" + std::string(to_string(t.data_source)) +
                        " path_type=" + std::string(to_string(t.params.path_type));
             return Reply{.status = 201, .body = restore_task_json(t)};
           });
    get("/restore-tasks/" + kName, kViewer, [this](Call& c) -> Result<Reply> {
      const auto view = TRY(engine.get_restore_task(c.param(1)));
      json body = restore_view_json(view);
      // Each attempt with its own log, so that the console can show the log of every attempt
      // (the top-level "log" stays the latest attempt's, as before).
      json& history = body["attempt_history"];
      for (size_t i = 0; i < view.attempts.size() && i < history.size(); ++i)
        history[i]["log"] = items_json(TRY(store.list_log(view.attempts[i].id)), log_line_json);
      return Reply{.body = std::move(body)};
    });
    change("DELETE", "/restore-tasks/" + kName, kOperator, "restore.delete",
           "delete a restoration task", [this](Call& c) -> Result<Reply> {
             // Not while the active starts it.
             if (auto r = relayed(c)) return std::move(*r);
             TRY(engine.delete_restore_task(c.param(1)));
             return Reply{.body = {{"name", c.param(1)}, {"deleted", true}}};
           });
    change("POST", "/restore-tasks/" + kName + "/start", kOperator, "restore.start",
           "start a restoration", [this](Call& c) -> Result<Reply> {
             json body = TRY(parse_request(c.req.body, kStartFields, /*allow_empty=*/true));
             const task::StartOptions options{.allow_dangling = bool_field(body, "allow_dangling")};
             if (bool_field(body, "dry_run")) {
               c.action = "restore.dry_run";
               return Reply{.body = TRY(engine.preview_restore(c.param(1), options))};
             }
             if (auto r = relayed(c)) return std::move(*r);
             auto t = TRY(engine.start_restore(c.param(1), options));
             c.detail = "attempt=" + std::to_string(t.attempts);
             if (options.allow_dangling) c.detail += " allow_dangling";
             return Reply{.status = 202, .body = restore_task_json(t)};
           });
    change("POST", "/restore-tasks/" + kName + "/retry", kOperator, "restore.retry",
           "retry a restoration", [this](Call& c) -> Result<Reply> {
             json body = TRY(parse_request(c.req.body, kRetryFields, /*allow_empty=*/true));
             const task::StartOptions options{.allow_dangling = bool_field(body, "allow_dangling")};
             if (auto r = relayed(c)) return std::move(*r);
             auto t = TRY(engine.retry_restore(c.param(1), options));
             c.detail = "attempt=" + std::to_string(t.attempts);
             if (options.allow_dangling) c.detail += " allow_dangling";
             return Reply{.status = 202, .body = restore_task_json(t)};
           });

    // Audit log.
    get(
        "/audit", kAdmin,
        [this](Call& c) -> Result<Reply> {
          auto page = TRY(page_of(c.req));
          // Optional filters: ?user=NAME, ?action=ACTION (exact).
          store::Store::AuditFilter filter{.user = c.req.get_param_value("user"),
                                           .action = c.req.get_param_value("action")};
          auto entries = TRY(store.list_audit(page, filter));
          const int64_t total = TRY(store.count_audit(filter));
          return Reply{.body = page_json(items_json(entries, audit_json), page, total)};
        },
        false, "read the audit log");

    // Server-sent events.
    get(
        "/events", kViewer, [this](Call& c) { return event_stream(c); }, /*token_in_query=*/true);

    // Prometheus metrics (also at /metrics, where scrapers look): any role may scrape.
    get(
        "/metrics", kViewer,
        [this](Call&) -> Result<Reply> {
          std::string text = TRY(render_metrics(store));
          return Reply{.stream = [text = std::move(text)](Response& res) {
            res.status = 200;
            res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
          }};
        },
        false, "read the metrics");
  }

  Result<Reply> login(Call& c) {
    // Record the name tried even when the body is malformed.
    if (json raw = json::parse(c.req.body, nullptr, false);
        raw.is_object() && raw.contains("user") && raw["user"].is_string())
      c.audit_user = sanitize_for_log(raw["user"].get<std::string>(), 64);
    json body = TRY(parse_request(c.req.body, kLoginFields));
    TRY(require(body, "user"));
    TRY(require(body, "password"));
    const std::string name = string_field(body, "user");
    c.target = c.audit_user;
    const bool cookie = bool_field(body, "cookie");
    // A cross-site form could post a login too (login CSRF: the victim then works in the
    // attacker's account). It cannot add a custom header, so the console's login must.
    if (cookie && !c.req.has_header(std::string(kCsrfHeader)))
      return make_error(Errc::kPermissionDenied, "a console login must carry the header " +
                                                     std::string(kCsrfHeader) + " (any value)");
    const std::string token =
        TRY(auth.login(name, string_field(body, "password"), c.req.remote_addr));
    auto user = TRY(auth.authenticate(token));
    const json expires = format_iso_time(now_seconds() + config.server.token_ttl_seconds);
    if (cookie) {
      c.detail = "session=cookie";
      Reply r{.body = {{"expires_at", expires},
                       {"user", user_json(user)},
                       {"csrf_token", auth::Auth::csrf_token(token)}}};
      r.headers.emplace_back("Set-Cookie", session_cookie(token));
      return r;
    }
    return Reply{.body = {{"token", token}, {"expires_at", expires}, {"user", user_json(user)}}};
  }

  Result<Reply> event_stream(Call& c) {
    int64_t after = events.last_seq();
    std::string last = c.req.get_header_value("Last-Event-ID");
    if (last.empty() && c.req.has_param("last_event_id"))
      last = c.req.get_param_value("last_event_id");
    if (!last.empty()) {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(last.data(), last.data() + last.size(), v);
      if (ec != std::errc() || p != last.data() + last.size() || v < 0)
        return invalid_argument("Last-Event-ID", "Last-Event-ID: expected an event id");
      after = v;
    }
    // The stream's share of the caps, and its thread out of the request pool, end when httplib
    // releases the content provider (the stream ended, or the client left).
    struct State {
      int64_t after;
      Clock::time_point last_write;
      std::string token;  // checked again every stream_token_check_every
      Clock::time_point token_checked;
      std::optional<Quota::Slot> slot;
      WorkerPool::Hold hold;
    };
    auto state = std::make_shared<State>(State{after, Clock::now(), c.token, Clock::now(), {}, {}});
    state->slot.emplace(TRY(stream_quota.take(c.user->name)));
    state->hold = lend_thread();
    return Reply{.stream = [this, state](Response& res) {
      res.status = 200;
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Accel-Buffering", "no");  // reverse proxies: do not buffer
      res.set_chunked_content_provider(
          "text/event-stream",
          [this, state](size_t offset, httplib::DataSink& sink) -> bool {
            if (offset == 0) {
              // First call: tell the browser how soon to reconnect, and open the stream.
              static constexpr std::string_view kHello = "retry: 3000\n: connected\n\n";
              if (!sink.write(kHello.data(), kHello.size())) return false;
            }
            if (Clock::now() - state->token_checked >= stream_token_check_every) {
              state->token_checked = Clock::now();
              // Only a refused token ends the stream: a store that does not answer for a moment
              // (PostgreSQL restarting) is no reason to drop the console's updates.
              if (auto user = auth.authenticate(state->token);
                  !user && user.error().code == Errc::kUnauthenticated) {
                const std::string bye =
                    "event: session_ended\ndata: " + dump(json{{"reason", user.error().message}}) +
                    "\n\n";
                (void)sink.write(bye.data(), bye.size());
                sink.done();
                return true;
              }
            }
            // Short waits so that a server shutdown (which httplib checks between calls) and a
            // dead connection (found by the keep-alive write) end the stream promptly.
            const auto wait = std::chrono::seconds(1);
            const auto begin = Clock::now();
            auto batch = events.wait_after(state->after, wait);
            const auto now = Clock::now();
            if (batch.empty()) {
              // The bus answers early with nothing only once it is closed (daemon shutdown).
              if (now - begin < wait / 2) {
                sink.done();
                return true;
              }
              if (now - state->last_write >= kKeepAliveEvery) {
                static constexpr std::string_view kKeepAlive = ": keep-alive\n\n";
                if (!sink.write(kKeepAlive.data(), kKeepAlive.size())) return false;
                state->last_write = now;
              }
              return true;
            }
            std::string out;
            for (const auto& e : batch) {
              out += "id: " + std::to_string(e.seq) + "\nevent: " + sanitize_for_log(e.type, 64) +
                     "\ndata: " + dump(e.data) + "\n\n";
              state->after = e.seq;
            }
            if (!sink.write(out.data(), out.size())) return false;
            state->last_write = now;
            return true;
          },
          [state](bool) {
            state->hold.release();
            state->slot.reset();
          });
    }};
  }

  // ---- Server-wide handlers -------------------------------------------------------------------

  void install_server_handlers(httplib::Server& http) {
    http.set_payload_max_length(kMaxBodyBytes);
    // Always: httplib's Server starts with a default queue of its own (a fixed pool of 8
    // threads), so "not set by the caller" cannot be told apart. A caller that wants another
    // queue sets it after mount().
    http.new_task_queue = [this] {
      // Bounded: every hold is a stream or a slow call within its quota.
      auto* p = new WorkerPool(kRequestWorkers, kMaxEventStreams + kMaxSlowCalls);
      pool = p;
      return p;
    };
    http.set_pre_routing_handler(
        httplib::Server::HandlerWithResponse([](const Request& req, Response&) {
          t_request_start = Clock::now();
          // RFC 9112 6.3: a request with neither Content-Length nor Transfer-Encoding has an
          // empty body. httplib 0.11 would instead read until the client closes (a `curl -X
          // POST` without -d waits for the read timeout, then gets 400). Say so explicitly; the
          // Request is httplib's own non-const object, handed to us as const.
          if ((req.method == "POST" || req.method == "DELETE") &&
              !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
            const_cast<Request&>(req).set_header("Content-Length", "0");
          return httplib::Server::HandlerResponse::Unhandled;
        }));
    // httplib calls this for every status >= 400; our own errors already have a JSON body.
    http.set_error_handler(
        httplib::Server::HandlerWithResponse([](const Request& req, Response& res) {
          if (!res.body.empty() || res.content_provider_)
            return httplib::Server::HandlerResponse::Unhandled;
          Error e;
          switch (res.status) {
            case 404:
              e = {Errc::kNotFound,
                   "no such resource: " + req.method + " " + sanitize_for_log(req.path, 200)};
              break;
            case 413:
              e = {Errc::kInvalidArgument, "the request body is too large", "body"};
              break;
            case 414:
              e = {Errc::kInvalidArgument, "the request URI is too long"};
              break;
            default:
              if (res.status < 500)
                e = {Errc::kInvalidArgument, "bad request"};
              else
                e = {Errc::kInternal, "internal error"};
          }
          res.set_header("Cache-Control", "no-store");
          res.set_content(dump(error_json(e)), "application/json");
          return httplib::Server::HandlerResponse::Handled;
        }));
    http.set_exception_handler([](const Request& req, Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("{} {}: unexpected exception: {}", req.method, sanitize_for_log(req.path, 200),
                    what);
      write_json(res, 500,
                 error_json({Errc::kInternal,
                             "internal error while serving the request; see the daemon log"}));
    });
    // Path only: query strings may hold a token (GET /events?token=).
    http.set_logger([](const Request& req, const Response& res) {
      std::string ms = "-";
      if (t_request_start) {
        auto d =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *t_request_start);
        ms = std::to_string(d.count());
        t_request_start.reset();
      }
      const auto level = req.path == "/api/v1/health" ? spdlog::level::debug : spdlog::level::info;
      spdlog::log(level, "{} {} {} {}ms", req.method, sanitize_for_log(req.path, 300), res.status,
                  ms);
    });
  }
};

Api::Api(const config::Config& config, task::Engine& engine, auth::Auth& auth, store::Store& store,
         task::EventBus& events)
    : impl_(std::make_unique<Impl>(config, engine, auth, store, events)) {}

Api::~Api() = default;

void Api::set_health_extras(std::function<json()> extras) {
  impl_->health_extras = std::move(extras);
}

void Api::set_relay(GroupRelay* relay) {
  impl_->relay = relay;
}

void Api::set_stream_token_check_every(std::chrono::milliseconds every) {
  impl_->stream_token_check_every = every;
}

RelayAnswer Api::execute(const store::RelayCommand& command) {
  return impl_->execute(command);
}

void Api::set_ready(bool ready) {
  impl_->ready = ready;
}

void Api::mount(httplib::Server& http, const std::string& console_dir) {
  impl_->install_server_handlers(http);
  // On every answer, the console's pages included: its scripts and styles come from this origin
  // only (Vite bundles everything), no other site may frame it (its buttons stop services and
  // overwrite metadata: no clickjacking), and no content-type guessing.
  http.set_default_headers({
      {"Content-Security-Policy",
       "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'"},
      {"X-Frame-Options", "DENY"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "same-origin"},
  });

  // Health needs no credentials and is not audited.
  http.Get("/api/v1/health", httplib::Server::Handler([this](const Request&, Response& res) {
             json body = impl_->ready ? json{{"status", "ok"}, {"version", FLINKBR_VERSION}}
                                      : json{{"status", "starting"}};
             if (impl_->health_extras) body.update(impl_->health_extras());
             write_json(res, impl_->ready ? 200 : 503, body);
           }));
  for (const auto& r : impl_->routes) impl_->add(http, r);

  std::error_code ec;
  if (!console_dir.empty() && std::filesystem::is_directory(console_dir, ec)) {
    if (!http.set_mount_point("/", console_dir))
      spdlog::warn("console: cannot serve {}", console_dir);
    else
      spdlog::info("console: serving {}", console_dir);
  } else {
    if (!console_dir.empty())
      spdlog::info("console: {} does not exist; not serving it", console_dir);
    http.Get("/", httplib::Server::Handler([](const Request&, Response& res) {
               res.set_content(std::string(kNoConsolePage), "text/html; charset=utf-8");
             }));
  }
}

}  // namespace flinkbr::server
