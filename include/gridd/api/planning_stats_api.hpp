#pragma once
/// @file planning_stats_api.hpp
/// The planners' statistics: GET /coverage (who is beyond walking distance
/// of every station of a kind, per grid, as JSON or as a GeoJSON
/// FeatureCollection of the uncovered parts) and GET /workload (open and
/// overdue incidents, incidents per 1,000 households, per grid and per grid
/// worker, with split and merge candidates).

#include <cstddef>

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"
#include "gridd/service/coverage.hpp"
#include "gridd/service/incidents.hpp"

namespace gridd::api {

struct PlanningStatsOptions {
  service::CoverageOptions coverage;
  std::size_t max_limit = 100000;  ///< largest `limit` of /workload
  int geometry_decimals = 7;       ///< GeoJSON coordinates: 1e-7 degree is about 1 cm
};

/// Add GET /coverage (always) and GET /workload (with an incident service)
/// to `router`. Without a road network, mode=network answers 409
/// network_not_loaded.
void add_planning_stats_routes(Router& router, const ApiContext& context, PlanningStatsOptions options = {});

}  // namespace gridd::api
