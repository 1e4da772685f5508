// An unnamed temporary file to spool per-entry records to, so that memory stays bounded whatever
// the number of entries (issue 9): the archive writer spools the manifest text (its tar header
// needs the size first), the archive reader what it saw (to compare with the manifest that
// arrives last), UniquePaths the paths it was given, the files and ZooKeeper sources what they
// staged (to compare with the live state after the switch).
//
// The file has no name from the start (O_TMPFILE), so nothing is left behind after a crash;
// where the file system cannot do that, it is created with mkstemp and unlinked at once. It
// lives in the directory the caller gives (normally the state directory's staging area), else
// in $TMPDIR, else /tmp. Appends go through a fixed buffer; reads (pread) never move the append
// position, so a file can be scanned while it grows. Not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace flinkbr::io {

class Spool {
 public:
  // `dir` empty: $TMPDIR, else /tmp.
  [[nodiscard]] static Result<Spool> create(const std::string& dir);
  Spool(Spool&& other) noexcept;
  Spool& operator=(Spool&& other) noexcept;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  ~Spool();

  [[nodiscard]] Status append(std::string_view data);
  // Empties the file (to write it again).
  [[nodiscard]] Status truncate();
  // Bytes appended so far (buffered ones too).
  uint64_t size() const { return written_ + buffer_.size(); }
  // Reads up to out.size() bytes at `offset` (buffered ones too); fewer only at the end.
  [[nodiscard]] Result<size_t> read_at(uint64_t offset, std::span<char> out);

 private:
  Spool(int fd, std::string where) : fd_(fd), where_(std::move(where)) {}
  Status flush();

  int fd_ = -1;
  std::string where_;  // the directory, for error messages
  std::vector<char> buffer_;
  uint64_t written_ = 0;  // bytes in the file (not counting buffer_)
};

// Reads a spool sequentially from an offset through its own fixed buffer.
class SpoolCursor {
 public:
  SpoolCursor(Spool& spool, uint64_t offset) : spool_(spool), offset_(offset) {}
  // Fills `out` completely; false (not an error) when the spool ends before the first byte.
  // An end in the middle of `out` is an internal error (records are written whole).
  [[nodiscard]] Result<bool> read(std::span<char> out);
  uint64_t offset() const { return offset_ - (end_ - pos_); }

 private:
  Spool& spool_;
  uint64_t offset_;  // of the byte after the buffered ones
  std::vector<char> buf_;
  size_t pos_ = 0, end_ = 0;
};

}  // namespace flinkbr::io
