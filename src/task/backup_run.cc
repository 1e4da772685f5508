#include "task/backup_run.h"

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "source/flink/inspector.h"
#include "source/flink/pointer.h"
#include "storage/open.h"
#include "task/archive_io.h"
#include "task/restore_run.h"

namespace flinkbr::task {

namespace fs = std::filesystem;

nlohmann::json backup_event_json(const store::BackupRecord& r) {
  return {{"id", r.id},
          {"task", r.task_name},
          {"status", std::string(to_string(r.status))},
          {"progress", r.progress},
          {"progress_detail", to_json(r.progress_detail)},
          {"backup_path", r.backup_path},
          {"error", r.error}};
}

BackupRecorder::BackupRecorder(StateWriter* writer, EventBus* events, store::BackupRecord& record,
                               ProgressMeter meter, std::chrono::milliseconds tick)
    : writer_(writer), events_(events), record_(record), tick_(tick), meter_(std::move(meter)) {}

BackupRecorder::~BackupRecorder() {
  end_step();
}

void BackupRecorder::begin_step(const std::string& name, uint64_t bytes_total, int from, int to) {
  end_step();
  spdlog::info("backup {}: step {}", record_.task_name, name);
  std::lock_guard g(mu_);
  meter_.begin_step(name, bytes_total);
  from_ = from;
  to_ = to;
  record_.progress_detail = meter_.detail();
  set_percent(from);
  flush_locked();
  step_open_ = true;
  ticker_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, tick_, [this] { return !step_open_; })) {
      meter_.bytes(record_.progress_detail.bytes_done);  // the throughput falls in a stall
      record_.progress_detail = meter_.detail();
      flush_locked();
    }
  });
}

void BackupRecorder::bytes(uint64_t done, uint64_t total) {
  std::lock_guard g(mu_);
  meter_.bytes(done, total);
  record_.progress_detail = meter_.detail();
  set_percent(from_ + static_cast<int>((to_ - from_) * meter_.fraction()));
}

