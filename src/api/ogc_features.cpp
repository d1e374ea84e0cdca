#include "gridd/api/ogc_features.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <set>

#include "gridd/api/features.hpp"
#include "gridd/api/grids_api.hpp"
#include "gridd/api/incident_api.hpp"
#include "gridd/api/incident_query.hpp"
#include "gridd/api/params.hpp"
#include "gridd/api/scope.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/tiles.hpp"
#include "gridd/spatial/crs.hpp"

namespace gridd::api {

using service::GridEntry;
using service::Snapshot;
using service::StationEntry;

namespace {

constexpr const char* k_geojson = "application/geo+json";
constexpr const char* k_crs84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

// ---------------------------------------------------------------------------
// CRS by reference (Part 2)
// ---------------------------------------------------------------------------

/// A CRS a client may ask for: its URI, the name gridd's transforms know,
/// and whether its first axis is latitude (EPSG:4326 and EPSG:4490 are
/// north-east by definition; CRS84 and EPSG:3857 east-north).
struct OgcCrs {
  const char* uri;
  const char* curie;
  const char* gridd;
  bool lat_first;
};

const OgcCrs k_crs[] = {
    {k_crs84, "OGC:CRS84", "", false},
    {"http://www.opengis.net/def/crs/EPSG/0/4326", "EPSG:4326", "", true},
    {"http://www.opengis.net/def/crs/EPSG/0/4490", "EPSG:4490", "EPSG:4490", true},
    {"http://www.opengis.net/def/crs/EPSG/0/3857", "EPSG:3857", "EPSG:3857", false},
};

Json crs_list() {
  Json out = Json::array();
  for (const auto& c : k_crs) out.push_back(c.uri);
  return out;
}

/// The CRS named by parameter `name` (a URI, its https form, or a safe
/// CURIE "[EPSG:4490]"); CRS84 when absent.
/// @throws Error(invalid_input, "unsupported_crs")
const OgcCrs& crs_of(const Request& r, const std::string& name) {
  const auto v = param(r, name);
  if (!v) return k_crs[0];
  std::string text = *v;
  if (text.rfind("https://", 0) == 0) text = "http://" + text.substr(8);
  for (const auto& c : k_crs) {
    if (text == c.uri || text == "[" + std::string(c.curie) + "]") return c;
  }
  throw_invalid("unsupported_crs",
                "parameter '" + name + "' must be one of the CRS URIs the collection lists (CRS84, EPSG 4326, 4490, 3857), got '" +
                    *v + "'",
                name);
}

/// A WGS84 position into `crs`, in the CRS's axis order.
void position_out(Json& pos, const OgcCrs& crs) {
  if (!pos.is_array() || pos.size() < 2 || !pos[0].is_number() || !pos[1].is_number()) return;
  double x = pos[0].get<double>(), y = pos[1].get<double>();
  if (crs.gridd[0] != '\0') spatial::crs_transform(crs.gridd).from_wgs84(x, y);
  if (crs.lat_first) std::swap(x, y);
  pos[0] = x;
  pos[1] = y;
}

void coordinates_out(Json& coords, const OgcCrs& crs) {
  if (!coords.is_array() || coords.empty()) return;
  if (coords[0].is_number()) return position_out(coords, crs);
  for (auto& c : coords) coordinates_out(c, crs);
}

void geometry_out(Json& g, const OgcCrs& crs) {
  if (!g.is_object()) return;
  if (auto it = g.find("coordinates"); it != g.end()) coordinates_out(*it, crs);
  if (auto it = g.find("geometries"); it != g.end() && it->is_array()) {
    for (auto& part : *it) geometry_out(part, crs);
  }
}

void feature_out(Json& feature, const OgcCrs& crs) {
  if (&crs == &k_crs[0]) return;
  if (auto it = feature.find("geometry"); it != feature.end()) geometry_out(*it, crs);
}

// ---------------------------------------------------------------------------
// Query parameters
// ---------------------------------------------------------------------------

/// How bbox is read: 4 or 6 numbers in bbox-crs (CRS84 when absent).
BboxOptions bbox_options_of(const Request& r) {
  const OgcCrs& crs = crs_of(r, "bbox-crs");
  if (!param(r, "bbox") && param(r, "bbox-crs")) throw_invalid("invalid_bbox", "bbox-crs needs a bbox", "bbox-crs");
  return BboxOptions{true, crs.gridd, crs.lat_first};
}

/// f=json|geojson (or absent); anything else is refused.
void check_format(const Request& r) {
  const auto f = param(r, "f");
  if (f && *f != "json" && *f != "geojson" && *f != "application/json" && *f != "application/geo+json") {
    throw_invalid("unsupported_format", "f must be json (the only encoding offered)", "f");
  }
}

/// Refuse query parameters the endpoint does not define (typos stay visible).
void check_known(const Request& r, const std::set<std::string>& known) {
  for (const auto& [k, v] : r.query) {
    if (!known.count(k)) {
      throw_invalid("unknown_parameter", "unknown query parameter '" + k + "' for " + r.path, k);
    }
  }
}

// ---------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------

Json link(const std::string& rel, const std::string& type, const std::string& href, const std::string& title = {}) {
  Json l{{"rel", rel}, {"type", type}, {"href", href}};
  if (!title.empty()) l["title"] = title;
  return l;
}

// ---------------------------------------------------------------------------
// Validators
// ---------------------------------------------------------------------------

/// A strong ETag for a representation: what it is made of, plus the URL
/// (links in the body are absolute).
std::string etag_of(const std::string& what, const Request& r) {
  std::string key = base_url(r) + r.path;
  for (const auto& [k, v] : r.query) key += "&" + k + "=" + v;
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016zx", std::hash<std::string>{}(key));
  return "\"ogc-" + what + "-" + buf + "\"";
}

/// 304 when If-None-Match names `tag`; else `make()` with the ETag.
template <class Make>
Response with_etag(const Request& r, const std::string& tag, Make make) {
  if (const std::string* inm = r.header("if-none-match")) {
    for (auto& t : split(*inm, ',')) {
      const std::string_view v = trim(t);
      if (v == tag || v == "W/" + tag || v == "*") {
        Response res;
        res.status = 304;
        res.content_type.clear();
        res.headers.emplace_back("ETag", tag);
        return res;
      }
    }
  }
  Response res = make();
  res.headers.emplace_back("ETag", tag);
  return res;
}

Response with_crs(Response res, const OgcCrs& crs) {
  res.headers.emplace_back("Content-Crs", std::string("<") + crs.uri + ">");
  return res;
}

// ---------------------------------------------------------------------------
// The collections
// ---------------------------------------------------------------------------

class Ogc {
 public:
  Ogc(const service::Catalog& catalog, service::IncidentService* incidents, service::TileService* tiles, OgcOptions options)
      : m_catalog(catalog), m_incidents(incidents), m_tiles(tiles), m_options(options) {}

