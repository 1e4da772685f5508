#include "task/validate.h"

#include "config/config.h"

namespace flinkbr::task {

namespace {
bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}
}  // namespace

Status validate_text(std::string_view field, std::string_view value, size_t max_length) {
  if (value.size() > max_length)
    return invalid_argument(std::string(field), std::string(field) + " is too long (at most " +
                                                    std::to_string(max_length) + " bytes)");
  if (has_control(value))
    return invalid_argument(std::string(field),
                            std::string(field) + " contains control characters");
  return ok();
}

Status validate_name(std::string_view field, std::string_view value) {
  const std::string f(field);
  if (value.empty()) return invalid_argument(f, f + " is required");
  TRY(validate_text(field, value, 64));
  for (char c : value) {
    bool good = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
    if (!good)
      return invalid_argument(f, f + " '" + std::string(value) +
                                     "' may only contain letters, digits, '.', '_' and '-'");
  }
  if (value[0] == '.' || value[0] == '-')
    return invalid_argument(f, f + " '" + std::string(value) + "' must not start with '.' or '-'");
  return ok();
}

Status validate_absolute_path(std::string_view field, std::string_view value) {
  const std::string f(field);
  if (value.empty()) return invalid_argument(f, f + " is required");
  TRY(validate_text(field, value, 4096));
  if (value[0] != '/')
    return invalid_argument(f, f + " '" + std::string(value) + "' must be an absolute path");
  size_t pos = 1;
  while (pos <= value.size()) {
    size_t end = value.find('/', pos);
    if (end == std::string_view::npos) end = value.size();
    std::string_view part = value.substr(pos, end - pos);
    bool last = end == value.size();
    if ((part.empty() && !last) || part == "." || part == "..")
      return invalid_argument(
          f, f + " '" + std::string(value) + "' must not contain empty, '.' or '..' components");
    pos = end + 1;
  }
  return ok();
}

Status validate_object_path(std::string_view field, std::string_view value) {
  const std::string f(field);
  if (value.empty()) return invalid_argument(f, f + " is required (<bucket>/<prefix>)");
  TRY(validate_text(field, value, 1024));
  const std::string shown = f + " '" + std::string(value) + "'";
  if (value[0] == '/')
    return invalid_argument(f, shown + " must start with the bucket: <bucket>/<prefix>");
  std::string_view bucket = value.substr(0, value.find('/'));
  bool bucket_ok = bucket.size() >= 3 && bucket.size() <= 63;
  for (char c : bucket)
    bucket_ok =
        bucket_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-');
  if (!bucket_ok)
    return invalid_argument(f, shown +
                                   " does not start with a bucket name (3-63 characters of "
                                   "a-z, 0-9, '.' and '-')");
  if (!validate_absolute_path(field, "/" + std::string(value)))
    return invalid_argument(f, shown + " must not contain empty, '.' or '..' components");
  return ok();
}

Status validate_backup_file_path(std::string_view field, std::string_view value) {
  TRY(validate_absolute_path(field, value));
  if (value.size() < 8 || value.substr(value.size() - 7) != ".tar.gz" || value.back() == '/')
    return invalid_argument(std::string(field),
                            std::string(field) + " '" + std::string(value) +
                                "' must name a backup file "
                                "(<Version>_<DataSource>_<ExecutionTime>.tar.gz)");
  return ok();
}

Result<int64_t> parse_period(std::string_view field, std::string_view value) {
  // The configuration's duration syntax, with a period's bound: at most a year.
  int64_t seconds = TRY(config::parse_duration(value, field));
  if (seconds > 366LL * 86400)
    return invalid_argument(std::string(field), std::string(field) + " '" + std::string(value) +
                                                    "' is longer than a year");
  return seconds;
}

}  // namespace flinkbr::task
