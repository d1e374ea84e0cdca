#pragma once
/// @file auth.hpp
/// Who is asking and what they may do: roles, permissions and the principal
/// a request runs as. Transport-neutral; the service layer resolves bearer
/// tokens to principals and the API layer checks each route's permission.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gridd/core/incident.hpp"

namespace gridd {

/// The role of an API token.
enum class Role { viewer, dispatcher, planner, admin, worker };

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
/// A worker (a grid worker in the field) reads, reports and handles
/// incidents too, but only within worker_may() (the service checks it).
bool allows(Role role, Permission permission) noexcept;

/// Whom a request runs as.
struct Principal {
  bool authenticated = false;  ///< a valid bearer token was sent
  std::int64_t token_id = 0;
  std::string name;            ///< the token's name: the person or system holding it
  std::string phone;           ///< the person's phone, when the token names one
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
  [[nodiscard]] bool worker() const noexcept { return authenticated && role == Role::worker; }
  /// True for Principal::open() (no tokens in use).
  [[nodiscard]] bool is_open() const noexcept {
    return !authenticated && role == Role::admin && personal_data && scope_code.empty();
  }
};

/// Whether the principal is the person an incident is assigned to: by phone
/// (as the grid's people write it) when the principal's token names one,
/// else by name. A
/// worker responsible for several grids is their assignee in each.
bool is_assignee(const Principal& p, std::string_view assignee_name, std::string_view assignee_phone) noexcept;

/// The workflow steps a worker takes on incidents assigned to them: the
/// handler's (accept, resolve, return). Everything else is the dispatch
/// centre's.
bool worker_may(IncidentAction action) noexcept;

}  // namespace gridd
