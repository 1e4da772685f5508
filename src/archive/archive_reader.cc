#include "archive/archive_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <array>
#include <cstring>
#include <functional>
#include <istream>
#include <streambuf>
#include <unordered_set>
#include <vector>

#include "archive/unique_paths.h"
#include "archive/utf8_locale.h"
#include "io/layers.h"
#include "io/spool.h"

namespace flinkbr::archive {

// ---- Entry ----

std::string_view Entry::source() const {
  std::string_view p = path;
  if (!p.starts_with(kSourcesPrefix)) return {};
  p.remove_prefix(kSourcesPrefix.size());
  return p.substr(0, p.find('/'));
}

std::string_view Entry::relative_path() const {
  std::string_view p = path;
  if (!p.starts_with(kSourcesPrefix)) return {};
  p.remove_prefix(kSourcesPrefix.size());
  size_t slash = p.find('/');
  return slash == std::string_view::npos ? std::string_view{} : p.substr(slash + 1);
}

namespace {

constexpr size_t kInputBufferSize = 256 * 1024;
constexpr size_t kDrainBufferSize = 64 * 1024;
constexpr uint64_t kMaxHeaderSize = 1 << 20;

struct ArchiveReadDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

std::string mode_octal(uint32_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

std::string_view type_word(EntryType t) {
  return t == EntryType::kFile ? "a file" : "a directory";
}

// What the reader saw of one payload entry, as spooled: u16 path length, the path, then u8 type,
// u64 size, the 32-byte SHA-256 (zeros for directories), u32 mode, i64 mtime (host order: the
// spool never outlives the process).
struct Seen {
  std::string path;
  EntryType type = EntryType::kFile;
  uint64_t size = 0;
  std::array<unsigned char, 32> digest{};
  uint32_t mode = 0;
  int64_t mtime = 0;
};
constexpr size_t kSeenFixed = 1 + 8 + 32 + 4 + 8;

template <class T>
void put(char*& p, const T& v) {
  std::memcpy(p, &v, sizeof v);
  p += sizeof v;
}
template <class T>
T get(const char*& p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  p += sizeof v;
  return v;
}

Status spool_seen(io::Spool& spool, const Seen& s) {
  char buf[2 + kSeenFixed];
  char* p = buf;
  put(p, static_cast<uint16_t>(s.path.size()));  // payload paths are at most 4096 bytes
  TRY(spool.append(std::string_view(buf, 2)));
  TRY(spool.append(s.path));
  p = buf;
  put(p, static_cast<uint8_t>(s.type == EntryType::kDirectory));
  put(p, s.size);
  std::memcpy(p, s.digest.data(), s.digest.size());
  p += s.digest.size();
  put(p, s.mode);
  put(p, s.mtime);
  return spool.append(std::string_view(buf, kSeenFixed));
}

// The next record, or std::nullopt at the end of the spool.
Result<std::optional<Seen>> read_seen(io::SpoolCursor& cur) {
  char len_buf[2];
  if (!TRY(cur.read(len_buf))) return std::optional<Seen>{};
  const char* p = len_buf;
  Seen s;
  s.path.resize(get<uint16_t>(p));
  char fixed[kSeenFixed];
  if (!TRY(cur.read(s.path)) || !TRY(cur.read(fixed)))
    return internal_error("the entry spool ends in a record");
  p = fixed;
  s.type = get<uint8_t>(p) ? EntryType::kDirectory : EntryType::kFile;
  s.size = get<uint64_t>(p);
  std::memcpy(s.digest.data(), p, s.digest.size());
  p += s.digest.size();
  s.mode = get<uint32_t>(p);
  s.mtime = get<int64_t>(p);
  return std::optional<Seen>(std::move(s));
}

// Lower-case hex (as the manifest writes it) to bytes; the manifest parser checked the form.
std::array<unsigned char, 32> digest_bytes(std::string_view hex) {
  std::array<unsigned char, 32> out{};
  auto nibble = [](char c) {
    return static_cast<unsigned char>(c <= '9' ? c - '0' : c - 'a' + 10);
  };
  for (size_t i = 0; i < out.size() && 2 * i + 1 < hex.size(); ++i)
    out[i] = static_cast<unsigned char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  return out;
}

// The data of one tar entry as a std::streambuf, for the JSON parser to read the manifest from
// without holding its whole text. Stops (end of input) at `limit` bytes or a read error, which
// it keeps for the caller.
class EntryStreamBuf final : public std::streambuf {
 public:
  using ReadFn = std::function<la_ssize_t(char*, size_t)>;
  EntryStreamBuf(ReadFn read, uint64_t limit) : read_(std::move(read)), limit_(limit) {}
  bool over_limit() const { return over_limit_; }
  bool failed() const { return failed_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (failed_ || over_limit_) return traits_type::eof();
    la_ssize_t n = read_(buf_.data(), buf_.size());
    if (n < 0) {
      failed_ = true;
      return traits_type::eof();
    }
    if (n == 0) return traits_type::eof();
    total_ += static_cast<uint64_t>(n);
    if (total_ > limit_) {
      over_limit_ = true;
      return traits_type::eof();
    }
    setg(buf_.data(), buf_.data(), buf_.data() + n);
    return traits_type::to_int_type(*gptr());
  }

 private:
  ReadFn read_;
  uint64_t limit_;
  uint64_t total_ = 0;
  bool failed_ = false;
  bool over_limit_ = false;
  std::array<char, kDrainBufferSize> buf_;
};

// Refuses an entry below an entry that is a file ("a file under a file": sources/s/a is a file and
// sources/s/a/b follows), in memory that does not grow with the number of entries for the orders
// flinkbr writes. While the entries of a source come in component-wise order (a directory, then
// its contents), every entry that lies between an entry and its descendants is a descendant too,
// so the chain of ancestors of the previous entry is all there is to look at. Once the order
// breaks (a postgres source writes schema.json after its tables; a forged file anything), the
// hashes of every file path seen so far go into a table (rebuilt from the spool of what was
// seen), and each new entry's ancestors are looked up there; a hash found is confirmed against
// the spool, so a collision never refuses a good file.
class FileParents {
 public:
  explicit FileParents(io::Spool& seen) : seen_(seen) {}

  // `path` is a new payload path ("sources/<name>/..."), not seen before. The previous file
  // entry's record is in the spool already.
  Status check(const std::string& path, std::string_view source, bool is_file) {
    if (!hashing_) {
      if (source != source_) {
        if (!finished_.insert(std::string(source)).second) {
          TRY(start_hashing());  // a source that comes back
        } else {
          source_ = std::string(source);
          chain_.clear();
        }
      } else if (!chain_.empty() && !component_less(chain_.back().path, path)) {
        TRY(start_hashing());
      }
    }
    if (hashing_) {
      for (size_t slash = path.find('/', kSourcesPrefix.size()); slash != std::string::npos;
           slash = path.find('/', slash + 1)) {
        std::string_view ancestor(path.data(), slash);
        if (files_.contains(hash(ancestor)) && TRY(is_spooled_file(ancestor)))
          return under_file(path, ancestor);
      }
      if (is_file) files_.insert(hash(path));
      return ok();
    }
    while (!chain_.empty() && !is_under(path, chain_.back().path)) chain_.pop_back();
    if (!chain_.empty() && chain_.back().is_file) return under_file(path, chain_.back().path);
    chain_.push_back({path, is_file});
    return ok();
  }

 private:
  struct Link {
    std::string path;
    bool is_file = false;
  };

  static bool is_under(std::string_view path, std::string_view dir) {
    return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
  }
  // Component-wise order: '/' sorts before every other byte.
  static bool component_less(std::string_view a, std::string_view b) {
    auto key = [](unsigned char c) { return c == '/' ? 0 : c + 1; };
    size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i)
      if (a[i] != b[i]) return key(a[i]) < key(b[i]);
    return a.size() < b.size();
  }
  static uint64_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }
  static std::unexpected<Error> under_file(const std::string& path, std::string_view file) {
    return corruption("entry " + path + " is under " + std::string(file) + ", which is a file");
  }

