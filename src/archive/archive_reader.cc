#include "archive/archive_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "archive/utf8_locale.h"
#include "io/layers.h"

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
// One manifest line is ~200 bytes: this is several million entries.
constexpr uint64_t kMaxManifestSize = uint64_t{1} << 30;

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

class TarArchiveReader final : public ArchiveReader {
 public:
  explicit TarArchiveReader(io::Reader& in) : in_(in), in_buf_(kInputBufferSize), data_(*this) {}

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
    return ok();
  }

  const Header& header() const override { return header_; }
  io::Reader& data() override { return data_; }
  const Manifest& manifest() const override { return manifest_; }
  Manifest take_manifest() { return std::move(manifest_); }
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
      return owner_.in_file_ || owner_.seen_.empty() ? std::string() : owner_.seen_.back().sha256;
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
      auto err = la_error("reading " + seen_.back().path);
      error_ = err.error();  // the archive cannot be read further
      in_file_ = false;
      return err;
    }
    if (n == 0) {
      ManifestEntry& cur = seen_.back();
      cur.sha256 = hash_->hex_digest();
      cur.size = file_bytes_;
      hash_.reset();
      in_file_ = false;
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
      std::string text = TRY(read_small(e, path, kMaxManifestSize));
      manifest_ = TRY_CTX(Manifest::from_json(text), std::string(kManifestEntry));
      archive_entry* after = TRY(next_header());
      if (after) return corruption("entry " + TRY(entry_path(after)) + " follows the manifest");
      TRY(drain_input());
      TRY(compare_with_manifest());
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

    Entry entry;
    entry.path = path;
    entry.type = is_dir ? EntryType::kDirectory : EntryType::kFile;
    entry.size = is_dir ? 0 : static_cast<uint64_t>(archive_entry_size(e));
    entry.mode = static_cast<uint32_t>(archive_entry_perm(e)) & 07777;
    entry.mtime = static_cast<int64_t>(archive_entry_mtime(e));

    seen_.push_back(ManifestEntry{.path = std::move(path),
                                  .type = entry.type,
                                  .size = 0,
                                  .mode = entry.mode,
                                  .mtime = entry.mtime});
    if (!seen_paths_.insert(seen_.back().path).second) {
      seen_.pop_back();
      return corruption("entry " + entry.path + " appears twice");
    }
    if (!is_dir) {
      hash_ = std::make_unique<io::Sha256>();
      file_bytes_ = 0;
      in_file_ = true;
    }
    return std::optional<Entry>(std::move(entry));
  }

  // Everything seen must be listed with the same attributes, and everything listed seen.
  Status compare_with_manifest() {
    std::unordered_map<std::string_view, const ManifestEntry*> listed;
    listed.reserve(manifest_.entries.size());
    for (const auto& m : manifest_.entries)
      if (!listed.emplace(m.path, &m).second)
        return corruption("the manifest lists " + m.path + " twice");
    for (const auto& s : seen_) {
      auto it = listed.find(s.path);
      if (it == listed.end())
        return corruption("entry " + s.path + " is not listed in the manifest");
      const ManifestEntry& m = *it->second;
      if (m.type != s.type)
        return corruption("entry " + s.path + " is " + std::string(type_word(s.type)) +
                          " but the manifest lists " + std::string(type_word(m.type)));
      if (m.size != s.size)
        return corruption("size mismatch for " + s.path + ": the manifest says " +
                          std::to_string(m.size) + " bytes, the file holds " +
                          std::to_string(s.size));
      if (m.sha256 != s.sha256) return corruption("checksum mismatch for " + s.path);
      if (m.mode != s.mode)
        return corruption("mode mismatch for " + s.path + ": the manifest says " +
                          mode_octal(m.mode) + ", the file has " + mode_octal(s.mode));
      if (m.mtime != s.mtime)
        return corruption("mtime mismatch for " + s.path + ": the manifest says " +
                          std::to_string(m.mtime) + ", the file has " + std::to_string(s.mtime));
    }
    for (const auto& m : manifest_.entries)
      if (!seen_paths_.contains(m.path))
        return corruption("the manifest lists " + m.path + " but the file does not contain it");
    return ok();
  }

  io::Reader& in_;
  std::vector<std::byte> in_buf_;
  std::optional<Error> in_error_;
  std::unique_ptr<struct archive, ArchiveReadDeleter> a_;
  DataReader data_;
  Header header_;
  Manifest manifest_;
  // What was seen so far, in archive order; a deque keeps each path in place for seen_paths_.
  std::deque<ManifestEntry> seen_;
  std::unordered_set<std::string_view> seen_paths_;
  std::unique_ptr<io::Sha256> hash_;  // of the current file entry
  std::vector<std::byte> drain_buf_;
  bool in_file_ = false;  // the current file entry has data left to read
  uint64_t file_bytes_ = 0;
  uint64_t payload_bytes_ = 0;
  bool done_ = false;
  std::optional<Error> error_;  // sticky: once refused, the archive stays refused
};

}  // namespace

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::open(io::Reader& in) {
  auto r = std::make_unique<TarArchiveReader>(in);
  TRY(r->open());
  return std::unique_ptr<ArchiveReader>(std::move(r));
}

Result<VerifyReport> verify_archive(io::Reader& tar_stream) {
  TarArchiveReader reader(tar_stream);
  TRY(reader.open());
  for (;;) {
    auto entry = TRY(reader.next());
    if (!entry) break;  // next() drains and hashes the data of each file itself
  }
  return VerifyReport{.header = reader.header(),
                      .manifest = reader.take_manifest(),
                      .payload_bytes = reader.payload_bytes()};
}

}  // namespace flinkbr::archive
