// What a zookeeper restore keeps per znode, kept out of memory: the staged tree's index and
// the spool files a commit writes, all under the task's staging directory.
//
// A restore compares znodes as Meta (the data by a 16-byte SHA-256 prefix, the ACL by its index
// in an AclTable of the few distinct ACLs of a tree), so that neither the staged nor the live
// tree is ever held whole: the StagedIndex is a sorted file of Metas walked in step with the
// live tree, RecordSpool keeps records of any length readable in both directions (deletes and
// final ACLs go children first), and SpoolFile reads either through one 64 KiB window. Memory
// holds the distinct ACLs and bounded buffers, whatever the number of znodes.
//
// Not thread-safe: one restore's thread uses them.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/result.h"
#include "io/spool.h"
#include "source/zookeeper/codec.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace flinkbr::source::zookeeper {

// A znode as a restore compares it: its data by digest, its ACL by index in an AclTable.
struct Meta {
  std::string rel;
  std::array<unsigned char, 16> digest{};  // first 16 bytes of the SHA-256 of the data
  uint32_t acl = 0;
  bool null_data = false;
  bool ephemeral = false;
  bool same_content(const Meta& o) const {
    return null_data == o.null_data && digest == o.digest && acl == o.acl;
  }
};

// A file (io::Spool: unnamed, in the staging directory) that holds what a restore would
// otherwise keep in memory per znode, so that the daemon's memory does not grow with the tree
// (issue 9, point 5). Reads go through one window of the file, so walking it in order, forward
// or backward, costs a system call per 64 KiB. Append-only: a window read earlier stays valid.
class SpoolFile {
 public:
  // `path` names the file's place (its directory) and the file in messages.
  explicit SpoolFile(std::string path) : path_(std::move(path)) {}

  Status open() {
    spool_ = TRY_CTX(io::Spool::create(path_.substr(0, path_.rfind('/'))),
                     "creating the staging file " + path_);
    return ok();
  }

  Status append(std::string_view bytes) { return spool_->append(bytes); }

  uint64_t size() const { return spool_ ? spool_->size() : 0; }

  // The n bytes at `off`, valid until the next read. `backward`: the caller walks towards the
  // start of the file, so the window is filled with what precedes `off`.
  Result<std::string_view> read(uint64_t off, size_t n, bool backward) {
    const uint64_t size = this->size();
    if (off > size || n > size - off) return io_error("the staging file " + path_ + " shrank");
    if (off < win_off_ || off + n > win_off_ + win_.size()) {
      uint64_t len = std::max<uint64_t>(n, kWindow);
      uint64_t start = !backward ? off : off + n >= len ? off + n - len : 0;
      len = std::min<uint64_t>(len, size - start);
      win_.resize(static_cast<size_t>(len));
      size_t got = TRY(spool_->read_at(start, win_));
      if (got != win_.size()) return io_error("the staging file " + path_ + " shrank");
      win_off_ = start;
    }
    return std::string_view(win_.data(), win_.size())
        .substr(static_cast<size_t>(off - win_off_), n);
  }

 private:
  static constexpr size_t kWindow = 64 * 1024;

  std::string path_;
  std::optional<io::Spool> spool_;
  std::vector<char> win_;
  uint64_t win_off_ = 0;
};

// Records of any length in a SpoolFile, framed [u32 length][bytes][u32 length] so that they
// can be read in either direction (deletes and final ACLs go children first: backward).
class RecordSpool {
 public:
  explicit RecordSpool(std::string path) : file_(std::move(path)) {}

  Status open() { return file_.open(); }

  // The offset of the record, for RecordSpool::at().
  Result<uint64_t> append(std::string_view rec) {
    uint64_t off = file_.size();
    auto len = static_cast<uint32_t>(rec.size());
    char n[4];
    std::memcpy(n, &len, 4);
    TRY(file_.append({n, 4}));
    TRY(file_.append(rec));
    TRY(file_.append({n, 4}));
    ++count_;
    return off;
  }

  size_t count() const { return count_; }

  // The record at `off` (an offset append() returned), valid until the next read.
  Result<std::string_view> at(uint64_t off) { return read_at(off, false); }

  // Walks the records in order (or in reverse order).
  class Cursor {
   public:
    Cursor(RecordSpool& s, bool backward)
        : s_(s), backward_(backward), pos_(backward ? s.file_.size() : 0) {}
    // The next record, or nullopt at the end; valid until the next read of the spool.
    Result<std::optional<std::string_view>> next() {
      if (backward_) {
        if (pos_ == 0) return std::nullopt;
        if (pos_ < 8) return s_.shrank();
        uint32_t len = TRY(s_.len_at(pos_ - 4, true));
        if (pos_ < 8 + uint64_t{len}) return s_.shrank();
        pos_ -= 8 + uint64_t{len};
        return TRY(s_.read_at(pos_, true));
      }
      if (pos_ == s_.file_.size()) return std::nullopt;
      std::string_view rec = TRY(s_.read_at(pos_, false));
      pos_ += 8 + rec.size();
      return rec;
    }

