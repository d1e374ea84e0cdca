#include "gridd/api/tile_api.hpp"

#include <cmath>

#include "gridd/core/error.hpp"

namespace gridd::api {

namespace {

Response json_response(const Json& body) {
  Response r;
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

/// "http://host" from the Host header, or "" (relative URLs) without one.
std::string base_url(const Request& r) {
  const std::string* host = r.header("host");
  if (!host || host->empty()) return {};
  for (char c : *host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '-' || c == '[' || c == ']')) return {};
  }
  const std::string* proto = r.header("x-forwarded-proto");
  const std::string scheme = proto && (*proto == "https" || *proto == "http") ? *proto : "http";
  return scheme + "://" + *host;
}

Json fields_of(const std::string& layer) {
  if (layer.rfind("grids_", 0) == 0) {
    return Json{{"id", "Number"}, {"code", "String"}, {"name", "String"}, {"level", "String"},
                {"parent", "String"}, {"worker", "String"}, {"households", "Number"}};
  }
  if (layer == "grid_labels") return Json{{"id", "Number"}, {"code", "String"}, {"name", "String"}, {"level", "String"}};
  if (layer == "stations") {
    return Json{{"id", "Number"}, {"code", "String"}, {"name", "String"}, {"kind", "String"}, {"address", "String"},
                {"hours", "String"}};
  }
  return Json{{"id", "Number"},        {"category", "String"}, {"category_name", "String"}, {"group", "String"},
              {"status", "String"},    {"colour", "String"},   {"priority", "String"},      {"age_hours", "Number"},
              {"grid_code", "String"}, {"covered", "Boolean"}, {"cluster", "Boolean"},      {"count", "Number"},
              {"overdue", "Number"},   {"due_today", "Number"}, {"near_due", "Number"},     {"on_track", "Number"}};
}

Json source_json(const service::TileSourceInfo& s, const std::string& base) {
  return Json{{"name", s.name},
              {"kind", s.kind},
              {"title", s.title},
              {"formats", s.formats},
              {"layers", s.layers},
              {"minzoom", s.minzoom},
              {"maxzoom", s.maxzoom},
              {"bounds", Json::array({s.bounds.minx, s.bounds.miny, s.bounds.maxx, s.bounds.maxy})},
              {"healthy", s.healthy},
              {"reason", s.reason.empty() ? Json(nullptr) : Json(s.reason)},
              {"tilejson", base + "/tiles/" + s.name + ".json"}};
}

}  // namespace

bool is_tile_request(const Request& r) { return r.path.rfind("/tiles/", 0) == 0 && r.path.size() > 7; }

void add_tile_routes(Router& router, service::TileService& tiles) {
  router.add("GET", "/tiles", [&tiles](const Request& r, const PathParams&) {
    Json list = Json::array();
    const std::string base = base_url(r);
    for (const auto& s : tiles.sources()) list.push_back(source_json(s, base));
    const auto st = tiles.cache_stats();
    return json_response(Json{{"sources", std::move(list)},
                              {"cache", {{"entries", st.entries}, {"bytes", st.bytes}, {"max_bytes", st.max_bytes},
                                         {"hits", st.hits}, {"misses", st.misses},
                                         {"evicted_by_changes", st.evicted_by_changes}}}});
  });

  // TileJSON 3.0.0.
  router.add("GET", "/tiles/{file}", [&tiles](const Request& r, const PathParams& p) {
    const std::string file = p.at("file");
    if (file.size() <= 5 || file.compare(file.size() - 5, 5, ".json") != 0) {
      throw_not_found("not_found", "no route for " + r.path + " (TileJSON is /tiles/{source}.json)", "path");
    }
    const auto s = tiles.source(file.substr(0, file.size() - 5));
    const std::string base = base_url(r);
    const std::string ext = s.kind == "raster" ? "png" : "mvt";
    Json j{{"tilejson", "3.0.0"},
           {"name", s.name},
           {"description", s.title},
           {"scheme", "xyz"},
           {"tiles", Json::array({base + "/tiles/" + s.name + "/{z}/{x}/{y}." + ext})},
           {"minzoom", s.minzoom},
           {"maxzoom", s.maxzoom},
           {"bounds", Json::array({s.bounds.minx, s.bounds.miny, s.bounds.maxx, s.bounds.maxy})},
           {"center", Json::array({(s.bounds.minx + s.bounds.maxx) / 2, (s.bounds.miny + s.bounds.maxy) / 2,
                                   std::min(s.maxzoom, 12)})}};
    if (!s.attribution.empty()) j["attribution"] = s.attribution;
    if (s.kind == "vector") {
      Json layers = Json::array();
      for (const auto& l : s.layers) {
        layers.push_back(Json{{"id", l}, {"fields", fields_of(l)}, {"minzoom", 0}, {"maxzoom", s.maxzoom}});
      }
      j["vector_layers"] = std::move(layers);
    }
    return json_response(j);
  });

  router.add("GET", "/tiles/{source}/{z}/{x}/{file}", [&tiles](const Request& r, const PathParams& p) {
    const std::string& file = p.at("file");
    const auto dot = file.rfind('.');
    if (dot == std::string::npos) throw_invalid("unsupported_format", "a tile path ends in .png, .jpg, .webp or .mvt", "format");
    std::string y = file.substr(0, dot);
    const std::string format = file.substr(dot + 1);
    int size = 256;
    if (y.size() > 3 && y.compare(y.size() - 3, 3, "@2x") == 0) {
      y.resize(y.size() - 3);
      size = 512;
    }
    const spatial::TileId t = spatial::parse_tile(p.at("z"), p.at("x"), y);
    const service::TileAnswer a = tiles.tile(p.at("source"), t, format, size);
    Response res;
    res.headers.emplace_back("ETag", a.etag);
    res.headers.emplace_back("Cache-Control", a.max_age > 0 ? "public, max-age=" + std::to_string(a.max_age)
                                                             : std::string("no-cache"));
    res.headers.emplace_back("X-Tile-Cache", a.cached ? "hit" : "miss");
    if (const std::string* inm = r.header("if-none-match"); inm && *inm == a.etag) {
      res.status = 304;
      res.content_type.clear();
      return res;
    }
    res.content_type = a.content_type;
    res.body = *a.body;
    return res;
  });
}

}  // namespace gridd::api
