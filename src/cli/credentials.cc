// The credentials file of `flinkbr login` and the password prompt.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "cli/cli.h"

namespace flinkbr::cli {

namespace {

Status write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("writing " + what, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return ok();
}

// mkdir -p, each directory it creates with mode 0700 (it holds a token).
Status make_private_dirs(const std::filesystem::path& dir) {
  if (dir.empty()) return ok();
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return io_error(dir.string() + " exists and is not a directory");
    return ok();
  }
  TRY(make_private_dirs(dir.parent_path()));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return errno_error("creating " + dir.string(), errno);
  return ok();
}

}  // namespace

Result<std::string> credentials_path() {
  if (const char* d = std::getenv("FLINKBR_CONFIG_DIR"); d && *d)
    return (std::filesystem::path(d) / "credentials.json").string();
  std::string home;
  if (const char* h = std::getenv("HOME"); h && *h) {
    home = h;
  } else if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) {
    home = pw->pw_dir;
  } else {
    return make_error(Errc::kFailedPrecondition,
                      "cannot find the home directory; set FLINKBR_CONFIG_DIR");
  }
  return (std::filesystem::path(home) / ".config" / "flinkbr" / "credentials.json").string();
}

Result<std::optional<Credentials>> load_credentials(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<Credentials>();
    return errno_error("reading " + path, errno);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return errno_error("reading " + path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1 << 20)) break;  // no credentials file is that big; parsing fails below
  }
  ::close(fd);
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto damaged = [&] {
    return invalid_argument(
        "credentials", "the credentials file " + path + " is damaged; run 'flinkbr login' again");
  };
  if (!j.is_object()) return damaged();
  Credentials c;
  for (auto [key, out] : {std::pair{"server", &c.server}, {"token", &c.token}, {"user", &c.user}}) {
    auto it = j.find(key);
    if (it == j.end()) continue;
    if (!it->is_string()) return damaged();
    *out = it->get<std::string>();
  }
  if (c.token.empty()) return damaged();
  return std::optional<Credentials>(std::move(c));
}

Status save_credentials(const std::string& path, const Credentials& c) {
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.parent_path().empty() ? "." : p.parent_path();
  TRY(make_private_dirs(dir));
  const std::string text =
      nlohmann::json{{"server", c.server}, {"token", c.token}, {"user", c.user}}.dump(2) + "\n";
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // a leftover of a crashed run of ours
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("creating " + tmp, errno);
  auto fail = [&](Error e) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return std::unexpected(std::move(e));
  };
  if (auto st = write_all(fd, text, tmp); !st) return fail(st.error());
  if (::fsync(fd) != 0) return fail(errno_error("syncing " + tmp, errno).error());
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return errno_error("closing " + tmp, err);
  }
  // The rename is the commit: a reader sees the old file or the new one, never half of one.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return errno_error("renaming " + tmp + " to " + path, err);
  }
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok();
}

Status remove_credentials(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("removing " + path, errno);
  return ok();
}

namespace {
// The terminal settings to put back if the user interrupts the prompt.
termios g_saved_termios;
struct sigaction g_saved_sigint;

void restore_terminal_and_die(int sig) {
  ::tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  ::sigaction(SIGINT, &g_saved_sigint, nullptr);
  ::raise(sig);
}
}  // namespace

Result<std::string> read_password(Io& io, const std::string& prompt) {
  std::string line;
  if (!io.stdin_is_tty) {
    if (!std::getline(io.in, line))
      return invalid_argument("password", "no password on standard input");
  } else {
    io.err << prompt << std::flush;
    termios t{};
    const bool have_termios = ::tcgetattr(STDIN_FILENO, &t) == 0;
    if (have_termios) {
      g_saved_termios = t;
      struct sigaction sa {};
      sa.sa_handler = restore_terminal_and_die;
      ::sigemptyset(&sa.sa_mask);
      ::sigaction(SIGINT, &sa, &g_saved_sigint);
      termios quiet = t;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      quiet.c_lflag |= ECHONL;
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    const bool got = static_cast<bool>(std::getline(io.in, line));
    if (have_termios) {
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_termios);
      ::sigaction(SIGINT, &g_saved_sigint, nullptr);
    }
    if (!got) return invalid_argument("password", "no password given");
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return invalid_argument("password", "the password is empty");
  return line;
}

}  // namespace flinkbr::cli
