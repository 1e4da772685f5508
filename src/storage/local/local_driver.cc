#include "storage/local/local_driver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>

#include "common/fd.h"

namespace flinkbr::storage {

namespace {

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};

// errno as our error codes: a missing path is kNotFound, an existing one kAlreadyExists, the rest
// kIOError. Messages read "<what> <path>: <strerror>".
std::unexpected<Error> sys_error(std::string_view what, const std::string& path, int err) {
  std::string msg = std::string(what) + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return not_found(std::move(msg));
  if (err == EEXIST) return make_error(Errc::kAlreadyExists, std::move(msg));
  return errno_error(std::string(what) + " " + path, err);
}

std::string parent_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Drops trailing slashes ("/a/b/" -> "/a/b"); "/" stays "/".
std::string trim_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

Status check_absolute(const std::string& path) {
  if (path.empty() || path.front() != '/')
    return invalid_argument("path", "\"" + path + "\" is not an absolute local path");
  return ok();
}

std::string random_hex(size_t bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::random_device rd;  // getrandom(2) on Linux
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rd()) & 0xff;
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0f];
  }
  return out;
}

Status fsync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return sys_error("opening directory", dir, errno);
  if (::fsync(fd.get()) != 0 && errno != EINVAL)  // EINVAL: the file system cannot sync dirs
    return sys_error("syncing directory", dir, errno);
  return ok();
}

// mkdir -p, syncing the parent of every directory it creates so that the new name is durable.
Status make_dirs(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return ok();
    return make_error(Errc::kAlreadyExists, dir + " exists and is not a directory");
  }
  if (errno != ENOENT) return sys_error("checking", dir, errno);
  std::string parent = parent_of(dir);
  if (parent != dir) TRY(make_dirs(parent));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return sys_error("creating directory", dir, errno);
  return fsync_dir(parent);
}

FileInfo info_from(const std::string& path, const struct stat& st) {
  return FileInfo{.path = path,
                  .is_dir = S_ISDIR(st.st_mode),
                  .size = S_ISDIR(st.st_mode) ? 0 : static_cast<uint64_t>(st.st_size),
                  .mtime = static_cast<int64_t>(st.st_mtime),
                  .mode = static_cast<uint32_t>(st.st_mode & 07777)};
}

// rename(2) that refuses to replace `to`. renameat2(RENAME_NOREPLACE) where the file system
// supports it, else link + unlink (which fails with EEXIST just the same). Returns 0 or errno.
int rename_noreplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  int err = errno;
  if (err != EINVAL && err != ENOSYS && err != ENOTSUP) return err;
  if (::link(from.c_str(), to.c_str()) != 0) return errno;
  if (::unlink(from.c_str()) != 0) return errno;
  return 0;
}

