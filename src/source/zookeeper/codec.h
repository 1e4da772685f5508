// The zookeeper payload's codec: how one znode is written as one JSON line of a payload part,
// and read back.
//
// A payload is a sequence of entries "znodes/part-000001.jsonl", "znodes/part-000002.jsonl",
// ... (part_name()), each at most kPartLimit bytes of whole lines, one persistent znode per
// line, sorted byte-wise by path relative to the source's root (the root itself is "/"):
//   {"acl":[{"id":"anyone","perms":31,"scheme":"world"}],"data":"AAEC","path":"/jobs/a",
//    "sequential":false}
// "data" is standard base64 (canonical: unused bits zero), or null for a znode whose data is
// null; empty data is "". docs/archive-format.md ("zookeeper sources") is the reference.
//
// This header is the one the engine may include to read ZooKeeper payloads from a backup file:
// parse_line() turns one line into (path, data, acl, sequential) and for_each_line() walks a
// whole part. Pure functions, no I/O, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace flinkbr::source::zookeeper {

// Bytes of one payload part, at most.
inline constexpr size_t kPartLimit = 4 * 1024 * 1024;

// One entry of a znode's ACL, as ZooKeeper gives it ("world", "anyone", 31).
struct Acl {
  int32_t perms = 0;
  std::string scheme;
  std::string id;
  bool operator==(const Acl&) const = default;
};

// A znode as read from ZooKeeper or from a payload line.
struct Znode {
  std::optional<std::string> data;  // nullopt: null data
  std::vector<Acl> acl;
  bool sequential = false;  // created with a sequential flag (payload field "sequential")
  bool ephemeral = false;   // never set by parse_line(): payloads hold persistent znodes only
  int64_t owner = 0;        // the session id of an ephemeral znode (its Stat's ephemeralOwner)
};

// "znodes/part-000001.jsonl" for n = 1.
std::string part_name(size_t n);

// Base64 (RFC 4648, padded). b64_decode() accepts the canonical spelling only; nullopt otherwise.
void b64_append(std::string& out, std::string_view in);
std::optional<std::string> b64_decode(std::string_view in);
// Appends the decoded `in` to `out`; false (and `out` as it was) when `in` is not canonical.
[[nodiscard]] bool b64_decode_into(std::string& out, std::string_view in);

// Whether `p` is "/" or an absolute znode path without empty, "." or ".." components or NULs.
bool valid_rel_path(std::string_view p);

// Appends the payload line of znode `rel` (with its newline), keys in byte-wise order, no
// spaces. kFailedPrecondition when the path or an ACL string is not valid UTF-8 (JSON cannot
// carry it), naming which.
[[nodiscard]] Status append_line(std::string& out, const std::string& rel, const Znode& z);

// Parses one payload line (without its newline) into (path, znode). Any valid JSON spelling of
// the line is accepted; the canonical one append_line() writes takes a fast path. kCorruption
// naming `lineno` (1-based, for messages) and what is wrong: unknown fields, a path that is not
// valid_rel_path(), data that is neither canonical base64 nor null, an empty or malformed ACL,
// perms outside 0..31, no sequential flag.
[[nodiscard]] Result<std::pair<std::string, Znode>> parse_line(std::string_view line,
                                                               size_t lineno);

// Calls `visit` with every line of a payload part in order. kCorruption when the part does not
// end a line, or a line does not parse (its number counted from `first_lineno`); the first
// error `visit` returns stops the walk and is returned.
[[nodiscard]] Status for_each_line(std::string_view part,
                                   const std::function<Status(std::string rel, Znode& z)>& visit,
                                   size_t first_lineno = 1);

}  // namespace flinkbr::source::zookeeper
