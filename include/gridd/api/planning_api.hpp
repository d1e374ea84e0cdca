#pragma once
/// @file planning_api.hpp
/// The planner's endpoints: topology checks of a subtree or of a proposed
/// edit, the version history of a grid and its restoration, and the editing
/// operations (split, merge, snap, make valid) that answer a preview unless
/// asked to commit.

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"

namespace gridd::api {

/// Add /grids/check, /grids/merge, /grids/make-valid (register before
/// /grids/{id}) and /grids/{id}/history|restore|split|snap.
void add_planning_routes(Router& router, const ApiContext& context);

}  // namespace gridd::api
