#include "source/zookeeper/flink_capture.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "io/spool.h"
#include "source/flink/layout.h"
#include "source/flink/pointer.h"
#include "source/zookeeper/tree_reader.h"

namespace flinkbr::source::zookeeper {
namespace {

using flink::NodeKind;

// The depth of a znode read alone: a set's directory, whose children are listed apart, or a
// counter, whose children the tree reader reads. Every other znode of a set is read with its
// whole subtree, however deep: the tree reader skips what the capture owns (owns_subtree), so a
// znode the capture did not read would be missing from the payload. The reads are iterative
// (read_subtrees(), stream_sets()): depth costs no stack, and memory is the set's.
constexpr int kLeaf = std::numeric_limits<int>::max();
constexpr std::string_view kAnyJob = "00000000000000000000000000000000";
constexpr std::string_view kAnyCheckpoint = "0000000000000000001";

std::string join(const std::string& rel, std::string_view name) {
  return rel == "/" ? "/" + std::string(name) : rel + "/" + std::string(name);
}

std::string parent_of(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == 0 ? "/" : rel.substr(0, slash);
}

bool is_record(NodeKind k) {
  return k == NodeKind::kJobGraph || k == NodeKind::kExecutionPlan || k == NodeKind::kCheckpoint ||
         k == NodeKind::kLegacyCheckpoint;
}

struct Children {
  String_vector v{};
  ~Children() { deallocate_String_vector(&v); }
};
struct Acls {
  ACL_vector v{};
  ~Acls() { deallocate_ACL_vector(&v); }
};

// Znodes in flight at once while sets are read, two requests each, dealt over the sessions (as
// the tree reader's 2,000 requests in flight: the server stops reading a connection beyond its
// globalOutstandingLimit, 1,000 by default). A window, not waves: a znode answered makes room for
// the next at once, so the server never waits for the slowest answer of a wave.
constexpr size_t kSetWindow = 1000;
// Answers handed to the reading thread at once (as the tree reader's kWakeBatch): every wake-up
// is a context switch on cores the server shares.
constexpr size_t kWakeBatch = 64;
constexpr size_t kReadPipelines = 2;  // pipelined sessions the record sets are read over
// Jobs whose checkpoint sets (both layouts) are read in one pass (stream_sets()): the
// window drains once per batch. Their counters wait in memory until the tree reader reaches them
// (a counter is a few bytes).
constexpr size_t kBatchJobs = 256;
// Sets of such a pass in memory at once (being read, checked, or waiting for their counter): a
// set holds the checkpoints Flink retains (1 by default, rarely more than a few). The window
// spans about ten of the bench's sets of 96.
constexpr size_t kSetsAhead = 32;

struct Window;

// One znode of a set read asynchronously: its data and Stat, its ACL, and, when asked, its
// children. Filled by the C client's completion thread; read by the caller once the window
// handed it back.
struct NodeRead {
  std::string rel;
  int32_t parent_cversion = 0;
  int depth = 0;
  int data_rc = ZOK, acl_rc = ZOK, children_rc = ZOK;
  Stat st{};
  Stat children_st{};
  std::optional<std::string> data;
  std::vector<Acl> acl;
  std::vector<std::string> children;
  bool listed = false;  // its children were asked for
  size_t session = 0;   // which of the sessions its requests go over
  size_t set = 0;       // FlinkCapture::stream_sets(): the index of its set
  Window* window = nullptr;
  int pending = 0;  // requests not answered yet (under window->mu)
};

// The znodes of one level in flight: a node whose requests are all answered goes to `done`, and
// the reading thread is woken once per kWakeBatch of them (or at once when few are left).
struct Window {
  std::mutex mu;
  std::condition_variable cv;
  size_t inflight = 0;  // znodes with requests not answered
  std::vector<NodeRead*> done;

  // Before the node's requests are sent.
  void start(NodeRead& n, int requests) {
    std::lock_guard lock(mu);
    n.window = this;
    n.pending = requests;
    ++inflight;
  }
  void answered(NodeRead& n) {
    std::lock_guard lock(mu);
    if (--n.pending > 0) return;
    --inflight;
    done.push_back(&n);
    if (done.size() >= kWakeBatch || inflight < kWakeBatch) cv.notify_one();
  }
  // How many znodes are in flight. Read under the lock: a completion thread may be inside
  // answered() (inflight already down, `done` not yet pushed to) until it lets go of it, and the
  // window must not be left (and freed) before then.
  size_t busy() {
    std::lock_guard lock(mu);
    return inflight;
  }
  // The nodes answered since the last call; waits for one when there is none and some are in
  // flight.
  void take(std::vector<NodeRead*>& out) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !done.empty() || inflight == 0; });
    out.swap(done);
  }
  // Waits for every request in flight (on the way out of a failure: the nodes must outlive
  // their answers).
  void drain() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return inflight == 0; });
  }
};

