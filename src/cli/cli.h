// The flinkbr command line. Every command but `serve` is a client of a running daemon
// (--server URL, default http://127.0.0.1:8080 or $FLINKBR_SERVER; token from `flinkbr login`
// or $FLINKBR_TOKEN). `serve` is handed to the daemon through `serve_fn` so that the client
// does not link the server.
#pragma once

#include <functional>
#include <string>

namespace flinkbr::cli {

// Runs the daemon with a config file path ("" = embedded default); returns the exit status.
using ServeFn = std::function<int(const std::string& config_path)>;

// Parses argv and runs one command; returns the process exit status.
int run(int argc, char** argv, const ServeFn& serve_fn);

}  // namespace flinkbr::cli
