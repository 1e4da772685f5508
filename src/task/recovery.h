// Crash recovery: what a daemon starting on a state directory does with the runs the previous
// one left Running (product.md, "Crash recovery").
//   backup records       marked Failed ("the daemon stopped while this backup was running");
//                        the writer's temporary file beside the backup file removed later, on a
//                        worker (a remote storage may be slow or down)
//   restoration tasks    the sources' crash leftovers cleaned; an attempt whose phase was
//                        applying gets its safety copy put back; attempt and task Failed with a
//                        reason saying whether the cluster is as it was
// Every state write goes through the StateWriter (and so the fence).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "task/runtime.h"

namespace flinkbr::task {

using ClusterLookup = std::function<ClusterRuntime*(const std::string& name)>;  // null: unknown

// Marks every Running backup record Failed; returns them (their leftovers are still there).
[[nodiscard]] Result<std::vector<store::BackupRecord>> fail_interrupted_backups(
    StateWriter& writer);

// Removes what the writer of an interrupted run left under a temporary name beside its file
// (LocalDir ".<name>.tmp-<random>", HDFS ".<name>.<random>.flinkbr-tmp"). Logged, never fatal.
void remove_backup_leftovers(store::Store& store, const ClusterLookup& clusters,
                             const store::BackupRecord& r);

// Repairs one restoration task left Running and marks it (and its last attempt) Failed.
[[nodiscard]] Status recover_restore(const config::Config& config, StateWriter& writer,
                                     const ClusterLookup& clusters, store::RestoreTask& task);

// Every restoration task left Running; and the scratch directories of verifications killed
// with their daemon (task/archive_io.h, remove_verify_leftovers).
[[nodiscard]] Status recover_restores(const config::Config& config, StateWriter& writer,
                                      const ClusterLookup& clusters);

}  // namespace flinkbr::task
