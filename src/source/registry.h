// The explicit list of metadata source kinds. A new kind adds one line to registry.cc.
#pragma once

#include <memory>

#include "config/config.h"
#include "source/metadata_source.h"

namespace flinkbr::source {

// Checks the kind-specific keys of `cfg.params` (unknown keys refused, naming
// cfg.key_path + "." + key). Used at configuration load.
[[nodiscard]] Status validate_config(const config::SourceConfig& cfg);
// Builds the source for a validated configuration.
[[nodiscard]] Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg,
                                                             const config::ClusterConfig& cluster);

}  // namespace flinkbr::source
