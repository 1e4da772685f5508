// The REST API under /api/v1 (docs/openapi.yaml is the contract): JSON in and out, errors as
// {"error": {"code": "<errc_name>", "message": "...", "field": "..."}} with the HTTP status of
// the code (common/result.h). Authentication by "Authorization: Bearer <token>"; roles checked on
// every endpoint; every state-changing call recorded in the audit log (who, what, target,
// outcome). GET /api/v1/health needs no credentials. GET /api/v1/events streams server-sent
// events from the EventBus.
#pragma once

#include <memory>

#include "auth/auth.h"
#include "config/config.h"
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
  // `console_dir` exists.
  void mount(httplib::Server& http, const std::string& console_dir);
  // Marks the daemon ready: /api/v1/health answers 200 from now on (503 before).
  void set_ready(bool ready);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flinkbr::server
