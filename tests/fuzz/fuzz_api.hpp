#pragma once
/// @file fuzz_api.hpp
/// What the HTTP-facing fuzz targets share: gridd's whole API (grids,
/// stations, incidents, tiles) over a GeoPackage in a temporary directory
/// with a small city, and a request made from a request target the way the
/// http layer makes it. Built once per fuzzing process.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "gridd/api/handlers.hpp"
#include "gridd/core/incident.hpp"
#include "gridd/storage/store.hpp"

namespace gridd::fuzz {

/// A district with one street and one grid, and two stations, around
/// 116.0..116.2 x 39.9..40.1 (Beijing), plus one incident.
inline constexpr std::string_view k_city = R"({"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"code": "110101", "name": "D", "level": "district"},
  "geometry": {"type": "Polygon", "coordinates": [[[116.0, 39.9], [116.2, 39.9], [116.2, 40.1], [116.0, 40.1], [116.0, 39.9]]]}},
 {"type": "Feature", "properties": {"code": "110101001", "name": "S", "level": "street", "parent": "110101"},
  "geometry": {"type": "Polygon", "coordinates": [[[116.0, 39.9], [116.1, 39.9], [116.1, 40.1], [116.0, 40.1], [116.0, 39.9]]]}},
 {"type": "Feature", "properties": {"code": "110101001001", "name": "G", "level": "grid", "parent": "110101001",
   "households": 120, "people": [{"name": "W", "role": "grid_worker", "phone": "13800000000"}]},
  "geometry": {"type": "Polygon", "coordinates": [[[116.04, 39.94], [116.06, 39.94], [116.06, 39.96], [116.04, 39.96], [116.04, 39.94]]]}}
]})";
inline constexpr std::string_view k_stations = R"({"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"code": "ST1", "name": "A", "kind": "grid_station"},
  "geometry": {"type": "Point", "coordinates": [116.05, 39.95]}},
 {"type": "Feature", "properties": {"code": "ST2", "name": "B", "kind": "service_center"},
  "geometry": {"type": "Point", "coordinates": [116.15, 40.05]}}
]})";
inline constexpr std::string_view k_incident =
    R"({"category": "exposed_garbage", "description": "fuzz", "lon": 116.05, "lat": 39.95})";

/// A request for `target` ("/path?query") as the http layer builds it
/// (src/http/server.cpp: the path percent-decoded, the query parsed).
inline api::Request request_for(std::string_view target, std::string method = "GET") {
  api::Request r;
  r.method = std::move(method);
  const std::size_t q = target.find('?');
  r.path = api::url_decode(target.substr(0, q), false);
  if (q != std::string_view::npos) r.query = api::parse_query(target.substr(q + 1));
  r.request_id = "fuzz";
  return r;
}

class FuzzApi {
 public:
  FuzzApi() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = (std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / "gridd-fuzz-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    m_dir = tmpl;
    auto store = storage::open_store((m_dir / "fuzz.gpkg").string());
    storage::IncidentStore& incident_store = store->incidents();
    m_catalog = std::make_unique<service::Catalog>(std::move(store));
    m_incidents = std::make_unique<service::IncidentService>(
        *m_catalog, incident_store, CategoryCatalogue::load(std::string(GRIDD_GEODATA_DIR) + "/categories.json"));
    m_tiles = std::make_unique<service::TileService>(*m_catalog, m_incidents.get(),
                                                     std::vector<service::RasterSourceConfig>{});
    m_api = std::make_unique<api::Api>(*m_catalog, api::ApiOptions{},
                                       api::ApiServices{.incidents = m_incidents.get(), .tiles = m_tiles.get()});
    post("/grids", k_city);
    post("/stations", k_stations);
    post("/incidents", k_incident);
  }
  ~FuzzApi() {
    m_api.reset();
    m_tiles.reset();
    m_incidents.reset();
    m_catalog.reset();
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
  }
  FuzzApi(const FuzzApi&) = delete;
  FuzzApi& operator=(const FuzzApi&) = delete;

  [[nodiscard]] api::Response handle(const api::Request& r) const { return m_api->handle(r); }

 private:
  void post(const std::string& path, std::string_view body) {
    api::Request r = request_for(path, "POST");
    r.body = std::string(body);
    r.content_type = "application/json";
    const api::Response res = m_api->handle(r);
    if (res.status != 201 && res.status != 200) {
      std::fprintf(stderr, "fuzz set-up: POST %s answered %d: %s\n", path.c_str(), res.status, res.body.c_str());
      std::abort();
    }
  }

  std::filesystem::path m_dir;
  std::unique_ptr<service::Catalog> m_catalog;
  std::unique_ptr<service::IncidentService> m_incidents;
  std::unique_ptr<service::TileService> m_tiles;
  std::unique_ptr<api::Api> m_api;
};

/// The process's API (built on first use, removed at exit).
inline const FuzzApi& fuzz_api() {
  static FuzzApi api;
  return api;
}

/// Answer a GET; a 500 means an exception other than gridd::Error escaped a
/// handler (the router logs it), which the API never promises: abort.
inline api::Response get_or_abort(std::string_view target) {
  const api::Request r = request_for(target);
  api::Response res = fuzz_api().handle(r);
  if (res.status >= 500 && res.status != 503) {
    std::fprintf(stderr, "GET %.*s answered %d: %s\n", static_cast<int>(target.size()), target.data(), res.status,
                 res.body.c_str());
    std::abort();
  }
  return res;
}

}  // namespace gridd::fuzz
