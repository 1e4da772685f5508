// Large objects of a postgres source: the ones that the oid columns of its tables reference
// (columns of type oid, or of a domain over oid such as contrib's `lo`). A backup keeps each
// one's bytes under "large-objects/<oid>"; a restore creates them again with the same oids, in
// its transaction (large objects are transactional), so that the rows point at them again.
// A referenced oid that is no large object fails the backup, naming the column: a backup never
// keeps a dangling oid silently.
//
// Internal to source/postgres/. Every call runs inside the caller's transaction (large object
// descriptors live until its end). Not thread-safe (one Session).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "io/stream.h"
#include "source/postgres/pg_session.h"

namespace flinkbr::source::postgres {

struct LargeObjectRef {
  uint32_t oid = 0;
  std::string column;  // "table.column" of the first column found referencing it
};

// Distinct oids referenced by the oid columns of `tables` of `schema`, ascending.
[[nodiscard]] Result<std::vector<LargeObjectRef>> referenced_large_objects(
    Session& db, const std::string& schema, const std::vector<std::string>& tables);

// An open large object, read as a stream (the archive writer pulls it), closed when destroyed.
class LargeObjectReader final : public io::Reader {
 public:
  // Fails naming `ref.column` when the oid is no large object the session can read.
  [[nodiscard]] static Result<std::unique_ptr<LargeObjectReader>> open(Session& db,
                                                                       const LargeObjectRef& ref);
  ~LargeObjectReader() override;
  Result<size_t> read(std::span<std::byte> out) override;
  uint64_t size() const { return size_; }

 private:
  LargeObjectReader(Session& db, int fd, uint64_t size) : db_(db), fd_(fd), size_(size) {}
  Session& db_;
  int fd_;
  uint64_t size_;
};

// Size and SHA-256 of a live large object; nullopt-like kNotFound when it does not exist.
struct LargeObjectDigest {
  uint64_t size = 0;
  std::string sha256;
};
[[nodiscard]] Result<LargeObjectDigest> digest_large_object(Session& db, uint32_t oid);

// Makes large object `oid` hold exactly the bytes of `file` (unlinked first when it exists).
[[nodiscard]] Status write_large_object(Session& db, uint32_t oid, const std::string& file);

}  // namespace flinkbr::source::postgres