  Status start_hashing() {
    hashing_ = true;
    chain_.clear();
    io::SpoolCursor c(seen_, 0);
    for (;;) {
      auto s = TRY(read_seen(c));
      if (!s) return ok();
      if (s->type == EntryType::kFile) files_.insert(hash(s->path));
    }
  }
  Result<bool> is_spooled_file(std::string_view path) {
    io::SpoolCursor c(seen_, 0);
    for (;;) {
      auto s = TRY(read_seen(c));
      if (!s) return false;
      if (s->type == EntryType::kFile && s->path == path) return true;
    }
  }

  io::Spool& seen_;
  std::string source_;
  std::unordered_set<std::string> finished_;  // sources seen (a small set)
  std::vector<Link> chain_;                   // ancestors of the previous entry, and itself
  bool hashing_ = false;
  std::unordered_set<uint64_t> files_;  // hashes of the file paths, once hashing_
};

class TarArchiveReader final : public ArchiveReader {
 public:
  TarArchiveReader(io::Reader& in, io::Spool seen, UniquePaths paths)
      : in_(in),
        in_buf_(kInputBufferSize),
        data_(*this),
        seen_(std::move(seen)),
        paths_(std::move(paths)),
        file_parents_(seen_) {}

  Status open() {
    Utf8LocaleScope locale;
    a_.reset(archive_read_new());
    if (!a_) return internal_error("archive_read_new failed");
    if (archive_read_support_format_tar(a_.get()) != ARCHIVE_OK)
      return la_error("configuring the tar reader");
    if (archive_read_open(a_.get(), this, nullptr, &read_cb, &close_cb) != ARCHIVE_OK)
      return la_error("not a flinkbr backup file");
    archive_entry* e = TRY(next_header());
    if (!e) return corruption("not a flinkbr backup file: it holds no entries");
    std::string path = TRY(entry_path(e));
    if (path != kHeaderEntry)
      return corruption("not a flinkbr backup file: first entry is " + path);
    TRY(check_regular_file(e, path));
    std::string text = TRY(read_small(e, path, kMaxHeaderSize));
    header_ = TRY_CTX(Header::from_json(text), std::string(kHeaderEntry));
    for (const auto& src : header_.sources) summary_.sources.push_back({.name = src.name});
    return ok();
  }

