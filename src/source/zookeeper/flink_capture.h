// The Flink-aware capture of a zookeeper backup (docs/flink-ha.md, "Capture"): Flink's HA records
// and the files they point to, taken as one consistent unit while Flink keeps checkpointing.
//
// Flink writes a record's file first and its znode after (one transaction with its `locks`
// child); on subsumption it deletes `locks`, then the file, then the znode (1.15+; before, the
// znode, then the file). The plain tree read cannot make a consistent copy of that: a
// checkpoint listed at one moment may be subsumed before its data is read, and its file deleted
// before the files source's walk reaches it. So, as the tree reader's sink meets the directory of
// a set of records (jobgraphs/, jobs/<job>/, checkpoint-counter/<job>), the capture reads that set
// again on its own session, record by record, and pins (copies aside, TaskContext::pin) the file
// each pointer names the moment it has read the pointer. A record without `locks` is being
// subsumed and is left out, as Flink skips it. When a record vanished, Flink has moved on: the
// set is read again, up to
// kMaxAttempts times. A job's checkpoint counter is read after its checkpoints, so it is ahead of
// each of them. What the capture read replaces the live read of those znodes in the payload, in
// payload (byte-wise) order.
//
// A pointer whose file is missing while its znode stays is a real hole in the live cluster: it
// is kept as it is, and the backup's consistency says "inconsistent" naming it (the capture
// never hides a problem). Memory: the records of the set in hand and a few per job; sets captured
// ahead of the tree reader wait in a spool file, as the payload lines they will be.
// Not thread-safe; one backup uses it on its own thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "source/metadata_source.h"
#include "source/zookeeper/codec.h"
#include "source/zookeeper/pipeline.h"
#include "source/zookeeper/session.h"

namespace flinkbr::source::zookeeper {

class FlinkCapture {
 public:
  // How many times a set of records is read again before the capture keeps what it has.
  static constexpr int kMaxAttempts = 100;

  // Where the live and the captured znodes go, in payload order: the source's payload writer.
  struct Out {
    // Stores a znode: a live one handed on, or a captured one held in memory.
    std::function<Status(const std::string& rel, Znode& z)> emit;
    // Appends the line emit() would store for the captured znode `rel` to `line`, or fails as
    // emit() would. Sets captured ahead of the tree reader are encoded as they are read, while
    // the reads of the next ones are in flight, not when the reader reaches them: storing them
    // is then a copy (docs/benchmarks.md, "ZooKeeper backup").
    std::function<Status(const std::string& rel, const Znode& z, std::string& line)> encode;
    // Stores a line encode() made.
    std::function<Status(std::string_view line)> emit_line;
  };

  // Opens its own session with `p` (on the server the tree reader's is connected to, after a
  // sync). `out` receives every znode of the payload, through merge() and finish().
  [[nodiscard]] static Result<std::unique_ptr<FlinkCapture>> open(const Params& p,
                                                                  const PinFile& pin,
                                                                  const TaskContext& ctx, Out out);

  // The tree reader's sink: hands `z` (the live znode `rel`) and the captured records that sort
  // before it to `out`, in order, dropping live znodes that a captured set replaces.
  [[nodiscard]] Status merge(const std::string& rel, Znode& z);
  // After the tree: the captured records not stored yet.
  [[nodiscard]] Status finish();

  // Whether the capture reads the subtree below `rel` itself (a directory of records): the tree
  // reader need not list or read it (TreeReader::skip_subtrees), since merge() drops the live
  // read of every znode below it for the captured one. A function of the path alone, so that
  // the reader can ask before the capture has met the directory; merge() captures every such
  // directory it is handed.
  static bool owns_subtree(const std::string& rel);

  ~FlinkCapture();

  // For the task log.
  std::string summary() const;

 private:
  class Queue;

  FlinkCapture(std::unique_ptr<Session> s, std::string root, const PinFile& pin,
               const TaskContext& ctx, Out out);

