#include "storage/hdfs/hdfs_driver.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "storage/chunked_reader.h"

namespace flinkbr::storage {

namespace {

using hdfs::FileStatus;
using hdfs::WebHdfsClient;

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

std::string child(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string random_hex() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

FileInfo to_info(const std::string& path, const FileStatus& s) {
  FileInfo f;
  f.path = path;
  f.is_dir = s.is_dir;
  f.size = s.is_dir ? 0 : s.length;
  f.mtime = s.modification_ms / 1000;
  f.mode = s.permission;
  return f;
}

class HdfsReader final : public ChunkedReader {
 public:
  HdfsReader(std::shared_ptr<WebHdfsClient> client, std::string path, uint64_t size, size_t chunk)
      : ChunkedReader(size), client_(std::move(client)), path_(std::move(path)), chunk_(chunk) {}

 private:
  // Reads [next_, next_ + want) into buf_, resuming a broken transfer at the byte reached.
  Status fill() override {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk_, size_ - next_));
    buf_.clear();
    if (buf_.capacity() < want) buf_.reserve(want);
    pos_ = 0;
    bool overflow = false;
    const std::function<void(std::string_view)> sink = [&](std::string_view data) {
      size_t room = want - buf_.size();
      if (data.size() > room) overflow = true;
      buf_.append(data.data(), std::min(room, data.size()));
    };
    const int max_attempts = client_->options().max_attempts;
    int attempt = 0;
    while (buf_.size() < want) {
      const uint64_t from = next_ + buf_.size();
      auto got = client_->open_range(path_, from, want - buf_.size(), sink);
      if (overflow)
        return io_error("reading " + client_->uri(path_) +
                        ": the DataNode sent more bytes than asked for");
      if (got && *got > 0) {
        attempt = 0;  // progress: a long transfer may break more than max_attempts times
        continue;
      }
      if (!got && !got.error().retryable) return std::unexpected(got.error());
      if (++attempt >= max_attempts) {
        if (!got) return std::unexpected(got.error());
        return io_error("reading " + client_->uri(path_) + ": the file ended at byte " +
                        std::to_string(from) + " of " + std::to_string(size_));
      }
      client_->backoff(attempt);
    }
    next_ += want;
    return ok();
  }

  std::shared_ptr<WebHdfsClient> client_;
  std::string path_;
  size_t chunk_;
};

class HdfsWriter final : public io::Writer {
 public:
  HdfsWriter(std::shared_ptr<WebHdfsClient> client, std::string path, WriteOptions options,
             size_t chunk)
      : client_(std::move(client)),
        path_(std::move(path)),
        tmp_(child(parent_of(path_), "." + name_of(path_) + "." + random_hex() + ".flinkbr-tmp")),
        options_(options),
        chunk_(chunk) {}

  ~HdfsWriter() override {
    if (!done_) discard();
  }

  Status write(std::span<const std::byte> data) override {
    if (done_ || failed_) return failed_precondition("writing " + uri() + ": the writer is closed");
    while (!data.empty()) {
      if (buf_.capacity() < chunk_) buf_.reserve(chunk_);
      size_t n = std::min(chunk_ - buf_.size(), data.size());
      buf_.append(reinterpret_cast<const char*>(data.data()), n);
      data = data.subspan(n);
      if (buf_.size() == chunk_) {
        if (auto st = send(); !st) return fail(st);
      }
    }
    return ok();
  }

  Status finish() override {
    if (done_ || failed_) return failed_precondition("writing " + uri() + ": the writer is closed");
    if (!buf_.empty() || !created_) {
      if (auto st = send(); !st) return fail(st);
    }
    if (auto st = commit(); !st) return fail(st);
    done_ = true;
    std::string().swap(buf_);
    return ok();
  }

 private:
  std::string uri() const { return client_->uri(path_); }

  Status fail(Status st) {
    failed_ = true;
    discard();
    return st;
  }

  void discard() {
    std::string().swap(buf_);
    if (touched_) (void)client_->remove(tmp_, false);
    touched_ = false;
  }