  const Header& header() const override { return header_; }
  io::Reader& data() override { return data_; }
  const ArchiveSummary& summary() const override { return summary_; }
  uint64_t payload_bytes() const { return payload_bytes_; }

  Result<std::optional<Entry>> next() override {
    if (error_) return std::unexpected(*error_);
    if (done_) return std::optional<Entry>{};
    Utf8LocaleScope locale;
    auto r = advance();
    if (!r) error_ = r.error();
    return r;
  }

 private:
  // The data of the current file entry, hashed as the caller reads it.
  class DataReader final : public io::Reader {
   public:
    explicit DataReader(TarArchiveReader& owner) : owner_(owner) {}
    Result<size_t> read(std::span<std::byte> out) override { return owner_.read_data(out); }
    bool hashes_sha256() const override { return true; }
    std::string sha256_at_end() const override {
      return owner_.in_file_ ? std::string() : owner_.last_sha256_;
    }

   private:
    TarArchiveReader& owner_;
  };

  static la_ssize_t read_cb(struct archive* a, void* client, const void** buf) {
    auto* self = static_cast<TarArchiveReader*>(client);
    auto n = self->in_.read(self->in_buf_);
    if (!n) {
      archive_set_error(a, EIO, "%s", n.error().message.c_str());
      self->in_error_ = std::move(n).error();
      return -1;
    }
    *buf = self->in_buf_.data();
    return static_cast<la_ssize_t>(*n);
  }
  static int close_cb(struct archive*, void*) { return ARCHIVE_OK; }

