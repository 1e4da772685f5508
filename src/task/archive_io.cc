#include "task/archive_io.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "io/layers.h"

namespace flinkbr::task {

namespace {
// Fault injection for the crash tests (tests/e2e, docs/testing.md): FLINKBR_FAULT_INJECTION set
// to "pause-after-backup:<source>" sleeps a minute once that source is in the file, so that a
// test can kill the daemon in the middle of a backup. Unset in production.
void pause_if_injected(const std::string& source_name, const source::TaskContext& ctx) {
  const char* spec = std::getenv("FLINKBR_FAULT_INJECTION");
  if (!spec || std::string(spec) != "pause-after-backup:" + source_name) return;
  ctx.log("fault injection: pausing after backing up source '" + source_name + "'");
  std::this_thread::sleep_for(std::chrono::seconds(60));
}
}  // namespace

Result<WrittenFile> write_backup_file(storage::Storage& storage, const std::string& path,
                                      const archive::Header& header,
                                      const std::vector<source::MetadataSource*>& sources,
                                      const source::TaskContext& ctx,
                                      const io::Compression& compression,
                                      const std::function<void(uint64_t)>& on_payload,
                                      archive::EntryObserver* observer) {
  auto file = TRY_CTX(storage.open_write(path, {.create_parents = true, .overwrite = false}),
                      "creating " + path);
  io::HashingWriter hashing(*file);
  // Destroyed before `hashing` and `file` (declared after them): an abandoned run stops the
  // gzip threads before the layers they write to go away.
  auto gzip = TRY(io::ParallelGzipWriter::create(hashing, {.compression = compression}));
  // The manifest spools to the task's scratch space when it has one (else $TMPDIR).
  auto tar = TRY(archive::ArchiveWriter::create(*gzip, header, ctx.staging_dir));
  for (source::MetadataSource* src : sources) {
    if (ctx.is_cancelled()) return make_error(Errc::kCancelled, "the backup was cancelled");
    ctx.log("backing up source '" + src->name() + "' (" + src->location() + ")");
    archive::SourceArchiveWriter out(*tar, src->name(), observer);
    TRY_CTX(src->backup(out, ctx), "backing up source '" + src->name() + "'");
    if (on_payload) on_payload(tar->payload_bytes());
    pause_if_injected(src->name(), ctx);
  }
  uint64_t payload = tar->payload_bytes();
  // Finishing the tar writes the manifest, then finishes gzip, hashing and the file (commit).
  TRY_CTX(tar->finish(), "writing " + path);
  return WrittenFile{hashing.bytes(), hashing.sha256(), payload};
}

namespace {
// Reports the progress counted by a HashingReader on another thread to a callback on the
// caller's thread (callbacks touch task records, which are not thread-safe): after each read,
// when the count changed.
class ProgressOnCaller final : public io::Reader {
 public:
  ProgressOnCaller(io::Reader& inner, const std::atomic<uint64_t>& bytes,
                   std::function<void(uint64_t)> on_bytes)
      : inner_(inner), bytes_(bytes), on_bytes_(std::move(on_bytes)) {}
  Result<size_t> read(std::span<std::byte> out) override {
    size_t n = TRY(inner_.read(out));
    uint64_t now = bytes_.load(std::memory_order_relaxed);
    if (on_bytes_ && now != reported_) {
      reported_ = now;
      on_bytes_(now);
    }
    return n;
  }

 private:
  io::Reader& inner_;
  const std::atomic<uint64_t>& bytes_;
  std::function<void(uint64_t)> on_bytes_;
  uint64_t reported_ = 0;
};

// The read stack of one backup file; members destroyed in reverse order, so the read-ahead
// thread stops before the layers it reads go away.
struct ReadStack {
  std::unique_ptr<std::atomic<uint64_t>> file_bytes = std::make_unique<std::atomic<uint64_t>>(0);
  std::unique_ptr<io::Reader> file;
  std::unique_ptr<io::HashingReader> hashing;
  std::unique_ptr<io::Reader> gunzip;
  // Runs file, hashing and gunzip on its own thread. Only for whole reads: a header peek would
  // waste the work read ahead.
  std::unique_ptr<io::ReadAhead> ahead;
  std::unique_ptr<ProgressOnCaller> progress;

