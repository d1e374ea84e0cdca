#include "gridd/api/handlers.hpp"

#include "gridd/api/access_api.hpp"
#include "gridd/api/grids_api.hpp"
#include "gridd/api/idempotency.hpp"
#include "gridd/api/locate_api.hpp"
#include "gridd/api/ogc_features.hpp"
#include "gridd/api/planning_api.hpp"
#include "gridd/api/planning_stats_api.hpp"
#include "gridd/api/resident_api.hpp"
#include "gridd/api/stations_api.hpp"
#include "gridd/api/system_api.hpp"
#include "gridd/api/tile_api.hpp"
#include "gridd/api/visits_api.hpp"
#include "gridd/core/error.hpp"

namespace gridd::api {

Api::Api(service::Catalog& catalog, ApiOptions options, ApiServices s)
    : m_context{catalog, options, s.incidents, s.tiles, s.roads, s.auth, s.visits, s.residents, m_router, m_gauges} {
  service::IncidentService* incidents = s.incidents;
  if (s.idempotency) {
    add_idempotency(m_router, *s.idempotency, [incidents] {
      return incidents ? incidents->now() : std::chrono::system_clock::now();
    });
  }
  // Literal routes before the patterns they would match (/grids/check before /grids/{id}).
  add_system_routes(m_router, m_context);
  add_access_routes(m_router, m_context);
  add_planning_routes(m_router, m_context);
  add_grid_routes(m_router, m_context);
  add_station_routes(m_router, m_context);
  add_locate_routes(m_router, m_context);
  add_incident_routes(m_router, m_context);
  add_open311_routes(m_router, m_context);
  add_visit_routes(m_router, m_context);
  add_resident_routes(m_router, m_context);
  add_tile_routes(m_router, m_context);
  add_ogc_routes(m_router, m_context);
  add_planning_stats_routes(m_router, m_context);
}

Response Api::handle(const Request& request) const {
  Response res = m_router.handle(request);
  if (m_context.auth) add_vary(res, "Authorization");
  return res;
}

std::unique_ptr<FeedStream> Api::open_feed(const Request& request) const {
  service::IncidentService* incidents = m_context.incidents;
  if (!incidents) throw_not_found("not_found", "no route for " + request.path, "path");
  if (m_context.auth) {
    Request authed = request;
    // Browsers' EventSource cannot send headers: the feed also takes the
    // token as ?access_token= (RFC 6750 section 2.3; access logs redact it).
    const std::string* authorization = request.header("authorization");
    std::string from_query;
    if (!authorization) {
      if (auto it = request.query.find("access_token"); it != request.query.end()) {
        from_query = "Bearer " + it->second;
        authorization = &from_query;
      }
    }
    authed.principal = m_context.auth->authorize(authorization, Permission::read);
    return api::open_feed(*incidents, authed);
  }
  return api::open_feed(*incidents, request);
}

}  // namespace gridd::api
