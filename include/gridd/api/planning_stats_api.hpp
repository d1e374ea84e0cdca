#pragma once
/// @file planning_stats_api.hpp
/// The planners' statistics: GET /coverage (who is beyond walking distance
/// of every station of a kind, per grid, as JSON or as a GeoJSON
/// FeatureCollection of the uncovered parts) and GET /workload (open and
/// overdue incidents, incidents per 1,000 households, per grid and per grid
/// worker, with split and merge candidates).

#include <cstddef>

#include "gridd/api/router.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/coverage.hpp"
#include "gridd/service/incidents.hpp"

namespace gridd::api {

struct PlanningStatsOptions {
  service::CoverageOptions coverage;
  std::size_t max_limit = 100000;  ///< largest `limit` of /workload
  int geometry_decimals = 7;       ///< GeoJSON coordinates: 1e-7 degree is about 1 cm
};

/// Add GET /coverage (always) and GET /workload (when `incidents` is not
/// null) to `router`. `network` may be null: mode=network then answers 409
/// network_not_loaded. The references must outlive the router.
void add_planning_stats_routes(Router& router, service::Catalog& catalog, service::IncidentService* incidents,
                               const service::RoadNetwork* network, PlanningStatsOptions options = {});

}  // namespace gridd::api
