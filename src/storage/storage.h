// Storage: where backup files live. Drivers: local/ (LocalDir), hdfs/ (LocalHDFS and RemoteHDFS,
// through WebHDFS), s3/ (OBS and other S3-compatible stores); storage/open.h chooses one.
//
// A driver implements the small StorageDriver interface; callers use the non-virtual Storage
// facade, which adds the generic parts (recursive listing, exists, remove-if-exists) so that
// drivers stay small. Paths are the driver's own absolute form: a local path for LocalDir, an
// HDFS path for HDFS, "<bucket>/<key>" for OBS. Drivers are not required to be thread-safe;
// use one Storage per task.
//
// Writes are atomic: open_write() returns a Writer that writes under a temporary name next to
// the final one; finish() makes the data durable and renames it to the final name (the rename is
// the commit). A writer destroyed before finish() removes its temporary file, so no
// half-written file ever carries a final name.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "io/stream.h"

namespace flinkbr::storage {

struct FileInfo {
  std::string path;  // full path in the driver's form
  bool is_dir = false;
  uint64_t size = 0;
  int64_t mtime = 0;  // seconds since the epoch, UTC
  uint32_t mode = 0;  // permission bits (07777) where the storage keeps them; 0 when unknown
};

struct WriteOptions {
  bool create_parents = true;  // create missing parent directories
  bool overwrite = false;      // replace an existing final file; otherwise kAlreadyExists
};

class StorageDriver {
 public:
  virtual ~StorageDriver() = default;
  // "LocalDir", "LocalHDFS", ... for messages.
  virtual std::string kind() const = 0;
  // Info about one path; kNotFound when it does not exist.
  [[nodiscard]] virtual Result<FileInfo> stat(const std::string& path) = 0;
  // Direct children of a directory, in no particular order; kNotFound if the directory is
  // missing.
  [[nodiscard]] virtual Result<std::vector<FileInfo>> list(const std::string& dir) = 0;
  // Every file and directory below `dir` (not `dir` itself), in no particular order; kNotFound
  // if `dir` is missing. The default recurses with list(); object stores override it with one
  // flat listing of the prefix, which also spares a request per "directory". Object stores
  // report files only (their "directories" are implied by the keys).
  [[nodiscard]] virtual Result<std::vector<FileInfo>> list_recursive(const std::string& dir);
  // Opens a file for streaming reads; kNotFound (naming the path) when it does not exist.
  [[nodiscard]] virtual Result<std::unique_ptr<io::Reader>> open_read(const std::string& path) = 0;
  // Opens an atomic writer (see the file comment).
  [[nodiscard]] virtual Result<std::unique_ptr<io::Writer>> open_write(const std::string& path,
                                                                       WriteOptions options) = 0;
  // Removes a file or an empty directory; kNotFound when missing.
  [[nodiscard]] virtual Status remove(const std::string& path) = 0;
  // Renames a file, or a directory when has_directories(); fails if `to` exists.
  [[nodiscard]] virtual Status rename(const std::string& from, const std::string& to) = 0;
  // False for object stores, where "directories" are key prefixes that exist while an object
  // lies under them: no empty directories, no directory renames, no make_dir.
  virtual bool has_directories() const { return true; }
  // Creates a directory and its missing parents; ok when it exists already.
  [[nodiscard]] virtual Status make_dir(const std::string& path);
  // Sets a path's permission bits and/or modification time, where the storage keeps them;
  // the default (storages without them) does nothing.
  [[nodiscard]] virtual Status set_attributes(const std::string& path, std::optional<uint32_t> mode,
                                              std::optional<int64_t> mtime) {
    (void)path, (void)mode, (void)mtime;
    return ok();
  }
  // Removes a file or a directory with everything below it; kNotFound when missing. The
  // default walks the tree with list() and remove(); drivers with a recursive delete override.
  [[nodiscard]] virtual Status remove_tree(const std::string& path);
  // Whether `name`, in the directory of a file named `final_name`, is the temporary name one
  // of this driver's writers uses for it. Such a name outlives its writer only when the process
  // died before finish() (a destroyed writer removes it). Drivers whose writers leave no named
  // temporary behind (object stores: an unfinished multipart upload has no key) say false.
  virtual bool is_temporary_of(std::string_view name, std::string_view final_name) const {
    (void)name, (void)final_name;
    return false;
  }
  // Bytes available for new data at `path`, when the driver can tell.
  [[nodiscard]] virtual Result<std::optional<uint64_t>> free_space(const std::string& path) {
    (void)path;
    return std::optional<uint64_t>{};
  }
};

// The facade every caller uses. Owns its driver.
class Storage {
 public:
  explicit Storage(std::unique_ptr<StorageDriver> driver) : driver_(std::move(driver)) {}

  std::string kind() const { return driver_->kind(); }
  Result<FileInfo> stat(const std::string& path) { return driver_->stat(path); }
  Result<std::vector<FileInfo>> list(const std::string& dir) { return driver_->list(dir); }
  Result<std::vector<FileInfo>> list_recursive(const std::string& dir) {
    return driver_->list_recursive(dir);
  }
  Result<std::unique_ptr<io::Reader>> open_read(const std::string& path) {
    return driver_->open_read(path);
  }
  Result<std::unique_ptr<io::Writer>> open_write(const std::string& path,
                                                 WriteOptions options = {}) {
    return driver_->open_write(path, options);
  }
  Status remove(const std::string& path) { return driver_->remove(path); }
  Status rename(const std::string& from, const std::string& to) {
    return driver_->rename(from, to);
  }
  Result<std::optional<uint64_t>> free_space(const std::string& path) {
    return driver_->free_space(path);
  }
  bool has_directories() const { return driver_->has_directories(); }
  Status make_dir(const std::string& path) { return driver_->make_dir(path); }
  Status set_attributes(const std::string& path, std::optional<uint32_t> mode,
                        std::optional<int64_t> mtime) {
    return driver_->set_attributes(path, mode, mtime);
  }
  Status remove_tree(const std::string& path) { return driver_->remove_tree(path); }

  // Generic helpers built on the driver.
  Result<bool> exists(const std::string& path);
  // Removes a file; ok when it was already gone.
  Status remove_if_exists(const std::string& path);
  // Removes what writers of `path` interrupted by a crash left under temporary names beside it
  // (is_temporary_of); ok when there is none or the directory is gone. Returns how many.
  Result<int> remove_leftovers_of(const std::string& path);

 private:
  std::unique_ptr<StorageDriver> driver_;
};

}  // namespace flinkbr::storage
