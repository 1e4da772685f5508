#include "source/registry.h"

#include <algorithm>
#include <cctype>

#include <string_view>

#include "source/files/files_source.h"
#include "source/files/storage_tree.h"
#include "source/files/tree_payload.h"
#include "source/postgres/postgres_source.h"
#include "source/zookeeper/zookeeper_source.h"

namespace flinkbr::source {

namespace {

// The explicit list of source kinds, one line each.
struct Kind {
  std::string_view name;
  Status (*validate)(const config::SourceConfig&);
  Result<std::unique_ptr<MetadataSource>> (*create)(const config::SourceConfig&,
                                                    const config::ClusterConfig&);
  // The checks its restore makes of a payload (PayloadCheck), for a source of the file's header.
  Result<std::unique_ptr<PayloadCheck>> (*check)(const archive::SourceDescriptor&,
                                                 const TaskContext&);
};

// A files source on the manager's disk (file://) has its own implementation; trees in HDFS or
// object storage go through Storage (files/storage_tree.h).
bool is_remote_tree(const config::SourceConfig& c) {
  auto it = c.params.find("uri");
  if (it == c.params.end() || !it->is_string()) return false;
  std::string uri = it->get<std::string>();
  auto colon = uri.find("://");
  if (colon == std::string::npos) return false;
  std::string scheme = uri.substr(0, colon);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return scheme != "file";
}

constexpr Kind kKinds[] = {
    {files::kKind,
     [](const config::SourceConfig& c) {
       return is_remote_tree(c) ? files::validate_storage_tree_config(c)
                                : files::validate_config(c);
     },
     [](const config::SourceConfig& c, const config::ClusterConfig& cluster) {
       return is_remote_tree(c) ? files::create_storage_tree(c, cluster) : files::create(c);
     },
     // A local and a remote tree refuse the same payloads (files/tree_payload.h).
     [](const archive::SourceDescriptor&, const TaskContext& ctx) {
       return files::make_payload_check(ctx.staging_dir);
     }},
    {zookeeper::kKind, &zookeeper::validate_config,
     [](const config::SourceConfig& c, const config::ClusterConfig&) {
       return zookeeper::create(c);
     },
     &zookeeper::make_payload_check},
    {postgres::kKind, &postgres::validate_config,
     [](const config::SourceConfig& c, const config::ClusterConfig&) {
       return postgres::create(c);
     },
     &postgres::make_payload_check},
};

std::string expected_kinds() {
  std::string s;
  for (const auto& k : kKinds) s += (s.empty() ? "" : ", ") + std::string(k.name);
  return s;
}

Result<const Kind*> find_kind(const config::SourceConfig& cfg) {
  for (const auto& k : kKinds)
    if (k.name == cfg.type) return &k;
  std::string field = cfg.key_path.empty() ? "type" : cfg.key_path + ".type";
  return invalid_argument(
      field, "unknown source type '" + cfg.type + "'; expected one of " + expected_kinds());
}

}  // namespace

Result<std::unique_ptr<PayloadCheck>> make_payload_check(const archive::SourceDescriptor& desc,
                                                         const TaskContext& ctx) {
  for (const auto& k : kKinds)
    if (k.name == desc.kind) return k.check(desc, ctx);
  return corruption("source '" + desc.name + "' is of kind '" + desc.kind +
                    "', which no restore accepts (expected one of " + expected_kinds() + ")");
}

Status validate_config(const config::SourceConfig& cfg) {
  const Kind* kind = TRY(find_kind(cfg));
  return kind->validate(cfg);
}

Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg,
                                               const config::ClusterConfig& cluster) {
  const Kind* kind = TRY(find_kind(cfg));
  return kind->create(cfg, cluster);
}

}  // namespace flinkbr::source
