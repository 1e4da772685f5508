#include "source/files/files_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "archive/format.h"
#include "common/fd.h"
#include "common/text.h"
#include "io/layers.h"
#include "io/spool.h"
#include "source/files/pinned.h"
#include "source/files/read_ahead.h"
#include "source/files/tree_payload.h"

namespace flinkbr::source::files {

namespace {

constexpr size_t kCopyBufferSize = 256 * 1024;

std::atomic<bool> g_rename_exchange{true};  // see use_rename_exchange_for_testing

// ---- small POSIX helpers ----

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr int kReadFlags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

std::string join(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string s(dir);
  s += '/';
  s += name;
  return s;
}

std::string display(std::string_view rel) {
  return rel.empty() ? "." : std::string(rel);
}

void log_line(const std::function<void(const std::string&)>& log, const std::string& line) {
  if (log) log(line);
}

// Exists (lstat)? ENOENT -> false; other errors are errors.
Result<bool> exists(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return errno_error(path, errno);
}

// Names in a directory (without "." and ".."), sorted byte-wise. Reads through a duplicate of
// `dirfd` so that the caller's descriptor stays usable.
Result<std::vector<std::string>> list_names(int dirfd, const std::string& what) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return errno_error("listing " + what, errno);
  DIR* dir = ::fdopendir(dup);
  if (!dir) {
    int e = errno;
    ::close(dup);
    return errno_error("listing " + what, e);
  }
  ::rewinddir(dir);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    dirent* d = ::readdir(dir);
    if (!d) break;
    std::string_view n = d->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int e = errno;
  ::closedir(dir);
  if (e != 0) return errno_error("listing " + what, e);
  std::sort(names.begin(), names.end());
  return names;
}

// Makes `fd`'s directory writable and searchable by us, so that its entries can be removed.
void make_traversable(int fd) {
  struct stat st;
  if (::fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700)
    ::fchmod(fd, (st.st_mode & 07777) | 0700);
}

Status remove_contents(int dirfd, const std::string& path) {
  make_traversable(dirfd);
  auto names = TRY(list_names(dirfd, path));
  for (const auto& name : names) {
    std::string child = path + "/" + name;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return errno_error(child, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      Fd sub(::openat(dirfd, name.c_str(), kDirFlags));
      if (!sub && errno == EACCES) {
        ::fchmodat(dirfd, name.c_str(), (st.st_mode & 07777) | 0700, 0);
        sub = Fd(::openat(dirfd, name.c_str(), kDirFlags));
      }
      if (!sub) return errno_error("opening " + child, errno);
      TRY(remove_contents(sub.get(), child));
      if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        return errno_error("removing " + child, errno);
    } else if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return errno_error("removing " + child, errno);
    }
  }
  return ok();
}

// Removes a tree we own (a staging or swapped-out tree), whatever the modes inside; never
// follows symbolic links. ok when `path` does not exist.
Status remove_tree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return ok();
    return errno_error(path, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return errno_error("removing " + path, errno);
    return ok();
  }
  Fd dir(::open(path.c_str(), kDirFlags));
  if (!dir && errno == EACCES) {
    ::chmod(path.c_str(), (st.st_mode & 07777) | 0700);
    dir = Fd(::open(path.c_str(), kDirFlags));
  }
  if (!dir) return errno_error("opening " + path, errno);
  TRY(remove_contents(dir.get(), path));
  dir.reset();
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return errno_error("removing " + path, errno);
  return ok();
}

Status fsync_dir(const std::string& path) {
  Fd dir(::open(path.c_str(), kDirFlags));
  if (!dir) return errno_error("opening " + path, errno);
  if (::fsync(dir.get()) != 0) return errno_error("syncing " + path, errno);
  return ok();
}

// A copy buffer that is not zero-filled: the per-file paths reuse one, allocated once per walk
// or per restore (a fresh zeroed 256 KiB vector per file cost more than small files' I/O).
class CopyBuffer {
 public:
  CopyBuffer() : data_(std::make_unique_for_overwrite<std::byte[]>(kCopyBufferSize)) {}
  std::span<std::byte> span() { return {data_.get(), kCopyBufferSize}; }

 private:
  std::unique_ptr<std::byte[]> data_;
};

Result<std::string> hash_fd(int fd, const std::string& path, std::span<std::byte> buf) {
  io::Sha256 hash;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("reading " + path, errno);
    }
    if (n == 0) break;
    hash.update(std::span<const std::byte>(buf.data(), static_cast<size_t>(n)));
  }
  return hash.hex_digest();
}

Result<std::string> hash_at(int dirfd, const std::string& name, const std::string& path,
                            std::span<std::byte> buf) {
  Fd f(::openat(dirfd, name.c_str(), kReadFlags));
  if (!f) return errno_error("opening " + path, errno);
  return hash_fd(f.get(), path, buf);
}

