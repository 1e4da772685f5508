// The storage driver of the LocalHDFS and RemoteHDFS path types, over the WebHDFS client.
//
// Paths are absolute HDFS paths ("/flinkbr/backup/x.tar.gz"); the full form
// "hdfs://<nameservice>/flinkbr/backup/x.tar.gz" that backup records carry is accepted too when
// its NameService is the driver's. Paths the driver returns (list) are plain absolute paths.
//
// - open_read: GETFILESTATUS, then OPEN of read_chunk bytes at a time into one buffer (the
//   memory bound). A transfer cut short resumes at the offset reached.
// - open_write: the data goes to "<dir>/.<name>.<random>.flinkbr-tmp": CREATE with the first
//   write_chunk bytes, then one APPEND per further chunk (the memory bound). A transfer that
//   breaks is retried from the length the temporary file reached (GETFILESTATUS), so nothing is
//   written twice. finish() renames the temporary file to the final name (the rename is the
//   commit); a writer destroyed unfinished, or whose commit fails, deletes it.
// - remove: DELETE (not recursive); rename: RENAME, creating the destination's parent.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"
#include "storage/hdfs/webhdfs_client.h"
#include "storage/storage.h"

namespace flinkbr::storage {

struct HdfsDriverOptions {
  hdfs::WebHdfsOptions client;
  std::string kind = "LocalHDFS";        // "LocalHDFS" or "RemoteHDFS", for messages
  size_t read_chunk = size_t{4} << 20;   // bytes per OPEN (the reader's buffer)
  size_t write_chunk = size_t{8} << 20;  // bytes per CREATE/APPEND (the writer's buffer)
};

[[nodiscard]] Result<std::unique_ptr<StorageDriver>> make_hdfs_driver(HdfsDriverOptions options);

// "/a//b/" -> "/a/b"; "hdfs://<nameservice>/a" -> "/a". kInvalidArgument (field "path") for a
// relative path, "." or ".." components, or another NameService.
[[nodiscard]] Result<std::string> normalize_hdfs_path(const std::string& path,
                                                      const std::string& nameservice);

}  // namespace flinkbr::storage
