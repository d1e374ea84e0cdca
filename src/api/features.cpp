#include "gridd/api/features.hpp"

#include <climits>
#include <cmath>
#include <set>

#include "gridd/api/params.hpp"
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

double round_to(double v, double unit) { return std::round(v / unit) * unit; }

/// Properties gridd computes; ignored on input so a fetched feature can be PUT back.
const std::set<std::string>& read_only_properties() {
  static const std::set<std::string> names = {"id", "parent_id", "area_m2", "children", "created_at", "updated_at",
                                              "version"};
  return names;
}

const Json& properties_of(const Json& feature, const std::string& where) {
  static const Json empty = Json::object();
  if (!feature.is_object()) throw_invalid("invalid_geojson", "expected a GeoJSON Feature object", where.empty() ? "body" : where);
  if (json_string(feature, "type", where) != "Feature") {
    throw_invalid("invalid_geojson", "expected a GeoJSON Feature", join_field(where, "type"));
  }
  auto it = feature.find("properties");
  if (it == feature.end() || it->is_null()) return empty;
  if (!it->is_object()) throw_invalid("invalid_geojson", "properties must be an object", join_field(where, "properties"));
  return *it;
}

Json collect_attributes(const Json& props, const std::set<std::string>& known, const std::string& where) {
  Json attrs = Json::object();
  if (auto it = props.find("attributes"); it != props.end() && !it->is_null()) {
    if (!it->is_object()) throw_invalid("invalid_attributes", "attributes must be an object", join_field(where, "properties/attributes"));
    attrs = *it;
  }
  for (const auto& [k, v] : props.items()) {
    if (k == "attributes" || known.count(k) || read_only_properties().count(k)) continue;
    attrs[k] = v;
  }
  return attrs;
}


}  // namespace

Response geojson_response(const Json& body, int status) {
  return json_response(body, status, "application/geo+json");
}

Response no_content() {
  Response res;
  res.status = 204;
  res.content_type.clear();
  return res;
}

FeaturePage::FeaturePage(const Request& r, std::size_t max_limit, std::size_t default_limit)
    : m_limit(param_int(r, "limit", 1, static_cast<std::int64_t>(max_limit))
                  .value_or(static_cast<std::int64_t>(default_limit))),
      m_cursor(param_int(r, "cursor", 0, INT64_MAX).value_or(0)) {}

bool FeaturePage::offer(std::int64_t id, const std::function<Json()>& render) {
  if (id <= m_cursor) return true;
  if (static_cast<std::int64_t>(m_features.size()) == m_limit) {
    m_more = true;
    return false;
  }
  m_features.push_back(render());
  m_last = id;
  return true;
}

Response FeaturePage::response() {
  Json out{{"type", "FeatureCollection"}, {"numberReturned", m_features.size()}, {"features", std::move(m_features)}};
  out["next_cursor"] = m_more ? Json(std::to_string(m_last)) : Json(nullptr);
  return geojson_response(out);
}

Response created_response(const std::vector<std::int64_t>& ids, bool collection, const std::string& path,
                          const std::function<Json(std::int64_t)>& feature) {
  if (!collection) {
    Response res = geojson_response(feature(ids.at(0)), 201);
    res.headers.emplace_back("Location", path + "/" + std::to_string(ids[0]));
    return res;
  }
  Json out = Json::array();
  for (auto id : ids) out.push_back(feature(id));
  return geojson_response(Json{{"type", "FeatureCollection"}, {"features", std::move(out)}}, 201);
}


// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

Json people_json(const std::vector<Person>& people, bool personal_data) {
  Json out = to_json(people);
  if (!personal_data) {
    for (auto& p : out) {
      if (p.is_object()) p.erase("phone");
    }
  }
  return out;
}

Json grid_feature(const Snapshot& snap, const GridEntry& e, bool with_geometry, bool personal_data) {
  const Grid& g = e.grid;
  Json props{{"id", g.id},
             {"code", g.code},
             {"name", g.name},
             {"level", to_string(g.level)},
             {"parent", g.parent_code.empty() ? Json(nullptr) : Json(g.parent_code)},
             {"people", people_json(g.people, personal_data)},
             {"households", g.households ? Json(*g.households) : Json(nullptr)},
             {"area_m2", round_to(e.area_m2, 0.01)},
             {"attributes", g.attributes},
             {"created_at", g.created_at},
             {"updated_at", g.updated_at},
             {"version", g.version}};
  const GridEntry* parent = g.parent_code.empty() ? nullptr : snap.grid_by_code(g.parent_code);
  props["parent_id"] = parent ? Json(parent->grid.id) : Json(nullptr);
  props["children"] = snap.children_of(g.code).size();
  return Json{{"type", "Feature"},
              {"id", g.id},
              {"geometry", with_geometry ? spatial::geometry_to_geojson(e.shape.geometry()) : Json(nullptr)},
              {"properties", std::move(props)}};
}

