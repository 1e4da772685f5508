// GET /metrics: flinkbr's state in the Prometheus text exposition format (version 0.0.4), for a
// Prometheus server scraping with a token of any role. Everything is read from the state
// database at each scrape, so the numbers survive a daemon restart and agree with the API; the
// *_runs_total counters are the store's counts of ended runs (Store::ended_runs), which only
// grow.
//
// Metrics (docs/metrics.md lists them with an example alert rule):
//   flinkbr_backup_runs_total{status}                      counter: backup runs ended, by status
//   flinkbr_restore_runs_total{status}                     counter: restoration attempts ended
//   flinkbr_backup_last_success_timestamp_seconds{task}    gauge: end of the newest Succeeded run
//   flinkbr_backup_last_duration_seconds{task}             gauge: of the newest finished run
//   flinkbr_backup_last_size_bytes{task}                   gauge: file of the newest Succeeded run
//   flinkbr_backup_running / flinkbr_restore_running       gauges: runs now
//   flinkbr_backup_period_seconds{task}                    gauge: of scheduled tasks only
//   flinkbr_backup_start_timestamp_seconds{task}           gauge: their first scheduled run
#pragma once

#include <string>

#include "common/result.h"
#include "store/store.h"

namespace flinkbr::server {

// The exposition text. Reads every backup task's records and every restoration's attempts
// (paged); fails only when the database does. Thread-safe as the Store is.
[[nodiscard]] Result<std::string> render_metrics(store::Store& store);

// A label value escaped as the format wants it: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);

}  // namespace flinkbr::server
