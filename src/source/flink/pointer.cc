#include "source/flink/pointer.h"

#include <cstdio>
#include <vector>

#include "common/text.h"
#include "source/flink/java_stream.h"

namespace flinkbr::source::flink {
namespace {

using java::Entry;
using java::Kind;
using java::kMagic;
using java::kTcLongString;
using java::kTcString;
using java::Object;
using java::Span;
using java::Value;

// The classes of a Flink HA pointer, as Flink (and the JDK, for URI) declare them. Java refuses
// a stream whose serialVersionUID differs from the local class's, and so do we.
constexpr std::string_view kRetrievableClass =
    "org.apache.flink.runtime.state.RetrievableStreamStateHandle";
constexpr int64_t kRetrievableUid = 314567453677355LL;
constexpr std::string_view kFileStateHandleClass =
    "org.apache.flink.runtime.state.filesystem.FileStateHandle";
constexpr int64_t kFileStateHandleUid = 350284443258002355LL;
constexpr std::string_view kPathClass = "org.apache.flink.core.fs.Path";
constexpr int64_t kPathUid = 1;
constexpr std::string_view kUriClass = "java.net.URI";
constexpr int64_t kUriUid = -6052424284110960213LL;

// Java's Character.isSpaceChar or isISOControl, above ASCII: java.net.URI quotes these in a
// path and refuses them unquoted.
bool unicode_space_or_control(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// RFC 2396 path characters as java.net.URI's L_PATH/H_PATH define them (escapes aside):
// alphanumerics, marks "-_.!~*'()", pchar's ":@&=+$," and ";/".
bool ascii_path_char(char c) {
  constexpr std::string_view kPunctuation = "-_.!~*'():@&=+$,;/";
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         kPunctuation.find(c) != std::string_view::npos;
}

// Every ASCII character a java.net.URI string may hold: path characters, the other reserved
// ones, '%' of escapes and '#' of a fragment.
bool ascii_uri_char(char c) {
  return ascii_path_char(c) || c == '?' || c == '[' || c == ']' || c == '%' || c == '#';
}

// Why java.net.URI would refuse `uri` (UTF-8) as a URI string, or empty when its characters
// are all acceptable: ASCII URI characters, visible non-ASCII, well-formed %-escapes.
std::string uri_chars_problem(std::string_view uri) {
  if (uri.empty()) return "it is empty";
  std::optional<std::vector<uint32_t>> cps = java::utf8_code_points(uri);
  if (!cps) return "it is not UTF-8";
  for (uint32_t cp : *cps) {
    if ((cp < 0x80 && !ascii_uri_char(static_cast<char>(cp))) || unicode_space_or_control(cp)) {
      char code[16];
      std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(cp));
      return std::string("it holds ") + code + ", which java.net.URI refuses unquoted";
    }
  }
  if (!percent_decode(uri)) return "it has a malformed %-escape";
  return {};
}

struct Located {
  Pointer pointer;
  Span uri_element;  // the URI string's TC_STRING / TC_LONGSTRING element
  bool uri_fresh = false;
};

Result<std::optional<Located>> locate(std::string_view data) {
  if (data.empty()) return std::nullopt;
  size_t magic = std::min(data.size(), kMagic.size());
  bool prefix = data.substr(0, magic) ==
                std::string_view(reinterpret_cast<const char*>(kMagic.data()), magic);
  if (!prefix) {
    // Java's stream magic is AC ED; a different version after it is still Java serialization.
    if (data.size() >= 2 && static_cast<uint8_t>(data[0]) == 0xAC &&
        static_cast<uint8_t>(data[1]) == 0xED)
      return corruption("Java serialization at byte 2: stream version " +
                        hex_lower(data.substr(2, 2)) + ", not 0005");
    return std::nullopt;
  }
  if (data.size() < kMagic.size())
    return corruption("Java serialization at byte " + std::to_string(data.size()) +
                      ": truncated in the stream header");
  java::Stream p = TRY(java::parse(data));
  Value top_value{.handle = p.top};
  const Object* handle = TRY(p.object_of(top_value, 4, kRetrievableClass, kRetrievableUid));
  const Value* wrapped = TRY(p.field(*handle, kRetrievableClass, "wrappedStreamStateHandle", 'L'));
  if (!wrapped)
    return p.fail(handle->offset,
                  "RetrievableStreamStateHandle without its field wrappedStreamStateHandle");
  const Object* file = TRY(
      p.object_of(*wrapped, wrapped->element.begin, kFileStateHandleClass, kFileStateHandleUid));
  // A stream without stateSize is read by Java with the field's default, 0.
  const Value* size = TRY(p.field(*file, kFileStateHandleClass, "stateSize", 'J'));
  const Value* path_value = TRY(p.field(*file, kFileStateHandleClass, "filePath", 'L'));
  if (!path_value) return p.fail(file->offset, "FileStateHandle without its field filePath");
  const Object* path =
      TRY(p.object_of(*path_value, path_value->element.begin, kPathClass, kPathUid));
  const Value* uri_value = TRY(p.field(*path, kPathClass, "uri", 'L'));
  if (!uri_value) return p.fail(path->offset, "Path without its field uri");
  const Object* uri = TRY(p.object_of(*uri_value, uri_value->element.begin, kUriClass, kUriUid));
  const Value* string = TRY(p.field(*uri, kUriClass, "string", 'L'));
  if (!string) return p.fail(uri->offset, "java.net.URI without its field string");
  if (string->handle < 0 || p.entry(string->handle).kind != Kind::kString)
    return p.fail(string->element.begin, "the URI's string is not a string");
  const Entry& se = p.entry(string->handle);
  std::optional<std::string> text = java::decode_modified_utf8(p.text(p.string(se)));
  if (!text) return p.fail(se.offset, "the URI string is not valid modified UTF-8");
  if (std::string problem = uri_chars_problem(*text); !problem.empty())
    // The string itself stays out of the message: a URI may carry credentials (user info).
    return p.fail(se.offset, "the URI string (" + std::to_string(text->size()) +
                                 " bytes) is no URI: " + problem);
  std::optional<std::string> decoded = percent_decode(*text);
  Located out;
  out.pointer = Pointer{
      .uri = std::move(*text), .path = std::move(*decoded), .state_size = size ? size->prim : 0};
  out.uri_element = string->element;
  out.uri_fresh = string->fresh;
  return out;
}

struct Parts {
  std::string_view scheme;
  std::string_view authority;  // empty for none and for an empty one ("file:///x")
  std::string_view path;
};

// Splits "scheme:[//authority]path" as Flink's Path(String) does: a scheme is what comes
// before a ':' that precedes every '/'.
Parts split(std::string_view s) {
  Parts p;
  size_t colon = s.find(':');
  size_t slash = s.find('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon < slash)) {
    p.scheme = s.substr(0, colon);
    s.remove_prefix(colon + 1);
  }
  if (s.starts_with("//")) {
    size_t end = s.find('/', 2);
    p.authority = s.substr(2, end == std::string_view::npos ? std::string_view::npos : end - 2);
    s.remove_prefix(end == std::string_view::npos ? s.size() : end);
  }
  p.path = s;
  return p;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Flink's S3 file systems answer to s3, s3a, s3p (and Hadoop's old s3n) for the same buckets.
std::string scheme_family(std::string_view scheme) {
  std::string s = lower(scheme);
  if (s == "s3a" || s == "s3n" || s == "s3p") return "s3";
  return s;
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

Result<std::optional<Pointer>> parse_pointer(std::string_view data) {
  std::optional<Located> l = TRY(locate(data));
  if (!l) return std::nullopt;
  return std::move(l->pointer);
}

Result<std::string> rewrite_pointer(std::string_view data, std::string_view new_uri) {
  std::optional<Located> l = TRY(locate(data));
  if (!l) return corruption("not Java serialization (no stream magic AC ED 00 05): not a pointer");
  if (!l->uri_fresh)
    return corruption("Java serialization at byte " + std::to_string(l->uri_element.begin) +
                      ": the URI string is a back-reference, which a rewrite cannot replace "
                      "alone");
  if (std::string problem = uri_chars_problem(new_uri); !problem.empty())
    return invalid_argument("new_uri", "the new URI (" + std::to_string(new_uri.size()) +
                                           " bytes) is no URI: " + problem);
  std::vector<uint32_t> cps = *java::utf8_code_points(new_uri);
  std::string mutf = java::encode_modified_utf8(cps);
  std::string element;
  if (mutf.size() <= 0xFFFF) {
    element.push_back(static_cast<char>(kTcString));
    element.push_back(static_cast<char>(mutf.size() >> 8));
    element.push_back(static_cast<char>(mutf.size()));
  } else {
    element.push_back(static_cast<char>(kTcLongString));
    for (int shift = 56; shift >= 0; shift -= 8)
      element.push_back(static_cast<char>(static_cast<uint64_t>(mutf.size()) >> shift));
  }
  std::string out;
  out.reserve(data.size() - l->uri_element.size + element.size() + mutf.size());
  out.append(data.substr(0, l->uri_element.begin));
  out.append(element);
  out.append(mutf);
  out.append(data.substr(l->uri_element.begin + l->uri_element.size));
  return out;
}

std::optional<std::string> relative_to(std::string_view decoded_path, std::string_view location) {
  Parts p = split(decoded_path);
  Parts loc = split(location);
  if (p.scheme.empty() || scheme_family(p.scheme) != scheme_family(loc.scheme)) return std::nullopt;
  std::optional<std::string> loc_authority = percent_decode(loc.authority);
  std::optional<std::string> loc_path = percent_decode(loc.path);
  if (!loc_authority || !loc_path) return std::nullopt;
  if (p.authority != *loc_authority) return std::nullopt;
  if (!p.path.starts_with('/') || !loc_path->starts_with('/')) return std::nullopt;
  std::vector<std::string_view> have = components(p.path);
  std::vector<std::string_view> base = components(*loc_path);
  if (have.size() <= base.size()) return std::nullopt;
  for (size_t i = 0; i < base.size(); ++i)
    if (have[i] != base[i] || base[i] == "." || base[i] == "..") return std::nullopt;
  std::string rel;
  for (size_t i = base.size(); i < have.size(); ++i) {
    if (have[i] == "." || have[i] == "..") return std::nullopt;
    if (!rel.empty()) rel.push_back('/');
    rel.append(have[i]);
  }
  return rel;
}

std::string uri_for(std::string_view location, std::string_view rel) {
  Parts loc = split(location);
  std::string path = percent_decode(loc.path).value_or(std::string(loc.path));
  path += "/";
  path += rel;
  // Path.normalizePath: repeated slashes become one, a trailing slash goes.
  std::string normalized;
  for (char c : path)
    if (c != '/' || normalized.empty() || normalized.back() != '/') normalized.push_back(c);
  if (normalized.size() > 1 && normalized.back() == '/') normalized.pop_back();

  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  if (!loc.scheme.empty()) {
    out.append(loc.scheme);
    out.push_back(':');
  }
  if (!loc.authority.empty()) {
    out.append("//");
    out.append(loc.authority);
  }
  auto escape = [&](std::string_view bytes) {
    for (unsigned char b : bytes) {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  };
  std::string_view rest = normalized;
  while (!rest.empty()) {
    unsigned char b = static_cast<unsigned char>(rest.front());
    if (b < 0x80) {
      if (ascii_path_char(static_cast<char>(b)))
        out.push_back(static_cast<char>(b));
      else
        escape(rest.substr(0, 1));
      rest.remove_prefix(1);
      continue;
    }
    size_t n = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
    std::optional<std::vector<uint32_t>> cp =
        n <= rest.size() ? java::utf8_code_points(rest.substr(0, n)) : std::nullopt;
    if (!cp) {
      escape(rest.substr(0, 1));  // not UTF-8: keep the byte, escaped
      rest.remove_prefix(1);
      continue;
    }
    if (unicode_space_or_control(cp->front()))
      escape(rest.substr(0, n));
    else
      out.append(rest.substr(0, n));
    rest.remove_prefix(n);
  }
  return out;
}

}  // namespace flinkbr::source::flink