  bool private_station_contacts = false;  ///< ApiOptions::private_station_contacts

  Response landing(const Request& r) const {
    check_format(r);
    const std::string base = base_url(r);
    const auto snap = m_catalog.snapshot();
    return with_etag(r, etag_of("landing", r), [&] {
      Json links = Json::array({
          link("self", "application/json", base + "/?f=json", "this document"),
          link("alternate", "text/html", base + "/", "the web map"),
          link("service-desc", "application/vnd.oai.openapi+json;version=3.0", base + "/openapi.json",
               "the OpenAPI 3.0 definition of the whole API"),
          link("conformance", "application/json", base + "/conformance", "conformance classes"),
          link("data", "application/json", base + "/collections", "feature collections"),
      });
      if (m_tiles) {
        links.push_back(link("http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "application/json",
                             base + "/tileMatrixSets", "tile matrix sets"));
      }
      return json_response(Json{{"title", "gridd"},
                                {"description", "Grid-based city governance: grids, service stations and incidents "
                                                "(OGC API - Features; personal data is left out)."},
                                {"links", std::move(links)}});
    });
  }

  Response conformance(const Request& r) const {
    check_format(r);
    Json classes = Json::array({"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
                                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
                                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
                                "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"});
    if (m_tiles) {
      classes.push_back("http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core");
      classes.push_back("http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset");
      classes.push_back("http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list");
    }
    return json_response(Json{{"conformsTo", std::move(classes)}});
  }

