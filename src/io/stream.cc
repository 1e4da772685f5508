#include "io/stream.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace flinkbr::io {

Result<uint64_t> copy(Reader& from, Writer& to) {
  std::vector<std::byte> buf(256 * 1024);
  uint64_t total = 0;
  for (;;) {
    size_t n = TRY(from.read(buf));
    if (n == 0) return total;
    TRY(to.write(std::span<const std::byte>(buf.data(), n)));
    total += n;
  }
}

Result<std::string> read_all(Reader& from, size_t limit) {
  std::string out;
  out.reserve(std::min(limit, size_t{8} << 20));
  std::byte buf[64 * 1024];
  for (;;) {
    size_t n = TRY(from.read(buf));
    if (n == 0) return out;
    if (out.size() + n > limit)
      return make_error(Errc::kInvalidArgument,
                        "stream is larger than the limit of " + std::to_string(limit) + " bytes");
    out.append(reinterpret_cast<const char*>(buf), n);
  }
}

Status read_exact(Reader& from, std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    size_t n = TRY(from.read(out.subspan(done)));
    if (n == 0) return corruption("unexpected end of stream");
    done += n;
  }
  return ok();
}

Result<size_t> StringReader::read(std::span<std::byte> out) {
  size_t n = std::min(out.size(), data_.size() - pos_);
  std::memcpy(out.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

Result<size_t> ViewReader::read(std::span<std::byte> out) {
  auto in = TRY(view(out.size()));
  if (!in.empty()) std::memcpy(out.data(), in.data(), in.size());
  return in.size();
}

Result<std::span<const std::byte>> ViewReader::view(size_t max) {
  auto in = data_.subspan(pos_, std::min(max, data_.size() - pos_));
  pos_ += in.size();
  return in;
}

Status StringWriter::write(std::span<const std::byte> data) {
  data_.append(reinterpret_cast<const char*>(data.data()), data.size());
  return ok();
}

}  // namespace flinkbr::io
