// libFuzzer target: the manifest parser (archive/format.h), both the whole-text
// Manifest::from_json and the streaming parse_manifest the archive reader uses.
//
// Invariants: the two agree (same verdict, same entries in the same order, indexes counting up
// from 0); an accepted manifest written again with to_json parses to the same entries and writes
// to the same text (a fixed point); a refusal is kCorruption with a message.
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "archive/format.h"
#include "fuzz_check.h"

using flinkbr::archive::Manifest;
using flinkbr::archive::ManifestEntry;
using flinkbr::fuzz::as_text;
using flinkbr::fuzz::check;

namespace {

bool same(const ManifestEntry& a, const ManifestEntry& b) {
  return a.path == b.path && a.type == b.type && a.size == b.size && a.sha256 == b.sha256 &&
         a.mode == b.mode && a.mtime == b.mtime;
}
bool same(const std::vector<ManifestEntry>& a, const std::vector<ManifestEntry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i])) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view text = as_text(bytes, size);
  auto whole = Manifest::from_json(text);

  std::istringstream in{std::string(text)};
  std::vector<ManifestEntry> streamed;
  auto status = flinkbr::archive::parse_manifest(in, [&](ManifestEntry&& e, uint64_t index) {
    check(index == streamed.size(), "entry indexes count up from 0");
    streamed.push_back(std::move(e));
    return flinkbr::ok();
  });
  check(status.has_value() == whole.has_value(), "streaming and whole parsers agree");
  if (!whole) {
    check(whole.error().code == flinkbr::Errc::kCorruption, "a refused manifest is kCorruption");
    check(!whole.error().message.empty(), "a refusal has a message");
    return 0;
  }
  check(same(streamed, whole->entries), "streaming and whole parsers give the same entries");
  for (const auto& e : whole->entries) {
    check(flinkbr::archive::validate_entry_path(e.path).has_value(), "entry paths are valid");
    check((e.mode & ~0777u) == 0, "modes are permission bits only");
  }
  std::string again = whole->to_json();
  auto reparsed = Manifest::from_json(again);
  check(reparsed.has_value(), "a written manifest parses");
  check(reparsed->format_version == whole->format_version, "format_version round-trips");
  check(same(reparsed->entries, whole->entries), "entries round-trip");
  check(reparsed->to_json() == again, "to_json is a fixed point");
  return 0;
}
