#include "server/json.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <optional>
#include <set>
#include <vector>

namespace flinkbr::server {

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json error_json(const Error& e) {
  json err = {{"code", errc_name(e.code)}, {"message", e.message}};
  if (!e.field.empty()) err["field"] = e.field;
  return {{"error", std::move(err)}};
}

json time_json(int64_t t) {
  return t == 0 ? json(nullptr) : json(format_iso_time(t));
}

json user_json(const store::User& u) {
  return {{"name", u.name},
          {"role", store::to_string(u.role)},
          {"created_at", time_json(u.created_at)}};
}

json backup_task_json(const store::BackupTask& t) {
  const bool periodic = t.period_seconds > 0;
  return {
      {"name", t.name},
      {"cluster", t.cluster},
      {"data_source", to_string(t.data_source)},
      {"path_type", to_string(t.params.path_type)},
      {"path", t.params.path},
      {"nameservice", t.params.nameservice},
      {"namenode_ip", t.params.namenode_ip},
      {"max_copies", t.max_copies},
      {"verify", t.verify_after_run},
      {"mode", periodic ? "periodic" : "manual"},
      {"period_seconds", t.period_seconds},
      {"start_time", periodic ? time_json(t.start_time) : json(nullptr)},
      {"next_run", periodic ? time_json(t.next_run) : json(nullptr)},
      {"suspended", t.suspended},
      {"created_at", time_json(t.created_at)},
  };
}

json backup_record_json(const store::BackupRecord& r) {
  return {
      {"id", r.id},
      {"task", r.task_name},
      {"status", to_string(r.status)},
      {"started_at", time_json(r.started_at)},
      {"ended_at", time_json(r.ended_at)},
      {"size", r.size},
      {"checksum", r.checksum},
      {"backup_object", r.backup_object},
      {"backup_path", r.backup_path},
      {"system_version", r.system_version},
      {"error", r.error},
      {"progress", std::clamp(r.progress, 0, 100)},
      // null until the run has succeeded (and for records written before flinkbr checked it).
      {"consistency", r.consistency},
      // Where the run stands in bytes: {"step", "bytes_done", "bytes_total", "bytes_per_second"}.
      {"progress_detail", store::to_json(r.progress_detail)},
  };
}

json restore_task_json(const store::RestoreTask& t) {
  json j = {
      {"name", t.name},
      {"cluster", t.cluster},
      {"data_source", to_string(t.data_source)},
      {"path_type", to_string(t.params.path_type)},
      {"source_path", t.params.path},
      {"nameservice", t.params.nameservice},
      {"ip_mode", t.params.ip_mode},
      {"namenode_ip", t.params.namenode_ip},
      {"queue", t.params.queue},
      {"state", to_string(t.state)},
      {"progress", std::clamp(t.progress, 0, 100)},
      {"attempts", t.attempts},
      {"created_at", time_json(t.created_at)},
      {"updated_at", time_json(t.updated_at)},
  };
  if (t.state == RestoreState::kFailed) j["error"] = t.error;
  return j;
}

json step_json(const store::Step& s) {
  return {{"name", s.name},
          {"status", s.status},
          {"started_at", time_json(s.started_at)},
          {"ended_at", time_json(s.ended_at)},
          {"detail", s.detail}};
}

json attempt_json(const store::RestoreAttempt& a) {
  json steps = json::array();
  for (const auto& s : a.steps) steps.push_back(step_json(s));
  return {
      {"number", a.number},
      {"state", to_string(a.state)},
      {"progress", std::clamp(a.progress, 0, 100)},
      {"phase", to_string(a.phase)},
      {"progress_detail", store::to_json(a.progress_detail)},
      {"error", a.error},
      {"safety_copy", a.safety_copy},
      {"steps", std::move(steps)},
      {"report", a.report.is_null() ? json::object() : a.report},
      {"started_at", time_json(a.started_at)},
      {"ended_at", time_json(a.ended_at)},
  };
}

json log_line_json(const store::LogLine& l) {
  return {{"at", time_json(l.at)}, {"level", l.level}, {"text", l.text}};
}

json restore_view_json(const task::RestoreView& v) {
  json j = restore_task_json(v.task);
  json attempts = json::array();
  for (const auto& a : v.attempts) attempts.push_back(attempt_json(a));
  json log = json::array();
  for (const auto& l : v.log) log.push_back(log_line_json(l));
  // The task's own progress_detail is its latest attempt's (what a progress bar shows).
  j["progress_detail"] = store::to_json(v.attempts.empty() ? store::ProgressDetail{}
                                                           : v.attempts.back().progress_detail);
  j["attempt_history"] = std::move(attempts);
  j["log"] = std::move(log);
  return j;
}

json audit_json(const store::AuditEntry& e) {
  return {{"id", e.id},         {"at", time_json(e.at)}, {"user", e.user},    {"action", e.action},
          {"target", e.target}, {"outcome", e.outcome},  {"detail", e.detail}};
}

json source_json(const archive::SourceDescriptor& s) {
  return {{"name", s.name}, {"kind", s.kind}, {"location", s.location}};
}

json service_status_json(const service::ServiceStatus& s) {
  return {{"state", service::to_string(s.state)}, {"detail", s.detail}};
}

json cluster_service_json(const std::string& cluster, const service::ServiceStatus& s) {
  return {{"cluster", cluster}, {"state", service::to_string(s.state)}, {"detail", s.detail}};
}

json cluster_json(const task::ClusterView& c) {
  json metadata = json::array();
  for (const auto& s : c.metadata) metadata.push_back(source_json(s));
  json service_data = json::array();
  for (const auto& s : c.service_data) service_data.push_back(source_json(s));
  json j = {
      {"name", c.name},
      {"version", c.version},
      {"metadata", std::move(metadata)},
      {"service_data", std::move(service_data)},
      {"service", service_status_json(c.service)},
      {"restore_running", c.restore_running.empty() ? json(nullptr) : json(c.restore_running)},
  };
  if (!c.version_error.empty()) j["version_error"] = c.version_error;
  return j;
}

json verify_json(const task::VerifyResult& v) {
  json sources = json::array();
  for (const auto& s : v.sources)
    sources.push_back(
        {{"name", s.name}, {"kind", s.kind}, {"entries", s.entries}, {"bytes", s.bytes}});
  return {
      {"path", v.path},
      {"file_size", v.file_size},
      {"checksum", v.checksum},
      {"system_version", v.header.system_version},
      {"data_source", v.header.data_source},
      {"cluster", v.header.cluster},
      {"execution_time", v.header.execution_time},
      {"sources", std::move(sources)},
  };
}

// ---- Requests ---------------------------------------------------------------------------------

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong 2-byte lead (C0, C1) or beyond U+10FFFF
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;  // overlong, out of range, or a UTF-16 surrogate
    i += len;
  }
  return true;
}

