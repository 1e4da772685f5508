// Writing a zookeeper payload: znodes in payload order (byte-wise by path, the root "/" first)
// become JSON lines (codec.h) gathered into parts of at most kPartLimit bytes, each written as
// one entry "znodes/part-NNNNNN.jsonl" of the source's archive writer.
//
// The source's backup writes through it, and so may a capture that reads the tree itself
// (tree_reader.h), with the parameters from params_from_config() (session.h). Memory holds one
// part. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "archive/archive_writer.h"
#include "source/zookeeper/codec.h"

namespace flinkbr::source::zookeeper {

class PayloadWriter {
 public:
  // Writes into `out` (which must outlive the writer), entries stamped with `mtime`.
  PayloadWriter(archive::SourceArchiveWriter& out, int64_t mtime);

  // Adds znode `rel` (the caller keeps payload order). kFailedPrecondition when it cannot be
  // stored (a path or ACL string that is not UTF-8), naming `abs_path`; errors of the writer.
  [[nodiscard]] Status add(const std::string& rel, const Znode& z, const std::string& abs_path);

  // Appends the line add() would store for znode `rel` to `out`, with add()'s refusal. A capture
  // that holds znodes back for a while (flink_capture.h) encodes them when it reads them, so
  // that storing them later is a copy (add_line()).
  [[nodiscard]] static Status encode(std::string& out, const std::string& rel, const Znode& z,
                                     const std::string& abs_path);
  // Adds one line encode() made (in payload order, as add()).
  [[nodiscard]] Status add_line(std::string_view line);

  // Writes the last part. With no znode added, writes one empty part: the payload of a root
  // that does not exist, which a restore takes as "remove the subtree".
  [[nodiscard]] Status finish();

  uint64_t znodes() const { return znodes_; }

 private:
  Status flush();

  archive::SourceArchiveWriter& out_;
  int64_t mtime_;
  std::string part_;
  std::string line_;  // add()'s, kept for its capacity
  size_t parts_ = 0;
  uint64_t znodes_ = 0;
};

}  // namespace flinkbr::source::zookeeper
