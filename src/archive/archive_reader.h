// Reads and checks a backup archive from a borrowed tar stream (normally a gzip reader over a
// storage reader). Every entry is checked as it arrives: the first must be the header; payload
// paths must be valid (format.h) and of type file or directory (links, devices, FIFOs refused);
// nothing may follow the manifest. Payload data is hashed while the caller reads it. When the
// manifest arrives, next() compares it with what was seen: each entry listed with the same type,
// size, SHA-256, mode and mtime, no entry missing from the manifest, no manifest entry missing
// from the file. Any failure is kCorruption naming the entry.
//
// So a caller that consumes the whole archive knows, when next() returns std::nullopt, that the
// file is exactly what the manifest describes. Restores read the file once to verify before
// changing anything, then again to stage. Not thread-safe.
#pragma once

#include <memory>
#include <optional>

#include "archive/format.h"
#include "io/stream.h"

namespace flinkbr::archive {

struct Entry {
  std::string path;  // full payload path ("sources/<source>/...")
  EntryType type = EntryType::kFile;
  uint64_t size = 0;
  uint32_t mode = 0;
  int64_t mtime = 0;

  // "<source>" and the rest of the path after "sources/<source>/" ("" for the prefix itself).
  std::string_view source() const;
  std::string_view relative_path() const;
};

class ArchiveReader {
 public:
  // Reads up to and including the header entry from `in` (borrowed).
  [[nodiscard]] static Result<std::unique_ptr<ArchiveReader>> open(io::Reader& in);
  virtual ~ArchiveReader() = default;

  virtual const Header& header() const = 0;
  // Advances to the next payload entry, draining (and hashing) any unread data of the current
  // one. std::nullopt once the manifest was read and everything matched.
  [[nodiscard]] virtual Result<std::optional<Entry>> next() = 0;
  // The data of the current file entry; valid until next().
  virtual io::Reader& data() = 0;
  // The manifest; valid after next() returned std::nullopt.
  virtual const Manifest& manifest() const = 0;
};

// Reads a whole archive from a tar stream, verifying it; returns header and manifest.
struct VerifyReport {
  Header header;
  Manifest manifest;
  uint64_t payload_bytes = 0;
};
[[nodiscard]] Result<VerifyReport> verify_archive(io::Reader& tar_stream);

}  // namespace flinkbr::archive
