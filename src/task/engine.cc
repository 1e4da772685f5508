#include "task/engine.h"

#include <dirent.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <list>

#include <spdlog/spdlog.h>

#include "archive/names.h"
#include "common/allocator.h"
#include "source/flink/inspector.h"
#include "source/flink/pointer.h"
#include "source/registry.h"
#include "storage/open.h"
#include "task/archive_io.h"
#include "task/backup_run.h"
#include "task/recovery.h"
#include "task/restore_run.h"
#include "task/runtime.h"
#include "task/scheduler.h"
#include "task/space_check.h"
#include "task/validate.h"

namespace flinkbr::task {

namespace fs = std::filesystem;

namespace {

std::string default_backup_dir(const config::Config& config, PathType type) {
  if (type == PathType::kLocalDir)
    return (fs::path(config.server.state_dir) / "LocalBackup").string();
  if (type == PathType::kOBS) return "";  // no default bucket: "path is required"
  return "/flinkbr/backup";
}

// Parameters of a path type: which fields it takes. A field given to a path type that does not
// take it is refused, so that a typo never silently does something else.
Status check_path_fields(PathType type, const std::string& nameservice, const std::string& ip_mode,
                         const std::string& namenode_ip, const std::string& queue) {
  auto refuse = [&](const char* field) {
    return invalid_argument(
        field, std::string(field) + " is not used with path type " + std::string(to_string(type)));
  };
  bool hdfs = type == PathType::kLocalHDFS || type == PathType::kRemoteHDFS;
  if (!hdfs && !nameservice.empty()) return refuse("nameservice");
  if (type != PathType::kRemoteHDFS) {
    if (!ip_mode.empty()) return refuse("ip_mode");
    if (!namenode_ip.empty()) return refuse("namenode_ip");
    if (!queue.empty()) return refuse("queue");
  }
  TRY(validate_text("nameservice", nameservice, 255));
  TRY(validate_text("namenode_ip", namenode_ip, 255));
  TRY(validate_text("queue", queue, 255));
  if (!ip_mode.empty() && ip_mode != "auto" && ip_mode != "IPv4" && ip_mode != "IPv6")
    return invalid_argument("ip_mode", "ip_mode '" + ip_mode + "' must be auto, IPv4 or IPv6");
  return ok();
}

bool is_hdfs(PathType type) {
  return type == PathType::kLocalHDFS || type == PathType::kRemoteHDFS;
}

// A backup file path of an HDFS path type: "/dir/file.tar.gz", or the record form
// "hdfs://<nameservice>/dir/file.tar.gz" whose NameService must be the task's.
Status validate_hdfs_file_path(const std::string& field, const std::string& nameservice,
                               const std::string& path) {
  if (!path.starts_with("hdfs://")) return validate_backup_file_path(field, path);
  const std::string ns =
      nameservice.empty() ? std::string(storage::kDefaultNameService) : nameservice;
  std::string rest = path.substr(7);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (authority != ns)
    return invalid_argument(field, field + " '" + path + "' is on NameService '" + authority +
                                       "', but the task's NameService is '" + ns +
                                       "' (give --nameservice " + authority + ")");
  if (slash == std::string::npos)
    return invalid_argument(field, field + " '" + path + "' names no file");
  return validate_backup_file_path(field, rest.substr(slash));
}

// open_storage's refusal of a task's parameters, keeping the field it names (nameservice,
// namenode_ip, ip_mode, hadoop_conf_dir) and naming path_type otherwise.
Error storage_refusal(Error e) {
  if (e.code == Errc::kInvalidArgument && !e.field.empty()) return e;
  return Error{Errc::kInvalidArgument, e.message, "path_type"};
}

// A task run on a caller's thread (verify, restore preview) gives its memory back when it ends,
// as one on a worker does (common/allocator.h).
struct ReleaseMemoryAtEnd {
  ReleaseMemoryAtEnd() = default;
  ReleaseMemoryAtEnd(const ReleaseMemoryAtEnd&) = delete;
  ReleaseMemoryAtEnd& operator=(const ReleaseMemoryAtEnd&) = delete;
  ~ReleaseMemoryAtEnd() { release_free_memory(); }
};

// A thread running one task, reaped once done.
struct Worker {
  std::thread thread;
  std::shared_ptr<std::atomic<bool>> done = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace

// The facade's state: the clusters, the worker threads, which backup tasks are running. Backup
// runs (task/backup_run.h), restoration attempts (task/restore_run.h), crash recovery
// (task/recovery.h) and the scheduler (task/scheduler.h) live in their own files; every task
// state write goes through `writer`, which asks the fence first.
struct Engine::Impl {
  Impl(const config::Config& c, store::Store& s, EventBus& e, Fence* f)
      : config(c),
        store(s),
        events(e),
        fence(f ? f : &no_fence),
        writer(s, *fence),
        scheduler(
            writer,
            [this](const std::string& name) {
              std::lock_guard g(mu);
              return running_backups.contains(name);
            },
            [this](const std::string& name) -> Status {
              TRY(start_backup(name));
              return ok();
            }) {
    for (const auto& cl : config.clusters) {
      auto rt = std::make_unique<ClusterRuntime>();
      rt->cfg = &cl;
      rt->controller = service::make_controller(cl.service);
      clusters[cl.name] = std::move(rt);
    }
  }

