#include "source/postgres/large_objects.h"

#include <fcntl.h>
#include <libpq/libpq-fs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <set>

#include "io/layers.h"

namespace flinkbr::source::postgres {

namespace {

constexpr size_t kChunk = 256u << 10;

}  // namespace

Result<std::vector<LargeObjectRef>> referenced_large_objects(
    Session& db, const std::string& schema, const std::vector<std::string>& tables) {
  auto cols = TRY(db.exec(
      "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
      "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
      "WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
      "AND (a.atttypid = 'oid'::regtype OR (t.typtype = 'd' AND t.typbasetype = 'oid'::regtype)) "
      "ORDER BY c.relname COLLATE \"C\", a.attnum",
      {schema}));
  std::vector<LargeObjectRef> out;
  std::set<uint32_t> seen;
  for (int i = 0; i < PQntuples(cols.get()); ++i) {
    std::string table = PQgetvalue(cols.get(), i, 0), column = PQgetvalue(cols.get(), i, 1);
    if (std::find(tables.begin(), tables.end(), table) == tables.end()) continue;
    auto r = TRY(db.exec("SELECT DISTINCT " + quote_ident(column) + " FROM " + quote_ident(schema) +
                         "." + quote_ident(table) + " WHERE " + quote_ident(column) +
                         " IS NOT NULL ORDER BY 1"));
    for (int j = 0; j < PQntuples(r.get()); ++j) {
      uint32_t oid = static_cast<uint32_t>(std::strtoul(PQgetvalue(r.get(), j, 0), nullptr, 10));
      if (seen.insert(oid).second) out.push_back({oid, table + "." + column});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.oid < b.oid; });
  return out;
}

Result<std::unique_ptr<LargeObjectReader>> LargeObjectReader::open(Session& db,
                                                                   const LargeObjectRef& ref) {
  // Looked up first: a failed lo_open would abort the caller's transaction.
  auto exists = TRY(db.exec("SELECT 1 FROM pg_largeobject_metadata WHERE oid = $1::oid",
                            {std::to_string(ref.oid)}));
  if (PQntuples(exists.get()) == 0)
    return failed_precondition("column " + ref.column + " references large object " +
                               std::to_string(ref.oid) +
                               ", which does not exist; a backup never keeps a dangling oid (set "
                               "the column to NULL or put the large object back)");
  int fd = lo_open(db.get(), ref.oid, INV_READ);
  if (fd < 0)
    return std::unexpected(db.error(
        db.errc(), "opening large object " + std::to_string(ref.oid) + " of column " + ref.column));
  pg_int64 end = lo_lseek64(db.get(), fd, 0, SEEK_END);
  if (end < 0 || lo_lseek64(db.get(), fd, 0, SEEK_SET) != 0) {
    lo_close(db.get(), fd);
    return std::unexpected(db.error(db.errc(), "sizing large object " + std::to_string(ref.oid)));
  }
  return std::unique_ptr<LargeObjectReader>(
      new LargeObjectReader(db, fd, static_cast<uint64_t>(end)));
}

LargeObjectReader::~LargeObjectReader() {
  lo_close(db_.get(), fd_);
}

Result<size_t> LargeObjectReader::read(std::span<std::byte> out) {
  int n =
      lo_read(db_.get(), fd_, reinterpret_cast<char*>(out.data()), std::min(out.size(), kChunk));
  if (n < 0) return std::unexpected(db_.error(db_.errc(), "reading a large object"));
  return static_cast<size_t>(n);
}

Result<LargeObjectDigest> digest_large_object(Session& db, uint32_t oid) {
  LargeObjectRef ref{oid, "(large object " + std::to_string(oid) + ")"};
  auto exists = TRY(
      db.exec("SELECT 1 FROM pg_largeobject_metadata WHERE oid = $1::oid", {std::to_string(oid)}));
  if (PQntuples(exists.get()) == 0)
    return not_found("large object " + std::to_string(oid) + " does not exist");
  auto reader = TRY(LargeObjectReader::open(db, ref));
  io::Sha256 hash;
  std::vector<std::byte> buf(kChunk);
  LargeObjectDigest d;
  for (;;) {
    size_t n = TRY(reader->read(buf));
    if (n == 0) break;
    hash.update(std::span<const std::byte>(buf.data(), n));
    d.size += n;
  }
  d.sha256 = hash.hex_digest();
  return d;
}

Status write_large_object(Session& db, uint32_t oid, const std::string& file) {
  const std::string what = "putting back large object " + std::to_string(oid);
  TRY_CTX(db.exec("SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE oid = $1::oid",
                  {std::to_string(oid)}),
          what);
  if (lo_create(db.get(), oid) != oid) return std::unexpected(db.error(db.errc(), what));
  int fd = lo_open(db.get(), oid, INV_WRITE);
  if (fd < 0) return std::unexpected(db.error(db.errc(), what));
  int in = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    int e = errno;
    lo_close(db.get(), fd);
    return errno_error("opening staged " + file, e);
  }
  std::vector<char> buf(kChunk);
  Status st = ok();
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = errno_error("reading staged " + file, errno);
      break;
    }
    if (n == 0) break;
    if (lo_write(db.get(), fd, buf.data(), static_cast<size_t>(n)) != n) {
      st = std::unexpected(db.error(db.errc(), what));
      break;
    }
  }
  ::close(in);
  if (lo_close(db.get(), fd) != 0 && st) st = std::unexpected(db.error(db.errc(), what));
  return st;
}

}  // namespace flinkbr::source::postgres
