// TreeReadAhead: the backup's walk of a live tree, read ahead on a thread of its own. The thread
// walks the tree in tree order (tree_payload.h: depth first, names sorted byte-wise), opens
// each regular file, reads it whole into a bounded ring of memory and hashes it (SHA-256) as
// it reads; the task's thread takes the entries in the same order and writes them to the
// archive. So the system calls and the hashing of one file overlap with the archiving and
// compression of the ones before it: on one thread they were half of a backup's CPU time and
// the stage the others waited for.
//
// What the walk checks is what the backup checked before the split: a file is read from the
// descriptor it was opened with (O_NOFOLLOW, never through a link), its size and mtime are the
// ones of that descriptor, it must yield exactly its size and have the same size and mtime
// after the read ("changed while being read" otherwise, retryable), a file modified in the last
// second is given up to half a second to settle, an entry that vanishes between the listing
// and its opening is skipped with a log line, and a directory's attributes are those of the
// opened directory. The directory listing's entry type spares a stat of each file (the open
// descriptor's fstat gives its attributes) and of each directory; an entry whose type is not
// given or which changed since the listing gets the old lstat path.
//
// Memory: the ring (4 MiB) and the directories being walked; a big file passes in pieces.
// Errors are values: the walk's first error ends the stream and is returned by next() or by
// the file's data reader, after the entries before it. Destroying the object stops the thread
// and joins it. One consumer thread calls next() and data().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "common/result.h"
#include "io/stream.h"
#include "source/metadata_source.h"

namespace flinkbr::source::files {

// What a tree entry that is neither a file nor a directory is, for messages: "symbolic link",
// "socket", "FIFO", "character device", "block device", "special file".
const char* what_of_mode(mode_t mode);

struct LiveEntry {
  enum Kind { kDir, kFile, kOther, kEnd };
  Kind kind = kEnd;
  std::string rel;    // below the root; "" for the root itself
  uint32_t mode = 0;  // & 07777
  uint64_t size = 0;
  int64_t mtime = 0;
  std::string what;     // kOther: "symbolic link", "socket", ...
  bool pinned = false;  // kFile: in the pinned set, not read (its pinned copy is written)
};

struct ReadAheadOptions {
  std::string root;
  std::set<std::string> pinned;      // regular files below the root not to read
  const TaskContext* ctx = nullptr;  // cancellation; its log is called from next() only
  std::string log_prefix;
};

class TreeReadAhead {
 public:
  // Starts the walk of options.root.
  [[nodiscard]] static Result<std::unique_ptr<TreeReadAhead>> start(ReadAheadOptions options);
  ~TreeReadAhead();
  TreeReadAhead(const TreeReadAhead&) = delete;
  TreeReadAhead& operator=(const TreeReadAhead&) = delete;

  // The next entry in tree order (kind kEnd after the last). An unread rest of the previous
  // file's data is skipped. Log lines of the walk (vanished entries) go to ctx->log here.
  [[nodiscard]] Result<LiveEntry> next();
  // The data of the kFile entry next() returned (not pinned): exactly its size, then end of
  // stream; hashes_sha256() and lends() hold. Valid until the next call of next().
  io::Reader& data();

  struct State;

 private:
  explicit TreeReadAhead(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::unique_ptr<io::Reader> reader_;
};

}  // namespace flinkbr::source::files