void on_data(int rc, const char* value, int len, const Stat* st, const void* p) {
  auto* n = static_cast<NodeRead*>(const_cast<void*>(p));
  n->data_rc = rc;
  if (rc == ZOK) {
    n->st = *st;
    if (len >= 0 && value) n->data.emplace(value, static_cast<size_t>(len));
  }
  n->window->answered(*n);
}

void on_acl(int rc, ACL_vector* acl, Stat*, const void* p) {
  auto* n = static_cast<NodeRead*>(const_cast<void*>(p));
  n->acl_rc = rc;
  if (rc == ZOK && acl)
    for (int i = 0; i < acl->count; ++i)
      n->acl.push_back({acl->data[i].perms, acl->data[i].id.scheme ? acl->data[i].id.scheme : "",
                        acl->data[i].id.id ? acl->data[i].id.id : ""});
  n->window->answered(*n);
}

void on_children(int rc, const String_vector* names, const Stat* st, const void* p) {
  auto* n = static_cast<NodeRead*>(const_cast<void*>(p));
  n->children_rc = rc;
  if (rc == ZOK) {
    n->children_st = *st;
    if (names) n->children.assign(names->data, names->data + names->count);
  }
  n->window->answered(*n);
}

// Asks for the data and the ACL of `n` (at `path`) over `pl`, counted in `window`.
void issue_reads(Window& window, NodeRead& n, Pipeline& pl, const std::string& path) {
  window.start(n, 2);
  if (int rc = pl.aget(path, on_data, &n); rc != ZOK) {
    n.data_rc = rc;
    window.answered(n);
  }
  if (int rc = pl.aget_acl(path, on_acl, &n); rc != ZOK) {
    n.acl_rc = rc;
    window.answered(n);
  }
}

// Once the data of `n` is in: when it is kept and has children above kLeaf, asks for them over
// `pl` (the pipeline of its other requests) and returns true; it is complete when they are.
bool list_if_parent(Window& window, NodeRead& n, Pipeline& pl, const std::string& path) {
  if (n.data_rc != ZOK || n.acl_rc != ZOK || is_session_owner(n.st.ephemeralOwner) ||
      n.st.numChildren == 0 || n.depth >= kLeaf)
    return false;
  n.listed = true;
  window.start(n, 1);
  if (int rc = pl.aget_children2(path, on_children, &n); rc != ZOK) {
    n.children_rc = rc;
    window.answered(n);
  }
  return true;
}

// Reads the znodes of `nodes` below `root` over the pipelines `pls`, with their subtrees (those
// not at kLeaf; see FlinkCapture::read_records()): the children of a znode that has some are listed
// as soon as its data is in, and read as soon as they are listed, all through one window, so
// that no level waits for the slowest answer of the one above. The children are appended to
// `nodes` (a deque: the nodes in flight keep their addresses).
void read_subtrees(std::deque<NodeRead>& nodes, const std::vector<std::unique_ptr<Pipeline>>& pls,
                   const std::string& root) {
  auto abs = [&](const std::string& rel) { return rel == "/" ? root : root + rel; };
  Window window;
  std::vector<NodeRead*> answered;
  size_t next = 0, complete = 0;
  while (complete < nodes.size()) {
    // Fill the window: data and ACL of the next znodes, each on one pipeline, dealt in turn.
    while (next < nodes.size() && window.busy() < kSetWindow) {
      NodeRead& n = nodes[next];
      n.session = next++ % pls.size();
      issue_reads(window, n, *pls[n.session], abs(n.rel));
    }
    window.take(answered);
    for (NodeRead* n : answered) {
      if (n->listed) {  // its children are in: read them next
        ++complete;
        if (n->children_rc != ZOK) continue;
        for (const auto& name : n->children)
          nodes.push_back({.rel = join(n->rel, name),
                           .parent_cversion = n->children_st.cversion,
                           .depth = n->depth + 1});
        continue;
      }
      // The children of a znode that has some, listed once its data is in.
      if (!list_if_parent(window, *n, *pls[n->session], abs(n->rel))) ++complete;
    }
    answered.clear();
  }
  window.drain();
}

// Adds what the read `n` (of a set below `root`, over `s`) holds to `out`: false when it is a
// record (depth 1) that vanished, Flink having subsumed it meanwhile; a znode below one may go (a
// lock), and a live session's lock is never kept.
Result<bool> take_read(NodeRead& n, Session& s, const std::string& root,
                       std::map<std::string, Znode>& out) {
  auto abs = [&] { return n.rel == "/" ? root : root + n.rel; };
  if (n.data_rc == ZNONODE) return n.depth != 1;
  if (n.data_rc != ZOK) return s.error(n.data_rc, "reading " + abs());
  if (is_session_owner(n.st.ephemeralOwner)) return true;
  if (n.acl_rc == ZNONODE) return n.depth != 1;
  if (n.acl_rc != ZOK) return s.error(n.acl_rc, "reading the ACL of " + abs());
  // Its children were read too: they follow it. ZNONODE: it was removed after it was read.
  if (n.children_rc != ZOK && n.children_rc != ZNONODE)
    return s.error(n.children_rc, "listing " + abs());
  Znode z;
  z.data = std::move(n.data);
  z.acl = std::move(n.acl);
  z.sequential = n.parent_cversion > 0 && looks_sequential(n.rel, n.parent_cversion);
  out.insert_or_assign(n.rel, std::move(z));
  return true;
}

