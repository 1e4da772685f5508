// Chooses the storage driver for a path type: the one explicit list of drivers (LocalDir: local/,
// LocalHDFS and RemoteHDFS: hdfs/, OBS: s3/). A new path type adds its driver here.
#pragma once

#include <memory>
#include <string>
#include <string_view>

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

// A tree named by a URI, as `files` sources give it: the Storage that reaches it and the path
// of its root in that driver's form.
struct UriTarget {
  std::unique_ptr<Storage> storage;
  std::string path;
  std::string scheme;  // "file", "s3", "obs", "hdfs"
};

// Splits and checks a tree URI without opening anything: file:///abs/path,
// s3://bucket/prefix, obs://bucket/prefix, hdfs://nameservice/abs/path. The path part must be
// normalized (no ".", "..", empty components, trailing '/'); `field` names the setting in
// messages. Returns {scheme, authority (bucket or NameService; empty for file), path}.
struct ParsedUri {
  std::string scheme, authority, path;
};
[[nodiscard]] Result<ParsedUri> parse_tree_uri(std::string_view uri, const std::string& field);

// Opens the storage of a tree URI with the cluster's settings (obs: for s3:// and obs://; the
// Hadoop configuration for hdfs://).
[[nodiscard]] Result<UriTarget> open_storage_for_uri(std::string_view uri,
                                                     const config::ClusterConfig& cluster,
                                                     const std::string& field);

}  // namespace flinkbr::storage
