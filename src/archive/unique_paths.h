// Refuses a payload path given twice, in memory that does not grow with the number of entries
// for the orders flinkbr's sources write (docs/archive-format.md, "Duplicate paths").
//
// Within one source ("sources/<name>/..."), while every path is greater than the one before in
// byte-wise order or in component-wise order (a directory, then its contents by sorted names),
// a new path cannot equal any earlier one: that costs O(1). Sources must not come back after
// another one started (a small set of source names is kept). When a path breaks both orders (a
// postgres source writes schema.json after its tables; a forged file anything), the set falls
// back to a table of 64-bit path hashes of the source's entries so far (rebuilt from the spool
// of paths): 8 bytes a slot, at most 3/4 full. A hash that is already present is confirmed by
// scanning the spooled paths, so a collision is never mistaken for a duplicate. A source that
// comes back makes the table cover every entry from then on.
//
// Every path is appended to an unnamed spool file (io/spool.h). Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "io/spool.h"

namespace flinkbr::archive {

class UniquePaths {
 public:
  using Hash = std::function<uint64_t(std::string_view)>;
  // `spool_dir` as in io::Spool::create. `hash` only for tests (to force collisions).
  [[nodiscard]] static Result<UniquePaths> create(const std::string& spool_dir, Hash hash = {});

  // True when `path` is new (and remembers it), false when it was inserted before.
  [[nodiscard]] Result<bool> insert(std::string_view path);

  // Slots of the hash table (0 while the paths come in order): for tests and benchmarks.
  size_t hash_slots() const { return table_.size(); }

 private:
  UniquePaths(io::Spool spool, Hash hash) : spool_(std::move(spool)), hash_(std::move(hash)) {}
  uint64_t hash_of(std::string_view path) const;
  // Starts (or restarts) the hash table with every path spooled from `from`.
  Status build_table(uint64_t from);
  // Adds h; true when it was not there yet.
  bool table_insert(uint64_t h);
  // Whether `path` is among the paths spooled from `from`.
  Result<bool> spooled(std::string_view path, uint64_t from);
  Status spool_path(std::string_view path);

  io::Spool spool_;
  Hash hash_;
  std::string source_;                        // "sources/<name>" of the current source
  uint64_t source_start_ = 0;                 // spool offset of its first path
  std::string last_;                          // the previous path of the current source
  bool byte_order_ = true;                    // every path of the source so far greater byte-wise
  bool component_order_ = true;               // ... or component-wise
  std::unordered_set<std::string> finished_;  // sources that ended
  bool hashing_ = false;                      // the table is in use
  bool global_ = false;                       // the table covers every source (one came back)
  uint64_t table_from_ = 0;                   // spool offset the table covers from
  std::vector<uint64_t> table_;               // open addressing, 0 = empty slot
  size_t table_count_ = 0;
};

}  // namespace flinkbr::archive
