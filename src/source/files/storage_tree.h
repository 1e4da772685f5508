// The `files` source for trees kept in remote storage: {"uri": "s3://bucket/prefix"},
// "obs://bucket/prefix" or "hdfs://<nameservice>/abs/path". The local tree (file://) has its own,
// faster implementation in files_source.h; this one reaches its tree only through the Storage
// interface, so every driver that implements Storage serves it.
//
// Payload layout: exactly the one of the local files source ("tree", "tree/<relpath>", depth
// first in byte-wise order), so a restore reads the same entries whatever the storage. Modes
// are what the storage reports (HDFS permissions; 0755/0644 for an object store, which keeps
// none) and mtimes are the storage's modification times.
//
// Restore, in two ways chosen by Storage::has_directories():
// - Storages with directories (HDFS): entries are staged into a sibling of the live directory,
//   "<parent>/.<base>.flinkbr-stage-<id>", with modes and mtimes applied bottom-up; commit()
//   renames live to "<parent>/.<base>.flinkbr-old-<id>", staged to live (each rename atomic on
//   the NameNode), then removes the old tree. A failed second rename puts the old tree back.
// - Object stores (OBS/S3) have no directory to rename: entries are staged on the manager's
//   disk (TaskContext::staging_dir, checked against the archive's hashes as they arrive);
//   commit() uploads the objects that are new or differ (each upload atomic: nothing carries
//   the final key before it is complete) and deletes those that the backup does not hold. A
//   commit cut short leaves a mix of old and new objects, which the task engine repairs by
//   putting its safety copy back. Empty directories cannot exist in an object store: they are
//   neither backed up nor restored.
// verify() reads every live file back and compares size and SHA-256 (and, where the storage
// keeps them, modes and file mtimes) with what was staged, and refuses files the backup does
// not hold.
#pragma once

#include <memory>

#include "config/config.h"
#include "source/metadata_source.h"

namespace flinkbr::source::files {

// Checks cfg.params for a remote tree: only "uri", with a supported scheme and a normalized
// path. kInvalidArgument naming "<key_path>.uri".
[[nodiscard]] Status validate_storage_tree_config(const config::SourceConfig& cfg);

// Builds the source; the storage is opened on first use with the cluster's settings (obs: for
// s3:// and obs://, the Hadoop configuration for hdfs://).
[[nodiscard]] Result<std::unique_ptr<MetadataSource>> create_storage_tree(
    const config::SourceConfig& cfg, const config::ClusterConfig& cluster);

}  // namespace flinkbr::source::files
