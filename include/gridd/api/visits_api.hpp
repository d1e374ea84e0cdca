#pragma once
/// @file visits_api.hpp
/// Door-to-door visits: POST /visits (a worker's token, or any token that
/// names its person; inside its scope), GET /visits (per grid, per worker,
/// in time and space; newest first with `before` paging) and GET
/// /visits/weekly (visits per worker and week).

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"

namespace gridd::api {

void add_visit_routes(Router& router, const ApiContext& context);

}  // namespace gridd::api
