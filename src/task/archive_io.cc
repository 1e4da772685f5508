#include "task/archive_io.h"

#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "io/layers.h"
#include "source/registry.h"
#include "task/space_check.h"

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

// "pause-in-verify:<source>[:<seconds>]" (default 60): a restore's verify step sleeps once the
// first file of that source is staged, so that a test can kill the daemon, stop it or start
// another staging while this one has measured the free space and staged part of the file. The
// sleep ends early when the task is cancelled (the daemon stopping). Unset in production.
void pause_in_verify_if_injected(std::string_view source_name, const std::string& entry,
                                 const source::TaskContext& ctx) {
  const char* spec = std::getenv("FLINKBR_FAULT_INJECTION");
  const std::string prefix = "pause-in-verify:" + std::string(source_name);
  if (!spec || !std::string_view(spec).starts_with(prefix)) return;
  std::string_view rest = std::string_view(spec).substr(prefix.size());
  int seconds = 60;
  if (!rest.empty()) {
    if (rest.front() != ':') return;
    seconds = std::atoi(std::string(rest.substr(1)).c_str());
  }
  ctx.log("fault injection: pausing in the verify step after staging " + entry);
  for (int i = 0; i < seconds * 10 && !ctx.is_cancelled(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
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

namespace {
// A directory of its own for the payload checks' scratch files (a zookeeper check stages its
// parts), under `parent` ("" for $TMPDIR or /tmp); removed with what it holds.
class ScratchDir {
 public:
  static Result<ScratchDir> create(const std::string& parent) {
    std::string base = parent;
    if (base.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      base = tmp && *tmp ? tmp : "/tmp";
    }
    // The process id in the name: a daemon that starts removes those of processes gone
    // (remove_verify_leftovers), never those of a verification running elsewhere.
    std::string path = base + "/verify-" + std::to_string(::getpid()) + "-XXXXXX";
    if (!::mkdtemp(path.data())) return errno_error("creating a directory in " + base, errno);
    return ScratchDir(std::move(path));
  }
  ScratchDir(ScratchDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The data of an entry as a payload check reads it, shown to an observer too.
class ObservedData final : public io::Reader {
 public:
  ObservedData(io::Reader& inner, archive::EntryObserver* observer)
      : inner_(inner), observer_(observer) {}
  Result<size_t> read(std::span<std::byte> out) override {
    size_t n = TRY(inner_.read(out));
    if (observer_ && n > 0) observer_->data(std::span<const std::byte>(out.first(n)));
    return n;
  }
  bool hashes_sha256() const override { return inner_.hashes_sha256(); }
  std::string sha256_at_end() const override { return inner_.sha256_at_end(); }

  // After the check or the staging read what it needed of `entry`: the observer sees the rest
  // of its data, then its end.
  Status end(const archive::Entry& entry) {
    if (!observer_) return ok();
    if (entry.type == archive::EntryType::kFile) {
      std::array<std::byte, 16 * 1024> buf;
      while (TRY(read(buf)) > 0) {
      }
    }
    observer_->end();
    return ok();
  }

 private:
  io::Reader& inner_;
  archive::EntryObserver* observer_;
};

// A check that keeps what it reads (a zookeeper payload's parts) must not fill the disk of the
// state directory with a hostile file's data: verify has checked no free space before, as a
// restore has before it stages. The checks of one verification keep at most half of what was free
// when it started, less kScratchReserve.
constexpr uint64_t kScratchReserve = 64ull << 20;
class ScratchBudget {
 public:
  static Result<ScratchBudget> measure(const std::string& dir) {
    struct statvfs v {};
    if (::statvfs(dir.c_str(), &v) != 0)
      return errno_error("examining the free space of " + dir, errno);
    const uint64_t free_bytes = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
    return ScratchBudget(dir,
                         free_bytes > kScratchReserve ? (free_bytes - kScratchReserve) / 2 : 0);
  }
  // Counts `entry`'s data as kept; kFailedPrecondition with the numbers past the budget.
  Status keep(const archive::Entry& entry) {
    if (entry.size > budget_ - kept_)
      return failed_precondition(
          "not enough free space in " + dir_ + " to check entry " + entry.path + " (" +
          describe_bytes(entry.size) + "): the checks keep " + describe_bytes(kept_) +
          " there already, of at most " + describe_bytes(budget_) +
          " (half of what was free, less " + describe_bytes(kScratchReserve) + ")");
    kept_ += entry.size;
    return ok();
  }

 private:
  ScratchBudget(std::string dir, uint64_t budget) : dir_(std::move(dir)), budget_(budget) {}
  std::string dir_;
  uint64_t budget_ = 0;
  uint64_t kept_ = 0;
};

// After the archive reader checked the manifest: the rest of the file (nothing may follow the
// archive but the tar's padding, and one gzip member), its size and SHA-256.
Result<VerifiedFile> finish_verification(ReadStack& s, archive::ArchiveReader& reader,
                                         const std::string& path) {
  VerifiedFile out;
  out.report.header = reader.header();
  out.report.summary = reader.summary();
  for (const auto& src : out.report.summary.sources) out.report.payload_bytes += src.bytes;
  TRY_CTX(drain(s.tar()), path);
  s.ahead->close();  // the layers beneath are ours again
  TRY_CTX(drain(*s.hashing), path);
  out.file_size = s.hashing->bytes();
  out.sha256 = s.hashing->sha256();
  return out;
}

// One source's payload check, and its refusal once it refused (it then sees no more entries).
struct SourceCheck {
  std::unique_ptr<source::PayloadCheck> check;
  std::optional<Error> refusal;
};
}  // namespace

void remove_verify_leftovers(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with("verify-")) continue;
    const size_t dash = name.find('-', 7);
    if (dash == std::string::npos) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + 7, &end, 10);
    if (end != name.c_str() + dash || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still running
    std::error_code rm;
    std::filesystem::remove_all(e.path(), rm);
  }
}

Result<VerifiedFile> verify_backup_stream(std::unique_ptr<io::Reader> file, const std::string& path,
                                          const std::function<void(uint64_t)>& on_file_bytes,
                                          const std::string& spool_dir,
                                          archive::EntryObserver* observer) {
  auto s = TRY(open_read_stack(std::move(file), on_file_bytes, /*read_ahead=*/true));
  auto reader = TRY_CTX(archive::ArchiveReader::open(s.tar(), spool_dir), path);
  // Each source's payload is checked as its restore stages it (source::PayloadCheck). A refusal
  // is reported once the whole file passed the archive's own checks, as a restore would (it
  // verifies the file, then stages it): a damaged file is named damaged, whatever its payload.
  auto scratch = TRY(ScratchDir::create(spool_dir));
  source::TaskContext ctx{.id = "verify", .staging_dir = scratch.path()};
  auto budget = TRY(ScratchBudget::measure(scratch.path()));
  std::map<std::string, SourceCheck, std::less<>> checks;
  for (const auto& desc : reader->header().sources)
    checks[desc.name].check = TRY_CTX(source::make_payload_check(desc, ctx), path);
  for (;;) {
    auto entry = TRY_CTX(reader->next(), path);
    if (!entry) break;
    bool observed = observer && observer->begin(entry->source(), entry->relative_path(),
                                                entry->type, entry->size);
    ObservedData data(reader->data(), observed ? observer : nullptr);
    // The archive reader refuses an entry of a source its header does not list.
    auto it = checks.find(entry->source());
    if (it != checks.end() && !it->second.refusal) {
      if (it->second.check->keeps_data() && entry->size > 0) TRY_CTX(budget.keep(*entry), path);
      auto st = it->second.check->add(*entry, data);
      if (!st) it->second.refusal = std::move(st.error()).context("staging " + entry->path);
    }
    TRY_CTX(data.end(*entry), path);
  }
  for (const auto& desc : reader->header().sources) {
    SourceCheck& c = checks[desc.name];
    if (!c.refusal)
      if (auto st = c.check->finish(); !st)
        c.refusal = std::move(st.error()).context("staging source '" + desc.name + "'");
    if (c.refusal) return std::unexpected(std::move(*c.refusal).context(path));
  }
  return finish_verification(s, *reader, path);
}

Result<VerifiedStaging> verify_and_stage_backup_file(
    storage::Storage& storage, const std::string& path,
    const std::map<std::string, source::MetadataSource*>& sources, const source::TaskContext& ctx,
    const std::function<void(uint64_t)>& on_file_bytes, archive::EntryObserver* observer,
    const StagingLimits& limits) {
  auto s = TRY(open_read_stack(storage, path, on_file_bytes, /*read_ahead=*/true));
  auto reader = TRY_CTX(archive::ArchiveReader::open(s.tar(), ctx.staging_dir), path);
  // Each source's staging, and its refusal once it refused: as in verify_backup_stream, a
  // source that refused sees no more entries (its staging is removed at once) while the others
  // go on, so that the refusal reported is the one verify reports.
  struct SourceStaging {
    std::unique_ptr<source::StagedRestore> staged;
    std::optional<Error> refusal;
  };
  std::map<std::string, SourceStaging, std::less<>> staging;
  for (const auto& desc : reader->header().sources) {
    auto it = sources.find(desc.name);
    if (it == sources.end())
      return failed_precondition("the backup file holds source '" + desc.name +
                                 "', which the cluster does not configure");
    staging[desc.name].staged =
        TRY_CTX(it->second->begin_restore(ctx), "staging source '" + desc.name + "'");
  }
  std::optional<Error> limited;  // the limits' refusal: nothing is staged from there on
  std::set<std::string, std::less<>> paused;  // fault injection: sources past their first file
  for (;;) {
    if (ctx.is_cancelled()) return make_error(Errc::kCancelled, "the restoration was cancelled");
    auto entry = TRY_CTX(reader->next(), path);
    if (!entry) break;
    bool observed = observer && observer->begin(entry->source(), entry->relative_path(),
                                                entry->type, entry->size);
    ObservedData data(reader->data(), observed ? observer : nullptr);
    if (!limited && limits.admit) {
      if (auto st = limits.admit(entry->source(), *entry); !st) {
        limited = std::move(st.error());
        for (auto& [name, other] : staging) other.staged.reset();  // frees the disk now
      }
    }
    // The archive reader refuses an entry of a source its header does not list.
    auto it = staging.find(entry->source());
    if (it != staging.end() && it->second.staged) {
      if (auto st = it->second.staged->add(*entry, data); !st) {
        it->second.refusal = std::move(st.error()).context("staging " + entry->path);
        it->second.staged.reset();
      } else if (entry->type == archive::EntryType::kFile && !paused.contains(entry->source())) {
        paused.insert(std::string(entry->source()));
        pause_in_verify_if_injected(entry->source(), entry->path, ctx);
      }
    }
    TRY_CTX(data.end(*entry), path);
  }
  // The manifest checked out. Each source's payload as a whole, in the header's order.
  for (const auto& desc : reader->header().sources) {
    SourceStaging& st = staging[desc.name];
    if (!st.refusal && st.staged)
      if (auto done = st.staged->finish_staging(); !done)
        st.refusal = std::move(done.error()).context("staging source '" + desc.name + "'");
    if (st.refusal) return std::unexpected(std::move(*st.refusal).context(path));
  }
  VerifiedStaging out{.file = TRY(finish_verification(s, *reader, path))};
  if (limited) {
    // The staging stopped at the limit, so no staging checked the payloads past it: a file over
    // a limit whose later entries no staging accepts was refused for the limit, where `backup
    // verify` refuses it for the payload (found by the issue 18 attack review). Verify's check of
    // the whole file decides first; a second read, on this path only (the file is refused).
    if (auto alone = verify_backup_file(storage, path, {}, ctx.staging_dir); !alone)
      return std::unexpected(std::move(alone.error()));
    return std::unexpected(limits.explain ? limits.explain(out.file.report.summary, *limited)
                                          : *limited);
  }
  for (auto& [name, st] : staging) out.staged[name] = std::move(st.staged);
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