  Response collections(const Request& r) const {
    check_format(r);
    const auto snap = m_catalog.snapshot();
    return with_etag(r, etag_of("collections-" + std::to_string(snap->version()), r), [&] {
      const std::string base = base_url(r);
      Json list = Json::array();
      for (const auto& id : ids()) list.push_back(collection_json(id, *snap, base));
      return json_response(Json{{"links", Json::array({link("self", "application/json", base + "/collections")})},
                                {"collections", std::move(list)},
                                {"crs", crs_list()}});
    });
  }

  Response collection(const Request& r, const std::string& id) const {
    check_format(r);
    require_collection(id);
    const auto snap = m_catalog.snapshot();
    return with_etag(r, etag_of("collection-" + std::to_string(snap->version()), r),
                     [&] { return json_response(collection_json(id, *snap, base_url(r))); });
  }

  Response items(const Request& r, const std::string& id) const {
    require_collection(id);
    static const std::set<std::string> common = {"f", "limit", "bbox", "bbox-crs", "crs", "datetime", "cursor"};
    std::set<std::string> known = common;
    if (id == "grids") known.insert({"level", "parent", "code"});
    if (id == "stations") known.insert({"kind", "code"});
    if (id == "incidents") known.insert(incident_filter_params().begin(), incident_filter_params().end());
    check_known(r, known);
    check_format(r);
    const auto limit = static_cast<std::size_t>(
        param_int(r, "limit", 1, static_cast<std::int64_t>(m_options.max_limit), "invalid_limit")
            .value_or(static_cast<std::int64_t>(m_options.default_limit)));
    const BboxOptions bbox_options = bbox_options_of(r);
    const auto bbox = id == "incidents" ? std::nullopt : param_bbox(r, bbox_options);  // incidents: in the filter
    const TimeInterval when = param_interval(r, "datetime");
    const OgcCrs& crs = crs_of(r, "crs");
    const std::int64_t cursor = param_int(r, "cursor", 0, INT64_MAX, "invalid_cursor").value_or(0);
    if (id == "incidents") return with_crs(incident_items(r, limit, bbox_options, when, crs, cursor), crs);

    const auto snap = id == "grids" && when.instant ? m_catalog.snapshot_at(*when.instant) : m_catalog.snapshot();
    return with_etag(r, etag_of(id + "-" + std::to_string(snap->version()), r), [&] {
      std::vector<Json> page;
      std::int64_t matched = 0, last = 0;
      bool more = false;
      auto take = [&](std::int64_t fid, const std::function<Json()>& render) {
        ++matched;
        if (fid <= cursor) return;
        if (page.size() == limit) {
          more = true;
          return;
        }
        page.push_back(render());
        last = fid;
      };
      if (id == "grids") {
        for_each_grid(*snap, grid_filter_of(r, bbox), [&](const GridEntry& e) {
          if (!when.instant && when.any() && !when.contains(e.grid.updated_at)) return true;
          take(e.grid.id, [&] { return grid_feature(*snap, e, true, r.principal.personal_data); });
          return true;
        });
      } else {
        const auto kind = param(r, "kind");
        const auto code = param(r, "code");
        for (const auto& s : snap->stations()) {
          if (kind && s->kind != *kind) continue;
          if (code && s->code != *code) continue;
          if (bbox && !bbox->contains(s->lon, s->lat)) continue;
          if (when.any() && !when.contains(s->updated_at)) continue;
          take(s->id, [&] { return station_feature(*s, !private_station_contacts || r.principal.personal_data); });
        }
      }
      for (auto& f : page) feature_out(f, crs);
      return with_crs(page_response(r, std::move(page), matched, more ? std::to_string(last) : std::string()), crs);
    });
  }

