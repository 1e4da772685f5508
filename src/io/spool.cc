#include "io/spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace flinkbr::io {

namespace {

constexpr size_t kBufferSize = 64 * 1024;

std::string spool_dir(const std::string& dir) {
  if (!dir.empty()) return dir;
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

}  // namespace

Result<Spool> Spool::create(const std::string& dir_in) {
  std::string dir = spool_dir(dir_in);
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // No O_TMPFILE on this file system: a named file, unlinked at once.
    std::string pattern = dir + "/.flinkbr-spool-XXXXXX";
    fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (fd >= 0 && ::unlink(pattern.c_str()) != 0) {
      int err = errno;
      ::close(fd);
      return errno_error("unlinking the spool file in " + dir, err);
    }
  }
  if (fd < 0) return errno_error("creating a spool file in " + dir, errno);
  return Spool(fd, dir);
}

Spool::Spool(Spool&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      where_(std::move(o.where_)),
      buffer_(std::move(o.buffer_)),
      written_(o.written_) {}

Spool& Spool::operator=(Spool&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    where_ = std::move(o.where_);
    buffer_ = std::move(o.buffer_);
    written_ = o.written_;
  }
  return *this;
}

Spool::~Spool() {
  if (fd_ >= 0) ::close(fd_);
}

Status Spool::append(std::string_view data) {
  if (buffer_.capacity() < kBufferSize) buffer_.reserve(kBufferSize);
  while (!data.empty()) {
    size_t n = std::min(data.size(), kBufferSize - buffer_.size());
    buffer_.insert(buffer_.end(), data.begin(), data.begin() + static_cast<ptrdiff_t>(n));
    data.remove_prefix(n);
    if (buffer_.size() == kBufferSize) TRY(flush());
  }
  return ok();
}

Status Spool::truncate() {
  buffer_.clear();
  written_ = 0;
  if (::ftruncate(fd_, 0) != 0) return errno_error("emptying a spool file in " + where_, errno);
  return ok();
}

Status Spool::flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::pwrite(fd_, buffer_.data() + done, buffer_.size() - done,
                         static_cast<off_t>(written_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("writing a spool file in " + where_, n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  written_ += buffer_.size();
  buffer_.clear();
  return ok();
}

Result<size_t> Spool::read_at(uint64_t offset, std::span<char> out) {
  size_t got = 0;
  // From the file first, then from the buffer that has not reached it yet.
  while (got < out.size() && offset + got < written_) {
    size_t want =
        static_cast<size_t>(std::min<uint64_t>(out.size() - got, written_ - offset - got));
    ssize_t n = ::pread(fd_, out.data() + got, want, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("reading a spool file in " + where_, n < 0 ? errno : EIO);
    got += static_cast<size_t>(n);
  }
  if (got < out.size() && offset + got >= written_) {
    uint64_t in_buf = offset + got - written_;
    if (in_buf < buffer_.size()) {
      size_t n = std::min(out.size() - got, buffer_.size() - static_cast<size_t>(in_buf));
      std::memcpy(out.data() + got, buffer_.data() + in_buf, n);
      got += n;
    }
  }
  return got;
}

Result<bool> SpoolCursor::read(std::span<char> out) {
  size_t got = 0;
  while (got < out.size()) {
    if (pos_ == end_) {
      if (buf_.empty()) buf_.resize(kBufferSize);
      end_ = TRY(spool_.read_at(offset_, buf_));
      pos_ = 0;
      offset_ += end_;
      if (end_ == 0) {
        if (got == 0) return false;
        return internal_error("a spool file ends in the middle of a record");
      }
    }
    size_t n = std::min(out.size() - got, end_ - pos_);
    std::memcpy(out.data() + got, buf_.data() + pos_, n);
    pos_ += n;
    got += n;
  }
  return true;
}

}  // namespace flinkbr::io
