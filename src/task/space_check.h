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

#include <sys/types.h>

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
// staging wrote there since. Several stagings may run at once in one daemon (restorations of
// different clusters, a preview beside a restoration) and share a file system (the state
// directory holds every zookeeper and postgres staging and every safety copy): each counts, on
// top of its own writes, what the others alive in this process reserved and admitted, so that
// together they cannot fill a file system each alone fits on (issue 18 attack review). Not
// thread-safe (one task thread); the process-wide ledger behind it is.
class StagingSpace {
 public:
  StagingSpace(StagingSpace&& o) noexcept;
  StagingSpace& operator=(StagingSpace&& o) noexcept;
  ~StagingSpace();  // what it reserved is no longer counted by the others
  // `places`: where each source stages (SpaceNeed::what names it, bytes and entries 0), by source
  // name; sources staged on no local file system are left out. `reserved`: what is written later
  // on these file systems but known now (the safety copy). `max_bytes`: restore.max_expanded_bytes
  // (0: no cap).
  [[nodiscard]] static Result<StagingSpace> measure(
      const std::vector<std::pair<std::string, SpaceNeed>>& places,
      const std::vector<SpaceNeed>& reserved, uint64_t max_bytes);
  // Before an entry of `source` of `bytes` bytes is staged: kFailedPrecondition, with the numbers
  // so far, when it would pass the cap or what its file system had free (bytes or inodes). The
  // bytes are counted on the file system as given.
  [[nodiscard]] Status admit(std::string_view source, uint64_t bytes);
  // The same for an archive entry, counted on its file system as it takes room there: a file in
  // whole blocks (f_frsize) and a directory as one block. A file of a thousand one-byte entries
  // lists a kilobyte and takes four megabytes; counted by their sizes, they fill a small file
  // system before any limit refuses them (issue 18 attack review). The cap counts sizes.
  [[nodiscard]] Status admit(std::string_view source, const archive::Entry& entry);
  // The staging ended: what it admitted is on the disk, which later measures see; the
  // reservations stay counted until this is destroyed (after the safety copy was written).
  void staging_done();

 private:
  StagingSpace() = default;
  void release();  // out of the ledger
  struct Device {
    std::string path;  // the first existing path seen on it, for the message
    uint64_t free_bytes = 0, free_entries = 0;
    uint64_t block = 0;  // f_frsize: the unit a file's data takes room in
    bool counts_inodes = false;
    uint64_t bytes = 0, entries = 0;  // reserved, then staged (in blocks for entries)
    uint64_t data = 0;                // the staged entries' sizes, for the message
    uint64_t reserved = 0;            // of `bytes`: what `reserved` asked for at the start
    dev_t dev = 0;
    uint64_t base = 0;    // the ledger's admissions on this file system when measured
    uint64_t own = 0;     // of the ledger's admissions since: this staging's
    uint64_t others = 0;  // the other stagings' pending writes when measured, taken off free
  };
  Status admit_on_disk(std::string_view source, uint64_t size, bool directory, bool in_blocks);
  std::vector<Device> devices_;
  std::vector<std::pair<std::string, size_t>> sources_;  // source name -> index in devices_
  uint64_t max_bytes_ = 0;
  uint64_t total_ = 0;
  uint64_t id_ = 0;  // in the process-wide ledger; 0: not registered (moved from)
};

// "6.0 GiB (6442450944 bytes)": the size for humans, then exact.
std::string describe_bytes(uint64_t bytes);

}  // namespace flinkbr::task
