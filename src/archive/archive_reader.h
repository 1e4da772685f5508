// Reads and checks a backup archive from a borrowed tar stream (normally a gzip reader over a
// storage reader). Every entry is checked as it arrives: the first must be the header; payload
// paths must be valid (format.h) and of type file or directory (links, devices, FIFOs refused);
// nothing may follow the manifest. Payload data is hashed while the caller reads it. When the
// manifest arrives, next() compares it with what was seen: each entry listed with the same type,
// size, SHA-256, mode and mtime, in the order of the file, no entry missing from the manifest,
// no manifest entry missing from the file. Any failure is kCorruption naming the entry.
//
// Memory does not grow with the number of entries: what was seen is spooled as compact records
// to an unnamed temporary file (io/spool.h), the manifest is parsed from the tar data one entry at
// a time and compared with record i of the spool (a sequential merge: the manifest lists the
// entries in the order of the tar stream), and a path seen twice is refused at once by
// UniquePaths (unique_paths.h).
//
// So a caller that consumes the whole archive knows, when next() returns std::nullopt, that the
// file is exactly what the manifest describes. A restore stages while it reads and keeps what it
// staged only then (task/archive_io.h, verify_and_stage_backup_file). Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/entry_observer.h"
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

// What a whole archive holds, counted while it is read (what callers need from the manifest
// without holding its entries).
struct SourceTotals {
  std::string name;      // as in the header
  uint64_t entries = 0;  // payload entries under "sources/<name>" (the prefix itself too)
  uint64_t bytes = 0;    // their file sizes
};
struct ArchiveSummary {
  uint64_t entries = 0;               // payload entries (what the manifest lists)
  std::vector<SourceTotals> sources;  // one per source of the header, in its order
};

class ArchiveReader {
 public:
  // Reads up to and including the header entry from `in` (borrowed). `spool_dir` is where the
  // unnamed spool files go (io/spool.h; "" for $TMPDIR or /tmp).
  [[nodiscard]] static Result<std::unique_ptr<ArchiveReader>> open(
      io::Reader& in, const std::string& spool_dir = {});
  virtual ~ArchiveReader() = default;

  virtual const Header& header() const = 0;
  // Advances to the next payload entry, draining (and hashing) any unread data of the current
  // one. std::nullopt once the manifest was read and everything matched.
  [[nodiscard]] virtual Result<std::optional<Entry>> next() = 0;
  // The data of the current file entry; valid until next().
  virtual io::Reader& data() = 0;
  // Counts of the entries; complete (and checked against the manifest) after next() returned
  // std::nullopt.
  virtual const ArchiveSummary& summary() const = 0;
};

// Reads a whole archive from a tar stream, verifying it; returns the header and the counts.
struct VerifyReport {
  Header header;
  ArchiveSummary summary;
  uint64_t payload_bytes = 0;
};
// `observer`, when given, sees every payload entry in order with the data it asks for.
[[nodiscard]] Result<VerifyReport> verify_archive(io::Reader& tar_stream,
                                                  const std::string& spool_dir = {},
                                                  EntryObserver* observer = nullptr);

}  // namespace flinkbr::archive
