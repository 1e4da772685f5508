#include "source/files/storage_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "io/layers.h"
#include "source/files/pinned.h"
#include "source/files/tree_payload.h"
#include "storage/open.h"

namespace flinkbr::source::files {

namespace {

// A reader whose first bytes were read ahead. Remote storages open lazily (WebHDFS's OPEN is sent
// by the first read): a file deleted after the listing is only found missing then, and the
// backup must learn that before it writes the entry's header, to skip the file rather than fail.
class ReadAhead final : public io::Reader {
 public:
  // Reads the first chunk of `in`; its error (kNotFound for a vanished file) as it came.
  static Result<std::unique_ptr<ReadAhead>> open(std::unique_ptr<io::Reader> in) {
    std::vector<std::byte> head(64 * 1024);
    size_t n = TRY(in->read(head));
    head.resize(n);
    return std::unique_ptr<ReadAhead>(new ReadAhead(std::move(in), std::move(head)));
  }
  Result<size_t> read(std::span<std::byte> out) override {
    if (pos_ < head_.size()) {
      size_t n = std::min(out.size(), head_.size() - pos_);
      std::memcpy(out.data(), head_.data() + pos_, n);
      pos_ += n;
      return n;
    }
    if (head_.empty()) return size_t{0};  // the first read said end of stream
    return in_->read(out);
  }

