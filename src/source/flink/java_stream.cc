#include "source/flink/java_stream.h"

#include "common/text.h"

namespace flinkbr::source::flink::java {
namespace {

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

// Reads a whole stream into a Stream, depth first as Java reads it.
// Every read checks the bytes left first; nothing is reserved from a declared count.
class Parser {
 public:
  explicit Parser(std::string_view data) : data_(data) {}

  // Parses the stream after the magic: one object; what follows it stays unread, as in Java.
  Result<Stream> parse() && {
    pos_ = kMagic.size();
    Value v = TRY(read_object(1));
    if (v.handle < 0) return fail(kMagic.size(), "the stream holds null, not an object");
    return Stream{.data = data_,
                  .top = v.handle,
                  .entries = std::move(entries_),
                  .descs = std::move(descs_),
                  .objects = std::move(objects_),
                  .strings = std::move(strings_)};
  }

 private:
  std::unexpected<Error> fail(size_t offset, std::string_view what) const {
    return Stream{.data = data_}.fail(offset, what);
  }
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
  Result<Span> utf() { return checked_utf(TRY(bytes(TRY(be(2))))); }
  // Java reads every string with readUTF and refuses bytes that are not modified UTF-8: a
  // continuation byte where a character starts, F0-FF, or a sequence cut short. (Surrogates
  // and overlong forms it takes as they come.)
  Result<Span> checked_utf(Span s) {
    for (size_t i = s.begin, end = s.begin + s.size; i < end;) {
      uint8_t b = static_cast<uint8_t>(data_[i]);
      size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : 0;
      if (n == 0 || end - i < n)
        return fail(i, "a string that is not modified UTF-8 (byte 0x" +
                           hex_lower(data_.substr(i, 1)) + ")");
      for (size_t k = 1; k < n; ++k)
        if ((static_cast<uint8_t>(data_[i + k]) & 0xC0) != 0x80)
          return fail(i + k, "a string that is not modified UTF-8 (byte 0x" +
                                 hex_lower(data_.substr(i + k, 1)) + ")");
      i += n;
    }
    return s;
  }

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
        strings_.push_back(TRY(checked_utf(TRY(bytes(TRY(be(tc == kTcString ? 2 : 8)))))));
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
          // Java takes an object field's kind from its type string: "L..." or "[...".
          Span t = strings_[entries_[sig.handle].index];
          if (t.size == 0 || (data_[t.begin] != 'L' && data_[t.begin] != '['))
            return fail(sig.element.begin, "an invalid type string for an object field");
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
      // Only classes with fields are recorded: each of those costs the input a byte per value,
      // while 64 empty classes could otherwise cost 1 KiB per 6-byte object.
      if (!descs_[di].fields.empty())
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
    Span n = descs_[entries_[dh].index].name;
    std::string_view name = data_.substr(n.begin, n.size);
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
  std::vector<Span> strings_;
};

}  // namespace

std::unexpected<Error> Stream::fail(size_t offset, std::string_view what) const {
  return corruption("Java serialization at byte " + std::to_string(offset) + ": " +
                    std::string(what));
}

Result<const Value*> Stream::field(const Object& o, std::string_view class_name,
                                   std::string_view name, char type) const {
  for (auto [dh, first] : o.classes) {
    const ClassDesc& d = desc(dh);
    if (text(d.name) != class_name) continue;
    if (!(d.flags & kScSerializable) || (d.flags & (kScExternalizable | kScEnum))) return nullptr;
    for (size_t i = 0; i < d.fields.size(); ++i) {
      const FieldDesc& f = d.fields[i];
      if (text(f.name) != name) continue;
      bool object = f.type == 'L' || f.type == '[';
      if (type == 'L' ? !object : f.type != type)
        return fail(o.offset, std::string(class_name) + "." + std::string(name) + " of type '" +
                                  std::string(1, f.type) + "', not '" + std::string(1, type) + "'");
      return &o.values[first + i];
    }
  }
  return nullptr;
}

Result<const Object*> Stream::object_of(const Value& v, size_t at, std::string_view name,
                                        int64_t uid) const {
  if (v.handle < 0) return fail(at, "null where a " + std::string(name) + " was expected");
  const Entry& e = entry(v.handle);
  if (e.kind != Kind::kObject)
    return fail(e.offset, "not an object where a " + std::string(name) + " was expected");
  const Object& o = object(e);
  const ClassDesc& d = desc(o.desc);
  if (text(d.name) != name)
    return fail(o.offset,
                "an object of class '" + std::string(text(d.name)) + "', not " + std::string(name));
  if (d.uid != uid)
    return fail(o.offset, std::string(name) + " with serialVersionUID " + std::to_string(d.uid) +
                              ", not " + std::to_string(uid));
  // Java binds such a descriptor to a plain serializable class only with these flags.
  if (!(d.flags & kScSerializable) || (d.flags & (kScExternalizable | kScEnum)))
    return fail(o.offset, std::string(name) + " with class flags 0x" +
                              hex_lower(std::string(1, static_cast<char>(d.flags))) +
                              ", not those of a serializable class");
  return &o;
}

Result<Stream> parse(std::string_view data) {
  return Parser(data).parse();
}

std::optional<std::string> decode_modified_utf8(std::string_view in) {
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

std::optional<std::vector<uint32_t>> utf8_code_points(std::string_view in) {
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

std::string encode_modified_utf8(const std::vector<uint32_t>& cps) {
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

}  // namespace flinkbr::source::flink::java
