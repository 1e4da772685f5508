#include "source/registry.h"

#include <string_view>

#include "source/files/files_source.h"
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
};

constexpr Kind kKinds[] = {
    {files::kKind, &files::validate_config,
     [](const config::SourceConfig& c, const config::ClusterConfig&) { return files::create(c); }},
    {zookeeper::kKind, &zookeeper::validate_config,
     [](const config::SourceConfig& c, const config::ClusterConfig&) {
       return zookeeper::create(c);
     }},
    {postgres::kKind, &postgres::validate_config,
     [](const config::SourceConfig& c, const config::ClusterConfig&) {
       return postgres::create(c);
     }},
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
