#pragma once
/// @file tile_api.hpp
/// Tile endpoints: GET /tiles (every source with its TileJSON URL),
/// GET /tiles/{source}.json (TileJSON 3.0) and
/// GET /tiles/{source}/{z}/{x}/{y}[@2x].{png|jpg|webp|mvt} with ETag/304.

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"

namespace gridd::api {

/// Add the tile routes (none without a tile service).
void add_tile_routes(Router& router, const ApiContext& context);

/// True for requests the http layer should run on its rendering pool.
bool is_tile_request(const Request& request);

}  // namespace gridd::api
