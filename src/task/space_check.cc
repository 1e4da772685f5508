#include "task/space_check.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>

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
                              // f_files is 0 where the file system does not count inodes (btrfs)
                              .counts_inodes = v.f_files > 0});
    }
    return it->second;
  };
  for (const auto& [source, need] : places)
    out.sources_.emplace_back(source, TRY(device_of(need.path)));
  for (const auto& need : reserved) {
    if (need.bytes == 0 && need.entries == 0) continue;
    Device& d = out.devices_[TRY(device_of(need.path))];
    d.bytes += need.bytes;
    d.entries += need.entries;
  }
  return out;
}

Status StagingSpace::admit(std::string_view source, uint64_t bytes) {
  total_ += bytes;
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
    d.bytes += bytes;
    d.entries += 1;
    if (d.bytes > d.free_bytes)
      return failed_precondition("not enough free space on the file system of " + d.path +
                                 ": the restore needs more than " + describe_bytes(d.free_bytes) +
                                 " there, which is what was free when it started");
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
