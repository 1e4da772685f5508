// PinnedFiles: files of a `files` source copied aside during a Flink-aware backup
// (docs/flink-ha.md). The zookeeper capture reads a pointer and at once pins the file it names;
// Flink may delete that file a few milliseconds later (subsumption), long before the walk of
// the tree reaches it. The source's backup() then writes the pinned copy in the file's place in
// tree order, also when the file is gone from the live tree.
//
// The copies go to one unnamed spool file (io/spool.h) in the task's staging directory; memory
// holds one record per pinned file (a Flink cluster has a few per job). Not thread-safe.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "archive/archive_writer.h"
#include "io/spool.h"
#include "io/stream.h"

namespace flinkbr::source::files {

class PinnedFiles {
 public:
  bool contains(const std::string& rel) const { return files_.contains(rel); }
  bool empty() const { return files_.empty(); }
  // The pinned paths (a few per Flink job).
  std::set<std::string> paths() const {
    std::set<std::string> out;
    for (const auto& [rel, f] : files_) out.insert(rel);
    return out;
  }

  // Copies `size` bytes of `data` (the file at `rel` below the root) aside, once per path: a
  // second pin of the same path only returns the size pinned first.
  [[nodiscard]] Result<uint64_t> pin(const std::string& rel, uint32_t mode, int64_t mtime,
                                     uint64_t size, io::Reader& data, const std::string& spool_dir);

  // The walk of the live tree is about to write `next` (a path below the root, in tree order;
  // nullopt at the end of the walk): first writes every pinned file that sorts before it and was
  // not written yet, with any of its directories the walk did not write (gone meanwhile).
  [[nodiscard]] Status write_before(archive::SourceArchiveWriter& out,
                                    std::optional<std::string_view> next);
  // Writes the pinned copy of `rel` in place of the live file (call when contains(rel)).
  [[nodiscard]] Status write(archive::SourceArchiveWriter& out, const std::string& rel);
  // The walk wrote the directory `rel`.
  void directory_written(const std::string& rel);

 private:
  struct File {
    uint64_t offset = 0;
    uint64_t size = 0;
    uint32_t mode = 0;
    int64_t mtime = 0;
    bool written = false;
  };
  std::optional<io::Spool> spool_;
  std::map<std::string, File> files_;   // in byte order; write_before() keeps tree order
  std::set<std::string> dirs_needed_;   // the directories above pinned files
  std::set<std::string> dirs_written_;  // those of them the walk (or we) wrote
  std::vector<std::string> order_;      // pinned paths in tree order, for write_before()
  size_t next_ = 0;                     // the first of order_ write_before() has not passed
};

}  // namespace flinkbr::source::files
