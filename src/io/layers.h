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

struct GzipOptions {
  int level = 6;  // 1 (fast) .. 9 (small)
};

// gzip (RFC 1952) compressor writing to `inner` (borrowed). finish() writes the gzip trailer and
// finishes `inner`.
std::unique_ptr<Writer> gzip_writer(Writer& inner, GzipOptions options = {});
// gzip decompressor reading from `inner` (borrowed). Accepts concatenated members. A stream that
// ends early or has a bad CRC fails with kCorruption.
std::unique_ptr<Reader> gzip_reader(Reader& inner);

}  // namespace flinkbr::io
