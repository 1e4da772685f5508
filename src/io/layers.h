// Stream layers that decorate a Reader or Writer: SHA-256, byte counting (feeds progress),
// gzip compression and decompression. Each layer owns or borrows the stream beneath it as
// documented on its constructor; a Writer layer's finish() writes its trailer and then finishes
// the writer beneath it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "io/stream.h"

namespace flinkbr::io {

// Incremental SHA-256 (OpenSSL EVP). Not thread-safe.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::byte> data);
  // Lower-case hex digest; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
std::string sha256_hex(std::string_view data);

// Passes bytes through to `inner` (borrowed, must outlive this) while hashing and counting them.
class HashingWriter final : public Writer {
 public:
  explicit HashingWriter(Writer& inner) : inner_(inner) {}
  Status write(std::span<const std::byte> data) override;
  // Finishes the inner writer.
  Status finish() override;
  uint64_t bytes() const { return bytes_; }
  // Valid after finish().
  const std::string& sha256() const { return digest_; }

 private:
  Writer& inner_;
  Sha256 hash_;
  uint64_t bytes_ = 0;
  std::string digest_;
};

// Hashes and counts what is read through it from `inner` (borrowed). `on_progress`, when set,
// is called with the running byte count after every read.
class HashingReader final : public Reader {
 public:
  explicit HashingReader(Reader& inner, std::function<void(uint64_t)> on_progress = {})
      : inner_(inner), on_progress_(std::move(on_progress)) {}
  Result<size_t> read(std::span<std::byte> out) override;
  uint64_t bytes() const { return bytes_; }
  // Digest of everything read so far; call once, at end of stream.
  std::string sha256() { return hash_.hex_digest(); }

 private:
  Reader& inner_;
  std::function<void(uint64_t)> on_progress_;
  Sha256 hash_;
  uint64_t bytes_ = 0;
};

// Which deflate implementation does the work. ISA-L (compression levels 0-3) is several times
// faster than zlib; zlib (levels 1-9) compresses a little smaller.
enum class DeflateEngine { kIsal, kZlib };

struct GzipOptions {
  int level = 6;  // 1 (fast) .. 9 (small)
};

// Single-threaded zlib gzip (RFC 1952) compressor writing to `inner` (borrowed). finish() writes
// the gzip trailer and finishes `inner`. Backup files use ParallelGzipWriter (parallel_gzip.h).
std::unique_ptr<Writer> gzip_writer(Writer& inner, GzipOptions options = {});
// How many gzip members a reader accepts: any number one after the other (`cat a.gz b.gz`, as
// gzip -d does), or exactly one (backup files: bytes after the first member would be data no
// check covers, so they make the stream invalid).
enum class GzipMembers { kAny, kOne };

// gzip decompressor reading from `inner` (borrowed). Checks each member's trailer (CRC-32 and
// length). A stream that ends early fails with kCorruption "gzip stream is truncated"; bad data,
// a bad trailer or something that is not gzip with kCorruption "gzip stream is corrupt: <why>";
// with GzipMembers::kOne, anything after the first member with kCorruption "gzip stream has data
// after its end ...". The error is sticky. ISA-L's inflate by default (about 3-4 times zlib's
// speed); zlib's for comparison in tests.
std::unique_ptr<Reader> gzip_reader(Reader& inner, DeflateEngine engine = DeflateEngine::kIsal,
                                    GzipMembers members = GzipMembers::kAny);

// Reads `inner` (borrowed) ahead on its own thread into a bounded queue of `chunks` buffers of
// `chunk_size` bytes, so that what lies beneath (storage reads, hashing, decompression) overlaps
// with what the caller does with the data. Errors of `inner` reach the caller in order, after
// the data read before them. While the ReadAhead lives, only its thread uses `inner`; destroying
// it (or close()) stops and joins the thread, after which `inner` may be used again.
class ReadAhead final : public Reader {
 public:
  explicit ReadAhead(Reader& inner, size_t chunk_size = 256 * 1024, size_t chunks = 8);
  ~ReadAhead() override;
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;
  Result<size_t> read(std::span<std::byte> out) override;
  // Stops the thread and waits for it. Reading afterwards returns kFailedPrecondition.
  void close();

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace flinkbr::io
