#pragma once
/// @file grids_api.hpp
/// The grids: GET /grids (bbox, level, parent, code, at, geometry, cursor
/// paging), POST /grids (a Feature or a FeatureCollection), GET, PUT and
/// DELETE /grids/{id}; and the grid filter OGC API items share with it.

#include <functional>
#include <optional>
#include <string>

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"
#include "gridd/service/snapshot.hpp"

namespace gridd::api {

/// Add /grids and /grids/{id}. Routes with literal segments under /grids
/// (add_planning_routes) must be added before.
void add_grid_routes(Router& router, const ApiContext& context);

/// Which grids a listing shows.
struct GridFilter {
  std::optional<spatial::Envelope> bbox;  ///< grids whose shape meets it
  std::optional<Level> level;
  std::optional<std::string> parent;  ///< the parent's code
  std::optional<std::string> code;
};

/// level, parent and code of a request (bbox is the caller's: its grammar differs).
/// @throws Error(invalid_input, "invalid_level")
GridFilter grid_filter_of(const Request& r, std::optional<spatial::Envelope> bbox);

/// Call `fn` on every grid that passes `filter`, in id order, until it returns false.
void for_each_grid(const service::Snapshot& snap, const GridFilter& filter,
                   const std::function<bool(const service::GridEntry&)>& fn);

}  // namespace gridd::api
