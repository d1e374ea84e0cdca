#pragma once
/// @file access_api.hpp
/// Access control and the audit log. With an AuthService, every route
/// resolves the request's principal and checks its permission (the health
/// probes and the API description stay public), grid writes are kept inside
/// a scoped token's subtree, and every write is recorded. GET /whoami tells
/// what the token may do; GET /audit (admin) lists the audit log.

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"

namespace gridd::api {

void add_access_routes(Router& router, const ApiContext& context);

}  // namespace gridd::api
