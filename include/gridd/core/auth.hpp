#pragma once
/// @file auth.hpp
/// Who is asking and what they may do: roles, permissions and the principal
/// a request runs as. Transport-neutral; the service layer resolves bearer
/// tokens to principals and the API layer checks each route's permission.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gridd {

/// The role of an API token.
enum class Role { viewer, dispatcher, planner, admin };

/// What a route needs.
enum class Permission {
  read,              ///< every GET
  report_incidents,  ///< POST /incidents, Open311 service requests
  handle_incidents,  ///< workflow transitions, attachments
  edit_grids,        ///< grids and stations, incl. the planning operations
  admin              ///< tokens, the audit log
};

std::string_view to_string(Role role) noexcept;
std::string_view to_string(Permission permission) noexcept;
/// @throws Error(invalid_input) for an unknown role.
Role parse_role(std::string_view text, std::string_view field = "role");
std::optional<Role> try_parse_role(std::string_view text) noexcept;

/// The role matrix: viewer reads; dispatcher reads, reports and handles
/// incidents; planner reads and edits grids and stations; admin everything.
bool allows(Role role, Permission permission) noexcept;

/// Whom a request runs as.
struct Principal {
  bool authenticated = false;  ///< a valid bearer token was sent
  std::int64_t token_id = 0;
  std::string name;            ///< the token's name (for the audit log)
  Role role = Role::admin;
  /// Code of the grid whose subtree the principal is limited to; empty: the
  /// whole city.
  std::string scope_code;
  /// Whether personal data (reporters' and workers' phones, reporter names)
  /// may be shown; false for anonymous readers once tokens are in use.
  bool personal_data = true;
  /// When anonymous, the extra permission anonymous callers have (report
  /// incidents with `--anonymous report`); read otherwise.
  std::optional<Permission> anonymous_extra;

  /// The principal of a server without tokens: anyone may do anything.
  static Principal open() { return {}; }
  [[nodiscard]] bool may(Permission p) const noexcept {
    if (authenticated) return allows(role, p);
    return allows(role, p) || (anonymous_extra && *anonymous_extra == p);
  }
  [[nodiscard]] bool scoped() const noexcept { return !scope_code.empty(); }
  /// True for Principal::open() (no tokens in use).
  [[nodiscard]] bool is_open() const noexcept {
    return !authenticated && role == Role::admin && personal_data && scope_code.empty();
  }
};

}  // namespace gridd