void put_u32(std::string& out, size_t n) {
  auto v = static_cast<uint32_t>(n);
  out.append(reinterpret_cast<const char*>(&v), 4);
}
void put_str(std::string& out, std::string_view s) {
  put_u32(out, s.size());
  out += s;
}

// Reads what put_u32()/put_str() wrote; false past the end.
struct Cut {
  std::string_view in;
  bool u32(uint32_t& v) {
    if (in.size() < 4) return false;
    std::memcpy(&v, in.data(), 4);
    in.remove_prefix(4);
    return true;
  }
  bool str(std::string& s) {
    uint32_t n = 0;
    if (!u32(n) || in.size() < n) return false;
    s.assign(in.substr(0, n));
    in.remove_prefix(n);
    return true;
  }
};

}  // namespace

// Captured znodes in path order in an unnamed spool file (io::Spool), read back one at a time,
// each as the payload line Out::encode made of it when it was pushed. A record: u32 length, the
// path, a kind byte, then the line (kLine); or, for a znode encode() refused, the znode itself
// (kZnode: a flag byte (1: data not null, 2: sequential), the data, the ACL count and each entry
// (perms, scheme, id)), so that the refusal comes when the payload reaches it, in the words and
// the order a live znode's would. Lengths and counts as u32 in host order.
class FlinkCapture::Queue {
 public:
  // A queued znode: its line, or (`z` set) the znode encode() refused.
  struct Entry {
    std::string rel;
    std::string line;
    std::optional<Znode> z;
  };

  explicit Queue(std::string dir) : dir_(std::move(dir)) {}

  bool empty() const { return !head_ && unread_ == 0; }
  // Whether znodes from `first` on can follow what is queued.
  bool accepts(const std::string& first) const { return empty() || last_ < first; }

  Status push(const std::string& rel, const Znode& z, const Out& out) {
    if (empty() && spool_ && spool_->size() > 0) {  // drained: write the file again
      TRY(spool_->truncate());
      cursor_ = std::make_unique<io::SpoolCursor>(*spool_, 0);
    }
    if (!spool_) {
      spool_ = std::make_unique<io::Spool>(TRY(io::Spool::create(dir_)));
      cursor_ = std::make_unique<io::SpoolCursor>(*spool_, 0);
    }
    rec_.clear();
    put_u32(rec_, 0);  // the length, below
    put_str(rec_, rel);
    const size_t kind_at = rec_.size();
    rec_ += kLine;
    put_u32(rec_, 0);  // the line's length, below
    if (out.encode(rel, z, rec_)) {
      set_u32(rec_, kind_at + 1, rec_.size() - kind_at - 5);
    } else {
      rec_.resize(kind_at);
      rec_ += kZnode;
      rec_ += static_cast<char>((z.data ? 1 : 0) | (z.sequential ? 2 : 0));
      put_str(rec_, z.data ? std::string_view(*z.data) : std::string_view());
      put_u32(rec_, z.acl.size());
      for (const auto& a : z.acl) {
        put_u32(rec_, static_cast<uint32_t>(a.perms));
        put_str(rec_, a.scheme);
        put_str(rec_, a.id);
      }
    }
    set_u32(rec_, 0, rec_.size() - 4);
    TRY(spool_->append(rec_));
    ++unread_;
    last_ = rel;
    return ok();
  }

  // The smallest queued znode (valid until pop()), or null.
  Result<Entry*> head() {
    if (head_ || unread_ == 0) return head_ ? &*head_ : nullptr;
    auto damaged = [] { return io_error("the Flink capture's spool file is damaged"); };
    uint32_t len = 0;
    if (!TRY(cursor_->read({reinterpret_cast<char*>(&len), 4}))) return damaged();
    rec_.resize(len);
    if (!TRY(cursor_->read({rec_.data(), rec_.size()}))) return damaged();
    Cut c{rec_};
    Entry n;
    if (!c.str(n.rel) || c.in.empty()) return damaged();
    const char kind = c.in[0];
    c.in.remove_prefix(1);
    if (kind == kLine) {
      if (!c.str(n.line)) return damaged();
    } else {
      if (kind != kZnode || c.in.empty()) return damaged();
      const auto flags = static_cast<uint8_t>(c.in[0]);
      c.in.remove_prefix(1);
      std::string data;
      uint32_t count = 0;
      if (!c.str(data) || !c.u32(count)) return damaged();
      Znode& z = n.z.emplace();
      if (flags & 1) z.data = std::move(data);
      z.sequential = (flags & 2) != 0;
      for (uint32_t i = 0; i < count; ++i) {
        Acl a;
        uint32_t perms = 0;
        if (!c.u32(perms) || !c.str(a.scheme) || !c.str(a.id)) return damaged();
        a.perms = static_cast<int32_t>(perms);
        z.acl.push_back(std::move(a));
      }
    }
    --unread_;
    head_ = std::move(n);
    return &*head_;
  }
  void pop() { head_.reset(); }