 private:
  ReadAhead(std::unique_ptr<io::Reader> in, std::vector<std::byte> head)
      : in_(std::move(in)), head_(std::move(head)) {}
  std::unique_ptr<io::Reader> in_;
  std::vector<std::byte> head_;
  size_t pos_ = 0;
};

constexpr size_t kCopyBufferSize = size_t{1} << 20;
// What a restored file or directory gets where the storage keeps no permission bits.
constexpr uint32_t kDefaultDirMode = 0755;
constexpr uint32_t kDefaultFileMode = 0644;

Error errno_error(const std::string& what, int err) {
  Errc code = err == ENOENT   ? Errc::kNotFound
              : err == EACCES ? Errc::kPermissionDenied
                              : Errc::kIOError;
  return Error{.code = code, .message = what + ": " + std::strerror(err)};
}

// Reads a local file (the staged copy of an object) for an upload.
class FdReader final : public io::Reader {
 public:
  FdReader(Fd& fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Result<size_t> read(std::span<std::byte> out) override {
    for (;;) {
      ssize_t n = ::read(fd_.get(), out.data(), out.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return std::unexpected(errno_error("reading " + path_, errno));
    }
  }

 private:
  Fd& fd_;
  std::string path_;
};

// One node of a remote tree, relative to its root ("" is the root itself).
struct Node {
  std::string rel;
  storage::FileInfo info;
};

std::string join(const std::string& root, const std::string& rel) {
  return rel.empty() ? root : root + "/" + rel;
}

std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Every node below `root`, in tree order (tree_order_less: depth first, names byte-wise; the
// order the local source writes, so that either source restores what the other wrote in
// bounded memory). Backups written before this used plain byte order of the relative paths,
// which puts "a-c" before "a/b": both sources still restore those. Object stores list files only:
// their directories are the key prefixes, added here.
Result<std::vector<Node>> walk(storage::Storage& storage, const std::string& root,
                               const TaskContext* ctx) {
  if (ctx && ctx->is_cancelled()) return make_error(Errc::kCancelled, "cancelled");
  auto listed = storage.list_recursive(root);
  if (!listed) {
    // An object store's prefix with nothing under it is an empty tree, not an error.
    if (!storage.has_directories() && listed.error().code == Errc::kNotFound)
      return std::vector<Node>{};
    return std::unexpected(std::move(listed).error());
  }
  const std::string prefix = root + "/";
  std::vector<Node> out;
  std::set<std::string> dirs;
  for (auto& info : *listed) {
    if (!info.path.starts_with(prefix) || info.path.size() == prefix.size())
      return io_error(storage.kind() + " listed " + info.path + " under " + root);
    std::string rel = info.path.substr(prefix.size());
    if (info.is_dir) {
      dirs.insert(rel);
    } else {
      for (auto slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1))
        if (!storage.has_directories()) dirs.insert(rel.substr(0, slash));
    }
    if (info.is_dir && !storage.has_directories()) continue;
    out.push_back(Node{std::move(rel), std::move(info)});
  }
  if (!storage.has_directories())
    for (const std::string& d : dirs)
      out.push_back(Node{d, storage::FileInfo{.path = prefix + d, .is_dir = true}});
  std::sort(out.begin(), out.end(),
            [](const Node& a, const Node& b) { return tree_order_less(a.rel, b.rel); });
  return out;
}

Result<std::string> hash_of(storage::Storage& storage, const std::string& path) {
  auto in = TRY(storage.open_read(path));
  io::Sha256 hash;
  std::vector<std::byte> buf(kCopyBufferSize);
  for (;;) {
    size_t n = TRY(in->read(buf));
    if (n == 0) break;
    hash.update(std::span<const std::byte>(buf.data(), n));
  }
  return hash.hex_digest();
}

// Copies `size` bytes of `data` into `out` while hashing them; refuses an entry that holds
// more or fewer bytes than its header announces.
Result<std::string> copy_hashed(io::Reader& data, io::Writer& out, const archive::Entry& entry,
                                const TaskContext& ctx) {
  io::Sha256 hash;
  std::vector<std::byte> buf(kCopyBufferSize);
  uint64_t total = 0;
  for (;;) {
    if (ctx.is_cancelled()) return make_error(Errc::kCancelled, "cancelled");
    size_t n = TRY(data.read(buf));
    if (n == 0) break;
    total += n;
    if (total > entry.size) break;
    std::span<const std::byte> chunk(buf.data(), n);
    hash.update(chunk);
    TRY(out.write(chunk));
  }
  if (total != entry.size)
    return corruption("entry '" + entry.path + "' holds " +
                      (total > entry.size ? "more than" : std::to_string(total) + " of") + " the " +
                      std::to_string(entry.size) + " bytes its header announces");
  return hash.hex_digest();
}

// Writes to a local file descriptor (the staged copy of an object).
class FdWriter final : public io::Writer {
 public:
  FdWriter(Fd& fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status write(std::span<const std::byte> data) override {
    while (!data.empty()) {
      ssize_t w = ::write(fd_.get(), data.data(), data.size());
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return std::unexpected(errno_error("writing " + path_, errno));
      data = data.subspan(static_cast<size_t>(w));
    }
    return ok();
  }
  Status finish() override { return ok(); }

 private:
  Fd& fd_;
  std::string path_;
};

using Record = TreeRecord;

// The common part of both restore strategies: checks the entries and keeps what was staged.
class StagedTree : public StagedRestore {
 public:
  StagedTree(storage::Storage& storage, std::string root, const TaskContext& ctx)
      : storage_(storage), root_(std::move(root)), ctx_(ctx) {}

  Status add(const archive::Entry& entry, io::Reader& data) override {
    if (finished_) return failed_precondition("add() after finish_staging()");
    if (ctx_.is_cancelled()) return make_error(Errc::kCancelled, "cancelled");
    std::string sub = TRY(check_tree_entry(entry, root_record_.has_value(), records_));
    if (sub.empty()) {
      root_record_ = Record{.type = entry.type, .mode = entry.mode & 07777, .mtime = entry.mtime};
      return stage_root();
    }
    Record rec{
        .type = entry.type, .size = entry.size, .mode = entry.mode & 07777, .mtime = entry.mtime};
    if (entry.type == archive::EntryType::kDirectory)
      TRY(stage_directory(sub));
    else
      rec.sha256 = TRY(stage_file(sub, entry, data));
    records_.emplace(std::move(sub), std::move(rec));
    return ok();
  }

  Result<SourceDiff> diff() override {
    Plan plan = TRY(make_plan());
    SourceDiff out;
    for (auto& sub : plan.added) out.added.add(std::move(sub));
    for (auto& sub : plan.changed) out.changed.add(std::move(sub));
    for (auto& sub : plan.removed) out.removed.add(std::move(sub));
    return out;
  }

  Status verify() override {
    if (!committed_) return failed_precondition("verify() before commit()");
    std::set<std::string> seen;
    for (const Node& node : TRY(live_nodes())) {
      auto differ = [&](std::string why) {
        return corruption(root_ + ": " + node.rel + ": " + std::move(why));
      };
      auto it = records_.find(node.rel);
      if (it == records_.end()) {
        if (node.info.is_dir && !storage_.has_directories()) continue;
        return differ("present but not in the backup");
      }
      seen.insert(node.rel);
      const Record& rec = it->second;
      const bool want_dir = rec.type == archive::EntryType::kDirectory;
      if (node.info.is_dir != want_dir)
        return differ(want_dir ? "not a directory" : "not a regular file");
      if (node.info.mode != 0 && storage_.has_directories() && node.info.mode != rec.mode)
        return differ("mode " + octal(node.info.mode) + ", expected " + octal(rec.mode));
      if (want_dir) continue;
      if (node.info.size != rec.size)
        return differ("size " + std::to_string(node.info.size) + ", expected " +
                      std::to_string(rec.size));
      if (storage_.has_directories() && node.info.mtime != rec.mtime)
        return differ("mtime " + std::to_string(node.info.mtime) + ", expected " +
                      std::to_string(rec.mtime));
      if (TRY(hash_of(storage_, join(root_, node.rel))) != rec.sha256)
        return differ("content differs from the backup (SHA-256)");
    }
    for (const auto& [sub, rec] : records_)
      if (!seen.contains(sub) && representable(rec))
        return corruption(root_ + ": " + sub + ": missing after the restore");
    return ok();
  }

 protected:
  // Every difference between the staged tree and the live one, in full: diff() reports it
  // capped, commit() of an object store uploads and deletes by it.
  struct Plan {
    std::vector<std::string> added, changed, removed;
  };
  Result<Plan> make_plan() {
    Plan out;
    std::set<std::string> seen;
    for (const Node& node : TRY(live_nodes())) {
      auto it = records_.find(node.rel);
      if (it == records_.end()) {
        if (!node.info.is_dir || storage_.has_directories()) out.removed.push_back(node.rel);
        continue;
      }
      seen.insert(node.rel);
      const Record& rec = it->second;
      if (node.info.is_dir != (rec.type == archive::EntryType::kDirectory)) {
        out.changed.push_back(node.rel);
      } else if (!node.info.is_dir && TRY(file_differs(node, rec))) {
        out.changed.push_back(node.rel);
      }
    }
    for (const auto& [sub, rec] : records_)
      if (!seen.contains(sub) && representable(rec)) out.added.push_back(sub);
    return out;
  }

  virtual Status stage_root() = 0;
  virtual Status stage_directory(const std::string& sub) = 0;
  virtual Result<std::string> stage_file(const std::string& sub, const archive::Entry& entry,
                                         io::Reader& data) = 0;

  // An empty directory has no representation in an object store.
  bool representable(const Record& rec) const {
    return storage_.has_directories() || rec.type != archive::EntryType::kDirectory;
  }

  Result<std::vector<Node>> live_nodes() {
    auto nodes = walk(storage_, root_, &ctx_);
    if (!nodes && nodes.error().code == Errc::kNotFound) return std::vector<Node>{};
    return nodes;
  }

  Result<bool> file_differs(const Node& node, const Record& rec) {
    if (node.info.size != rec.size) return true;
    return TRY(hash_of(storage_, join(root_, node.rel))) != rec.sha256;
  }

  void log(const std::string& line) const {
    if (ctx_.log) ctx_.log(line);
  }

  static std::string octal(uint32_t mode) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04o", mode);
    return buf;
  }

  storage::Storage& storage_;
  const std::string root_;
  const TaskContext ctx_;  // a copy: the caller's may be a temporary
  std::optional<Record> root_record_;
  std::map<std::string, Record> records_;  // relative path below the root -> what was staged
  bool finished_ = false;
  bool committed_ = false;
};

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string sibling(const std::string& root, std::string_view what, const std::string& id) {
  std::string parent = parent_of(root);
  return (parent == "/" ? "" : parent) + "/." + base_of(root) + ".flinkbr-" + std::string(what) +
         "-" + id;
}

// HDFS and other storages with directories: stage beside the live tree, switch by renames.
class DirectoryStagedTree final : public StagedTree {
 public:
  DirectoryStagedTree(storage::Storage& storage, std::string root, const TaskContext& ctx)
      : StagedTree(storage, std::move(root), ctx),
        stage_(sibling(root_, "stage", ctx.id)),
        old_(sibling(root_, "old", ctx.id)) {}

  ~DirectoryStagedTree() override {
    if (!committed_ && staged_any_) (void)storage_.remove_tree(stage_);
  }

  Status finish_staging() override {
    if (finished_) return ok();
    if (!root_record_) return missing_root();
    // Bottom-up (reverse byte order puts every descendant before its directory), so that a
    // directory made read-only does not block its children; file modes and times last too, as
    // writing a file's data may reset them.
    for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
      const auto& [sub, rec] = *it;
      TRY(storage_.set_attributes(stage_ + "/" + sub, rec.mode, rec.mtime));
    }
    TRY(storage_.set_attributes(stage_, root_record_->mode, root_record_->mtime));
    finished_ = true;
    return ok();
  }

  Status commit() override {
    if (!finished_) return failed_precondition("commit() before finish_staging()");
    if (committed_) return ok();
    if (!TRY(storage_.exists(root_))) {
      TRY_CTX(storage_.rename(stage_, root_), "switching to the restored tree");
      committed_ = true;
      return ok();
    }
    if (TRY(storage_.exists(old_)))
      return failed_precondition(old_ +
                                 " is left over from an interrupted restore; it must be cleaned "
                                 "up first");
    TRY_CTX(storage_.rename(root_, old_), "moving the live tree aside");
    if (auto st = storage_.rename(stage_, root_); !st) {
      if (auto back = storage_.rename(old_, root_); !back)
        return std::unexpected(std::move(st).error().context(
            "switching to the restored tree (and the old tree could not be put back from " + old_ +
            ": " + back.error().message + ")"));
      return std::unexpected(std::move(st).error().context("switching to the restored tree"));
    }
    committed_ = true;
    if (auto st = storage_.remove_tree(old_); !st)
      log("could not remove the replaced tree " + old_ + ": " + st.error().message);
    return ok();
  }

 private:
  Status stage_root() override {
    if (TRY(storage_.exists(stage_)))
      TRY_CTX(storage_.remove_tree(stage_), "removing a leftover staging directory");
    staged_any_ = true;
    return storage_.make_dir(stage_);
  }

  Status stage_directory(const std::string& sub) override {
    return storage_.make_dir(stage_ + "/" + sub);
  }

  Result<std::string> stage_file(const std::string& sub, const archive::Entry& entry,
                                 io::Reader& data) override {
    auto out = TRY(storage_.open_write(stage_ + "/" + sub, {.create_parents = false}));
    std::string sha = TRY(copy_hashed(data, *out, entry, ctx_));
    TRY(out->finish());
    return sha;
  }

  const std::string stage_;
  const std::string old_;
  bool staged_any_ = false;
};

// Object stores: stage on the manager's disk, then upload what differs and delete what the
// backup does not hold.
class ObjectStagedTree final : public StagedTree {
 public:
  ObjectStagedTree(storage::Storage& storage, std::string root, const TaskContext& ctx)
      : StagedTree(storage, std::move(root), ctx),
        local_(std::filesystem::path(ctx.staging_dir) / "objects") {}

