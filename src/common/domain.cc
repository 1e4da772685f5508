#include "common/domain.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace flinkbr {

namespace {
template <class E, size_t N>
Result<E> parse_enum(std::string_view s, const std::pair<E, std::string_view> (&table)[N],
                     std::string_view field, std::string_view what) {
  for (const auto& [e, name] : table)
    if (name == s) return e;
  std::string allowed;
  for (const auto& [e, name] : table) {
    if (!allowed.empty()) allowed += ", ";
    allowed += name;
  }
  return invalid_argument(std::string(field), "unknown " + std::string(what) + " '" +
                                                  std::string(s) + "'; expected one of " + allowed);
}
template <class E, size_t N>
std::string_view enum_name(E e, const std::pair<E, std::string_view> (&table)[N]) {
  for (const auto& [v, name] : table)
    if (v == e) return name;
  return "?";
}

constexpr std::pair<DataSource, std::string_view> kDataSources[] = {
    {DataSource::kFlink, "Flink"}, {DataSource::kFlinkServiceData, "FlinkServiceData"}};
constexpr std::pair<PathType, std::string_view> kPathTypes[] = {
    {PathType::kLocalDir, "LocalDir"},
    {PathType::kLocalHDFS, "LocalHDFS"},
    {PathType::kRemoteHDFS, "RemoteHDFS"},
    {PathType::kOBS, "OBS"}};
constexpr std::pair<RestoreState, std::string_view> kRestoreStates[] = {
    {RestoreState::kCreated, "Created"},
    {RestoreState::kRunning, "Running"},
    {RestoreState::kSucceeded, "Succeeded"},
    {RestoreState::kFailed, "Failed"}};
constexpr std::pair<BackupStatus, std::string_view> kBackupStatuses[] = {
    {BackupStatus::kRunning, "Running"},
    {BackupStatus::kSucceeded, "Succeeded"},
    {BackupStatus::kFailed, "Failed"},
    {BackupStatus::kRemoved, "Removed"}};
}  // namespace

std::string_view to_string(DataSource d) {
  return enum_name(d, kDataSources);
}
Result<DataSource> parse_data_source(std::string_view s, std::string_view field) {
  return parse_enum(s, kDataSources, field, "data source");
}
std::string_view to_string(PathType p) {
  return enum_name(p, kPathTypes);
}
Result<PathType> parse_path_type(std::string_view s, std::string_view field) {
  return parse_enum(s, kPathTypes, field, "path type");
}
std::string_view to_string(RestoreState s) {
  return enum_name(s, kRestoreStates);
}
Result<RestoreState> parse_restore_state(std::string_view s) {
  return parse_enum(s, kRestoreStates, "state", "restoration state");
}
std::string_view to_string(BackupStatus s) {
  return enum_name(s, kBackupStatuses);
}
Result<BackupStatus> parse_backup_status(std::string_view s) {
  return parse_enum(s, kBackupStatuses, "status", "backup status");
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_compact_time(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

std::string format_iso_time(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {
bool all_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return !s.empty();
}
int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}
Result<int64_t> make_time(int y, int mo, int d, int h, int mi, int s, std::string_view field,
                          std::string_view text) {
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return invalid_argument(std::string(field), "'" + std::string(text) + "' is not a valid time");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<int64_t>(timegm(&tm));
}
}  // namespace

Result<int64_t> parse_compact_time(std::string_view s) {
  if (s.size() != 14 || !all_digits(s))
    return invalid_argument("time", "'" + std::string(s) + "' is not a yyyyMMddHHmmss time");
  return make_time(to_int(s.substr(0, 4)), to_int(s.substr(4, 2)), to_int(s.substr(6, 2)),
                   to_int(s.substr(8, 2)), to_int(s.substr(10, 2)), to_int(s.substr(12, 2)), "time",
                   s);
}

Result<int64_t> parse_iso_time(std::string_view s, std::string_view field) {
  auto bad = [&] {
    return invalid_argument(std::string(field), "'" + std::string(s) +
                                                    "' is not an ISO 8601 time such as "
                                                    "2026-01-31T02:00:00Z");
  };
  // YYYY-MM-DDTHH:MM:SS then Z | +hh:mm | -hh:mm | nothing (UTC)
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':')
    return bad();
  for (size_t i : {0, 5, 8, 11, 14, 17}) {
    size_t len = i == 0 ? 4 : 2;
    if (!all_digits(s.substr(i, len))) return bad();
  }
  auto t = make_time(to_int(s.substr(0, 4)), to_int(s.substr(5, 2)), to_int(s.substr(8, 2)),
                     to_int(s.substr(11, 2)), to_int(s.substr(14, 2)), to_int(s.substr(17, 2)),
                     field, s);
  if (!t) return t;
  std::string_view zone = s.substr(19);
  if (zone.empty() || zone == "Z") return *t;
  if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
      all_digits(zone.substr(1, 2)) && all_digits(zone.substr(4, 2))) {
    int64_t off = to_int(zone.substr(1, 2)) * 3600 + to_int(zone.substr(4, 2)) * 60;
    return zone[0] == '+' ? *t - off : *t + off;
  }
  return bad();
}

}  // namespace flinkbr
