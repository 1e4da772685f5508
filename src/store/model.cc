#include "store/model.h"

#include <utility>

namespace flinkbr::store {

namespace {
constexpr std::pair<Role, std::string_view> kRoles[] = {{Role::kViewer, "viewer"},
                                                        {Role::kOperator, "operator"},
                                                        {Role::kAdministrator, "administrator"}};
}  // namespace

std::string_view to_string(Role r) {
  for (const auto& [role, name] : kRoles)
    if (role == r) return name;
  return "?";
}

Result<Role> parse_role(std::string_view s, std::string_view field) {
  for (const auto& [role, name] : kRoles)
    if (name == s) return role;
  return invalid_argument(
      std::string(field),
      "unknown role '" + std::string(s) + "'; expected one of viewer, operator, administrator");
}

namespace {
constexpr std::pair<AttemptPhase, std::string_view> kPhases[] = {
    {AttemptPhase::kChecking, "checking"},
    {AttemptPhase::kApplying, "applying"},
    {AttemptPhase::kRolledBack, "rolled-back"},
    {AttemptPhase::kDamaged, "damaged"},
    {AttemptPhase::kDone, "done"}};
}  // namespace

std::string_view to_string(AttemptPhase p) {
  for (const auto& [phase, name] : kPhases)
    if (phase == p) return name;
  return "?";
}

Result<AttemptPhase> parse_attempt_phase(std::string_view s, std::string_view field) {
  for (const auto& [phase, name] : kPhases)
    if (name == s) return phase;
  return invalid_argument(std::string(field),
                          "unknown phase '" + std::string(s) +
                              "'; expected one of checking, applying, rolled-back, damaged, done");
}

namespace {
constexpr std::pair<CommandState, std::string_view> kCommandStates[] = {
    {CommandState::kPending, "pending"},
    {CommandState::kClaimed, "claimed"},
    {CommandState::kDone, "done"},
    {CommandState::kExpired, "expired"}};
}  // namespace

std::string_view to_string(CommandState s) {
  for (const auto& [state, name] : kCommandStates)
    if (state == s) return name;
  return "?";
}

Result<CommandState> parse_command_state(std::string_view s, std::string_view field) {
  for (const auto& [state, name] : kCommandStates)
    if (name == s) return state;
  return invalid_argument(std::string(field),
                          "unknown command state '" + std::string(s) +
                              "'; expected one of pending, claimed, done, expired");
}

nlohmann::json to_json(const ProgressDetail& p) {
  return {{"step", p.step},
          {"bytes_done", p.bytes_done},
          {"bytes_total", p.bytes_total},
          {"bytes_per_second", p.bytes_per_second}};
}

std::string progress_detail_text(const ProgressDetail& p) {
  return to_json(p).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<ProgressDetail> parse_progress_detail(std::string_view text) {
  ProgressDetail p;
  if (text.empty()) return p;
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto count = [&](const char* key) -> Result<uint64_t> {
    auto it = j.find(key);
    if (it == j.end()) return uint64_t{0};
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0))
      return invalid_argument("progress_detail", std::string(key) + " is not a byte count");
    return it->get<uint64_t>();
  };
  if (j.is_discarded() || !j.is_object())
    return invalid_argument("progress_detail", "progress_detail is not a JSON object");
  if (auto it = j.find("step"); it != j.end()) {
    if (!it->is_string()) return invalid_argument("progress_detail", "step is not a string");
    p.step = it->get<std::string>();
  }
  p.bytes_done = TRY(count("bytes_done"));
  p.bytes_total = TRY(count("bytes_total"));
  p.bytes_per_second = TRY(count("bytes_per_second"));
  return p;
}

}  // namespace flinkbr::store
