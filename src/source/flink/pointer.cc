#include "source/flink/pointer.h"

#include <array>
#include <cstdio>
#include <vector>

#include "common/text.h"

namespace flinkbr::source::flink {
namespace {

// The Java Object Serialization Stream Protocol's constants (java.io.ObjectStreamConstants).
constexpr uint8_t kTcNull = 0x70;
constexpr uint8_t kTcReference = 0x71;
constexpr uint8_t kTcClassDesc = 0x72;
constexpr uint8_t kTcObject = 0x73;
constexpr uint8_t kTcString = 0x74;
constexpr uint8_t kTcArray = 0x75;
constexpr uint8_t kTcClass = 0x76;
constexpr uint8_t kTcBlockData = 0x77;
constexpr uint8_t kTcEndBlockData = 0x78;
constexpr uint8_t kTcReset = 0x79;
constexpr uint8_t kTcBlockDataLong = 0x7A;
constexpr uint8_t kTcException = 0x7B;
constexpr uint8_t kTcLongString = 0x7C;
constexpr uint8_t kTcProxyClassDesc = 0x7D;
constexpr uint8_t kTcEnum = 0x7E;
constexpr uint32_t kBaseWireHandle = 0x7E0000;
constexpr uint8_t kScWriteMethod = 0x01;
constexpr uint8_t kScSerializable = 0x02;
constexpr uint8_t kScExternalizable = 0x04;
constexpr uint8_t kScBlockData = 0x08;
constexpr uint8_t kScEnum = 0x10;
constexpr std::array<uint8_t, 4> kMagic = {0xAC, 0xED, 0x00, 0x05};

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

// A range of the input.
struct Span {
  size_t begin = 0;
  size_t size = 0;
};

struct FieldDesc {
  char type = 0;           // 'B' 'C' 'D' 'F' 'I' 'J' 'S' 'Z', or 'L' / '[' for objects
  Span name;               // modified UTF-8
  int32_t signature = -1;  // objects: the handle of the type string ("Ljava/net/URI;")
};

struct ClassDesc {
  Span name;
  int64_t uid = 0;
  uint8_t flags = 0;
  bool proxy = false;
  bool complete = false;  // read to its end: only then may it be another's superclass
  int depth = 1;          // classes in its superclass chain, itself included
  int32_t super = -1;     // handle of the superclass's descriptor, -1 for none
  std::vector<FieldDesc> fields;
};

// A field's value: a primitive's bits, or the handle of an object (-1 for null). `element` is
// where the value's bytes are; `fresh` says they define the object there (not a TC_REFERENCE).
struct Value {
  int64_t prim = 0;
  int32_t handle = -1;
  Span element;
  bool fresh = false;
};

struct Object {
  int32_t desc = -1;  // handle of the most derived class's descriptor
  size_t offset = 0;
  // Per class of the chain, from the topmost serializable superclass down: that class's
  // descriptor handle and the index of its first value.
  std::vector<std::pair<int32_t, size_t>> classes;
  std::vector<Value> values;
};

struct StringElem {
  Span utf;  // the modified UTF-8 bytes
};

enum class Kind { kClassDesc, kObject, kString, kArray, kEnum, kClass };
struct Entry {
  Kind kind;
  size_t index = 0;   // into descs_/objects_/strings_ for those kinds
  size_t offset = 0;  // where the element begins
};

bool is_primitive(char t) {
  return t == 'B' || t == 'C' || t == 'D' || t == 'F' || t == 'I' || t == 'J' || t == 'S' ||
         t == 'Z';
}
size_t primitive_size(char t) {
  switch (t) {
    case 'B':
    case 'Z':
      return 1;
    case 'C':
    case 'S':
      return 2;
    case 'I':
    case 'F':
      return 4;
    default:
      return 8;  // 'J', 'D'
  }
}

// Reads a whole stream into descriptors, objects and strings, then answers questions about it.
// Every read checks the bytes left first; nothing is reserved from a declared count.
class StreamParser {
 public:
  explicit StreamParser(std::string_view data) : data_(data) {}

