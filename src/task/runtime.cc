#include "task/runtime.h"

#include <spdlog/spdlog.h>

#include "common/process.h"
#include "source/registry.h"

namespace flinkbr::task {

Result<std::string> resolve_version(const config::ClusterConfig& cluster) {
  if (!cluster.version.empty()) return cluster.version;
  auto r = TRY(run_command(cluster.version_command, std::chrono::seconds(30)));
  std::string out = r.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' '))
    out.pop_back();
  if (r.timed_out || r.exit_code != 0 || out.empty() || out.find('\n') != std::string::npos)
    return failed_precondition("the version command of cluster '" + cluster.name +
                               "' did not print one version line (exit " +
                               std::to_string(r.exit_code) + ")");
  return out;
}

Result<std::vector<std::unique_ptr<source::MetadataSource>>> build_sources(
    const config::ClusterConfig& cluster, DataSource data_source) {
  const auto& list = data_source == DataSource::kFlink ? cluster.metadata : cluster.service_data;
  std::vector<std::unique_ptr<source::MetadataSource>> out;
  for (const auto& cfg : list) out.push_back(TRY(source::create(cfg, cluster)));
  if (out.empty())
    return failed_precondition("cluster '" + cluster.name + "' configures no " +
                               (data_source == DataSource::kFlink ? "metadata" : "service_data") +
                               " sources");
  return out;
}

Recorder::Recorder(StateWriter* writer, EventBus* events, store::RestoreTask* task,
                   store::RestoreAttempt* attempt)
    : writer_(writer), events_(events), task_(task), attempt_(attempt) {}

void Recorder::log(const std::string& level, const std::string& text) {
  std::string who = task_ ? task_->name : "preview";
  if (level == "error")
    spdlog::error("restore {}: {}", who, text);
  else if (level == "warn")
    spdlog::warn("restore {}: {}", who, text);
  else
    spdlog::info("restore {}: {}", who, text);
  if (attempt_ && writer_) {
    auto st = writer_->append_log(attempt_->id, {now_seconds(), level, text});
    if (!st) spdlog::error("cannot record a log line: {}", st.error().message);
  }
}

void Recorder::begin_step(const std::string& name) {
  store::RestoreAttempt& a = attempt_ ? *attempt_ : preview_;
  a.steps.push_back({name, "running", now_seconds(), 0, {}});
  meter_.begin_step(name);
  a.progress_detail = meter_.detail();
  log("info", "step " + name);
  flush();
}

void Recorder::end_step(const std::string& status, const std::string& detail) {
  store::RestoreAttempt& a = attempt_ ? *attempt_ : preview_;
  if (a.steps.empty()) return;
  a.steps.back().status = status;
  a.steps.back().ended_at = now_seconds();
  a.steps.back().detail = detail;
  flush();
}

void Recorder::progress(int percent, bool force) {
  percent = std::clamp(percent, 0, 100);
  store::RestoreAttempt& a = attempt_ ? *attempt_ : preview_;
  if (percent == a.progress && !force) return;
  a.progress = percent;
  if (task_) task_->progress = percent;
  auto now = std::chrono::steady_clock::now();
  if (force || now - last_flush_ >= std::chrono::seconds(1)) flush();
}

void Recorder::bytes(uint64_t done, uint64_t total) {
  store::RestoreAttempt& a = attempt_ ? *attempt_ : preview_;
  meter_.bytes(done, total);
  a.progress_detail = meter_.detail();
  if (std::chrono::steady_clock::now() - last_flush_ >= std::chrono::seconds(1)) flush();
}

void Recorder::finish() {
  store::RestoreAttempt& a = attempt_ ? *attempt_ : preview_;
  meter_.finish();
  a.progress_detail = meter_.detail();
  a.progress = 100;
  if (task_) task_->progress = 100;
}

Status Recorder::fence_check() {
  return writer_ ? writer_->check() : ok();
}

void Recorder::set_phase(store::AttemptPhase phase) {
  store::RestoreAttempt& a = attempt_ ? *attempt_ : preview_;
  a.phase = phase;
  flush();
}

void Recorder::flush() {
  last_flush_ = std::chrono::steady_clock::now();
  if (!attempt_ || !writer_) return;
  if (auto st = writer_->update_attempt(*attempt_); !st)
    spdlog::error("cannot record restoration progress: {}", st.error().message);
  if (task_) {
    task_->updated_at = now_seconds();
    if (auto st = writer_->update_restore_task(*task_); !st)
      spdlog::error("cannot record restoration progress: {}", st.error().message);
  }
  publish();
}

void Recorder::publish() {
  if (!events_ || !task_ || !attempt_) return;
  nlohmann::json steps = steps_json();
  events_->publish("restore", {{"name", task_->name},
                               {"state", std::string(to_string(task_->state))},
                               {"progress", task_->progress},
                               {"attempt", attempt_->number},
                               {"phase", std::string(to_string(attempt_->phase))},
                               {"progress_detail", to_json(attempt_->progress_detail)},
                               {"steps", steps}});
}

nlohmann::json Recorder::steps_json() const {
  const store::RestoreAttempt& a = attempt_ ? *attempt_ : preview_;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : a.steps)
    out.push_back({{"name", s.name}, {"status", s.status}, {"detail", s.detail}});
  return out;
}

}  // namespace flinkbr::task
