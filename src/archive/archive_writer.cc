#include "archive/archive_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "archive/unique_paths.h"
#include "archive/utf8_locale.h"
#include "common/domain.h"
#include "io/layers.h"
#include "io/spool.h"

namespace flinkbr::archive {

namespace {

constexpr size_t kCopyBufferSize = 256 * 1024;

struct ArchiveWriteDeleter {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryDeleter>;

// Payload paths: valid (format.h) and under "sources/<source>".
Status check_payload_path(std::string_view path) {
  auto st = validate_entry_path(path);
  if (!st) return invalid_argument("path", st.error().message);
  if (!path.starts_with(kSourcesPrefix) || path.size() == kSourcesPrefix.size())
    return invalid_argument("path", "entry path \"" + std::string(path) + "\" is not under " +
                                        std::string(kSourcesPrefix) + "<source>/");
  return ok();
}

class TarArchiveWriter final : public ArchiveWriter {
 public:
  TarArchiveWriter(io::Writer& out, io::Spool manifest, UniquePaths paths)
      : out_(out), manifest_(std::move(manifest)), paths_(std::move(paths)) {}

  ~TarArchiveWriter() override {
    // Abandoned: make the write callback refuse, so that freeing the archive does not append an
    // end-of-archive marker to a stream that is being aborted.
    closed_ = true;
  }

  Status start(const Header& header) {
    Utf8LocaleScope locale;
    a_.reset(archive_write_new());
    if (!a_) return internal_error("archive_write_new failed");
    if (archive_write_set_format_pax_restricted(a_.get()) != ARCHIVE_OK ||
        archive_write_add_filter_none(a_.get()) != ARCHIVE_OK ||
        // No 10 KiB blocking: data goes straight from add_file's buffer to the writer beneath
        // (one copy less, and big writes for the compressor).
        archive_write_set_bytes_per_block(a_.get(), 0) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a_.get(), 1) != ARCHIVE_OK)
      return la_error("configuring the tar writer");
    if (archive_write_open(a_.get(), this, nullptr, &write_cb, &close_cb) != ARCHIVE_OK)
      return la_error("opening the tar stream");
    return guarded([&]() -> Status {
      TRY(manifest_.append(manifest_begin()));
      std::string text = header.to_json();
      return write_bytes(kHeaderEntry, text, 0644, now_seconds());
    });
  }

  Status add_directory(std::string_view path, uint32_t mode, int64_t mtime) override {
    return guarded([&]() -> Status {
      TRY(check_payload_path(path));
      TRY(remember(path));
      TRY(write_header(path, AE_IFDIR, mode, mtime, 0));
      TRY(finish_entry(path));
      return list(ManifestEntry{.path = std::string(path),
                                .type = EntryType::kDirectory,
                                .mode = mode & 0777,
                                .mtime = mtime});
    });
  }

  Status add_file(std::string_view path, uint32_t mode, int64_t mtime, uint64_t size,
                  io::Reader& data) override {
    return guarded([&]() -> Status {
      TRY(check_payload_path(path));
      TRY(remember(path));
      TRY(write_header(path, AE_IFREG, mode, mtime, size));
      // A reader that hashes what it returns (the files source's read-ahead hashes on its own
      // thread) spares this thread the work; any other is hashed here.
      std::optional<io::Sha256> hash;
      if (!data.hashes_sha256()) hash.emplace();
      auto changed = [&] {
        return io_error(std::string(path) + ": file changed while being read (expected " +
                        std::to_string(size) + " bytes)");
      };
      // The next piece of the data: in place when the reader lends it, else through buffer_.
      auto next = [&](size_t max) -> Result<std::span<const std::byte>> {
        if (data.lends()) return data.view(max);
        if (buffer_.empty()) buffer_.resize(kCopyBufferSize);
        size_t n = TRY(data.read(std::span(buffer_.data(), std::min(max, buffer_.size()))));
        return std::span<const std::byte>(buffer_.data(), n);
      };
      uint64_t left = size;
      while (left > 0) {
        auto chunk = TRY(next(static_cast<size_t>(std::min<uint64_t>(left, kCopyBufferSize))));
        if (chunk.empty()) return changed();
        if (hash) hash->update(chunk);
        TRY(write_data(path, chunk));
        left -= chunk.size();
        payload_bytes_ += chunk.size();
      }
      // The file must end exactly here.
      if (!TRY(next(1)).empty()) return changed();
      TRY(finish_entry(path));
      return list(ManifestEntry{.path = std::string(path),
                                .type = EntryType::kFile,
                                .size = size,
                                .sha256 = hash ? hash->hex_digest() : data.sha256_at_end(),
                                .mode = mode & 0777,
                                .mtime = mtime});
    });
  }

