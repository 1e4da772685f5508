// Names and places of backup files (product.md, "Backup files"):
//   name:  <Version>_<DataSource>_<ExecutionTime>.tar.gz
//   place: LocalDir, LocalHDFS:  <BackupPath>/<TaskName>_<CreationTime>/<name>
//          RemoteHDFS, OBS:      <BackupPath>/<TaskName>_<DataSource>_<CreationTime>/<name>
// Times are yyyyMMddHHmmss in UTC. In the version, characters other than letters, digits, '.'
// and '-' become '-'.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/domain.h"

namespace flinkbr::archive {

std::string sanitize_version(std::string_view version);
std::string backup_file_name(std::string_view version, DataSource source, int64_t execution_time);
std::string backup_dir_name(PathType type, std::string_view task_name, DataSource source,
                            int64_t creation_time);
// <base>/<dir>/<name>, with exactly one '/' between parts whatever `base` ends with.
std::string backup_file_path(PathType type, std::string_view base, std::string_view task_name,
                             DataSource source, int64_t creation_time, std::string_view version,
                             int64_t execution_time);

struct ParsedFileName {
  std::string version;
  DataSource data_source;
  int64_t execution_time;
};
// Parses a file name (not a path); kInvalidArgument when it does not follow the pattern.
Result<ParsedFileName> parse_backup_file_name(std::string_view name);

}  // namespace flinkbr::archive