Status check_text(std::string_view value, std::string_view field, size_t max_bytes) {
  const std::string f(field);
  if (value.size() > max_bytes)
    return invalid_argument(f, f + ": too long (at most " + std::to_string(max_bytes) + " bytes)");
  if (!is_valid_utf8(value)) return invalid_argument(f, f + ": not valid UTF-8");
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return invalid_argument(f, f + ": contains control characters");
  }
  return ok();
}

Status check_path_param(std::string_view value, std::string_view field) {
  if (value.empty()) return invalid_argument(std::string(field), std::string(field) + ": empty");
  return check_text(value, field, kMaxPathParamBytes);
}

namespace {
std::string_view type_name(FieldType t) {
  switch (t) {
    case FieldType::kString:
      return "a string";
    case FieldType::kInteger:
      return "an integer";
    case FieldType::kBoolean:
      return "a boolean";
  }
  return "?";
}
}  // namespace

Result<json> parse_request(std::string_view body, std::span<const FieldRule> rules,
                           bool allow_empty) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    if (allow_empty) return json::object();
    return invalid_argument("body", "the request body must be a JSON object");
  }
  // Checked before parsing so that the message says what is wrong; nlohmann would refuse it too.
  if (!is_valid_utf8(body)) return invalid_argument("body", "the request body is not valid UTF-8");
  // A key given twice is refused: nlohmann keeps the last value, another reader the first, so a
  // proxy or audit that checks one copy could be shown another than the one acted on.
  std::vector<std::set<std::string>> keys;  // of each object open at this point of the parse
  std::optional<std::string> twice;
  json::parser_callback_t see = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    if (event == json::parse_event_t::key && !keys.empty() && parsed.is_string() && !twice &&
        !keys.back().insert(parsed.get<std::string>()).second)
      twice = parsed.get<std::string>();
    return true;
  };
  json j = json::parse(body, see, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument("body", "the request body is not valid JSON");
  if (!j.is_object()) return invalid_argument("body", "the request body must be a JSON object");
  if (twice) {
    const std::string shown = sanitize_for_log(*twice, 64);
    return invalid_argument(shown.empty() ? "body" : shown,
                            "the request body has the key '" + shown + "' more than once");
  }

  json out = json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const FieldRule* rule = nullptr;
    for (const auto& r : rules)
      if (r.name == key) rule = &r;
    if (!rule) {
      // The name itself comes from the client: bound it before echoing it back.
      const std::string shown = sanitize_for_log(key, 64);
      // An empty key has no name to give the client: the body as a whole is at fault (found by
      // fuzz/fuzz_rest_request.cc: every refusal names a field).
      return invalid_argument(shown.empty() ? "body" : shown, "unknown field '" + shown + "'");
    }
    const json& v = it.value();
    if (v.is_null()) continue;
    const std::string field(rule->name);
    bool type_ok = false;
    switch (rule->type) {
      case FieldType::kString:
        type_ok = v.is_string();
        break;
      case FieldType::kInteger:
        type_ok = v.is_number_integer();
        break;
      case FieldType::kBoolean:
        type_ok = v.is_boolean();
        break;
    }
    if (!type_ok)
      return invalid_argument(field, field + ": expected " + std::string(type_name(rule->type)));
    if (rule->type == FieldType::kString) {
      if (auto st = check_text(v.get_ref<const std::string&>(), field); !st)
        return std::unexpected(st.error());
    }
    if (rule->type == FieldType::kInteger) {
      const bool fits = v.is_number_unsigned()
                            ? v.get<uint64_t>() <= static_cast<uint64_t>(INT_MAX)
                            : v.get<int64_t>() >= INT_MIN && v.get<int64_t>() <= INT_MAX;
      if (!fits) return invalid_argument(field, field + ": out of range");
    }
    out[key] = v;
  }
  return out;
}