  std::string abs(const std::string& rel) const { return rel == "/" ? root_ : root_ + rel; }
  // Reads the record set under `dir` (and, after it, the counter `counter` when not empty)
  // consistently into pending_, replacing `dir`'s subtree and the counter in the payload.
  [[nodiscard]] Status capture_set(const std::string& dir, const std::string& counter);
  // One attempt; false when Flink changed the set meanwhile.
  [[nodiscard]] Result<bool> read_set(const std::string& dir, std::map<std::string, Znode>& out);
  // Reads the records `records` (children of a directory whose cversion is `parent_cversion`)
  // with their subtrees into `out`, pipelined; false when one of them vanished.
  // `depth` is that of the records (1: children of a set's directory; 0 reads directories).
  [[nodiscard]] Result<bool> read_records(const std::vector<std::string>& records,
                                          int32_t parent_cversion,
                                          std::map<std::string, Znode>& out, int depth = 1);
  // Flink's layout before 1.15: captures the checkpoint sets of the jobs whose counters follow
  // `counter` (itself included), up to kBatchJobs, in one pipelined read (stream_sets()), since
  // the tree reader meets the counters one after another and would otherwise wait for one set
  // at a time. A set not stable in that read is left to capture_set().
  [[nodiscard]] Status capture_legacy_batch(const std::string& counter);
  // Flink 1.15 and later: the same for the jobs that follow `job` (jobs/<job>, itself included)
  // in their directory: their checkpoints/ sets, each followed by its checkpoint_id_counter.
  [[nodiscard]] Status capture_job_batch(const std::string& job);
  // A checkpoint set and the counter read after it.
  struct SetAndCounter {
    std::string dir, counter;
  };
  // The batch of both: the sets `set_of` gives for the children of `dir` from `from` on (in
  // byte-wise order; null: not a set), up to kBatchJobs not captured yet, through stream_sets().
  [[nodiscard]] Status stream_batch(
      const std::string& dir, const std::string& from,
      const std::function<std::optional<SetAndCounter>(const std::string& name)>& set_of);
  // The sorted children of `dir`, listed once per backup: a listing only chooses which sets to
  // read together. A job added since is captured at its trigger on its own (capture_set), one
  // gone since is read as gone, as it would be had it gone after a fresh listing. Null when
  // `dir` does not exist.
  [[nodiscard]] Result<const std::vector<std::string>*> listing(const std::string& dir);
  // Reads the sets `dirs` (with their subtrees) through one window that never drains between
  // them: each set, once read whole, is checked and its records pinned while the next sets'
  // reads are in flight; then its counter (counters[i]) is read, and the set and its counter
  // are kept, in the order of `dirs`. A set in which a record vanished or was subsumed is not
  // kept (capture_set() reads it again on its own).
  [[nodiscard]] Status stream_sets(const std::vector<std::string>& dirs,
                                   const std::vector<std::string>& counters);
  // Keeps the captured `set` of `dir`, reading `counter` (if any) after it.
  [[nodiscard]] Status keep_set(const std::string& dir, const std::string& counter,
                                std::map<std::string, Znode>& set);
  // Keeps the counter `counter` as `read` holds it (read after its set; empty: gone).
  void keep_counter(const std::string& counter, std::map<std::string, Znode>& read);
  // Keeps the captured `set` of `dir` (its counter kept first, if it has one).
  [[nodiscard]] Status keep_records(const std::string& dir, std::map<std::string, Znode>& set);
  // Reads the znode `rel` alone (not its children) into `out`; false when it vanished.
  [[nodiscard]] Result<bool> read_node(const std::string& rel, int32_t parent_cversion,
                                       std::map<std::string, Znode>& out);
  // Pins the file a record's pointer names: false when the file is gone because Flink
  // subsumed the record (its znode is gone too).
  [[nodiscard]] Result<bool> pin_record(const std::string& rel, const Znode& z);
  // Whether the cluster directory `cluster` (the parent of a jobgraphs set) holds Flink's
  // layout before 1.15, where a job graph takes its lock as a direct ephemeral child and has no
  // `locks` child: a node of that layout (running_job_registry, checkpoint-counter, checkpoints)
  // and none of the later one (jobs). Asked once per cluster; the restore decides the same way
  // from the staged tree (staged_restore.cc, legacy_layout()).
  [[nodiscard]] Result<bool> legacy_cluster(const std::string& cluster);
  // Captures the set (or sets) whose trigger `rel` is, if it is one.
  [[nodiscard]] Status capture_at(const std::string& rel, const Znode& z);
  bool replaced(const std::string& rel) const;
  // Stores the captured znodes that sort before `*before` (all of them when it is null).
  [[nodiscard]] Status emit_pending(const std::string* before);
  // Removes `rel` and its subtree from `out`.
  static void drop(std::map<std::string, Znode>& out, const std::string& rel);

  std::unique_ptr<Session> s_;
  std::vector<std::unique_ptr<Pipeline>> pls_;  // the pipelined reads', on s_'s server
  std::string root_;
  const PinFile& pin_;
  const TaskContext& ctx_;
  Out out_;

  // Captured, not stored yet: whole sets that sort after every set queued before them in
  // queue_ (a spool file of payload lines: Flink's layout before 1.15 has its checkpoint sets
  // captured at their counters, all before the reader reaches the first of them), the rest in
  // pending_.
  std::map<std::string, Znode> pending_;
  std::unique_ptr<Queue> queue_;
  std::set<std::string> subtrees_;  // captured sets: live znodes below them are dropped
  std::set<std::string> exact_;     // captured counters: the live one is dropped
  std::set<std::string> done_;      // sets captured (by directory)
  std::set<std::string> lockless_;  // records of the set in hand seen without `locks`
  // The set in hand is job graphs of the layout before 1.15: no `locks` child is expected (a
  // job graph without one is not being subsumed there, and leaving it out lost every job).
  bool legacy_set_ = false;
  std::map<std::string, bool> legacy_clusters_;  // legacy_cluster()'s answers
  // checkpoint-counter directories (layout before 1.15) -> their children, sorted, listed once
  std::map<std::string, std::vector<std::string>> listings_;  // listing()
  uint64_t records_ = 0, pins_ = 0, rereads_ = 0, missing_ = 0, marked_ = 0;
  std::chrono::steady_clock::duration capturing_{};  // the reader's wait for the capture
};

}  // namespace flinkbr::source::zookeeper
