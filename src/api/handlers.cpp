#include "gridd/api/handlers.hpp"

#include <algorithm>
#include <cmath>
#include <charconv>
#include <cstdio>
#include <set>

#include "gridd/api/features.hpp"
#include "gridd/api/incident_api.hpp"
#include "gridd/api/ogc_features.hpp"
#include "gridd/api/planning_api.hpp"
#include "gridd/api/params.hpp"
#include "gridd/api/planning_stats_api.hpp"
#include "gridd/api/tile_api.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/locate.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geojson.hpp"

namespace gridd::api {

using service::GridEntry;
using service::Snapshot;
using service::StationEntry;

namespace {

// The locate answer is the hot path. Each grid's and station's part of it is
// rendered once per entry (RenderCache) as an unterminated JSON object; an
// answer is those parts glued with a few numbers.

void append_double(std::string& out, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

/// Metres with two decimals ("1234.56").
void append_metres(std::string& out, double metres) {
  if (!std::isfinite(metres) || metres < 0 || metres > 1e15) {
    append_double(out, std::isfinite(metres) ? metres : 0);
    return;
  }
  const auto cents = static_cast<std::uint64_t>(std::llround(metres * 100));
  char buf[32];
  char* p = std::to_chars(buf, buf + 24, cents / 100).ptr;
  *p++ = '.';
  *p++ = static_cast<char>('0' + (cents % 100) / 10);
  *p++ = static_cast<char>('0' + cents % 10);
  out.append(buf, p);
}

std::string open_object(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  s.pop_back();  // drop '}' so fields can follow
  return s;
}

const std::string& grid_part(const GridEntry& e) {
  return e.summary.get([&] {
    const Grid& g = e.grid;
    return open_object(Json{{"id", g.id}, {"code", g.code}, {"name", g.name}, {"level", to_string(g.level)},
                            {"version", g.version}, {"people", to_json(g.people)}});
  });
}

const std::string& station_part(const StationEntry& s) {
  return s.summary.get([&] {
    return open_object(Json{{"id", s.id},
                            {"code", s.code.empty() ? Json(nullptr) : Json(s.code)},
                            {"name", s.name},
                            {"kind", s.kind},
                            {"lon", s.lon},
                            {"lat", s.lat},
                            {"address", s.address},
                            {"contact", s.contact},
                            {"hours", s.hours}});
  });
}

void append_grid(std::string& out, const GridEntry& e, const double* distance_m) {
  out += grid_part(e);
  if (distance_m) {
    out += ",\"distance_m\":";
    append_metres(out, *distance_m);
  }
  out += '}';
}

void append_locate(std::string& out, const service::LocateResult& r) {
  out += "{\"position\":{\"lon\":";
  append_double(out, r.lon);
  out += ",\"lat\":";
  append_double(out, r.lat);
  out += "},\"covered\":";
  out += r.covered ? "true" : "false";
  out += ",\"grids\":[";
  for (std::size_t i = 0; i < r.chain.size(); ++i) {
    if (i) out += ',';
    append_grid(out, *r.chain[i], nullptr);
  }
  out += "],\"owner\":";
  if (r.owner) {
    append_grid(out, *r.owner, &r.owner_distance_m);
  } else {
    out += "null";
  }
  if (!r.covered && r.owner) {
    out += ",\"nearest_grid\":";
    append_grid(out, *r.owner, &r.owner_distance_m);
  }
  out += ",\"stations\":[";
  for (std::size_t i = 0; i < r.stations.size(); ++i) {
    if (i) out += ',';
    out += station_part(*r.stations[i].first);
    out += ",\"distance_m\":";
    append_metres(out, r.stations[i].second);
    out += '}';
  }
  out += "]}";
}

}  // namespace

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

Api::Api(service::Catalog& catalog, ApiOptions options, service::IncidentService* incidents,
         service::TileService* tiles, const service::RoadNetwork* roads)
    : m_catalog(catalog), m_options(options), m_incidents(incidents), m_tiles(tiles) {
  auto bind0 = [this](Response (Api::*fn)(const Request&) const) {
    return [this, fn](const Request& r, const PathParams&) { return (this->*fn)(r); };
  };
  auto bind1 = [this](Response (Api::*fn)(const Request&, const PathParams&) const) {
    return [this, fn](const Request& r, const PathParams& p) { return (this->*fn)(r, p); };
  };
  auto bindp = [this](Response (Api::*fn)(const PathParams&) const) {
    return [this, fn](const Request&, const PathParams& p) { return (this->*fn)(p); };
  };
  m_router.add("GET", "/healthz", [this](const Request&, const PathParams&) { return healthz(); });
  m_router.add("GET", "/openapi.json", [](const Request&, const PathParams&) {
    Response r;
    r.content_type = "application/vnd.oai.openapi+json;version=3.0";
    r.body = std::string(openapi_json());
    return r;
  });
  m_router.add("GET", "/grids", bind0(&Api::list_grids));
  m_router.add("POST", "/grids", bind0(&Api::create_grids));
  add_planning_routes(m_router, m_catalog);  // /grids/check, /grids/merge, ... before /grids/{id}
  m_router.add("GET", "/grids/{id}", bind1(&Api::get_grid));
  m_router.add("PUT", "/grids/{id}", bind1(&Api::update_grid));
  m_router.add("DELETE", "/grids/{id}", bind1(&Api::delete_grid));
  m_router.add("GET", "/stations", bind0(&Api::list_stations));
  m_router.add("POST", "/stations", bind0(&Api::create_stations));
  m_router.add("GET", "/stations/{id}", bind1(&Api::get_station));
  m_router.add("PUT", "/stations/{id}", bind1(&Api::update_station));
  m_router.add("DELETE", "/stations/{id}", bindp(&Api::delete_station));
  m_router.add("GET", "/locate", bind0(&Api::locate_get));
  m_router.add("POST", "/locate", bind0(&Api::locate_post));
  if (m_incidents) {
    add_incident_routes(m_router, *m_incidents, IncidentApiOptions{});
    add_open311_routes(m_router, *m_incidents);
  }
  if (m_tiles) add_tile_routes(m_router, *m_tiles);
  add_ogc_routes(m_router, m_catalog, m_incidents, m_tiles);
  add_planning_stats_routes(m_router, m_catalog, m_incidents, roads);
}

std::unique_ptr<FeedStream> Api::open_feed(const Request& request) const {
  if (!m_incidents) throw_not_found("not_found", "no route for " + request.path, "path");
  return api::open_feed(*m_incidents, request);
}

Response Api::healthz() const {
  const auto snap = m_catalog.snapshot();
  Json body{{"status", "ok"},
            {"grids", snap->grids().size()},
            {"stations", snap->stations().size()},
            {"snapshot", snap->version()}};
  if (m_tiles) {
    // A broken tile source degrades the service; it keeps serving the rest.
    Json sources = Json::array();
    for (const auto& s : m_tiles->sources()) {
      if (s.kind != "raster") continue;
      sources.push_back(Json{{"name", s.name}, {"healthy", s.healthy},
                             {"reason", s.reason.empty() ? Json(nullptr) : Json(s.reason)}});
      if (!s.healthy) body["status"] = "degraded";
    }
    body["tile_sources"] = std::move(sources);
  }
  return json_response(body);
}

Response Api::list_grids(const Request& r) const {
  const auto snap = snapshot_for(m_catalog, r);
  const auto bbox = param_bbox(r);
  const auto level_text = param(r, "level");
  const bool by_level = level_text.has_value();
  const Level level = by_level ? parse_level(*level_text, "level") : Level::district;
  const auto parent = param(r, "parent");
  const auto code = param(r, "code");
  const bool with_geometry = geometry_param(r);
  spatial::GeomPtr box = bbox ? spatial::make_box(*bbox) : nullptr;

  const std::int64_t limit = param_int(r, "limit", 1, static_cast<std::int64_t>(m_options.max_page)).value_or(m_options.default_page);
  const std::int64_t cursor = param_int(r, "cursor", 0, INT64_MAX).value_or(0);
  Json features = Json::array();
  std::int64_t last = 0;
  bool more = false;
  auto consider = [&](const GridEntry& e) {
    const Grid& g = e.grid;
    if (g.id <= cursor) return true;
    if (by_level && g.level != level) return true;
    if (parent && g.parent_code != *parent) return true;
    if (code && g.code != *code) return true;
    if (box && (!e.shape.envelope().intersects(*bbox) ||
                GEOSIntersects_r(spatial::geos(), e.shape.geometry(), box.get()) != 1)) {
      return true;
    }
    if (static_cast<std::int64_t>(features.size()) == limit) {
      more = true;
      return false;
    }
    features.push_back(grid_feature(*snap, e, with_geometry));
    last = g.id;
    return true;
  };
  if (bbox) {
    std::vector<std::size_t> hits;
    snap->grid_index().query(*bbox, hits);
    std::sort(hits.begin(), hits.end());  // positions follow id order
    for (std::size_t i : hits) {
      if (!consider(*snap->grids()[i])) break;
    }
  } else {
    for (const auto& e : snap->grids()) {
      if (!consider(*e)) break;
    }
  }
  Json out{{"type", "FeatureCollection"}, {"numberReturned", features.size()}, {"features", std::move(features)}};
  out["next_cursor"] = more ? Json(std::to_string(last)) : Json(nullptr);
  return geojson_response(out);
}

Response Api::get_grid(const Request& r, const PathParams& p) const {
  const auto snap = snapshot_for(m_catalog, r);
  const std::int64_t id = path_id(p.at("id"));
  const GridEntry* e = snap->grid_by_id(id);
  if (!e) throw_not_found("grid_not_found", "no grid with id " + std::to_string(id), "id");
  return geojson_response(grid_feature(*snap, *e, geometry_param(r)));
}

Response Api::create_grids(const Request& r) const {
  const Json body = parse_json(r.body);
  const std::string crs = crs_param(r);
  const auto features = features_of(body);
  const bool collection = body.value("type", "") == "FeatureCollection";
  std::vector<service::GridInput> inputs;
  inputs.reserve(features.size());
  for (std::size_t i = 0; i < features.size(); ++i) {
    inputs.push_back(grid_input(*features[i], collection ? "features/" + std::to_string(i) : "", crs));
  }
  const std::vector<std::int64_t> ids = m_catalog.create_grids(std::move(inputs), edit_options(r, &body));
  const auto snap = m_catalog.snapshot();
  if (!collection) {
    Response res = geojson_response(grid_feature(*snap, *snap->grid_by_id(ids.at(0)), true), 201);
    res.headers.emplace_back("Location", "/grids/" + std::to_string(ids[0]));
    return res;
  }
  Json out = Json::array();
  for (auto id : ids) out.push_back(grid_feature(*snap, *snap->grid_by_id(id), true));
  return geojson_response(Json{{"type", "FeatureCollection"}, {"features", std::move(out)}}, 201);
}

Response Api::update_grid(const Request& r, const PathParams& p) const {
  const std::int64_t id = path_id(p.at("id"));
  const Json body = parse_json(r.body);
  service::GridInput in = grid_input(body, "", crs_param(r));
  m_catalog.update_grid(id, std::move(in), edit_options(r, &body));
  const auto snap = m_catalog.snapshot();
  return geojson_response(grid_feature(*snap, *snap->grid_by_id(id), true));
}

Response Api::delete_grid(const Request& r, const PathParams& p) const {
  m_catalog.delete_grid(path_id(p.at("id")), edit_options(r));
  Response res;
  res.status = 204;
  res.content_type.clear();
  return res;
}

Response Api::list_stations(const Request& r) const {
  const auto snap = m_catalog.snapshot();
  const auto bbox = param_bbox(r);
  const auto kind = param(r, "kind");
  const auto code = param(r, "code");
  const std::int64_t limit = param_int(r, "limit", 1, static_cast<std::int64_t>(m_options.max_page)).value_or(m_options.default_page);
  const std::int64_t cursor = param_int(r, "cursor", 0, INT64_MAX).value_or(0);
  Json features = Json::array();
  std::int64_t last = 0;
  bool more = false;
  for (const auto& s : snap->stations()) {
    if (s->id <= cursor) continue;
    if (kind && s->kind != *kind) continue;
    if (code && s->code != *code) continue;
    if (bbox && !bbox->contains(s->lon, s->lat)) continue;
    if (static_cast<std::int64_t>(features.size()) == limit) {
      more = true;
      break;
    }
    features.push_back(station_feature(*s));
    last = s->id;
  }
  Json out{{"type", "FeatureCollection"}, {"numberReturned", features.size()}, {"features", std::move(features)}};
  out["next_cursor"] = more ? Json(std::to_string(last)) : Json(nullptr);
  return geojson_response(out);
}

Response Api::get_station(const Request&, const PathParams& p) const {
  const auto snap = m_catalog.snapshot();
  const std::int64_t id = path_id(p.at("id"));
  const StationEntry* s = snap->station_by_id(id);
  if (!s) throw_not_found("station_not_found", "no station with id " + std::to_string(id), "id");
  return geojson_response(station_feature(*s));
}

Response Api::create_stations(const Request& r) const {
  const Json body = parse_json(r.body);
  const std::string crs = crs_param(r);
  const auto features = features_of(body);
  const bool collection = body.value("type", "") == "FeatureCollection";
  std::vector<service::StationInput> inputs;
  for (std::size_t i = 0; i < features.size(); ++i) {
    inputs.push_back(station_input(*features[i], collection ? "features/" + std::to_string(i) : "", crs));
  }
  const std::vector<std::int64_t> ids = m_catalog.create_stations(std::move(inputs));
  const auto snap = m_catalog.snapshot();
  if (!collection) {
    Response res = geojson_response(station_feature(*snap->station_by_id(ids.at(0))), 201);
    res.headers.emplace_back("Location", "/stations/" + std::to_string(ids[0]));
    return res;
  }
  Json out = Json::array();
  for (auto id : ids) out.push_back(station_feature(*snap->station_by_id(id)));
  return geojson_response(Json{{"type", "FeatureCollection"}, {"features", std::move(out)}}, 201);
}

Response Api::update_station(const Request& r, const PathParams& p) const {
  const std::int64_t id = path_id(p.at("id"));
  const Json body = parse_json(r.body);
  m_catalog.update_station(id, station_input(body, "", crs_param(r)));
  const auto snap = m_catalog.snapshot();
  return geojson_response(station_feature(*snap->station_by_id(id)));
}

Response Api::delete_station(const PathParams& p) const {
  m_catalog.delete_station(path_id(p.at("id")));
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

namespace {
service::LocateOptions locate_options(const service::Catalog& catalog, std::optional<std::int64_t> k,
                                      std::optional<std::string> kind) {
  service::LocateOptions o;
  o.k = static_cast<std::size_t>(k.value_or(3));
  if (kind && !kind->empty()) {
    const auto& kinds = catalog.options().station_kinds;
    if (std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) {
      throw_invalid("unknown_kind", "unknown station kind '" + *kind + "'", "kind");
    }
    o.station_kind = *kind;
  }
  return o;
}
}  // namespace

Response Api::locate_get(const Request& r) const {
  service::Position pos;
  auto lon = param_double(r, "lon");
  auto lat = param_double(r, "lat");
  if (!lon && !lat) {
    lon = param_double(r, "x");
    lat = param_double(r, "y");
  }
  if (!lon) throw_invalid("missing_parameter", "locate needs lon and lat (or x and y)", "lon");
  if (!lat) throw_invalid("missing_parameter", "locate needs lon and lat (or x and y)", "lat");
  pos.x = *lon;
  pos.y = *lat;
  pos.crs = crs_param(r);
  const auto options = locate_options(m_catalog, param_int(r, "k", 0, service::k_max_locate_k), param(r, "kind"));
  const auto snap = snapshot_for(m_catalog, r);
  Response res;
  res.body.reserve(2048);
  append_locate(res.body, service::locate(*snap, pos, options));
  return res;
}

Response Api::locate_post(const Request& r) const {
  const Json body = parse_json(r.body);
  if (!body.is_object()) throw_invalid("invalid_body", "the body must be an object with a points array", "body");
  auto it = body.find("points");
  if (it == body.end() || !it->is_array()) throw_invalid("invalid_body", "the body needs a points array", "points");
  if (it->size() > m_options.max_locate_points) {
    throw Error(ErrorKind::too_large, "too_many_points",
                "at most " + std::to_string(m_options.max_locate_points) + " points per request, got " +
                    std::to_string(it->size()),
                "points");
  }
  std::string crs = json_string(body, "crs", "");
  if (auto q = param(r, "crs")) crs = *q;
  std::optional<std::int64_t> k = json_int(body, "k", "");
  if (k && (*k < 0 || *k > static_cast<std::int64_t>(service::k_max_locate_k))) {
    throw_invalid("invalid_k", "k must be between 0 and " + std::to_string(service::k_max_locate_k), "k");
  }
  std::optional<std::string> kind;
  if (body.contains("kind")) kind = json_string(body, "kind", "");
  const auto options = locate_options(m_catalog, k, kind);
  std::shared_ptr<const Snapshot> snap;
  if (body.contains("at") && !param(r, "at")) {
    snap = m_catalog.snapshot_at(format_iso8601(parse_time(json_string(body, "at", ""), "at")));
  } else {
    snap = snapshot_for(m_catalog, r);
  }
  Response res;
  res.body.reserve(2048 * it->size() + 16);
  res.body += "{\"results\":[";
  std::size_t i = 0;
  for (const Json& p : *it) {
    const std::string where = "points/" + std::to_string(i++);
    service::Position pos;
    pos.crs = crs;
    if (p.is_array() && p.size() >= 2 && p[0].is_number() && p[1].is_number()) {
      pos.x = p[0].get<double>();
      pos.y = p[1].get<double>();
    } else if (p.is_object() && p.contains("lon") && p.contains("lat") && p["lon"].is_number() && p["lat"].is_number()) {
      pos.x = p["lon"].get<double>();
      pos.y = p["lat"].get<double>();
    } else {
      throw_invalid("invalid_point", "a point is [x, y] or {\"lon\": .., \"lat\": ..}", where);
    }
    try {
      if (i > 1) res.body += ',';
      append_locate(res.body, service::locate(*snap, pos, options));
    } catch (const Error& e) {
      throw Error(e.kind(), e.code(), e.what(), e.field() == "crs" ? "crs" : where);
    }
  }
  res.body += "]}";
  return res;
}

}  // namespace gridd::api
