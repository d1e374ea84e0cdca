#pragma once
/// @file handlers.hpp
/// The HTTP API of gridd as transport-neutral handlers: parse -> validate ->
/// call the service -> render JSON. The Api builds an ApiContext and adds
/// every resource's routes (one file each: grids_api, stations_api,
/// locate_api, system_api, access_api, incident_api, tile_api,
/// ogc_features, planning_api, planning_stats_api).

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gridd/api/context.hpp"
#include "gridd/api/incident_api.hpp"
#include "gridd/api/router.hpp"
#include "gridd/service/auth.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/coverage_network.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/residents.hpp"
#include "gridd/service/tiles.hpp"
#include "gridd/storage/idempotency_store.hpp"

namespace gridd::api {

/// The services behind the API; each may be null (its endpoints are left out).
struct ApiServices {
  service::IncidentService* incidents = nullptr;  ///< incidents, categories, Open311, the feed
  service::TileService* tiles = nullptr;
  const service::RoadNetwork* roads = nullptr;     ///< null: GET /coverage?mode=network answers 409
  service::AuthService* auth = nullptr;            ///< null: no access control (everyone may do everything)
  storage::IdempotencyStore* idempotency = nullptr;  ///< null: Idempotency-Key headers are ignored
  service::VisitService* visits = nullptr;
  service::ResidentDesk* residents = nullptr;      ///< tracking codes and anonymous intake limits
};

class Api {
 public:
  explicit Api(service::Catalog& catalog, ApiOptions options = {}, ApiServices services = {});
  /// Once access control is on, answers depend on the Authorization header
  /// (personal data, scopes): they say so with Vary for caches between.
  [[nodiscard]] Response handle(const Request& request) const;

  /// The live feed of a GET /incidents/feed request (see is_feed_request()).
  /// @throws Error for a bad request.
  [[nodiscard]] std::unique_ptr<FeedStream> open_feed(const Request& request) const;
  [[nodiscard]] service::IncidentService* incidents() const noexcept { return m_context.incidents; }
  /// The HTTP layer's counters (it updates them; /metrics and /readyz read them).
  [[nodiscard]] ServerGauges& gauges() const noexcept { return m_gauges; }
  /// Every route (method, pattern); the live feed is served by the http layer.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> routes() const { return m_router.routes(); }

 private:
  Router m_router;
  mutable ServerGauges m_gauges;
  ApiContext m_context;  ///< what the routes were built from (they refer to it)
};

}  // namespace gridd::api
