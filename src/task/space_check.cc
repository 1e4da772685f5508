#include "task/space_check.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <utility>

namespace flinkbr::task {

namespace {

// The nearest existing ancestor of `path` (itself when it exists), with its stat.
Result<std::pair<std::string, struct stat>> existing_ancestor(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  for (;;) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) return std::pair{p.string(), st};
    if (errno != ENOENT && errno != ENOTDIR) return errno_error("examining " + p.string(), errno);
    if (!p.has_relative_path()) return errno_error("examining " + path, ENOENT);
    p = p.parent_path();
  }
}

// Process-wide: what the StagingSpaces alive in this daemon have reserved and admitted, per file
// system. `admitted` only grows, so that a staging counts what the others admitted since it
// measured (before, it was on the disk when it measured); `live` holds what each has not written
// yet: its reservations (the safety copy) and the entry it is writing.
struct Ledger {
  struct Pending {
    uint64_t reserved = 0, last = 0;
  };
  std::mutex mu;
  uint64_t next_id = 1;
  std::map<dev_t, uint64_t> admitted;
  std::map<uint64_t, std::map<dev_t, Pending>> live;
};

Ledger& ledger() {
  static Ledger l;
  return l;
}

struct FileSystem {
  std::string path;  // the first existing path seen on it, for the message
  uint64_t needed = 0;
  std::string what;  // "staging source 'conf': 5.0 MiB (...), the safety copy: ..."
  uint64_t entries = 0;
  std::string what_entries;  // "staging source 'conf': 20000 entries, ..."
};

}  // namespace

std::string describe_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f %s (%llu bytes)", v, kUnits[unit],
                static_cast<unsigned long long>(bytes));
  return buf;
}

Status check_free_space(const std::vector<SpaceNeed>& needs) {
  std::map<dev_t, FileSystem> by_device;
  std::vector<dev_t> order;  // report in the order of the needs
  for (const auto& need : needs) {
    if (need.bytes == 0 && need.entries == 0) continue;
    auto [path, st] = TRY(existing_ancestor(need.path));
    auto [it, inserted] = by_device.try_emplace(st.st_dev, FileSystem{.path = path});
    if (inserted) order.push_back(st.st_dev);
    FileSystem& fs = it->second;
    if (need.bytes > 0) {
      fs.needed += need.bytes;
      if (!fs.what.empty()) fs.what += ", ";
      fs.what += need.what + ": " + describe_bytes(need.bytes);
    }
    if (need.entries > 0) {
      fs.entries += need.entries;
      if (!fs.what_entries.empty()) fs.what_entries += ", ";
      fs.what_entries += need.what + ": " + std::to_string(need.entries);
    }
  }
  for (dev_t dev : order) {
    const FileSystem& fs = by_device[dev];
    struct statvfs v {};
    if (::statvfs(fs.path.c_str(), &v) != 0)
      return errno_error("examining the free space of " + fs.path, errno);
    const uint64_t free_bytes = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
    if (fs.needed > free_bytes)
      return failed_precondition("not enough free space on the file system of " + fs.path +
                                 ": the restore needs " + describe_bytes(fs.needed) + " there (" +
                                 fs.what + "), " + describe_bytes(free_bytes) + " are free");
    // f_files is 0 where the file system does not count inodes (btrfs): nothing to compare.
    if (v.f_files > 0 && fs.entries > static_cast<uint64_t>(v.f_favail))
      return failed_precondition("not enough free inodes on the file system of " + fs.path +
                                 ": the restore creates " + std::to_string(fs.entries) +
                                 " files and directories there (" + fs.what_entries + "), " +
                                 std::to_string(v.f_favail) + " inodes are free");
  }
  return ok();
}

Result<StagingSpace> StagingSpace::measure(
    const std::vector<std::pair<std::string, SpaceNeed>>& places,
    const std::vector<SpaceNeed>& reserved, uint64_t max_bytes) {
  StagingSpace out;
  out.max_bytes_ = max_bytes;
  std::map<dev_t, size_t> index;
  auto device_of = [&](const std::string& path) -> Result<size_t> {
    auto [existing, st] = TRY(existing_ancestor(path));
    auto [it, inserted] = index.try_emplace(st.st_dev, out.devices_.size());
    if (inserted) {
      struct statvfs v {};
      if (::statvfs(existing.c_str(), &v) != 0)
        return errno_error("examining the free space of " + existing, errno);
      out.devices_.push_back({.path = existing,
                              .free_bytes = static_cast<uint64_t>(v.f_bavail) * v.f_frsize,
                              .free_entries = static_cast<uint64_t>(v.f_favail),
                              .block = static_cast<uint64_t>(v.f_frsize),
                              // f_files is 0 where the file system does not count inodes (btrfs)
                              .counts_inodes = v.f_files > 0,
                              .dev = st.st_dev});
    }
    return it->second;
  };
  for (const auto& [source, need] : places)
    out.sources_.emplace_back(source, TRY(device_of(need.path)));
  for (const auto& need : reserved) {
    if (need.bytes == 0 && need.entries == 0) continue;
    Device& d = out.devices_[TRY(device_of(need.path))];
    d.bytes += need.bytes;
    d.reserved += need.bytes;
    d.entries += need.entries;
  }
  Ledger& l = ledger();
  std::lock_guard g(l.mu);
  out.id_ = l.next_id++;
  auto& mine = l.live[out.id_];
  for (Device& d : out.devices_) {
    for (const auto& [id, pending] : l.live)
      if (auto it = pending.find(d.dev); id != out.id_ && it != pending.end())
        d.others += it->second.reserved + it->second.last;
    d.free_bytes -= std::min(d.free_bytes, d.others);
    d.base = l.admitted[d.dev];
    mine[d.dev].reserved = d.reserved;
  }
  return out;
}