  // Parses the stream after the magic: one object, nothing after it. Returns its handle.
  Result<int32_t> parse_top() {
    pos_ = kMagic.size();
    Value v = TRY(read_object(1));
    if (pos_ != data_.size())
      return fail(pos_, std::to_string(data_.size() - pos_) + " bytes after the object");
    if (v.handle < 0) return fail(kMagic.size(), "the stream holds null, not a handle");
    return v.handle;
  }

  std::unexpected<Error> fail(size_t offset, std::string_view what) const {
    return corruption("Java serialization at byte " + std::to_string(offset) + ": " +
                      std::string(what));
  }

  std::string_view text(Span s) const { return data_.substr(s.begin, s.size); }
  const Entry& entry(int32_t handle) const { return entries_[handle]; }
  const Object& object(const Entry& e) const { return objects_[e.index]; }
  const ClassDesc& desc(int32_t handle) const { return descs_[entries_[handle].index]; }
  const StringElem& string(const Entry& e) const { return strings_[e.index]; }

 private:
  Result<uint8_t> u1() {
    if (data_.size() - pos_ < 1) return fail(pos_, "truncated");
    return static_cast<uint8_t>(data_[pos_++]);
  }
  Result<uint64_t> be(size_t n) {
    if (data_.size() - pos_ < n) return fail(pos_, "truncated");
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += n;
    return v;
  }
  Result<Span> bytes(uint64_t n) {
    if (data_.size() - pos_ < n)
      return fail(pos_, "a length of " + std::to_string(n) + " bytes runs past the end (" +
                            std::to_string(data_.size() - pos_) + " left)");
    Span s{pos_, static_cast<size_t>(n)};
    pos_ += s.size;
    return s;
  }
  // A u2-length modified UTF-8 string outside the content grammar (class and field names).
  Result<Span> utf() { return bytes(TRY(be(2))); }

  int32_t new_handle(Kind kind, size_t index, size_t offset) {
    entries_.push_back(Entry{kind, index, offset});
    return static_cast<int32_t>(entries_.size() - 1);
  }
  Result<int32_t> reference() {
    size_t at = pos_ - 1;
    uint64_t h = TRY(be(4));
    if (h < kBaseWireHandle || h - kBaseWireHandle >= entries_.size())
      return fail(at, "a reference to handle 0x" +
                          hex_lower(std::string_view(data_.data() + at + 1, 4)) +
                          ", which does not exist (" + std::to_string(entries_.size()) +
                          " handles so far)");
    return static_cast<int32_t>(h - kBaseWireHandle);
  }

