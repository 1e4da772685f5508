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

// The NameService of LocalHDFS and RemoteHDFS when none is given.
inline constexpr std::string_view kDefaultNameService = "hacluster";

// `cluster` gives the HDFS/OBS settings; may be null for LocalDir. LocalHDFS resolves the
// NameService (default hacluster) through the cluster's hadoop_conf_dir; RemoteHDFS talks to the
// given NameNode address (checked against the IP mode) and fails over to the other NameNodes of
// the NameService when the Hadoop configuration knows it. Nothing is contacted here: a wrong
// address or user shows on the first request.
[[nodiscard]] Result<std::unique_ptr<Storage>> open_storage(const Location& location,
                                                            const config::ClusterConfig* cluster);

// "hdfs://<nameservice>/path" for an HDFS location (a path already in that form is kept): the
// form backup records give.
std::string hdfs_uri(const Location& location, const std::string& path);

}  // namespace flinkbr::storage
