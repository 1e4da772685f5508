// One restoration attempt as a list of named steps (product.md, "Restoration tasks"):
//   check          parameters, backup file readable, version, data source, sources, service
//                  stopped, no other restoration on the cluster
//   verify         every checksum of the manifest, before anything changes; Flink's HA pointers
//                  against the files of the same backup (refused when they dangle, unless
//                  allow_dangling)
//   safety-copy    a backup of the live sources into <state_dir>/safety/
//   stage          the file read again into each source's staged form
//   apply          commit source by source (the first change to the cluster)
//   verify-result  each live source compared with what was staged
// A failure in apply or verify-result puts the safety copy back before the attempt fails.
#pragma once

#include <atomic>
#include <functional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "task/runtime.h"

namespace flinkbr::task {

struct RestoreInputs {
  const config::Config& config;
  ClusterRuntime& cluster;
  const store::RestoreTask& task;
  std::string ctx_id;  // unique per attempt, e.g. "r3-a2"
  const std::atomic<bool>* cancelled = nullptr;
  // Claims the cluster's restoration slot; fails with the reason when another runs.
  std::function<Status()> claim_slot;
  // Restore a backup whose Flink HA data is inconsistent (dangling pointers) anyway.
  bool allow_dangling = false;
};

// Runs every step. On error the cluster is as it was before (safety copy put back if needed),
// unless putting it back failed too, which the error then says.
[[nodiscard]] Status run_restore(const RestoreInputs& in, Recorder& rec);

// Runs check, verify and stage, then compares staged and live state; changes nothing.
[[nodiscard]] Result<nlohmann::json> run_preview(const RestoreInputs& in, Recorder& rec);

// Restores the safety copy at `path` into the cluster's sources of `data_source`; only those
// named in `only` when given (the sources a failed apply changed).
[[nodiscard]] Status put_back_safety_copy(const config::Config& config,
                                          const config::ClusterConfig& cluster,
                                          DataSource data_source, const std::string& path,
                                          const source::TaskContext& ctx, Recorder& rec,
                                          const std::set<std::string>* only = nullptr);

// <state_dir>/staging/<ctx_id>, created empty.
[[nodiscard]] Result<std::string> make_staging_dir(const config::Config& config,
                                                   const std::string& ctx_id);
void remove_staging_dir(const std::string& dir);
// <state_dir>/staging, created when missing: where the archive layer's unnamed spool files go
// (a manifest's worth of records; on the state directory's disk rather than a /tmp that may be
// memory). Empty (meaning $TMPDIR) when it cannot be created.
std::string spool_dir(const config::Config& config);

}  // namespace flinkbr::task
