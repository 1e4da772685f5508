#include "source/files/pinned.h"

#include <algorithm>
#include <vector>

#include "source/files/tree_payload.h"

namespace flinkbr::source::files {
namespace {

// Reads `size` bytes of a spool from `offset`, as an io::Reader for the archive writer.
class SpoolRange final : public io::Reader {
 public:
  SpoolRange(io::Spool& spool, uint64_t offset, uint64_t size)
      : spool_(spool), offset_(offset), left_(size) {}
  Result<size_t> read(std::span<std::byte> out) override {
    if (left_ == 0) return size_t{0};
    size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), left_));
    size_t n = TRY(spool_.read_at(offset_, {reinterpret_cast<char*>(out.data()), want}));
    if (n == 0) return internal_error("a pinned file ends early in its spool");
    offset_ += n;
    left_ -= n;
    return n;
  }

 private:
  io::Spool& spool_;
  uint64_t offset_;
  uint64_t left_;
};

std::string parent_of(std::string_view rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string_view::npos ? std::string() : std::string(rel.substr(0, slash));
}

}  // namespace

Result<uint64_t> PinnedFiles::pin(const std::string& rel, uint32_t mode, int64_t mtime,
                                  uint64_t size, io::Reader& data, const std::string& spool_dir) {
  if (auto it = files_.find(rel); it != files_.end()) return it->second.size;
  if (!spool_) spool_ = TRY(io::Spool::create(spool_dir));
  File f{.offset = spool_->size(), .size = size, .mode = mode, .mtime = mtime};
  std::vector<std::byte> buf(64 * 1024);
  uint64_t copied = 0;
  for (;;) {
    size_t n = TRY(data.read(buf));
    if (n == 0) break;
    copied += n;
    if (copied > size) break;
    TRY(spool_->append({reinterpret_cast<const char*>(buf.data()), n}));
  }
  if (copied != size)
    return make_error(
        Errc::kIOError,
        rel + " changed while being pinned (" + std::to_string(size) + " bytes expected)", {},
        true);
  files_.emplace(rel, f);
  for (std::string d = parent_of(rel);; d = parent_of(d)) {
    dirs_needed_.insert(d);
    if (d.empty()) break;
  }
  return size;
}

void PinnedFiles::directory_written(const std::string& rel) {
  if (dirs_needed_.contains(rel)) dirs_written_.insert(rel);
}

Status PinnedFiles::write(archive::SourceArchiveWriter& out, const std::string& rel) {
  File& f = files_.at(rel);
  // Its directories, should the walk not have written them (gone since the pin).
  std::vector<std::string> missing;
  for (std::string d = parent_of(rel); !d.empty() && !dirs_written_.contains(d); d = parent_of(d))
    missing.push_back(d);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    TRY(out.add_directory(std::string(kTreePrefix) + *it, 0755, f.mtime));
    dirs_written_.insert(*it);
  }
  SpoolRange data(*spool_, f.offset, f.size);
  TRY(out.add_file(std::string(kTreePrefix) + rel, f.mode, f.mtime, f.size, data));
  f.written = true;
  return ok();
}

Status PinnedFiles::write_before(archive::SourceArchiveWriter& out,
                                 std::optional<std::string_view> next) {
  if (files_.empty()) return ok();
  if (order_.size() != files_.size()) {  // pins are taken before the walk: sort once
    order_.clear();
    for (const auto& [rel, f] : files_) order_.push_back(rel);
    std::sort(order_.begin(), order_.end(), tree_order_less);
    next_ = 0;
  }
  for (; next_ < order_.size(); ++next_) {
    const std::string& rel = order_[next_];
    if (next && !tree_order_less(rel, *next)) return ok();
    if (!files_.at(rel).written) TRY(write(out, rel));
  }
  return ok();
}

}  // namespace flinkbr::source::files
