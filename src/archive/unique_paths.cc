#include "archive/unique_paths.h"

#include <algorithm>
#include <cstring>

namespace flinkbr::archive {

namespace {

// "sources/<name>" of a payload path (the whole path when it has no second '/').
std::string_view source_of(std::string_view path) {
  size_t first = path.find('/');
  if (first == std::string_view::npos) return path;
  size_t second = path.find('/', first + 1);
  return second == std::string_view::npos ? path : path.substr(0, second);
}

// Component-wise order: compare as bytes with '/' below every other byte, so that "a/x" (a file
// in directory "a") sorts before "a.txt", as a depth-first walk of sorted names writes them.
bool component_less(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    auto ca = static_cast<unsigned char>(a[i]), cb = static_cast<unsigned char>(b[i]);
    if (ca == cb) continue;
    if (ca == '/') return true;
    if (cb == '/') return false;
    return ca < cb;
  }
  return a.size() < b.size();
}

}  // namespace

Result<UniquePaths> UniquePaths::create(const std::string& spool_dir, Hash hash) {
  return UniquePaths(TRY(io::Spool::create(spool_dir)), std::move(hash));
}

uint64_t UniquePaths::hash_of(std::string_view path) const {
  uint64_t h = hash_ ? hash_(path) : std::hash<std::string_view>{}(path);
  return h == 0 ? 1 : h;  // 0 marks an empty slot
}

Status UniquePaths::spool_path(std::string_view path) {
  auto len = static_cast<uint16_t>(path.size());  // payload paths are at most 4096 bytes
  char prefix[2];
  std::memcpy(prefix, &len, sizeof len);
  TRY(spool_.append(std::string_view(prefix, sizeof prefix)));
  return spool_.append(path);
}

bool UniquePaths::table_insert(uint64_t h) {
  if ((table_count_ + 1) * 4 > table_.size() * 3) {
    std::vector<uint64_t> old = std::move(table_);
    table_.assign(std::max<size_t>(1024, old.size() * 2), 0);
    table_count_ = 0;
    for (uint64_t v : old)
      if (v != 0) table_insert(v);
  }
  size_t mask = table_.size() - 1;
  for (size_t i = static_cast<size_t>(h) & mask;; i = (i + 1) & mask) {
    if (table_[i] == h) return false;
    if (table_[i] == 0) {
      table_[i] = h;
      ++table_count_;
      return true;
    }
  }
}

Status UniquePaths::build_table(uint64_t from) {
  table_.clear();
  table_.shrink_to_fit();
  table_count_ = 0;
  table_from_ = from;
  hashing_ = true;
  io::SpoolCursor cur(spool_, from);
  std::string path;
  for (;;) {
    char prefix[2];
    if (!TRY(cur.read(prefix))) return ok();
    uint16_t len;
    std::memcpy(&len, prefix, sizeof len);
    path.resize(len);
    if (!TRY(cur.read(path))) return internal_error("the path spool ends in a record");
    table_insert(hash_of(path));
  }
}

Result<bool> UniquePaths::spooled(std::string_view path, uint64_t from) {
  io::SpoolCursor cur(spool_, from);
  std::string p;
  for (;;) {
    char prefix[2];
    if (!TRY(cur.read(prefix))) return false;
    uint16_t len;
    std::memcpy(&len, prefix, sizeof len);
    p.resize(len);
    if (!TRY(cur.read(p))) return internal_error("the path spool ends in a record");
    if (p == path) return true;
  }
}

Result<bool> UniquePaths::insert(std::string_view path) {
  std::string_view source = source_of(path);
  if (source != source_) {
    if (!source_.empty()) finished_.insert(source_);
    if (!global_) {
      if (finished_.contains(std::string(source))) {
        // A source came back: its earlier paths may be anywhere in the spool.
        TRY(build_table(0));
        global_ = true;
      } else {
        hashing_ = false;
        table_.clear();
        table_.shrink_to_fit();
        table_count_ = 0;
      }
    }
    source_ = source;
    source_start_ = spool_.size();
    byte_order_ = component_order_ = true;
  } else if (!hashing_) {
    byte_order_ = byte_order_ && last_ < path;
    component_order_ = component_order_ && component_less(last_, path);
    if (!byte_order_ && !component_order_) TRY(build_table(source_start_));
  }
  last_ = path;
  if (hashing_) {
    uint64_t h = hash_of(path);
    if (!table_insert(h) && TRY(spooled(path, table_from_))) return false;
  }
  TRY(spool_path(path));
  return true;
}

}  // namespace flinkbr::archive
