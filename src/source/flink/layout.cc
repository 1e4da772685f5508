#include "source/flink/layout.h"

#include <array>
#include <cstddef>

namespace flinkbr::source::flink {

namespace {

// The last components of a path, the last one at back(0); at most kMax are kept, which is as
// deep as a pattern of the layout goes.
class Tail {
 public:
  static constexpr size_t kMax = 6;

  explicit Tail(std::string_view path) {
    while (!path.empty() && n_ < kMax) {
      size_t slash = path.rfind('/');
      std::string_view comp = slash == std::string_view::npos ? path : path.substr(slash + 1);
      if (!comp.empty()) c_[n_++] = comp;
      if (slash == std::string_view::npos) break;
      path = path.substr(0, slash);
    }
  }

  size_t size() const { return n_; }
  // The i-th component from the end ("" past the start).
  std::string_view back(size_t i) const { return i < n_ ? c_[i] : std::string_view(); }

 private:
  std::array<std::string_view, kMax> c_{};
  size_t n_ = 0;
};

// Flink names checkpoint nodes "%019d"; any run of 1 to 19 digits that fits an int64 is taken.
std::optional<int64_t> checkpoint_id(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(v);
}

// The record node whose last component is t.back(skip): kOther when it is none.
NodeInfo record_at(const Tail& t, size_t skip) {
  NodeInfo info;
  std::string_view name = t.back(skip);
  std::string_view parent = t.back(skip + 1);
  if (is_job_id(name) && (parent == "jobgraphs" || parent == "execution-plans")) {
    info.kind = parent == "jobgraphs" ? NodeKind::kJobGraph : NodeKind::kExecutionPlan;
    info.job_id = std::string(name);
    info.wants_locks_child = true;
    return info;
  }
  auto id = checkpoint_id(name);
  if (!id) return info;
  if (parent == "checkpoints" && is_job_id(t.back(skip + 2)) && t.back(skip + 3) == "jobs") {
    info.kind = NodeKind::kCheckpoint;
    info.job_id = std::string(t.back(skip + 2));
    info.checkpoint_id = *id;
    info.wants_locks_child = true;
  } else if (is_job_id(parent) && t.back(skip + 2) == "checkpoints") {
    info.kind = NodeKind::kLegacyCheckpoint;
    info.job_id = std::string(parent);
    info.checkpoint_id = *id;
  }
  return info;
}

}  // namespace

std::string_view kind_name(NodeKind kind) {
  switch (kind) {
    case NodeKind::kOther:
      return "other";
    case NodeKind::kJobGraph:
      return "job-graph";
    case NodeKind::kExecutionPlan:
      return "execution-plan";
    case NodeKind::kCheckpoint:
      return "checkpoint";
    case NodeKind::kCheckpointCounter:
      return "checkpoint-counter";
    case NodeKind::kLegacyCheckpoint:
      return "legacy-checkpoint";
    case NodeKind::kLegacyCheckpointCounter:
      return "legacy-checkpoint-counter";
    case NodeKind::kLocks:
      return "locks";
    case NodeKind::kLock:
      return "lock";
    case NodeKind::kLeader:
      return "leader";
  }
  return "other";
}

bool is_job_id(std::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

NodeInfo classify(std::string_view rel_path) {
  Tail t(rel_path);
  if (t.size() == 0) return {};
  // Records first, then what hangs below them (locks, lock), then counters and leaders.
  if (NodeInfo r = record_at(t, 0); r.kind != NodeKind::kOther) return r;
  if (t.back(0) == "locks") {
    if (NodeInfo r = record_at(t, 1); r.kind != NodeKind::kOther) {
      r.kind = NodeKind::kLocks;
      r.wants_locks_child = false;
      return r;
    }
  }
  if (t.back(1) == "locks") {
    if (NodeInfo r = record_at(t, 2); r.kind != NodeKind::kOther) {
      r.kind = NodeKind::kLock;
      r.wants_locks_child = false;
      return r;
    }
  }
  NodeInfo info;
  if (t.back(0) == "checkpoint_id_counter" && is_job_id(t.back(1)) && t.back(2) == "jobs") {
    info.kind = NodeKind::kCheckpointCounter;
    info.job_id = std::string(t.back(1));
    return info;
  }
  if (is_job_id(t.back(0)) && t.back(1) == "checkpoint-counter") {
    info.kind = NodeKind::kLegacyCheckpointCounter;
    info.job_id = std::string(t.back(0));
    return info;
  }
  // leader/<component>/{latch/<node>, connection_info}, jobs/<job>/leader/..., leaderlatch/...:
  // a "leader" or "leaderlatch" component among the last four.
  for (size_t i = 0; i < 4 && i < t.size(); ++i) {
    if (t.back(i) == "leader" || t.back(i) == "leaderlatch") {
      info.kind = NodeKind::kLeader;
      if (t.back(i + 2) == "jobs" && is_job_id(t.back(i + 1))) info.job_id = t.back(i + 1);
      return info;
    }
  }
  return info;
}

std::optional<int32_t> parse_counter(std::string_view data) {
  if (data.size() != 4) return std::nullopt;
  uint32_t v = 0;
  for (char c : data) v = (v << 8) | static_cast<uint8_t>(c);
  return static_cast<int32_t>(v);
}

}  // namespace flinkbr::source::flink
