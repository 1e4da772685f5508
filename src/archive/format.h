// The backup file format (docs/archive-format.md is the reference for humans).
//
// A backup file is a gzip-compressed POSIX (pax) tar stream:
//   1. "flinkbr-header.json"   -- Header: format version, system version, data source, cluster,
//                                 execution time, the list of sources. First, so a restore can
//                                 refuse a wrong version after reading a few hundred bytes.
//   2. "sources/<source>/..."   -- the payload of each source, source by source; the layout
//                                 under each prefix belongs to the source kind.
//   3. "flinkbr-manifest.json" -- Manifest: every payload entry with type, size, SHA-256, mode
//                                 and mtime. Last; nothing may follow it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace flinkbr::archive {

inline constexpr int kFormatVersion = 1;
inline constexpr std::string_view kHeaderEntry = "flinkbr-header.json";
inline constexpr std::string_view kManifestEntry = "flinkbr-manifest.json";
inline constexpr std::string_view kSourcesPrefix = "sources/";

struct SourceDescriptor {
  std::string name;      // source name from the configuration
  std::string kind;      // "files", "zookeeper", "postgres"
  std::string location;  // "file:///opt/flink/conf", "zk1:2181/flink/prod", ...
};

struct Header {
  int format_version = kFormatVersion;
  std::string system_version;
  std::string data_source;  // "Flink" | "FlinkServiceData"
  std::string cluster;
  std::string execution_time;  // yyyyMMddHHmmss UTC
  std::string tool_version;
  std::vector<SourceDescriptor> sources;

  std::string to_json() const;
  // kCorruption with the reason when the text is not a header this version can read.
  static Result<Header> from_json(std::string_view text);
};

enum class EntryType { kFile, kDirectory };

// One payload entry as it appears in the manifest. Paths are relative, '/'-separated, without
// a trailing slash, and start with "sources/<source>/".
struct ManifestEntry {
  std::string path;
  EntryType type = EntryType::kFile;
  uint64_t size = 0;   // 0 for directories
  std::string sha256;  // lower-case hex; empty for directories
  uint32_t mode = 0;   // permission bits (07777)
  int64_t mtime = 0;   // seconds since the epoch
};

struct Manifest {
  int format_version = kFormatVersion;
  std::vector<ManifestEntry> entries;

  std::string to_json() const;
  static Result<Manifest> from_json(std::string_view text);
};

// A payload path is valid when it is relative, has no empty, "." or ".." component, no
// backslash, no NUL or other control character, and is at most 4096 bytes. Returns kCorruption
// naming the path otherwise. Used on both write and read.
Status validate_entry_path(std::string_view path);

}  // namespace flinkbr::archive
