// MetadataSource: one place that holds Flink metadata: a files tree (files/), a ZooKeeper subtree
// (zookeeper/) or a PostgreSQL schema (postgres/); source/registry.h creates them by type. A source
// can describe itself, check that it is reachable, write its current state into a backup archive,
// and restore one: the archive's entries are first staged (nothing live changes), then commit()
// switches the live state to the staged one, then verify() compares the live state with what was
// staged.
//
// Restore protocol, driven by the task engine (task/restore_run.cc):
//   auto staged = TRY(source.begin_restore(ctx));   // nothing live changes from here ...
//   for each entry of this source: staged->add(entry, data);
//   staged->finish_staging();                        // ... to here
//   auto diff = staged->diff();                      // optional (dry run)
//   staged->commit();                                // the live state becomes the staged one
//   staged->verify();                                // live == staged, or kCorruption
// Destroying a StagedRestore before commit() discards the staging and leaves the live state
// untouched. A failed commit() may leave the live state changed: the engine then puts the
// safety copy back (a backup of the live state taken before the first commit), unless the
// source says that its failed commit changed nothing (failed_commit_changed_nothing()).
//
// Sources are used by one task thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"
#include "config/config.h"

namespace flinkbr::source {

// Migration (docs/flink-ha.md): while a zookeeper source stages a restore, Flink HA pointers into
// the files location `from` (where the backup was taken) are rewritten to point into `to` (the
// restoring cluster's source of the same name); `count` says how many were.
struct PointerRewrite {
  std::string from;
  std::string to;
  uint64_t count = 0;
};

// Flink-aware backups (docs/flink-ha.md): pins the file a Flink HA pointer names (its decoded
// URI), so that the backup of the files source holding it contains it even if Flink deletes it
// meanwhile. Returns the file's size; kNotFound when the file does not exist (any more);
// kFailedPrecondition when no files source of the backup holds that URI.
using PinFile = std::function<Result<uint64_t>(const std::string& uri)>;

// What a task gives a source: where it may stage, how to log, how to tell it to stop.
struct TaskContext {
  std::string id;           // unique per attempt, safe in file names ("r12-a3")
  std::string staging_dir;  // scratch space under the state directory, already created
  std::function<void(const std::string&)> log = [](const std::string&) {};
  const std::atomic<bool>* cancelled = nullptr;  // stop soon when set
  // Restores only: pointer rewrites a zookeeper source applies while staging (may be null).
  std::vector<PointerRewrite>* rewrites = nullptr;
  // Backups only: set when the backup also holds files sources (may be null).
  const PinFile* pin = nullptr;

  bool is_cancelled() const { return cancelled && cancelled->load(); }
};

// How many items each list of a SourceDiff keeps (the REST answer shows at most these).
inline constexpr size_t kDiffListLimit = 1000;

// One list of a SourceDiff: the first `limit` items in the order they were added, and how many
// there were in all, so that comparing a tree of millions of entries costs bounded memory.
struct DiffList {
  std::vector<std::string> items;
  uint64_t count = 0;
  size_t limit = kDiffListLimit;

