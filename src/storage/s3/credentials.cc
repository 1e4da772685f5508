#include "storage/s3/credentials.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace flinkbr::storage::s3 {

namespace {

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

Result<Credentials> load_credentials_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    auto e = errno_error("OBS credentials file " + path, err);
    if (err == ENOENT) e.error().code = Errc::kNotFound;
    return e;
  }
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(Errc::kPermissionDenied,
                      "OBS credentials file " + path + " is accessible by group or others (mode " +
                          mode +
                          "); refusing to use it: make it readable only by its owner "
                          "(chmod 600)");
  }
  std::ifstream in(path);
  if (!in) return errno_error("reading OBS credentials file " + path, errno);
  const char* env_profile = std::getenv("AWS_PROFILE");
  const std::string profile = env_profile && *env_profile ? env_profile : "default";
  std::string line, section;
  Credentials c;
  while (std::getline(in, line)) {
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      section = trim(std::string_view(t).substr(1, t.size() - 2));
      if (section.starts_with("profile ")) section = trim(section.substr(8));
      continue;
    }
    if (section != profile) continue;
    size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(std::string_view(t).substr(0, eq));
    std::string value = trim(std::string_view(t).substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key = value;
    if (key == "aws_secret_access_key") c.secret_key = value;
  }
  if (c.access_key.empty() || c.secret_key.empty()) {
    return invalid_argument("obs.credentials_file", "OBS credentials file " + path +
                                                        " has no aws_access_key_id and "
                                                        "aws_secret_access_key in its [" +
                                                        profile + "] section");
  }
  return c;
}

Result<Credentials> load_credentials(const std::string& credentials_file) {
  if (!credentials_file.empty()) return load_credentials_file(credentials_file);
  const char* ak = std::getenv("AWS_ACCESS_KEY_ID");
  const char* sk = std::getenv("AWS_SECRET_ACCESS_KEY");
  if (!ak || !*ak || !sk || !*sk) {
    return failed_precondition(
        "no OBS credentials: set obs.credentials_file in the cluster configuration or the "
        "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  return Credentials{ak, sk};
}

}  // namespace flinkbr::storage::s3
