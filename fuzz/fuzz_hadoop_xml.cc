// libFuzzer target: the reader of the Hadoop client configuration (core-site.xml,
// hdfs-site.xml; storage/hdfs/hadoop_conf.h) and the NameService resolution on what it read.
//
// Invariants: a refusal is kInvalidArgument for field hadoop_conf_dir naming the file; accepted
// properties written again as a Hadoop configuration read back to the same properties; every
// NameNode a NameService resolves to has an http:// or https:// URL, and a failed resolution is
// kNotFound or kInvalidArgument.
#include <cstdint>
#include <map>
#include <sstream>
#include <string>

#include <pugixml.hpp>

#include "fuzz_check.h"
#include "storage/hdfs/hadoop_conf.h"

using flinkbr::fuzz::as_text;
using flinkbr::fuzz::check;
namespace hdfs = flinkbr::storage::hdfs;

namespace {

std::string write_conf(const std::map<std::string, std::string>& props) {
  pugi::xml_document doc;
  auto root = doc.append_child("configuration");
  for (const auto& [k, v] : props) {
    auto p = root.append_child("property");
    p.append_child("name").text().set(k.c_str());
    p.append_child("value").text().set(v.c_str());
  }
  std::ostringstream out;
  doc.save(out);
  return out.str();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string xml(as_text(bytes, size));
  hdfs::HadoopConf conf;
  conf.dir = "/fuzz/conf";
  auto st = hdfs::parse_hadoop_xml(xml, "hdfs-site.xml", conf.props);
  if (!st) {
    check(st.error().code == flinkbr::Errc::kInvalidArgument,
          "a malformed file is kInvalidArgument");
    check(st.error().field == "hadoop_conf_dir", "the field is hadoop_conf_dir");
    check(st.error().message.find("hdfs-site.xml") != std::string::npos, "the file is named");
    return 0;
  }
  std::map<std::string, std::string> again;
  auto st2 = hdfs::parse_hadoop_xml(write_conf(conf.props), "again.xml", again);
  check(st2.has_value(), "written properties parse");
  check(again == conf.props, "properties round-trip");

  // Every NameService the file names, and one it does not.
  std::string names = conf.get("dfs.nameservices") + ",fuzz-unknown";
  std::stringstream list(names);
  for (std::string ns; std::getline(list, ns, ',');) {
    (void)hdfs::knows_nameservice(conf, ns);
    auto nns = hdfs::resolve_nameservice(conf, ns);
    if (!nns) {
      auto c = nns.error().code;
      check(c == flinkbr::Errc::kNotFound || c == flinkbr::Errc::kInvalidArgument,
            "a failed resolution is kNotFound or kInvalidArgument");
      check(!nns.error().message.empty(), "a refusal has a message");
      continue;
    }
    for (const auto& nn : *nns)
      check(nn.url.starts_with("http://") || nn.url.starts_with("https://"),
            "NameNode URLs are http or https");
  }
  return 0;
}
