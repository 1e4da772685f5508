// A bounded reader of the Java Object Serialization Stream Protocol (the grammar of java.io:
// objects, class descriptors, strings, arrays, enums, class objects, block data, back-references
// by handle), enough to look into a stream's objects without a JVM. Flink's HA pointers
// (pointer.h) are its first user.
//
// Input is untrusted. Every length is checked against the bytes left before it is used and
// nothing is reserved from a declared count; each handle, field value and descriptor consumes
// at least one input byte, so memory stays proportional to the input (below about 64 bytes per
// input byte, the size of the records kept per element). Nesting (objects within
// objects, annotations, superclass chains) stops at kMaxDepth, so the stack stays small. A
// descriptor cannot be its own superclass. What the reader does not support (TC_RESET,
// TC_EXCEPTION, externalizable data of the old protocol 1) is refused, never skipped by guess.
// Pure functions of their input; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace flinkbr::source::flink::java {

// Nesting deeper than this is refused. A Flink pointer nests 4 objects deep; Java itself stops
// only at stack exhaustion.
inline constexpr int kMaxDepth = 64;

// The Java Object Serialization Stream Protocol's constants (java.io.ObjectStreamConstants).
inline constexpr uint8_t kTcNull = 0x70;
inline constexpr uint8_t kTcReference = 0x71;
inline constexpr uint8_t kTcClassDesc = 0x72;
inline constexpr uint8_t kTcObject = 0x73;
inline constexpr uint8_t kTcString = 0x74;
inline constexpr uint8_t kTcArray = 0x75;
inline constexpr uint8_t kTcClass = 0x76;
inline constexpr uint8_t kTcBlockData = 0x77;
inline constexpr uint8_t kTcEndBlockData = 0x78;
inline constexpr uint8_t kTcReset = 0x79;
inline constexpr uint8_t kTcBlockDataLong = 0x7A;
inline constexpr uint8_t kTcException = 0x7B;
inline constexpr uint8_t kTcLongString = 0x7C;
inline constexpr uint8_t kTcProxyClassDesc = 0x7D;
inline constexpr uint8_t kTcEnum = 0x7E;
inline constexpr uint32_t kBaseWireHandle = 0x7E0000;
inline constexpr uint8_t kScWriteMethod = 0x01;
inline constexpr uint8_t kScSerializable = 0x02;
inline constexpr uint8_t kScExternalizable = 0x04;
inline constexpr uint8_t kScBlockData = 0x08;
inline constexpr uint8_t kScEnum = 0x10;
inline constexpr std::array<uint8_t, 4> kMagic = {0xAC, 0xED, 0x00, 0x05};

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
  // Per class of the chain that has fields, from the topmost serializable superclass down:
  // that class's descriptor handle and the index of its first value.
  std::vector<std::pair<int32_t, size_t>> classes;
  std::vector<Value> values;
};

enum class Kind { kClassDesc, kObject, kString, kArray, kEnum, kClass };
struct Entry {
  Kind kind;
  size_t index = 0;   // into descs/objects/strings for those kinds
  size_t offset = 0;  // where the element begins
};

// A parsed stream: views into `data`, which must outlive it. Handles (wire handle - 0x7E0000)
// index `entries`.
struct Stream {
  std::string_view data;
  int32_t top = -1;  // the handle of the stream's one object
  std::vector<Entry> entries;
  std::vector<ClassDesc> descs;
  std::vector<Object> objects;
  std::vector<Span> strings;  // modified UTF-8 bytes

  std::string_view text(Span s) const { return data.substr(s.begin, s.size); }
  const Entry& entry(int32_t handle) const { return entries[handle]; }
  const ClassDesc& desc(int32_t handle) const { return descs[entries[handle].index]; }
  const Object& object(const Entry& e) const { return objects[e.index]; }
  Span string(const Entry& e) const { return strings[e.index]; }

  // The value of field `name` of class `class_name` in the object's class chain, as Java binds
  // it to a local field of type code `type` ('L' for any object). nullptr when the stream does
  // not hold it (Java then leaves the field at its default: 0, false or null). kCorruption when
  // it has an incompatible type: another primitive type, or primitive against object. Like
  // Java, the declared type string of an object field is not compared: the value's own class is
  // what counts (Java casts it on assignment).
  Result<const Value*> field(const Object& o, std::string_view class_name, std::string_view name,
                             char type) const;
  // The object behind `v` (found at byte `at`) when it is of class `name` with serialVersionUID
  // `uid` and the flags of a plain serializable class; kCorruption naming the offset otherwise
  // (null, another kind, class, version or flags).
  Result<const Object*> object_of(const Value& v, size_t at, std::string_view name,
                                  int64_t uid) const;
  // kCorruption: "Java serialization at byte <offset>: <what>".
  std::unexpected<Error> fail(size_t offset, std::string_view what) const;
};

// Parses `data`, which begins with the stream magic AC ED 00 05, as one object. Bytes after it
// are left unread, as ObjectInputStream.readObject leaves them (Flink's
// InstantiationUtil.deserializeObject reads one object). kCorruption naming the byte offset of
// the first problem.
[[nodiscard]] Result<Stream> parse(std::string_view data);

// Modified UTF-8 (writeUTF: NUL as C0 80, a supplementary character as two 3-byte surrogates)
// to UTF-8; nullopt for bytes Java refuses or a lone surrogate.
std::optional<std::string> decode_modified_utf8(std::string_view in);
// Strict UTF-8 to code points; nullopt for overlong forms, surrogates, values beyond U+10FFFF
// and truncated sequences.
std::optional<std::vector<uint32_t>> utf8_code_points(std::string_view in);
// Code points (as utf8_code_points returns them) to modified UTF-8.
std::string encode_modified_utf8(const std::vector<uint32_t>& code_points);

}  // namespace flinkbr::source::flink::java
