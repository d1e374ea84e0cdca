#pragma once
/// @file resident_api.hpp
/// The resident's routes (no token needed where anonymous callers may
/// report, `--anonymous report`): GET /report/place (the grid or station a
/// QR code names), GET /track/{code} (a report's progress without personal
/// data), POST /track/{code}/attachments (photos of one's own report, just
/// after sending it), POST /track/{code}/satisfaction (the rating once it is
/// closed), and the printable QR posters GET /grids/{id}/qr.svg and GET
/// /stations/{id}/qr.svg.

#include "gridd/api/context.hpp"
#include "gridd/api/router.hpp"
#include "gridd/service/incidents.hpp"

namespace gridd::api {

void add_resident_routes(Router& router, const ApiContext& context);

/// Whether anonymous intake limits apply to the request's caller: nobody
/// signed in while tokens are in use.
bool anonymous_caller(const Request& r);

/// `inner` (the caller's scope) followed, for anonymous callers, by the
/// resident desk's limits per client address (429 rate_limited, 409
/// duplicate_report). Every intake route admits reports through this.
service::IncidentService::Admission admission_for(const ApiContext& ctx, const Request& r);

}  // namespace gridd::api
