// libFuzzer target: what the REST API does with a request before the engine sees it
// (server/json.h, task/validate.h): the shape check of each endpoint's JSON body with the very
// rule tables the handlers use, the ?limit=&offset= parameters, {name} path parameters, and the
// field validators the engine applies to the strings of a request.
//
// The first byte picks what the rest of the input is:
//   0-6  a request body for login, users, backup tasks, restore tasks, file checks, start, retry
//   7    a query string "limit=..&offset=.." (either may be absent)
//   8+   one value, given to check_path_param and every field validator
//
// Invariants: every refusal is kInvalidArgument naming a field (non-empty; for a body, "body"
// or a field of the endpoint or the unknown key), every accepted body holds only the endpoint's
// fields with their declared types and texts that pass check_text; accepted pages are in range;
// sanitize_for_log gives printable UTF-8 of bounded length.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "server/json.h"
#include "storage/hdfs/remote.h"
#include "task/validate.h"

using flinkbr::fuzz::as_text;
using flinkbr::fuzz::check;
namespace server = flinkbr::server;

namespace {

struct Endpoint {
  std::span<const server::FieldRule> rules;
  bool allow_empty = false;
};
const Endpoint kEndpoints[] = {
    {server::kLoginFields},       {server::kUserFields}, {server::kBackupTaskFields},
    {server::kRestoreTaskFields}, {server::kFileFields}, {server::kStartFields, true},
    {server::kRetryFields, true}, {server::kRoleFields}, {server::kPasswordFields},
    {server::kMyPasswordFields},
};

void check_invalid(const flinkbr::Status& st, std::string_view field) {
  if (st) return;
  check(st.error().code == flinkbr::Errc::kInvalidArgument, "a refusal is kInvalidArgument");
  check(st.error().field == field, "a refusal names the field it checked");
  check(!st.error().message.empty(), "a refusal has a message");
}

void body(const Endpoint& ep, std::string_view text) {
  auto parsed = server::parse_request(text, ep.rules, ep.allow_empty);
  if (!parsed) {
    const auto& e = parsed.error();
    check(e.code == flinkbr::Errc::kInvalidArgument, "a refused body is kInvalidArgument");
    check(!e.field.empty(), "a refused body names a field");
    return;
  }
  check(parsed->is_object(), "an accepted body is an object");
  for (auto it = parsed->begin(); it != parsed->end(); ++it) {
    const server::FieldRule* rule = nullptr;
    for (const auto& r : ep.rules)
      if (r.name == it.key()) rule = &r;
    check(rule != nullptr, "only the endpoint's fields are accepted");
    switch (rule->type) {
      case server::FieldType::kString:
        check(it->is_string(), "string fields are strings");
        check(server::check_text(it->get_ref<const std::string&>(), rule->name).has_value(),
              "accepted strings pass check_text");
        (void)server::string_field(*parsed, rule->name);
        break;
      case server::FieldType::kInteger:
        check(it->is_number_integer(), "integer fields are integers");
        (void)server::int_field(*parsed, rule->name);
        break;
      case server::FieldType::kBoolean:
        check(it->is_boolean(), "boolean fields are booleans");
        (void)server::bool_field(*parsed, rule->name);
        break;
    }
  }
}

void query(std::string_view q) {
  std::optional<std::string_view> limit, offset;
  size_t amp = q.find('&');
  std::string_view first = q.substr(0, amp);
  std::string_view second = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
  for (std::string_view part : {first, second}) {
    if (part.starts_with("limit=")) limit = part.substr(6);
    if (part.starts_with("offset=")) offset = part.substr(7);
  }
  auto page = server::parse_page(limit, offset);
  if (!page) {
    const auto& e = page.error();
    check(e.code == flinkbr::Errc::kInvalidArgument, "a refused page is kInvalidArgument");
    check(e.field == "limit" || e.field == "offset", "a refused page names its parameter");
    return;
  }
  check(page->limit >= 1 && page->limit <= 1000, "limit in 1..1000");
  check(page->offset >= 0, "offset >= 0");
}

void value(std::string_view v) {
  check_invalid(server::check_path_param(v, "name"), "name");
  check_invalid(server::check_text(v, "text"), "text");
  check_invalid(flinkbr::task::validate_name("name", v), "name");
  check_invalid(flinkbr::task::validate_absolute_path("source_path", v), "source_path");
  check_invalid(flinkbr::task::validate_object_path("path", v), "path");
  check_invalid(flinkbr::task::validate_backup_file_path("from_backup", v), "from_backup");
  check_invalid(flinkbr::task::validate_text("detail", v), "detail");
  auto period = flinkbr::task::parse_period("period", v);
  if (period)
    check(*period >= 1, "a period is at least a second");
  else
    check_invalid(flinkbr::Status(std::unexpected(period.error())), "period");
  auto nn = flinkbr::storage::hdfs::parse_namenode_address(std::string(v), "auto", 9870);
  if (nn) {
    check(nn->port > 0 && nn->port <= 65535, "NameNode ports are 1..65535");
  } else {
    check(nn.error().field == "namenode_ip", "a bad address names namenode_ip");
  }
  std::string shown = server::sanitize_for_log(v, 64);
  check(server::is_valid_utf8(shown), "logged text is valid UTF-8");
  check(shown.size() <= 64 + 3, "logged text is bounded");
  for (unsigned char c : shown)
    check(c >= 0x20 && c != 0x7f, "logged text has no control character");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  std::string_view rest = as_text(bytes + 1, size - 1);
  const size_t n = std::size(kEndpoints);
  if (bytes[0] < n)
    body(kEndpoints[bytes[0]], rest);
  else if (bytes[0] == n)
    query(rest);
  else
    value(rest);
  return 0;
}
