#pragma once
/// @file locate_api.hpp
/// GET /locate (one position: lon and lat, or x and y with crs) and POST
/// /locate (a batch of points): the grid chain, the owner and the nearest
/// stations of each position.

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"

namespace gridd::api {

void add_locate_routes(Router& router, const ApiContext& context);

}  // namespace gridd::api
