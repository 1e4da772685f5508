// The explicit list of metadata source kinds. A new kind adds one line to registry.cc.
#pragma once

#include <memory>

#include "archive/format.h"
#include "config/config.h"
#include "source/metadata_source.h"

namespace flinkbr::source {

// Checks the kind-specific keys of `cfg.params` (unknown keys refused, naming
// cfg.key_path + "." + key). Used at configuration load.
[[nodiscard]] Status validate_config(const config::SourceConfig& cfg);
// Builds the source for a validated configuration.
[[nodiscard]] Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg,
                                                             const config::ClusterConfig& cluster);

// The payload check of the source `desc` of a backup file's header, by its kind (PayloadCheck).
// Scratch files go under ctx.staging_dir (an existing directory), named after ctx.id; nothing else
// is touched. kCorruption for a kind no restore accepts.
[[nodiscard]] Result<std::unique_ptr<PayloadCheck>> make_payload_check(
    const archive::SourceDescriptor& desc, const TaskContext& ctx);

}  // namespace flinkbr::source
