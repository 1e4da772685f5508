// The reading side shared by the remote drivers (OBS, HDFS): a file served chunk by chunk, each
// fetched by the driver's fill() into one buffer, so that memory stays bounded by the chunk size
// however large the file, and a transfer cut short can be resumed at the byte it reached.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "io/stream.h"

namespace flinkbr::storage {

class ChunkedReader : public io::Reader {
 public:
  explicit ChunkedReader(uint64_t size) : size_(size) {}

  Result<size_t> read(std::span<std::byte> out) final {
    if (out.empty()) return size_t{0};
    if (pos_ == buf_.size()) {
      if (next_ >= size_) return size_t{0};
      TRY(fill());
    }
    size_t n = std::min(out.size(), buf_.size() - pos_);
    std::memcpy(out.data(), buf_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 protected:
  // Fetches the next chunk, [next_, next_ + want) for a want of the driver's choosing, into
  // buf_ (cleared first), sets pos_ to 0 and advances next_ past it.
  [[nodiscard]] virtual Status fill() = 0;

  const uint64_t size_;  // of the whole file
  std::string buf_;      // the current chunk
  size_t pos_ = 0;       // of the next byte of buf_ to hand out
  uint64_t next_ = 0;    // offset of the byte after buf_
};

}  // namespace flinkbr::storage