  // object: newObject | newClass | newArray | newString | newEnum | newClassDesc | prevObject
  // | nullReference. Block data, exceptions and resets are not values.
  Result<Value> read_object(int depth) {
    if (depth > kMaxDepth)
      return fail(pos_, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    Value v;
    v.element.begin = pos_;
    uint8_t tc = TRY(u1());
    switch (tc) {
      case kTcNull:
        break;
      case kTcReference:
        v.handle = TRY(reference());
        break;
      case kTcObject:
        v.handle = TRY(new_object(depth));
        v.fresh = true;
        break;
      case kTcString:
      case kTcLongString: {
        int32_t h = new_handle(Kind::kString, strings_.size(), v.element.begin);
        strings_.push_back(StringElem{TRY(bytes(TRY(be(tc == kTcString ? 2 : 8))))});
        v.handle = h;
        v.fresh = true;
        break;
      }
      case kTcClassDesc:
      case kTcProxyClassDesc:
        --pos_;
        v.handle = TRY(class_desc(depth));
        v.fresh = true;
        break;
      case kTcClass: {
        TRY(class_desc(depth + 1));
        v.handle = new_handle(Kind::kClass, 0, v.element.begin);
        v.fresh = true;
        break;
      }
      case kTcEnum: {
        TRY(class_desc(depth + 1));
        v.handle = new_handle(Kind::kEnum, 0, v.element.begin);
        Value name = TRY(read_object(depth + 1));
        if (name.handle < 0 || entries_[name.handle].kind != Kind::kString)
          return fail(name.element.begin, "an enum constant's name is not a string");
        v.fresh = true;
        break;
      }
      case kTcArray:
        v.handle = TRY(new_array(depth));
        v.fresh = true;
        break;
      case kTcBlockData:
      case kTcBlockDataLong:
        return fail(v.element.begin, "block data where an object was expected");
      case kTcEndBlockData:
        return fail(v.element.begin, "end of block data where an object was expected");
      case kTcReset:
        return fail(v.element.begin, "a stream reset (TC_RESET), which no pointer holds");
      case kTcException:
        return fail(v.element.begin, "an exception written by the writer (TC_EXCEPTION)");
      default:
        return fail(v.element.begin, "unknown type code 0x" + hex_lower(std::string(1, char(tc))));
    }
    v.element.size = pos_ - v.element.begin;
    return v;
  }

  // classDesc: newClassDesc | nullReference | prevObject (a descriptor). -1 for null.
  Result<int32_t> class_desc(int depth) {
    if (depth > kMaxDepth)
      return fail(pos_, "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    size_t at = pos_;
    uint8_t tc = TRY(u1());
    if (tc == kTcNull) return -1;
    if (tc == kTcReference) {
      int32_t h = TRY(reference());
      if (entries_[h].kind != Kind::kClassDesc)
        return fail(at, "a reference to something other than a class descriptor");
      return h;
    }
    if (tc != kTcClassDesc && tc != kTcProxyClassDesc)
      return fail(at, "expected a class descriptor, found type code 0x" +
                          hex_lower(std::string(1, char(tc))));
    ClassDesc d;
    if (tc == kTcClassDesc) {
      d.name = TRY(utf());
      d.uid = static_cast<int64_t>(TRY(be(8)));
    } else {
      d.proxy = true;
    }
    size_t index = descs_.size();
    descs_.push_back(std::move(d));
    // The handle exists from here on: the descriptor's own fields may refer to it.
    int32_t handle = new_handle(Kind::kClassDesc, index, at);
    if (tc == kTcClassDesc) {
      uint8_t flags = TRY(u1());
      uint64_t count = TRY(be(2));
      std::vector<FieldDesc> fields;
      for (uint64_t i = 0; i < count; ++i) {
        FieldDesc f;
        size_t fat = pos_;
        f.type = static_cast<char>(TRY(u1()));
        f.name = TRY(utf());
        if (f.type == 'L' || f.type == '[') {
          Value sig = TRY(read_object(depth + 1));
          if (sig.handle < 0 || entries_[sig.handle].kind != Kind::kString)
            return fail(sig.element.begin, "a field's type is not a string");
          f.signature = sig.handle;
        } else if (!is_primitive(f.type)) {
          return fail(fat, "unknown field type code '" + std::string(1, f.type) + "'");
        }
        fields.push_back(f);
      }
      descs_[index].flags = flags;
      descs_[index].fields = std::move(fields);
    } else {
      uint64_t count = TRY(be(4));
      if (count > 0x7FFFFFFF) return fail(at, "a negative interface count");
      for (uint64_t i = 0; i < count; ++i) TRY(utf());
    }
    TRY(annotation(depth + 1));
    size_t super_at = pos_;
    int32_t super = TRY(class_desc(depth + 1));
    if (super >= 0) {
      const ClassDesc& s = descs_[entries_[super].index];
      if (!s.complete) return fail(super_at, "a class descriptor that is its own superclass");
      if (s.depth + 1 > kMaxDepth)
        return fail(super_at, "a superclass chain longer than " + std::to_string(kMaxDepth));
      descs_[index].depth = s.depth + 1;
    }
    descs_[index].super = super;
    descs_[index].complete = true;
    return handle;
  }

  // classAnnotation / objectAnnotation: contents up to TC_ENDBLOCKDATA.
  Status annotation(int depth) {
    for (;;) {
      if (pos_ >= data_.size()) return fail(pos_, "truncated in an annotation");
      uint8_t tc = static_cast<uint8_t>(data_[pos_]);
      if (tc == kTcEndBlockData) {
        ++pos_;
        return ok();
      }
      if (tc == kTcBlockData || tc == kTcBlockDataLong) {
        ++pos_;
        TRY(bytes(TRY(be(tc == kTcBlockData ? 1 : 4))));
        continue;
      }
      TRY(read_object(depth));
    }
  }

  Result<int32_t> new_object(int depth) {
    size_t at = pos_ - 1;
    int32_t dh = TRY(class_desc(depth + 1));
    if (dh < 0) return fail(at, "an object without a class");
    const ClassDesc& d = descs_[entries_[dh].index];
    if (d.proxy) return fail(at, "a proxy object, which no pointer holds");
    size_t index = objects_.size();
    objects_.push_back(Object{.desc = dh, .offset = at});
    int32_t handle = new_handle(Kind::kObject, index, at);
    // Class data from the topmost class down; the chain is at most kMaxDepth long.
    std::vector<int32_t> chain;
    for (int32_t c = dh; c >= 0; c = descs_[entries_[c].index].super) chain.push_back(c);
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      // By index, not by reference: reading a value may grow descs_ (the value's own class).
      const size_t di = entries_[*it].index;
      const uint8_t flags = descs_[di].flags;
      objects_[index].classes.emplace_back(*it, objects_[index].values.size());
      if (flags & kScExternalizable) {
        if (!(flags & kScBlockData))
          return fail(at, "externalizable data in the old protocol, which cannot be skipped");
        TRY(annotation(depth + 1));
        continue;
      }
      if (!(flags & kScSerializable)) continue;  // no data for a non-serializable class
      for (size_t fi = 0; fi < descs_[di].fields.size(); ++fi) {
        const char type = descs_[di].fields[fi].type;
        Value v;
        v.element.begin = pos_;
        if (is_primitive(type)) {
          v.prim = static_cast<int64_t>(TRY(be(primitive_size(type))));
          v.element.size = pos_ - v.element.begin;
        } else {
          v = TRY(read_object(depth + 1));
        }
        objects_[index].values.push_back(v);
      }
      if (flags & kScWriteMethod) TRY(annotation(depth + 1));
    }
    return handle;
  }

  Result<int32_t> new_array(int depth) {
    size_t at = pos_ - 1;
    int32_t dh = TRY(class_desc(depth + 1));
    if (dh < 0) return fail(at, "an array without a class");
    std::string_view name = text(descs_[entries_[dh].index].name);
    if (name.size() < 2 || name[0] != '[') return fail(at, "an array whose class is not an array");
    int32_t handle = new_handle(Kind::kArray, 0, at);
    uint64_t size = TRY(be(4));
    if (size > 0x7FFFFFFF) return fail(at, "an array of negative size");
    char element = name[1];
    if (is_primitive(element)) {
      TRY(bytes(size * primitive_size(element)));  // at most 8 * 2^31: no overflow
    } else if (element == 'L' || element == '[') {
      if (size > data_.size() - pos_)
        return fail(at, "an array of " + std::to_string(size) + " objects in " +
                            std::to_string(data_.size() - pos_) + " bytes");
      for (uint64_t i = 0; i < size; ++i) TRY(read_object(depth + 1));
    } else {
      return fail(at, "an array of unknown element type");
    }
    return handle;
  }

  std::string_view data_;
  size_t pos_ = 0;
  std::vector<Entry> entries_;  // handle - 0x7E0000 -> element
  std::vector<ClassDesc> descs_;
  std::vector<Object> objects_;
  std::vector<StringElem> strings_;
};

// Modified UTF-8 (Java's writeUTF: NUL as C0 80, supplementary characters as two 3-byte
// surrogates) to UTF-8. nullopt when Java would refuse it or it holds a lone surrogate.
std::optional<std::string> from_modified_utf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  auto put = [&](uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  };
  uint32_t high = 0;  // a pending high surrogate
  for (size_t i = 0; i < in.size();) {
    uint8_t b = static_cast<uint8_t>(in[i]);
    uint32_t unit;
    auto cont = [&](size_t k) {
      return k < in.size() && (static_cast<uint8_t>(in[k]) & 0xC0) == 0x80;
    };
    if (b < 0x80) {
      unit = b;
      i += 1;
    } else if ((b & 0xE0) == 0xC0 && cont(i + 1)) {
      unit = ((b & 0x1Fu) << 6) | (static_cast<uint8_t>(in[i + 1]) & 0x3Fu);
      i += 2;
    } else if ((b & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
      unit = ((b & 0x0Fu) << 12) | ((static_cast<uint8_t>(in[i + 1]) & 0x3Fu) << 6) |
             (static_cast<uint8_t>(in[i + 2]) & 0x3Fu);
      i += 3;
    } else {
      return std::nullopt;
    }
    if (unit >= 0xD800 && unit < 0xDC00) {
      if (high) return std::nullopt;
      high = unit;
      continue;
    }
    if (unit >= 0xDC00 && unit < 0xE000) {
      if (!high) return std::nullopt;
      put(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00));
      high = 0;
      continue;
    }
    if (high) return std::nullopt;
    put(unit);
  }
  if (high) return std::nullopt;
  return out;
}

// Decodes strict UTF-8 into code points; nullopt for anything else (overlong forms,
// surrogates, beyond U+10FFFF, truncation).
std::optional<std::vector<uint32_t>> code_points(std::string_view in) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < in.size();) {
    uint8_t b = static_cast<uint8_t>(in[i]);
    size_t n = b < 0x80             ? 1
               : (b & 0xE0) == 0xC0 ? 2
               : (b & 0xF0) == 0xE0 ? 3
               : (b & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (n == 0 || in.size() - i < n) return std::nullopt;
    uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1Fu) : n == 3 ? (b & 0x0Fu) : (b & 0x07u);
    for (size_t k = 1; k < n; ++k) {
      uint8_t c = static_cast<uint8_t>(in[i + k]);
      if ((c & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return std::nullopt;
    out.push_back(cp);
    i += n;
  }
  return out;
}

// UTF-8 (checked by code_points) to modified UTF-8.
std::string to_modified_utf8(const std::vector<uint32_t>& cps) {
  std::string out;
  auto unit = [&](uint32_t u) {
    if (u != 0 && u < 0x80) {
      out.push_back(static_cast<char>(u));
    } else if (u < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (u >> 6)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xE0 | (u >> 12)));
      out.push_back(static_cast<char>(0x80 | ((u >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (u & 0x3F)));
    }
  };
  for (uint32_t cp : cps) {
    if (cp < 0x10000) {
      unit(cp);
    } else {
      unit(0xD800 + ((cp - 0x10000) >> 10));
      unit(0xDC00 + ((cp - 0x10000) & 0x3FF));
    }
  }
  return out;
}

// Java's Character.isSpaceChar or isISOControl, above ASCII: java.net.URI quotes these in a
// path and refuses them unquoted.
bool unicode_space_or_control(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// RFC 2396 path characters as java.net.URI's L_PATH/H_PATH define them (escapes aside).
bool ascii_path_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view(
             "-_.!~*'()"
             ":@&=+$,"
             ";/")
                 .find(c) != std::string_view::npos;
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
  std::optional<std::vector<uint32_t>> cps = code_points(uri);
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

// Finds `name` among the fields of the class `class_name` in the object's chain.
const Value* field(const StreamParser& p, const Object& o, std::string_view class_name,
                   std::string_view name, char type, std::string_view signature) {
  for (auto [dh, first] : o.classes) {
    const ClassDesc& d = p.desc(dh);
    if (p.text(d.name) != class_name) continue;
    // Java binds such a descriptor to a plain serializable class only with these flags.
    if (!(d.flags & kScSerializable) || (d.flags & (kScExternalizable | kScEnum))) return nullptr;
    for (size_t i = 0; i < d.fields.size(); ++i) {
      const FieldDesc& f = d.fields[i];
      if (p.text(f.name) != name) continue;
      if (f.type != type) return nullptr;
      if (type == 'L' && p.text(p.string(p.entry(f.signature)).utf) != signature) return nullptr;
      return &o.values[first + i];
    }
  }
  return nullptr;
}

// The object behind value `v` when it is one of class `name` with serialVersionUID `uid`.
Result<const Object*> expect_object(const StreamParser& p, const Value& v, size_t at,
                                    std::string_view name, int64_t uid) {
  if (v.handle < 0) return p.fail(at, "null where a " + std::string(name) + " was expected");
  const Entry& e = p.entry(v.handle);
  if (e.kind != Kind::kObject)
    return p.fail(e.offset, "not an object where a " + std::string(name) + " was expected");
  const Object& o = p.object(e);
  const ClassDesc& d = p.desc(o.desc);
  if (p.text(d.name) != name)
    return p.fail(o.offset, "an object of class '" + std::string(p.text(d.name)) + "', not " +
                                std::string(name));
  if (d.uid != uid)
    return p.fail(o.offset, std::string(name) + " with serialVersionUID " + std::to_string(d.uid) +
                                ", not " + std::to_string(uid));
  return &o;
}

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
  StreamParser p(data);
  int32_t top = TRY(p.parse_top());
  Value top_value{.handle = top};
  const Object* handle = TRY(expect_object(p, top_value, 4, kRetrievableClass, kRetrievableUid));
  const Value* wrapped = field(p, *handle, kRetrievableClass, "wrappedStreamStateHandle", 'L',
                               "Lorg/apache/flink/runtime/state/StreamStateHandle;");
  if (!wrapped)
    return p.fail(handle->offset,
                  "RetrievableStreamStateHandle without its field "
                  "wrappedStreamStateHandle (StreamStateHandle)");
  const Object* file = TRY(expect_object(p, *wrapped, wrapped->element.begin, kFileStateHandleClass,
                                         kFileStateHandleUid));
  const Value* size = field(p, *file, kFileStateHandleClass, "stateSize", 'J', {});
  const Value* path_value =
      field(p, *file, kFileStateHandleClass, "filePath", 'L', "Lorg/apache/flink/core/fs/Path;");
  if (!size || !path_value)
    return p.fail(file->offset,
                  "FileStateHandle without its fields stateSize (long) and filePath (Path)");
  const Object* path =
      TRY(expect_object(p, *path_value, path_value->element.begin, kPathClass, kPathUid));
  const Value* uri_value = field(p, *path, kPathClass, "uri", 'L', "Ljava/net/URI;");
  if (!uri_value) return p.fail(path->offset, "Path without its field uri (java.net.URI)");
  const Object* uri =
      TRY(expect_object(p, *uri_value, uri_value->element.begin, kUriClass, kUriUid));
  const Value* string = field(p, *uri, kUriClass, "string", 'L', "Ljava/lang/String;");
  if (!string) return p.fail(uri->offset, "java.net.URI without its field string (String)");
  if (string->handle < 0 || p.entry(string->handle).kind != Kind::kString)
    return p.fail(string->element.begin, "the URI's string is not a string");
  const Entry& se = p.entry(string->handle);
  std::optional<std::string> text = from_modified_utf8(p.text(p.string(se).utf));
  if (!text) return p.fail(se.offset, "the URI string is not valid modified UTF-8");
  if (std::string problem = uri_chars_problem(*text); !problem.empty())
    return p.fail(se.offset, "the URI string '" + *text + "' is no URI: " + problem);
  std::optional<std::string> decoded = percent_decode(*text);
  Located out;
  out.pointer =
      Pointer{.uri = std::move(*text), .path = std::move(*decoded), .state_size = size->prim};
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
    return invalid_argument("new_uri",
                            "the new URI '" + std::string(new_uri) + "' is no URI: " + problem);
  std::vector<uint32_t> cps = *code_points(new_uri);
  std::string mutf = to_modified_utf8(cps);
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
        n <= rest.size() ? code_points(rest.substr(0, n)) : std::nullopt;
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
