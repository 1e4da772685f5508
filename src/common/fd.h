// Fd: owns one file descriptor and closes it when it goes away (RAII for every handle). One class
// for the whole code base: the files source, the local storage driver, processes and the auth
// files each had their own copy.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace flinkbr {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Closes, ignoring errors (a descriptor only read, or one given up after another error).
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Closes and returns close()'s errno, 0 when it succeeded: on some file systems (NFS) close()
  // is the first report of a failed write, so a file that was written is closed through here.
  // EINTR is not an error: the descriptor is released either way (Linux).
  int close_errno() {
    const int fd = std::exchange(fd_, -1);
    if (fd < 0 || ::close(fd) == 0 || errno == EINTR) return 0;
    return errno;
  }
  // The same as a Status: errno_error(what, errno).
  Status close(std::string_view what) {
    if (int err = close_errno(); err != 0) return errno_error(std::string(what), err);
    return ok();
  }

 private:
  int fd_ = -1;
};

}  // namespace flinkbr
