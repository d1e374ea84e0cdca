#include "gridd/api/scope.hpp"

#include <string>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"

namespace gridd::api {

std::optional<GridRef> principal_scope(const Request& r, const service::Catalog& catalog) {
  if (!r.principal.scoped()) return std::nullopt;
  const auto snap = catalog.snapshot();
  const service::GridEntry* e = snap->grid_by_code(r.principal.scope_code);
  if (!e) {
    throw Error(ErrorKind::forbidden, "forbidden",
                "the token's scope grid '" + r.principal.scope_code + "' no longer exists", "authorization");
  }
  return GridRef{e->grid.level, e->grid.id};
}

void restrict_to_scope(std::optional<GridRef>& subtree, const Request& r, const service::Catalog& catalog) {
  const auto scope = principal_scope(r, catalog);
  if (!scope) return;
  if (!subtree) {
    subtree = scope;
    return;
  }
  const auto snap = catalog.snapshot();
  const service::GridEntry* e = snap->grid_by_id(subtree->second);
  for (int depth = 0; e && depth < 16; ++depth) {
    if (e->grid.id == scope->second) return;
    e = e->grid.parent_code.empty() ? nullptr : snap->grid_by_code(e->grid.parent_code);
  }
  throw Error(ErrorKind::forbidden, "forbidden", "the grid is outside the token's scope " + r.principal.scope_code,
              "grid");
}

bool chain_in(const std::optional<GridRef>& scope, const std::array<std::int64_t, 5>& chain) {
  if (!scope) return true;
  const auto level = static_cast<std::size_t>(scope->first);
  return level < chain.size() && chain[level] == scope->second;
}

bool incident_in(const std::optional<GridRef>& scope, const Incident& incident) {
  return chain_in(scope, incident.chain);
}

void require_placed_in_scope(const Request& r, const std::optional<GridRef>& scope,
                             const std::array<std::int64_t, 5>& chain, const std::string& grid_code,
                             const std::string& field) {
  if (chain_in(scope, chain)) return;
  throw Error(ErrorKind::forbidden, "outside_scope",
              "the position lies outside the token's scope " + r.principal.scope_code +
                  (grid_code.empty() ? std::string(" (in no grid)") : " (in grid " + grid_code + ")"),
              field);
}

PersonFilter token_person(const Request& r, const std::string& field) {
  const Principal& who = r.principal;
  if (!who.authenticated || (who.name.empty() && who.phone.empty())) {
    throw_invalid("invalid_" + field, field + "=me needs a token that names its person", field);
  }
  if (!who.phone.empty()) return PersonFilter{{}, who.phone};
  return PersonFilter{who.name, {}};
}

service::IncidentService::Admission intake_admission(const Request& r, const service::Catalog& catalog) {
  const auto scope = principal_scope(r, catalog);
  if (!scope) return {};
  return [scope, &r](const Incident& routed, const std::string& where) {
    require_placed_in_scope(r, scope, routed.chain, routed.grid_code, join_field(where, "position"));
  };
}

Incident require_in_scope(const service::IncidentService& svc, std::int64_t id, const Request& r) {
  Incident i = svc.require(id);
  if (!incident_in(principal_scope(r, svc.catalog()), i)) {
    throw_not_found("incident_not_found", "no incident with id " + std::to_string(id), "id");
  }
  return i;
}

}  // namespace gridd::api
