#pragma once
/// @file system_api.hpp
/// The server's own endpoints: GET /healthz (snapshot size, tile sources),
/// GET /readyz (503 while shutting down), GET /metrics (Prometheus text:
/// requests and latency per route, connections, index sizes, tile cache,
/// store write latency, open incidents by colour, process) and GET
/// /openapi.json.

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"

namespace gridd::api {

void add_system_routes(Router& router, const ApiContext& context);

}  // namespace gridd::api