void BackupRecorder::end_step() {
  {
    std::lock_guard g(mu_);
    step_open_ = false;
  }
  cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

void BackupRecorder::finish() {
  end_step();
  meter_.finish();
  record_.progress_detail = meter_.detail();
  record_.progress = 100;
}

void BackupRecorder::set_percent(int percent) {
  // Never backwards, and 100 only once the run has succeeded (finish).
  record_.progress = std::max(record_.progress, std::clamp(percent, 0, 99));
}

void BackupRecorder::flush() {
  std::lock_guard g(mu_);
  flush_locked();
}

void BackupRecorder::flush_locked() {
  if (writer_)
    if (auto st = writer_->update_backup_record(record_); !st)
      spdlog::error("backup {}: cannot record progress: {}", record_.task_name, st.error().message);
  if (events_) events_->publish("backup", backup_event_json(record_));
}

namespace {

// Progress bands of the steps, in percent.
constexpr int kCheckTo = 2;
constexpr int kWriteToWithVerify = 90, kWriteTo = 98;
constexpr int kPruneFrom = 98, kPruneTo = 99;

// Runs one step: asks the fence, records the step, adds the step's name to an error.
template <class F>
auto step(BackupRecorder& rec, const std::string& name, uint64_t bytes_total, int from, int to,
          F&& body) -> decltype(body()) {
  TRY(rec.fence_check());
  rec.begin_step(name, bytes_total, from, to);
  auto r = body();
  rec.end_step();
  return r;
}

// What the check step found and the later steps use.
struct Plan {
  std::vector<std::unique_ptr<source::MetadataSource>> owned;
  std::vector<source::MetadataSource*> sources;  // in writing order
  uint64_t estimate = 0;                         // payload bytes the sources expect; 0: unknown
  std::unique_ptr<storage::Storage> storage;
};

Result<Plan> check(const BackupInputs& in) {
  Plan p;
  p.owned = TRY(build_sources(*in.cluster.cfg, in.task.data_source));
  for (auto& s : p.owned) {
    TRY_CTX(s->check(), "source '" + s->name() + "' (" + s->location() + ")");
    p.sources.push_back(s.get());
    p.estimate += s->estimate_bytes();
  }
  // ZooKeeper first: the Flink HA capture pins the files its pointers name while it reads the
  // tree, and the files sources then write what was pinned (docs/flink-ha.md).
  std::stable_partition(p.sources.begin(), p.sources.end(),
                        [](source::MetadataSource* s) { return s->kind() == "zookeeper"; });
  const auto& params = in.task.params;
  p.storage = TRY(storage::open_storage({.type = params.path_type,
                                         .nameservice = params.nameservice,
                                         .namenode_ip = params.namenode_ip},
                                        in.cluster.cfg));
  if (params.path_type == PathType::kLocalDir) {
    std::error_code ec;
    fs::create_directories(params.path, ec);
    auto free = p.storage->free_space(params.path);
    // Compressed metadata is rarely larger than its source; keep a margin for the rest.
    uint64_t needed = p.estimate + 16 * 1024 * 1024;
    if (free && free->has_value() && **free < needed)
      return failed_precondition("not enough free space in " + params.path + ": " +
                                 std::to_string(**free / (1024 * 1024)) + " MiB free, about " +
                                 std::to_string(needed / (1024 * 1024)) + " MiB needed");
  }
  return p;
}

archive::Header archive_header(const BackupInputs& in, const Plan& p,
                               const store::BackupRecord& r) {
  archive::Header header{.system_version = r.system_version,
                         .data_source = r.backup_object,
                         .cluster = in.cluster.cfg->name,
                         .execution_time = format_compact_time(r.started_at),
                         .tool_version = FLINKBR_VERSION};
  for (auto* s : p.sources) header.sources.push_back({s->name(), s->kind(), s->location()});
  return header;
}

Result<WrittenFile> write(const BackupInputs& in, Plan& p, const archive::Header& header,
                          BackupRecorder& rec, source::flink::Inspector& inspector) {
  store::BackupRecord& r = rec.record();
  const std::string& name = in.task.name;
  source::TaskContext ctx{
      .id = "b" + std::to_string(r.id),
      .staging_dir = spool_dir(in.config),
      .log = [&name](const std::string& s) { spdlog::info("backup {}: {}", name, s); },
      .cancelled = in.cancelled};
  // Flink-aware capture (docs/flink-ha.md): the zookeeper sources pin each file a pointer
  // names in the files source that holds it, as soon as they read the pointer.
  const source::PinFile pin = [&](const std::string& uri) -> Result<uint64_t> {
    for (auto* s : p.sources) {
      if (s->kind() != "files") continue;
      if (auto rel = source::flink::relative_to(uri, s->location())) return s->pin(*rel, ctx);
    }
    return failed_precondition(uri + " is not under any files source of cluster '" +
                               in.cluster.cfg->name + "'");
  };
  // bench/flink_capture.sh compares with the plain tree read; never set in production
  // (docs/testing.md).
  const char* capture = std::getenv("FLINKBR_FLINK_CAPTURE");
  if (!capture || std::string_view(capture) != "off") ctx.pin = &pin;
  auto written = TRY(write_backup_file(
      *p.storage, r.backup_path, header, p.sources, ctx, in.config.server.compression,
      [&](uint64_t done) { rec.bytes(done); }, &inspector));
  // The estimate was only that: the step ends with what was written.
  rec.bytes(written.payload_bytes, written.payload_bytes);
  return written;
}

void finish(const BackupInputs& in, const WrittenFile& written,
            const source::flink::Consistency& consistency, store::BackupRecord& r) {
  r.size = written.size;
  r.checksum = "sha256:" + written.sha256;
  r.consistency = consistency.to_json();
  if (consistency.state == "inconsistent")
    spdlog::warn("backup {}: Flink's HA data is inconsistent: {}", in.task.name,
                 consistency.summary());
  else if (consistency.state == "consistent")
    spdlog::info("backup {}: Flink's HA data is consistent: {} pointers, {} jobs, {} checkpoints",
                 in.task.name, consistency.pointers, consistency.jobs, consistency.checkpoints);
}

// Reads the new file back as a restore would, so a bad disk or a bad upload is found now, not
// at 3 a.m. when the file is needed. A file that fails is deleted: it is useless.
Status verify(const BackupInputs& in, Plan& p, const WrittenFile& written, BackupRecorder& rec) {
  const std::string& path = rec.record().backup_path;
  auto v = verify_backup_file(
      *p.storage, path, [&](uint64_t done) { rec.bytes(done, written.size); },
      spool_dir(in.config));
  if (!v || v->sha256 != written.sha256) {
    std::string why = v ? "its checksum changed after writing" : v.error().message;
    (void)p.storage->remove_if_exists(path);
    return corruption("the new backup file failed its verification and was deleted: " + why);
  }
  spdlog::info("backup {}: verified {}", in.task.name, path);
  return ok();
}

// Keeps the newest max_copies successful files of the task, counting this run's (its record is
// not Succeeded yet); older ones are deleted from their storage and their records marked
// Removed. Failures are logged: the run itself has succeeded.
void prune(const BackupInputs& in, Plan& p, BackupRecorder& rec) {
  const store::BackupTask& task = in.task;
  if (task.max_copies <= 0 || !rec.writer()) return;
  auto records = rec.writer()->store().list_backup_records(task.id, {.limit = 1000});
  if (!records) return;
  int kept = 1;  // the new file
  for (auto& r : *records) {
    if (r.id == rec.record().id || r.status != BackupStatus::kSucceeded) continue;
    if (++kept <= task.max_copies) continue;
    if (auto st = p.storage->remove_if_exists(r.backup_path); !st) {
      spdlog::warn("retention of {}: cannot delete {}: {}", task.name, r.backup_path,
                   st.error().message);
      continue;
    }
    // Remove the directory too when it became empty (its name is per task, not shared).
    (void)p.storage->remove(fs::path(r.backup_path).parent_path().string());
    r.status = BackupStatus::kRemoved;
    if (auto st = rec.writer()->update_backup_record(r); !st)
      spdlog::warn("retention of {}: cannot mark record {} Removed: {}", task.name, r.id,
                   st.error().message);
    spdlog::info("retention of {}: removed {}", task.name, r.backup_path);
  }
}

}  // namespace

Status run_backup_steps(const BackupInputs& in, BackupRecorder& rec) {
  store::BackupRecord& r = rec.record();
  Plan p = TRY(step(rec, "check", 0, 0, kCheckTo, [&] { return check(in); }));
  archive::Header header = archive_header(in, p, r);
  source::flink::Inspector inspector(header);
  const int write_to = in.task.verify_after_run ? kWriteToWithVerify : kWriteTo;
  WrittenFile written = TRY(step(rec, "write", p.estimate, kCheckTo, write_to,
                                 [&] { return write(in, p, header, rec, inspector); }));
  finish(in, written, inspector.finish(), r);
  if (in.task.verify_after_run)
    TRY(step(rec, "verify", written.size, kWriteToWithVerify, kPruneFrom,
             [&] { return verify(in, p, written, rec); }));
  TRY(step(rec, "prune", 0, kPruneFrom, kPruneTo, [&]() -> Status {
    prune(in, p, rec);
    return ok();
  }));
  rec.finish();
  return ok();
}

}  // namespace flinkbr::task