class LocalReader final : public io::Reader {
 public:
  LocalReader(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Result<size_t> read(std::span<std::byte> out) override {
    for (;;) {
      ssize_t n = ::read(fd_.get(), out.data(), out.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return sys_error("reading", path_, errno);
    }
  }

 private:
  Fd fd_;
  std::string path_;
};

// Writes "<dir>/.<name>.tmp-<hex>"; finish() syncs and renames it to the final name, then
// syncs the directory. Destroyed unfinished, it unlinks the temporary file.
class LocalWriter final : public io::Writer {
 public:
  LocalWriter(Fd fd, std::string tmp, std::string path, bool overwrite)
      : fd_(std::move(fd)), tmp_(std::move(tmp)), path_(std::move(path)), overwrite_(overwrite) {}
  ~LocalWriter() override {
    if (!committed_) {
      fd_.reset();
      ::unlink(tmp_.c_str());
    }
  }
  LocalWriter(const LocalWriter&) = delete;
  LocalWriter& operator=(const LocalWriter&) = delete;

  Status write(std::span<const std::byte> data) override {
    if (!fd_.valid()) return failed_precondition("writing " + path_ + ": the writer is closed");
    while (!data.empty()) {
      ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return sys_error("writing", path_, errno);
      }
      data = data.subspan(static_cast<size_t>(n));
      written_ += static_cast<uint64_t>(n);
    }
    // Hand what was written to the disk as it comes (as git's batched fsync and the files
    // restore do), so that finish()'s fsync waits only for the last piece: at the end of a
    // 160 MB backup it waited about 80 ms for the whole file, with every core idle. Only starts
    // writeback (no waiting, no durability); an error here shows again in fsync.
    if (written_ - flushed_ >= kWritebackStep) {
      (void)::sync_file_range(fd_.get(), static_cast<off_t>(flushed_),
                              static_cast<off_t>(written_ - flushed_), SYNC_FILE_RANGE_WRITE);
      flushed_ = written_;
    }
    return ok();
  }

  Status finish() override {
    if (!fd_.valid()) return failed_precondition("writing " + path_ + ": the writer is closed");
    if (::fsync(fd_.get()) != 0) return sys_error("syncing", path_, errno);
    if (int err = fd_.close_errno(); err != 0) return sys_error("closing", path_, err);
    if (overwrite_) {
      if (::rename(tmp_.c_str(), path_.c_str()) != 0) return sys_error("renaming to", path_, errno);
    } else if (int err = rename_noreplace(tmp_, path_); err != 0) {
      return sys_error("renaming to", path_, err);
    }
    committed_ = true;
    return fsync_dir(parent_of(path_));
  }

 private:
  Fd fd_;
  std::string tmp_;
  std::string path_;
  bool overwrite_;
  bool committed_ = false;
  static constexpr uint64_t kWritebackStep = 8 << 20;
  uint64_t written_ = 0;  // bytes written so far
  uint64_t flushed_ = 0;  // bytes whose writeback was started
};

class LocalDriver final : public StorageDriver {
 public:
  std::string kind() const override { return "LocalDir"; }

  // ".<name>.tmp-<hex>" (open_write).
  bool is_temporary_of(std::string_view name, std::string_view final_name) const override {
    return name.size() > final_name.size() + 6 && name.starts_with('.') &&
           name.substr(1).starts_with(final_name) &&
           name.substr(1 + final_name.size()).starts_with(".tmp-");
  }

  Result<FileInfo> stat(const std::string& path) override {
    TRY(check_absolute(path));
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return sys_error("stat", path, errno);
    return info_from(trim_slashes(path), st);
  }

  Result<std::vector<FileInfo>> list(const std::string& dir_path) override {
    TRY(check_absolute(dir_path));
    std::string dir = trim_slashes(dir_path);
    std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
    if (!d) return sys_error("listing", dir, errno);
    std::vector<FileInfo> out;
    const std::string prefix = dir == "/" ? "/" : dir + "/";
    for (;;) {
      errno = 0;
      struct dirent* e = ::readdir(d.get());
      if (!e) {
        if (errno != 0) return sys_error("listing", dir, errno);
        break;
      }
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (::fstatat(dirfd(d.get()), e->d_name, &st, 0) != 0) {
        if (errno == ENOENT) continue;  // removed meanwhile
        return sys_error("stat", prefix + std::string(name), errno);
      }
      out.push_back(info_from(prefix + std::string(name), st));
    }
    return out;
  }

