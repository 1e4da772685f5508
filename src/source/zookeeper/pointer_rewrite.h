// Migration (docs/flink-ha.md, "Migration"): a zookeeper payload part whose Flink HA pointers
// into a files source's old location are made to point into its new one, as a restore stages it.
// Only record znodes (source/flink/layout.h) are looked at; their pointer bytes stay valid Java
// serialization (source/flink/pointer.h). Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "source/metadata_source.h"

namespace flinkbr::source::zookeeper {

// `part`: whole payload lines. Returns the part with every pointer under a rewrite's `from`
// rewritten to `to` (the same text when none is), counting each in its rewrite's `count`.
// kCorruption when a line does not parse (naming it).
[[nodiscard]] Result<std::string> rewrite_pointers(std::string_view part,
                                                   std::vector<PointerRewrite>& rewrites);

}  // namespace flinkbr::source::zookeeper
