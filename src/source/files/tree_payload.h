// The payload layout that both files sources write and read (docs/archive-format.md):
//   tree             directory entry for the root itself
//   tree/<relpath>   every directory and regular file below it, parents before children
// and the check of each entry a restore stages, shared so that a local tree and a remote one
// refuse exactly the same archives; also the source's one setting, "uri".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "archive/archive_reader.h"
#include "common/result.h"
#include "config/config.h"

namespace flinkbr::source::files {

inline constexpr std::string_view kTree = "tree";
inline constexpr std::string_view kTreePrefix = "tree/";

// What a restore staged for one entry.
struct TreeRecord {
  archive::EntryType type = archive::EntryType::kFile;
  uint64_t size = 0;
  std::string sha256;  // files only
  uint32_t mode = 0;
  int64_t mtime = 0;
};

// Checks an entry against what was staged before it: the root once and as a directory, then
// valid relative paths below it, each once, each after its parent directory. Returns the path
// below the root ("" for the root itself), or kCorruption naming the entry.
[[nodiscard]] Result<std::string> check_tree_entry(const archive::Entry& entry, bool have_root,
                                                   const std::map<std::string, TreeRecord>& staged);

// "<key_path>.<key>": how messages name a setting of the source.
std::string field_name(const config::SourceConfig& cfg, std::string_view key);

// The one setting of a files source, "uri", as written (unknown or missing keys refused, naming
// them); the caller parses it.
[[nodiscard]] Result<std::string> uri_setting(const config::SourceConfig& cfg);

}  // namespace flinkbr::source::files
