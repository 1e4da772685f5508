#include "storage/hdfs/hadoop_conf.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <pugixml.hpp>

namespace flinkbr::storage::hdfs {

namespace {

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Line number of a byte offset, for parse error messages.
size_t line_of(const std::string& text, ptrdiff_t offset) {
  size_t line = 1;
  for (ptrdiff_t i = 0; i < offset && i < static_cast<ptrdiff_t>(text.size()); ++i)
    if (text[static_cast<size_t>(i)] == '\n') ++line;
  return line;
}

bool https_only(const HadoopConf& conf) {
  return conf.get("dfs.http.policy") == "HTTPS_ONLY";
}

// "host:port" (or "[v6]:port") from the configuration -> "scheme://host:port". A host of
// 0.0.0.0 (bind to all) is useless to a client: refuse it, naming the key.
Result<std::string> address_url(const std::string& key, const std::string& value, bool https) {
  std::string v = trim(value);
  std::string host, port;
  if (v.starts_with("[")) {
    size_t close = v.find(']');
    if (close == std::string::npos || close + 1 >= v.size() || v[close + 1] != ':')
      return invalid_argument("hadoop_conf_dir", key + " = '" + value + "' is not host:port");
    host = v.substr(0, close + 1);
    port = v.substr(close + 2);
  } else {
    size_t colon = v.rfind(':');
    if (colon == std::string::npos || v.find(':') != colon)
      return invalid_argument("hadoop_conf_dir", key + " = '" + value + "' is not host:port");
    host = v.substr(0, colon);
    port = v.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) == 0 ||
      std::stoi(port) > 65535)
    return invalid_argument("hadoop_conf_dir", key + " = '" + value + "' is not host:port");
  if (host == "0.0.0.0" || host == "[::]")
    return invalid_argument("hadoop_conf_dir", key + " = '" + value +
                                                   "' is a bind-all address, not one a client "
                                                   "can reach; give the NameNode's host name");
  return std::string(https ? "https://" : "http://") + host + ":" + port;
}

std::string default_fs_authority(const HadoopConf& conf) {
  std::string fs = trim(conf.get("fs.defaultFS"));
  if (fs.empty()) fs = trim(conf.get("fs.default.name"));
  if (!fs.starts_with("hdfs://")) return {};
  std::string rest = fs.substr(7);
  return rest.substr(0, rest.find('/'));
}

}  // namespace

Status parse_hadoop_xml(const std::string& xml, const std::string& name,
                        std::map<std::string, std::string>& props) {
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_buffer(xml.data(), xml.size());
  if (!r)
    return invalid_argument("hadoop_conf_dir", name + ": not well-formed XML at line " +
                                                   std::to_string(line_of(xml, r.offset)) + ": " +
                                                   r.description());
  pugi::xml_node root = doc.child("configuration");
  if (!root)
    return invalid_argument("hadoop_conf_dir", name + ": the root element is not <configuration>");
  std::set<std::string> final_keys;
  for (pugi::xml_node p : root.children("property")) {
    std::string key = trim(p.child_value("name"));
    if (key.empty()) continue;
    if (final_keys.contains(key)) continue;
    props[key] = trim(p.child_value("value"));
    if (trim(p.child_value("final")) == "true") final_keys.insert(key);
  }
  return ok();
}

Result<HadoopConf> load_hadoop_conf(const std::string& dir) {
  if (dir.empty())
    return invalid_argument("hadoop_conf_dir",
                            "the cluster has no hadoop_conf_dir: set it to the directory of its "
                            "core-site.xml and hdfs-site.xml");
  HadoopConf conf;
  conf.dir = dir;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return invalid_argument("hadoop_conf_dir", "hadoop_conf_dir " + dir + " is not a directory");
  for (const char* file : {"core-site.xml", "hdfs-site.xml"}) {
    std::string path = (std::filesystem::path(dir) / file).string();
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      if (std::filesystem::exists(path, ec))
        return make_error(Errc::kIOError, "cannot read " + path);
      continue;  // a missing file is an empty configuration, as for Hadoop
    }
    std::stringstream buf;
    buf << in.rdbuf();
    TRY(parse_hadoop_xml(buf.str(), path, conf.props));
  }
  return conf;
}

bool knows_nameservice(const HadoopConf& conf, const std::string& ns) {
  for (const auto& n : split_list(conf.get("dfs.nameservices")))
    if (n == ns) return true;
  if (!conf.get("dfs.ha.namenodes." + ns).empty()) return true;
  if (!conf.get("dfs.namenode.http-address." + ns).empty()) return true;
  return default_fs_authority(conf) == ns && !conf.get("dfs.namenode.http-address").empty();
}

Result<std::vector<NameNode>> resolve_nameservice(const HadoopConf& conf, const std::string& ns) {
  const bool https = https_only(conf);
  const std::string kind = https ? "https-address" : "http-address";
  std::vector<NameNode> out;
  auto ids = split_list(conf.get("dfs.ha.namenodes." + ns));
  if (!ids.empty()) {
    for (const auto& id : ids) {
      std::string key = "dfs.namenode." + kind + "." + ns + "." + id;
      std::string v = conf.get(key);
      if (v.empty())
        return invalid_argument("hadoop_conf_dir", "NameNode " + id + " of NameService " + ns +
                                                       " has no " + key + " in " + conf.dir);
      out.push_back({id, TRY(address_url(key, v, https))});
    }
    return out;
  }
  std::string key = "dfs.namenode." + kind + "." + ns;
  if (std::string v = conf.get(key); !v.empty()) {
    out.push_back({"", TRY(address_url(key, v, https))});
    return out;
  }
  key = "dfs.namenode." + kind;
  if (std::string v = conf.get(key); !v.empty() && default_fs_authority(conf) == ns) {
    out.push_back({"", TRY(address_url(key, v, https))});
    return out;
  }
  std::string known = conf.get("dfs.nameservices");
  return not_found("HDFS NameService '" + ns + "' is not in the Hadoop configuration " + conf.dir +
                   (known.empty() ? std::string(" (it lists no dfs.nameservices)")
                                  : " (dfs.nameservices: " + known + ")"));
}

}  // namespace flinkbr::storage::hdfs
