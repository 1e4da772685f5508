// Reading a ZooKeeper tree, pipelined: every znode below a root (ephemeral ones included,
// flagged; container and TTL znodes count as persistent) is handed to a sink in byte-wise path
// order, the order of the payload, without holding the tree. Only the znodes being read and those
// read ahead of a smaller one still being listed are in memory.
//
// Per znode: getData (data and Stat) and getACL at once; getChildren2 only when the Stat counts
// children, so a leaf (most of a Flink tree) costs two requests. Up to 2,000 requests
// are outstanding; the smallest known path is always issued first, so the sink's next znode is
// never starved by read-ahead.
//
// The requests go over two pipelines (pipeline.h: sessions of their own that batch requests
// and answers, on the server of the given session), the znodes dealt in turn: the server
// answers one session's requests in order, and measured on a 2-core machine two sessions read
// faster, the server spending about a third less CPU (docs/benchmarks.md, "ZooKeeper"). The
// requests of one znode go over one pipeline.
//
// The sink is the one place that sees each znode: a backup writes it as a payload line, a
// restore compares it, and a capture may inspect or replace it (the Znode is the sink's to
// change or move from) before handing it on. read() calls the sink on the calling thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "source/metadata_source.h"
#include "source/zookeeper/codec.h"
#include "source/zookeeper/pipeline.h"
#include "source/zookeeper/session.h"

namespace flinkbr::source::zookeeper {

// Sequential heuristic: ZooKeeper names a sequential child with the parent's cversion at the
// time of creation, as 10 decimal digits. A name that ends with 10 digits whose value is below
// the parent's current cversion (which only grows) is taken as created sequential.
bool looks_sequential(const std::string& rel, int32_t parent_cversion);

// Whether a Stat's ephemeralOwner is a session, i.e. the znode is ephemeral. ZooKeeper 3.5 and
// later also mark container znodes (Long.MIN_VALUE), which Curator, and so Flink, creates for
// its namespace (/flink/<cluster-id>) and parents, and TTL znodes (0xFF in the top byte, with
// extended types enabled) there: both are persistent znodes that a backup keeps.
bool is_session_owner(int64_t owner);

// Called once per znode in byte-wise order of `rel` (the path relative to the root, "/" for
// the root itself). An error stops the read and is returned by read().
using ZnodeSink = std::function<Status(const std::string& rel, Znode& z)>;

// The next path (relative to the root) for read_paths() to read, nullopt after the last.
using PathSource = std::function<Result<std::optional<std::string>>()>;

// Called once per path of a PathSource, in its order: the znode and its Stat, or null (and an
// empty Stat) when the znode does not exist. An error stops the read and is returned.
using StatSink = std::function<Status(const std::string& rel, Znode* z, const Stat& st)>;

class TreeReader {
 public:
  // Reads below `root` over `s` (which must outlive the reader); `ctx` (may be null) is asked
  // whether the task was cancelled.
  TreeReader(Session& s, std::string root, const TaskContext* ctx)
      : s_(s), root_(std::move(root)), ctx_(ctx) {}
  TreeReader(const TreeReader&) = delete;
  TreeReader& operator=(const TreeReader&) = delete;

  // Opens the pipelines to read over (see above), on the server of the given session: the
  // servers of an ensemble may lag each other by a few transactions, and a znode that one
  // session lists must not be missing for the session that reads it. Before read() and
  // read_paths(); `p` are the source's parameters (chroot, credentials, timeout).
  [[nodiscard]] Status open_sessions(const Params& p);

  // Znodes whose children someone else reads (a Flink capture reads its record sets itself):
  // `skip(rel)` true means `rel` is still handed to the sink but its subtree is not listed or
  // read. Called on the reading thread, once per znode with children. Set before read().
  void skip_subtrees(std::function<bool(const std::string& rel)> skip) { skip_ = std::move(skip); }

  // Reads the tree into `sink`. kNotFound when the root does not exist; znodes that vanish while
  // being read are skipped; kCancelled when the task is. Waits for every request in flight
  // before it returns, also on failure.
  [[nodiscard]] Status read(const ZnodeSink& sink);

  // Reads the znodes a caller names, in its order, without listing any children: data, Stat
  // and ACL, pipelined as read() does. A restore's verification knows every path it expects
  // (docs/design.md, "verify-result"). kCancelled when the task is; waits for every request in
  // flight before it returns, also on failure.
  [[nodiscard]] Status read_paths(const PathSource& next, const StatSink& sink);

  // The absolute path of `rel`.
  std::string abs(const std::string& rel) const { return rel == "/" ? root_ : root_ + rel; }

 private:
  struct Req;

  size_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  void answered(Req* r, int rc);
  void issue_get(Req* r);
  void issue_children(Req* r);
  static void on_data(int rc, const char* value, int len, const Stat* st, const void* d);
  static void on_acl(int rc, ACL_vector* acl, Stat*, const void* d);
  static void on_children(int rc, const String_vector* sv, const Stat* st, const void* d);

  Session& s_;
  std::string root_;
  const TaskContext* ctx_;
  size_t turn_ = 0;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Req*> done_;
  std::atomic<size_t> inflight_{0};
  std::function<bool(const std::string&)> skip_;
  // Last: destroyed first, while what their completions touch is still there.
  std::vector<std::unique_ptr<Pipeline>> pipelines_;
};

}  // namespace flinkbr::source::zookeeper