 private:
  static constexpr char kLine = 'L', kZnode = 'Z';

  static void set_u32(std::string& rec, size_t at, size_t n) {
    auto v = static_cast<uint32_t>(n);
    std::memcpy(rec.data() + at, &v, 4);
  }

  std::string dir_;
  std::unique_ptr<io::Spool> spool_;
  std::unique_ptr<io::SpoolCursor> cursor_;
  std::string last_;  // the last path pushed
  std::string rec_;
  uint64_t unread_ = 0;  // pushed, not read back yet
  std::optional<Entry> head_;
};

FlinkCapture::FlinkCapture(std::unique_ptr<Session> s, std::string root, const PinFile& pin,
                           const TaskContext& ctx, Out out)
    : s_(std::move(s)),
      root_(std::move(root)),
      pin_(pin),
      ctx_(ctx),
      out_(std::move(out)),
      queue_(std::make_unique<Queue>(ctx.staging_dir)) {}

FlinkCapture::~FlinkCapture() = default;

bool FlinkCapture::owns_subtree(const std::string& rel) {
  using flink::classify;
  const std::string_view name = std::string_view(rel).substr(rel.rfind('/') + 1);
  if (name == "jobgraphs" || name == "execution-plans") {
    NodeKind k = classify(join(rel, kAnyJob)).kind;
    if (k == NodeKind::kJobGraph || k == NodeKind::kExecutionPlan) return true;
  }
  NodeKind k = classify(join(rel, kAnyCheckpoint)).kind;
  return k == NodeKind::kCheckpoint || k == NodeKind::kLegacyCheckpoint;
}

Result<std::unique_ptr<FlinkCapture>> FlinkCapture::open(const Params& p, const PinFile& pin,
                                                         const TaskContext& ctx, Out out) {
  auto s = TRY(Session::open(p));
  // Reads after the tree reader's must not see an older state than it did.
  (void)s->sync(p.root);
  auto capture = std::unique_ptr<FlinkCapture>(
      new FlinkCapture(std::move(s), p.root, pin, ctx, std::move(out)));
  // Two pipelines for the reads of record sets, as the tree reader has (tree_reader.h), on the
  // server of this session so that a znode it lists is there for them.
  while (capture->pls_.size() < kReadPipelines)
    capture->pls_.push_back(TRY(Pipeline::open(p, *capture->s_)));
  return capture;
}

bool FlinkCapture::replaced(const std::string& rel) const {
  if (exact_.contains(rel)) return true;
  if (subtrees_.empty()) return false;
  for (std::string p = rel;; p = parent_of(p)) {
    if (subtrees_.contains(p)) return true;
    if (p == "/") return false;
  }
}

Status FlinkCapture::merge(const std::string& rel, Znode& z) {
  const auto t0 = std::chrono::steady_clock::now();
  Status captured = capture_at(rel, z);
  capturing_ += std::chrono::steady_clock::now() - t0;
  TRY(std::move(captured));
  TRY(emit_pending(&rel));
  if (replaced(rel)) return ok();
  return out_.emit(rel, z);
}

