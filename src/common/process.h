// Runs shell command lines (`sh -c`) with a timeout, capturing output. Used by the service
// controller and by version commands. The child runs in its own process group, which is killed
// as a whole on timeout, so a stuck command never outlives its deadline. Thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"

namespace flinkbr {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string output;  // stdout and stderr interleaved, the last 64 KiB
};

// Fails only when the command cannot be started at all.
[[nodiscard]] Result<CommandResult> run_command(const std::string& command_line,
                                                std::chrono::milliseconds timeout);

}  // namespace flinkbr