StagingSpace::StagingSpace(StagingSpace&& o) noexcept
    : devices_(std::move(o.devices_)),
      sources_(std::move(o.sources_)),
      max_bytes_(o.max_bytes_),
      total_(o.total_),
      id_(std::exchange(o.id_, 0)) {}

StagingSpace& StagingSpace::operator=(StagingSpace&& o) noexcept {
  if (this == &o) return *this;
  release();
  devices_ = std::move(o.devices_);
  sources_ = std::move(o.sources_);
  max_bytes_ = o.max_bytes_;
  total_ = o.total_;
  id_ = std::exchange(o.id_, 0);
  return *this;
}

StagingSpace::~StagingSpace() {
  release();
}

void StagingSpace::release() {
  if (id_ == 0) return;
  Ledger& l = ledger();
  std::lock_guard g(l.mu);
  l.live.erase(std::exchange(id_, 0));
}

void StagingSpace::staging_done() {
  if (id_ == 0) return;
  Ledger& l = ledger();
  std::lock_guard g(l.mu);
  for (auto& [dev, pending] : l.live[id_]) pending.last = 0;
}

Status StagingSpace::admit(std::string_view source, uint64_t bytes) {
  return admit_on_disk(source, bytes, /*directory=*/false, /*in_blocks=*/false);
}

Status StagingSpace::admit(std::string_view source, const archive::Entry& entry) {
  return admit_on_disk(source, entry.size, entry.type == archive::EntryType::kDirectory,
                       /*in_blocks=*/true);
}

Status StagingSpace::admit_on_disk(std::string_view source, uint64_t size, bool directory,
                                   bool in_blocks) {
  total_ += size;
  if (max_bytes_ > 0 && total_ > max_bytes_)
    return failed_precondition(
        "the backup file expands to more than restore.max_expanded_bytes "
        "allows (" +
        describe_bytes(max_bytes_) +
        "): its entries so far "
        "hold " +
        describe_bytes(total_));
  for (const auto& [name, i] : sources_) {
    if (name != source) continue;
    Device& d = devices_[i];
    uint64_t on_disk = size;
    if (in_blocks && d.block > 0)
      on_disk = directory ? d.block : (size + d.block - 1) / d.block * d.block;
    uint64_t others = 0;  // what the other stagings admitted here since this one measured
    {
      Ledger& l = ledger();
      std::lock_guard g(l.mu);
      uint64_t& admitted = l.admitted[d.dev];
      others = admitted - d.base - d.own;
      if (d.bytes + on_disk + others > d.free_bytes) {
        std::string blocks;
        if (d.bytes + on_disk - d.reserved > d.data + size)
          blocks = " (the entries staged so far hold " + describe_bytes(d.data + size) +
                   " but take " + describe_bytes(d.bytes + on_disk - d.reserved) +
                   " in whole blocks of " + std::to_string(d.block) + " bytes)";
        std::string shared;
        if (others + d.others > 0)
          shared = ", less " + describe_bytes(others + d.others) +
                   " that other restorations or previews staging there at the same time write";
        return failed_precondition(
            "not enough free space on the file system of " + d.path +
            ": the restore needs more than " + describe_bytes(d.free_bytes + d.others) +
            " there, which is what was free when it started" + shared + blocks);
      }
      admitted += on_disk;
      d.own += on_disk;
      if (id_ != 0) l.live[id_][d.dev].last = on_disk;
    }
    d.bytes += on_disk;
    d.data += size;
    d.entries += 1;
    if (d.counts_inodes && d.entries > d.free_entries)
      return failed_precondition("not enough free inodes on the file system of " + d.path +
                                 ": the restore creates more than the " +
                                 std::to_string(d.free_entries) +
                                 " files and directories there "
                                 "that were free when it started");
    return ok();
  }
  return ok();  // staged on no local file system
}

Status check_expanded_size(const archive::ArchiveSummary& summary, uint64_t max_bytes) {
  if (max_bytes == 0) return ok();
  uint64_t total = 0;
  for (const auto& s : summary.sources) total += s.bytes;
  if (total > max_bytes)
    return failed_precondition("the backup file expands to " + describe_bytes(total) +
                               ", more than restore.max_expanded_bytes allows (" +
                               describe_bytes(max_bytes) + ")");
  return ok();
}

}  // namespace flinkbr::task