  Status add_bytes(std::string_view path, std::string_view data, uint32_t mode,
                   int64_t mtime) override {
    io::ViewReader reader(io::as_bytes(data));
    return add_file(path, mode, mtime, data.size(), reader);
  }

  Status finish() override {
    return guarded([&]() -> Status {
      if (finished_) return failed_precondition("archive writer: finish() called twice");
      TRY(manifest_.append(manifest_end(listed_)));
      if (manifest_.size() > kMaxManifestSize)
        return failed_precondition("the backup holds " + std::to_string(listed_) +
                                   " entries: its manifest would take " +
                                   std::to_string(manifest_.size() >> 20) + " MiB, more than the " +
                                   std::to_string(kMaxManifestSize >> 20) + " MiB a restore reads");
      TRY(write_spool(kManifestEntry, manifest_, 0644, now_seconds()));
      if (archive_write_close(a_.get()) != ARCHIVE_OK) return la_error("closing the tar stream");
      finished_ = true;
      return out_.finish();
    });
  }

  uint64_t payload_bytes() const override { return payload_bytes_; }

 private:
  static la_ssize_t write_cb(struct archive* a, void* client, const void* buf, size_t n) {
    auto* self = static_cast<TarArchiveWriter*>(client);
    if (self->closed_) {
      archive_set_error(a, ECANCELED, "the archive writer was abandoned");
      return -1;
    }
    auto st = self->out_.write(std::span(static_cast<const std::byte*>(buf), n));
    if (!st) {
      archive_set_error(a, EIO, "%s", st.error().message.c_str());
      self->out_error_ = std::move(st).error();
      return -1;
    }
    return static_cast<la_ssize_t>(n);
  }
  static int close_cb(struct archive*, void*) { return ARCHIVE_OK; }

  // Runs one operation; any failure leaves the writer unusable (the tar stream is then cut in
  // the middle of an entry and must be discarded).
  template <class F>
  Status guarded(F&& f) {
    if (failed_) return failed_precondition("archive writer: an earlier operation failed");
    Utf8LocaleScope locale;
    Status st = f();
    if (!st) failed_ = true;
    return st;
  }

  // The error of the stream beneath when it caused the failure, else libarchive's.
  std::unexpected<Error> la_error(std::string_view what) {
    if (out_error_) return std::unexpected(*out_error_);
    const char* msg = a_ ? archive_error_string(a_.get()) : nullptr;
    return io_error(std::string(what) + ": " + (msg ? msg : "unknown libarchive error"));
  }

  // Refuses a path added before.
  Status remember(std::string_view path) {
    if (!TRY(paths_.insert(path)))
      return invalid_argument("path", "entry \"" + std::string(path) + "\" was already added");
    return ok();
  }

  // Appends the entry's manifest line to the spool.
  Status list(const ManifestEntry& e) {
    TRY(manifest_.append(manifest_line(e, listed_)));
    ++listed_;
    return ok();
  }

  Status write_header(std::string_view path, unsigned filetype, uint32_t mode, int64_t mtime,
                      uint64_t size) {
    EntryPtr e(archive_entry_new());
    if (!e) return internal_error("archive_entry_new failed");
    std::string p(path);
    // The path is UTF-8 and, under Utf8LocaleScope, so is the locale's character set.
    archive_entry_copy_pathname(e.get(), p.c_str());
    archive_entry_set_filetype(e.get(), filetype);
    archive_entry_set_perm(e.get(), static_cast<mode_t>(mode & 0777));
    archive_entry_set_mtime(e.get(), static_cast<time_t>(mtime), 0);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    int r = archive_write_header(a_.get(), e.get());
    // ARCHIVE_WARN: without a C.UTF-8 locale, a non-ASCII path is stored as raw bytes with
    // hdrcharset=BINARY, which is still the right bytes.
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return la_error("writing tar header of " + p);
    return ok();
  }

  Status write_data(std::string_view path, std::span<const std::byte> data) {
    while (!data.empty()) {
      la_ssize_t n = archive_write_data(a_.get(), data.data(), data.size());
      if (n <= 0) return la_error("writing " + std::string(path));
      data = data.subspan(static_cast<size_t>(n));
    }
    return ok();
  }

  Status finish_entry(std::string_view path) {
    if (archive_write_finish_entry(a_.get()) != ARCHIVE_OK)
      return la_error("writing " + std::string(path));
    return ok();
  }

  // An entry whose data is the whole spool, copied through the fixed buffer.
  Status write_spool(std::string_view path, io::Spool& spool, uint32_t mode, int64_t mtime) {
    TRY(write_header(path, AE_IFREG, mode, mtime, spool.size()));
    if (buffer_.empty()) buffer_.resize(kCopyBufferSize);
    std::span<char> buf(reinterpret_cast<char*>(buffer_.data()), buffer_.size());
    for (uint64_t at = 0; at < spool.size();) {
      size_t n = TRY(spool.read_at(at, buf));
      if (n == 0) return internal_error("the manifest spool ended early");
      TRY(write_data(path, std::span(buffer_.data(), n)));
      at += n;
    }
    return finish_entry(path);
  }

