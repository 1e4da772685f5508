// Chooses the storage driver for a path type: the one explicit list of drivers. LocalDir is
// built in; LocalHDFS, RemoteHDFS and OBS are added here by their issues.
#pragma once

#include <memory>
#include <string>

#include "common/domain.h"
#include "config/config.h"
#include "storage/storage.h"

namespace flinkbr::storage {

struct Location {
  PathType type = PathType::kLocalDir;
  std::string nameservice;
  std::string ip_mode;
  std::string namenode_ip;
};

// `cluster` gives the HDFS/OBS settings; may be null for LocalDir.
[[nodiscard]] Result<std::unique_ptr<Storage>> open_storage(const Location& location,
                                                            const config::ClusterConfig* cluster);

}  // namespace flinkbr::storage
