// The Hadoop client configuration of a cluster (hadoop_conf_dir): core-site.xml and
// hdfs-site.xml, read with a real XML parser (pugixml), and the resolution of a NameService name
// to the HTTP(S) addresses of its NameNodes, the way an HDFS client finds them:
//
//   dfs.nameservices                        ns1,ns2
//   dfs.ha.namenodes.<ns>                   nn1,nn2
//   dfs.namenode.http-address.<ns>.<nn>     host:9870       (https-address with HTTPS_ONLY)
//   dfs.namenode.http-address.<ns>          host:9870       (a NameService of one NameNode)
//   fs.defaultFS hdfs://<ns> + dfs.namenode.http-address   (a cluster without NameServices)
//
// Not supported (documented in docs/configuration.md): ${variable} expansion, XInclude, and
// NameNode addresses in other files than these two.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace flinkbr::storage::hdfs {

struct HadoopConf {
  std::string dir;                           // where it was read from, for messages
  std::map<std::string, std::string> props;  // hdfs-site.xml over core-site.xml
  std::string get(const std::string& key) const {
    auto it = props.find(key);
    return it == props.end() ? std::string() : it->second;
  }
};

// Reads <dir>/core-site.xml and <dir>/hdfs-site.xml (a missing file counts as empty, a malformed
// one is kInvalidArgument naming it and the line). `field` names the configuration key for
// messages ("hadoop_conf_dir").
[[nodiscard]] Result<HadoopConf> load_hadoop_conf(const std::string& dir);
// Parses the text of one *-site.xml into props (later values replace earlier ones, as in Hadoop,
// except for properties marked <final>). `name` is used in messages.
[[nodiscard]] Status parse_hadoop_xml(const std::string& xml, const std::string& name,
                                      std::map<std::string, std::string>& props);

struct NameNode {
  std::string id;   // "nn1" (empty for a NameService of one NameNode)
  std::string url;  // "http://host:9870" or "https://host:9871"
};

// Whether the configuration knows NameService `ns` (listed in dfs.nameservices, or with
// NameNode addresses of its own, or named by fs.defaultFS).
bool knows_nameservice(const HadoopConf& conf, const std::string& ns);
// The NameNodes of `ns`, in the configured order. kNotFound when the NameService is unknown,
// naming the NameServices the configuration has; kInvalidArgument when an address is missing
// or malformed, naming the key.
[[nodiscard]] Result<std::vector<NameNode>> resolve_nameservice(const HadoopConf& conf,
                                                                const std::string& ns);

}  // namespace flinkbr::storage::hdfs