  ~ObjectStagedTree() override {
    std::error_code ec;
    std::filesystem::remove_all(local_, ec);
  }

  Status finish_staging() override {
    if (!root_record_) return missing_root();
    finished_ = true;
    return ok();
  }

  Status commit() override {
    if (!finished_) return failed_precondition("commit() before finish_staging()");
    if (committed_) return ok();
    Plan plan = TRY(make_plan());
    // Objects first, deletions last: until the end every key the backup holds is readable.
    std::vector<std::string> uploads = plan.added;
    uploads.insert(uploads.end(), plan.changed.begin(), plan.changed.end());
    for (const std::string& sub : uploads) {
      if (ctx_.is_cancelled()) return make_error(Errc::kCancelled, "cancelled");
      const Record& rec = records_.at(sub);
      if (rec.type == archive::EntryType::kDirectory) continue;
      std::string local = (local_ / sub).string();
      Fd fd(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return std::unexpected(errno_error("opening the staged copy " + local, errno));
      FdReader in(fd, local);
      auto out = TRY(storage_.open_write(join(root_, sub), {.overwrite = true}));
      std::vector<std::byte> buf(kCopyBufferSize);
      for (;;) {
        size_t n = TRY(in.read(buf));
        if (n == 0) break;
        TRY(out->write(std::span<const std::byte>(buf.data(), n)));
      }
      TRY_CTX(out->finish(), "uploading " + join(root_, sub));
    }
    for (const std::string& sub : plan.removed) {
      if (ctx_.is_cancelled()) return make_error(Errc::kCancelled, "cancelled");
      TRY_CTX(storage_.remove_tree(join(root_, sub)),
              "removing an object the backup does not hold");
    }
    committed_ = true;
    log("uploaded " + std::to_string(uploads.size()) + " and removed " +
        std::to_string(plan.removed.size()) + " objects under " + root_);
    return ok();
  }

 private:
  Status stage_root() override {
    std::error_code ec;
    std::filesystem::remove_all(local_, ec);
    if (!std::filesystem::create_directories(local_, ec) && ec)
      return io_error("creating " + local_.string() + ": " + ec.message());
    return ok();
  }

  Status stage_directory(const std::string& sub) override {
    std::error_code ec;
    std::filesystem::create_directories(local_ / sub, ec);
    if (ec) return io_error("creating " + (local_ / sub).string() + ": " + ec.message());
    if (!skipped_empty_dirs_logged_) {
      log("an object store keeps no empty directories: only the files below them are restored");
      skipped_empty_dirs_logged_ = true;
    }
    return ok();
  }

  Result<std::string> stage_file(const std::string& sub, const archive::Entry& entry,
                                 io::Reader& data) override {
    std::string local = (local_ / sub).string();
    Fd fd(::open(local.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return std::unexpected(errno_error("creating the staged copy " + local, errno));
    FdWriter out(fd, local);
    return copy_hashed(data, out, entry, ctx_);
  }

  const std::filesystem::path local_;
  bool skipped_empty_dirs_logged_ = false;
};

// Keeps the storage a StagedRestore borrows alive as long as the restore.
template <typename T>
class OwningStaged final : public StagedRestore {
 public:
  OwningStaged(std::unique_ptr<storage::Storage> storage, std::string root, const TaskContext& ctx)
      : storage_(std::move(storage)), inner_(*storage_, std::move(root), ctx) {}
  Status add(const archive::Entry& entry, io::Reader& data) override {
    return inner_.add(entry, data);
  }
  Status finish_staging() override { return inner_.finish_staging(); }
  Result<SourceDiff> diff() override { return inner_.diff(); }
  Status commit() override { return inner_.commit(); }
  Status verify() override { return inner_.verify(); }

 private:
  std::unique_ptr<storage::Storage> storage_;
  T inner_;
};

class StorageTreeSource final : public MetadataSource {
 public:
  StorageTreeSource(config::SourceConfig cfg, config::ClusterConfig cluster, std::string uri)
      : cfg_(std::move(cfg)), cluster_(std::move(cluster)), uri_(std::move(uri)) {}

  const config::SourceConfig& config() const override { return cfg_; }
  std::string location() const override { return uri_; }

  Status check() override {
    auto target = TRY(open());
    storage::Storage& storage = *target.storage;
    if (!storage.has_directories()) {
      // A listing rather than a HEAD: its error body says why (a rejected signature, a
      // missing bucket), which a HEAD cannot.
      auto listed = storage.list(target.path);
      if (listed) return ok();
      if (listed.error().code != Errc::kNotFound)
        return std::unexpected(std::move(listed).error().context(uri_));
      // An empty prefix is an empty tree; but its bucket must exist.
      std::string bucket = target.path.substr(0, target.path.find('/'));
      auto b = storage.stat(bucket);
      if (b) return ok();
      return std::unexpected(std::move(b).error().context(uri_));
    }
    auto info = storage.stat(target.path);
    if (!info) return std::unexpected(std::move(info).error().context(uri_));
    if (!info->is_dir) return failed_precondition(uri_ + " is not a directory");
    return ok();
  }

  uint64_t estimate_bytes() override {
    auto target = open();
    if (!target) return 0;
    auto nodes = walk(*target->storage, target->path, nullptr);
    if (!nodes) return 0;
    uint64_t total = 0;
    for (const auto& n : *nodes) total += n.info.size;
    return total;
  }

  Status backup(archive::SourceArchiveWriter& out, const TaskContext& ctx) override {
    auto target = TRY(open());
    storage::Storage& storage = *target.storage;
    const bool dirs = storage.has_directories();
    int64_t root_mtime = 0;
    uint32_t root_mode = kDefaultDirMode;
    if (auto info = storage.stat(target.path); info) {
      root_mtime = info->mtime;
      if (dirs && info->mode) root_mode = info->mode;
    }
    TRY(out.add_directory(kTree, root_mode, root_mtime));
    std::vector<Node> nodes = TRY_CTX(walk(storage, target.path, &ctx), "listing " + uri_);
    uint64_t files = 0;
    pinned_.directory_written("");
    for (const Node& node : nodes) {
      if (ctx.is_cancelled()) return make_error(Errc::kCancelled, "cancelled");
      std::string path = std::string(kTreePrefix) + node.rel;
      uint32_t mode = node.info.mode && dirs
                          ? node.info.mode
                          : (node.info.is_dir ? kDefaultDirMode : kDefaultFileMode);
      if (!pinned_.empty()) {  // Flink's files pinned by the zookeeper capture, in tree order
        TRY(pinned_.write_before(out, node.rel));
        if (node.info.is_dir) pinned_.directory_written(node.rel);
        if (!node.info.is_dir && pinned_.contains(node.rel)) {
          TRY(pinned_.write(out, node.rel));
          ++files;
          continue;
        }
      }
      if (node.info.is_dir) {
        TRY(out.add_directory(path, mode, node.info.mtime));
        continue;
      }
      auto opened = storage.open_read(join(target.path, node.rel));
      auto in = opened ? ReadAhead::open(std::move(*opened))
                       : Result<std::unique_ptr<ReadAhead>>(std::unexpected(opened.error()));
      if (!in && in.error().code == Errc::kNotFound) {
        // Deleted since the listing, as the local walk allows too: Flink subsumes checkpoints
        // every few milliseconds, and a file the capture did not pin is named by no record of
        // the backup. Failing here failed every backup of a busy cluster with HA on HDFS.
        if (ctx.log) ctx.log(uri_ + "/" + node.rel + " disappeared while being read; skipped");
        continue;
      }
      if (!in) return std::unexpected(std::move(in).error());
      TRY_CTX(out.add_file(path, mode, node.info.mtime, node.info.size, **in),
              "backing up " + join(target.path, node.rel) +
                  " (if it changed during the backup, run it again)");
      ++files;
    }
    TRY(pinned_.write_before(out, std::nullopt));  // pinned files gone from the live tree
    if (ctx.log) ctx.log("read " + std::to_string(files) + " files from " + uri_);
    return ok();
  }

  Result<uint64_t> pin(const std::string& rel, const TaskContext& ctx) override {
    // A precondition, not an error of the backup: the path comes from a ZooKeeper node, and
    // the capture keeps a pointer it cannot pin as it is (the consistency names it dangling).
    if (auto st = archive::validate_entry_path(std::string(kTreePrefix) + rel); !st)
      return failed_precondition("cannot pin " + rel + ": " + st.error().message);
    auto target = TRY(open());
    storage::Storage& storage = *target.storage;
    const std::string path = join(target.path, rel);
    auto info = TRY(storage.stat(path));
    if (info.is_dir) return failed_precondition(uri_ + "/" + rel + " is a directory");
    auto in = TRY(storage.open_read(path));
    uint32_t mode = info.mode && storage.has_directories() ? info.mode : kDefaultFileMode;
    return pinned_.pin(rel, mode, info.mtime, info.size, *in, ctx.staging_dir);
  }

  // Staged on the remote storage, beside the tree: no local file system to check.
  std::optional<std::string> staging_place() const override { return std::nullopt; }
  Result<std::unique_ptr<StagedRestore>> begin_restore(const TaskContext& ctx) override {
    auto target = TRY(open());
    if (target.storage->has_directories()) {
      return std::unique_ptr<StagedRestore>(std::make_unique<OwningStaged<DirectoryStagedTree>>(
          std::move(target.storage), target.path, ctx));
    }
    // Nothing is written to the bucket before the commit; make sure now that it can be.
    std::string probe = target.path + "/.flinkbr-probe-" + ctx.id;
    {
      auto w = TRY_CTX(target.storage->open_write(probe, {.overwrite = true}),
                       "checking that " + uri_ + " can be written");
      TRY_CTX(w->finish(), "checking that " + uri_ + " can be written");
    }
    TRY_CTX(target.storage->remove(probe), "removing the write probe " + probe);
    return std::unique_ptr<StagedRestore>(std::make_unique<OwningStaged<ObjectStagedTree>>(
        std::move(target.storage), target.path, ctx));
  }

  Status cleanup_after_crash(const std::string& ctx_id) override {
    auto target = TRY(open());
    storage::Storage& storage = *target.storage;
    if (!storage.has_directories()) return ok();  // staged on the manager's disk only
    const std::string stage = sibling(target.path, "stage", ctx_id);
    const std::string old = sibling(target.path, "old", ctx_id);
    // A crash between the two renames of commit() leaves the live tree under the old name.
    if (TRY(storage.exists(old)) && !TRY(storage.exists(target.path)))
      TRY_CTX(storage.rename(old, target.path), "putting the live tree back from " + old);
    if (TRY(storage.exists(stage))) TRY(storage.remove_tree(stage));
    if (TRY(storage.exists(old))) TRY(storage.remove_tree(old));
    return ok();
  }

 private:
  Result<storage::UriTarget> open() {
    return storage::open_storage_for_uri(uri_, cluster_, field_name(cfg_, "uri"));
  }

  config::SourceConfig cfg_;
  config::ClusterConfig cluster_;
  std::string uri_;
  PinnedFiles pinned_;
};

}  // namespace

Status validate_storage_tree_config(const config::SourceConfig& cfg) {
  std::string uri = TRY(uri_setting(cfg));
  auto parsed = TRY(storage::parse_tree_uri(uri, field_name(cfg, "uri")));
  if (parsed.scheme == "file")
    return invalid_argument(field_name(cfg, "uri"),
                            "file:// trees are served by the local files source");
  return ok();
}

Result<std::unique_ptr<MetadataSource>> create_storage_tree(const config::SourceConfig& cfg,
                                                            const config::ClusterConfig& cluster) {
  TRY(validate_storage_tree_config(cfg));
  std::string uri = TRY(uri_setting(cfg));
  return std::unique_ptr<MetadataSource>(
      std::make_unique<StorageTreeSource>(cfg, cluster, std::move(uri)));
}

}  // namespace flinkbr::source::files