std::string string_field(const json& body, std::string_view name) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

int int_field(const json& body, std::string_view name, int fallback) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_number_integer()) return fallback;
  return it->get<int>();
}

bool bool_field(const json& body, std::string_view name, bool fallback) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_boolean()) return fallback;
  return it->get<bool>();
}

namespace {
Result<int64_t> parse_decimal(std::string_view s, std::string_view field, int64_t min,
                              int64_t max) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  const std::string f(field);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    return invalid_argument(f, f + ": expected a decimal integer");
  if (v < min || v > max)
    return invalid_argument(
        f, f + ": must be between " + std::to_string(min) + " and " + std::to_string(max));
  return v;
}
}  // namespace

Result<store::Page> parse_page(std::optional<std::string_view> limit,
                               std::optional<std::string_view> offset) {
  store::Page page;
  if (limit) page.limit = static_cast<int>(TRY(parse_decimal(*limit, "limit", 1, 1000)));
  if (offset) page.offset = TRY(parse_decimal(*offset, "offset", 0, INT64_MAX));
  return page;
}

std::string sanitize_for_log(std::string_view s, size_t max_bytes) {
  std::string out;
  const bool utf8 = is_valid_utf8(s);
  for (char ch : s) {
    if (out.size() >= max_bytes) {
      // Do not cut a UTF-8 sequence in half.
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80)
        out.pop_back();
      if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
      out += "...";
      return out;
    }
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80))
      out += '?';
    else
      out += ch;
  }
  return out;
}

}  // namespace flinkbr::server
