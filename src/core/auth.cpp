#include "gridd/core/auth.hpp"

#include <array>

#include "enum_names.hpp"
#include "gridd/core/error.hpp"

namespace gridd {

namespace {
constexpr std::array<std::string_view, 5> k_roles{"viewer", "dispatcher", "planner", "admin", "worker"};
constexpr std::array<std::string_view, 5> k_permissions{"read", "report_incidents", "handle_incidents", "edit_grids",
                                                        "admin"};
}  // namespace

std::string_view to_string(Role role) noexcept { return k_roles[static_cast<std::size_t>(role)]; }
std::string_view to_string(Permission p) noexcept { return k_permissions[static_cast<std::size_t>(p)]; }

std::optional<Role> try_parse_role(std::string_view text) noexcept { return detail::lookup<Role>(k_roles, text); }

Role parse_role(std::string_view text, std::string_view field) {
  if (auto r = try_parse_role(text)) return *r;
  throw_invalid("invalid_role", "unknown role '" + std::string(text) + "' (expected " + detail::expected_list(k_roles) + ")",
                std::string(field));
}

bool allows(Role role, Permission p) noexcept {
  switch (role) {
    case Role::admin: return true;
    case Role::viewer: return p == Permission::read;
    case Role::dispatcher:
    case Role::worker:
      return p == Permission::read || p == Permission::report_incidents || p == Permission::handle_incidents;
    case Role::planner: return p == Permission::read || p == Permission::edit_grids;
  }
  return false;
}

bool is_assignee(const Principal& p, std::string_view assignee_name, std::string_view assignee_phone) noexcept {
  if (!p.authenticated) return false;
  if (!p.phone.empty()) return p.phone == assignee_phone;
  return !p.name.empty() && p.name == assignee_name;
}

bool worker_may(IncidentAction action) noexcept {
  return action == IncidentAction::accept || action == IncidentAction::resolve || action == IncidentAction::return_;
}

}  // namespace gridd
