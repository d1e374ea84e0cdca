#pragma once
/// @file handlers.hpp
/// The HTTP API of gridd as transport-neutral handlers: parse -> validate ->
/// call the service -> render JSON. Grids and stations (CRUD, listing with
/// bbox/level/parent/kind filters and cursor paging), /locate (GET and batch
/// POST) and /healthz.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "gridd/api/router.hpp"
#include "gridd/api/incident_api.hpp"
#include "gridd/service/auth.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/coverage_network.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/tiles.hpp"

namespace gridd::api {

struct ApiOptions {
  std::size_t max_locate_points = 10000;  ///< POST /locate batch limit
  std::size_t max_page = 10000;           ///< largest `limit` of a listing
  std::size_t default_page = 1000;
};

/// What the HTTP layer tells /metrics and /readyz about itself.
struct ServerGauges {
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::uint64_t> accepted_connections{0};
  std::atomic<std::uint64_t> rejected_connections{0};  ///< beyond the connection cap
  std::atomic<std::int64_t> in_flight{0};              ///< requests being handled
  std::atomic<bool> draining{false};                   ///< shutting down: not ready
};

class Api {
 public:
  /// `incidents` may be null (no incident endpoints then).
  /// `roads` may be null (GET /coverage?mode=network answers 409 network_not_loaded then).
  /// `auth` may be null (no access control: everyone may do everything).
  explicit Api(service::Catalog& catalog, ApiOptions options = {}, service::IncidentService* incidents = nullptr,
               service::TileService* tiles = nullptr, const service::RoadNetwork* roads = nullptr,
               service::AuthService* auth = nullptr);
  /// Once access control is on, answers depend on the Authorization header
  /// (personal data, scopes): they say so with Vary for caches between.
  [[nodiscard]] Response handle(const Request& request) const;

  /// The live feed of a GET /incidents/feed request (see is_feed_request()).
  /// @throws Error for a bad request.
  [[nodiscard]] std::unique_ptr<FeedStream> open_feed(const Request& request) const;
  [[nodiscard]] service::IncidentService* incidents() const noexcept { return m_incidents; }
  /// The HTTP layer's counters (it updates them; /metrics and /readyz read them).
  [[nodiscard]] ServerGauges& gauges() const noexcept { return m_gauges; }
  /// Every route (method, pattern); the live feed is served by the http layer.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> routes() const { return m_router.routes(); }

 private:
  Response list_grids(const Request& r) const;
  Response get_grid(const Request& r, const PathParams& p) const;
  Response create_grids(const Request& r) const;
  Response update_grid(const Request& r, const PathParams& p) const;
  Response delete_grid(const Request& r, const PathParams& p) const;
  Response list_stations(const Request& r) const;
  Response get_station(const Request& r, const PathParams& p) const;
  Response create_stations(const Request& r) const;
  Response update_station(const Request& r, const PathParams& p) const;
  Response delete_station(const PathParams& p) const;
  Response locate_get(const Request& r) const;
  Response locate_post(const Request& r) const;
  Response healthz() const;
  Response readyz() const;
  /// Prometheus text: requests and latency per route, connections, index
  /// sizes, tile cache, store write latency, open incidents by colour, process.
  Response metrics() const;
  Response whoami(const Request& r) const;
  Response list_audit(const Request& r) const;
  /// Refuse a grid or station write outside a scoped principal's subtree.
  void check_write_scope(const RouteCall& call) const;
  /// The audited object's JSON before a write (empty: none).
  std::string audit_before(const RouteCall& call) const;
  void audit_after(const RouteCall& call, const Response& response, std::string before) const;

  service::Catalog& m_catalog;
  ApiOptions m_options;
  service::IncidentService* m_incidents = nullptr;
  service::TileService* m_tiles = nullptr;
  service::AuthService* m_auth = nullptr;
  Router m_router;
  mutable ServerGauges m_gauges;
};

}  // namespace gridd::api