// ---- URIs ----

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The local path of a file:// URI, percent-decoded, absolute and normalized; the reason
// otherwise.
Result<std::string> parse_file_uri(std::string_view uri, const std::string& field) {
  auto bad = [&](std::string why) { return invalid_argument(field, std::move(why)); };
  auto scheme_end = uri.find("://");
  if (scheme_end == std::string_view::npos)
    return bad("'" + std::string(uri) + "' is not a URI; expected file:///absolute/path");
  std::string scheme(uri.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "file")
    return bad("only file:// URIs are supported by this build (got " + scheme + "://)");
  std::string_view rest = uri.substr(scheme_end + 3);
  if (rest.empty() || rest.front() != '/')
    return bad("'" + std::string(uri) +
               "' must name an absolute path without a host: file:///absolute/path");
  std::string path;
  for (size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (c == '%') {
      int hi = i + 2 < rest.size() ? hex_value(rest[i + 1]) : -1;
      int lo = i + 2 < rest.size() ? hex_value(rest[i + 2]) : -1;
      if (hi < 0 || lo < 0) return bad("'" + std::string(uri) + "' has a malformed %-escape");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '?' || c == '#') {
      return bad("'" + std::string(uri) + "' must not have a query or fragment");
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return bad("'" + std::string(uri) + "' contains a control character");
    path += c;
  }
  if (path == "/") return bad("the root directory cannot be a files source");
  if (path.back() == '/') return bad("'" + std::string(uri) + "' must not end with '/'");
  for (size_t start = 1;;) {
    size_t end = path.find('/', start);
    std::string_view comp = std::string_view(path).substr(
        start, end == std::string::npos ? std::string::npos : end - start);
    if (comp.empty() || comp == "." || comp == "..")
      return bad("'" + std::string(uri) +
                 "' must be a normalized absolute path (no empty, '.' or '..' components)");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return path;
}

Result<std::string> root_from_config(const config::SourceConfig& cfg) {
  std::string uri = TRY(uri_setting(cfg));
  return parse_file_uri(uri, field_name(cfg, "uri"));
}

// ---- walking a live tree ----

// One live entry, as seen through lstat (or fstat of the opened directory).
struct Node {
  enum Kind { kDir, kFile, kOther };
  Kind kind = kOther;
  uint32_t mode = 0;  // & 07777
  uint64_t size = 0;
  int64_t mtime = 0;
  std::string what;  // for kOther: "symbolic link", "socket", ...
  // Which inode it is and when it last changed: a restore's verification knows by them that a
  // file is the very one it staged and hashed, unchanged since (a write or a change of its
  // attributes moves its ctime, which no program can set back).
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t ctime_ns = 0;
};

int64_t ctime_ns_of(const struct stat& st) {
  return static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
}

Node node_of(const struct stat& st) {
  Node n;
  n.mode = st.st_mode & 07777;
  n.mtime = st.st_mtim.tv_sec;
  n.dev = static_cast<uint64_t>(st.st_dev);
  n.ino = static_cast<uint64_t>(st.st_ino);
  n.ctime_ns = ctime_ns_of(st);
  if (S_ISDIR(st.st_mode)) {
    n.kind = Node::kDir;
  } else if (S_ISREG(st.st_mode)) {
    n.kind = Node::kFile;
    n.size = static_cast<uint64_t>(st.st_size);
  } else {
    n.what = what_of_mode(st.st_mode);
  }
  return n;
}

// Visits (rel, node, parent dirfd, name); the root comes first with rel "" and parent -1.
using Visit = std::function<Status(const std::string& rel, const Node& node, int parent_fd,
                                   const std::string& name)>;

struct Walker {
  std::string root;
  const Visit& visit;
  const TaskContext* ctx = nullptr;  // logs vanished entries, checks cancellation
  std::string log_prefix;

  std::string abs(const std::string& rel) const { return rel.empty() ? root : root + "/" + rel; }

  void vanished(const std::string& rel) const {
    if (ctx) log_line(ctx->log, log_prefix + abs(rel) + " disappeared while being read; skipped");
  }

  Status walk_root() {
    Fd dir(::open(root.c_str(), kDirFlags));
    if (!dir) {
      if (errno == ELOOP) return failed_precondition(root + " is a symbolic link");
      return errno_error("opening " + root, errno);
    }
    struct stat st;
    if (::fstat(dir.get(), &st) != 0) return errno_error(root, errno);
    TRY(visit("", node_of(st), -1, root));
    return walk_dir(dir.get(), "");
  }

  Status walk_dir(int dirfd, const std::string& dir_rel) {
    auto names = TRY(list_names(dirfd, abs(dir_rel)));
    for (const auto& name : names) {
      if (ctx && ctx->is_cancelled()) return make_error(Errc::kCancelled, "cancelled");
      std::string rel = join(dir_rel, name);
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) {
          vanished(rel);
          continue;
        }
        return errno_error(abs(rel), errno);
      }
      if (!S_ISDIR(st.st_mode)) {
        TRY(visit(rel, node_of(st), dirfd, name));
        continue;
      }
      Fd sub(::openat(dirfd, name.c_str(), kDirFlags));
      if (!sub) {
        if (errno == ENOENT) {
          vanished(rel);
          continue;
        }
        return errno_error("opening " + abs(rel), errno);
      }
      // The opened directory's own attributes: what lstat saw may have been replaced since.
      if (::fstat(sub.get(), &st) != 0) return errno_error(abs(rel), errno);
      TRY(visit(rel, node_of(st), dirfd, name));
      TRY(walk_dir(sub.get(), rel));
    }
    return ok();
  }
};

// ---- backup ----

// Reads exactly `size` bytes of an open file and fails, naming it, when the file turns out
// shorter or longer (it changed while being read).
class FileReader final : public io::Reader {
 public:
  FileReader(int fd, uint64_t size, std::string path)
      : fd_(fd), remaining_(size), path_(std::move(path)) {}