  // Sends buf_ (CREATE the first time, APPEND after). A broken transfer is resumed from the
  // length the temporary file reached, so no byte lands twice.
  Status send() {
    std::span<const char> seg(buf_.data(), buf_.size());
    size_t sent = 0;
    const int max_attempts = client_->options().max_attempts;
    for (int attempt = 1;; ++attempt) {
      auto part = seg.subspan(sent);
      touched_ = true;
      Status st = created_ ? client_->append(tmp_, part) : client_->create(tmp_, part, true);
      if (st) {
        written_ += part.size();
        created_ = true;
        break;
      }
      if (!st.error().retryable || attempt >= max_attempts)
        return std::unexpected(std::move(st.error()).context("writing " + uri()));
      client_->backoff(attempt);
      // How much of the part landed?
      auto fs = client_->get_file_status(tmp_);
      if (!fs) {
        if (fs.error().code == Errc::kNotFound && !created_) continue;  // CREATE again
        if (fs.error().retryable) continue;
        return std::unexpected(std::move(fs.error()).context("writing " + uri()));
      }
      created_ = true;
      if (fs->length < written_ || fs->length > written_ + part.size())
        return io_error("writing " + uri() + ": the temporary file " + client_->uri(tmp_) +
                        " holds " + std::to_string(fs->length) +
                        " bytes after a broken transfer, " + "expected " +
                        std::to_string(written_) + " to " + std::to_string(written_ + part.size()));
      size_t landed = static_cast<size_t>(fs->length - written_);
      written_ += landed;
      sent += landed;
      if (sent == seg.size()) break;
    }
    buf_.clear();
    return ok();
  }

  Status commit() {
    auto existing = client_->get_file_status(path_);
    if (existing) {
      if (!options_.overwrite || existing->is_dir)
        return make_error(Errc::kAlreadyExists, uri() + " already exists");
      // WebHDFS's RENAME does not replace: remove the old file first (not atomic; overwrite is
      // for files whose loss between the two steps does no harm).
      TRY(client_->remove(path_, false));
    } else if (existing.error().code != Errc::kNotFound) {
      return std::unexpected(std::move(existing.error()).context("writing " + uri()));
    }
    bool renamed = TRY_CTX(client_->rename(tmp_, path_), "committing " + uri());
    if (!renamed) {
      if (client_->get_file_status(path_))
        return make_error(Errc::kAlreadyExists, uri() + " already exists");
      return io_error("committing " + uri() + ": HDFS refused to rename " + client_->uri(tmp_));
    }
    touched_ = false;
    return ok();
  }

  std::shared_ptr<WebHdfsClient> client_;
  std::string path_;
  std::string tmp_;
  WriteOptions options_;
  size_t chunk_;
  std::string buf_;
  uint64_t written_ = 0;  // bytes in the temporary file
  bool created_ = false;  // the temporary file exists
  bool touched_ = false;  // a request may have created the temporary file
  bool done_ = false;
  bool failed_ = false;
};

class HdfsDriver final : public StorageDriver {
 public:
  HdfsDriver(std::shared_ptr<WebHdfsClient> client, HdfsDriverOptions options)
      : client_(std::move(client)), options_(std::move(options)) {}

  std::string kind() const override { return options_.kind; }

  // ".<name>.<hex>.flinkbr-tmp" (HdfsWriter).
  bool is_temporary_of(std::string_view name, std::string_view final_name) const override {
    constexpr std::string_view kSuffix = ".flinkbr-tmp";
    return name.size() > 1 + final_name.size() + 1 + kSuffix.size() && name.starts_with('.') &&
           name.substr(1).starts_with(final_name) && name[1 + final_name.size()] == '.' &&
           name.ends_with(kSuffix);
  }

  Result<FileInfo> stat(const std::string& path) override {
    std::string p = TRY(norm(path));
    auto s = TRY(client_->get_file_status(p));
    return to_info(p, s);
  }

  Result<std::vector<FileInfo>> list(const std::string& dir) override {
    std::string p = TRY(norm(dir));
    auto entries = TRY(client_->list_status(p));
    if (entries.size() == 1 && entries[0].path_suffix.empty()) {
      // LISTSTATUS of a file answers the file itself.
      return failed_precondition("HDFS path " + client_->uri(p) + " is a file, not a directory");
    }
    std::vector<FileInfo> out;
    out.reserve(entries.size());
    for (const auto& e : entries) out.push_back(to_info(child(p, e.path_suffix), e));
    return out;
  }

  Result<std::unique_ptr<io::Reader>> open_read(const std::string& path) override {
    std::string p = TRY(norm(path));
    auto s = TRY_CTX(client_->get_file_status(p), "reading " + client_->uri(p));
    if (s.is_dir)
      return failed_precondition("HDFS path " + client_->uri(p) + " is a directory, not a file");
    return std::unique_ptr<io::Reader>(
        std::make_unique<HdfsReader>(client_, p, s.length, options_.read_chunk));
  }

  Result<std::unique_ptr<io::Writer>> open_write(const std::string& path,
                                                 WriteOptions options) override {
    std::string p = TRY(norm(path));
    if (p == "/") return invalid_argument("path", "HDFS path '/' names no file");
    if (!options.create_parents) {
      auto parent = client_->get_file_status(parent_of(p));
      if (!parent) return std::unexpected(std::move(parent.error()).context("writing " + path));
      if (!parent->is_dir)
        return failed_precondition("writing " + client_->uri(p) + ": the parent is a file");
    }
    return std::unique_ptr<io::Writer>(
        std::make_unique<HdfsWriter>(client_, p, options, options_.write_chunk));
  }