  const config::Config& config;
  store::Store& store;
  EventBus& events;
  NoFence no_fence;
  Fence* fence;
  StateWriter writer;
  std::map<std::string, std::unique_ptr<ClusterRuntime>> clusters;

  std::mutex mu;  // guards everything below, and task state transitions
  std::list<Worker> workers;
  std::set<std::string> running_backups;          // backup task names
  std::map<std::string, int64_t> last_execution;  // backup task name -> execution time
  std::atomic<bool> cancelled{false};
  bool stopping = false;
  Scheduler scheduler;  // last: stopped (destroyed) before what its callbacks use

  Result<ClusterRuntime*> cluster(const std::string& name, std::string_view field = "cluster") {
    auto it = clusters.find(name);
    if (it != clusters.end()) return it->second.get();
    std::string names;
    for (const auto& [n, c] : clusters) names += (names.empty() ? "" : ", ") + n;
    if (field.empty()) return not_found("cluster '" + name + "' does not exist");
    return invalid_argument(std::string(field),
                            "unknown cluster '" + name + "'; configured clusters: " + names);
  }

  ClusterRuntime* find_cluster(const std::string& name) {
    auto it = clusters.find(name);
    return it == clusters.end() ? nullptr : it->second.get();
  }

  // Starts `fn` on a worker thread. Caller holds mu.
  void spawn(std::function<void()> fn) {
    for (auto it = workers.begin(); it != workers.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = workers.erase(it);
      } else {
        ++it;
      }
    }
    Worker w;
    auto done = w.done;
    w.thread = std::thread([fn = std::move(fn), done] {
      try {
        fn();
      } catch (const std::exception& e) {
        spdlog::critical("task thread ended by an exception: {}", e.what());
      }
      // The task's threads (ZooKeeper client, compression workers) and buffers are gone: give
      // their memory back, or a long-running daemon keeps every task's peak (allocator.h).
      release_free_memory();
      done->store(true);
    });
    workers.push_back(std::move(w));
  }

  // ---- backups ----

  Result<store::BackupRecord> start_backup(const std::string& name) {
    auto task = TRY(store.get_backup_task(name));
    ClusterRuntime* cl = TRY(cluster(task.cluster, ""));
    std::string version = TRY(resolve_version(*cl->cfg));

    std::unique_lock lock(mu);
    if (stopping) return make_error(Errc::kUnavailable, "the daemon is stopping");
    if (running_backups.contains(name))
      return make_error(Errc::kConflict, "a run of backup task '" + name + "' is already running");
    // Execution times have one-second resolution: never two runs of a task in the same second.
    int64_t exec = now_seconds();
    auto last = last_execution.find(name);
    if (last != last_execution.end() && exec <= last->second) exec = last->second + 1;
    auto history = TRY(store.list_backup_records(task.id, {.limit = 1}));
    if (!history.empty() && exec <= history[0].started_at) exec = history[0].started_at + 1;
    last_execution[name] = exec;
    running_backups.insert(name);
    lock.unlock();

    store::BackupRecord rec;
    rec.task_id = task.id;
    rec.task_name = task.name;
    rec.status = BackupStatus::kRunning;
    rec.started_at = exec;
    rec.backup_object = std::string(to_string(task.data_source));
    rec.system_version = version;
    rec.backup_path = archive::backup_file_path(task.params.path_type, task.params.path, task.name,
                                                task.data_source, task.created_at, version, exec);
    // HDFS records give the full hdfs://<nameservice>/path, ready for a restoration task.
    if (is_hdfs(task.params.path_type))
      rec.backup_path =
          storage::hdfs_uri({.nameservice = task.params.nameservice}, rec.backup_path);
    auto created = writer.create_backup_record(rec);
    if (!created) {
      std::lock_guard g(mu);
      running_backups.erase(name);
      return created;
    }
    rec = *created;
    events.publish("backup", backup_event_json(rec));
    std::lock_guard g(mu);
    spawn([this, task, rec, cl]() mutable { run_backup_thread(task, rec, *cl); });
    return rec;
  }

