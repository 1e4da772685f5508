#include "common/private_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace flinkbr {

Result<std::string> read_private_file(const std::string& path, std::string_view field,
                                      std::string_view what) {
  const std::string name = std::string(what) + " " + path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return invalid_argument(std::string(field),
                            "cannot open " + name + ": " + std::strerror(errno));
  // Checked on the open descriptor, not the path, so that the file read is the file checked.
  struct stat st {};
  std::string text;
  const bool stat_ok = ::fstat(fd, &st) == 0;
  if (stat_ok && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 077) == 0) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (64u << 10);)
      text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!stat_ok || !S_ISREG(st.st_mode))
    return invalid_argument(std::string(field), name + " is not a regular file");
  if (st.st_uid != ::geteuid())
    return invalid_argument(std::string(field), name + " is owned by uid " +
                                                    std::to_string(st.st_uid) +
                                                    ", not by the daemon's user (uid " +
                                                    std::to_string(::geteuid()) + ")");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return invalid_argument(std::string(field), name + " has mode " + mode +
                                                    "; it must be readable by its owner only "
                                                    "(chmod 600 " +
                                                    path + ")");
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return invalid_argument(std::string(field), name + " is empty");
  return text;
}

}  // namespace flinkbr
