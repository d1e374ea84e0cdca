#pragma once
/// @file stations_api.hpp
/// The service stations: GET /stations (bbox, kind, code, cursor paging),
/// POST /stations (a Feature or a FeatureCollection), GET, PUT and DELETE
/// /stations/{id}.

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"

namespace gridd::api {

void add_station_routes(Router& router, const ApiContext& context);

}  // namespace gridd::api
