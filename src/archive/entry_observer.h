// EntryObserver: a reader of payload entries on the side of a backup or a verification, for
// checks that need the content of one source while another is written or read (Flink's HA
// pointers in the zookeeper payload against the files of the HA storage: source/flink/
// inspector.h). The writer and the verifier call it in payload order; an observer never changes
// what is written or read, and it cannot fail the stream: it keeps its own findings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "archive/format.h"

namespace flinkbr::archive {

class EntryObserver {
 public:
  virtual ~EntryObserver() = default;
  // One payload entry: its source, its path below "sources/<source>/" ("" for the prefix
  // itself), its type and size. Returns whether the observer wants the entry's data.
  virtual bool begin(std::string_view source, std::string_view rel_path, EntryType type,
                     uint64_t size) = 0;
  // A piece of the data of the entry begin() accepted, in order.
  virtual void data(std::span<const std::byte> bytes) = 0;
  // The end of the entry begin() accepted.
  virtual void end() = 0;
};

}  // namespace flinkbr::archive
