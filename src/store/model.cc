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

}  // namespace flinkbr::store