Status FlinkCapture::capture_at(const std::string& rel, const Znode& z) {
  // A set of records starts here: capture it before anything of it is emitted. Each trigger
  // sorts before every znode of its set (byte-wise), so none of them was emitted yet.
  using flink::classify;
  auto kind = [](const std::string& r) { return classify(r).kind; };
  // Only these names can start a set; most znodes of a big tree are looked at no further.
  auto last = [](std::string_view r) { return r.substr(r.rfind('/') + 1); };
  const std::string_view name = last(rel);
  const std::string parent_path = rel == "/" ? std::string() : parent_of(rel);
  const std::string_view parent = last(parent_path);
  const bool may_start = name == "jobgraphs" || name == "execution-plans" || parent == "jobs" ||
                         parent == "checkpoint-counter" || parent == "checkpoints";
  if (!z.ephemeral && may_start) {
    NodeKind as_parent = kind(join(rel, kAnyJob));
    if (as_parent == NodeKind::kJobGraph || as_parent == NodeKind::kExecutionPlan) {
      TRY(capture_set(rel, ""));
    } else if (kind(join(join(rel, "checkpoints"), kAnyCheckpoint)) == NodeKind::kCheckpoint) {
      // jobs/<job>: its counter sorts before its checkpoints (`_` before `s`), as before 1.15.
      const std::string dir = join(rel, "checkpoints");
      if (!done_.contains(dir)) TRY(capture_job_batch(rel));
      TRY(capture_set(dir, join(rel, "checkpoint_id_counter")));
    } else if (auto info = classify(rel); info.kind == NodeKind::kLegacyCheckpointCounter) {
      // checkpoint-counter/<job> sorts before checkpoints/<job>: read those first, then it.
      const std::string dir = join(join(parent_of(parent_of(rel)), "checkpoints"), info.job_id);
      if (!done_.contains(dir)) TRY(capture_legacy_batch(rel));
      TRY(capture_set(dir, rel));
    } else if (kind(join(rel, kAnyCheckpoint)) == NodeKind::kLegacyCheckpoint) {
      TRY(capture_set(rel, ""));
    }
  }
  // A directory the tree reader left to the capture (owns_subtree) whose trigger above did not
  // capture it (its parent was not met as a trigger): captured here, the counter left live.
  if (!z.ephemeral && !done_.contains(rel) && owns_subtree(rel)) TRY(capture_set(rel, ""));
  return ok();
}

Status FlinkCapture::finish() {
  TRY(emit_pending(nullptr));
  if (ctx_.log) ctx_.log(summary());
  return ok();
}

Status FlinkCapture::emit_pending(const std::string* before) {
  for (;;) {
    Queue::Entry* queued = TRY(queue_->head());
    const bool held = !pending_.empty();
    if (!queued && !held) return ok();
    const bool from_queue = queued && (!held || queued->rel < pending_.begin()->first);
    const std::string& next = from_queue ? queued->rel : pending_.begin()->first;
    if (before && !(next < *before)) return ok();
    if (from_queue) {
      TRY(queued->z ? out_.emit(queued->rel, *queued->z) : out_.emit_line(queued->line));
      queue_->pop();
    } else {
      auto n = pending_.extract(pending_.begin());
      TRY(out_.emit(n.key(), n.mapped()));
    }
  }
}

std::string FlinkCapture::summary() const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(capturing_).count();
  char took[48];
  std::snprintf(took, sizeof took, " (reading them took %lld.%03lld s)",
                static_cast<long long>(ms / 1000), static_cast<long long>(ms % 1000));
  return "Flink HA capture: " + std::to_string(records_) + " records, " + std::to_string(pins_) +
         " files pinned, " + std::to_string(rereads_) + " record sets read again, " +
         std::to_string(marked_) + " records being subsumed left out" +
         (missing_ ? ", " + std::to_string(missing_) + " pointers whose file is missing live"
                   : "") +
         took;
}

Status FlinkCapture::capture_set(const std::string& dir, const std::string& counter) {
  if (done_.contains(dir)) return ok();
  lockless_.clear();
  legacy_set_ = flink::classify(join(dir, kAnyJob)).kind == NodeKind::kJobGraph &&
                TRY(legacy_cluster(parent_of(dir)));
  std::map<std::string, Znode> set;
  bool stable = false;
  for (int attempt = 1; attempt <= kMaxAttempts && !stable; ++attempt) {
    if (ctx_.is_cancelled()) return make_error(Errc::kCancelled, "the backup was cancelled");
    set.clear();
    stable = TRY(read_set(dir, set));
    if (!stable) {
      ++rereads_;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(attempt, 20)));
    }
  }
  if (!stable && ctx_.log)
    ctx_.log("Flink HA capture: the records under " + abs(dir) + " changed on each of " +
             std::to_string(kMaxAttempts) +
             " reads; keeping the last one (the backup's consistency says what it lacks)");
  return keep_set(dir, counter, set);
}

Status FlinkCapture::keep_set(const std::string& dir, const std::string& counter,
                              std::map<std::string, Znode>& set) {
  // The counter after the checkpoints: it is then ahead of every one of them.
  if (!counter.empty()) {
    std::map<std::string, Znode> read;
    (void)TRY(read_node(counter, 0, read));
    keep_counter(counter, read);
  }
  return keep_records(dir, set);
}

void FlinkCapture::keep_counter(const std::string& counter, std::map<std::string, Znode>& read) {
  for (auto& [rel, z] : read) pending_.insert_or_assign(rel, std::move(z));
  exact_.insert(counter);
}

Status FlinkCapture::keep_records(const std::string& dir, std::map<std::string, Znode>& set) {
  // Sets captured ahead of the reader (in path order, each after the last) wait on disk.
  const bool queue = !set.empty() && queue_->accepts(set.begin()->first);
  for (auto& [rel, z] : set) {
    if (is_record(flink::classify(rel).kind)) ++records_;
    if (queue)
      TRY_CTX(queue_->push(rel, z, out_), "capturing " + abs(dir));
    else
      pending_.insert_or_assign(rel, std::move(z));
  }
  subtrees_.insert(dir);
  done_.insert(dir);
  return ok();
}

