#include "storage/open.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

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

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<ParsedUri> parse_tree_uri(std::string_view uri, const std::string& field) {
  auto bad = [&](std::string why) { return invalid_argument(field, std::move(why)); };
  const std::string shown = "'" + std::string(uri) + "'";
  auto scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos)
    return bad(shown +
               " is not a URI; expected file:///path, hdfs://nameservice/path, "
               "s3://bucket/prefix or obs://bucket/prefix");
  ParsedUri out;
  out.scheme = std::string(uri.substr(0, scheme_end));
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (out.scheme != "file" && out.scheme != "hdfs" && out.scheme != "s3" && out.scheme != "obs")
    return bad(shown + " has the unsupported scheme " + out.scheme +
               "://; expected file://, hdfs://, s3:// or obs://");
  std::string_view rest = uri.substr(scheme_end + 3);
  for (char c : rest) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return bad(shown + " contains a control character");
    if (c == '?' || c == '#') return bad(shown + " must not have a query or fragment");
  }
  auto slash = rest.find('/');
  out.authority = std::string(rest.substr(0, slash));
  std::string_view raw_path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (out.scheme == "file" && !out.authority.empty())
    return bad(shown + " must name an absolute path without a host: file:///absolute/path");
  if (out.scheme != "file" && out.authority.empty())
    return bad(shown + (out.scheme == "hdfs"
                            ? " names no NameService: hdfs://nameservice/path"
                            : " names no bucket: " + out.scheme + "://bucket/prefix"));
  // Percent-decoding, as in any URI.
  std::string path;
  for (size_t i = 0; i < raw_path.size(); ++i) {
    if (raw_path[i] != '%') {
      path += raw_path[i];
      continue;
    }
    int hi = i + 2 < raw_path.size() ? hex_value(raw_path[i + 1]) : -1;
    int lo = i + 2 < raw_path.size() ? hex_value(raw_path[i + 2]) : -1;
    if (hi < 0 || lo < 0) return bad(shown + " has a malformed %-escape");
    path += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  if (path.find('\0') != std::string::npos) return bad(shown + " contains a NUL byte");
  const bool object_store = out.scheme == "s3" || out.scheme == "obs";
  if (path.empty() || path == "/") {
    if (!object_store) return bad(shown + " must name a directory below /");
    return out;  // a whole bucket
  }
  if (path.back() == '/') return bad(shown + " must not end with '/'");
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string_view comp(path.data() + pos, next - pos);
    if (comp.empty() || comp == "." || comp == "..")
      return bad(shown + " must be normalized (no empty, '.' or '..' components)");
    pos = next + 1;
  }
  out.path = path;
  return out;
}

Result<UriTarget> open_storage_for_uri(std::string_view uri, const config::ClusterConfig& cluster,
                                       const std::string& field) {
  ParsedUri parsed = TRY(parse_tree_uri(uri, field));
  UriTarget out;
  out.scheme = parsed.scheme;
  if (parsed.scheme == "file") {
    out.storage = std::make_unique<Storage>(make_local_driver());
    out.path = parsed.path;
    return out;
  }
  if (parsed.scheme == "s3" || parsed.scheme == "obs") {
    if (cluster.obs.endpoint.empty())
      return invalid_argument(field, "'" + std::string(uri) +
                                         "' is kept in object storage, but the cluster '" +
                                         cluster.name + "' has no OBS endpoint (obs.endpoint)");
    out.storage = std::make_unique<Storage>(TRY(make_s3_driver(cluster.obs)));
    out.path = parsed.authority + parsed.path;  // "<bucket>/<key prefix>"
    return out;
  }
  // hdfs://<nameservice>/path: the cluster's own HDFS (LocalHDFS), its NameService resolved
  // through hadoop_conf_dir.
  auto storage =
      open_storage({.type = PathType::kLocalHDFS, .nameservice = parsed.authority}, &cluster);
  if (!storage) {
    Error e = storage.error();
    e.field = field;
    return std::unexpected(std::move(e).context("'" + std::string(uri) + "'"));
  }
  out.storage = std::move(*storage);
  out.path = parsed.path;
  return out;
}

}  // namespace flinkbr::storage
