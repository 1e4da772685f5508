#include "task/recovery.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>

#include "storage/open.h"
#include "task/archive_io.h"
#include "task/restore_run.h"

namespace flinkbr::task {

namespace fs = std::filesystem;

Result<std::vector<store::BackupRecord>> fail_interrupted_backups(StateWriter& writer) {
  // The file was never committed (atomic writers); mark the record.
  auto running = TRY(writer.store().list_running_backup_records());
  for (auto& r : running) {
    r.status = BackupStatus::kFailed;
    r.ended_at = now_seconds();
    r.error = writer.interrupted_by() + " while this backup was running";
    TRY(writer.update_backup_record(r));
    spdlog::warn("backup record {} of {} marked Failed: {}", r.id, r.task_name, r.error);
  }
  return running;
}

void remove_backup_leftovers(store::Store& store, const ClusterLookup& clusters,
                             const store::BackupRecord& r) {
  auto task = store.get_backup_task(r.task_name);
  if (!task) return;  // deleted since; its parameters (which storage) went with it
  ClusterRuntime* cl = clusters(task->cluster);
  auto storage = storage::open_storage({.type = task->params.path_type,
                                        .nameservice = task->params.nameservice,
                                        .namenode_ip = task->params.namenode_ip},
                                       cl ? cl->cfg : nullptr);
  auto removed = storage ? (*storage)->remove_leftovers_of(r.backup_path)
                         : Result<int>(std::unexpected(storage.error()));
  if (!removed)
    spdlog::warn(
        "backup record {} of {}: cannot remove the temporary file of the interrupted "
        "run beside {}: {}",
        r.id, r.task_name, r.backup_path, removed.error().message);
  else if (*removed > 0)
    spdlog::info(
        "backup record {} of {}: removed the temporary file of the interrupted run "
        "beside {}",
        r.id, r.task_name, r.backup_path);
}

namespace {

// Puts the safety copy of `last` back when its apply step had begun; says what happened.
std::string undo_apply(const config::Config& config, ClusterRuntime& cl,
                       const store::RestoreTask& task, store::RestoreAttempt& last,
                       const std::string& ctx_id, Recorder& rec) {
  if (last.phase != store::AttemptPhase::kApplying || last.safety_copy.empty())
    return "it had not changed the cluster yet";
  if (auto st = rec.fence_check(); !st)
    return "putting the safety copy back was not attempted (" + st.error().message + ")";
  auto staging = make_staging_dir(config, ctx_id + "-recovery");
  source::TaskContext ctx{.id = ctx_id + "-recovery",
                          .staging_dir = staging ? *staging : std::string()};
  auto back = put_back_safety_copy(config, *cl.cfg, task.data_source, last.safety_copy, ctx, rec);
  if (staging) remove_staging_dir(*staging);
  if (back) {
    last.phase = store::AttemptPhase::kRolledBack;
    return "the safety copy was put back, the cluster is as it was before";
  }
  last.phase = store::AttemptPhase::kDamaged;
  return "putting the safety copy back failed (" + back.error().message +
         "); the safety copy is kept at " + last.safety_copy;
}

// The staging directories of previews whose daemon is gone, by task id: "p<task>-<pid>-<n>"
// (engine.cc). A preview stages as a restore does (a files source beside its live tree), but it
// is no task left Running, so recover_restore never saw it: a daemon killed during the preview
// of a large file left the staged tree beside the live one for good (issue 18 attack review).
// This daemon's own pid counts as gone: a restarted container may give it the same one.
std::map<int64_t, std::vector<std::string>> preview_leftovers(const std::string& staging) {
  std::map<int64_t, std::vector<std::string>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(staging, ec)) {
    const std::string name = e.path().filename().string();
    long long task = 0, pid = 0, n = 0;
    int used = 0;
    if (std::sscanf(name.c_str(), "p%lld-%lld-%lld%n", &task, &pid, &n, &used) != 3 ||
        static_cast<size_t>(used) != name.size() || pid <= 0)
      continue;
    if (pid != ::getpid() && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH))
      continue;  // a preview of a daemon still running
    out[task].push_back(name);
  }
  return out;
}

// What the previews of `task` in `ctx_ids` staged beside its sources' live data.
void remove_preview_staging(const ClusterLookup& clusters, const store::RestoreTask& task,
                            const std::vector<std::string>& ctx_ids) {
  ClusterRuntime* cl = clusters(task.cluster);
  if (!cl) return;
  auto sources = build_sources(*cl->cfg, task.data_source);
  if (!sources) return;
  for (const auto& id : ctx_ids)
    for (auto& s : *sources)
      if (auto st = s->cleanup_after_crash(id); !st)
        spdlog::warn("restoration task {}: removing what preview {} staged for source '{}': {}",
                     task.name, id, s->name(), st.error().message);
}

}  // namespace

Status recover_restore(const config::Config& config, StateWriter& writer,
                       const ClusterLookup& clusters, store::RestoreTask& task) {
  auto attempts = TRY(writer.store().list_attempts(task.id));
  std::string reason = writer.interrupted_by() + " while this restoration was running";
  store::RestoreAttempt* last = attempts.empty() ? nullptr : &attempts.back();
  ClusterRuntime* cl = clusters(task.cluster);
  if (last && cl) {
    Recorder rec(&writer, nullptr, &task, last);
    std::string ctx_id = "r" + std::to_string(task.id) + "-a" + std::to_string(last->number);
    auto sources = build_sources(*cl->cfg, task.data_source);
    if (sources)
      for (auto& s : *sources)
        if (auto st = s->cleanup_after_crash(ctx_id); !st)
          rec.log("warn", "cleaning up source '" + s->name() + "': " + st.error().message);
    reason += "; " + undo_apply(config, *cl, task, *last, ctx_id, rec);
    remove_staging_dir((fs::path(config.server.state_dir) / "staging" / ctx_id).string());
    last->state = RestoreState::kFailed;
    last->error = reason;
    last->ended_at = now_seconds();
    rec.log("error", reason);
    TRY(writer.update_attempt(*last));
  }
  task.state = RestoreState::kFailed;
  task.error = reason;
  task.updated_at = now_seconds();
  TRY(writer.update_restore_task(task));
  spdlog::warn("restoration task {} marked Failed: {}", task.name, reason);
  return ok();
}

Status recover_restores(const config::Config& config, StateWriter& writer,
                        const ClusterLookup& clusters) {
  // What verifications of a daemon killed meanwhile kept (a zookeeper payload's parts).
  const std::string staging = (fs::path(config.server.state_dir) / "staging").string();
  remove_verify_leftovers(staging);
  auto previews = preview_leftovers(staging);
  for (int64_t offset = 0;; offset += 1000) {
    auto tasks = TRY(writer.store().list_restore_tasks({.limit = 1000, .offset = offset}));
    for (auto& t : tasks) {
      if (auto it = previews.find(t.id); it != previews.end())
        remove_preview_staging(clusters, t, it->second);
      if (t.state == RestoreState::kRunning) TRY(recover_restore(config, writer, clusters, t));
    }
    if (tasks.size() < 1000) break;
  }
  for (const auto& [task, ids] : previews)
    for (const auto& id : ids) remove_staging_dir((fs::path(staging) / id).string());
  return ok();
}

}  // namespace flinkbr::task