Result<const std::vector<std::string>*> FlinkCapture::listing(const std::string& dir) {
  auto listed = listings_.find(dir);
  if (listed == listings_.end()) {
    Children children;
    int rc = zoo_get_children(s_->zh(), abs(dir).c_str(), 0, &children.v);
    if (rc == ZNONODE) return nullptr;
    if (rc != ZOK) return s_->error(rc, "listing " + abs(dir));
    std::vector<std::string> names(children.v.data, children.v.data + children.v.count);
    std::sort(names.begin(), names.end());
    listed = listings_.emplace(dir, std::move(names)).first;
  }
  return &listed->second;
}

Status FlinkCapture::capture_legacy_batch(const std::string& counter) {
  const std::string counters = parent_of(counter);
  const std::string cluster = parent_of(counters);
  return stream_batch(counters, counter.substr(counters.size() + 1),
                      [&](const std::string& name) -> std::optional<SetAndCounter> {
                        const std::string c = join(counters, name);
                        const flink::NodeInfo info = flink::classify(c);
                        if (info.kind != NodeKind::kLegacyCheckpointCounter) return std::nullopt;
                        return SetAndCounter{join(join(cluster, "checkpoints"), info.job_id), c};
                      });
}

Status FlinkCapture::capture_job_batch(const std::string& job) {
  const std::string jobs = parent_of(job);
  return stream_batch(
      jobs, job.substr(jobs.size() + 1),
      [&](const std::string& name) -> std::optional<SetAndCounter> {
        const std::string j = join(jobs, name);
        const std::string dir = join(j, "checkpoints");
        if (flink::classify(join(dir, kAnyCheckpoint)).kind != NodeKind::kCheckpoint)
          return std::nullopt;
        return SetAndCounter{dir, join(j, "checkpoint_id_counter")};
      });
}

Status FlinkCapture::stream_batch(
    const std::string& dir, const std::string& from,
    const std::function<std::optional<SetAndCounter>(const std::string& name)>& set_of) {
  const std::vector<std::string>* names = TRY(listing(dir));
  if (!names) return ok();
  std::vector<std::string> dirs, counts;
  for (auto it = std::lower_bound(names->begin(), names->end(), from);
       it != names->end() && dirs.size() < kBatchJobs; ++it) {
    auto set = set_of(*it);
    if (!set || done_.contains(set->dir)) continue;
    dirs.push_back(std::move(set->dir));
    counts.push_back(std::move(set->counter));
  }
  if (dirs.size() < 2) return ok();  // capture_set() reads a lone set as well
  if (ctx_.is_cancelled()) return make_error(Errc::kCancelled, "the backup was cancelled");
  // Checkpoint sets: before 1.15 without `locks` children, from 1.15 on with them, which
  // stream_sets() checks by each record's kind (wants_locks_child).
  legacy_set_ = false;
  return stream_sets(dirs, counts);
}

