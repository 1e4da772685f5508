// Free space before a restore stages anything (issue 16, point 4). A backup file of a few MB may
// expand to GiB (its manifest lists the sizes honestly): staging it on a file system without room
// fills the disk of the live tree or of the state directory. The restore's check step lists what
// it will write where (each source's staged payload, spools in the staging directory, the safety
// copy) and refuses, with the numbers, when one file system cannot hold its share; an optional
// hard cap bounds the expanded size whatever the disks hold.
//
// The restore's verify step calls check_expanded_size(summary, cap) and check_free_space(needs)
// once the manifest (which ends the file) has confirmed the sizes, before the safety copy and
// the staging write anything (restore_run.cc, check_space).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "archive/archive_reader.h"
#include "common/result.h"

namespace flinkbr::task {

// One thing a restore will write, and where.
struct SpaceNeed {
  std::string what;  // "staging source 'conf'", "the safety copy"
  // A directory on the file system that must hold it. It need not exist yet: its nearest
  // existing ancestor tells the file system.
  std::string path;
  uint64_t bytes = 0;
  // Files and directories it creates there: each takes an inode, and a file system can run out
  // of them long before it runs out of bytes (a file of a million empty entries).
  uint64_t entries = 0;
};

// Sums the needs per file system (by device) and compares each sum with the space free there to
// an unprivileged writer (statvfs f_bavail), and the entries with its free inodes (f_favail, on
// file systems that count them). kFailedPrecondition on the first file system that lacks room,
// naming it, the bytes or entries needed and free, and what needs them; kIOError when a path's
// file system cannot be examined. Thread-safe; reads only.
[[nodiscard]] Status check_free_space(const std::vector<SpaceNeed>& needs);

// kFailedPrecondition when the payload the manifest lists (all sources) exceeds `max_bytes`
// (restore.max_expanded_bytes); 0 means no cap.
[[nodiscard]] Status check_expanded_size(const archive::ArchiveSummary& summary,
                                         uint64_t max_bytes);

// "6.0 GiB (6442450944 bytes)": the size for humans, then exact.
std::string describe_bytes(uint64_t bytes);

}  // namespace flinkbr::task