  Status remove(const std::string& path) override {
    std::string p = TRY(norm(path));
    TRY(client_->get_file_status(p));  // kNotFound naming the path
    bool removed = TRY(client_->remove(p, false));
    if (!removed) return not_found("HDFS path " + client_->uri(p) + " does not exist");
    return ok();
  }

  Status rename(const std::string& from, const std::string& to) override {
    std::string f = TRY(norm(from));
    std::string t = TRY(norm(to));
    TRY(client_->get_file_status(f));
    auto dst = client_->get_file_status(t);
    if (dst)
      return make_error(Errc::kAlreadyExists, "cannot rename " + client_->uri(f) + ": " +
                                                  client_->uri(t) + " already exists");
    if (dst.error().code != Errc::kNotFound) return std::unexpected(dst.error());
    TRY(client_->mkdirs(parent_of(t)));
    bool renamed = TRY(client_->rename(f, t));
    if (!renamed)
      return io_error("HDFS refused to rename " + client_->uri(f) + " to " + client_->uri(t));
    return ok();
  }

  Status make_dir(const std::string& path) override {
    std::string p = TRY(norm(path));
    auto s = client_->get_file_status(p);
    if (s) {
      if (!s->is_dir)
        return make_error(Errc::kAlreadyExists,
                          "cannot create the directory " + client_->uri(p) + ": a file is there");
      return ok();
    }
    if (s.error().code != Errc::kNotFound) return std::unexpected(s.error());
    return client_->mkdirs(p);
  }

  Status set_attributes(const std::string& path, std::optional<uint32_t> mode,
                        std::optional<int64_t> mtime) override {
    std::string p = TRY(norm(path));
    if (mode) TRY(client_->set_permission(p, *mode));
    if (mtime) TRY(client_->set_times(p, *mtime * 1000));
    return ok();
  }

  Status remove_tree(const std::string& path) override {
    std::string p = TRY(norm(path));
    if (p == "/") return invalid_argument("path", "refusing to remove the HDFS root");
    TRY(client_->get_file_status(p));  // kNotFound naming the path
    bool removed = TRY(client_->remove(p, true));
    if (!removed) return not_found("HDFS path " + client_->uri(p) + " does not exist");
    return ok();
  }

 private:
  Result<std::string> norm(const std::string& path) const {
    return normalize_hdfs_path(path, client_->options().nameservice);
  }

  std::shared_ptr<WebHdfsClient> client_;
  HdfsDriverOptions options_;
};

}  // namespace

Result<std::string> normalize_hdfs_path(const std::string& path, const std::string& nameservice) {
  std::string_view p = path;
  if (p.starts_with("hdfs://")) {
    std::string_view rest = p.substr(7);
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (authority != nameservice)
      return invalid_argument("path", "HDFS path '" + path + "' names NameService '" +
                                          std::string(authority) + "', but this storage is " +
                                          "NameService '" + nameservice + "'");
    p = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  }
  if (!p.starts_with('/'))
    return invalid_argument("path", "HDFS path '" + path + "' must be absolute");
  std::string out;
  size_t i = 0;
  while (i < p.size()) {
    while (i < p.size() && p[i] == '/') ++i;
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    std::string_view comp = p.substr(i, j - i);
    if (comp.empty()) break;
    if (comp == "." || comp == "..")
      return invalid_argument(
          "path", "HDFS path '" + path + "' has a '" + std::string(comp) + "' component");
    for (char c : comp)
      if (static_cast<unsigned char>(c) < 0x20 || c == ':')
        return invalid_argument("path", "HDFS path '" + path +
                                            "' has a character HDFS does not allow (':' or a "
                                            "control character)");
    out += '/';
    out += comp;
    i = j;
  }
  return out.empty() ? std::string("/") : out;
}

Result<std::unique_ptr<StorageDriver>> make_hdfs_driver(HdfsDriverOptions options) {
  if (options.client.namenodes.empty())
    return invalid_argument("namenode_ip", "no NameNode address for HDFS NameService '" +
                                               options.client.nameservice + "'");
  if (options.read_chunk == 0 || options.write_chunk == 0)
    return invalid_argument("path", "HDFS read and write chunks must be positive");
  auto client = std::make_shared<WebHdfsClient>(options.client);
  return std::unique_ptr<StorageDriver>(
      std::make_unique<HdfsDriver>(std::move(client), std::move(options)));
}

}  // namespace flinkbr::storage