  Status write_bytes(std::string_view path, std::string_view data, uint32_t mode, int64_t mtime) {
    TRY(write_header(path, AE_IFREG, mode, mtime, data.size()));
    TRY(write_data(path, io::as_bytes(data)));
    return finish_entry(path);
  }

  io::Writer& out_;
  std::unique_ptr<struct archive, ArchiveWriteDeleter> a_;
  std::optional<Error> out_error_;
  bool failed_ = false;
  bool finished_ = false;
  bool closed_ = false;
  // The manifest text so far (the tar header of its entry needs its size first), and the paths
  // added, both in bounded memory.
  io::Spool manifest_;
  UniquePaths paths_;
  uint64_t listed_ = 0;  // manifest lines in manifest_
  std::vector<std::byte> buffer_;
  uint64_t payload_bytes_ = 0;
};

}  // namespace

Result<std::unique_ptr<ArchiveWriter>> ArchiveWriter::create(io::Writer& out, const Header& header,
                                                             const std::string& spool_dir) {
  auto w = std::make_unique<TarArchiveWriter>(out, TRY(io::Spool::create(spool_dir)),
                                              TRY(UniquePaths::create(spool_dir)));
  TRY(w->start(header));
  return std::unique_ptr<ArchiveWriter>(std::move(w));
}

// ---- SourceArchiveWriter ----

namespace {

// `prefix` is "sources/<name>"; the name must be one valid path component.
Status check_source_prefix(std::string_view prefix) {
  std::string_view name = prefix.substr(kSourcesPrefix.size());
  if (name.empty() || name.find('/') != std::string_view::npos || !validate_entry_path(name))
    return invalid_argument("source",
                            "\"" + std::string(name) + "\" cannot name a source in a backup file");
  return ok();
}

}  // namespace

SourceArchiveWriter::SourceArchiveWriter(ArchiveWriter& inner, std::string_view source_name,
                                         EntryObserver* observer)
    : inner_(inner),
      prefix_(std::string(kSourcesPrefix) + std::string(source_name)),
      name_(source_name),
      observer_(observer) {}

namespace {
// Hands what it reads to an observer as well.
class TeeReader final : public io::Reader {
 public:
  TeeReader(io::Reader& inner, EntryObserver& observer) : inner_(inner), observer_(observer) {}
  Result<size_t> read(std::span<std::byte> out) override {
    size_t n = TRY(inner_.read(out));
    if (n > 0) observer_.data(out.first(n));
    return n;
  }
  bool hashes_sha256() const override { return inner_.hashes_sha256(); }
  std::string sha256_at_end() const override { return inner_.sha256_at_end(); }
  bool lends() const override { return inner_.lends(); }
  Result<std::span<const std::byte>> view(size_t max) override {
    auto v = TRY(inner_.view(max));
    if (!v.empty()) observer_.data(v);
    return v;
  }

 private:
  io::Reader& inner_;
  EntryObserver& observer_;
};
}  // namespace

std::string SourceArchiveWriter::full(std::string_view path) const {
  if (path.empty()) return prefix_;
  return prefix_ + "/" + std::string(path);
}

Status SourceArchiveWriter::add_directory(std::string_view path, uint32_t mode, int64_t mtime) {
  TRY(check_source_prefix(prefix_));
  TRY(inner_.add_directory(full(path), mode, mtime));
  if (observer_ && observer_->begin(name_, path, EntryType::kDirectory, 0)) observer_->end();
  return ok();
}

Status SourceArchiveWriter::add_file(std::string_view path, uint32_t mode, int64_t mtime,
                                     uint64_t size, io::Reader& data) {
  TRY(check_source_prefix(prefix_));
  if (path.empty()) return invalid_argument("path", "a file needs a path below " + prefix_);
  if (!observer_ || !observer_->begin(name_, path, EntryType::kFile, size))
    return inner_.add_file(full(path), mode, mtime, size, data);
  TeeReader tee(data, *observer_);
  TRY(inner_.add_file(full(path), mode, mtime, size, tee));
  observer_->end();
  return ok();
}

Status SourceArchiveWriter::add_bytes(std::string_view path, std::string_view data, uint32_t mode,
                                      int64_t mtime) {
  TRY(check_source_prefix(prefix_));
  if (path.empty()) return invalid_argument("path", "a file needs a path below " + prefix_);
  TRY(inner_.add_bytes(full(path), data, mode, mtime));
  if (observer_ && observer_->begin(name_, path, EntryType::kFile, data.size())) {
    observer_->data(std::as_bytes(std::span(data.data(), data.size())));
    observer_->end();
  }
  return ok();
}

}  // namespace flinkbr::archive
