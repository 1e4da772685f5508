// Test support: a tmpfs mounted at a directory for one test, unmounted when the test ends (also
// when it fails). Mounting needs root (CAP_SYS_ADMIN); why() says why it did not mount, for the
// test's printed skip reason. Header-only; used by the files source's and the restore's tests.
#pragma once

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace flinkbr::testsupport {

class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& dir, const std::string& options = "size=8m") : dir_(dir) {
    std::filesystem::create_directories(dir);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0)
      mounted_ = true;
    else
      why_ = std::string("mounting a tmpfs is not permitted here: ") + std::strerror(errno);
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string why_;
};

}  // namespace flinkbr::testsupport
