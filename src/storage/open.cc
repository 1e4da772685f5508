#include "storage/open.h"

#include <pwd.h>
#include <unistd.h>

#include "storage/hdfs/hadoop_conf.h"
#include "storage/hdfs/hdfs_driver.h"
#include "storage/hdfs/remote.h"
#include "storage/local/local_driver.h"
#include "storage/s3/s3_driver.h"

namespace flinkbr::storage {

namespace {

// The user.name of simple authentication: hdfs_user, else the daemon's OS user, as the Hadoop
// client does.
std::string hdfs_user(const config::ClusterConfig& cluster) {
  if (!cluster.hdfs_user.empty()) return cluster.hdfs_user;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name) return pw->pw_name;
  return "flinkbr";
}

hdfs::WebHdfsOptions client_options(const config::ClusterConfig& cluster, std::string nameservice) {
  hdfs::WebHdfsOptions o;
  o.nameservice = std::move(nameservice);
  o.kerberos = cluster.hdfs_auth == "kerberos";
  o.user = hdfs_user(cluster);
  o.ca_file = cluster.hdfs_ca_file;
  return o;
}

Result<std::unique_ptr<Storage>> open_local_hdfs(const Location& location,
                                                 const config::ClusterConfig& cluster) {
  const std::string ns =
      location.nameservice.empty() ? std::string(kDefaultNameService) : location.nameservice;
  auto conf = TRY(hdfs::load_hadoop_conf(cluster.hadoop_conf_dir));
  auto namenodes = hdfs::resolve_nameservice(conf, ns);
  if (!namenodes) {
    if (namenodes.error().code == Errc::kNotFound)
      return invalid_argument("nameservice", namenodes.error().message);
    return std::unexpected(namenodes.error());
  }
  HdfsDriverOptions options{.client = client_options(cluster, ns), .kind = "LocalHDFS"};
  for (const auto& nn : *namenodes) options.client.namenodes.push_back(nn.url);
  return std::make_unique<Storage>(TRY(make_hdfs_driver(std::move(options))));
}

Result<std::unique_ptr<Storage>> open_remote_hdfs(const Location& location,
                                                  const config::ClusterConfig& cluster) {
  const std::string ns =
      location.nameservice.empty() ? std::string(kDefaultNameService) : location.nameservice;
  auto address = TRY(
      hdfs::parse_namenode_address(location.namenode_ip, location.ip_mode, cluster.webhdfs_port));
  HdfsDriverOptions options{.client = client_options(cluster, ns), .kind = "RemoteHDFS"};
  const std::string given = cluster.webhdfs_scheme + "://" + address.authority();
  options.client.namenodes.push_back(given);
  // The given NameNode first; the other NameNodes of the NameService, when the Hadoop
  // configuration knows it, for fail-over from a standby NameNode.
  bool known = false;
  if (!cluster.hadoop_conf_dir.empty()) {
    if (auto conf = hdfs::load_hadoop_conf(cluster.hadoop_conf_dir);
        conf && hdfs::knows_nameservice(*conf, ns)) {
      if (auto nns = hdfs::resolve_nameservice(*conf, ns)) {
        known = true;
        for (const auto& nn : *nns)
          if (nn.url != given) options.client.namenodes.push_back(nn.url);
      }
    }
  }
  if (!known)
    options.client.all_standby_hint =
        "NameService '" + ns +
        "' is not in the cluster's Hadoop configuration (hadoop_conf_dir), so its active "
        "NameNode is unknown: give the active NameNode's address, or add the NameService to "
        "hdfs-site.xml";
  return std::make_unique<Storage>(TRY(make_hdfs_driver(std::move(options))));
}

}  // namespace

Result<std::unique_ptr<Storage>> open_storage(const Location& location,
                                              const config::ClusterConfig* cluster) {
  switch (location.type) {
    case PathType::kLocalDir:
      return std::make_unique<Storage>(make_local_driver());
    case PathType::kOBS: {
      if (!cluster || cluster->obs.endpoint.empty()) {
        return invalid_argument("obs.endpoint", "the cluster has no OBS endpoint (obs.endpoint)");
      }
      return std::make_unique<Storage>(TRY(make_s3_driver(cluster->obs)));
    }
    case PathType::kLocalHDFS:
      if (!cluster) return invalid_argument("cluster", "LocalHDFS needs a cluster");
      return open_local_hdfs(location, *cluster);
    case PathType::kRemoteHDFS:
      if (!cluster) return invalid_argument("cluster", "RemoteHDFS needs a cluster");
      return open_remote_hdfs(location, *cluster);
  }
  return failed_precondition("path type " + std::string(to_string(location.type)) +
                             " is not supported by this build");
}

std::string hdfs_uri(const Location& location, const std::string& path) {
  const std::string ns =
      location.nameservice.empty() ? std::string(kDefaultNameService) : location.nameservice;
  if (path.starts_with("hdfs://")) return path;
  return "hdfs://" + ns + path;
}

}  // namespace flinkbr::storage
