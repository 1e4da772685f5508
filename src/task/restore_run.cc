#include "task/restore_run.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "archive/names.h"
#include "source/flink/inspector.h"
#include "storage/hdfs/remote.h"
#include "storage/open.h"
#include "task/archive_io.h"
#include "task/space_check.h"
#include "task/validate.h"

namespace flinkbr::task {

namespace fs = std::filesystem;

namespace {

// Progress bands of the steps, in percent.
constexpr int kVerifyFrom = 2, kVerifyTo = 60;  // verifies and stages (one pass)
constexpr int kSafetyFrom = 60, kSafetyTo = 80;
constexpr int kApplyFrom = 80, kApplyTo = 90;

std::function<void(uint64_t)> band(Recorder& rec, int from, int to, uint64_t total) {
  return [&rec, from, to, total](uint64_t done) {
    if (total == 0) return;
    uint64_t d = std::min(done, total);
    rec.progress(from + static_cast<int>((to - from) * d / total));
    rec.bytes(done, total);
  };
}

// Runs one step: records its start and end; an error ends it "failed" with the message.
template <class F>
auto step(Recorder& rec, const std::string& name, F&& body) -> decltype(body()) {
  TRY(rec.fence_check());  // a manager that may no longer act starts no step (task/fence.h)
  rec.begin_step(name);
  auto r = body();
  if (r)
    rec.end_step("done");
  else
    rec.end_step("failed", r.error().message);
  return r;
}

Status service_refusal(const std::string& name, const service::ServiceStatus& st);

struct Prepared {
  std::unique_ptr<storage::Storage> storage;
  archive::Header header;
  std::vector<std::unique_ptr<source::MetadataSource>> all_sources;
  std::map<std::string, source::MetadataSource*> sources;  // those the file holds
  std::string version;
  uint64_t file_size = 0;
  source::flink::Consistency consistency;  // of the file, found by the verify step
  // Migration: the files sources whose location differs from the backup's (docs/flink-ha.md).
  // The staging counts the rewrites here (TaskContext::rewrites points at it): a Prepared is not
  // moved once the verify step started.
  std::vector<source::PointerRewrite> rewrites;
  service::ServiceStatus service;  // as the check step found it
  StagedMap staged;                // by the verify step
  // The verify step's count of the space (the safety copy's reservation): other stagings of this
  // daemon count it until the safety copy is written.
  std::optional<StagingSpace> space;
};

Status check_service_stopped(ClusterRuntime& cluster) {
  return service_refusal(cluster.cfg->name, cluster.controller->status());
}

// What a start refuses for the service state `st` of cluster `name`.
Status service_refusal(const std::string& name, const service::ServiceStatus& st) {
  switch (st.state) {
    case service::ServiceState::kStopped:
      return ok();
    case service::ServiceState::kRunning:
      return failed_precondition("the Flink service of cluster '" + name + "' is running (" +
                                 st.detail + "); stop it first: flinkbr service stop " + name);
    case service::ServiceState::kUnknown:
      break;
  }
  return failed_precondition("the state of the Flink service of cluster '" + name +
                             "' is unknown (" + st.detail + "); a restoration needs it stopped");
}

// `would_refuse`, for a preview: the refusals a start would give for the state of the world
// right now (the service not stopped, another restoration running) go there instead of ending
// the check, so that an operator sees the preview before arranging the downtime.
Result<Prepared> check(const RestoreInputs& in, Recorder& rec,
                       std::vector<std::string>* would_refuse = nullptr) {
  auto refuse_or_note = [&](Status st) -> Status {
    if (st || !would_refuse) return st;
    would_refuse->push_back(st.error().message);
    return ok();
  };
  const store::RestoreTask& t = in.task;
  const config::ClusterConfig& cluster = *in.cluster.cfg;
  Prepared p;

  // Parameters (validated at creation; checked again because the configuration may differ).
  if (t.params.path_type == PathType::kLocalDir)
    TRY(validate_backup_file_path("source_path", t.params.path));
  p.storage = TRY(storage::open_storage({.type = t.params.path_type,
                                         .nameservice = t.params.nameservice,
                                         .ip_mode = t.params.ip_mode,
                                         .namenode_ip = t.params.namenode_ip},
                                        &cluster));
  if (t.params.path_type == PathType::kRemoteHDFS) {
    // The copy runs in a YARN queue of this cluster: it must exist and be RUNNING.
    TRY(storage::hdfs::check_yarn_queue({.rm_url = cluster.yarn_rm_url,
                                         .cluster = cluster.name,
                                         .kerberos = cluster.hdfs_auth == "kerberos",
                                         .ca_file = cluster.hdfs_ca_file},
                                        t.params.queue));
    rec.log("info", "YARN queue " + t.params.queue + " is RUNNING");
  }

  if (in.claim_slot) TRY(refuse_or_note(in.claim_slot()));

  // The backup file.
  const std::string where = std::string(to_string(t.params.path_type)) + " path " + t.params.path;
  auto info = p.storage->stat(t.params.path);
  if (!info) {
    if (info.error().code == Errc::kNotFound)
      return not_found("the backup file was not found at " + where);
    return std::unexpected(
        std::move(info.error()).context("cannot read the backup file at " + where));
  }
  if (info->is_dir) return failed_precondition(where + " is a directory, not a backup file");
  p.file_size = info->size;
  auto header = read_backup_header(*p.storage, t.params.path);
  if (!header)
    return std::unexpected(
        std::move(header.error()).context("cannot read the backup file at " + where));
  p.header = *header;
  rec.log("info", "backup file " + t.params.path + ": system version " + p.header.system_version +
                      ", data source " + p.header.data_source + ", cluster " + p.header.cluster +
                      ", executed " + p.header.execution_time);

  // Version, data source and sources.
  p.version = TRY(resolve_version(cluster));
  if (p.header.system_version != p.version)
    return failed_precondition("the backup file was made on system version " +
                               p.header.system_version + ", but cluster '" + cluster.name +
                               "' runs version " + p.version +
                               "; a restoration needs the same version");
  if (p.header.data_source != to_string(t.data_source))
    return failed_precondition("the backup file holds " + p.header.data_source +
                               ", but the task restores " + std::string(to_string(t.data_source)));
  if (p.header.cluster != cluster.name)
    rec.log("warn", "the backup file comes from cluster '" + p.header.cluster +
                        "'; restoring it into cluster '" + cluster.name + "'");
  p.all_sources = TRY(build_sources(cluster, t.data_source));
  for (const auto& desc : p.header.sources) {
    source::MetadataSource* match = nullptr;
    for (auto& s : p.all_sources)
      if (s->name() == desc.name) match = s.get();
    if (!match)
      return failed_precondition("the backup file holds source '" + desc.name +
                                 "', which cluster '" + cluster.name + "' does not configure");
    if (match->kind() != desc.kind)
      return failed_precondition("source '" + desc.name + "' is of kind " + desc.kind +
                                 " in the backup file but " + match->kind() + " in cluster '" +
                                 cluster.name + "'");
    p.sources[desc.name] = match;
  }
  // Restoring into another cluster, or into a cluster whose HA storage moved: Flink's pointers
  // into a files source's old location must point into its new one.
  bool has_zookeeper = false;
  for (const auto& desc : p.header.sources) has_zookeeper |= desc.kind == "zookeeper";
  for (const auto& desc : p.header.sources) {
    source::MetadataSource* s = p.sources[desc.name];
    if (!has_zookeeper || desc.kind != "files" || s->location() == desc.location) continue;
    p.rewrites.push_back({.from = desc.location, .to = s->location()});
  }
  for (auto& s : p.all_sources)
    if (!p.sources.contains(s->name()))
      rec.log("warn", "source '" + s->name() + "' is not in the backup file and stays as it is");
  // A source inside another (a files tree below another's root, a znode below another's root):
  // the switch of the outer one would replace the inner one's data and carry its staging away,
  // and the outer one's safety copy, taken after the staging, would hold that staging.
  for (const auto& [outer_name, outer] : p.sources)
    for (const auto& [inner_name, inner] : p.sources) {
      const std::string o = outer->location(), i = inner->location();
      if (outer_name == inner_name || outer->kind() != inner->kind()) continue;
      if (i == o || i.starts_with(o.ends_with('/') ? o : o + "/"))
        return failed_precondition("source '" + inner_name + "' (" + i + ") lies inside source '" +
                                   outer_name + "' (" + o +
                                   "): restoring one would replace the other's data; configure "
                                   "them side by side");
    }

  // The service, then each source's reachability.
  p.service = in.cluster.controller->status();
  TRY(refuse_or_note(service_refusal(cluster.name, p.service)));
  for (auto& [name, s] : p.sources) {
    TRY_CTX(s->check(), "source '" + name + "' (" + s->location() + ")");
    // A source the switch cannot replace in place (a files source on its own mount) is refused
    // now, before anything is staged, rather than failing at the switch.
    TRY_CTX(s->check_restorable(), "source '" + name + "' (" + s->location() + ")");
  }
  // Signs that Flink may still be running although its service says stopped (an ephemeral
  // leader znode of an open session): reported, not refused, since a JobManager killed with
  // kill -9 leaves them until its session expires.
  for (auto& [name, s] : p.sources) {
    auto warnings = s->live_warnings();
    if (!warnings) {
      rec.log("warn", "source '" + name + "': cannot look for signs of a running JobManager: " +
                          warnings.error().message);
      continue;
    }
    for (const auto& w : *warnings) rec.log("warn", w);
  }
  return p;
}

// The refusal of a backup whose Flink HA pointers dangle.
std::string dangling_refusal(const source::flink::Consistency& c) {
  return "the backup file's Flink HA data is inconsistent (" + std::to_string(c.dangling_count) +
         " dangling pointer" + (c.dangling_count == 1 ? "" : "s") +
         (c.counters_behind.empty() ? "" : ", a checkpoint counter behind its checkpoints") +
         "): " + c.summary() +
         "; Flink could not recover from it (docs/flink-ha.md). Restore it anyway with "
         "--allow-dangling";
}

// Free space (issues 16 and 18): what the file expands to must fit where it is staged (beside a
// files source's live tree, or in the staging directory), and the safety copy must fit in the
// state directory; several of them may share one file system, which must hold their sum.
// restore.max_expanded_bytes caps the expanded size whatever the disks hold. The verify step
// stages while it reads the file, so the sizes are counted as it stages (StagingSpace, against
// what was free when it started, less the safety copy); past a limit nothing more is staged, the
// rest of the file is read and checked, and the refusal is given with the manifest's totals.
std::string staging_dir_of(const config::Config& config) {
  return (fs::path(config.server.state_dir) / "staging").string();
}

// Where each source of the file stages, by name (none for a source staged off this machine).
std::vector<std::pair<std::string, SpaceNeed>> staging_places(const Prepared& p,
                                                              const config::Config& config) {
  std::vector<std::pair<std::string, SpaceNeed>> out;
  for (const auto& desc : p.header.sources) {
    auto it = p.sources.find(desc.name);
    if (it == p.sources.end()) continue;
    auto place = it->second->staging_place();
    if (!place) continue;
    out.emplace_back(desc.name,
                     SpaceNeed{.what = "staging source '" + desc.name + "'",
                               .path = place->empty() ? staging_dir_of(config) : *place});
  }
  return out;
}

// The safety copy's need: at most the live metadata's size (compression only shrinks it).
SpaceNeed safety_need(const Prepared& p, const config::Config& config) {
  uint64_t live = 0;
  for (const auto& [name, s] : p.sources) live += s->estimate_bytes();
  return {.what = "the safety copy",
          .path = (fs::path(config.server.state_dir) / "safety").string(),
          .bytes = live};
}

// The refusal a staging stopped by StagingSpace reports, from the manifest's totals: the cap, then
// the file systems; `running` when they pass now (space freed since).
Error space_refusal(const Prepared& p, const archive::ArchiveSummary& summary,
                    const config::Config& config, bool with_safety_copy, Error running) {
  if (auto st = check_expanded_size(summary, config.restore.max_expanded_bytes); !st)
    return st.error();
  std::vector<SpaceNeed> needs;
  for (auto& [name, need] : staging_places(p, config)) {
    for (const auto& totals : summary.sources)
      if (totals.name == name) {
        need.bytes = totals.bytes;
        need.entries = totals.entries;
      }
    needs.push_back(std::move(need));
  }
  if (with_safety_copy) needs.push_back(safety_need(p, config));
  if (auto st = check_free_space(needs); !st) return st.error();
  return running;
}

// `preview`: report an inconsistent file instead of refusing it; no safety copy follows.
Status verify_and_stage(Prepared& p, const RestoreInputs& in, const source::TaskContext& ctx,
                        Recorder& rec, bool preview,
                        const std::function<void(uint64_t)>& on_file_bytes) {
  source::flink::Inspector inspector(p.header);
  std::vector<SpaceNeed> reserved;
  if (!preview) reserved.push_back(safety_need(p, in.config));
  p.space = TRY(StagingSpace::measure(staging_places(p, in.config), reserved,
                                      in.config.restore.max_expanded_bytes));
  StagingLimits limits{
      .admit = [&p](std::string_view source,
                    const archive::Entry& entry) { return p.space->admit(source, entry); },
      .explain =
          [&](const archive::ArchiveSummary& summary, Error running) {
            return space_refusal(p, summary, in.config, !preview, std::move(running));
          }};
  auto v = TRY(verify_and_stage_backup_file(*p.storage, in.task.params.path, p.sources, ctx,
                                            on_file_bytes, &inspector, limits));
  p.space->staging_done();
  rec.log("info", "integrity verified: " + std::to_string(v.file.report.summary.entries) +
                      " entries, " + std::to_string(v.file.report.payload_bytes) +
                      " payload bytes, file sha256 " + v.file.sha256 +
                      "; staged beside the live state, which is unchanged");
  p.consistency = inspector.finish();
  p.staged = std::move(v.staged);
  const auto& c = p.consistency;
  if (c.state == "consistent")
    rec.log("info", "Flink's HA data is consistent: " + std::to_string(c.pointers) +
                        " pointers resolve to files of the backup; " + std::to_string(c.jobs) +
                        " jobs, " + std::to_string(c.checkpoints) + " checkpoints");
  if (c.unreadable_count > 0)
    rec.log("warn", std::to_string(c.unreadable_count) +
                        " Flink HA records hold no readable pointer (Flink ignores such "
                        "nodes): " +
                        c.unreadable.front());
  if (c.state != "inconsistent" || preview) return ok();
  if (!in.allow_dangling) {
    p.staged.clear();
    return failed_precondition(dangling_refusal(c));
  }
  rec.log("warn", "--allow-dangling: restoring although " + dangling_refusal(c).substr(4));
  return ok();
}

std::string safety_copy_path(const config::Config& config, const store::RestoreTask& task,
                             const std::string& ctx_id) {
  return (fs::path(config.server.state_dir) / "safety" /
          (task.name + "_" + ctx_id + "_" + format_compact_time(now_seconds()) + ".tar.gz"))
      .string();
}

// Fault injection for the crash and rollback tests (tests/e2e): FLINKBR_FAULT_INJECTION set to
// "fail-after-apply:<source>" fails the apply step right after that source was committed;
// "pause-after-apply:<source>" sleeps there for a minute so that a test can kill the daemon, or
// until the file named by FLINKBR_FAULT_RESUME_FILE exists, so that a test that changes the
// cluster under the pause (a mount) goes on as soon as it has, not a minute later.
// Unset in production; documented in docs/testing.md.
Status inject_fault_after_apply(const std::string& source_name, Recorder& rec) {
  const char* spec = std::getenv("FLINKBR_FAULT_INJECTION");
  if (!spec) return ok();
  std::string s = spec;
  if (s == "fail-after-apply:" + source_name)
    return io_error("injected fault after applying source '" + source_name + "'");
  if (s == "pause-after-apply:" + source_name) {
    rec.log("warn", "fault injection: pausing after applying source '" + source_name + "'");
    const char* resume = std::getenv("FLINKBR_FAULT_RESUME_FILE");
    for (int i = 0; i < 60 * 20; ++i) {
      std::error_code ec;
      if (resume && fs::exists(resume, ec)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return ok();
}

// Commits every staged source, then verifies each. Returns the first error.
Status apply_and_verify(StagedMap& staged, Recorder& rec, std::set<std::string>* changed) {
  TRY(step(rec, "apply", [&]() -> Status {
    size_t i = 0;
    for (auto& [name, st] : staged) {
      auto committed = st->commit();
      // A source whose failed commit was rolled back as a whole leaves nothing to put back.
      if (committed || !st->failed_commit_changed_nothing()) changed->insert(name);
      TRY_CTX(std::move(committed), "applying source '" + name + "'");
      rec.log("info", "source '" + name + "' applied");
      TRY(inject_fault_after_apply(name, rec));
      rec.progress(kApplyFrom + static_cast<int>((kApplyTo - kApplyFrom) * ++i / staged.size()));
    }
    return ok();
  }));
  TRY(step(rec, "verify-result", [&]() -> Status {
    for (auto& [name, st] : staged)
      TRY_CTX(st->verify(), "verifying source '" + name + "' after applying");
    return ok();
  }));
  return ok();
}

// Per source: what the restore adds, changes and removes, comparing staged and live state. The
// lists hold at most source::kDiffListLimit entries each ("truncated" says so); the counts are
// complete.
Result<nlohmann::json> diff_report(StagedMap& staged,
                                   const std::map<std::string, source::MetadataSource*>& sources) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& [name, st] : staged) {
    auto diff = TRY_CTX(st->diff(), "comparing source '" + name + "'");
    bool truncated = diff.added.truncated() || diff.changed.truncated() || diff.removed.truncated();
    nlohmann::json counts = {{"added", diff.added.count},
                             {"changed", diff.changed.count},
                             {"removed", diff.removed.count}};
    out.push_back({{"name", name},
                   {"kind", sources.at(name)->kind()},
                   {"location", sources.at(name)->location()},
                   {"added", diff.added.items},
                   {"changed", diff.changed.items},
                   {"removed", diff.removed.items},
                   {"counts", counts},
                   {"truncated", truncated}});
  }
  return out;
}

// Migration: what staging rewrote (docs/flink-ha.md).
void log_rewrites(const Prepared& p, Recorder& rec) {
  for (const auto& r : p.rewrites)
    if (r.count > 0)
      rec.log("info", "rewrote " + std::to_string(r.count) + " Flink HA pointer" +
                          (r.count == 1 ? "" : "s") + " from " + r.from + " to " + r.to +
                          ", where the restoring cluster keeps that source");
}

// The preview's "flink" part (product.md): the jobs with their newest checkpoint, the dangling
// pointers, and the pointer rewrites of a migration with how many pointers each changes.
nlohmann::json flink_preview(const Prepared& p, bool allow_dangling) {
  const auto& c = p.consistency;
  nlohmann::json jobs = nlohmann::json::array();
  for (const auto& [id, latest] : c.latest_checkpoint)
    jobs.push_back({{"id", id},
                    {"latest_checkpoint", latest < 0 ? nlohmann::json() : nlohmann::json(latest)}});
  nlohmann::json rewrites = nlohmann::json::array();
  for (const auto& r : p.rewrites)
    if (r.count > 0) rewrites.push_back({{"from", r.from}, {"to", r.to}, {"count", r.count}});
  nlohmann::json out = {{"consistency", c.to_json()},
                        {"jobs", jobs},
                        {"dangling", c.dangling},
                        {"rewrites", rewrites}};
  if (c.state == "inconsistent" && !allow_dangling) out["refusal"] = dangling_refusal(c);
  return out;
}

}  // namespace

Result<std::string> make_staging_dir(const config::Config& config, const std::string& ctx_id) {
  fs::path dir = fs::path(config.server.state_dir) / "staging" / ctx_id;
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return errno_error("creating " + dir.string(), ec.value());
  return dir.string();
}

std::string spool_dir(const config::Config& config) {
  fs::path dir = fs::path(config.server.state_dir) / "staging";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return ec ? std::string() : dir.string();
}

void remove_staging_dir(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

Status put_back_safety_copy(const config::Config& config, const config::ClusterConfig& cluster,
                            DataSource data_source, const std::string& path,
                            const source::TaskContext& ctx, Recorder& rec,
                            const std::set<std::string>* only) {
  (void)config;
  rec.log("warn", "putting the safety copy back from " + path);
  source::TaskContext own = ctx;  // the safety copy's pointers are the cluster's own
  own.rewrites = nullptr;
  auto storage = TRY(storage::open_storage({.type = PathType::kLocalDir}, nullptr));
  auto all = TRY(build_sources(cluster, data_source));
  std::map<std::string, source::MetadataSource*> by_name;
  for (auto& s : all) by_name[s->name()] = s.get();
  auto staged = TRY_CTX(stage_backup_file(*storage, path, by_name, own, {}),
                        "reading the safety copy " + path);
  // Only the sources the failed attempt changed: a source it left as it was has nothing to put
  // back (and may be one whose switch cannot work, which would fail again).
  if (only) std::erase_if(staged, [&](const auto& kv) { return !only->contains(kv.first); });
  for (auto& [name, st] : staged) TRY_CTX(st->commit(), "putting back source '" + name + "'");
  for (auto& [name, st] : staged)
    TRY_CTX(st->verify(), "verifying source '" + name + "' after putting it back");
  rec.log("info", "the safety copy was put back; the cluster is as it was before the restoration");
  return ok();
}

Status run_restore(const RestoreInputs& in, Recorder& rec) {
  const store::RestoreTask& t = in.task;
  const config::ClusterConfig& cluster = *in.cluster.cfg;
  auto staging_dir = TRY(make_staging_dir(in.config, in.ctx_id));
  struct Cleanup {
    std::string dir;
    ~Cleanup() { remove_staging_dir(dir); }
  } cleanup{staging_dir};
  source::TaskContext ctx{.id = in.ctx_id,
                          .staging_dir = staging_dir,
                          .log = [&rec](const std::string& s) { rec.log("info", s); },
                          .cancelled = in.cancelled};

  rec.progress(0, true);
  auto p = TRY(step(rec, "check", [&] { return check(in, rec); }));
  ctx.rewrites = &p.rewrites;
  // One pass: nothing live changes, and nothing staged is kept, unless the whole file checks out.
  TRY(step(rec, "verify", [&] {
    return verify_and_stage(p, in, ctx, rec, /*preview=*/false,
                            band(rec, kVerifyFrom, kVerifyTo, p.file_size));
  }));
  rec.progress(kVerifyTo, true);

  std::vector<source::MetadataSource*> to_copy;
  for (auto& [name, s] : p.sources) to_copy.push_back(s);
  std::string safety = safety_copy_path(in.config, t, in.ctx_id);
  TRY(step(rec, "safety-copy", [&]() -> Status {
    auto local = TRY(storage::open_storage({.type = PathType::kLocalDir}, nullptr));
    archive::Header h{.system_version = p.version,
                      .data_source = std::string(to_string(t.data_source)),
                      .cluster = cluster.name,
                      .execution_time = format_compact_time(now_seconds()),
                      .tool_version = FLINKBR_VERSION};
    for (auto* s : to_copy) h.sources.push_back({s->name(), s->kind(), s->location()});
    uint64_t estimate = 0;
    for (auto* s : to_copy) estimate += s->estimate_bytes();
    auto written = TRY_CTX(write_backup_file(*local, safety, h, to_copy, ctx, io::Compression{},
                                             band(rec, kSafetyFrom, kSafetyTo, estimate)),
                           "taking the safety copy");
    rec.attempt()->safety_copy = safety;
    rec.log("info", "safety copy of the current metadata: " + safety + " (" +
                        std::to_string(written.size) + " bytes)");
    return ok();
  }));
  p.space.reset();  // the safety copy is on the disk: no longer reserved

  StagedMap& staged = p.staged;
  log_rewrites(p, rec);

  // What this run changes, recorded on the attempt (the same report as a preview).
  auto report = diff_report(staged, p.sources);
  if (report) {
    rec.attempt()->report = {{"sources", *report}};
    for (const auto& s : *report)
      rec.log("info", "source '" + s["name"].get<std::string>() +
                          "': " + std::to_string(s["counts"]["added"].get<size_t>()) + " to add, " +
                          std::to_string(s["counts"]["changed"].get<size_t>()) + " to change, " +
                          std::to_string(s["counts"]["removed"].get<size_t>()) + " to remove");
  } else if (report.error().code == Errc::kFailedPrecondition) {
    // A source that cannot make the live state the backup's says so here, before any change.
    return std::unexpected(report.error());
  } else {
    rec.log("warn", "cannot compute the report of changes: " + report.error().message);
  }

  // The service may have been started since the check: look again before the first change.
  TRY(check_service_stopped(in.cluster));
  if (ctx.is_cancelled()) return make_error(Errc::kCancelled, "the restoration was cancelled");

  rec.set_phase(store::AttemptPhase::kApplying);
  std::set<std::string> changed;  // the sources the apply step changed
  auto applied = apply_and_verify(staged, rec, &changed);
  if (!applied) {
    Error err = applied.error();
    staged.clear();  // drop what is left of the staging before putting the safety copy back
    if (!changed.empty()) {
      auto back =
          put_back_safety_copy(in.config, cluster, t.data_source, safety, ctx, rec, &changed);
      if (!back) {
        err.message += "; putting the safety copy back failed too (" + back.error().message +
                       "); the safety copy is kept at " + safety;
        rec.set_phase(store::AttemptPhase::kDamaged);
      } else {
        err.message += "; the safety copy was put back, the cluster is unchanged";
        rec.set_phase(store::AttemptPhase::kRolledBack);
      }
    } else {
      // The failing source rolled its transaction back before anything else was applied.
      err.message += "; nothing was changed";
      rec.set_phase(store::AttemptPhase::kRolledBack);
    }
    return std::unexpected(err);
  }
  rec.set_phase(store::AttemptPhase::kDone);
  rec.progress(100, true);
  return ok();
}

Result<nlohmann::json> run_preview(const RestoreInputs& in, Recorder& rec) {
  auto staging_dir = TRY(make_staging_dir(in.config, in.ctx_id));
  struct Cleanup {
    std::string dir;
    ~Cleanup() { remove_staging_dir(dir); }
  } cleanup{staging_dir};
  source::TaskContext ctx{.id = in.ctx_id,
                          .staging_dir = staging_dir,
                          .log = [&rec](const std::string& s) { rec.log("info", s); },
                          .cancelled = in.cancelled};
  std::vector<std::string> would_refuse;
  rec.progress(0, true);
  auto p = TRY(step(rec, "check", [&] { return check(in, rec, &would_refuse); }));
  ctx.rewrites = &p.rewrites;
  TRY(step(rec, "verify", [&] { return verify_and_stage(p, in, ctx, rec, /*preview=*/true, {}); }));
  if (p.consistency.state == "inconsistent" && !in.allow_dangling)
    would_refuse.push_back(dangling_refusal(p.consistency));
  nlohmann::json sources = TRY(diff_report(p.staged, p.sources));
  return nlohmann::json{
      {"task", in.task.name},
      {"cluster", in.cluster.cfg->name},
      {"source_path", in.task.params.path},
      {"system_version", p.header.system_version},
      {"execution_time", p.header.execution_time},
      {"checks", rec.steps_json()},
      {"sources", sources},
      {"flink", flink_preview(p, in.allow_dangling)},
      // A preview runs while Flink runs; these say whether a start would.
      {"service",
       {{"state", std::string(service::to_string(p.service.state))}, {"detail", p.service.detail}}},
      {"would_refuse", would_refuse},
      {"startable", would_refuse.empty()}};
}

}  // namespace flinkbr::task
