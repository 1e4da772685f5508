// libFuzzer target: the header parser (archive/format.h, Header::from_json), the first thing a
// restore reads of a backup file.
//
// Invariants: an accepted header written again with to_json parses to the same header and
// writes to the same text; a refusal is kCorruption with a message.
#include <cstdint>
#include <string>

#include "archive/format.h"
#include "fuzz_check.h"

using flinkbr::archive::Header;
using flinkbr::fuzz::as_text;
using flinkbr::fuzz::check;

namespace {

bool same(const Header& a, const Header& b) {
  if (a.format_version != b.format_version || a.system_version != b.system_version ||
      a.data_source != b.data_source || a.cluster != b.cluster ||
      a.execution_time != b.execution_time || a.tool_version != b.tool_version ||
      a.sources.size() != b.sources.size())
    return false;
  for (size_t i = 0; i < a.sources.size(); ++i) {
    if (a.sources[i].name != b.sources[i].name || a.sources[i].kind != b.sources[i].kind ||
        a.sources[i].location != b.sources[i].location)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  auto header = Header::from_json(as_text(bytes, size));
  if (!header) {
    check(header.error().code == flinkbr::Errc::kCorruption, "a refused header is kCorruption");
    check(!header.error().message.empty(), "a refusal has a message");
    return 0;
  }
  std::string again = header->to_json();
  auto reparsed = Header::from_json(again);
  check(reparsed.has_value(), "a written header parses");
  check(same(*reparsed, *header), "the header round-trips");
  check(reparsed->to_json() == again, "to_json is a fixed point");
  return 0;
}
