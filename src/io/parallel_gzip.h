// Parallel gzip: one standard gzip stream (RFC 1952, a single member that `gzip -d`, `tar xzf`
// and zlib read) compressed on every core, as pigz does. The input is cut into fixed-size
// blocks; each block is compressed on its own as raw deflate, primed with the last 32 KiB of the
// block before it (so matches across the cut are not lost), and ends on a byte boundary (a sync
// flush: an empty stored block), so the blocks simply concatenate into one valid deflate stream.
// The last block carries the final-block bit. The CRC-32 of each block is computed by its worker
// and combined in order (zlib's crc32_combine).
//
// Threads: the caller's write() only copies into the current block and hands full blocks over;
// `threads` workers compress; one writer thread writes finished blocks, in order, to the inner
// writer (so hashing/counting layers and storage writes below run there, overlapping with the
// rest). At most `max_blocks` blocks exist at once (filled, compressing, or waiting to be
// written): write() waits for a free one, so memory is bounded by
// max_blocks * (2 * block_size) whatever the size of the data.
//
// Errors are values: a failure of the inner writer or of a compressor is reported by the next
// write() or by finish(), and the stream stays failed. Destroying the writer without a
// successful finish() stops the threads promptly (blocks not yet compressed are dropped), joins
// them, and does not finish the inner writer (it aborts on its own destruction).
//
// The inner writer (borrowed, must outlive this) is used from the writer thread while the stream
// is open and from the caller's thread in finish(); never from two threads at once. write() and
// finish() must be called from one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "io/layers.h"
#include "io/stream.h"

namespace flinkbr::io {

struct Compression {
  DeflateEngine engine = DeflateEngine::kIsal;
  int level = 1;

  // "isal:1", "zlib:6": the form used in the configuration and in messages.
  std::string to_string() const;
  // Parses "isal:<0-3>" or "zlib:<1-9>"; kInvalidArgument naming `field` otherwise.
  static Result<Compression> parse(std::string_view text, const std::string& field);
  bool operator==(const Compression&) const = default;
};

struct ParallelGzipOptions {
  Compression compression;
  // Compressing threads; 0 means one per core, at most 8.
  int threads = 0;
  // Uncompressed bytes per block.
  size_t block_size = 512 * 1024;
  // Blocks alive at once; 0 means 2 * threads + 2.
  size_t max_blocks = 0;
};

class ParallelGzipWriter final : public Writer {
 public:
  // Starts the threads. Fails only when `options` are out of range.
  [[nodiscard]] static Result<std::unique_ptr<ParallelGzipWriter>> create(
      Writer& inner, ParallelGzipOptions options = {});
  ~ParallelGzipWriter() override;
  ParallelGzipWriter(const ParallelGzipWriter&) = delete;
  ParallelGzipWriter& operator=(const ParallelGzipWriter&) = delete;

  Status write(std::span<const std::byte> data) override;
  // Compresses what is left, waits for every block to be written, writes the gzip trailer and
  // finishes the inner writer.
  Status finish() override;

  // The most blocks that were alive at once so far (tests check the memory bound with it).
  size_t peak_blocks() const;
  // The resolved limits.
  size_t max_blocks() const;
  int threads() const;

  struct State;  // shared with the threads

 private:
  explicit ParallelGzipWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace flinkbr::io