  void add(std::string item) {
    ++count;
    if (items.size() < limit) items.push_back(std::move(item));
  }
  bool truncated() const { return count > items.size(); }
  bool empty() const { return count == 0; }
};

// What a restore would change or changed, per source. Items are relative paths (files), znode
// paths, or "table" names with row counts, depending on the kind.
struct SourceDiff {
  DiffList added;    // in the backup, not live: the restore creates them
  DiffList changed;  // in both, different
  DiffList removed;  // live, not in the backup: the restore deletes them
};

class StagedRestore {
 public:
  virtual ~StagedRestore() = default;
  // Stages one entry of this source. `entry.relative_path()` is relative to the source root;
  // `data` holds entry.size bytes for files. Refuses (kCorruption) entries it cannot represent.
  [[nodiscard]] virtual Status add(const archive::Entry& entry, io::Reader& data) = 0;
  // All entries were added; the staged state is complete.
  [[nodiscard]] virtual Status finish_staging() = 0;
  // Compares the staged state with the live state without changing either.
  [[nodiscard]] virtual Result<SourceDiff> diff() = 0;
  // Makes the live state exactly the staged one.
  [[nodiscard]] virtual Status commit() = 0;
  // After commit: compares the live state with what was staged; kCorruption naming the first
  // difference.
  [[nodiscard]] virtual Status verify() = 0;
  // After a failed commit(): true when the live state is exactly as it was before commit()
  // (a source that applies in one database transaction which was rolled back), so that the
  // engine need not put the safety copy back and reports that nothing changed. The default is
  // the safe answer for sources that change the live state step by step.
  virtual bool failed_commit_changed_nothing() const { return false; }
};

// The checks a restore makes of one source's payload, run without the source: what a file holds
// for a kind of source (its entries' names and layout, what they must contain), never where it
// goes. `backup verify` and a restore's verify step run them on every file through
// task::verify_backup_file, so that verify passes exactly what a restore's staging accepts (issue
// 16). Each kind's check is its staging code itself (zookeeper, postgres: their StagedRestore in a
// mode that touches nothing live) or the functions its staging refuses with (files), so that a
// refusal reads the same in verify and in restore. source/registry.h makes one by kind.
class PayloadCheck {
 public:
  virtual ~PayloadCheck() = default;
  // One entry of this source, in the file's order; `data` holds entry.size bytes for files (the
  // check may read less). kCorruption naming the entry when the kind cannot hold it.
  [[nodiscard]] virtual Status add(const archive::Entry& entry, io::Reader& data) = 0;
  // After the source's last entry: kCorruption when the payload as a whole is not one.
  [[nodiscard]] virtual Status finish() = 0;
  // Whether add() keeps a file entry's data in scratch files (up to its size), so that the caller
  // looks for the room first.
  virtual bool keeps_data() const { return false; }
};

// A PayloadCheck that runs a StagedRestore's add() and finish_staging(): for the kinds whose
// staging reads the payload without touching the live source.
class StagingPayloadCheck final : public PayloadCheck {
 public:
  StagingPayloadCheck(std::unique_ptr<StagedRestore> staged, bool keeps_data)
      : staged_(std::move(staged)), keeps_data_(keeps_data) {}
  Status add(const archive::Entry& entry, io::Reader& data) override {
    return staged_->add(entry, data);
  }
  Status finish() override { return staged_->finish_staging(); }
  bool keeps_data() const override { return keeps_data_; }

 private:
  std::unique_ptr<StagedRestore> staged_;
  bool keeps_data_;
};

class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  virtual const config::SourceConfig& config() const = 0;
  const std::string& name() const { return config().name; }
  const std::string& kind() const { return config().type; }
  // Where it lives, for headers, logs and messages ("file:///opt/flink/conf").
  virtual std::string location() const = 0;
  // Checks that the source can be read and written now; the reason otherwise
  // (kUnavailable, kNotFound, kPermissionDenied ...).
  [[nodiscard]] virtual Status check() = 0;
  // Bytes a backup will roughly read (for progress); 0 when unknown.
  virtual uint64_t estimate_bytes() { return 0; }
  // Writes the current state as payload entries under the source's prefix.
  [[nodiscard]] virtual Status backup(archive::SourceArchiveWriter& out,
                                      const TaskContext& ctx) = 0;
  // Signs that the software whose metadata this is may still be running, for the check step
  // to report (a zookeeper source: ephemeral leader znodes of open sessions). None by default;
  // an error when the source cannot be read.
  [[nodiscard]] virtual Result<std::vector<std::string>> live_warnings() {
    return std::vector<std::string>{};
  }
  // Checks, at a restore's check step (before anything is staged), that commit() can switch
  // this source in place; kFailedPrecondition with the reason otherwise. ok by default.
  [[nodiscard]] virtual Status check_restorable() { return ok(); }
  // Where begin_restore() stages the payload, for the restore's space check: a local directory
  // on the file system that will hold it; "" for the task's staging directory; std::nullopt
  // when it stages on no local file system (a remote tree).
  virtual std::optional<std::string> staging_place() const { return std::string(); }
  // Starts a restore (see the file comment).
  [[nodiscard]] virtual Result<std::unique_ptr<StagedRestore>> begin_restore(
      const TaskContext& ctx) = 0;
  // Flink-aware backups: copies the file at `rel` (relative to the source's root) aside now, so
  // that the next backup() of this source holds it with these bytes even if it is deleted
  // meanwhile (docs/flink-ha.md). Returns its size; kNotFound when it does not exist. Sources
  // that cannot hold Flink's HA files answer kFailedPrecondition.
  [[nodiscard]] virtual Result<uint64_t> pin(const std::string& rel, const TaskContext& ctx) {
    (void)rel;
    (void)ctx;
    return failed_precondition("source '" + name() + "' cannot pin files");
  }
  // Removes leftovers (staging, swapped-out trees) of an attempt `ctx_id` interrupted by a
  // crash; ok when there are none.
  [[nodiscard]] virtual Status cleanup_after_crash(const std::string& ctx_id) = 0;
};

}  // namespace flinkbr::source
