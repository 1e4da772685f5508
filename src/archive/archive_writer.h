// Writes a backup archive (format.h) as a tar stream into a borrowed io::Writer, normally a
// gzip layer over a hashing layer over a storage writer. Streams: each file entry's data is
// copied through a fixed buffer, and the manifest is spooled line by line to an unnamed
// temporary file (io/spool.h) and copied into the tar stream at the end, so memory does not grow
// with the number of entries. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "archive/entry_observer.h"
#include "archive/format.h"
#include "io/stream.h"

namespace flinkbr::archive {

class ArchiveWriter {
 public:
  // Starts the tar stream on `out` (borrowed; must outlive the writer) and writes the header
  // entry. `spool_dir` is where the unnamed spool files go (io/spool.h; "" for $TMPDIR or /tmp).
  [[nodiscard]] static Result<std::unique_ptr<ArchiveWriter>> create(
      io::Writer& out, const Header& header, const std::string& spool_dir = {});
  virtual ~ArchiveWriter() = default;

  // Adds a directory entry. `path` is a payload path (format.h: validate_entry_path). A path
  // added before is refused (kInvalidArgument), in bounded memory (unique_paths.h). Of `mode`,
  // here and below, only the permission bits (mode & 0777) are recorded: setuid, setgid and
  // sticky bits never enter a backup file (readers refuse them).
  [[nodiscard]] virtual Status add_directory(std::string_view path, uint32_t mode,
                                             int64_t mtime) = 0;
  // Adds a regular file of exactly `size` bytes read from `data`. Fails with kIOError naming the
  // path if `data` yields fewer or more bytes (the file changed while being read).
  [[nodiscard]] virtual Status add_file(std::string_view path, uint32_t mode, int64_t mtime,
                                        uint64_t size, io::Reader& data) = 0;
  // Adds a small regular file held in memory.
  [[nodiscard]] virtual Status add_bytes(std::string_view path, std::string_view data,
                                         uint32_t mode, int64_t mtime) = 0;
  // Writes the manifest as the last entry, ends the tar stream and finishes `out`.
  [[nodiscard]] virtual Status finish() = 0;
  // Bytes of payload data added so far (for progress).
  virtual uint64_t payload_bytes() const = 0;
};

// Prefixes every path with "sources/<name>/" so that a MetadataSource writes its payload with
// paths relative to its own root. Borrows `inner`, and `observer` when given: it sees every
// entry written through this writer, with the data it asks for.
class SourceArchiveWriter {
 public:
  SourceArchiveWriter(ArchiveWriter& inner, std::string_view source_name,
                      EntryObserver* observer = nullptr);
  // `path` is relative to the source's prefix; "" means the prefix itself (a directory only).
  [[nodiscard]] Status add_directory(std::string_view path, uint32_t mode, int64_t mtime);
  [[nodiscard]] Status add_file(std::string_view path, uint32_t mode, int64_t mtime, uint64_t size,
                                io::Reader& data);
  [[nodiscard]] Status add_bytes(std::string_view path, std::string_view data, uint32_t mode,
                                 int64_t mtime);
  uint64_t payload_bytes() const { return inner_.payload_bytes(); }

 private:
  std::string full(std::string_view path) const;
  ArchiveWriter& inner_;
  std::string prefix_;  // "sources/<name>"
  std::string name_;
  EntryObserver* observer_ = nullptr;
};

}  // namespace flinkbr::archive