Json station_feature(const StationEntry& s, bool with_contact) {
  Json props{{"id", s.id},
             {"code", s.code.empty() ? Json(nullptr) : Json(s.code)},
             {"name", s.name},
             {"kind", s.kind},
             {"address", s.address},
             {"contact", with_contact ? Json(s.contact) : Json(nullptr)},
             {"hours", s.hours},
             {"attributes", s.attributes},
             {"created_at", s.created_at},
             {"updated_at", s.updated_at}};
  return Json{{"type", "Feature"},
              {"id", s.id},
              {"geometry", Json{{"type", "Point"}, {"coordinates", Json::array({s.lon, s.lat})}}},
              {"properties", std::move(props)}};
}

// ---------------------------------------------------------------------------
// Parsing features
// ---------------------------------------------------------------------------

std::vector<const Json*> features_of(const Json& body) {
  std::vector<const Json*> out;
  if (!body.is_object()) throw_invalid("invalid_geojson", "the body must be a GeoJSON Feature or FeatureCollection", "body");
  const std::string type = json_string(body, "type", "");
  if (type == "Feature") {
    out.push_back(&body);
  } else if (type == "FeatureCollection") {
    auto it = body.find("features");
    if (it == body.end() || !it->is_array()) throw_invalid("invalid_geojson", "a FeatureCollection needs a features array", "features");
    for (const auto& f : *it) out.push_back(&f);
    if (out.empty()) throw_invalid("invalid_geojson", "the FeatureCollection is empty", "features");
  } else {
    throw_invalid("invalid_geojson", "the body must be a GeoJSON Feature or FeatureCollection (type is '" + type + "')", "type");
  }
  return out;
}

spatial::GeomPtr feature_geometry(const Json& feature, const std::string& where, const std::string& crs) {
  auto it = feature.find("geometry");
  const std::string gw = join_field(where, "geometry");
  if (it == feature.end() || it->is_null()) throw_invalid("missing_geometry", "the feature has no geometry", gw);
  spatial::GeomPtr g = spatial::geometry_from_geojson(*it, gw);
  const spatial::CrsTransform& t = spatial::crs_transform(crs);
  if (t.is_geographic()) {
    spatial::for_each_xy(g.get(), [&](double x, double y) { spatial::check_lon_lat(x, y, gw); });
  }
  try {
    return spatial::to_wgs84(g.get(), crs);
  } catch (const Error& e) {
    throw Error(e.kind(), e.code(), e.what(), gw);
  }
}

service::GridInput grid_input(const Json& feature, const std::string& where, const std::string& crs) {
  static const std::set<std::string> known = {"code", "name", "level", "parent", "people", "households"};
  const Json& props = properties_of(feature, where);
  service::GridInput in;
  in.where = where;
  Grid& g = in.grid;
  const std::string pw = join_field(where, "properties");
  g.code = json_string(props, "code", pw);
  g.name = json_string(props, "name", pw);
  const std::string level = json_string(props, "level", pw);
  if (level.empty()) throw_invalid("missing_level", "a grid needs a level (district, street, community, grid, micro_grid)", pw + "/level");
  g.level = parse_level(level, pw + "/level");
  g.parent_code = json_string(props, "parent", pw);
  if (auto it = props.find("people"); it != props.end()) g.people = people_from_json(*it, pw + "/people");
  g.households = json_int(props, "households", pw);
  if (g.households && *g.households < 0) throw_invalid("invalid_households", "households must not be negative", pw + "/households");
  g.attributes = collect_attributes(props, known, where);
  in.geometry = feature_geometry(feature, where, crs);
  return in;
}

service::StationInput station_input(const Json& feature, const std::string& where, const std::string& crs) {
  static const std::set<std::string> known = {"code", "name", "kind", "address", "contact", "hours"};
  const Json& props = properties_of(feature, where);
  service::StationInput in;
  in.where = where;
  Station& s = in.station;
  const std::string pw = join_field(where, "properties");
  s.code = json_string(props, "code", pw);
  s.name = json_string(props, "name", pw);
  s.kind = json_string(props, "kind", pw);
  s.address = json_string(props, "address", pw);
  s.contact = json_string(props, "contact", pw);
  s.hours = json_string(props, "hours", pw);
  s.attributes = collect_attributes(props, known, where);
  spatial::GeomPtr g = feature_geometry(feature, where, crs);
  if (spatial::type_id(g.get()) != GEOS_POINT) {
    throw_invalid("invalid_geometry_type", "a station geometry must be a Point", join_field(where, "geometry"));
  }
  GEOSGeomGetX_r(spatial::geos(), g.get(), &s.lon);
  GEOSGeomGetY_r(spatial::geos(), g.get(), &s.lat);
  return in;
}

