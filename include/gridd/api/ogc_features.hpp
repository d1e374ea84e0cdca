#pragma once
/// @file ogc_features.hpp
/// OGC API - Features, Part 1 (Core, GeoJSON, OpenAPI 3.0) and Part 2 (CRS by
/// reference) over the grids, stations and incidents:
///   GET /                                  landing page (JSON; the http layer
///                                          serves the web map to browsers)
///   GET /conformance
///   GET /collections
///   GET /collections/{collectionId}
///   GET /collections/{collectionId}/items  bbox, bbox-crs, datetime, limit
///                                          (default 10, at most 10,000),
///                                          crs, keyset paging (rel=next),
///                                          and the domain filters
///   GET /collections/{collectionId}/items/{featureId}
/// Errors are the OGC exception body {code, description} that also carries
/// gridd's {message, field}. Incidents leave out the reporter and the
/// assignee (personal data).

#include <cstddef>
#include <string>

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"

namespace gridd::api {

struct OgcOptions {
  std::size_t default_limit = 10;
  std::size_t max_limit = 10000;
};

/// Add the OGC API - Features routes. Without an incident service there is
/// no incidents collection; without a tile service, no links to tile sets.
void add_ogc_routes(Router& router, const ApiContext& context, OgcOptions options = {});

/// The OGC exception body {code, description} plus gridd's {message, field}.
Response ogc_error(int status, const std::string& code, const std::string& message, const std::string& field = {});

}  // namespace gridd::api
