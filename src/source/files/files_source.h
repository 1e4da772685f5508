// The `files` metadata source on the manager's own disk: a directory tree (HA storageDir, conf
// dir, job archive dir, UDF jars) configured as {"uri": "file:///abs/path"}. Trees on HDFS or in
// object storage (hdfs://, s3://, obs://) are served by files/storage_tree.h with the same
// payload layout; the registry picks one by the URI's scheme.
//
// Payload layout, under the source's prefix "sources/<name>/" (docs/archive-format.md):
//   tree             directory entry for the root itself (its mode and mtime)
//   tree/<relpath>   every directory (empty ones too) and regular file below it, with mode
//                    (& 07777) and mtime (seconds), in tree order (tree_payload.h: depth
//                    first, names sorted byte-wise)
// Symbolic links, sockets, FIFOs and devices are not backed up (a log line names each).
//
// Restore stages the tree into a sibling of the live directory, "<parent>/.<base>.flinkbr-stage-
// <ctx.id>" (same file system, so the switch is a rename), sets each directory's mode and mtime
// as the walk leaves it and syncs it; it keeps only the chain of open directories in memory and
// spools a record per entry to an unnamed file, which diff() and verify() merge with a walk of
// the live tree. commit() swaps staged and live in one atomic exchange (renameat2 RENAME_EXCHANGE)
// where the file system supports it, otherwise renames live to "<parent>/.<base>.flinkbr-old-
// <ctx.id>" and staged to live; then syncs the parent and removes the old tree. When running as
// root, the restored tree takes the owner of the live directory it replaces.
//
// Not thread-safe: one task thread uses a source and its StagedRestore at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "source/metadata_source.h"

namespace flinkbr::source::files {

inline constexpr std::string_view kKind = "files";

// Checks cfg.params: only "uri", a file:// URI with an absolute, normalized path (no ".", "..",
// empty components or trailing slash; not "/"). kInvalidArgument naming "<key_path>.<key>".
[[nodiscard]] Status validate_config(const config::SourceConfig& cfg);

// Builds the source; validates first.
[[nodiscard]] Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg);

// Tests only: makes commit() take the two-rename path, as on a file system without
// RENAME_EXCHANGE. Process-wide.
void use_rename_exchange_for_testing(bool enabled);

}  // namespace flinkbr::source::files