  void run_backup_thread(store::BackupTask task, store::BackupRecord rec, ClusterRuntime& cl) {
    // Wait for the execution second (it may lie up to a second ahead, see start_backup).
    while (now_seconds() < rec.started_at && !cancelled.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    BackupRecorder recorder(&writer, &events, rec);
    Status result;
    try {
      result = run_backup_steps(
          {.config = config, .cluster = cl, .task = task, .cancelled = &cancelled}, recorder);
    } catch (const std::exception& e) {
      result = internal_error(std::string("unexpected error: ") + e.what());
    }
    recorder.end_step();  // from here on this thread alone writes the record
    rec.ended_at = now_seconds();
    if (result) {
      rec.status = BackupStatus::kSucceeded;
      spdlog::info("backup {}: wrote {} ({} bytes)", task.name, rec.backup_path, rec.size);
    } else {
      rec.status = BackupStatus::kFailed;
      rec.error = result.error().message;
      spdlog::error("backup {}: {}", task.name, rec.error);
    }
    // Retention (the prune step) ran first, so that a record seen Succeeded already has its old
    // copies removed.
    {
      // The final status and the end of the run become visible together: whoever sees the
      // record end may start the next run at once.
      std::lock_guard g(mu);
      if (auto st = writer.update_backup_record(rec); !st)
        spdlog::error("backup {}: cannot record the result: {}", task.name, st.error().message);
      running_backups.erase(task.name);
    }
    events.publish("backup", backup_event_json(rec));
  }

  // ---- restorations ----

  Result<store::RestoreTask> begin_restore(const std::string& name, bool retry,
                                           StartOptions options) {
    std::unique_lock lock(mu);
    if (stopping) return make_error(Errc::kUnavailable, "the daemon is stopping");
    auto task = TRY(store.get_restore_task(name));
    switch (task.state) {
      case RestoreState::kSucceeded:
        return failed_precondition("restoration task '" + name +
                                   "' has already succeeded and can never run again; create a "
                                   "new task to restore another file");
      case RestoreState::kRunning:
        return failed_precondition("restoration task '" + name + "' is already running");
      case RestoreState::kFailed:
        if (!retry)
          return failed_precondition("restoration task '" + name +
                                     "' has failed; use retry to run it again");
        break;
      case RestoreState::kCreated:
        if (retry)
          return failed_precondition("restoration task '" + name +
                                     "' has never run; use start, not retry");
        break;
    }
    ClusterRuntime* cl = TRY(cluster(task.cluster, ""));
    store::RestoreAttempt attempt;
    attempt.task_id = task.id;
    attempt.number = task.attempts + 1;
    attempt.state = RestoreState::kRunning;
    attempt.phase = store::AttemptPhase::kChecking;
    attempt.started_at = now_seconds();
    attempt = TRY(writer.create_attempt(attempt));
    task.state = RestoreState::kRunning;
    task.attempts = attempt.number;
    task.progress = 0;
    task.error.clear();
    task.updated_at = now_seconds();
    TRY(writer.update_restore_task(task));
    spawn([this, task, attempt, cl, options]() mutable {
      run_restore_thread(task, attempt, *cl, options);
    });
    return task;
  }

  Status claim_slot(ClusterRuntime& cl, const store::RestoreTask& task) {
    std::lock_guard g(cl.mu);
    if (!cl.running_task.empty() && cl.running_task != task.name) {
      bool same_kind = cl.running_kind == task.data_source;
      std::string kind = cl.running_kind == DataSource::kFlink ? "metadata" : "service data";
      std::string msg = "a " + kind + " restoration (task '" + cl.running_task +
                        "') is running on cluster '" + cl.cfg->name + "'";
      if (!same_kind && task.data_source == DataSource::kFlinkServiceData)
        msg +=
            "; metadata and service data cannot be restored at the same time: restore "
            "service data after the metadata restoration has completed";
      else if (!same_kind)
        msg += "; metadata and service data cannot be restored at the same time";
      else
        msg += "; only one restoration of a cluster may run at a time";
      return make_error(Errc::kConflict, msg);
    }
    cl.running_task = task.name;
    cl.running_kind = task.data_source;
    return ok();
  }

  void release_slot(ClusterRuntime& cl, const std::string& task_name) {
    std::lock_guard g(cl.mu);
    if (cl.running_task == task_name) cl.running_task.clear();
  }

  void run_restore_thread(store::RestoreTask task, store::RestoreAttempt attempt,
                          ClusterRuntime& cl, StartOptions options) {
    Recorder rec(&writer, &events, &task, &attempt);
    rec.log("info", "attempt " + std::to_string(attempt.number) + " of restoration task '" +
                        task.name + "' into cluster '" + cl.cfg->name + "' from " +
                        std::string(to_string(task.params.path_type)) + " " + task.params.path);
    bool claimed = false;
    RestoreInputs in{
        .config = config,
        .cluster = cl,
        .task = task,
        .ctx_id = "r" + std::to_string(task.id) + "-a" + std::to_string(attempt.number),
        .cancelled = &cancelled,
        .claim_slot = [&]() -> Status {
          TRY(claim_slot(cl, task));
          claimed = true;
          return ok();
        },
        .allow_dangling = options.allow_dangling};
    Status result;
    try {
      result = run_restore(in, rec);
    } catch (const std::exception& e) {
      result = internal_error(std::string("unexpected error: ") + e.what());
    }
    if (claimed) release_slot(cl, task.name);
    attempt.ended_at = now_seconds();
    if (result) {
      task.state = attempt.state = RestoreState::kSucceeded;
      rec.finish();
      rec.log("info", "restoration succeeded; start the Flink service of cluster '" + cl.cfg->name +
                          "' when ready");
    } else {
      task.state = attempt.state = RestoreState::kFailed;
      task.error = attempt.error = result.error().message;
      rec.log("error", "restoration failed: " + task.error);
    }
    rec.flush();
  }

  // ---- crash recovery (task/recovery.h) ----

  Status recover() {
    const ClusterLookup lookup = [this](const std::string& name) { return find_cluster(name); };
    auto interrupted = TRY(fail_interrupted_backups(writer));
    // The interrupted writers' temporary files: on a worker, because a remote storage (HDFS)
    // may be slow or down, and the daemon must start regardless.
    if (!interrupted.empty()) {
      std::lock_guard g(mu);
      spawn([this, interrupted, lookup] {
        for (const auto& r : interrupted)
          if (!cancelled.load()) remove_backup_leftovers(store, lookup, r);  // stopping: give up
      });
    }
    return recover_restores(config, writer, lookup);
  }
};

Engine::Engine(const config::Config& config, store::Store& store, EventBus& events, Fence* fence)
    : impl_(std::make_unique<Impl>(config, store, events, fence)) {}

Engine::~Engine() {
  shutdown();
}

Status Engine::recover() {
  TRY(impl_->recover());
  impl_->scheduler.start();
  return ok();
}

void Engine::shutdown() {
  {
    std::lock_guard g(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cancelled.store(true);
  impl_->scheduler.stop();
  std::list<Worker> workers;
  {
    std::lock_guard g(impl_->mu);
    workers.swap(impl_->workers);
  }
  for (auto& w : workers) w.thread.join();
}

Result<std::vector<ClusterView>> Engine::list_clusters() {
  std::vector<ClusterView> out;
  for (auto& [name, rt] : impl_->clusters) {
    ClusterView v;
    v.name = name;
    auto version = resolve_version(*rt->cfg);
    if (version)
      v.version = *version;
    else
      v.version_error = version.error().message;
    for (auto* list : {&rt->cfg->metadata, &rt->cfg->service_data}) {
      auto& dst = list == &rt->cfg->metadata ? v.metadata : v.service_data;
      for (const auto& s : *list) {
        auto src = source::create(s, *rt->cfg);
        dst.push_back({s.name, s.type, src ? (*src)->location() : std::string()});
      }
    }
    v.service = rt->controller->status();
    {
      std::lock_guard g(rt->mu);
      v.restore_running = rt->running_task;
    }
    out.push_back(std::move(v));
  }
  return out;
}

Result<service::ServiceStatus> Engine::service_status(const std::string& cluster) {
  auto* cl = TRY(impl_->cluster(cluster, ""));
  return cl->controller->status();
}

Status Engine::service_stop(const std::string& cluster) {
  auto* cl = TRY(impl_->cluster(cluster, ""));
  TRY(cl->controller->stop(std::chrono::seconds(cl->cfg->service.timeout_seconds)));
  impl_->events.publish("service", {{"cluster", cluster}, {"state", "stopped"}});
  return ok();
}

Status Engine::service_start(const std::string& cluster) {
  auto* cl = TRY(impl_->cluster(cluster, ""));
  {
    std::lock_guard g(cl->mu);
    if (!cl->running_task.empty())
      return failed_precondition("restoration task '" + cl->running_task +
                                 "' is running on cluster '" + cluster +
                                 "'; start the service after it has ended");
  }
  TRY(cl->controller->start(std::chrono::seconds(cl->cfg->service.timeout_seconds)));
  impl_->events.publish("service", {{"cluster", cluster}, {"state", "running"}});
  return ok();
}

Result<store::BackupTask> Engine::create_backup_task(const BackupTaskSpec& spec) {
  TRY(validate_name("name", spec.name));
  TRY(validate_name("cluster", spec.cluster));
  auto* cl = TRY(impl_->cluster(spec.cluster));
  store::BackupTask t;
  t.name = spec.name;
  t.cluster = spec.cluster;
  t.data_source = TRY(parse_data_source(spec.data_source, "data_source"));
  t.params.path_type = TRY(parse_path_type(spec.path_type, "path_type"));
  TRY(check_path_fields(t.params.path_type, spec.nameservice, "", spec.namenode_ip, ""));
  t.params.path =
      spec.path.empty() ? default_backup_dir(impl_->config, t.params.path_type) : spec.path;
  if (t.params.path.size() > 1 && t.params.path.back() == '/') t.params.path.pop_back();
  if (t.params.path_type == PathType::kOBS)
    TRY(validate_object_path("path", t.params.path));
  else
    TRY(validate_absolute_path("path", t.params.path));
  t.params.nameservice = spec.nameservice;
  t.params.namenode_ip = spec.namenode_ip;
  auto storage = storage::open_storage({.type = t.params.path_type,
                                        .nameservice = t.params.nameservice,
                                        .namenode_ip = t.params.namenode_ip},
                                       cl->cfg);
  if (!storage) return std::unexpected(storage_refusal(storage.error()));
  if (spec.max_copies < 0 || spec.max_copies > 10000)
    return invalid_argument("max_copies", "max_copies must be between 0 (keep all) and 10000");
  t.max_copies = spec.max_copies;
  t.verify_after_run = spec.verify;
  const auto& sources =
      t.data_source == DataSource::kFlink ? cl->cfg->metadata : cl->cfg->service_data;
  if (sources.empty())
    return invalid_argument("data_source", "cluster '" + cl->cfg->name + "' configures no " +
                                               std::string(to_string(t.data_source)) + " sources");
  t.created_at = now_seconds();
  if (!spec.period.empty()) {
    t.period_seconds = TRY(parse_period("period", spec.period));
    t.start_time =
        spec.start_time.empty() ? t.created_at : TRY(parse_iso_time(spec.start_time, "start_time"));
    t.next_run = t.start_time;
  } else if (!spec.start_time.empty()) {
    return invalid_argument("start_time", "start_time needs a period");
  }
  return impl_->store.create_backup_task(t);
}

Result<store::BackupTask> Engine::get_backup_task(const std::string& name) {
  return impl_->store.get_backup_task(name);
}

Result<std::vector<store::BackupTask>> Engine::list_backup_tasks(store::Page page) {
  return impl_->store.list_backup_tasks(page);
}

Status Engine::delete_backup_task(const std::string& name) {
  {
    std::lock_guard g(impl_->mu);
    if (impl_->running_backups.contains(name))
      return failed_precondition("backup task '" + name + "' is running; delete it afterwards");
  }
  return impl_->store.delete_backup_task(name);
}

Result<store::BackupRecord> Engine::run_backup(const std::string& name) {
  return impl_->start_backup(name);
}

Result<std::vector<store::BackupRecord>> Engine::backup_history(const std::string& name,
                                                                store::Page page) {
  auto task = TRY(impl_->store.get_backup_task(name));
  return impl_->store.list_backup_records(task.id, page);
}

Result<store::BackupRecord> Engine::get_backup_record(int64_t id) {
  return impl_->store.get_backup_record(id);
}

Status Engine::suspend_backup(const std::string& name, bool suspended) {
  auto task = TRY(impl_->store.get_backup_task(name));
  if (task.period_seconds == 0)
    return failed_precondition("backup task '" + name + "' is manual; only periodic tasks can be " +
                               (suspended ? "suspended" : "resumed"));
  task.suspended = suspended;
  if (!suspended) {
    // Resuming does not replay the runs missed while suspended.
    int64_t now = now_seconds();
    while (task.next_run < now) task.next_run += task.period_seconds;
  }
  return impl_->writer.update_backup_task(task);
}

Result<VerifyResult> Engine::verify_file(const FileSpec& spec) {
  ReleaseMemoryAtEnd release;
  PathType type = TRY(parse_path_type(spec.path_type, "path_type"));
  TRY(check_path_fields(type, spec.nameservice, spec.ip_mode, spec.namenode_ip, ""));
  const config::ClusterConfig* cfg = nullptr;
  if (!spec.cluster.empty()) cfg = TRY(impl_->cluster(spec.cluster))->cfg;
  if (type == PathType::kLocalDir)
    TRY(validate_backup_file_path("source_path", spec.source_path));
  else if (!cfg)
    return invalid_argument("cluster", "cluster is required for path type " + spec.path_type);
  auto storage = TRY(storage::open_storage({.type = type,
                                            .nameservice = spec.nameservice,
                                            .ip_mode = spec.ip_mode,
                                            .namenode_ip = spec.namenode_ip},
                                           cfg));
  auto exists = TRY(storage->exists(spec.source_path));
  if (!exists)
    return not_found("the backup file was not found at " + spec.path_type + " path " +
                     spec.source_path);
  auto v = TRY(verify_backup_file(*storage, spec.source_path, {}, spool_dir(impl_->config)));
  // What a restore refuses, verify refuses too (issue 16): the expanded-size cap.
  TRY_CTX(check_expanded_size(v.report.summary, impl_->config.restore.max_expanded_bytes),
          spec.source_path);
  VerifyResult out;
  out.path = spec.source_path;
  out.header = v.report.header;
  out.file_size = v.file_size;
  out.checksum = "sha256:" + v.sha256;
  // The reader counted each source's entries and bytes (one total per source of the header, in
  // its order) while checking them against the manifest.
  const auto& header_sources = v.report.header.sources;
  const auto& totals = v.report.summary.sources;
  for (size_t i = 0; i < header_sources.size() && i < totals.size(); ++i)
    out.sources.push_back(VerifyResult::SourceSummary{.name = header_sources[i].name,
                                                      .kind = header_sources[i].kind,
                                                      .entries = totals[i].entries,
                                                      .bytes = totals[i].bytes});
  return out;
}

Result<VerifyResult> Engine::verify_record(int64_t id) {
  auto rec = TRY(impl_->store.get_backup_record(id));
  if (rec.status != BackupStatus::kSucceeded)
    return failed_precondition("backup record " + std::to_string(id) + " is " +
                               std::string(to_string(rec.status)) +
                               "; only the file of a Succeeded record can be verified");
  auto task = impl_->store.get_backup_task(rec.task_name);
  if (!task)
    return not_found("the backup task '" + rec.task_name + "' of record " + std::to_string(id) +
                     " no longer exists; verify the file with its path instead");
  return verify_file({.cluster = task->cluster,
                      .path_type = std::string(to_string(task->params.path_type)),
                      .source_path = rec.backup_path,
                      .nameservice = task->params.nameservice,
                      .ip_mode = task->params.ip_mode,
                      .namenode_ip = task->params.namenode_ip});
}

namespace {

// The record a restoration is made from: the one named, or the newest Succeeded of a task.
Result<store::BackupRecord> source_record(store::Store& store, const RestoreTaskSpec& spec) {
  if (spec.from_record > 0) {
    auto rec = store.get_backup_record(spec.from_record);
    if (!rec && rec.error().code == Errc::kNotFound)
      return not_found("backup record " + std::to_string(spec.from_record) + " does not exist");
    if (!rec) return std::unexpected(rec.error());
    if (rec->status != BackupStatus::kSucceeded)
      return failed_precondition("backup record " + std::to_string(rec->id) + " is " +
                                 std::string(to_string(rec->status)) +
                                 "; only the file of a Succeeded record can be restored");
    return rec;
  }
  TRY(validate_name("from_backup", spec.from_backup));
  auto task = TRY(store.get_backup_task(spec.from_backup));
  // Newest first; a page at a time so that a long history of failures does not hide the last
  // success.
  for (int64_t offset = 0;; offset += 100) {
    auto recs = TRY(store.list_backup_records(task.id, {.limit = 100, .offset = offset}));
    for (const auto& r : recs)
      if (r.status == BackupStatus::kSucceeded) return r;
    if (recs.size() < 100) break;
  }
  return not_found("backup task '" + spec.from_backup + "' has no Succeeded record to restore");
}

// The spec with what the record and its backup task say filled in.
Result<RestoreTaskSpec> resolve_from_record(store::Store& store, const RestoreTaskSpec& spec) {
  if (spec.from_record <= 0 && spec.from_backup.empty()) return spec;
  if (spec.from_record > 0 && !spec.from_backup.empty())
    return invalid_argument("from_backup", "from_record and from_backup exclude each other");
  const char* from = spec.from_record > 0 ? "from_record" : "from_backup";
  for (auto [field, value] : {std::pair{"data_source", &spec.data_source},
                              {"path_type", &spec.path_type},
                              {"source_path", &spec.source_path},
                              {"nameservice", &spec.nameservice},
                              {"namenode_ip", &spec.namenode_ip}})
    if (!value->empty())
      return invalid_argument(field, std::string(field) + " comes from the backup record; give " +
                                         from + " or " + field + ", not both");
  auto rec = TRY(source_record(store, spec));
  auto task = store.get_backup_task(rec.task_name);
  if (!task)
    return not_found("the backup task '" + rec.task_name + "' of record " + std::to_string(rec.id) +
                     " no longer exists; create the restoration with the record's path instead");
  RestoreTaskSpec out = spec;
  out.from_record = 0;
  out.from_backup.clear();
  if (out.cluster.empty()) out.cluster = task->cluster;
  out.data_source =
      rec.backup_object.empty() ? std::string(to_string(task->data_source)) : rec.backup_object;
  out.path_type = std::string(to_string(task->params.path_type));
  out.source_path = rec.backup_path;
  out.nameservice = task->params.nameservice;
  out.namenode_ip = task->params.namenode_ip;
  if (out.ip_mode.empty()) out.ip_mode = task->params.ip_mode;
  return out;
}

// Creation reads the header so that a wrong path is refused now rather than at Start. Only a
// storage that answered about the file refuses: not there, not readable by flinkbr, a directory,
// not a backup file. A storage that does not answer (down, a NameNode address that is not one,
// a network error) is the check step's business: the task may be started once it is back.
Status check_file_readable(storage::Storage& storage, PathType type, const std::string& path) {
  const std::string where = std::string(to_string(type)) + " path " + path;
  auto answered = [](const Error& e) {
    return e.code == Errc::kNotFound || e.code == Errc::kPermissionDenied ||
           e.code == Errc::kCorruption || e.code == Errc::kInvalidArgument;
  };
  auto info = storage.stat(path);
  if (!info) {
    if (!answered(info.error())) return ok();
    if (info.error().code == Errc::kNotFound)
      return invalid_argument("source_path", "the backup file was not found at " + where);
    return invalid_argument(
        "source_path", "cannot read the backup file at " + where + ": " + info.error().message);
  }
  if (info->is_dir)
    return invalid_argument("source_path", where + " is a directory, not a backup file");
  auto header = read_backup_header(storage, path);
  if (!header && answered(header.error()))
    return invalid_argument("source_path", "cannot read the header of the backup file at " + where +
                                               ": " + header.error().message);
  return ok();
}

}  // namespace

Result<store::RestoreTask> Engine::create_restore_task(const RestoreTaskSpec& requested) {
  const RestoreTaskSpec spec = TRY(resolve_from_record(impl_->store, requested));
  TRY(validate_name("name", spec.name));
  TRY(validate_name("cluster", spec.cluster));
  auto* cl = TRY(impl_->cluster(spec.cluster));
  store::RestoreTask t;
  t.name = spec.name;
  t.cluster = spec.cluster;
  t.data_source = TRY(parse_data_source(spec.data_source, "data_source"));
  t.params.path_type = TRY(parse_path_type(spec.path_type, "path_type"));
  TRY(check_path_fields(t.params.path_type, spec.nameservice, spec.ip_mode, spec.namenode_ip,
                        spec.queue));
  if (t.params.path_type == PathType::kLocalDir) {
    TRY(validate_backup_file_path("source_path", spec.source_path));
  } else if (is_hdfs(t.params.path_type)) {
    TRY(validate_hdfs_file_path("source_path", spec.nameservice, spec.source_path));
  } else {
    TRY(validate_object_path("source_path", spec.source_path));
  }
  // A name that follows the pattern must agree with the task's data source.
  std::string file = fs::path(spec.source_path).filename().string();
  if (auto parsed = archive::parse_backup_file_name(file);
      parsed && parsed->data_source != t.data_source)
    return invalid_argument("source_path", "the file " + file + " holds " +
                                               std::string(to_string(parsed->data_source)) +
                                               ", but the task restores " +
                                               std::string(to_string(t.data_source)));
  auto storage = storage::open_storage({.type = t.params.path_type,
                                        .nameservice = spec.nameservice,
                                        .ip_mode = spec.ip_mode,
                                        .namenode_ip = spec.namenode_ip},
                                       cl->cfg);
  if (!storage) return std::unexpected(storage_refusal(storage.error()));
  if (t.params.path_type == PathType::kRemoteHDFS) {
    // What can be checked without asking the ResourceManager: a queue is named, and there is a
    // ResourceManager to ask at the check step.
    if (spec.queue.empty())
      return invalid_argument(
          "queue", "queue is required for RemoteHDFS: the YARN queue of cluster '" + cl->cfg->name +
                       "' used for the copy");
    if (cl->cfg->yarn_rm_url.empty())
      return invalid_argument("queue", "cluster '" + cl->cfg->name +
                                           "' has no ResourceManager to check YARN queue '" +
                                           spec.queue +
                                           "' against: set yarn_rm_url in its configuration (e.g. "
                                           "http://resourcemanager:8088)");
  }
  TRY(check_file_readable(**storage, t.params.path_type, spec.source_path));
  t.params.path = spec.source_path;
  t.params.nameservice = spec.nameservice;
  t.params.ip_mode = spec.ip_mode;
  t.params.namenode_ip = spec.namenode_ip;
  t.params.queue = spec.queue;
  t.state = RestoreState::kCreated;
  t.created_at = t.updated_at = now_seconds();
  return impl_->store.create_restore_task(t);
}

Result<RestoreView> Engine::get_restore_task(const std::string& name) {
  RestoreView v;
  v.task = TRY(impl_->store.get_restore_task(name));
  v.attempts = TRY(impl_->store.list_attempts(v.task.id));
  if (!v.attempts.empty()) v.log = TRY(impl_->store.list_log(v.attempts.back().id));
  return v;
}

Result<std::vector<store::RestoreTask>> Engine::list_restore_tasks(store::Page page) {
  return impl_->store.list_restore_tasks(page);
}

Result<store::RestoreTask> Engine::start_restore(const std::string& name, StartOptions options) {
  return impl_->begin_restore(name, false, options);
}

Result<store::RestoreTask> Engine::retry_restore(const std::string& name, StartOptions options) {
  return impl_->begin_restore(name, true, options);
}

Result<nlohmann::json> Engine::preview_restore(const std::string& name, StartOptions options) {
  auto task = TRY(impl_->store.get_restore_task(name));
  if (task.state == RestoreState::kRunning)
    return failed_precondition("restoration task '" + name + "' is running");
  auto* cl = TRY(impl_->cluster(task.cluster, ""));
  ReleaseMemoryAtEnd release;
  Recorder rec(nullptr, nullptr, nullptr, nullptr);
  static std::atomic<int> counter{0};
  RestoreInputs in{.config = impl_->config,
                   .cluster = *cl,
                   .task = task,
                   .ctx_id = "p" + std::to_string(task.id) + "-" + std::to_string(getpid()) + "-" +
                             std::to_string(counter++),
                   .cancelled = &impl_->cancelled,
                   .claim_slot = [&]() -> Status {
                     std::lock_guard g(cl->mu);
                     if (!cl->running_task.empty())
                       return make_error(Errc::kConflict, "restoration task '" + cl->running_task +
                                                              "' is running on cluster '" +
                                                              cl->cfg->name + "'");
                     return ok();
                   },
                   .allow_dangling = options.allow_dangling};
  return run_preview(in, rec);
}

Status Engine::delete_restore_task(const std::string& name) {
  std::lock_guard g(impl_->mu);
  auto task = TRY(impl_->store.get_restore_task(name));
  if (task.state == RestoreState::kRunning)
    return failed_precondition("restoration task '" + name +
                               "' is running; delete it after it has ended");
  auto attempts = TRY(impl_->store.list_attempts(task.id));
  TRY(impl_->store.delete_restore_task(name));
  for (const auto& a : attempts) {
    std::error_code ec;
    if (!a.safety_copy.empty()) fs::remove(a.safety_copy, ec);
  }
  return ok();
}

}  // namespace flinkbr::task
