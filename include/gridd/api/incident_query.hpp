#pragma once
/// @file incident_query.hpp
/// The one parser of the incident filters. GET /incidents, GET
/// /incidents/stats, the live feed and the OGC API items of the incidents
/// collection read them here: the same parameters, the same validation and
/// the same errors everywhere.

#include <optional>
#include <string>
#include <vector>

#include "gridd/api/params.hpp"
#include "gridd/api/scope.hpp"
#include "gridd/api/types.hpp"
#include "gridd/service/incidents.hpp"

namespace gridd::api {

/// The names of the filter parameters incident_filter_of() reads.
const std::vector<std::string>& incident_filter_params();

/// The incident filter of a request, narrowed to the principal's scope:
///   bbox                        (read as `bbox` says; see param_bbox())
///   grid=<id or code>           the grid's subtree
///   status=<status>|open,...    `open`: every status not closed or rejected
///   category=<code>,...         known categories only
///   colour=<colour>,...         (or color=) the deadline colour
///   channel=<name>,...
///   assignee=<name>
///   covered=true|false|1|0      inside a grid, or flagged
///   from=<time>, to=<time>      created in [from, to); without an offset, in the service's time zone
/// @throws Error(invalid_input | not_found | forbidden) naming the parameter
storage::IncidentFilter incident_filter_of(const Request& r, const service::IncidentService& incidents,
                                           const BboxOptions& bbox = {});

/// grid=<id or code> narrowed to the principal's scope; nullopt: everything.
/// @throws Error(not_found | forbidden)
std::optional<GridRef> incident_subtree_of(const Request& r, const service::IncidentService& incidents);

/// category=<code>,... (every one known). @throws Error(invalid_input, "unknown_category")
std::vector<std::string> incident_categories_of(const Request& r, const service::IncidentService& incidents);

}  // namespace gridd::api