  Result<std::unique_ptr<io::Reader>> open_read(const std::string& path) override {
    TRY(check_absolute(path));
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, and a read of one or of a
    // device would wait or never end; only regular files are read (issue 16). Blocking again
    // once we know it is one.
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid()) return sys_error("opening", path, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return sys_error("stat", path, errno);
    if (S_ISDIR(st.st_mode)) return sys_error("opening", path, EISDIR);
    if (!S_ISREG(st.st_mode))
      return make_error(Errc::kInvalidArgument, "opening " + path + ": not a regular file");
    if (int flags = ::fcntl(fd.get(), F_GETFL);
        flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
      return sys_error("opening", path, errno);
    return std::unique_ptr<io::Reader>(std::make_unique<LocalReader>(std::move(fd), path));
  }

  Result<std::unique_ptr<io::Writer>> open_write(const std::string& path_in,
                                                 WriteOptions options) override {
    TRY(check_absolute(path_in));
    std::string path = trim_slashes(path_in);
    std::string dir = parent_of(path), name = base_of(path);
    if (name.empty() || path == "/")
      return invalid_argument("path", "\"" + path_in + "\" names no file");
    if (options.create_parents) TRY(make_dirs(dir));
    if (!options.overwrite) {
      // Fail early; the rename checks again (RENAME_NOREPLACE) for a racing writer.
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0)
        return make_error(Errc::kAlreadyExists, path + " already exists");
    }
    for (int attempt = 0;; ++attempt) {
      std::string tmp = dir + "/." + name + ".tmp-" + random_hex(8);
      // 0600: backup files carry configuration, which may hold credentials.
      Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (fd.valid())
        return std::unique_ptr<io::Writer>(
            std::make_unique<LocalWriter>(std::move(fd), std::move(tmp), path, options.overwrite));
      if (errno != EEXIST || attempt >= 10) return sys_error("creating", tmp, errno);
    }
  }

  Status remove(const std::string& path) override {
    TRY(check_absolute(path));
    if (::unlink(path.c_str()) == 0) return ok();
    int err = errno;
    if (err == EISDIR || err == EPERM) {
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (::rmdir(path.c_str()) == 0) return ok();
        return sys_error("removing", path, errno);
      }
    }
    return sys_error("removing", path, err);
  }

  Status rename(const std::string& from, const std::string& to) override {
    TRY(check_absolute(from));
    TRY(check_absolute(to));
    struct stat st {};
    if (::lstat(from.c_str(), &st) != 0) return sys_error("renaming", from, errno);
    if (int err = rename_noreplace(from, to); err != 0) {
      if (err == EEXIST)
        return make_error(Errc::kAlreadyExists, "renaming " + from + ": " + to + " already exists");
      return sys_error("renaming " + from + " to", to, err);
    }
    TRY(fsync_dir(parent_of(to)));
    if (parent_of(from) != parent_of(to)) TRY(fsync_dir(parent_of(from)));
    return ok();
  }

  Status make_dir(const std::string& path) override {
    TRY(check_absolute(path));
    return make_dirs(trim_slashes(path));
  }

  Status set_attributes(const std::string& path, std::optional<uint32_t> mode,
                        std::optional<int64_t> mtime) override {
    TRY(check_absolute(path));
    if (mode && ::chmod(path.c_str(), *mode & 07777) != 0)
      return sys_error("setting the mode of", path, errno);
    if (mtime) {
      // Access time left as it is; only the modification time is part of a backup.
      struct timespec times[2] = {{0, UTIME_OMIT}, {static_cast<time_t>(*mtime), 0}};
      if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0)
        return sys_error("setting the modification time of", path, errno);
    }
    return ok();
  }

  Result<std::optional<uint64_t>> free_space(const std::string& path) override {
    TRY(check_absolute(path));
    // The path may not exist yet (a backup directory about to be created): ask the nearest
    // existing ancestor, which is on the same file system the new path will be.
    std::string p = trim_slashes(path);
    for (;;) {
      struct statvfs vfs {};
      if (::statvfs(p.c_str(), &vfs) == 0)
        return std::optional<uint64_t>(static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize);
      if (errno != ENOENT || p == "/") return sys_error("checking free space of", p, errno);
      p = parent_of(p);
    }
  }
};

}  // namespace

std::unique_ptr<StorageDriver> make_local_driver() {
  return std::make_unique<LocalDriver>();
}

}  // namespace flinkbr::storage
