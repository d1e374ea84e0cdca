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

/// Two cached renderings per grid: with the people's phones, and without
/// them for anonymous readers once tokens are in use.
const std::string& grid_part(const GridEntry& e, bool personal_data) {
  return (personal_data ? e.summary : e.public_summary).get([&] {
    const Grid& g = e.grid;
    return open_object(Json{{"id", g.id}, {"code", g.code}, {"name", g.name}, {"level", to_string(g.level)},
                            {"version", g.version}, {"people", people_json(g.people, personal_data)}});
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

void append_grid(std::string& out, const GridEntry& e, const double* distance_m, bool personal_data) {
  out += grid_part(e, personal_data);
  if (distance_m) {
    out += ",\"distance_m\":";
    append_metres(out, *distance_m);
  }
  out += '}';
}

void append_locate(std::string& out, const service::LocateResult& r, bool personal_data) {
  out += "{\"position\":{\"lon\":";
  append_double(out, r.lon);
  out += ",\"lat\":";
  append_double(out, r.lat);
  out += "},\"covered\":";
  out += r.covered ? "true" : "false";
  out += ",\"grids\":[";
  for (std::size_t i = 0; i < r.chain.size(); ++i) {
    if (i) out += ',';
    append_grid(out, *r.chain[i], nullptr, personal_data);
  }
  out += "],\"owner\":";
  if (r.owner) {
    append_grid(out, *r.owner, &r.owner_distance_m, personal_data);
  } else {
    out += "null";
  }
  if (!r.covered && r.owner) {
    out += ",\"nearest_grid\":";
    append_grid(out, *r.owner, &r.owner_distance_m, personal_data);
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
         service::TileService* tiles, const service::RoadNetwork* roads, service::AuthService* auth)
    : m_catalog(catalog), m_options(options), m_incidents(incidents), m_tiles(tiles), m_auth(auth) {
  if (m_auth) {
    m_router.set_authorizer([auth](const Request& r, Permission p) {
      // Health probes and the API description stay public even with --anonymous none.
      if (p == Permission::read && (r.path == "/healthz" || r.path == "/readyz" || r.path == "/metrics" ||
                                    r.path == "/openapi.json")) {
        return Principal::open();
      }
      return auth->authorize(r.header("authorization"), p);
    });
    m_router.set_audit(
        [this](const RouteCall& call) {
          check_write_scope(call);
          return audit_before(call);
        },
        [this](const RouteCall& call, const Response& res, std::string before) {
          audit_after(call, res, std::move(before));
        });
  }
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
  m_router.add("GET", "/readyz", [this](const Request&, const PathParams&) { return readyz(); });
  m_router.add("GET", "/metrics", [this](const Request&, const PathParams&) { return metrics(); });
  m_router.add("GET", "/audit", bind0(&Api::list_audit), Permission::admin);
  m_router.add("GET", "/whoami", bind0(&Api::whoami));
  m_router.add("GET", "/openapi.json", [](const Request&, const PathParams&) {
    Response r;
    r.content_type = "application/vnd.oai.openapi+json;version=3.0";
    r.body = std::string(openapi_json());
    return r;
  });
  m_router.add("GET", "/grids", bind0(&Api::list_grids));
  m_router.add("POST", "/grids", bind0(&Api::create_grids), Permission::edit_grids);
  add_planning_routes(m_router, m_catalog);  // /grids/check, /grids/merge, ... before /grids/{id}
  m_router.add("GET", "/grids/{id}", bind1(&Api::get_grid));
  m_router.add("PUT", "/grids/{id}", bind1(&Api::update_grid), Permission::edit_grids);
  m_router.add("DELETE", "/grids/{id}", bind1(&Api::delete_grid), Permission::edit_grids);
  m_router.add("GET", "/stations", bind0(&Api::list_stations));
  m_router.add("POST", "/stations", bind0(&Api::create_stations), Permission::edit_grids);
  m_router.add("GET", "/stations/{id}", bind1(&Api::get_station));
  m_router.add("PUT", "/stations/{id}", bind1(&Api::update_station), Permission::edit_grids);
  m_router.add("DELETE", "/stations/{id}", bindp(&Api::delete_station), Permission::edit_grids);
  m_router.add("GET", "/locate", bind0(&Api::locate_get));
  m_router.add("POST", "/locate", bind0(&Api::locate_post), Permission::read);
  if (m_incidents) {
    add_incident_routes(m_router, *m_incidents, IncidentApiOptions{});
    add_open311_routes(m_router, *m_incidents);
  }
  if (m_tiles) add_tile_routes(m_router, *m_tiles);
  add_ogc_routes(m_router, m_catalog, m_incidents, m_tiles);
  add_planning_stats_routes(m_router, m_catalog, m_incidents, roads);
}

Response Api::handle(const Request& request) const {
  Response res = m_router.handle(request);
  if (m_auth) add_vary(res, "Authorization");
  return res;
}

std::unique_ptr<FeedStream> Api::open_feed(const Request& request) const {
  if (!m_incidents) throw_not_found("not_found", "no route for " + request.path, "path");
  if (m_auth) {
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
    authed.principal = m_auth->authorize(authorization, Permission::read);
    return api::open_feed(*m_incidents, authed);
  }
  return api::open_feed(*m_incidents, request);
}

// ---------------------------------------------------------------------------
// Scope of grid writes and the audit log
// ---------------------------------------------------------------------------

namespace {
/// What a write route acts on: ("grid" | "station" | "incident" | first path
/// segment, id or "").
std::pair<std::string, std::string> audit_target(const RouteCall& c) {
  const std::string& p = c.pattern;
  auto id = [&] {
    auto it = c.params.find("id");
    return it == c.params.end() ? std::string() : it->second;
  };
  if (p.rfind("/grids", 0) == 0) return {"grid", id()};
  if (p.rfind("/stations", 0) == 0) return {"station", id()};
  if (p.rfind("/incidents", 0) == 0 || p.rfind("/open311", 0) == 0) return {"incident", id()};
  const std::size_t end = p.find('/', 1);
  return {p.substr(1, end == std::string::npos ? std::string::npos : end - 1), id()};
}

/// A body as JSON text for the audit log: itself when JSON, a JSON string
/// otherwise, a marker when huge.
std::string audit_json(const std::string& body, const std::string& content_type) {
  constexpr std::size_t k_max = 4 << 20;
  if (body.empty()) return {};
  if (body.size() > k_max) return Json{{"truncated", true}, {"bytes", body.size()}}.dump();
  if (content_type.find("json") != std::string::npos || body.front() == '{' || body.front() == '[') {
    if (Json::accept(body)) return body;
  }
  if (content_type.rfind("image/", 0) == 0 || content_type.rfind("application/octet", 0) == 0) {
    return Json{{"content_type", content_type}, {"bytes", body.size()}}.dump();
  }
  return Json(body).dump(-1, ' ', false, Json::error_handler_t::replace);
}
}  // namespace

void Api::check_write_scope(const RouteCall& c) const {
  const Principal& who = c.request.principal;
  if (!m_auth || !who.scoped() || c.permission != Permission::edit_grids) return;
  const auto [kind, id] = audit_target(c);
  auto refuse = [&](const std::string& what) {
    throw Error(ErrorKind::forbidden, "forbidden", what + " is outside the token's scope " + who.scope_code,
                "authorization");
  };
  if (kind == "station") refuse("stations are city-wide: editing them");
  if (kind != "grid") return;
  if (!id.empty()) {
    std::int64_t gid = 0;
    std::from_chars(id.data(), id.data() + id.size(), gid);
    if (!m_auth->grid_in_scope(who, gid)) refuse("grid " + id);
    return;
  }
  if (c.pattern == "/grids") {
    // New grids: each one's parent must lie inside the scope.
    const Json body = Json::parse(c.request.body, nullptr, false);
    if (body.is_discarded()) return;  // the handler answers the malformed body
    std::vector<const Json*> features;
    if (body.value("type", "") == "FeatureCollection" && body.contains("features") && body["features"].is_array()) {
      for (const auto& f : body["features"]) features.push_back(&f);
    } else {
      features.push_back(&body);
    }
    for (const Json* f : features) {
      const Json* props = f->contains("properties") ? &(*f)["properties"] : nullptr;
      const std::string parent = props && props->is_object() ? props->value("parent", "") : "";
      if (parent.empty() || !m_auth->grid_code_in_scope(who, parent)) refuse("a new grid under '" + parent + "'");
    }
    return;
  }
  if (c.pattern == "/grids/merge") {
    const Json body = Json::parse(c.request.body, nullptr, false);
    if (body.is_object() && body.contains("ids") && body["ids"].is_array()) {
      for (const auto& v : body["ids"]) {
        if (v.is_number_integer() && !m_auth->grid_in_scope(who, v.get<std::int64_t>())) refuse("grid " + v.dump());
      }
    }
  }
}

std::string Api::audit_before(const RouteCall& c) const {
  const auto [kind, id] = audit_target(c);
  if (id.empty()) return {};
  std::int64_t oid = 0;
  std::from_chars(id.data(), id.data() + id.size(), oid);
  if (kind == "grid") {
    const auto snap = m_catalog.snapshot();
    const GridEntry* e = snap->grid_by_id(oid);
    return e ? grid_feature(*snap, *e, true).dump(-1, ' ', false, Json::error_handler_t::replace) : std::string();
  }
  if (kind == "station") {
    const auto snap = m_catalog.snapshot();
    const StationEntry* s = snap->station_by_id(oid);
    return s ? station_feature(*s).dump(-1, ' ', false, Json::error_handler_t::replace) : std::string();
  }
  if (kind == "incident" && m_incidents && c.pattern.rfind("/incidents/", 0) == 0) {
    const auto i = m_incidents->require(oid);
    return incident_feature(*m_incidents, i, m_incidents->now()).dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  return {};
}

void Api::audit_after(const RouteCall& c, const Response& res, std::string before) const {
  const Request& r = c.request;
  auto [kind, id] = audit_target(c);
  storage::AuditEntry e;
  e.principal_id = r.principal.token_id;
  e.principal_name = r.principal.authenticated ? r.principal.name : "anonymous";
  e.principal_role = r.principal.authenticated ? std::string(to_string(r.principal.role)) : std::string();
  e.method = r.method;
  e.path = r.path;
  e.target_kind = kind;
  if (id.empty()) {
    for (const auto& [k, v] : res.headers) {
      if (k == "Location") id = v.substr(v.rfind('/') + 1);
    }
  }
  e.target_id = id;
  e.status = res.status;
  e.request_id = r.request_id;
  if (kind == "grid" || kind == "station" || kind == "incident") {
    e.before = std::move(before);
    if (res.status < 300) e.after = audit_json(res.body, res.content_type);
  } else {
    e.after = audit_json(r.body, r.content_type);
  }
  m_auth->store().append_audit(e);
}

Response Api::list_audit(const Request& r) const {
  if (!m_auth) throw_not_found("not_found", "no audit log on this server", "path");
  const std::int64_t after = param_int(r, "after", 0, INT64_MAX).value_or(0);
  const std::int64_t limit = param_int(r, "limit", 1, 10000).value_or(100);
  const auto entries = m_auth->store().audit(after, static_cast<std::size_t>(limit));
  Json list = Json::array();
  auto json_or_null = [](const std::string& s) {
    if (s.empty()) return Json(nullptr);
    Json j = Json::parse(s, nullptr, false);
    return j.is_discarded() ? Json(s) : j;
  };
  for (const auto& e : entries) {
    list.push_back(Json{{"id", e.id},
                        {"at", e.at},
                        {"principal", Json{{"token_id", e.principal_id == 0 ? Json(nullptr) : Json(e.principal_id)},
                                           {"name", e.principal_name.empty() ? Json(nullptr) : Json(e.principal_name)},
                                           {"role", e.principal_role.empty() ? Json(nullptr) : Json(e.principal_role)}}},
                        {"method", e.method},
                        {"path", e.path},
                        {"target", Json{{"kind", e.target_kind.empty() ? Json(nullptr) : Json(e.target_kind)},
                                        {"id", e.target_id.empty() ? Json(nullptr) : Json(e.target_id)}}},
                        {"status", e.status},
                        {"request_id", e.request_id.empty() ? Json(nullptr) : Json(e.request_id)},
                        {"before", json_or_null(e.before)},
                        {"after", json_or_null(e.after)}});
  }
  Json body{{"entries", std::move(list)}};
  body["next_after"] = entries.size() == static_cast<std::size_t>(limit) ? Json(entries.back().id) : Json(nullptr);
  return json_response(body);
}

Response Api::whoami(const Request& r) const {
  // The web app asks this to show what the token may do.
  const Principal& who = r.principal;
  Json may = Json::array();
  for (const Permission p : {Permission::read, Permission::report_incidents, Permission::handle_incidents,
                             Permission::edit_grids, Permission::admin}) {
    if (who.may(p)) may.push_back(to_string(p));
  }
  return json_response(Json{{"access_control", m_auth != nullptr && m_auth->enforcing()},
                            {"authenticated", who.authenticated},
                            {"name", who.authenticated ? Json(who.name) : Json(nullptr)},
                            {"role", who.authenticated ? Json(to_string(who.role)) : Json(nullptr)},
                            {"scope", who.scoped() ? Json(who.scope_code) : Json(nullptr)},
                            {"personal_data", who.personal_data},
                            {"permissions", std::move(may)}});
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
    features.push_back(grid_feature(*snap, e, with_geometry, r.principal.personal_data));
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
  return geojson_response(grid_feature(*snap, *e, geometry_param(r), r.principal.personal_data));
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
  const auto pos = param_position(r);
  if (!pos) throw_invalid("missing_parameter", "locate needs lon and lat (or x and y)", "lon");
  const auto options = locate_options(m_catalog, param_int(r, "k", 0, service::k_max_locate_k), param(r, "kind"));
  const auto snap = snapshot_for(m_catalog, r);
  Response res;
  res.body.reserve(2048);
  append_locate(res.body, service::locate(*snap, *pos, options), r.principal.personal_data);
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
      append_locate(res.body, service::locate(*snap, pos, options), r.principal.personal_data);
    } catch (const Error& e) {
      throw Error(e.kind(), e.code(), e.what(), e.field() == "crs" ? "crs" : where);
    }
  }
  res.body += "]}";
  return res;
}

}  // namespace gridd::api
