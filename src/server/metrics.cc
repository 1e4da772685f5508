#include "server/metrics.h"

#include <algorithm>
#include <map>
#include <vector>

namespace flinkbr::server {

std::string escape_label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

struct TaskLine {
  std::string task;
  int64_t last_success = 0;  // ended_at of the newest Succeeded (or Removed) record
  int64_t last_duration = -1;
  uint64_t last_size = 0;
  int64_t period = 0;      // periodic and not suspended; 0 otherwise
  int64_t start_time = 0;  // its first scheduled run
};

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Result<std::string> render_metrics(store::Store& store) {
  // True counters: runs counted by the store as they end, so that deleting a task takes nothing
  // back (a count of the rows did, and counted runs still running). Every status is listed,
  // zeros too: an alert on increase() needs the series to exist.
  std::map<std::string, int64_t> backup_runs;
  std::map<std::string, int64_t> restore_runs;
  for (const char* status : {"Succeeded", "Failed"}) {
    backup_runs[status] = TRY(store.ended_runs("backup", status));
    restore_runs[status] = TRY(store.ended_runs("restore", status));
  }
  // Of every record, a deleted task's included.
  const auto backups_running =
      static_cast<int64_t>(TRY(store.list_running_backup_records()).size());
  int64_t restores_running = 0;
  std::vector<TaskLine> tasks;

  constexpr int kPage = 1000;
  for (int64_t offset = 0;; offset += kPage) {
    auto page = TRY(store.list_backup_tasks({.limit = kPage, .offset = offset}));
    for (const auto& t : page) {
      TaskLine line{.task = t.name};
      if (t.period_seconds > 0 && !t.suspended) {
        line.period = t.period_seconds;
        line.start_time = t.start_time;
      }
      for (int64_t roff = 0;; roff += kPage) {
        // Newest first: the first finished record gives the duration, the first success the rest.
        auto recs = TRY(store.list_backup_records(t.id, {.limit = kPage, .offset = roff}));
        for (const auto& r : recs) {
          if (r.status == BackupStatus::kRunning) continue;
          if (line.last_duration < 0 && r.ended_at > 0)
            line.last_duration = std::max<int64_t>(0, r.ended_at - r.started_at);
          if ((r.status == BackupStatus::kSucceeded || r.status == BackupStatus::kRemoved) &&
              line.last_success == 0) {
            line.last_success = r.ended_at;
            line.last_size = r.size;
          }
        }
        if (static_cast<int>(recs.size()) < kPage) break;
      }
      tasks.push_back(std::move(line));
    }
    if (static_cast<int>(page.size()) < kPage) break;
  }
  for (int64_t offset = 0;; offset += kPage) {
    auto page = TRY(store.list_restore_tasks({.limit = kPage, .offset = offset}));
    for (const auto& t : page) {
      const auto attempts = TRY(store.list_attempts(t.id));
      for (const auto& a : attempts) restores_running += a.state == RestoreState::kRunning;
    }
    if (static_cast<int>(page.size()) < kPage) break;
  }

  std::string out;
  family(out, "flinkbr_backup_runs_total", "counter",
         "Backup runs ended, by status (counted when they end; a file later removed by retention "
         "stays counted as Succeeded).");
  for (const auto& [status, n] : backup_runs)
    out += "flinkbr_backup_runs_total{status=\"" + status + "\"} " + std::to_string(n) + "\n";
  family(out, "flinkbr_restore_runs_total", "counter",
         "Restoration attempts ended, by state (counted when they end).");
  for (const auto& [status, n] : restore_runs)
    out += "flinkbr_restore_runs_total{status=\"" + status + "\"} " + std::to_string(n) + "\n";
  family(out, "flinkbr_backup_running", "gauge", "Backup runs in progress.");
  out += "flinkbr_backup_running " + std::to_string(backups_running) + "\n";
  family(out, "flinkbr_restore_running", "gauge", "Restoration attempts in progress.");
  out += "flinkbr_restore_running " + std::to_string(restores_running) + "\n";
  family(out, "flinkbr_backup_last_success_timestamp_seconds", "gauge",
         "End of the newest successful run of each backup task (0: none yet).");
  for (const auto& t : tasks)
    out += "flinkbr_backup_last_success_timestamp_seconds{task=\"" + escape_label_value(t.task) +
           "\"} " + std::to_string(t.last_success) + "\n";
  family(out, "flinkbr_backup_last_duration_seconds", "gauge",
         "Duration of the newest finished run of each backup task.");
  for (const auto& t : tasks)
    if (t.last_duration >= 0)
      out += "flinkbr_backup_last_duration_seconds{task=\"" + escape_label_value(t.task) + "\"} " +
             std::to_string(t.last_duration) + "\n";
  family(out, "flinkbr_backup_last_size_bytes", "gauge",
         "Size of the backup file of the newest successful run of each backup task.");
  for (const auto& t : tasks)
    if (t.last_success > 0)
      out += "flinkbr_backup_last_size_bytes{task=\"" + escape_label_value(t.task) + "\"} " +
             std::to_string(t.last_size) + "\n";
  // For "no successful run for N periods" alerts (docs/alerts.yaml): only the tasks the scheduler
  // runs, so manual and suspended tasks never raise it.
  family(out, "flinkbr_backup_period_seconds", "gauge",
         "Period of each scheduled backup task (absent for manual and suspended tasks).");
  for (const auto& t : tasks)
    if (t.period > 0)
      out += "flinkbr_backup_period_seconds{task=\"" + escape_label_value(t.task) + "\"} " +
             std::to_string(t.period) + "\n";
  family(out, "flinkbr_backup_start_timestamp_seconds", "gauge",
         "First scheduled run of each scheduled backup task.");
  for (const auto& t : tasks)
    if (t.period > 0)
      out += "flinkbr_backup_start_timestamp_seconds{task=\"" + escape_label_value(t.task) +
             "\"} " + std::to_string(t.start_time) + "\n";
  return out;
}

}  // namespace flinkbr::server
