// The task engine: owns backup and restoration runs. The REST API calls it; each run goes on a
// thread of its own, persists its state in the Store at every transition (progress at most once a
// second) and publishes events on the EventBus.
//
// Restoration runs follow product.md: checks first (file readable, version, service stopped, no
// conflicting restoration, integrity of every manifest checksum, parameters), then a safety copy
// of the live metadata, then staging, commit source by source, verification; a failure after the
// first change puts the safety copy back before the task ends Failed. A daemon that died during
// a run is repaired by recover() at the next start.
//
// This class is the facade the REST API calls: validation and the slots (one run per backup
// task, one restoration per cluster). The work is in task/backup_run.h, task/restore_run.h,
// task/recovery.h and task/scheduler.h; task state is written through task/state_writer.h.
//
// Every method is thread-safe. Validation errors are kInvalidArgument naming the API field.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/archive_reader.h"
#include "config/config.h"
#include "service/service_controller.h"
#include "store/store.h"
#include "task/events.h"
#include "task/fence.h"

namespace flinkbr::task {

// Raw request fields, as the API receives them; the engine validates every one.
struct BackupTaskSpec {
  std::string name;
  std::string cluster;
  std::string data_source;  // "Flink" | "FlinkServiceData"
  std::string path_type;    // "LocalDir" | "LocalHDFS" | "RemoteHDFS" | "OBS"
  std::string path;         // base directory; default per path type (LocalDir: <state>/LocalBackup)
  std::string nameservice;
  std::string namenode_ip;
  int max_copies = 0;
  std::string period;      // "" (manual) or N{s,m,h,d}
  std::string start_time;  // ISO 8601; default now
  bool verify = false;     // read back and check each new file after writing it
};

struct RestoreTaskSpec {
  std::string name;
  std::string cluster;
  std::string data_source;
  std::string path_type;
  std::string source_path;
  std::string nameservice;
  std::string ip_mode;
  std::string namenode_ip;
  std::string queue;
  // Restore from a backup record: cluster (unless given, e.g. to migrate), data source, path type,
  // its parameters and the file's path come from record `from_record` (> 0), or from the newest
  // Succeeded record of backup task `from_backup`. Giving both, or also data_source, path_type
  // or source_path, is refused naming the field.
  int64_t from_record = 0;
  std::string from_backup;
};

// How to run one restoration attempt.
struct StartOptions {
  // Restore a backup whose Flink HA pointers dangle (docs/flink-ha.md); logged as a warning.
  bool allow_dangling = false;
};

// Identifies one backup file (verify).
struct FileSpec {
  std::string cluster;  // whose storage settings to use; optional for LocalDir
  std::string path_type;
  std::string source_path;
  std::string nameservice;
  std::string ip_mode;
  std::string namenode_ip;
};

struct ClusterView {
  std::string name;
  std::string version;  // "" with version_error set when the version command failed
  std::string version_error;
  std::vector<archive::SourceDescriptor> metadata;
  std::vector<archive::SourceDescriptor> service_data;
  service::ServiceStatus service;
  std::string restore_running;  // name of the running restoration, if any
};

struct VerifyResult {
  std::string path;
  archive::Header header;
  uint64_t file_size = 0;
  std::string checksum;  // "sha256:<hex>" of the file
  // per source: entries and payload bytes
  struct SourceSummary {
    std::string name;
    std::string kind;
    uint64_t entries = 0;
    uint64_t bytes = 0;
  };
  std::vector<SourceSummary> sources;
};

struct RestoreView {
  store::RestoreTask task;
  std::vector<store::RestoreAttempt> attempts;  // oldest first
  std::vector<store::LogLine> log;              // of the latest attempt
};

class Engine {
 public:
  // All borrowed; they outlive the engine. `fence` (task/fence.h) is asked before every step
  // that touches a cluster and every task state write; null: one daemon, nothing to fence.
  Engine(const config::Config& config, store::Store& store, EventBus& events,
         Fence* fence = nullptr);
  ~Engine();  // shutdown()

  // At daemon start: marks runs interrupted by a crash Failed ("the daemon stopped while ...")
  // and puts back the safety copy of a restoration that had started changing the cluster.
  [[nodiscard]] Status recover();
  // Cancels running work and joins every thread.
  void shutdown();

  // Clusters and services.
  Result<std::vector<ClusterView>> list_clusters();
  Result<service::ServiceStatus> service_status(const std::string& cluster);
  // Runs the stop/start command and waits for the state (up to the configured timeout).
  [[nodiscard]] Status service_stop(const std::string& cluster);
  [[nodiscard]] Status service_start(const std::string& cluster);

  // Backup tasks.
  Result<store::BackupTask> create_backup_task(const BackupTaskSpec& spec);
  Result<store::BackupTask> get_backup_task(const std::string& name);
  Result<std::vector<store::BackupTask>> list_backup_tasks(store::Page page);
  [[nodiscard]] Status delete_backup_task(const std::string& name);
  // Starts a run in the background; returns its record (status Running).
  Result<store::BackupRecord> run_backup(const std::string& name);
  Result<std::vector<store::BackupRecord>> backup_history(const std::string& name,
                                                          store::Page page);
  Result<store::BackupRecord> get_backup_record(int64_t id);
  [[nodiscard]] Status suspend_backup(const std::string& name, bool suspended);
  // Reads and checks one backup file without touching any cluster.
  Result<VerifyResult> verify_file(const FileSpec& spec);
  // The same for the file of a backup record (the Verify action on a record).
  Result<VerifyResult> verify_record(int64_t id);

  // Restoration tasks. Besides validating every field, creation reads the backup file's header
  // at once: a file that is not there (kNotFound) or whose header cannot be read is refused
  // naming the path; a storage that does not answer (kUnavailable, kTimeout) is left to the
  // check step of Start, since the task may well be started once it is back.
  Result<store::RestoreTask> create_restore_task(const RestoreTaskSpec& spec);
  Result<RestoreView> get_restore_task(const std::string& name);
  Result<std::vector<store::RestoreTask>> list_restore_tasks(store::Page page);
  // Created -> Running. kFailedPrecondition for a Succeeded task ("can never run again"), a
  // Running one, or a Failed one (use retry).
  Result<store::RestoreTask> start_restore(const std::string& name, StartOptions options = {});
  // Failed -> Running; kFailedPrecondition otherwise.
  Result<store::RestoreTask> retry_restore(const std::string& name, StartOptions options = {});
  // Runs the checks and the comparison; changes neither cluster nor task. JSON:
  // {"task": name, "checks": [...], "sources": [{"name","kind","added":[...],"changed":[...],
  //  "removed":[...], "counts": {...}}]}
  Result<nlohmann::json> preview_restore(const std::string& name, StartOptions options = {});
  // Refused while Running.
  [[nodiscard]] Status delete_restore_task(const std::string& name);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flinkbr::task