  // The error of the stream beneath (truncated gzip, I/O) when it caused the failure, else
  // libarchive's own, as corruption.
  std::unexpected<Error> la_error(std::string_view what) {
    if (in_error_) return std::unexpected(*in_error_);
    const char* msg = a_ ? archive_error_string(a_.get()) : nullptr;
    return corruption(std::string(what) + ": " + (msg ? msg : "unknown tar error"));
  }

  // The next tar header, or nullptr at the end of the tar stream.
  Result<archive_entry*> next_header() {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a_.get(), &e);
    if (r == ARCHIVE_EOF) return nullptr;
    // Warnings too: a damaged header is not something to read past.
    if (r != ARCHIVE_OK) return la_error("reading the next tar entry");
    return e;
  }

  Result<std::string> entry_path(archive_entry* e) {
    const char* p = archive_entry_pathname_utf8(e);
    if (!p) p = archive_entry_pathname(e);
    if (!p) return corruption("a tar entry has a path that cannot be read");
    return std::string(p);
  }

  Status check_regular_file(archive_entry* e, const std::string& path) {
    if (archive_entry_hardlink(e) || archive_entry_hardlink_utf8(e))
      return corruption("entry " + path + " is a hard link");
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
        return ok();
      case AE_IFDIR:
        return corruption("entry " + path + " is a directory, not a file");
      default:
        return check_type(e, path);
    }
  }

  // Only regular files and directories exist in a backup file.
  Status check_type(archive_entry* e, const std::string& path) {
    if (archive_entry_hardlink(e) || archive_entry_hardlink_utf8(e))
      return corruption("entry " + path + " is a hard link");
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
      case AE_IFDIR:
        return ok();
      case AE_IFLNK:
        return corruption("entry " + path + " is a symbolic link");
      case AE_IFCHR:
      case AE_IFBLK:
        return corruption("entry " + path + " is a device");
      case AE_IFIFO:
        return corruption("entry " + path + " is a FIFO");
      case AE_IFSOCK:
        return corruption("entry " + path + " is a socket");
      default:
        return corruption("entry " + path + " has an unknown type");
    }
  }

  // Reads the whole data of a small entry (header, manifest).
  Result<std::string> read_small(archive_entry* e, const std::string& path, uint64_t limit) {
    if (archive_entry_size_is_set(e) && static_cast<uint64_t>(archive_entry_size(e)) > limit)
      return corruption("entry " + path + " is larger than " + std::to_string(limit) + " bytes");
    std::string out;
    // Sized once: growing by doubling would hold two copies of a large manifest at a time.
    if (archive_entry_size_is_set(e)) out.reserve(static_cast<size_t>(archive_entry_size(e)));
    std::vector<char> buf(kDrainBufferSize);
    for (;;) {
      la_ssize_t n = archive_read_data(a_.get(), buf.data(), buf.size());
      if (n < 0) return la_error("reading " + path);
      if (n == 0) return out;
      if (out.size() + static_cast<size_t>(n) > limit)
        return corruption("entry " + path + " is larger than " + std::to_string(limit) + " bytes");
      out.append(buf.data(), static_cast<size_t>(n));
    }
  }

  Result<size_t> read_data(std::span<std::byte> out) {
    if (!in_file_ || out.empty()) return size_t{0};
    la_ssize_t n = archive_read_data(a_.get(), out.data(), out.size());
    if (n < 0) {
      auto err = la_error("reading " + current_.path);
      error_ = err.error();  // the archive cannot be read further
      in_file_ = false;
      return err;
    }
    if (n == 0) {
      last_sha256_ = hash_->hex_digest();
      current_.digest = digest_bytes(last_sha256_);
      current_.size = file_bytes_;
      hash_.reset();
      in_file_ = false;
      if (auto st = record(current_); !st) {
        error_ = st.error();  // what was seen is incomplete: nothing can be verified
        return std::unexpected(st.error());
      }
      return size_t{0};
    }
    auto got = out.first(static_cast<size_t>(n));
    hash_->update(got);
    file_bytes_ += got.size();
    payload_bytes_ += got.size();
    return got.size();
  }

  // Reads (and so hashes) what the caller left of the current file.
  Status drain() {
    if (!in_file_) return ok();
    // One buffer for every entry: most entries of a verification are drained whole.
    if (drain_buf_.empty()) drain_buf_.resize(kDrainBufferSize);
    while (in_file_) TRY(read_data(drain_buf_));
    return ok();
  }

  // libarchive stops at the end-of-archive marker. Read the stream beneath to its end so that a
  // gzip layer checks its trailer (CRC and length) too. What follows the marker is ignored, as
  // tar does (writers pad with zeros; part of it is already in libarchive's read-ahead anyway).
  Status drain_input() {
    for (;;) {
      size_t n = TRY(in_.read(in_buf_));
      if (n == 0) return ok();
    }
  }

  Result<std::optional<Entry>> advance() {
    TRY(drain());
    archive_entry* e = TRY(next_header());
    if (!e) return corruption("the file ends before its manifest (truncated?)");
    std::string path = TRY(entry_path(e));
    if (path == kManifestEntry) {
      TRY(check_regular_file(e, path));
      Merge merge(seen_);
      TRY(read_manifest(e, path, merge));
      archive_entry* after = TRY(next_header());
      if (after) return corruption("entry " + TRY(entry_path(after)) + " follows the manifest");
      TRY(drain_input());
      TRY(merge.finish());
      done_ = true;
      return std::optional<Entry>{};
    }

    const bool is_dir = archive_entry_filetype(e) == AE_IFDIR;
    // tar writes directories with a trailing slash; payload paths have none.
    if (is_dir && path.size() > 1 && path.back() == '/') path.pop_back();
    TRY(validate_entry_path(path));
    if (!path.starts_with(kSourcesPrefix) || path.size() == kSourcesPrefix.size())
      return corruption("entry " + path + " is not under " + std::string(kSourcesPrefix) +
                        "<source>/");
    TRY(check_type(e, path));
    // Permission bits only: a setuid, setgid or sticky bit in a backup file is refused, never
    // restored (issue 16: a forged file restored a world-writable setuid file as root).
    if (const auto perm = static_cast<uint32_t>(archive_entry_perm(e)); (perm & ~0777u) != 0)
      return corruption("entry " + path + " has mode " + mode_octal(perm) +
                        ": a backup file carries permission bits only (at most 0777); setuid, "
                        "setgid and sticky bits are refused");

    Entry entry;
    entry.path = path;
    entry.type = is_dir ? EntryType::kDirectory : EntryType::kFile;
    entry.size = is_dir ? 0 : static_cast<uint64_t>(archive_entry_size(e));
    entry.mode = static_cast<uint32_t>(archive_entry_perm(e)) & 07777;
    entry.mtime = static_cast<int64_t>(archive_entry_mtime(e));

    if (!TRY(paths_.insert(path))) return corruption("entry " + entry.path + " appears twice");
    // What a restore stages, the header says: an entry of another source has nowhere to go.
    if (!listed_source(entry.source()))
      return corruption("entry " + entry.path +
                        " belongs to no source listed in the file's header");
    TRY(file_parents_.check(entry.path, entry.source(), entry.type == EntryType::kFile));
    ++summary_.entries;
    for (auto& src : summary_.sources)
      if (src.name == entry.source()) {
        ++src.entries;
        src.bytes += entry.size;
      }
    last_sha256_.clear();
    current_ = Seen{.path = std::move(path),
                    .type = entry.type,
                    .size = 0,
                    .mode = entry.mode,
                    .mtime = entry.mtime};
    if (is_dir) {
      TRY(record(current_));
    } else {
      // Spooled when its data ends (read_data), with its size and digest.
      hash_ = std::make_unique<io::Sha256>();
      file_bytes_ = 0;
      in_file_ = true;
    }
    return std::optional<Entry>(std::move(entry));
  }

  Status record(const Seen& s) { return spool_seen(seen_, s); }

  bool listed_source(std::string_view name) const {
    for (const auto& src : header_.sources)
      if (src.name == name) return true;
    return false;
  }

  // The sequential merge of the manifest (entry i, as it is parsed) with the spool of what was
  // seen (record i). On the first difference of paths, it keeps both and only watches the rest
  // of the manifest for the record's path; finish() then names the fault exactly, scanning the
  // spool (a refusal may cost a pass over the spool; an accepted file never does).
  class Merge {
   public:
    explicit Merge(io::Spool& seen) : seen_(seen), cur_(seen, 0) {}

    Status on_entry(ManifestEntry&& m) {
      if (error_) return ok();
      if (diverged_) {
        if (m.path == record_path_) record_listed_ = true;
        return ok();
      }
      uint64_t at = cur_.offset();
      auto s = TRY(read_seen(cur_));
      if (!s) {
        // More listed than seen: a second listing of an entry, or one the file lacks.
        if (TRY(seen_in(m.path, 0, UINT64_MAX)))
          error_ = corruption("the manifest lists " + m.path + " twice").error();
        else
          error_ = missing(m.path).error();
        return ok();
      }
      if (s->path != m.path) {
        diverged_ = true;
        diverged_at_ = at;
        after_diverged_ = cur_.offset();
        record_path_ = std::move(s->path);
        listed_path_ = std::move(m.path);
        return ok();
      }
      error_ = compare(*s, m);
      return ok();
    }

    // After the whole manifest was parsed: the fault, if any.
    Status finish() {
      if (error_) return std::unexpected(*error_);
      if (diverged_) {
        if (TRY(seen_in(listed_path_, 0, diverged_at_)))
          return corruption("the manifest lists " + listed_path_ + " twice");
        if (!record_listed_) return not_listed(record_path_);
        if (!TRY(seen_in(listed_path_, after_diverged_, UINT64_MAX))) return missing(listed_path_);
        return corruption("entry " + record_path_ +
                          " is listed out of order in the manifest (the file holds it before " +
                          listed_path_ + ")");
      }
      auto s = TRY(read_seen(cur_));
      if (s) return not_listed(s->path);
      return ok();
    }

   private:
    static std::unexpected<Error> not_listed(const std::string& path) {
      return corruption("entry " + path + " is not listed in the manifest");
    }
    static std::unexpected<Error> missing(const std::string& path) {
      return corruption("the manifest lists " + path + " but the file does not contain it");
    }

    static std::optional<Error> compare(const Seen& s, const ManifestEntry& m) {
      if (m.type != s.type)
        return corruption("entry " + s.path + " is " + std::string(type_word(s.type)) +
                          " but the manifest lists " + std::string(type_word(m.type)))
            .error();
      if (m.size != s.size)
        return corruption("size mismatch for " + s.path + ": the manifest says " +
                          std::to_string(m.size) + " bytes, the file holds " +
                          std::to_string(s.size))
            .error();
      if (m.type == EntryType::kFile && digest_bytes(m.sha256) != s.digest)
        return corruption("checksum mismatch for " + s.path).error();
      if (m.mode != s.mode)
        return corruption("mode mismatch for " + s.path + ": the manifest says " +
                          mode_octal(m.mode) + ", the file has " + mode_octal(s.mode))
            .error();
      if (m.mtime != s.mtime)
        return corruption("mtime mismatch for " + s.path + ": the manifest says " +
                          std::to_string(m.mtime) + ", the file has " + std::to_string(s.mtime))
            .error();
      return std::nullopt;
    }

    // Whether a record with `path` starts in [from, to) of the spool.
    Result<bool> seen_in(const std::string& path, uint64_t from, uint64_t to) {
      io::SpoolCursor c(seen_, from);
      while (c.offset() < to) {
        auto s = TRY(read_seen(c));
        if (!s) return false;
        if (s->path == path) return true;
      }
      return false;
    }

    io::Spool& seen_;
    io::SpoolCursor cur_;
    std::optional<Error> error_;
    bool diverged_ = false;
    uint64_t diverged_at_ = 0, after_diverged_ = 0;
    std::string record_path_, listed_path_;
    bool record_listed_ = false;
  };

  // Parses the manifest from the tar data, feeding `merge` one entry at a time.
  Status read_manifest(archive_entry* e, const std::string& path, Merge& merge) {
    if (archive_entry_size_is_set(e) &&
        static_cast<uint64_t>(archive_entry_size(e)) > kMaxManifestSize)
      return too_large(path);
    EntryStreamBuf buf([this](char* out, size_t n) { return archive_read_data(a_.get(), out, n); },
                       kMaxManifestSize);
    std::istream in(&buf);
    auto st = parse_manifest(
        in, [&](ManifestEntry&& m, uint64_t) { return merge.on_entry(std::move(m)); });
    // A failed read explains the parser's error better than the parser does.
    if (buf.failed()) return la_error("reading " + path);
    if (buf.over_limit()) return too_large(path);
    if (!st) return std::unexpected(std::move(st.error()).context(kManifestEntry));
    return ok();
  }

  static std::unexpected<Error> too_large(const std::string& path) {
    return corruption("entry " + path + " is larger than " + std::to_string(kMaxManifestSize) +
                      " bytes");
  }

  io::Reader& in_;
  std::vector<std::byte> in_buf_;
  std::optional<Error> in_error_;
  std::unique_ptr<struct archive, ArchiveReadDeleter> a_;
  DataReader data_;
  // What was seen so far, in archive order, as compact records; and the paths, for duplicates.
  io::Spool seen_;
  UniquePaths paths_;
  FileParents file_parents_;
  Header header_;
  ArchiveSummary summary_;
  Seen current_;                      // the current entry (spooled once complete)
  std::string last_sha256_;           // of the last file entry read to its end
  std::unique_ptr<io::Sha256> hash_;  // of the current file entry
  std::vector<std::byte> drain_buf_;
  bool in_file_ = false;  // the current file entry has data left to read
  uint64_t file_bytes_ = 0;
  uint64_t payload_bytes_ = 0;
  bool done_ = false;
  std::optional<Error> error_;  // sticky: once refused, the archive stays refused
};

}  // namespace

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::open(io::Reader& in,
                                                           const std::string& spool_dir) {
  auto r = std::make_unique<TarArchiveReader>(in, TRY(io::Spool::create(spool_dir)),
                                              TRY(UniquePaths::create(spool_dir)));
  TRY(r->open());
  return std::unique_ptr<ArchiveReader>(std::move(r));
}

Result<VerifyReport> verify_archive(io::Reader& tar_stream, const std::string& spool_dir,
                                    EntryObserver* observer) {
  TarArchiveReader reader(tar_stream, TRY(io::Spool::create(spool_dir)),
                          TRY(UniquePaths::create(spool_dir)));
  TRY(reader.open());
  std::vector<std::byte> buf;
  for (;;) {
    auto entry = TRY(reader.next());
    if (!entry) break;  // next() drains and hashes the data of each file itself
    if (!observer ||
        !observer->begin(entry->source(), entry->relative_path(), entry->type, entry->size))
      continue;
    if (entry->type == EntryType::kFile) {
      buf.resize(64 * 1024);
      for (;;) {
        size_t n = TRY(reader.data().read(buf));
        if (n == 0) break;
        observer->data(std::span(buf).first(n));
      }
    }
    observer->end();
  }
  return VerifyReport{.header = reader.header(),
                      .summary = reader.summary(),
                      .payload_bytes = reader.payload_bytes()};
}

}  // namespace flinkbr::archive