  io::Reader& tar() { return progress ? static_cast<io::Reader&>(*progress) : *gunzip; }
};

Result<ReadStack> open_read_stack(std::unique_ptr<io::Reader> file,
                                  std::function<void(uint64_t)> on_bytes, bool read_ahead) {
  ReadStack s;
  s.file = std::move(file);
  s.hashing = std::make_unique<io::HashingReader>(
      *s.file,
      [bytes = s.file_bytes.get()](uint64_t n) { bytes->store(n, std::memory_order_relaxed); });
  // Exactly one member: bytes after it would be covered by no check (issue 16).
  s.gunzip = io::gzip_reader(*s.hashing, io::DeflateEngine::kIsal, io::GzipMembers::kOne);
  if (read_ahead) {
    s.ahead = std::make_unique<io::ReadAhead>(*s.gunzip);
    s.progress = std::make_unique<ProgressOnCaller>(*s.ahead, *s.file_bytes, std::move(on_bytes));
  }
  return s;
}

Result<ReadStack> open_read_stack(storage::Storage& storage, const std::string& path,
                                  std::function<void(uint64_t)> on_bytes, bool read_ahead) {
  return open_read_stack(TRY(storage.open_read(path)), std::move(on_bytes), read_ahead);
}

// Reads what is left of a file, so its SHA-256 covers all of it.
Status drain(io::Reader& r) {
  std::vector<std::byte> buf(64 * 1024);
  for (;;) {
    size_t n = TRY(r.read(buf));
    if (n == 0) return ok();
  }
}
}  // namespace

Result<archive::Header> read_backup_header(storage::Storage& storage, const std::string& path) {
  auto s = TRY(open_read_stack(storage, path, {}, /*read_ahead=*/false));
  auto reader = TRY_CTX(archive::ArchiveReader::open(s.tar()), path);
  return reader->header();
}

Result<VerifiedFile> verify_backup_file(storage::Storage& storage, const std::string& path,
                                        const std::function<void(uint64_t)>& on_file_bytes,
                                        const std::string& spool_dir,
                                        archive::EntryObserver* observer) {
  return verify_backup_stream(TRY(storage.open_read(path)), path, on_file_bytes, spool_dir,
                              observer);
}

Result<VerifiedFile> verify_backup_stream(std::unique_ptr<io::Reader> file, const std::string& path,
                                          const std::function<void(uint64_t)>& on_file_bytes,
                                          const std::string& spool_dir,
                                          archive::EntryObserver* observer) {
  auto s = TRY(open_read_stack(std::move(file), on_file_bytes, /*read_ahead=*/true));
  VerifiedFile out;
  out.report = TRY_CTX(archive::verify_archive(s.tar(), spool_dir, observer), path);
  TRY_CTX(drain(s.tar()), path);
  s.ahead->close();  // the layers beneath are ours again
  TRY_CTX(drain(*s.hashing), path);
  out.file_size = s.hashing->bytes();
  out.sha256 = s.hashing->sha256();
  return out;
}

Result<StagedMap> stage_backup_file(storage::Storage& storage, const std::string& path,
                                    const std::map<std::string, source::MetadataSource*>& sources,
                                    const source::TaskContext& ctx,
                                    const std::function<void(uint64_t)>& on_file_bytes) {
  auto s = TRY(open_read_stack(storage, path, on_file_bytes, /*read_ahead=*/true));
  auto reader = TRY_CTX(archive::ArchiveReader::open(s.tar(), ctx.staging_dir), path);
  StagedMap staged;
  for (const auto& desc : reader->header().sources) {
    auto it = sources.find(desc.name);
    if (it == sources.end())
      return failed_precondition("the backup file holds source '" + desc.name +
                                 "', which the cluster does not configure");
    staged[desc.name] =
        TRY_CTX(it->second->begin_restore(ctx), "staging source '" + desc.name + "'");
  }
  for (;;) {
    if (ctx.is_cancelled()) return make_error(Errc::kCancelled, "the restoration was cancelled");
    auto entry = TRY_CTX(reader->next(), path);
    if (!entry) break;
    auto it = staged.find(std::string(entry->source()));
    if (it == staged.end())
      return corruption(path + ": entry " + entry->path +
                        " belongs to no source listed in the file's header");
    TRY_CTX(it->second->add(*entry, reader->data()), "staging " + entry->path);
  }
  for (auto& [name, st] : staged) TRY_CTX(st->finish_staging(), "staging source '" + name + "'");
  return staged;
}

}  // namespace flinkbr::task
