// `flinkbr serve`: loads the configuration (or the embedded default), opens the state database,
// bootstraps the administrator, recovers interrupted tasks, and serves the REST API and the
// console until SIGINT/SIGTERM.
#pragma once

#include <string>

namespace flinkbr::server {

// Returns the process exit status. `config_path` "" means the embedded default.
int run_daemon(const std::string& config_path);

}  // namespace flinkbr::server