Status FlinkCapture::stream_sets(const std::vector<std::string>& dirs,
                                 const std::vector<std::string>& counters) {
  // A set in hand: its znodes (the directory, then the children of each listing, in a deque so
  // that those in flight keep their addresses), how many of them are not read whole yet, and,
  // once it is checked, its counter.
  struct Set {
    std::deque<NodeRead> nodes;
    size_t open = 0;
    bool stable = true;
    bool counted = false;  // its counter is read, or it needs none
    NodeRead counter;
    std::map<std::string, Znode> read;
  };
  std::deque<Set> sets;  // the sets in hand, from index `first` on
  size_t first = 0, started = 0, checked = 0;
  Window window;
  // Listed children and counters: read before any new set is started, so that the sets in hand
  // complete in order and memory stays bounded.
  std::deque<NodeRead*> next;
  std::vector<NodeRead*> answered;
  std::optional<Error> failure;
  size_t turn = 0;
  auto issue = [&](NodeRead& n) {
    n.session = turn++ % pls_.size();
    issue_reads(window, n, *pls_[n.session], abs(n.rel));
  };
  for (;;) {
    while (!failure && window.busy() < kSetWindow) {
      NodeRead* n = nullptr;
      if (!next.empty()) {
        n = next.front();
        next.pop_front();
      } else if (started < dirs.size() && sets.size() < kSetsAhead) {
        Set& s = sets.emplace_back();
        n = &s.nodes.emplace_back(NodeRead{.rel = dirs[started], .depth = 0, .set = started});
        s.open = 1;
        ++started;
      } else {
        break;
      }
      issue(*n);
    }
    if (window.busy() == 0 && (failure || (sets.empty() && started == dirs.size()))) break;
    window.take(answered);
    for (NodeRead* n : answered) {
      Set& s = sets[n->set - first];
      if (n == &s.counter) {
        s.counted = true;
      } else if (n->listed) {  // its children are in: read them next
        if (n->children_rc == ZOK)
          for (const auto& name : n->children) {
            next.push_back(
                &s.nodes.emplace_back(NodeRead{.rel = join(n->rel, name),
                                               .parent_cversion = n->children_st.cversion,
                                               .depth = n->depth + 1,
                                               .set = n->set}));
            ++s.open;
          }
        n->children = {};
        --s.open;
      } else if (!list_if_parent(window, *n, *pls_[n->session], abs(n->rel))) {
        --s.open;  // read whole; a parent's children are listed, read next
      }
    }
    answered.clear();
    if (!failure && ctx_.is_cancelled())
      failure = Error{Errc::kCancelled, "the backup was cancelled"};
    // The sets read whole, in order: each record's file pinned as it was read, then the counter
    // read after them (it is then ahead of each of them).
    while (!failure && checked < started && sets[checked - first].open == 0) {
      Set& s = sets[checked - first];
      const std::string& dir = dirs[checked];
      auto check = [&]() -> Result<bool> {
        for (NodeRead& n : s.nodes)
          if (!TRY(take_read(n, *s_, root_, s.read))) return false;  // subsumed meanwhile
        s.nodes = {};
        for (const auto& [rel, z] : s.read) {
          if (parent_of(rel) != dir) continue;
          const flink::NodeInfo info = flink::classify(rel);
          if (!is_record(info.kind)) continue;
          // Without `locks` (1.15 and later) a record is being subsumed: capture_set() reads
          // the set again, and leaves the record out if it is still so (read_set()).
          if (info.wants_locks_child && !legacy_set_ && !s.read.contains(join(rel, "locks")))
            return false;
          if (!TRY(pin_record(rel, z))) return false;  // subsumed meanwhile
        }
        return true;
      };
      auto stable = check();
      if (!stable) {
        failure = std::move(stable).error();
        break;
      }
      s.stable = *stable;
      if (s.stable) {
        s.counter = NodeRead{.rel = counters[checked], .depth = kLeaf, .set = checked};
        next.push_front(&s.counter);
      } else {
        s.counted = true;  // left to capture_set()
        s.read.clear();
      }
      ++checked;
    }
    // Kept in order, each set after its counter.
    while (!failure && !sets.empty() && first < checked && sets.front().counted) {
      Set& s = sets.front();
      auto keep = [&]() -> Status {
        std::map<std::string, Znode> read;  // empty when the counter is gone
        (void)TRY(take_read(s.counter, *s_, root_, read));
        keep_counter(counters[first], read);
        return keep_records(dirs[first], s.read);
      };
      if (s.stable)
        if (auto kept = keep(); !kept) {
          failure = std::move(kept).error();
          break;
        }
      sets.pop_front();
      ++first;
    }
  }
  if (failure) return std::unexpected(std::move(*failure));
  return ok();
}

Result<bool> FlinkCapture::legacy_cluster(const std::string& cluster) {
  if (auto it = legacy_clusters_.find(cluster); it != legacy_clusters_.end()) return it->second;
  auto exists = [&](const char* name) -> Result<bool> {
    Stat st{};
    const std::string path = abs(join(cluster, name));
    int rc = zoo_exists(s_->zh(), path.c_str(), 0, &st);
    if (rc == ZOK) return true;
    if (rc == ZNONODE) return false;
    return s_->error(rc, "reading " + path);
  };
  bool legacy = false;
  for (const char* name : {"running_job_registry", "checkpoint-counter", "checkpoints"})
    legacy = legacy || TRY(exists(name));
  if (legacy && TRY(exists("jobs"))) legacy = false;
  legacy_clusters_[cluster] = legacy;
  return legacy;
}

Result<bool> FlinkCapture::read_set(const std::string& dir, std::map<std::string, Znode>& out) {
  if (!TRY(read_node(dir, 0, out))) return true;  // gone: an empty set
  Children children;
  Stat st{};
  int rc = zoo_get_children2(s_->zh(), abs(dir).c_str(), 0, &children.v, &st);
  if (rc == ZNONODE) {
    out.clear();
    return true;
  }
  if (rc != ZOK) return s_->error(rc, "listing " + abs(dir));
  std::vector<std::string> names(children.v.data, children.v.data + children.v.count);
  std::sort(names.begin(), names.end());
  // The records and their subtrees, pipelined (one round trip per level, not per znode: a set
  // can hold thousands of records); then checked and pinned in order, as Flink lists them.
  std::vector<std::string> records;
  for (const auto& name : names) records.push_back(join(dir, name));
  if (!TRY(read_records(records, st.cversion, out))) return false;  // one subsumed meanwhile
  for (const auto& rel : records) {
    auto it = out.find(rel);
    if (it == out.end()) continue;  // ephemeral
    const flink::NodeInfo info = flink::classify(rel);
    if (!is_record(info.kind)) continue;
    if (info.wants_locks_child && !legacy_set_ && !out.contains(join(rel, "locks"))) {
      // Without `locks` a record is being subsumed (Flink 1.15+ deletes `locks`, then the
      // file, then the node) or was marked for deletion: Flink skips it, and so does the
      // capture, rather than bring it back with a file that is gone. Being subsumed means a
      // newer record was added, maybe after the listing: the first time, read the set again.
      if (lockless_.insert(rel).second) return false;
      drop(out, rel);
      ++marked_;
      continue;
    }
    if (!TRY(pin_record(rel, it->second))) return false;
  }
  return true;
}

