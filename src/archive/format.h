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
#include <functional>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace flinkbr::archive {

inline constexpr int kFormatVersion = 1;
inline constexpr std::string_view kHeaderEntry = "flinkbr-header.json";
inline constexpr std::string_view kManifestEntry = "flinkbr-manifest.json";
inline constexpr std::string_view kSourcesPrefix = "sources/";
// The largest manifest a reader accepts (a bound on what a forged file can make it spool; about
// 5 million entries). A writer refuses to finish a larger one, so that no backup is written
// that no restore would read.
inline constexpr uint64_t kMaxManifestSize = uint64_t{1} << 30;

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
  uint32_t mode = 0;   // permission bits only (0777): no setuid, setgid or sticky bit
  int64_t mtime = 0;   // seconds since the epoch
};

// A whole manifest in memory: for tests and small tools. The writer and the reader never hold
// one; they go entry by entry through the functions below, which produce and read the same text.
struct Manifest {
  int format_version = kFormatVersion;
  std::vector<ManifestEntry> entries;

  std::string to_json() const;
  static Result<Manifest> from_json(std::string_view text);
};

// The manifest text, piece by piece: manifest_begin(), then manifest_line(e, i) for entry i of
// the tar stream, then manifest_end(count). Their concatenation is Manifest::to_json().
std::string manifest_begin(int format_version = kFormatVersion);
std::string manifest_line(const ManifestEntry& e, uint64_t index);
std::string manifest_end(uint64_t count);

// Parses a manifest from `in`, one entry at a time: `on_entry(entry, index)` is called with each
// entry as soon as it is parsed, so memory does not grow with the number of entries. After the
// first entry that is invalid, or the first error of `on_entry`, no further entry is delivered
// but the text is still parsed to its end. Returns kCorruption when the text is not valid JSON,
// not an object, has another format_version or no "entries" array (in that order of
// precedence), else the first entry's error, else on_entry's.
using ManifestEntrySink = std::function<Status(ManifestEntry&& e, uint64_t index)>;
[[nodiscard]] Status parse_manifest(std::istream& in, const ManifestEntrySink& on_entry);

// A payload path is valid when it is relative, has no empty, "." or ".." component, no
// backslash, no NUL or other control character, and is at most 4096 bytes. Returns kCorruption
// naming the path otherwise. Used on both write and read.
Status validate_entry_path(std::string_view path);

}  // namespace flinkbr::archive
