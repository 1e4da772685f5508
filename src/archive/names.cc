#include "archive/names.h"

namespace flinkbr::archive {

namespace {

constexpr std::string_view kSuffix = ".tar.gz";

bool is_version_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

}  // namespace

std::string sanitize_version(std::string_view version) {
  std::string out(version);
  for (char& c : out)
    if (!is_version_char(c)) c = '-';
  return out;
}

std::string backup_file_name(std::string_view version, DataSource source, int64_t execution_time) {
  std::string out = sanitize_version(version);
  out += '_';
  out += to_string(source);
  out += '_';
  out += format_compact_time(execution_time);
  out += kSuffix;
  return out;
}

std::string backup_dir_name(PathType type, std::string_view task_name, DataSource source,
                            int64_t creation_time) {
  std::string out(task_name);
  out += '_';
  switch (type) {
    case PathType::kLocalDir:
    case PathType::kLocalHDFS:
      break;
    case PathType::kRemoteHDFS:
    case PathType::kOBS:
      out += to_string(source);
      out += '_';
      break;
  }
  out += format_compact_time(creation_time);
  return out;
}

std::string backup_file_path(PathType type, std::string_view base, std::string_view task_name,
                             DataSource source, int64_t creation_time, std::string_view version,
                             int64_t execution_time) {
  std::string out;
  if (!base.empty()) {
    size_t end = base.find_last_not_of('/');
    // A base made of slashes only is the root.
    out = end == std::string_view::npos ? std::string() : std::string(base.substr(0, end + 1));
    out += '/';
  }
  out += backup_dir_name(type, task_name, source, creation_time);
  out += '/';
  out += backup_file_name(version, source, execution_time);
  return out;
}

Result<ParsedFileName> parse_backup_file_name(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return invalid_argument("file_name", "\"" + std::string(name) +
                                             "\" is not a backup file name "
                                             "(<Version>_<DataSource>_<yyyyMMddHHmmss>.tar.gz): " +
                                             std::string(why));
  };
  if (!name.ends_with(kSuffix)) return bad("it does not end with .tar.gz");
  std::string_view stem = name.substr(0, name.size() - kSuffix.size());
  size_t last = stem.rfind('_');
  if (last == std::string_view::npos) return bad("it has no '_'");
  size_t middle = stem.rfind('_', last == 0 ? 0 : last - 1);
  if (middle == std::string_view::npos || middle == last) return bad("it has only one '_'");
  std::string_view version = stem.substr(0, middle);
  std::string_view source = stem.substr(middle + 1, last - middle - 1);
  std::string_view time = stem.substr(last + 1);
  if (version.empty()) return bad("the version is empty");
  if (sanitize_version(version) != version)
    return bad("the version has characters out of [A-Za-z0-9.-]");
  auto ds = parse_data_source(source, "file_name");
  if (!ds) return bad("unknown data source \"" + std::string(source) + "\"");
  auto t = parse_compact_time(time);
  if (!t || time.size() != 14) return bad("the execution time is not yyyyMMddHHmmss");
  return ParsedFileName{std::string(version), *ds, *t};
}

}  // namespace flinkbr::archive