Result<bool> FlinkCapture::read_records(const std::vector<std::string>& records,
                                        int32_t parent_cversion, std::map<std::string, Znode>& out,
                                        int depth) {
  // The records (at `depth`) and their subtrees, pipelined; then checked in order.
  std::deque<NodeRead> nodes;
  for (const auto& rel : records)
    nodes.push_back({.rel = rel, .parent_cversion = parent_cversion, .depth = depth});
  read_subtrees(nodes, pls_, root_);
  for (NodeRead& n : nodes)
    if (!TRY(take_read(n, *s_, root_, out))) return false;
  return true;
}

void FlinkCapture::drop(std::map<std::string, Znode>& out, const std::string& rel) {
  out.erase(rel);
  const std::string below = rel + "/";
  for (auto it = out.lower_bound(below); it != out.end() && it->first.starts_with(below);)
    it = out.erase(it);
}

Result<bool> FlinkCapture::read_node(const std::string& rel, int32_t parent_cversion,
                                     std::map<std::string, Znode>& out) {
  const std::string path = abs(rel);
  Znode z;
  Stat st{};
  std::vector<char> buf(64 * 1024);
  for (;;) {
    int len = static_cast<int>(buf.size());
    int rc = zoo_get(s_->zh(), path.c_str(), 0, buf.data(), &len, &st);
    if (rc == ZNONODE) return false;
    if (rc != ZOK) return s_->error(rc, "reading " + path);
    if (st.dataLength > static_cast<int>(buf.size())) {  // grew: read it whole
      buf.resize(static_cast<size_t>(st.dataLength));
      continue;
    }
    if (len >= 0) z.data.emplace(buf.data(), static_cast<size_t>(len));
    break;
  }
  if (is_session_owner(st.ephemeralOwner)) return true;  // a lock of a live session: never kept
  Acls acls;
  Stat acl_st{};
  int rc = zoo_get_acl(s_->zh(), path.c_str(), &acls.v, &acl_st);
  if (rc == ZNONODE) return false;
  if (rc != ZOK) return s_->error(rc, "reading the ACL of " + path);
  for (int i = 0; i < acls.v.count; ++i)
    z.acl.push_back({acls.v.data[i].perms, acls.v.data[i].id.scheme ? acls.v.data[i].id.scheme : "",
                     acls.v.data[i].id.id ? acls.v.data[i].id.id : ""});
  z.sequential = parent_cversion > 0 && looks_sequential(rel, parent_cversion);
  out.insert_or_assign(rel, std::move(z));
  return true;
}

Result<bool> FlinkCapture::pin_record(const std::string& rel, const Znode& z) {
  if (!z.data) return true;  // no pointer: the backup's consistency names it
  auto pointer = flink::parse_pointer(*z.data);
  if (!pointer || !*pointer) return true;  // not readable: likewise
  auto pinned = pin_((*pointer)->path);
  if (pinned) {
    ++pins_;
    return true;
  }
  if (pinned.error().code == Errc::kNotFound) {
    Stat st{};
    int rc = zoo_exists(s_->zh(), abs(rel).c_str(), 0, &st);
    // Subsumed meanwhile: the znode is gone, or (1.15+) its `locks` went before the file.
    if (rc == ZNONODE) return false;
    if (rc == ZOK && st.numChildren == 0 && flink::classify(rel).wants_locks_child && !legacy_set_)
      return false;
    if (rc != ZOK) return s_->error(rc, "reading " + abs(rel));
    ++missing_;
    if (ctx_.log)
      // The URI as serialized (java.net.URI holds no raw control character), cut: it comes
      // from a znode, and a decoded %0A would forge log lines.
      ctx_.log("Flink HA capture: " + abs(rel) + " points to " + (*pointer)->uri.substr(0, 512) +
               ", which does not exist; it is backed up as it is");
    return true;
  }
  if (pinned.error().code == Errc::kFailedPrecondition) return true;  // outside the backup
  return std::unexpected(std::move(pinned).error().context("pinning the file of " + abs(rel)));
}

}  // namespace flinkbr::source::zookeeper
