// The Flink HA inspector: reads a backup's payload as it is written or verified (an
// archive::EntryObserver) and says whether Flink could recover from it. Flink's ZooKeeper HA
// nodes are pointers into its HA storage (docs/flink-ha.md); a backup is "consistent" when
// every pointer of its zookeeper payload names a file of one of its files payloads, with the
// size the pointer records, and every checkpoint counter is ahead of its job's newest
// checkpoint. It is "unchecked" when the backup lacks a zookeeper or a files source.
//
// Memory: per pointer its znode path, source and relative file path; per file of a files source
// 16 bytes (a 64-bit hash of its path and its size), so that the sources may come in any order.
// Only zookeeper lines whose path is a Flink record are decoded. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/entry_observer.h"
#include "archive/format.h"

namespace flinkbr::source::flink {

// How many dangling pointers (and other problems) a report names; the counts are complete.
inline constexpr size_t kListedProblems = 10;

struct Consistency {
  std::string state = "unchecked";    // "consistent" | "inconsistent" | "unchecked"
  uint64_t pointers = 0;              // pointers found in the zookeeper payloads
  std::vector<std::string> dangling;  // the first few: "<znode> -> <file> (<why>)"
  uint64_t dangling_count = 0;
  uint64_t jobs = 0;
  uint64_t checkpoints = 0;
  std::map<std::string, int64_t> latest_checkpoint;  // every job id -> newest checkpoint, -1: none
  std::vector<std::string> unreadable;  // record znodes whose data is not a readable pointer
  uint64_t unreadable_count = 0;
  std::vector<std::string> counters_behind;  // "<counter znode>: next id N, newest checkpoint M"

  // The contract object of a backup record (product.md): state, pointers, dangling, jobs,
  // checkpoints; plus dangling_count, unreadable and counters_behind when there are any.
  nlohmann::json to_json() const;
  // The first problems in one line, for a refusal.
  std::string summary() const;
};

class Inspector final : public archive::EntryObserver {
 public:
  // Which sources are zookeeper and files ones, and where each files source lives: its
  // location in the header (that of the cluster the backup was taken from).
  explicit Inspector(const archive::Header& header);

  bool begin(std::string_view source, std::string_view rel_path, archive::EntryType type,
             uint64_t size) override;
  void data(std::span<const std::byte> bytes) override;
  void end() override;

  // After the last entry.
  Consistency finish();

 private:
  struct PointerRef {
    std::string znode;
    std::string file;    // the pointer's decoded path
    std::string source;  // files source it falls under, "" when none
    std::string rel;     // below that source's root
    int64_t size = 0;
  };
  void line(std::string_view text);
  void add_problem(std::vector<std::string>& list, uint64_t* count, std::string what);

  std::map<std::string, std::string> kinds_;      // source -> kind
  std::map<std::string, std::string> locations_;  // files source -> location
  bool has_zookeeper_ = false;
  bool has_files_ = false;

  enum class Current { kNone, kZnodes, kFile };
  Current current_ = Current::kNone;
  std::string partial_;  // an unfinished line of a zookeeper part
  std::string zk_source_;

  std::vector<PointerRef> pointers_;
  std::unordered_map<uint64_t, uint64_t> files_;  // hash(source, rel) -> size
  std::map<std::string, int32_t> counters_;       // job id -> next checkpoint id
  std::map<std::string, int64_t> latest_;         // job id -> newest checkpoint id
  std::map<std::string, bool> jobs_;
  uint64_t checkpoints_ = 0;
  std::vector<std::string> unreadable_;
  uint64_t unreadable_count_ = 0;
};

// 64-bit FNV-1a of "<source>\0<rel>": the key of a file in Inspector's table.
uint64_t file_key(std::string_view source, std::string_view rel);

}  // namespace flinkbr::source::flink
