#pragma once
/// @file scope.hpp
/// Scope of a token limited to a subtree of the grid hierarchy: it sees and
/// acts on the incidents assigned inside that subtree only. Every endpoint
/// that lists or shows incidents (the incident API, Open311, OGC API -
/// Features, attachments, vector tiles, the feed) narrows through these
/// functions: listings are narrowed to the subtree (asking for a grid outside
/// it is 403); a single incident outside it answers 404, as if it did not
/// exist.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "gridd/api/types.hpp"
#include "gridd/core/incident.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/incidents.hpp"

namespace gridd::api {

/// A grid of the hierarchy as incidents store it: (level, id).
using GridRef = std::pair<Level, std::int64_t>;

/// The scope grid of the request's principal; nullopt when unscoped.
/// @throws Error(forbidden) when the scope grid no longer exists.
std::optional<GridRef> principal_scope(const Request& request, const service::Catalog& catalog);

/// Narrow a subtree filter (nullopt: everything) to the principal's scope.
/// @throws Error(forbidden) when `subtree` lies outside the scope.
void restrict_to_scope(std::optional<GridRef>& subtree, const Request& request, const service::Catalog& catalog);

/// Whether a chain of grid ids by level (an incident's, a visit's) lies
/// inside `scope` (always true without one).
bool chain_in(const std::optional<GridRef>& scope, const std::array<std::int64_t, 5>& chain);
/// Whether `incident` was assigned inside `scope` (always true without one).
bool incident_in(const std::optional<GridRef>& scope, const Incident& incident);

/// Refuse what is placed at `chain` (in grid `grid_code`) outside the
/// request's scope. @throws Error(forbidden, "outside_scope") naming `field`.
void require_placed_in_scope(const Request& request, const std::optional<GridRef>& scope,
                             const std::array<std::int64_t, 5>& chain, const std::string& grid_code,
                             const std::string& field);

/// The person the request's token names, as a filter of incidents'
/// assignees or of visits' workers (`assignee=me`, `worker=me`): by phone
/// when the token has one, else by name (is_assignee's rule); the other
/// member is empty.
struct PersonFilter {
  std::string name;
  std::string phone;
};
/// @throws Error(invalid_input, "invalid_<field>") naming `field` without such a token.
PersonFilter token_person(const Request& request, const std::string& field);

/// What a request may report: incidents routed inside the principal's scope
/// (no check when unscoped). @throws Error(forbidden, "outside_scope")
/// naming the input's position.
service::IncidentService::Admission intake_admission(const Request& request, const service::Catalog& catalog);

/// The incident `id`, or Error(not_found) when it does not exist or lies
/// outside the principal's scope.
Incident require_in_scope(const service::IncidentService& incidents, std::int64_t id, const Request& request);

}  // namespace gridd::api