  Response item(const Request& r, const std::string& id, const std::string& fid_text) const {
    require_collection(id);
    check_known(r, {"f", "crs"});
    check_format(r);
    const OgcCrs& crs = crs_of(r, "crs");
    std::int64_t fid = 0;
    auto [p, ec] = std::from_chars(fid_text.data(), fid_text.data() + fid_text.size(), fid);
    if (fid_text.empty() || ec != std::errc() || p != fid_text.data() + fid_text.size() || fid <= 0) {
      throw_not_found("feature_not_found", "no feature '" + fid_text + "' in collection '" + id + "'", "featureId");
    }
    const std::string base = base_url(r);
    auto finish = [&](Json f) {
      feature_out(f, crs);
      const std::string self = base + "/collections/" + id + "/items/" + fid_text;
      f["links"] = Json::array({link("self", k_geojson, self), link("collection", "application/json", base + "/collections/" + id)});
      return with_crs(json_response(f, 200, k_geojson), crs);
    };
    if (id == "incidents") {
      auto i = m_incidents->get(fid);
      if (i && !incident_in(principal_scope(r, m_catalog), *i)) i.reset();  // outside the token's scope
      if (!i) throw_not_found("feature_not_found", "no feature " + fid_text + " in collection 'incidents'", "featureId");
      const std::string tag = etag_of("incident-" + std::to_string(i->id) + "-" + std::to_string(i->version), r);
      return with_etag(r, tag, [&] { return finish(incident_ogc_feature(*i, m_incidents->now())); });
    }
    const auto snap = m_catalog.snapshot();
    return with_etag(r, etag_of(id + "-" + std::to_string(snap->version()), r), [&] {
      if (id == "grids") {
        const GridEntry* e = snap->grid_by_id(fid);
        if (!e) throw_not_found("feature_not_found", "no feature " + fid_text + " in collection 'grids'", "featureId");
        return finish(grid_feature(*snap, *e, true, r.principal.personal_data));
      }
      const StationEntry* s = snap->station_by_id(fid);
      if (!s) throw_not_found("feature_not_found", "no feature " + fid_text + " in collection 'stations'", "featureId");
      return finish(station_feature(*s, !private_station_contacts || r.principal.personal_data));
    });
  }

 private:
  [[nodiscard]] std::vector<std::string> ids() const {
    std::vector<std::string> out = {"grids", "stations"};
    if (m_incidents) out.emplace_back("incidents");
    return out;
  }

  void require_collection(const std::string& id) const {
    const auto all = ids();
    if (std::find(all.begin(), all.end(), id) == all.end()) {
      throw_not_found("no_such_collection", "no collection '" + id + "' (GET /collections lists them)", "collectionId");
    }
  }

