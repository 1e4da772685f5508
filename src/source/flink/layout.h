// Flink's HA layout in ZooKeeper: what a znode is, by its path, as Flink's ZooKeeper HA services
// lay the tree out under `high-availability.zookeeper.path.root` / `high-availability.cluster-id`
// (ZooKeeperUtils, ZooKeeperStateHandleStore, ZooKeeperCheckpointIDCounter in apache/flink;
// docs/flink-ha.md has the table). Paths are relative to a zookeeper source's root, which may be
// /flink, /flink/<cluster-id> or deeper: classify() matches the tail of the path, so the same
// node is recognised whichever of these the source was configured with.
//
//   jobgraphs/<job>                        kJobGraph (Flink 1.x job graphs; Flink 2.0 keeps its
//                                          execution plans here too, pointing at
//                                          submittedExecutionPlan files, FLINK-36158)
//   execution-plans/<job>                  kExecutionPlan (the node name a later Flink may use
//                                          for them: apache/flink pull request 26420)
//   jobs/<job>/checkpoints/<%019d>         kCheckpoint (1.15 and later)
//   jobs/<job>/checkpoint_id_counter       kCheckpointCounter (Curator SharedCount, 4 bytes)
//   checkpoints/<job>/<%019d>              kLegacyCheckpoint (before 1.15)
//   checkpoint-counter/<job>               kLegacyCheckpointCounter (before 1.15)
//   <record>/locks                         kLocks: the persistent parent of a record's locks
//   <record>/locks/<uuid>                  kLock: one JobManager's ephemeral lock
//   leader/..., leaderlatch/..., jobs/<job>/leader/...
//                                          kLeader: leader latches and connection info
//                                          (ephemeral while a JobManager lives)
//
// <job> is a JobID as Flink writes it: 32 hexadecimal digits. Record nodes of 1.15 and later
// (kJobGraph, kExecutionPlan, kCheckpoint) want a persistent `locks` child: Flink takes a node
// without children for one marked for deletion and skips it silently.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flinkbr::source::flink {

enum class NodeKind {
  kOther,                    // not a node flinkbr knows (the root, folders, configuration)
  kJobGraph,                 // jobgraphs/<job>: a pointer to a submitted job graph or plan
  kExecutionPlan,            // execution-plans/<job>: a pointer to a submitted execution plan
  kCheckpoint,               // jobs/<job>/checkpoints/<id>: a pointer to a completed checkpoint
  kCheckpointCounter,        // jobs/<job>/checkpoint_id_counter: the next checkpoint id
  kLegacyCheckpoint,         // checkpoints/<job>/<id>, before Flink 1.15
  kLegacyCheckpointCounter,  // checkpoint-counter/<job>, before Flink 1.15
  kLocks,                    // <record>/locks
  kLock,                     // <record>/locks/<lock>
  kLeader,                   // under leader/ or leaderlatch/ (cluster or job)
};

// "job-graph", "checkpoint", ... for logs and messages.
std::string_view kind_name(NodeKind kind);

struct NodeInfo {
  NodeKind kind = NodeKind::kOther;
  std::string job_id;              // the job of a record, counter, locks or lock node; else ""
  int64_t checkpoint_id = -1;      // kCheckpoint, kLegacyCheckpoint (and their locks): the id
  bool wants_locks_child = false;  // 1.15+ and 2.0 record nodes: kJobGraph, kExecutionPlan,
                                   // kCheckpoint
  bool operator==(const NodeInfo&) const = default;
};

// What the znode at `rel_path` ("/a/b", relative to the source's root; "/" is the root) is.
NodeInfo classify(std::string_view rel_path);

// Whether `s` is a JobID as Flink names nodes after it: 32 hexadecimal digits.
bool is_job_id(std::string_view s);

// The value of a checkpoint id counter node: Curator's SharedCount, a 4-byte big-endian int.
// nullopt for any other length.
std::optional<int32_t> parse_counter(std::string_view data);

}  // namespace flinkbr::source::flink