   private:
    RecordSpool& s_;
    bool backward_;
    uint64_t pos_;
  };

 private:
  std::unexpected<Error> shrank() const { return io_error("a staging file of the restore shrank"); }

  Result<uint32_t> len_at(uint64_t off, bool backward) {
    std::string_view b = TRY(file_.read(off, 4, backward));
    uint32_t len;
    std::memcpy(&len, b.data(), 4);
    return len;
  }

  Result<std::string_view> read_at(uint64_t off, bool backward) {
    uint32_t len = TRY(len_at(off, backward));
    return file_.read(off + 4, len, backward);
  }

  SpoolFile file_;
  size_t count_ = 0;
};

// The staged tree's index, sorted byte-wise by path: one record per znode (digest, ACL id,
// null-data flag, path) and a file of their offsets, for the rare lookup of one path.
class StagedIndex {
 public:
  explicit StagedIndex(const std::string& base)
      : recs_(base + ".index"), offsets_(base + ".offsets") {}

  Status open() {
    TRY(recs_.open());
    return offsets_.open();
  }

  Status add(const Meta& m) {
    std::string rec(21 + m.rel.size(), '\0');
    std::memcpy(rec.data(), m.digest.data(), 16);
    std::memcpy(rec.data() + 16, &m.acl, 4);
    rec[20] = m.null_data ? 1 : 0;
    std::memcpy(rec.data() + 21, m.rel.data(), m.rel.size());
    uint64_t off = TRY(recs_.append(rec));
    char o[8];
    std::memcpy(o, &off, 8);
    return offsets_.append({o, 8});
  }

  size_t size() const { return recs_.count(); }

  static Result<Meta> decode(std::string_view rec) {
    if (rec.size() < 22) return io_error("a staging file of the restore is damaged");
    Meta m;
    std::memcpy(m.digest.data(), rec.data(), 16);
    std::memcpy(&m.acl, rec.data() + 16, 4);
    m.null_data = rec[20] != 0;
    m.rel.assign(rec.substr(21));
    return m;
  }

  // Whether the index holds `rel`: a binary search over the files.
  Result<bool> contains(std::string_view rel) {
    size_t lo = 0, hi = size();
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      std::string_view o = TRY(offsets_.read(uint64_t{mid} * 8, 8, false));
      uint64_t off;
      std::memcpy(&off, o.data(), 8);
      std::string_view rec = TRY(recs_.at(off));
      if (rec.size() < 22) return io_error("a staging file of the restore is damaged");
      std::string_view r = rec.substr(21);
      if (r == rel) return true;
      if (r < rel)
        lo = mid + 1;
      else
        hi = mid;
    }
    return false;
  }

  // Walks the index in order.
  class Cursor {
   public:
    explicit Cursor(StagedIndex& idx) : c_(idx.recs_, false) {}
    Result<std::optional<Meta>> next() {
      auto rec = TRY(c_.next());
      if (!rec) return std::nullopt;
      return TRY(decode(*rec));
    }

   private:
    RecordSpool::Cursor c_;
  };

 private:
  RecordSpool recs_;
  SpoolFile offsets_;
};

// Distinct ACLs; a tree has few.
class AclTable {
 public:
  uint32_t intern(std::vector<Acl>&& acl) {
    auto it = index_.find(acl);
    if (it != index_.end()) return it->second;
    auto id = static_cast<uint32_t>(list_.size());
    list_.push_back(acl);
    index_.emplace(std::move(acl), id);
    return id;
  }
  const std::vector<Acl>& get(uint32_t id) const { return list_[id]; }
  size_t size() const { return list_.size(); }

 private:
  struct Less {
    bool operator()(const std::vector<Acl>& a, const std::vector<Acl>& b) const {
      return std::lexicographical_compare(
          a.begin(), a.end(), b.begin(), b.end(), [](const Acl& x, const Acl& y) {
            return std::tie(x.perms, x.scheme, x.id) < std::tie(y.perms, y.scheme, y.id);
          });
    }
  };
  std::vector<std::vector<Acl>> list_;
  std::map<std::vector<Acl>, uint32_t, Less> index_;
};

// SHA-256 through one reused OpenSSL context.
class Digester {
 public:
  Digester();
  ~Digester();
  Digester(const Digester&) = delete;
  Digester& operator=(const Digester&) = delete;
  // The first 16 bytes of the SHA-256 of `data`.
  std::array<unsigned char, 16> of(std::string_view data);

 private:
  evp_md_ctx_st* ctx_;  // reused for every digest
};

// The Meta of znode `rel`, its ACL interned in `acls` (moved from z).
Meta make_meta(std::string rel, Znode& z, AclTable& acls, Digester& digester);

// "world:anyone:31,auth::31", for messages.
std::string describe_acl(const std::vector<Acl>& acl);

// "/" for "/a", "/a" for "/a/b".
std::string parent_view(std::string_view rel);

}  // namespace flinkbr::source::zookeeper