  [[nodiscard]] Json collection_json(const std::string& id, const Snapshot& snap, const std::string& base) const {
    spatial::Envelope ext{180, 90, -180, -90};
    auto grow = [&](const spatial::Envelope& e) {
      ext.minx = std::min(ext.minx, e.minx);
      ext.miny = std::min(ext.miny, e.miny);
      ext.maxx = std::max(ext.maxx, e.maxx);
      ext.maxy = std::max(ext.maxy, e.maxy);
    };
    std::string first;
    if (id == "stations") {
      for (const auto& s : snap.stations()) {
        grow({s->lon, s->lat, s->lon, s->lat});
        if (first.empty() || s->created_at < first) first = s->created_at;
      }
    } else {
      for (const auto& e : snap.grids()) {
        grow(e->shape.envelope());
        if (id == "grids" && (first.empty() || e->grid.created_at < first)) first = e->grid.created_at;
      }
    }
    if (ext.minx > ext.maxx) ext = {-180, -90, 180, 90};
    std::string title, description;
    if (id == "grids") {
      title = "Grids";
      description = "The administrative grids of every level (district, street, community, grid, micro_grid) with "
                    "their parent, the people in charge and their households. Filters: level, parent, code. "
                    "datetime=<instant> answers the grids as they were then; an interval filters updated_at.";
    } else if (id == "stations") {
      title = "Service stations";
      description = "Service stations (police, clinics, ...). Filters: kind, code; datetime filters updated_at.";
    } else {
      title = "Incidents";
      description = "Reported incidents with their category, status and assigned grid. The reporter's name and "
                    "phone and the assignee are personal data and are left out. Filters as GET /incidents: status "
                    "(or open), category, grid (id or code), colour (or color), channel, assignee, covered "
                    "(true|false|1|0), from and to (created_at); datetime filters created_at too.";
    }
    const std::string self = base + "/collections/" + id;
    Json links = Json::array({link("self", "application/json", self, "this collection"),
                              link("items", k_geojson, self + "/items", "the features (GeoJSON)")});
    if (m_tiles) {
      for (const auto& s : m_tiles->sources()) {
        if (s.name == id && s.kind == "vector") {
          links.push_back(link("http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "application/json",
                               self + "/tiles", "vector tiles (Mapbox Vector Tiles, WebMercatorQuad)"));
        }
      }
    }
    Json temporal = Json::array({first.empty() ? Json(nullptr) : Json(first), nullptr});
    return Json{{"id", id},
                {"title", title},
                {"description", description},
                {"itemType", "feature"},
                {"links", std::move(links)},
                {"extent", {{"spatial", {{"bbox", Json::array({Json::array({ext.minx, ext.miny, ext.maxx, ext.maxy})})},
                                         {"crs", k_crs84}}},
                            {"temporal", {{"interval", Json::array({temporal})},
                                          {"trs", "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}}}}},
                {"crs", crs_list()},
                {"storageCrs", k_crs84}};
  }

  Response page_response(const Request& r, std::vector<Json> features, std::int64_t matched,
                         const std::string& next_cursor) const {
    const std::string base = base_url(r);
    const std::string self = url_with(r, base, "cursor", param(r, "cursor").value_or(""));
    Json links = Json::array({link("self", k_geojson, self),
                              link("collection", "application/json", base + r.path.substr(0, r.path.size() - 6))});
    if (!next_cursor.empty()) {
      links.push_back(link("next", k_geojson, url_with(r, base, "cursor", next_cursor), "next page"));
    }
    const std::size_t n = features.size();
    Json body{{"type", "FeatureCollection"},
              {"timeStamp", format_iso8601(std::chrono::system_clock::now())},
              {"numberMatched", matched},
              {"numberReturned", n},
              {"features", std::move(features)},
              {"links", std::move(links)}};
    return json_response(body, 200, k_geojson);
  }

  Response incident_items(const Request& r, std::size_t limit, const BboxOptions& bbox, const TimeInterval& when,
                          const OgcCrs& crs, std::int64_t cursor) const {
    service::IncidentService& svc = *m_incidents;
    storage::IncidentQuery q;
    storage::IncidentFilter& f = q.filter;
    f = incident_filter_of(r, svc, bbox);
    // datetime narrows the created range; the store's upper bound is
    // exclusive, datetime's inclusive.
    auto after = [](const std::string& t) {
      return format_iso8601(*try_parse_time(t, 0) + std::chrono::milliseconds(1));
    };
    const std::string from = when.instant ? *when.instant : when.from;
    const std::string to = when.instant ? after(*when.instant) : when.to.empty() ? std::string() : after(when.to);
    if (!from.empty() && (f.created_from.empty() || from > f.created_from)) f.created_from = from;
    if (!to.empty() && (f.created_to.empty() || to < f.created_to)) f.created_to = to;
    q.sort = storage::IncidentSort::oldest;  // new incidents land after the last page
    q.limit = limit;
    if (cursor > 0) q.after = storage::IncidentCursor{0, {}, cursor};
    const TimePoint now = svc.now();
    const auto page = svc.list(q, now);
    std::vector<Json> features;
    features.reserve(page.items.size());
    for (const auto& i : page.items) {
      features.push_back(incident_ogc_feature(i, now));
      feature_out(features.back(), crs);
    }
    const std::int64_t matched = svc.count(f, now);
    return page_response(r, std::move(features), matched,
                         page.next ? std::to_string(page.next->id) : std::string());
  }

  /// An incident as every endpoint renders it, without personal data.
  [[nodiscard]] Json incident_ogc_feature(const Incident& i, TimePoint now) const {
    Json f = incident_feature(*m_incidents, i, now);
    Json& p = f["properties"];
    p.erase("reporter");
    p.erase("allowed_actions");
    if (p.contains("assignment")) {
      Json a = p["assignment"];
      p.erase("assignment");
      p["grid_id"] = i.grid_id == 0 ? Json(nullptr) : Json(i.grid_id);
      p["grid_code"] = i.grid_code.empty() ? Json(nullptr) : Json(i.grid_code);
      p["grid_name"] = i.grid_name.empty() ? Json(nullptr) : Json(i.grid_name);
      p["covered"] = a.value("covered", true);
      p["distance_m"] = a.contains("distance_m") ? a["distance_m"] : Json(nullptr);
      p["handler"] = a.contains("handler") ? a["handler"] : Json(nullptr);
      p["escalation_level"] = a.value("escalation_level", 0);
      p["chain"] = a.contains("chain") ? a["chain"] : Json::array();
    }
    return f;
  }

  const service::Catalog& m_catalog;
  service::IncidentService* m_incidents;
  service::TileService* m_tiles;
  OgcOptions m_options;
};

/// Run a handler; a gridd::Error becomes the OGC exception body (internal
/// errors go on to the router, which logs them and answers 500).
template <class Fn>
Handler guarded(Fn fn) {
  return [fn](const Request& r, const PathParams& p) -> Response {
    try {
      return fn(r, p);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::internal) throw;
      return ogc_error(http_status(e.kind()), e.code(), e.what(), e.field());
    }
  };
}

}  // namespace

Response ogc_error(int status, const std::string& code, const std::string& message, const std::string& field) {
  Json body{{"code", code}, {"description", message}, {"message", message}};
  body["field"] = field.empty() ? Json(nullptr) : Json(field);
  return json_response(body, status);
}

void add_ogc_routes(Router& router, const ApiContext& ctx, OgcOptions options) {
  auto ogc = std::make_shared<Ogc>(ctx.catalog, ctx.incidents, ctx.tiles, options);
  ogc->private_station_contacts = ctx.options.private_station_contacts;
  router.add("GET", "/", guarded([ogc](const Request& r, const PathParams&) { return ogc->landing(r); }));
  router.add("GET", "/conformance", guarded([ogc](const Request& r, const PathParams&) { return ogc->conformance(r); }));
  router.add("GET", "/collections", guarded([ogc](const Request& r, const PathParams&) { return ogc->collections(r); }));
  router.add("GET", "/collections/{collectionId}",
             guarded([ogc](const Request& r, const PathParams& p) { return ogc->collection(r, p.at("collectionId")); }));
  router.add("GET", "/collections/{collectionId}/items",
             guarded([ogc](const Request& r, const PathParams& p) { return ogc->items(r, p.at("collectionId")); }));
  router.add("GET", "/collections/{collectionId}/items/{featureId}", guarded([ogc](const Request& r, const PathParams& p) {
               return ogc->item(r, p.at("collectionId"), p.at("featureId"));
             }));
}

}  // namespace gridd::api
