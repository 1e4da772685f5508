// The payload layout that both files sources write and read (docs/archive-format.md):
//   tree             directory entry for the root itself
//   tree/<relpath>   every directory and regular file below it, in tree order (below)
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
#include "source/metadata_source.h"

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

// The order both files sources write a tree in, and the order in which the local source walks
// a live tree: depth first, the names of a directory sorted byte-wise, every directory
// followed at once by everything below it. As a comparison of relative paths it is byte-wise
// with '/' below every other byte ("a", "a/b", "a-c"; plain byte order would put "a-c" before
// "a/b").
bool tree_order_less(std::string_view a, std::string_view b);

// Checks the form of an entry: the root once and as a directory, then valid relative paths
// below it. Returns the path below the root ("" for the root itself), or kCorruption naming
// the entry. Whether each path comes once and after its parent directory is the caller's to
// check (the local source lets the file system tell).
[[nodiscard]] Result<std::string> check_tree_path(const archive::Entry& entry, bool have_root);

// check_tree_path, and the rest against what was staged before it: each path once, each
// after its parent directory.
[[nodiscard]] Result<std::string> check_tree_entry(const archive::Entry& entry, bool have_root,
                                                   const std::map<std::string, TreeRecord>& staged);

// The refusals of check_tree_entry, shared with the local source's own checks.
[[nodiscard]] std::unexpected<Error> entry_twice(const archive::Entry& entry);
[[nodiscard]] std::unexpected<Error> entry_without_parent(const archive::Entry& entry);

// The refusal of a payload without its root entry.
[[nodiscard]] std::unexpected<Error> missing_root();

// The checks both files sources make of a payload while staging it, without staging it
// (PayloadCheck): check_tree_path, each entry after its parent directory, the root present.
// Duplicates and entries under a file the archive reader refuses before. Memory: the chain of
// open directories for a payload in tree order; the paths of all its directories otherwise
// (spooled in `spool_dir` meanwhile, as io::Spool::create takes it).
[[nodiscard]] Result<std::unique_ptr<PayloadCheck>> make_payload_check(
    const std::string& spool_dir);

// "<key_path>.<key>": how messages name a setting of the source.
std::string field_name(const config::SourceConfig& cfg, std::string_view key);

// The one setting of a files source, "uri", as written (unknown or missing keys refused, naming
// them); the caller parses it.
[[nodiscard]] Result<std::string> uri_setting(const config::SourceConfig& cfg);

}  // namespace flinkbr::source::files
