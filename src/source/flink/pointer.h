// Flink HA pointers: what a Flink ZooKeeper HA node's data says and where it points.
//
// Flink (ZooKeeperStateHandleStore, FileSystemStateStorageHelper) stores a job graph, an
// execution plan or a completed checkpoint in a file under high-availability.storageDir and puts
// into the znode the Java serialization of the handle to that file:
//   RetrievableStreamStateHandle -> FileStateHandle (stateSize, filePath) -> Path -> java.net.URI
// whose only serialized field is the URI string, percent-encoded as java.net.URI quotes a path.
// This unit reads and rewrites those bytes without a JVM.
//
// The reader parses the whole stream with java_stream.h (bounded, hostile-input safe: memory
// proportional to the input, nesting cut at java::kMaxDepth), then checks it the way Java's
// ObjectInputStream would against Flink's classes: class names, serialVersionUIDs and field
// types must match, and the URI string must be one java.net.URI accepts, so bytes this reader
// accepts are bytes a JobManager can read back. No function here keeps state; all are
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace flinkbr::source::flink {

// A Flink HA pointer: the file a ZooKeeper node's data points to.
struct Pointer {
  // As serialized (percent-encoded, UTF-8), e.g. "file:/data/ha/prod/completedCheckpoint1a2b".
  std::string uri;
  // uri percent-decoded, e.g. "file:/data/ha/prod/completedCheckpoint 1a2b" for "...%201a2b".
  std::string path;
  // FileStateHandle.stateSize: for HA pointers, the length of the file.
  int64_t state_size = 0;
};

// nullopt: the data is not Java serialization at all (empty, or not starting with the stream
// magic AC ED): not a pointer (a checkpoint counter, a leader's connection info, ...).
// kCorruption with a reason naming the byte offset: Java serialization (AC ED, or a truncated
// prefix of AC ED 00 05) that is not a readable RetrievableStreamStateHandle -> FileStateHandle
// -> Path -> URI: truncated, hostile, another class or version. Bytes after the object are
// ignored, as a JobManager ignores them.
[[nodiscard]] Result<std::optional<Pointer>> parse_pointer(std::string_view data);

// The same bytes with the URI string replaced by new_uri (already percent-encoded, UTF-8),
// written as Java would: TC_STRING up to 65535 bytes of modified UTF-8, TC_LONGSTRING beyond.
// Back-references are by handle number, so the rest of the stream stays byte-identical.
// kCorruption when data is not a pointer parse_pointer accepts; kInvalidArgument (field
// "new_uri") when new_uri is empty, not UTF-8, or holds a character java.net.URI refuses.
[[nodiscard]] Result<std::string> rewrite_pointer(std::string_view data, std::string_view new_uri);

// Locations are files-source URIs: "file:///data/ha", "hdfs://ns/flink/ha", "s3://bucket/p",
// "obs://bucket/p" (percent-encoded, as configured). Pointer paths are decoded Flink paths, and
// Flink writes "file:/x" for local files: file:/x and file:///x are the same place.

// The pointer's path relative to the location ("prod/completedCheckpoint1a2b", decoded), or
// nullopt when it is not strictly under it: another scheme (compared case-insensitively) or
// authority, another directory (path components are compared, never string prefixes:
// /data/ha2 is not under /data/ha), the location itself, or a "." or ".." component.
[[nodiscard]] std::optional<std::string> relative_to(std::string_view decoded_path,
                                                     std::string_view location);

// The percent-encoded URI that Flink's Path would serialize for location + "/" + rel (rel
// decoded, as relative_to returns it): the path quoted as java.net.URI(scheme, authority, path,
// null, null) quotes it (ASCII outside RFC 2396's path characters and '%' as %XX, upper-case;
// non-ASCII kept, except Unicode spaces and controls), repeated and trailing slashes dropped as
// Path does, and "file:/x" for a local location without authority.
[[nodiscard]] std::string uri_for(std::string_view location, std::string_view rel);

}  // namespace flinkbr::source::flink