namespace {

/// A number member, NaN when absent or null.
double number_field(const Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nan("");
  if (!it->is_number()) throw_invalid("invalid_type", std::string(key) + " must be a number", join_field(where, key));
  return it->get<double>();
}

}  // namespace

std::optional<service::Position> json_position(const Json& obj, const std::string& where, const std::string& crs) {
  service::Position p;
  p.crs = json_string(obj, "crs", where, crs);
  // GeoJSON geometry, a "position" object, or top-level lon/lat or x/y.
  if (auto g = obj.find("geometry"); g != obj.end() && !g->is_null()) {
    const std::string gw = join_field(where, "geometry");
    if (!g->is_object() || json_string(*g, "type", gw) != "Point") {
      throw_invalid("invalid_geometry_type", "a position's geometry must be a GeoJSON Point", gw);
    }
    auto c = g->find("coordinates");
    if (c == g->end() || !c->is_array() || c->size() < 2 || !(*c)[0].is_number() || !(*c)[1].is_number()) {
      throw_invalid("invalid_geometry", "a Point needs [x, y] coordinates", join_field(gw, "coordinates"));
    }
    p.x = (*c)[0].get<double>();
    p.y = (*c)[1].get<double>();
    return p;
  }
  const Json* src = &obj;
  std::string sw = where;
  if (auto pos = obj.find("position"); pos != obj.end() && !pos->is_null()) {
    if (!pos->is_object()) throw_invalid("invalid_position", "position must be an object", join_field(where, "position"));
    src = &*pos;
    sw = join_field(where, "position");
    p.crs = json_string(*src, "crs", sw, p.crs);
  }
  double x = number_field(*src, "lon", sw), y = number_field(*src, "lat", sw);
  if (std::isnan(x) && std::isnan(y)) {
    x = number_field(*src, "x", sw);
    y = number_field(*src, "y", sw);
  }
  if (std::isnan(x) && std::isnan(y)) return std::nullopt;
  if (std::isnan(x) || std::isnan(y)) {
    throw_invalid("missing_position", "a position needs both coordinates (lon and lat, or x and y)",
                  join_field(sw, std::isnan(x) ? "lon" : "lat"));
  }
  p.x = x;
  p.y = y;
  return p;
}

std::string crs_param(const Request& r) { return param(r, "crs").value_or(""); }

bool geometry_param(const Request& r) { return param_bool(r, "geometry").value_or(true); }

service::EditOptions edit_options(const Request& r, const Json* body) {
  service::EditOptions o;
  auto text = [&](const char* name) -> std::string {
    if (auto v = param(r, name)) return *v;
    if (body && body->is_object()) {
      if (auto it = body->find(name); it != body->end() && !it->is_null()) {
        if (!it->is_string()) throw_invalid("invalid_type", std::string(name) + " must be a string", name);
        return it->get<std::string>();
      }
    }
    return {};
  };
  o.editor = text("editor");
  o.reason = text("reason");
  if (o.editor.size() > 200) throw_invalid("too_long", "editor is longer than 200 characters", "editor");
  if (o.reason.size() > 2000) throw_invalid("too_long", "reason is longer than 2000 characters", "reason");
  if (auto d = param_bool(r, "draft")) {
    o.draft = *d;
  } else if (body && body->is_object() && body->contains("draft")) {
    const Json& d = (*body)["draft"];
    if (!d.is_boolean()) throw_invalid("invalid_boolean", "draft must be true or false", "draft");
    o.draft = d.get<bool>();
  }
  o.topology = topology_options(r);
  return o;
}

service::TopologyOptions topology_options(const Request& r) {
  service::TopologyOptions o;
  if (auto t = param_double(r, "tolerance_m2")) {
    if (!(*t >= 0 && *t <= 1e6)) throw_invalid("invalid_tolerance", "tolerance_m2 must be 0..1000000", "tolerance_m2");
    o.tolerance_m2 = *t;
  }
  if (auto t = param_double(r, "sliver_m2")) {
    if (!(*t >= 0 && *t <= 1e8)) throw_invalid("invalid_sliver", "sliver_m2 must be 0..100000000", "sliver_m2");
    o.sliver_m2 = *t;
  }
  return o;
}

std::optional<std::string> at_param(const Request& r) {
  const auto t = param_time(r, "at");
  if (!t) return std::nullopt;
  return format_iso8601(*t);
}

std::shared_ptr<const Snapshot> snapshot_for(const service::Catalog& catalog, const Request& r) {
  if (auto at = at_param(r)) return catalog.snapshot_at(*at);
  return catalog.snapshot();
}

}  // namespace gridd::api
