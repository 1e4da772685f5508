#include "archive/format.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

namespace flinkbr::archive {

namespace {

using nlohmann::json;
// Written with the fields in a reading order (json sorts them by name).
using ordered_json = nlohmann::ordered_json;

// Field accessors that turn a missing or mistyped field into kCorruption naming it. `where` is
// "header", "manifest" or "manifest entry N".
Result<const json*> field(const json& obj, std::string_view where, std::string_view name) {
  auto it = obj.find(name);
  if (it == obj.end())
    return corruption(std::string(where) + ": missing field '" + std::string(name) + "'");
  return &*it;
}

std::unexpected<Error> wrong_type(std::string_view where, std::string_view name,
                                  std::string_view want) {
  return corruption(std::string(where) + ": field '" + std::string(name) + "' is not " +
                    std::string(want));
}

Result<std::string> get_string(const json& obj, std::string_view where, std::string_view name) {
  const json* v = TRY(field(obj, where, name));
  if (!v->is_string()) return wrong_type(where, name, "a string");
  return v->get<std::string>();
}

Result<int64_t> get_int(const json& obj, std::string_view where, std::string_view name) {
  const json* v = TRY(field(obj, where, name));
  if (!v->is_number_integer()) return wrong_type(where, name, "an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX))
    return wrong_type(where, name, "an integer in range");
  return v->get<int64_t>();
}

Result<uint64_t> get_uint(const json& obj, std::string_view where, std::string_view name) {
  const json* v = TRY(field(obj, where, name));
  if (!v->is_number_unsigned()) return wrong_type(where, name, "a non-negative integer");
  return v->get<uint64_t>();
}

Result<json> parse_object(std::string_view text, std::string_view what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return corruption(std::string(what) + " is not valid JSON");
  if (!j.is_object()) return corruption(std::string(what) + " is not a JSON object");
  return j;
}

Status check_format_version(const json& j, std::string_view what) {
  int64_t v = TRY(get_int(j, what, "format_version"));
  if (v != kFormatVersion)
    return corruption(std::string(what) + ": unsupported format_version " + std::to_string(v) +
                      " (this build reads version " + std::to_string(kFormatVersion) + ")");
  return ok();
}

// Modes are written as 4-digit octal strings ("0644"), readable with jq.
std::string mode_string(uint32_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

Result<uint32_t> parse_mode(std::string_view s, std::string_view where) {
  if (s.empty() || s.size() > 6) return wrong_type(where, "mode", "an octal mode like \"0644\"");
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '7') return wrong_type(where, "mode", "an octal mode like \"0644\"");
    v = v * 8 + static_cast<uint32_t>(c - '0');
  }
  // Permission bits only (issue 16): setuid, setgid and sticky bits are never restored, and a
  // manifest that lists them is invalid.
  if (v > 0777)
    return wrong_type(where, "mode",
                      "permission bits only (at most 0777; setuid, setgid and sticky bits are "
                      "refused)");
  return v;
}

// Strict UTF-8 (no overlong forms, no surrogates): paths go into JSON, which needs it.
bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

// ---- Header ----

std::string Header::to_json() const {
  ordered_json sources_json = ordered_json::array();
  for (const auto& s : sources)
    sources_json.push_back({{"name", s.name}, {"kind", s.kind}, {"location", s.location}});
  ordered_json j = {{"format_version", format_version},  {"system_version", system_version},
                    {"data_source", data_source},        {"cluster", cluster},
                    {"execution_time", execution_time},  {"tool_version", tool_version},
                    {"sources", std::move(sources_json)}};
  // Strings that are not UTF-8 (a version printed by a command) are replaced, not thrown on.
  return j.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

Result<Header> Header::from_json(std::string_view text) {
  constexpr std::string_view kWhere = "header";
  json j = TRY(parse_object(text, kWhere));
  TRY(check_format_version(j, kWhere));
  Header h;
  h.system_version = TRY(get_string(j, kWhere, "system_version"));
  h.data_source = TRY(get_string(j, kWhere, "data_source"));
  h.cluster = TRY(get_string(j, kWhere, "cluster"));
  h.execution_time = TRY(get_string(j, kWhere, "execution_time"));
  h.tool_version = TRY(get_string(j, kWhere, "tool_version"));
  const json* sources = TRY(field(j, kWhere, "sources"));
  if (!sources->is_array()) return wrong_type(kWhere, "sources", "an array");
  for (size_t i = 0; i < sources->size(); ++i) {
    const json& s = (*sources)[i];
    std::string where = "header source " + std::to_string(i);
    if (!s.is_object()) return corruption(where + " is not a JSON object");
    SourceDescriptor d;
    d.name = TRY(get_string(s, where, "name"));
    d.kind = TRY(get_string(s, where, "kind"));
    d.location = TRY(get_string(s, where, "location"));
    // Entries find their source by name: a name listed twice would make that ambiguous, and a
    // restore refuses it, so verify must too (issue 16).
    for (const auto& other : h.sources)
      if (other.name == d.name)
        return corruption(where + ": source '" + d.name + "' is listed twice");
    h.sources.push_back(std::move(d));
  }
  return h;
}

// ---- Manifest ----

std::string manifest_begin(int format_version) {
  return "{\n  \"format_version\": " + std::to_string(format_version) + ",\n  \"entries\": [";
}

std::string manifest_line(const ManifestEntry& e, uint64_t index) {
  // One entry per line, so that the text stays greppable; no document tree of the whole
  // manifest is ever built.
  ordered_json j;
  if (e.type == EntryType::kDirectory) {
    j = {{"path", e.path}, {"type", "dir"}, {"mode", mode_string(e.mode)}, {"mtime", e.mtime}};
  } else {
    j = {{"path", e.path},
         {"type", "file"},
         {"size", e.size},
         {"sha256", e.sha256},
         {"mode", mode_string(e.mode)},
         {"mtime", e.mtime}};
  }
  return (index == 0 ? "\n    " : ",\n    ") +
         j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string manifest_end(uint64_t count) {
  return count == 0 ? "]\n}\n" : "\n  ]\n}\n";
}

std::string Manifest::to_json() const {
  std::string out = manifest_begin(format_version);
  for (size_t i = 0; i < entries.size(); ++i) out += manifest_line(entries[i], i);
  return out + manifest_end(entries.size());
}

namespace {

Result<ManifestEntry> manifest_entry(const json& ej, size_t i) {
  std::string where = "manifest entry " + std::to_string(i);
  if (!ej.is_object()) return corruption(where + " is not a JSON object");
  ManifestEntry e;
  e.path = TRY(get_string(ej, where, "path"));
  // A path no tar entry may carry makes the manifest corrupt at once, before the path is echoed
  // in messages (found by fuzz/fuzz_manifest.cc: the parser let through what the writer refuses).
  TRY_CTX(validate_entry_path(e.path), where);
  where += " (" + e.path + ")";
  std::string type = TRY(get_string(ej, where, "type"));
  if (type == "file") {
    e.type = EntryType::kFile;
    e.size = TRY(get_uint(ej, where, "size"));
    e.sha256 = TRY(get_string(ej, where, "sha256"));
    if (!is_sha256_hex(e.sha256)) return wrong_type(where, "sha256", "a lower-case SHA-256 hex");
  } else if (type == "dir") {
    e.type = EntryType::kDirectory;
  } else {
    return corruption(where + ": field 'type' is \"" + type + "\", not \"file\" or \"dir\"");
  }
  e.mode = TRY(parse_mode(TRY(get_string(ej, where, "mode")), where));
  e.mtime = TRY(get_int(ej, where, "mtime"));
  return e;
}

}  // namespace

Status parse_manifest(std::istream& in, const ManifestEntrySink& on_entry) {
  constexpr std::string_view kWhere = "manifest";
  // A manifest has one entry per file of the backup: a document tree of all of them would cost
  // several hundred bytes per entry. The parser's callback turns each entry into a
  // ManifestEntry as soon as it is parsed, hands it over and drops it from the tree, which so
  // holds one entry at a time; the text is read from `in` as the parser goes.
  std::optional<Error> entry_error;  // the first bad entry or refusal; reported last
  std::string top_key;
  bool in_entries = false;
  uint64_t index = 0;
  using Event = json::parse_event_t;
  auto callback = [&](int depth, Event event, json& parsed) -> bool {
    if (depth == 1 && event == Event::key) top_key = parsed.get<std::string>();
    if (depth == 1 && event == Event::array_start) in_entries = top_key == "entries";
    if (depth == 1 && event == Event::array_end) in_entries = false;
    if (!in_entries || depth != 2) return true;
    // An element of "entries": an object ends, or a value (or an array) that is no object.
    if (event == Event::object_start || event == Event::array_start) return true;
    uint64_t i = index++;
    if (!entry_error) {
      auto e =
          event == Event::object_end ? manifest_entry(parsed, i) : manifest_entry(json(nullptr), i);
      Status st = e ? on_entry(std::move(*e), i) : Status(std::unexpected(std::move(e).error()));
      if (!st) entry_error = std::move(st).error();
    }
    return false;  // keep it out of the tree
  };
  json j = json::parse(in, callback, /*allow_exceptions=*/false);
  if (j.is_discarded()) return corruption(std::string(kWhere) + " is not valid JSON");
  if (!j.is_object()) return corruption(std::string(kWhere) + " is not a JSON object");
  TRY(check_format_version(j, kWhere));
  const json* entries = TRY(field(j, kWhere, "entries"));
  if (!entries->is_array()) return wrong_type(kWhere, "entries", "an array");
  if (entry_error) return std::unexpected(std::move(*entry_error));
  return ok();
}

Result<Manifest> Manifest::from_json(std::string_view text) {
  Manifest m;
  std::istringstream in{std::string(text)};
  TRY(parse_manifest(in, [&](ManifestEntry&& e, uint64_t) -> Status {
    m.entries.push_back(std::move(e));
    return ok();
  }));
  return m;
}

// ---- Paths ----

Status validate_entry_path(std::string_view path) {
  auto bad = [&](std::string_view why) {
    return corruption("invalid entry path \"" + std::string(path) + "\": " + std::string(why));
  };
  if (path.empty()) return bad("empty");
  if (path.size() > 4096) return bad("longer than 4096 bytes");
  if (path.front() == '/') return bad("absolute");
  if (!is_valid_utf8(path)) return bad("not valid UTF-8");
  for (unsigned char c : path) {
    if (c == '\\') return bad("contains a backslash");
    if (c < 0x20 || c == 0x7f) return bad("contains a control character");
  }
  size_t start = 0;
  for (;;) {
    size_t end = path.find('/', start);
    std::string_view comp =
        path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (comp.empty()) return bad("has an empty component");
    if (comp == ".") return bad("has a '.' component");
    if (comp == "..") return bad("has a '..' component");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return ok();
}

}  // namespace flinkbr::archive
