#include "source/zookeeper/codec.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

namespace flinkbr::source::zookeeper {

namespace {

using json = nlohmann::json;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Appends `s` as a JSON string the way nlohmann::json::dump() writes it (UTF-8 kept, control
// characters escaped); false when `s` is not valid UTF-8, which JSON cannot carry.
bool append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {  // a multi-byte UTF-8 sequence, copied when well-formed
      size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
      if (n == 0 || c > 0xf4 || i + n > s.size()) return false;
      uint32_t cp = c & (0x7f >> n);
      for (size_t k = 1; k < n; ++k) {
        auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (cc & 0x3f);
      }
      if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
          (cp >= 0xd800 && cp <= 0xdfff))
        return false;
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
  return true;
}

}  // namespace

std::string part_name(size_t n) {
  char name[40];
  std::snprintf(name, sizeof name, "znodes/part-%06zu.jsonl", n);
  return name;
}

void b64_append(std::string& out, std::string_view in) {
  size_t at = out.size();
  out.resize(at + (in.size() + 2) / 3 * 4);
  char* o = out.data() + at;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    *o++ = kB64[v >> 18];
    *o++ = kB64[(v >> 12) & 63];
    *o++ = kB64[(v >> 6) & 63];
    *o++ = kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    *o++ = kB64[v >> 18];
    *o++ = kB64[(v >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    *o++ = kB64[v >> 18];
    *o++ = kB64[(v >> 12) & 63];
    *o++ = kB64[(v >> 6) & 63];
    *o++ = '=';
  }
}

namespace {

// The value of each byte as a base64 digit, 0xff for a byte that is not one ('=' included).
constexpr std::array<uint8_t, 256> kB64Value = [] {
  std::array<uint8_t, 256> t{};
  t.fill(0xff);
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(kB64[i])] = i;
  return t;
}();

}  // namespace

// Table-driven, four digits at a time with one validity test per quantum: a backup's consistency
// check and every restore decode the data of each record line, and the branchy per-character
// version was the largest single cost of the backup's visiting thread (perf, 100,000 znodes).
// The three bytes of one base64 quantum of 6-bit values a, b, c, d.
inline void put_quantum(unsigned char* o, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  const uint32_t v = (a << 18) | (b << 12) | (c << 6) | d;
  o[0] = static_cast<unsigned char>(v >> 16);
  o[1] = static_cast<unsigned char>(v >> 8);
  o[2] = static_cast<unsigned char>(v);
}

bool b64_decode_into(std::string& out, std::string_view in) {
  if (in.size() % 4 != 0) return false;
  const size_t at = out.size();
  if (in.empty()) return true;
  // The last quantum may be padded: decoded apart, below.
  const size_t whole = in.size() - 4;
  out.resize(at + whole / 4 * 3 + 3);
  auto* o = reinterpret_cast<unsigned char*>(out.data() + at);
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  for (size_t i = 0; i < whole; i += 4, o += 3) {
    const uint32_t a = kB64Value[s[i]], b = kB64Value[s[i + 1]], c = kB64Value[s[i + 2]],
                   d = kB64Value[s[i + 3]];
    if ((a | b | c | d) & 0x80) {
      out.resize(at);
      return false;
    }
    put_quantum(o, a, b, c, d);
  }
  s += whole;
  const uint32_t a = kB64Value[s[0]], b = kB64Value[s[1]];
  const bool pad_c = s[2] == '=', pad_d = s[3] == '=';
  const uint32_t c = pad_c ? 0 : kB64Value[s[2]], d = pad_d ? 0 : kB64Value[s[3]];
  // Canonical only: "x=y=" is no padding, and the bits a padded quantum leaves unused are zero.
  if (((a | b | c | d) & 0x80) || (pad_c && !pad_d) || (pad_c && (b & 15) != 0) ||
      (!pad_c && pad_d && (c & 3) != 0)) {
    out.resize(at);
    return false;
  }
  put_quantum(o, a, b, c, d);
  out.resize(out.size() - (pad_c ? 2 : pad_d ? 1 : 0));
  return true;
}

std::optional<std::string> b64_decode(std::string_view in) {
  std::string out;
  if (!b64_decode_into(out, in)) return std::nullopt;
  return out;
}

bool valid_rel_path(std::string_view p) {
  if (p == "/") return true;
  if (p.empty() || p[0] != '/' || p.back() == '/') return false;
  size_t start = 1;
  for (;;) {
    size_t end = p.find('/', start);
    std::string_view comp =
        std::string_view(p).substr(start, end == std::string::npos ? end : end - start);
    if (comp.empty() || comp == "." || comp == "..") return false;
    for (char c : comp)
      if (c == '\0') return false;
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

namespace {

Result<std::pair<std::string, Znode>> from_line(std::string_view line, size_t lineno) {
  auto bad = [&](const std::string& why) {
    return corruption("zookeeper payload line " + std::to_string(lineno) + ": " + why);
  };
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  for (const auto& [k, v] : j.items())
    if (k != "path" && k != "data" && k != "acl" && k != "sequential")
      return bad("unknown field '" + k + "'");
  if (!j.contains("path") || !j["path"].is_string()) return bad("no path");
  std::string rel = j["path"].get<std::string>();
  if (!valid_rel_path(rel)) return bad("invalid path '" + rel + "'");
  Znode z;
  if (!j.contains("data")) return bad(rel + ": no data");
  if (j["data"].is_string()) {
    auto d = b64_decode(j["data"].get<std::string>());
    if (!d) return bad(rel + ": data is not valid base64");
    z.data = std::move(*d);
  } else if (!j["data"].is_null()) {
    return bad(rel + ": data must be a base64 string or null");
  }
  if (!j.contains("acl") || !j["acl"].is_array() || j["acl"].empty())
    return bad(rel + ": acl must be a non-empty list");
  for (const auto& a : j["acl"]) {
    if (!a.is_object() || a.size() != 3 || !a.contains("perms") ||
        !a["perms"].is_number_integer() || !a.contains("scheme") || !a["scheme"].is_string() ||
        !a.contains("id") || !a["id"].is_string())
      return bad(rel + ": malformed acl entry");
    int64_t perms = a["perms"].get<int64_t>();
    if (perms < 0 || perms > 31) return bad(rel + ": acl perms out of range");
    z.acl.push_back(
        {static_cast<int32_t>(perms), a["scheme"].get<std::string>(), a["id"].get<std::string>()});
  }
  if (!j.contains("sequential") || !j["sequential"].is_boolean())
    return bad(rel + ": no sequential flag");
  z.sequential = j["sequential"].get<bool>();
  return std::make_pair(std::move(rel), std::move(z));
}

// The fast path of reading a payload line: exactly the form append_line() writes, with strings
// of printable ASCII without escapes. Anything else (or anything invalid) returns false and goes
// through from_line(), which accepts every valid JSON spelling and names what is wrong.
bool parse_canonical(std::string_view line, std::string& rel, Znode& z) {
  size_t i = 0;
  auto lit = [&](std::string_view l) {
    if (line.substr(i, l.size()) != l) return false;
    i += l.size();
    return true;
  };
  auto str = [&](std::string& out) {  // after the opening quote, up to and past the closing one
    size_t start = i;
    for (; i < line.size(); ++i) {
      auto c = static_cast<unsigned char>(line[i]);
      if (c == '"') break;
      if (c == '\\' || c < 0x20 || c >= 0x7f) return false;
    }
    if (i >= line.size()) return false;
    out.assign(line.substr(start, i - start));
    ++i;
    return true;
  };
  if (!lit("{\"acl\":[")) return false;
  z = Znode{};
  for (;;) {
    Acl a;
    if (!lit("{\"id\":\"") || !str(a.id) || !lit(",\"perms\":")) return false;
    size_t start = i;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
    size_t n = i - start;
    if (n == 0 || n > 2 || (n == 2 && line[start] == '0')) return false;
    a.perms = std::stoi(std::string(line.substr(start, n)));
    if (a.perms > 31) return false;
    if (!lit(",\"scheme\":\"") || !str(a.scheme) || !lit("}")) return false;
    z.acl.push_back(std::move(a));
    if (lit("],")) break;
    if (!lit(",")) return false;
  }
  if (!lit("\"data\":")) return false;
  if (!lit("null")) {
    // Decoded where it stands (no copy of the digits): the decoder refuses every byte that is
    // not a base64 digit, so what str() would check here is checked there.
    if (!lit("\"")) return false;
    const void* q = std::memchr(line.data() + i, '"', line.size() - i);
    if (!q) return false;
    const size_t end = static_cast<size_t>(static_cast<const char*>(q) - line.data());
    z.data.emplace();
    if (!b64_decode_into(*z.data, line.substr(i, end - i))) return false;
    i = end + 1;
  }
  if (!lit(",\"path\":\"") || !str(rel) || !valid_rel_path(rel)) return false;
  if (lit(",\"sequential\":true}"))
    z.sequential = true;
  else if (!lit(",\"sequential\":false}"))
    return false;
  return i == line.size();
}

}  // namespace

// Appends the payload line of a znode: keys in byte-wise order, no spaces, as
//   {"acl":[{"id":"anyone","perms":31,"scheme":"world"}],"data":"AAEC","path":"/a","sequential":false}
// Written by hand, not through nlohmann::json: it is the per-znode cost of a backup.
Status append_line(std::string& out, const std::string& rel, const Znode& z) {
  auto not_utf8 = [&](std::string_view what) {
    return failed_precondition(std::string(what) + " is not valid UTF-8 and cannot be stored");
  };
  out += "{\"acl\":[";
  for (size_t i = 0; i < z.acl.size(); ++i) {
    const Acl& a = z.acl[i];
    out += i ? ",{\"id\":" : "{\"id\":";
    if (!append_json_string(out, a.id)) return not_utf8("its ACL id");
    out += ",\"perms\":";
    out += std::to_string(a.perms);
    out += ",\"scheme\":";
    if (!append_json_string(out, a.scheme)) return not_utf8("its ACL scheme");
    out += '}';
  }
  out += "],\"data\":";
  if (z.data) {
    out += '"';
    b64_append(out, *z.data);
    out += '"';
  } else {
    out += "null";
  }
  out += ",\"path\":";
  if (!append_json_string(out, rel)) return not_utf8("its path");
  out += z.sequential ? ",\"sequential\":true}\n" : ",\"sequential\":false}\n";
  return ok();
}

Result<std::pair<std::string, Znode>> parse_line(std::string_view line, size_t lineno) {
  std::pair<std::string, Znode> out;
  if (parse_canonical(line, out.first, out.second)) return out;
  return from_line(line, lineno);
}

Status for_each_line(std::string_view part,
                     const std::function<Status(std::string rel, Znode& z)>& visit,
                     size_t first_lineno) {
  if (!part.empty() && part.back() != '\n')
    return corruption("zookeeper payload: a part does not end a line");
  size_t lineno = first_lineno;
  std::string line;
  for (size_t at = 0; at < part.size(); ++lineno) {
    size_t nl = part.find('\n', at);
    line.assign(part.substr(at, nl - at));
    at = nl + 1;
    auto [rel, z] = TRY(parse_line(line, lineno));
    TRY(visit(std::move(rel), z));
  }
  return ok();
}

}  // namespace flinkbr::source::zookeeper
