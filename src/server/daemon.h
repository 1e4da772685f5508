// `flinkbr serve`: loads the configuration (or the embedded default), opens the state database,
// bootstraps the administrator, recovers interrupted tasks, and serves the REST API and the
// console until SIGINT/SIGTERM.
#pragma once

#include <string>

namespace flinkbr::server {

// Returns the process exit status. `config_path` "" means the embedded default.
int run_daemon(const std::string& config_path);

// `flinkbr serve --check-config`: loads and validates the configuration as run_daemon would
// (unknown or malformed keys refused naming the key, every source's settings), prints a one-line
// summary and returns 0, or prints the reason and returns its exit status. Starts nothing,
// touches no state directory.
int check_config(const std::string& config_path);

}  // namespace flinkbr::server
