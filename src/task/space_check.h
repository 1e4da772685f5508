// Free space before a restore stages anything (issue 16, point 4). A backup file of a few MB may
// expand to GiB (its manifest lists the sizes honestly): staging it on a file system without room
// fills the disk of the live tree or of the state directory. The restore's check step lists what
// it will write where (each source's staged payload, spools in the staging directory, the safety
// copy) and refuses, with the numbers, when one file system cannot hold its share; an optional
// hard cap bounds the expanded size whatever the disks hold.
//
// The restore's verify step reads the file once and stages it while it checks it (issue 18), so
// the sizes the manifest lists (at the end of the file) are known only once everything was staged.
// A StagingSpace therefore counts what the staging writes, entry by entry, against what each
// file system had free when the step started (less what the safety copy will need there), and
// stops the staging at the first entry that would not fit, before it is written. The restore
// then reads the rest of the file without staging and reports, with the manifest's totals, the
// refusal check_free_space(needs) and check_expanded_size(summary, cap) give
// (restore_run.cc, space_needs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
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

// What each file system a restore stages on had free when the staging started, and what the
// staging wrote there since. Not thread-safe (one task thread).
class StagingSpace {
 public:
  // `places`: where each source stages (SpaceNeed::what names it, bytes and entries 0), by source
  // name; sources staged on no local file system are left out. `reserved`: what is written later
  // on these file systems but known now (the safety copy). `max_bytes`: restore.max_expanded_bytes
  // (0: no cap).
  [[nodiscard]] static Result<StagingSpace> measure(
      const std::vector<std::pair<std::string, SpaceNeed>>& places,
      const std::vector<SpaceNeed>& reserved, uint64_t max_bytes);
  // Before an entry of `source` of `bytes` bytes is staged: kFailedPrecondition, with the numbers
  // so far, when it would pass the cap or what its file system had free (bytes or inodes).
  [[nodiscard]] Status admit(std::string_view source, uint64_t bytes);

 private:
  struct Device {
    std::string path;  // the first existing path seen on it, for the message
    uint64_t free_bytes = 0, free_entries = 0;
    bool counts_inodes = false;
    uint64_t bytes = 0, entries = 0;  // reserved, then staged
  };
  std::vector<Device> devices_;
  std::vector<std::pair<std::string, size_t>> sources_;  // source name -> index in devices_
  uint64_t max_bytes_ = 0;
  uint64_t total_ = 0;
};

// "6.0 GiB (6442450944 bytes)": the size for humans, then exact.
std::string describe_bytes(uint64_t bytes);

}  // namespace flinkbr::task
