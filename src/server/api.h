// The REST API under /api/v1 (docs/openapi.yaml is the contract): JSON in and out, errors as
// {"error": {"code": "<errc_name>", "message": "...", "field": "..."}} with the HTTP status of
// the code (common/result.h). Authentication by "Authorization: Bearer <token>"; roles checked on
// every endpoint; every state-changing call recorded in the audit log (who, what, target,
// outcome). GET /api/v1/health needs no credentials. GET /api/v1/events streams server-sent
// events from the EventBus.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "auth/auth.h"
#include "config/config.h"
#include "server/relay.h"
#include "store/store.h"
#include "task/engine.h"
#include "task/events.h"

namespace httplib {
class Server;
}

namespace flinkbr::server {

class Api {
 public:
  // All borrowed.
  Api(const config::Config& config, task::Engine& engine, auth::Auth& auth, store::Store& store,
      task::EventBus& events);
  ~Api();
  // Registers every route on `http`, and serves the console's static files at / when
  // `console_dir` exists (a page pointing at the CLI otherwise). Also installs the server-wide
  // handlers the API relies on: the request log (spdlog: method, path without query string,
  // status, ms), JSON bodies for httplib's own errors (404 of unknown paths, 413), the
  // exception handler, and a 1 MiB request body limit; a caller that sets its own logger or
  // error handler afterwards replaces these.
  //
  // Event streams (at most 4 per user, 32 in all) and slow calls (verify, restore checks,
  // service commands: at most 4 per user, 16 in all) are refused beyond their caps with 429
  // (the user's share) or 503 (the total) and a Retry-After. mount sets `http.new_task_queue`
  // to a WorkerPool (worker_pool.h) of 16 request threads from which each stream and slow call
  // lends its thread out while it runs, so that health and the API keep answering whatever
  // those hold (a caller may replace it afterwards, losing that). The Api must outlive the
  // server's listen loop.
  void mount(httplib::Server& http, const std::string& console_dir);
  // Marks the daemon ready: /api/v1/health answers 200 from now on (503 before).
  void set_ready(bool ready);
  // More members of the health answer, asked at each call: a manager of a group adds "role"
  // ("active" | "standby"), "epoch" and "active_address" (docs/design.md, "The manager group").
  // Set before mount.
  void set_health_extras(std::function<nlohmann::json()> extras);
  // A manager group's command relay (server/relay.h): while this member is a standby, the calls
  // that would run work (backup run, suspend, resume and delete; restoration start, retry and
  // delete; service stop and start) are validated here and then carried out by the active, and
  // answered with what it answered. Borrowed; set before mount. Unset (SQLite): everything runs
  // here.
  void set_relay(GroupRelay* relay);
  // How often an open event stream checks its token again (3 s by default): a logout, a
  // password reset or the deletion of its user ends the stream within about this long (and the
  // stream's one-second wait for events). Tests shorten it. Set before mount.
  void set_stream_token_check_every(std::chrono::milliseconds every);
  // On the active: carries out a command a standby wrote, with the handler of its operation, as
  // the user it names (whose role is read again); audited here. Thread-safe.
  RelayAnswer execute(const store::RelayCommand& command);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flinkbr::server
