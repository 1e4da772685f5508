// Internals of the task engine shared by its files: the per-cluster runtime (service controller,
// the restoration slots) and the recorder through which a run reports steps, progress and log
// lines (persisted for real runs, collected in memory for previews).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "service/service_controller.h"
#include "source/metadata_source.h"
#include "store/store.h"
#include "task/events.h"
#include "task/progress.h"
#include "task/state_writer.h"

namespace flinkbr::task {

struct ClusterRuntime {
  const config::ClusterConfig* cfg = nullptr;
  std::unique_ptr<service::ServiceController> controller;

  // The restoration running on this cluster, by kind; guarded by mu. Product rule: at most one
  // restoration per cluster at a time, whatever its kind.
  std::mutex mu;
  std::string running_task;
  DataSource running_kind = DataSource::kFlink;
};

// The system version of a cluster: configured, or printed by its version command.
[[nodiscard]] Result<std::string> resolve_version(const config::ClusterConfig& cluster);

// Builds the live sources of a cluster for a data source.
[[nodiscard]] Result<std::vector<std::unique_ptr<source::MetadataSource>>> build_sources(
    const config::ClusterConfig& cluster, DataSource data_source);

// Reports of one restoration attempt, written through `writer` (which asks the fence first).
// When `attempt` is null (previews), nothing is persisted and steps are only collected in
// `steps_json`.
class Recorder {
 public:
  Recorder(StateWriter* writer, EventBus* events, store::RestoreTask* task,
           store::RestoreAttempt* attempt);

  void log(const std::string& level, const std::string& text);
  // Starts a step: its name becomes the progress detail's step, its bytes start from 0.
  void begin_step(const std::string& name);
  void end_step(const std::string& status, const std::string& detail = {});
  // Sets the attempt's progress (0..100); persisted at most once a second unless `force`.
  void progress(int percent, bool force = false);
  // Bytes of the current step done of `total` (0: unknown); with progress(), persisted at most
  // once a second.
  void bytes(uint64_t done, uint64_t total);
  // The attempt succeeded: progress 100, detail step "done" (ProgressMeter::finish).
  void finish();
  void set_phase(store::AttemptPhase phase);
  // Whether this manager may still act (Fence::check); ok() for previews. Asked before each step.
  [[nodiscard]] Status fence_check();
  // Persists the attempt and the task now.
  void flush();
  nlohmann::json steps_json() const;
  store::RestoreAttempt* attempt() { return attempt_; }

 private:
  void publish();
  StateWriter* writer_;
  EventBus* events_;
  store::RestoreTask* task_;
  store::RestoreAttempt* attempt_;
  store::RestoreAttempt preview_;  // used when attempt_ is null
  std::chrono::steady_clock::time_point last_flush_{};
  ProgressMeter meter_;
};

}  // namespace flinkbr::task
