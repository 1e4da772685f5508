// The JSON of the REST API (docs/openapi.yaml is the contract): how store and engine types are
// shown, how errors are shown, and the checks every request goes through before the engine sees
// it. The engine validates meaning (names, enums, paths); this layer validates shape: the body
// is a JSON object, every field is known and of the declared type, every string is valid UTF-8,
// free of control characters and at most 4096 bytes.
//
// Times are ISO 8601 UTC strings ("2026-11-25T04:37:12Z"); 0 ("never", "not yet") is null.
// Used only by server/api.cc. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "service/service_controller.h"
#include "store/model.h"
#include "store/store.h"
#include "task/engine.h"

namespace flinkbr::server {

using nlohmann::json;

// Longest string accepted in a request body, in bytes.
inline constexpr size_t kMaxStringBytes = 4096;
// Longest {name} accepted in a URL path, in bytes.
inline constexpr size_t kMaxPathParamBytes = 255;

// ---- Responses --------------------------------------------------------------------------------

// Serializes for the wire: one line, invalid UTF-8 (which can only come from outside data such
// as a file name in an error message) replaced by U+FFFD instead of throwing.
std::string dump(const json& j);

// {"error": {"code": "<errc_name>", "message": "...", "field": "..."(when set)}}
json error_json(const Error& e);

// ISO 8601 UTC, or null for 0.
json time_json(int64_t epoch_seconds);

// {"name","role","created_at"}; never the password hash.
json user_json(const store::User& u);
json backup_task_json(const store::BackupTask& t);
json backup_record_json(const store::BackupRecord& r);
// "error" is present only when the task is Failed.
json restore_task_json(const store::RestoreTask& t);
json step_json(const store::Step& s);
json attempt_json(const store::RestoreAttempt& a);
json log_line_json(const store::LogLine& l);
// The task JSON plus "attempt_history" (oldest first) and "log" (of the latest attempt).
json restore_view_json(const task::RestoreView& v);
json audit_json(const store::AuditEntry& e);
json source_json(const archive::SourceDescriptor& s);
json service_status_json(const service::ServiceStatus& s);
// {"cluster","state","detail"}
json cluster_service_json(const std::string& cluster, const service::ServiceStatus& s);
json cluster_json(const task::ClusterView& c);
json verify_json(const task::VerifyResult& v);

// ---- Requests ---------------------------------------------------------------------------------

enum class FieldType { kString, kInteger, kBoolean };
struct FieldRule {
  std::string_view name;
  FieldType type = FieldType::kString;
};

// Parses a request body and checks its shape. The body must be a JSON object whose keys are all
// listed in `rules`, each of the declared type; null counts as absent and is removed. An empty
// body (only whitespace) is {} when `allow_empty` (endpoints whose body is optional), an error
// otherwise. Integers must fit an int. Every kInvalidArgument names the field ("body" when the
// body as a whole is wrong).
[[nodiscard]] Result<json> parse_request(std::string_view body, std::span<const FieldRule> rules,
                                         bool allow_empty = false);

// The shape rules of the request bodies of api.cc, here so that fuzz/fuzz_rest_request.cc checks
// the very rules the handlers use.
inline constexpr FieldRule kLoginFields[] = {
    {"user"}, {"password"}, {"cookie", FieldType::kBoolean}};
inline constexpr FieldRule kUserFields[] = {{"name"}, {"role"}, {"password"}};
inline constexpr FieldRule kRoleFields[] = {{"role"}};
inline constexpr FieldRule kPasswordFields[] = {{"password"}};
inline constexpr FieldRule kMyPasswordFields[] = {{"current_password"}, {"new_password"}};
inline constexpr FieldRule kBackupTaskFields[] = {{"name"},
                                                  {"cluster"},
                                                  {"data_source"},
                                                  {"path_type"},
                                                  {"path"},
                                                  {"nameservice"},
                                                  {"namenode_ip"},
                                                  {"max_copies", FieldType::kInteger},
                                                  {"period"},
                                                  {"start_time"},
                                                  {"verify", FieldType::kBoolean}};
inline constexpr FieldRule kRestoreTaskFields[] = {
    {"name"},        {"cluster"},
    {"data_source"}, {"path_type"},
    {"source_path"}, {"nameservice"},
    {"ip_mode"},     {"namenode_ip"},
    {"queue"},       {"from_record", FieldType::kInteger},
    {"from_backup"}};
inline constexpr FieldRule kFileFields[] = {{"cluster"},     {"path_type"}, {"source_path"},
                                            {"nameservice"}, {"ip_mode"},   {"namenode_ip"}};
inline constexpr FieldRule kStartFields[] = {{"dry_run", FieldType::kBoolean},
                                             {"allow_dangling", FieldType::kBoolean}};
inline constexpr FieldRule kRetryFields[] = {{"allow_dangling", FieldType::kBoolean}};

// A string given by a client: valid UTF-8, no control character (< 0x20 or 0x7f), at most
// `max_bytes`. kInvalidArgument naming `field` otherwise.
[[nodiscard]] Status check_text(std::string_view value, std::string_view field,
                                size_t max_bytes = kMaxStringBytes);
// A {name} from the URL path: non-empty and as check_text with kMaxPathParamBytes.
[[nodiscard]] Status check_path_param(std::string_view value, std::string_view field = "name");
bool is_valid_utf8(std::string_view s);

// The value of a string field of a checked request, "" when absent.
std::string string_field(const json& body, std::string_view name);
// The value of an integer field of a checked request, `fallback` when absent.
int int_field(const json& body, std::string_view name, int fallback = 0);
bool bool_field(const json& body, std::string_view name, bool fallback = false);

// ?limit= (1..1000, default 100) and ?offset= (>= 0, default 0); kInvalidArgument naming the
// parameter when it is not such a decimal number.
[[nodiscard]] Result<store::Page> parse_page(std::optional<std::string_view> limit,
                                             std::optional<std::string_view> offset);

// A printable, bounded copy of text from a client for logs and the audit trail: control
// characters and invalid UTF-8 become '?', at most `max_bytes` (then "...").
std::string sanitize_for_log(std::string_view s, size_t max_bytes = 64);

}  // namespace flinkbr::server
