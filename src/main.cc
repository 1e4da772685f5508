// flinkbr: one binary for the daemon (`flinkbr serve`) and its command-line client.
#include "cli/cli.h"
#include "server/daemon.h"

int main(int argc, char** argv) {
  return flinkbr::cli::run(argc, argv, [](const std::string& config_path, bool check_only) {
    return check_only ? flinkbr::server::check_config(config_path)
                      : flinkbr::server::run_daemon(config_path);
  });
}
