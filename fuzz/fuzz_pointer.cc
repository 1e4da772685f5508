// libFuzzer target for the Flink pointer reader (src/source/flink/pointer.h), run by
// scripts/fuzz.sh; the normal build replays its corpus through it (fuzz/CMakeLists.txt). It lives
// outside src/, whose GLOB would otherwise link it into flinkbr_source.
//
// Beyond "no crash, no sanitizer report, no allocation above -malloc_limit_mb", it checks what
// the callers rely on:
// - a pointer that parses rewrites to bytes that parse to the new URI and the same size, and
//   rewriting it to its own URI parses back to the same pointer;
// - relative_to and uri_for invert each other on the pointer's path.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/text.h"
#include "source/flink/pointer.h"

namespace {

using flinkbr::source::flink::parse_pointer;
using flinkbr::source::flink::Pointer;
using flinkbr::source::flink::relative_to;
using flinkbr::source::flink::rewrite_pointer;
using flinkbr::source::flink::uri_for;

void check(bool ok) {
  if (!ok) std::abort();
}

void check_rewrite(std::string_view data, const Pointer& p, std::string_view new_uri) {
  auto rewritten = rewrite_pointer(data, new_uri);
  check(rewritten.has_value());
  auto back = parse_pointer(*rewritten);
  check(back.has_value() && back->has_value());
  check((*back)->uri == new_uri && (*back)->state_size == p.state_size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  auto p = parse_pointer(data);
  if (!p || !p->has_value()) return 0;
  const Pointer& pointer = **p;
  check_rewrite(data, pointer, pointer.uri);
  check_rewrite(data, pointer, "hdfs://fuzz-ns/flink/ha/completedCheckpoint%20x");
  check_rewrite(data, pointer, "file:/" + std::string(70000, 'a'));
  // The path's last component, relative to its directory, comes back through uri_for.
  size_t slash = pointer.path.rfind('/');
  if (slash != std::string::npos && slash + 1 < pointer.path.size()) {
    std::string dir = pointer.path.substr(0, slash);
    std::string location = flinkbr::percent_encode(dir, ":/");
    auto rel = relative_to(pointer.path, location);
    if (rel) {
      std::string uri = uri_for(location, *rel);
      auto decoded = flinkbr::percent_decode(uri);
      check(decoded.has_value());
      check(relative_to(*decoded, location) == rel);
    }
  }
  return 0;
}
