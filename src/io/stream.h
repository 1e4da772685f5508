// Byte streams. Everything flinkbr moves (backup files, payload entries, staged files) flows
// through these two interfaces, stacked in layers: source -> tar -> gzip -> sha256/count ->
// storage writer, and back again on restore. Memory stays bounded by the buffers of the layers,
// never by the size of the data.
//
// Commit is explicit: a Writer is only durable after finish() returned ok. A Writer destroyed
// without a successful finish() aborts: it discards what it wrote (deletes its temporary file,
// aborts a multipart upload). A decorating Writer finishes the Writer beneath it after writing
// its own trailer.
//
// Neither interface is thread-safe; one thread uses one stream at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace flinkbr::io {

class Reader {
 public:
  virtual ~Reader() = default;
  // Reads up to out.size() bytes into out. Returns the number read; 0 means end of stream.
  // A short read is not end of stream.
  [[nodiscard]] virtual Result<size_t> read(std::span<std::byte> out) = 0;

  // Readers that hash everything they return anyway (the data of an archive entry, which the
  // archive reader checks against its manifest) say so, so that a consumer need not hash the
  // same bytes a second time. sha256_at_end() is the lower-case hex SHA-256 of all the data
  // returned, valid once read() returned 0 (end of stream); empty before.
  virtual bool hashes_sha256() const { return false; }
  virtual std::string sha256_at_end() const { return {}; }

  // Readers that hold their data in memory already can lend it instead of copying it out:
  // when lends() says so, view(max) returns the next 1 to `max` bytes in place (empty at end of
  // stream), valid until the next call on this reader; read() and view() may be mixed. The
  // archive writer takes the files source's read-ahead this way, so that a file's bytes are
  // copied once between the kernel and the compressor.
  virtual bool lends() const { return false; }
  [[nodiscard]] virtual Result<std::span<const std::byte>> view(size_t /*max*/) {
    return failed_precondition("this reader does not lend its data");
  }
};

class Writer {
 public:
  virtual ~Writer() = default;
  // Appends all of data (no short writes).
  [[nodiscard]] virtual Status write(std::span<const std::byte> data) = 0;
  // Flushes, makes durable and commits. After finish() the writer accepts no more data.
  [[nodiscard]] virtual Status finish() = 0;
};

// Helpers.
inline std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
// Copies reader to writer until end of stream (does not finish the writer). Returns bytes copied.
[[nodiscard]] Result<uint64_t> copy(Reader& from, Writer& to);
// Reads the whole stream into a string; fails with kInvalidArgument if it exceeds limit bytes.
// Up to 8 MiB of the limit is reserved at once: a caller that knows the size passes size + 1,
// and a payload part is then read without the copies and fresh pages of a growing string.
[[nodiscard]] Result<std::string> read_all(Reader& from, size_t limit);
// Reads exactly out.size() bytes or fails with kCorruption ("unexpected end of stream").
[[nodiscard]] Status read_exact(Reader& from, std::span<std::byte> out);

// A Reader over a string it owns (tests, small entries).
class StringReader final : public Reader {
 public:
  explicit StringReader(std::string data) : data_(std::move(data)) {}
  Result<size_t> read(std::span<std::byte> out) override;

 private:
  std::string data_;
  size_t pos_ = 0;
};

// A Reader over bytes it does not own, which must outlive it. It lends them in place, so that
// an entry written from memory (a ZooKeeper payload part of up to 4 MiB) is neither copied nor
// allocated a second time.
class ViewReader final : public Reader {
 public:
  explicit ViewReader(std::span<const std::byte> data) : data_(data) {}
  Result<size_t> read(std::span<std::byte> out) override;
  bool lends() const override { return true; }
  Result<std::span<const std::byte>> view(size_t max) override;

 private:
  std::span<const std::byte> data_;
  size_t pos_ = 0;
};

// A Writer that appends to a string (tests, small entries). finish() is a no-op.
class StringWriter final : public Writer {
 public:
  Status write(std::span<const std::byte> data) override;
  Status finish() override { return ok(); }
  const std::string& str() const { return data_; }

 private:
  std::string data_;
};

}  // namespace flinkbr::io
