// The words of the product brief as types: data sources, path types, restoration states,
// and the yyyyMMddHHmmss (UTC) time format used in backup file names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace flinkbr {

// What a backup file holds.
enum class DataSource { kFlink, kFlinkServiceData };
std::string_view to_string(DataSource d);  // "Flink", "FlinkServiceData"
// Parses the exact spelling; kInvalidArgument naming `field` otherwise.
Result<DataSource> parse_data_source(std::string_view s, std::string_view field = "data_source");

// Where backup files live.
enum class PathType { kLocalDir, kLocalHDFS, kRemoteHDFS, kOBS };
std::string_view to_string(PathType p);  // "LocalDir", "LocalHDFS", "RemoteHDFS", "OBS"
Result<PathType> parse_path_type(std::string_view s, std::string_view field = "path_type");

// States of a restoration task (product.md): Created -> Running -> Succeeded | Failed;
// Failed -> Running on retry. Succeeded is final.
enum class RestoreState { kCreated, kRunning, kSucceeded, kFailed };
std::string_view to_string(RestoreState s);
Result<RestoreState> parse_restore_state(std::string_view s);

// Status of a backup record.
enum class BackupStatus { kRunning, kSucceeded, kFailed, kRemoved };
std::string_view to_string(BackupStatus s);
Result<BackupStatus> parse_backup_status(std::string_view s);

// Seconds since the epoch.
int64_t now_seconds();
// yyyyMMddHHmmss in UTC.
std::string format_compact_time(int64_t epoch_seconds);
Result<int64_t> parse_compact_time(std::string_view s);
// ISO 8601 UTC with a Z ("2026-11-25T04:37:12Z").
std::string format_iso_time(int64_t epoch_seconds);
// Accepts "YYYY-MM-DDTHH:MM:SS" with "Z" or "+hh:mm"/"-hh:mm"; kInvalidArgument naming field.
Result<int64_t> parse_iso_time(std::string_view s, std::string_view field);

}  // namespace flinkbr
