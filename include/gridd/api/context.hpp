#pragma once
/// @file context.hpp
/// What every resource's routes are built from. The Api builds one context
/// and hands it to each resource's add_*_routes(Router&, const ApiContext&),
/// the one way routes are registered.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "gridd/api/router.hpp"

namespace gridd::service {
class AuthService;
class Catalog;
class IncidentService;
class ResidentDesk;
class RoadNetwork;
class TileService;
class VisitService;
}  // namespace gridd::service

namespace gridd::api {

struct ApiOptions {
  std::size_t max_locate_points = 10000;  ///< POST /locate batch limit
  std::size_t max_page = 10000;           ///< largest `limit` of a listing
  std::size_t default_page = 1000;
  /// The server's address as residents reach it (https://gridd.example.gov.cn),
  /// for the QR codes; empty: taken from each request (Host, X-Forwarded-Proto).
  std::string public_url;
  /// Stations' `contact` is their public desk phone by default (printed on
  /// posters); true hides it from callers who may not see personal data.
  bool private_station_contacts = false;
};

/// What the HTTP layer tells /metrics and /readyz about itself.
struct ServerGauges {
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::uint64_t> accepted_connections{0};
  std::atomic<std::uint64_t> rejected_connections{0};  ///< beyond the connection cap
  std::atomic<std::int64_t> in_flight{0};              ///< requests being handled
  std::atomic<bool> draining{false};                   ///< shutting down: not ready
};

/// The services behind the API and its options. Everything referred to must
/// outlive the router the routes are added to.
struct ApiContext {
  service::Catalog& catalog;
  ApiOptions options;
  service::IncidentService* incidents = nullptr;  ///< null: no incident endpoints
  service::TileService* tiles = nullptr;          ///< null: no tile endpoints
  const service::RoadNetwork* roads = nullptr;    ///< null: GET /coverage?mode=network answers 409
  service::AuthService* auth = nullptr;           ///< null: no access control (everyone may do everything)
  service::VisitService* visits = nullptr;        ///< null: no visit endpoints
  service::ResidentDesk* residents = nullptr;     ///< null: no tracking codes, no anonymous intake limits
  const Router& router;                           ///< the API's router (its request metrics)
  ServerGauges& gauges;                           ///< the http layer's counters
};

/// Whether the request may see stations' contacts (ApiOptions::private_station_contacts).
inline bool shows_station_contacts(const ApiContext& context, const Request& r) {
  return !context.options.private_station_contacts || r.principal.personal_data;
}

/// A handler that reads the context.
using ContextHandler = Response (*)(const ApiContext&, const Request&, const PathParams&);

/// `fn` bound to `context` (which must outlive the route), for Router::add.
inline Handler route_to(const ApiContext& context, ContextHandler fn) {
  return [&context, fn](const Request& r, const PathParams& p) { return fn(context, r, p); };
}

/// The handlers of a resource kept as a collection of items.
struct CollectionHandlers {
  ContextHandler list, create, get, update, remove;
};

/// GET and POST on `path`, GET, PUT and DELETE on `path`/{id}; the writes need `write`.
inline void add_collection_routes(Router& router, const ApiContext& context, const std::string& path,
                                  const CollectionHandlers& h, Permission write) {
  router.add("GET", path, route_to(context, h.list));
  router.add("POST", path, route_to(context, h.create), write);
  router.add("GET", path + "/{id}", route_to(context, h.get));
  router.add("PUT", path + "/{id}", route_to(context, h.update), write);
  router.add("DELETE", path + "/{id}", route_to(context, h.remove), write);
}

}  // namespace gridd::api
