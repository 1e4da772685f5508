#include "source/zookeeper/pointer_rewrite.h"

#include "source/flink/layout.h"
#include "source/flink/pointer.h"
#include "source/zookeeper/codec.h"

namespace flinkbr::source::zookeeper {

Result<std::string> rewrite_pointers(std::string_view part, std::vector<PointerRewrite>& rewrites) {
  std::string out;
  out.reserve(part.size() + part.size() / 8);
  bool changed = false;
  TRY(for_each_line(part, [&](std::string rel, Znode& z) -> Status {
    const flink::NodeKind kind = flink::classify(rel).kind;
    const bool record =
        kind == flink::NodeKind::kJobGraph || kind == flink::NodeKind::kExecutionPlan ||
        kind == flink::NodeKind::kCheckpoint || kind == flink::NodeKind::kLegacyCheckpoint;
    if (record && z.data) {
      // A pointer that cannot be read is left as it is: Flink ignores such a node.
      if (auto p = flink::parse_pointer(*z.data); p && *p) {
        for (auto& r : rewrites) {
          auto below = flink::relative_to((*p)->path, r.from);
          if (!below) continue;
          z.data = TRY_CTX(flink::rewrite_pointer(*z.data, flink::uri_for(r.to, *below)),
                           "rewriting the pointer of znode " + rel);
          ++r.count;
          changed = true;
          break;
        }
      }
    }
    return append_line(out, rel, z);
  }));
  if (!changed) return std::string(part);
  return out;
}

}  // namespace flinkbr::source::zookeeper
