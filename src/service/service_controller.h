// ServiceController: stops, starts and probes a cluster's Flink service. The configured shell
// commands (run with `sh -c`) drive it: the status command exits 0 when the service runs, 3 when
// it is stopped, anything else means unknown. When a Flink REST URL is configured, a JobManager
// answering GET <rest_url>/overview with 200 means running whatever the command says; with no
// status command, a REST URL that does not answer gives unknown (a refused connection does not
// prove that Flink is down). Thread-safe: calls may come from several task threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "common/result.h"
#include "config/config.h"

namespace flinkbr::service {

enum class ServiceState { kRunning, kStopped, kUnknown };
std::string_view to_string(ServiceState s);  // "running", "stopped", "unknown"

struct ServiceStatus {
  ServiceState state = ServiceState::kUnknown;
  std::string detail;  // how it was decided ("status command exited 3", "REST probe: 200")
};

class ServiceController {
 public:
  virtual ~ServiceController() = default;
  virtual ServiceStatus status() = 0;
  // Runs the stop command, then polls status() until stopped or `timeout`; kTimeout naming the
  // last status otherwise, kFailedPrecondition when no stop command is configured.
  [[nodiscard]] virtual Status stop(std::chrono::seconds timeout) = 0;
  // Runs the start command, then polls until running or `timeout`.
  [[nodiscard]] virtual Status start(std::chrono::seconds timeout) = 0;
};

std::unique_ptr<ServiceController> make_controller(const config::ServiceConfig& cfg);

}  // namespace flinkbr::service