  Result<size_t> read(std::span<std::byte> out) override {
    if (remaining_ == 0) {
      char probe;
      ssize_t n;
      do n = ::read(fd_, &probe, 1);
      while (n < 0 && errno == EINTR);
      if (n < 0) return errno_error("reading " + path_, errno);
      if (n > 0) return changed("grew");
      return size_t{0};
    }
    size_t want = static_cast<size_t>(std::min<uint64_t>(out.size(), remaining_));
    for (;;) {
      ssize_t n = ::read(fd_, out.data(), want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error("reading " + path_, errno);
      if (n == 0) return changed("shrank");
      remaining_ -= static_cast<uint64_t>(n);
      return static_cast<size_t>(n);
    }
  }

 private:
  std::unexpected<Error> changed(std::string_view how) const {
    return make_error(Errc::kIOError,
                      path_ + " " + std::string(how) +
                          " while being read (it changed during the "
                          "backup)",
                      {}, /*retryable=*/true);
  }

  int fd_;
  uint64_t remaining_;
  std::string path_;
};

// ---- restore ----

// "<parent>/.<base>.flinkbr-<what>-<id>": a hidden sibling of the live tree.
std::string sibling_path(const std::string& parent, const std::string& base, std::string_view what,
                         const std::string& id) {
  return (parent == "/" ? "" : parent) + "/." + base + ".flinkbr-" + std::string(what) + "-" + id;
}
std::string stage_path_for(const std::string& parent, const std::string& base,
                           const std::string& id) {
  return sibling_path(parent, base, "stage", id);
}
std::string old_path_for(const std::string& parent, const std::string& base,
                         const std::string& id) {
  return sibling_path(parent, base, "old", id);
}

Status check_ctx_id(const std::string& id) {
  bool good = !id.empty() && id.size() <= 128 && id != "." && id != "..";
  for (char c : id)
    good =
        good && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
  if (!good)
    return invalid_argument("id", "'" + id + "' cannot name a restore attempt in a file name");
  return ok();
}

timespec to_timespec(int64_t seconds) {
  return timespec{static_cast<time_t>(seconds), 0};
}

// What a restore staged for one entry below the root, as kept in the Spool.
struct Record {
  std::string path;  // relative to the root
  archive::EntryType type = archive::EntryType::kFile;
  uint64_t size = 0;
  uint32_t mode = 0;
  int64_t mtime = 0;
  std::string sha256;  // hex; files only
  // Files only: the staged file's inode and ctime once it was complete (Node).
  uint64_t ino = 0;
  int64_t ctime_ns = 0;
};

int hex_nibble(char c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

// The records of a restore, one per staged entry, in an unnamed file (io::Spool) rather than in
// memory, so that a restore of millions of entries holds only a buffer of them. Written once in
// staging order; read from the start by each diff() and verify().
class RecordSpool {
 public:
  // In `dir`, on its file system.
  Status open(const std::string& dir) {
    spool_ = TRY(io::Spool::create(dir));
    return ok();
  }

  // Layout: u16 path length, path, u8 type, u32 mode, i64 mtime, u64 size, and for files the
  // 32 bytes of the SHA-256, u64 inode and i64 ctime in ns (a temporary file of this process:
  // native byte order).
  Status append(const Record& rec) {
    std::string out;
    out.reserve(2 + rec.path.size() + 21 + 32 + 16);
    auto put = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
    uint16_t len = static_cast<uint16_t>(rec.path.size());
    auto type = static_cast<uint8_t>(rec.type);
    put(&len, sizeof len);
    put(rec.path.data(), rec.path.size());
    put(&type, sizeof type);
    put(&rec.mode, sizeof rec.mode);
    put(&rec.mtime, sizeof rec.mtime);
    put(&rec.size, sizeof rec.size);
    if (rec.type == archive::EntryType::kFile) {
      if (rec.sha256.size() != 64) return internal_error("no SHA-256 for " + rec.path);
      for (size_t i = 0; i < 64; i += 2)
        out.push_back(
            static_cast<char>(hex_nibble(rec.sha256[i]) * 16 + hex_nibble(rec.sha256[i + 1])));
      put(&rec.ino, sizeof rec.ino);
      put(&rec.ctime_ns, sizeof rec.ctime_ns);
    }
    TRY(spool_->append(out));
    ++count_;
    return ok();
  }

  // Empties the spool (to write it again in another order).
  Status clear() {
    count_ = 0;
    return spool_->truncate();
  }

  uint64_t count() const { return count_; }

  // Reads the records from the first.
  class Reader {
   public:
    explicit Reader(RecordSpool& spool) : cur_(*spool.spool_, 0) {}

    // The next record, or nullptr after the last.
    Result<const Record*> next() {
      uint16_t len = 0;
      if (!TRY(cur_.read({reinterpret_cast<char*>(&len), sizeof len})))
        return static_cast<const Record*>(nullptr);
      rec_.path.resize(len);
      TRY(get(rec_.path.data(), len));
      uint8_t type = 0;
      TRY(get(&type, sizeof type));
      rec_.type = static_cast<archive::EntryType>(type);
      TRY(get(&rec_.mode, sizeof rec_.mode));
      TRY(get(&rec_.mtime, sizeof rec_.mtime));
      TRY(get(&rec_.size, sizeof rec_.size));
      rec_.sha256.clear();
      if (rec_.type == archive::EntryType::kFile) {
        char sha[32];
        TRY(get(sha, sizeof sha));
        rec_.sha256 = hex_lower({sha, sizeof sha});
        TRY(get(&rec_.ino, sizeof rec_.ino));
        TRY(get(&rec_.ctime_ns, sizeof rec_.ctime_ns));
      }
      return &rec_;
    }

   private:
    Status get(void* out, size_t n) {
      if (n == 0) return ok();
      if (!TRY(cur_.read({static_cast<char*>(out), n})))
        return internal_error("the restore's records end mid-record");
      return ok();
    }

    io::SpoolCursor cur_;
    Record rec_;
  };

 private:
  std::optional<io::Spool> spool_;
  uint64_t count_ = 0;
};

// The mount points of this process's mount namespace (/proc/self/mountinfo), unescaped.
std::vector<std::string> mount_points() {
  std::vector<std::string> out;
  std::ifstream info("/proc/self/mountinfo");
  std::string line;
  while (std::getline(info, line)) {
    // "<id> <parent> <major:minor> <root> <mount point> ...": the fifth field, octal-escaped.
    std::istringstream fields(line);
    std::string skip, mount_point;
    for (int i = 0; i < 4; ++i) fields >> skip;
    fields >> mount_point;
    std::string unescaped;
    for (size_t k = 0; k < mount_point.size(); ++k) {
      if (mount_point[k] == '\\' && k + 3 < mount_point.size()) {
        unescaped += static_cast<char>(std::stoi(mount_point.substr(k + 1, 3), nullptr, 8));
        k += 3;
      } else {
        unescaped += mount_point[k];
      }
    }
    out.push_back(std::move(unescaped));
  }
  return out;
}

Result<std::string> resolved_path(const std::string& dir) {
  char* real = ::realpath(dir.c_str(), nullptr);
  if (!real) return errno_error("resolving " + dir, errno);
  std::string resolved(real);
  std::free(real);
  return resolved;
}

// Whether `dir` is a mount point: its device differs from its parent's, or it is listed as a
// mount point in /proc/self/mountinfo (a bind mount of the parent's own file system keeps the
// device but still cannot be renamed).
Result<bool> is_mount_point(const std::string& dir, const std::string& parent) {
  struct stat d, p;
  if (::stat(dir.c_str(), &d) != 0) return errno_error("examining " + dir, errno);
  if (::stat(parent.c_str(), &p) != 0) return errno_error("examining " + parent, errno);
  if (d.st_dev != p.st_dev) return true;
  const std::string resolved = TRY(resolved_path(dir));
  for (const auto& m : mount_points())
    if (m == resolved) return true;
  return false;
}

// The first mount point strictly below `dir` (resolved), or "" when none: a switch by renaming
// would carry that file system along with the replaced tree, and removing the replaced tree would
// then delete what the mounted volume holds (issue 16's attack review).
Result<std::string> mount_point_below(const std::string& dir) {
  const std::string resolved = TRY(resolved_path(dir));
  const std::string prefix = resolved == "/" ? resolved : resolved + "/";
  for (const auto& m : mount_points())
    if (m.size() > prefix.size() && m.starts_with(prefix)) return m;
  return std::string();
}

class FilesStagedRestore final : public StagedRestore {
 public:
  FilesStagedRestore(std::string root, std::string parent, std::string base, const TaskContext& ctx,
                     std::string log_prefix)
      : root_(std::move(root)),
        parent_(std::move(parent)),
        stage_path_(stage_path_for(parent_, base, ctx.id)),
        old_path_(old_path_for(parent_, base, ctx.id)),
        spool_dir_(ctx.staging_dir.empty() ? parent_ : ctx.staging_dir),
        log_(ctx.log),
        cancelled_(ctx.cancelled),
        log_prefix_(std::move(log_prefix)) {}

  ~FilesStagedRestore() override {
    stage_fd_.reset();
    if (!committed_) (void)remove_tree(stage_path_);
  }

  Status open() {
    TRY_CTX(remove_tree(stage_path_), "removing a leftover staging directory");
    struct stat live;
    if (::lstat(root_.c_str(), &live) == 0 && ::geteuid() == 0)
      owner_ = std::pair<uid_t, gid_t>(live.st_uid, live.st_gid);
    if (::mkdir(stage_path_.c_str(), 0700) != 0)
      return errno_error("creating the staging directory " + stage_path_, errno);
    stage_fd_ = Fd(::open(stage_path_.c_str(), kDirFlags));
    if (!stage_fd_) return errno_error("opening " + stage_path_, errno);
    struct stat st;
    if (::fstat(stage_fd_.get(), &st) != 0) return errno_error(stage_path_, errno);
    stage_dev_ = static_cast<uint64_t>(st.st_dev);
    if (owner_ && ::fchown(stage_fd_.get(), owner_->first, owner_->second) != 0)
      return errno_error("changing the owner of " + stage_path_, errno);
    return spool_.open(spool_dir_);
  }

  // Entries come in tree order (tree_order_less) from every backup this version writes: then
  // only the chain of directories still open is kept, and a directory gets its mode and mtime
  // as the walk leaves it. Any other order in which parents come first (backups of remote
  // trees written before tree order) is restored too, with the directories' attributes set at
  // the end. Duplicates and entries without their parent directory are refused by the file
  // system itself (EEXIST, ENOENT, ENOTDIR): no per-entry bookkeeping in memory.
  Status add(const archive::Entry& entry, io::Reader& data) override {
    if (finished_) return failed_precondition("add() after finish_staging()");
    if (cancelled_ && cancelled_->load()) return make_error(Errc::kCancelled, "cancelled");
    std::string sub = TRY(check_tree_path(entry, root_record_.has_value()));
    if (sub.empty()) {
      // Permission bits only, whatever the entry says: setuid, setgid and sticky bits are never
      // restored (the archive reader refuses them already; this holds for any caller).
      root_record_ = Record{.type = entry.type, .mode = entry.mode & 0777, .mtime = entry.mtime};
      return ok();
    }
    if (in_order_ && !tree_order_less(last_, sub)) {
      // Out of tree order (or a duplicate, which the file system refuses below). From here on
      // the directories' attributes wait for finish_staging().
      in_order_ = false;
      open_dirs_.clear();
    }
    if (in_order_) TRY(close_dirs_not_above(sub));
    Record rec{.path = std::move(sub),
               .type = entry.type,
               .size = entry.size,
               .mode = entry.mode & 0777,
               .mtime = entry.mtime};
    const std::string& path = rec.path;
    std::string staged = stage_path_ + "/" + path;
    if (entry.type == archive::EntryType::kDirectory) {
      int rc = ::mkdirat(stage_fd_.get(), path.c_str(), 0700);
      if (rc != 0 && errno == EACCES && !in_order_) {
        TRY(open_up_ancestors(path));
        rc = ::mkdirat(stage_fd_.get(), path.c_str(), 0700);
      }
      if (rc != 0) return refuse_or_error(entry, errno, "creating " + staged);
      if (owner_ && ::fchownat(stage_fd_.get(), path.c_str(), owner_->first, owner_->second,
                               AT_SYMLINK_NOFOLLOW) != 0)
        return errno_error("changing the owner of " + staged, errno);
      if (in_order_) open_dirs_.push_back(OpenDir{path.size(), rec.mode, rec.mtime});
    } else {
      struct stat written;
      rec.sha256 = TRY(write_file(path, staged, entry, data, written));
      rec.ino = static_cast<uint64_t>(written.st_ino);
      rec.ctime_ns = ctime_ns_of(written);
    }
    TRY(spool_.append(rec));
    if (in_order_) last_ = std::move(rec.path);
    return ok();
  }

  Status finish_staging() override {
    if (finished_) return ok();
    if (!root_record_) return missing_root();
    if (in_order_)
      TRY(close_dirs_not_above(std::string_view()));
    else
      TRY(sort_and_set_directories());
    if (::fchmod(stage_fd_.get(), root_record_->mode) != 0)
      return errno_error("setting the mode of " + stage_path_, errno);
    timespec times[2] = {to_timespec(root_record_->mtime), to_timespec(root_record_->mtime)};
    if (::futimens(stage_fd_.get(), times) != 0)
      return errno_error("setting the mtime of " + stage_path_, errno);
    // The file system's clock when staging ended, at its own granularity (verify()).
    struct stat st;
    if (::fstat(stage_fd_.get(), &st) != 0) return errno_error(stage_path_, errno);
    staged_at_ns_ = ctime_ns_of(st);
    // One sync of the file system instead of one fsync per file: the staged tree is durable
    // before commit() makes it live.
    if (::syncfs(stage_fd_.get()) != 0) return errno_error("syncing " + stage_path_, errno);
    finished_ = true;
    return ok();
  }

  // A merge of two walks in tree order: the live tree's and the spool's.
  Result<SourceDiff> diff() override {
    SourceDiff out;
    RecordSpool::Reader spooled(spool_);
    const Record* rec = TRY(spooled.next());
    CopyBuffer buf;
    bool live_root = TRY(exists(root_));
    if (live_root) {
      Visit visit = [&](const std::string& rel, const Node& node, int parent_fd,
                        const std::string& name) -> Status {
        if (rel.empty()) {
          if (root_record_ && (!same_kind(node, *root_record_) || node.mode != root_record_->mode))
            out.changed.add(".");
          return ok();
        }
        while (rec && tree_order_less(rec->path, rel)) {
          out.added.add(rec->path);
          rec = TRY(spooled.next());
        }
        if (!rec || rec->path != rel) {
          out.removed.add(rel);
          return ok();
        }
        bool differs = !same_kind(node, *rec) || node.mode != rec->mode;
        if (!differs && node.kind == Node::kFile) {
          differs = node.size != rec->size || node.mtime != rec->mtime;
          if (!differs)
            differs = TRY(hash_at(parent_fd, name, root_ + "/" + rel, buf.span())) != rec->sha256;
        }
        if (differs) out.changed.add(rel);
        rec = TRY(spooled.next());
        return ok();
      };
      Walker walker{root_, visit, nullptr, log_prefix_};
      TRY_CTX(walker.walk_root(), "comparing with " + root_);
    }
    if (root_record_ && !live_root) out.added.add(".");
    for (; rec; rec = TRY(spooled.next())) out.added.add(rec->path);
    return out;
  }

  // Every failure of commit() below leaves the live tree as it was, except a failed second
  // rename whose undo failed too: the engine then need not put this source back (and must not
  // report a tree it did not change as damaged).
  bool failed_commit_changed_nothing() const override { return !committed_ && !left_changed_; }

  Status commit() override {
    if (!finished_) return failed_precondition("commit() before finish_staging()");
    if (committed_) return ok();
    stage_fd_.reset();
    if (!TRY(exists(root_))) {
      if (::rename(stage_path_.c_str(), root_.c_str()) != 0)
        return errno_error("renaming " + stage_path_ + " to " + root_, errno);
      committed_ = true;
      return fsync_dir(parent_);
    }
    // One atomic exchange: at every instant the live path holds either the old or the new tree.
    errno = EINVAL;
    if (g_rename_exchange.load() &&
        ::renameat2(AT_FDCWD, stage_path_.c_str(), AT_FDCWD, root_.c_str(), RENAME_EXCHANGE) == 0) {
      committed_ = true;
      TRY(fsync_dir(parent_));
      // The staging name now holds the old tree.
      if (auto st = remove_tree(stage_path_); !st)
        log_line(log_, log_prefix_ + "could not remove the replaced tree " + stage_path_ + ": " +
                           st.error().message);
      return ok();
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
      return errno_error("exchanging " + stage_path_ + " and " + root_, errno);
    // The file system cannot exchange: two renames, the old tree put back if the second fails.
    if (TRY(exists(old_path_)))
      return failed_precondition(old_path_ +
                                 " is left over from an interrupted restore; it must be cleaned "
                                 "up first");
    if (::rename(root_.c_str(), old_path_.c_str()) != 0)
      return errno_error("renaming " + root_ + " to " + old_path_, errno);
    if (::rename(stage_path_.c_str(), root_.c_str()) != 0) {
      int e = errno;
      if (::rename(old_path_.c_str(), root_.c_str()) != 0) {
        left_changed_ = true;
        return errno_error("renaming " + stage_path_ + " to " + root_ +
                               " (and the old tree could not be put back from " + old_path_ + ")",
                           e);
      }
      return errno_error("renaming " + stage_path_ + " to " + root_, e);
    }
    committed_ = true;
    TRY(fsync_dir(parent_));
    if (auto st = remove_tree(old_path_); !st)
      log_line(log_, log_prefix_ + "could not remove the replaced tree " + old_path_ + ": " +
                         st.error().message);
    return ok();
  }

  // The same merge as diff(), stopping at the first difference.
  Status verify() override {
    if (!committed_) return failed_precondition("verify() before commit()");
    RecordSpool::Reader spooled(spool_);
    const Record* rec = TRY(spooled.next());
    CopyBuffer buf;
    uint64_t rehashed = 0;
    auto missing = [&](const Record& r) {
      return corruption(root_ + ": " + r.path + ": missing after the restore");
    };
    Visit visit = [&](const std::string& rel, const Node& node, int parent_fd,
                      const std::string& name) -> Status {
      auto differ = [&](std::string why) {
        return corruption(root_ + ": " + display(rel) + ": " + std::move(why));
      };
      const Record* want = nullptr;
      if (rel.empty()) {
        want = root_record_ ? &*root_record_ : nullptr;
      } else {
        if (rec && tree_order_less(rec->path, rel)) return missing(*rec);
        if (rec && rec->path == rel) want = rec;
      }
      if (!want) {
        return differ(node.kind == Node::kOther
                          ? "a " + node.what + " that the backup does not hold"
                          : "present but not in the backup");
      }
      if (!same_kind(node, *want))
        return differ(want->type == archive::EntryType::kDirectory ? "not a directory"
                                                                   : "not a regular file");
      if (node.mode != want->mode)
        return differ("mode " + octal(node.mode) + ", expected " + octal(want->mode));
      if (node.kind == Node::kFile) {
        if (node.size != want->size)
          return differ("size " + std::to_string(node.size) + ", expected " +
                        std::to_string(want->size));
        if (node.mtime != want->mtime)
          return differ("mtime " + std::to_string(node.mtime) + ", expected " +
                        std::to_string(want->mtime));
        // The very file staged and hashed, unchanged since, needs no second read: any write or
        // change of attributes since would have moved its ctime. Timestamps advance in ticks
        // (a few ms): a change in the tick the file was staged in would not show, which only a
        // writer inside the hidden staging directory could make while the staging runs; so that
        // no change after the staging ended can go unseen, a file staged in its last tick (ctime
        // not before the staging's end) is hashed again, as is any other file (a file system
        // that does not keep inodes across the switch, a file touched since).
        bool staged_unchanged = want->ino != 0 && node.dev == stage_dev_ && node.ino == want->ino &&
                                node.ctime_ns == want->ctime_ns && want->ctime_ns < staged_at_ns_;
        if (!staged_unchanged) {
          ++rehashed;
          if (TRY(hash_at(parent_fd, name, root_ + "/" + rel, buf.span())) != want->sha256)
            return differ("content differs from the backup (SHA-256)");
        }
      }
      if (!rel.empty()) rec = TRY(spooled.next());
      return ok();
    };
    Walker walker{root_, visit, nullptr, log_prefix_};
    TRY_CTX(walker.walk_root(), "verifying " + root_);
    if (rec) return missing(*rec);
    if (rehashed > 0)
      log_line(log_, log_prefix_ + "verified " + root_ + ": " + std::to_string(rehashed) +
                         " files hashed again (not the inodes staged)");
    return ok();
  }

 private:
  // A staged directory whose mode and mtime wait until the walk leaves it: its path is the
  // first `len` bytes of last_.
  struct OpenDir {
    size_t len;
    uint32_t mode;
    int64_t mtime;
  };

  static bool same_kind(const Node& node, const Record& rec) {
    return rec.type == archive::EntryType::kDirectory ? node.kind == Node::kDir
                                                      : node.kind == Node::kFile;
  }

  static std::string octal(uint32_t mode) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04o", mode);
    return buf;
  }

  // Sets the mode and mtime of a staged directory: after everything below it was created (the
  // mode may forbid writing, and every creation below it changes its mtime).
  Status set_directory(const std::string& sub, uint32_t mode, int64_t mtime) {
    if (::fchmodat(stage_fd_.get(), sub.c_str(), mode, 0) != 0)
      return errno_error("setting the mode of " + stage_path_ + "/" + sub, errno);
    timespec times[2] = {to_timespec(mtime), to_timespec(mtime)};
    if (::utimensat(stage_fd_.get(), sub.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
      return errno_error("setting the mtime of " + stage_path_ + "/" + sub, errno);
    return ok();
  }

  // Closes, deepest first, the open directories that are not ancestors of `next` (all of them
  // for an empty `next`).
  Status close_dirs_not_above(std::string_view next) {
    while (!open_dirs_.empty()) {
      const OpenDir& top = open_dirs_.back();
      if (!next.empty() && next.size() > top.len && next[top.len] == '/' &&
          next.compare(0, top.len, last_, 0, top.len) == 0)
        break;
      TRY(set_directory(last_.substr(0, top.len), top.mode, top.mtime));
      open_dirs_.pop_back();
    }
    return ok();
  }

  // Out of tree order, an entry may go into a directory closed before (with its final mode,
  // which may forbid writing): lets us write and search its ancestors again; the final modes
  // are set again by finish_staging().
  Status open_up_ancestors(const std::string& sub) {
    for (size_t slash = sub.find('/'); slash != std::string::npos;
         slash = sub.find('/', slash + 1)) {
      std::string dir = sub.substr(0, slash);
      struct stat st;
      if (::fstatat(stage_fd_.get(), dir.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ok();
      if (S_ISDIR(st.st_mode) && (st.st_mode & 0700) != 0700 &&
          ::fchmodat(stage_fd_.get(), dir.c_str(), (st.st_mode & 07777) | 0700, 0) != 0)
        return errno_error("setting the mode of " + stage_path_ + "/" + dir, errno);
    }
    return ok();
  }

  // The file system's answer to creating an entry: a refusal of the archive when it holds the
  // entry twice or before its parent directory.
  std::unexpected<Error> refuse_or_error(const archive::Entry& entry, int err,
                                         const std::string& what) {
    if (err == EEXIST) return entry_twice(entry);
    if (err == ENOENT || err == ENOTDIR) return entry_without_parent(entry);
    return errno_error(what, err);
  }

  // For a backup out of tree order: puts the spool in tree order (the order diff() and
  // verify() walk the live tree in), then sets the directories' attributes bottom-up. Holds
  // every record in memory: only backups of remote trees written before tree order need it.
  Status sort_and_set_directories() {
    std::vector<Record> all;
    all.reserve(static_cast<size_t>(spool_.count()));
    {
      RecordSpool::Reader in(spool_);
      for (const Record* r = TRY(in.next()); r; r = TRY(in.next())) all.push_back(*r);
    }
    std::sort(all.begin(), all.end(),
              [](const Record& a, const Record& b) { return tree_order_less(a.path, b.path); });
    TRY(spool_.clear());
    for (const Record& r : all) TRY(spool_.append(r));
    // In reverse tree order every descendant comes before its directory.
    for (auto it = all.rbegin(); it != all.rend(); ++it)
      if (it->type == archive::EntryType::kDirectory)
        TRY(set_directory(it->path, it->mode, it->mtime));
    log_line(log_, log_prefix_ + "the backup's entries were not in tree order; " +
                       std::to_string(all.size()) + " entries sorted in memory");
    return ok();
  }

  // Writes one staged file, hashing what it writes; returns the SHA-256.
  // `written`: the file's attributes once complete (its inode and ctime, for verify()).
  Result<std::string> write_file(const std::string& sub, const std::string& staged,
                                 const archive::Entry& entry, io::Reader& data,
                                 struct stat& written) {
    constexpr int kCreate = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    Fd f(::openat(stage_fd_.get(), sub.c_str(), kCreate, 0600));
    if (!f && errno == EACCES && !in_order_) {
      TRY(open_up_ancestors(sub));
      f = Fd(::openat(stage_fd_.get(), sub.c_str(), kCreate, 0600));
    }
    if (!f) return refuse_or_error(entry, errno, "creating " + staged);
    // The archive reader hashes every entry's data for its manifest check; its digest is the
    // digest of what we write, so the bytes are hashed once.
    std::optional<io::Sha256> hash;
    if (!data.hashes_sha256()) hash.emplace();
    std::span<std::byte> buf = buf_.span();
    uint64_t total = 0;
    for (;;) {
      size_t n = TRY(data.read(buf));
      if (n == 0) break;
      total += n;
      if (total > entry.size) break;
      std::span<const std::byte> chunk(buf.data(), n);
      if (hash) hash->update(chunk);
      while (!chunk.empty()) {
        ssize_t w = ::write(f.get(), chunk.data(), chunk.size());
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno_error("writing " + staged, errno);
        chunk = chunk.subspan(static_cast<size_t>(w));
      }
    }
    if (total != entry.size)
      return corruption("entry '" + entry.path + "' holds " +
                        (total > entry.size ? "more than" : std::to_string(total) + " of") +
                        " the " + std::to_string(entry.size) + " bytes its header announces");
    // Start writing the file out now, without waiting for it (as git's batched fsync does):
    // the disk then works while the rest is inflated, and finish_staging()'s one syncfs only
    // waits for what is left. Advisory: a file system that cannot do it syncs at syncfs.
    (void)::sync_file_range(f.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    // Owner first: chown clears set-id bits; the mode below never sets them.
    if (owner_ && ::fchown(f.get(), owner_->first, owner_->second) != 0)
      return errno_error("changing the owner of " + staged, errno);
    if (::fchmod(f.get(), entry.mode & 0777) != 0)
      return errno_error("setting the mode of " + staged, errno);
    // Nothing writes to the file after this, so its mtime can be set now.
    timespec times[2] = {to_timespec(entry.mtime), to_timespec(entry.mtime)};
    if (::futimens(f.get(), times) != 0)
      return errno_error("setting the mtime of " + staged, errno);
    if (::fstat(f.get(), &written) != 0) return errno_error(staged, errno);
    TRY(f.close("closing " + staged));
    if (hash) return hash->hex_digest();
    std::string digest = data.sha256_at_end();
    if (digest.empty()) return internal_error("no SHA-256 for " + entry.path);
    return digest;
  }

  const std::string root_;
  const std::string parent_;
  const std::string stage_path_;
  const std::string old_path_;
  const std::string spool_dir_;  // where the spool's unnamed file lives
  std::function<void(const std::string&)> log_;
  const std::atomic<bool>* cancelled_;
  std::string log_prefix_;
  Fd stage_fd_;
  CopyBuffer buf_;                                // write_file's, reused for every file
  std::optional<std::pair<uid_t, gid_t>> owner_;  // when running as root: the live tree's owner
  std::optional<Record> root_record_;
  RecordSpool spool_;               // a record of every staged entry below the root
  std::string last_;                // the last entry staged, while in tree order
  std::vector<OpenDir> open_dirs_;  // its directory and their ancestors, while in tree order
  bool in_order_ = true;            // every entry so far came in tree order
  bool finished_ = false;
  bool committed_ = false;
  bool left_changed_ = false;  // a failed commit() could not put the old tree back
  uint64_t stage_dev_ = 0;     // the staging directory's file system (verify(): same inodes)
  int64_t staged_at_ns_ = 0;   // the staging root's ctime when staging ended (verify())
};

// ---- the source ----

class FilesSource final : public MetadataSource {
 public:
  FilesSource(config::SourceConfig cfg, std::string root)
      : cfg_(std::move(cfg)), root_(std::move(root)) {
    auto slash = root_.rfind('/');
    parent_ = slash == 0 ? "/" : root_.substr(0, slash);
    base_ = root_.substr(slash + 1);
    log_prefix_ = "files source '" + cfg_.name + "': ";
  }

  const config::SourceConfig& config() const override { return cfg_; }

  std::string location() const override { return cfg_.params.value("uri", "file://" + root_); }

  Status check() override {
    struct stat st;
    if (::lstat(root_.c_str(), &st) != 0) {
      if (errno == ENOENT) return not_found(root_ + " does not exist");
      if (errno == EACCES)
        return make_error(Errc::kPermissionDenied, root_ + " cannot be reached: permission denied");
      return errno_error(root_, errno);
    }
    if (S_ISLNK(st.st_mode))
      return failed_precondition(root_ +
                                 " is a symbolic link; configure the directory it points to");
    if (!S_ISDIR(st.st_mode)) return failed_precondition(root_ + " is not a directory");
    if (::faccessat(AT_FDCWD, root_.c_str(), R_OK | W_OK | X_OK, AT_EACCESS) != 0)
      return make_error(Errc::kPermissionDenied,
                        root_ + " is not readable and writable by this user");
    if (::faccessat(AT_FDCWD, parent_.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
      return make_error(
          Errc::kPermissionDenied,
          parent_ + " is not writable by this user (a restore replaces " + root_ + " within it)");
    return ok();
  }

  // A restore stages beside the root (in its parent) and switches by renaming the root: both
  // need the root and its parent on one mount. A root that is a mount point (a dedicated volume
  // for the HA storage), or a bind mount, cannot be renamed (EBUSY, EXDEV): refused here, before
  // anything is staged, rather than failing at the switch.
  Status check_restorable() override {
    if (std::string below = TRY(mount_point_below(root_)); !below.empty())
      return failed_precondition(
          below + " is a mount point inside the tree of " + root_ +
          "; a restore switches the whole tree by renaming it, which would carry that file "
          "system away with the replaced tree and delete what it holds. Configure the file "
          "system below the mount point as a source of its own, and the rest apart from it");
    if (!TRY(is_mount_point(root_, parent_))) return ok();
    return failed_precondition(
        root_ + " is a mount point (its file system is not the one of " + parent_ +
        "); a restore stages beside the directory and switches by renaming it, which a mount "
        "point does not allow. Configure the source's uri as a directory below the mount "
        "point (for example " +
        root_ + "/data, with the files moved there)");
  }

  std::optional<std::string> staging_place() const override { return parent_; }

  uint64_t estimate_bytes() override {
    uint64_t total = 0;
    Visit visit = [&](const std::string&, const Node& node, int, const std::string&) -> Status {
      total += node.size;
      return ok();
    };
    Walker walker{root_, visit, nullptr, log_prefix_};
    if (!walker.walk_root()) return 0;
    return total;
  }

  Result<uint64_t> pin(const std::string& rel, const TaskContext& ctx) override {
    // The path comes from a ZooKeeper node that anyone able to write the HA tree controls.
    // What cannot be pinned as a regular file below the root is refused as a precondition: the
    // capture then keeps the pointer as it is and the backup's consistency names it dangling,
    // rather than one hostile node failing every backup of the cluster.
    if (auto st = archive::validate_entry_path(std::string(kTreePrefix) + rel); !st)
      return failed_precondition("cannot pin " + rel + ": " + st.error().message);
    std::string abs = root_ + "/" + rel;
    // Every component is opened with O_NOFOLLOW from the root: a symbolic link anywhere on the
    // way (a directory link in the HA storage pointing at /etc) must not bring a file from
    // outside the source into the backup. The walk skips links; so does the pin.
    Fd dir(::open(root_.c_str(), kDirFlags));
    if (!dir) return errno_error("opening " + root_, errno);
    size_t start = 0;
    for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', start)) {
      const std::string name = rel.substr(start, slash - start);
      Fd next(::openat(dir.get(), name.c_str(), kDirFlags));
      if (!next) return unpinnable(abs, rel.substr(0, slash), errno);
      dir = std::move(next);
      start = slash + 1;
    }
    Fd f(::openat(dir.get(), rel.c_str() + start, kReadFlags));
    if (!f) return unpinnable(abs, rel, errno);
    struct stat st;
    if (::fstat(f.get(), &st) != 0) return errno_error(abs, errno);
    if (!S_ISREG(st.st_mode)) return failed_precondition(abs + " is not a regular file");
    Node node = node_of(st);
    FileReader reader(f.get(), node.size, abs);
    return pinned_.pin(rel, node.mode, node.mtime, node.size, reader, ctx.staging_dir);
  }

  // The error of opening `upto` (a prefix of `rel`) on the way to the file `abs`: not found,
  // a precondition (a link, a file where a directory should be, a name too long: the pointer is
  // backed up as it is and named dangling), or an I/O error that fails the backup.
  static std::unexpected<Error> unpinnable(const std::string& abs, const std::string& upto,
                                           int err) {
    if (err == ENOENT) return not_found(abs + " does not exist");
    if (err == ELOOP || err == ENOTDIR || err == ENAMETOOLONG || err == EISDIR)
      return failed_precondition(abs + " cannot be pinned: " + upto + ": " + std::strerror(err) +
                                 " (symbolic links are not followed)");
    return errno_error("opening " + abs, err);
  }

  Status backup(archive::SourceArchiveWriter& out, const TaskContext& ctx) override {
    // The walk and the reading (system calls, SHA-256) run ahead on their own thread
    // (read_ahead.h); this thread writes the entries in the order they come, tree order.
    auto walk = TRY(TreeReadAhead::start(
        {.root = root_, .pinned = pinned_.paths(), .ctx = &ctx, .log_prefix = log_prefix_}));
    for (;;) {
      LiveEntry e = TRY(walk->next());
      if (e.kind == LiveEntry::kEnd) break;
      std::string abs = e.rel.empty() ? root_ : root_ + "/" + e.rel;
      std::string path = e.rel.empty() ? std::string(kTree) : std::string(kTreePrefix) + e.rel;
      if (!pinned_.empty()) {  // Flink's files pinned by the zookeeper capture, in tree order
        TRY(pinned_.write_before(out, e.rel));
        if (e.kind == LiveEntry::kDir) pinned_.directory_written(e.rel);
        if (e.kind == LiveEntry::kFile && pinned_.contains(e.rel)) {
          TRY(pinned_.write(out, e.rel));
          continue;
        }
      }
      if (e.kind == LiveEntry::kOther) {
        log_line(ctx.log, log_prefix_ + "skipping " + e.what + " " + abs +
                              ": only directories and regular files are backed up");
        continue;
      }
      if (auto st = archive::validate_entry_path(path); !st)
        return failed_precondition(abs + " cannot be stored in a backup: " + st.error().message);
      // Backup files carry permission bits only (the archive writer keeps mode & 0777, a reader
      // refuses more): say what is dropped.
      if ((e.mode & ~0777u) != 0) {
        char modes[64];
        std::snprintf(modes, sizeof modes, "%04o; the backup records %04o", e.mode, e.mode & 0777u);
        log_line(ctx.log, log_prefix_ + "warning: " + abs + " has mode " + modes +
                              " (setuid, setgid and sticky bits are never restored)");
      }
      if (e.kind == LiveEntry::kDir)
        TRY(out.add_directory(path, e.mode, e.mtime));
      else
        TRY(out.add_file(path, e.mode, e.mtime, e.size, walk->data()));
    }
    return pinned_.write_before(out, std::nullopt);  // pinned files gone from the live tree
  }

  Result<std::unique_ptr<StagedRestore>> begin_restore(const TaskContext& ctx) override {
    TRY(check_ctx_id(ctx.id));
    auto staged = std::make_unique<FilesStagedRestore>(root_, parent_, base_, ctx, log_prefix_);
    TRY(staged->open());
    return std::unique_ptr<StagedRestore>(std::move(staged));
  }

  Status cleanup_after_crash(const std::string& ctx_id) override {
    TRY(check_ctx_id(ctx_id));
    std::string stage = stage_path_for(parent_, base_, ctx_id);
    std::string old = old_path_for(parent_, base_, ctx_id);
    if (TRY(exists(old))) {
      if (!TRY(exists(root_))) {
        // Interrupted between the two renames of a commit: the old tree is the live one.
        if (::rename(old.c_str(), root_.c_str()) != 0)
          return errno_error("renaming " + old + " back to " + root_, errno);
        TRY(fsync_dir(parent_));
      } else {
        TRY(remove_tree(old));
      }
    }
    return remove_tree(stage);
  }

 private:
  const config::SourceConfig cfg_;
  std::string root_;
  std::string parent_;
  std::string base_;
  std::string log_prefix_;
  PinnedFiles pinned_;
};

}  // namespace

Status validate_config(const config::SourceConfig& cfg) {
  TRY(root_from_config(cfg));
  return ok();
}

Result<std::unique_ptr<MetadataSource>> create(const config::SourceConfig& cfg) {
  std::string root = TRY(root_from_config(cfg));
  return std::make_unique<FilesSource>(cfg, std::move(root));
}

void use_rename_exchange_for_testing(bool enabled) {
  g_rename_exchange.store(enabled);
}

}  // namespace flinkbr::source::files
