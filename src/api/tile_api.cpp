#include "gridd/api/tile_api.hpp"

#include <cmath>
#include <cstdio>

#include "gridd/api/params.hpp"
#include "gridd/api/scope.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/service/tiles.hpp"

namespace gridd::api {

namespace {

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

constexpr double k_top_scale = 559082264.0287178;  // WebMercatorQuad scale denominator at zoom 0
constexpr double k_origin = 20037508.3427892;

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

/// WMTS 1.0.0 capabilities (REST and KVP) for the raster sources.
std::string wmts_capabilities(service::TileService& tiles, const std::string& base) {
  std::string x;
  x += R"(<?xml version="1.0" encoding="UTF-8"?>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd" version="1.0.0">
  <ows:ServiceIdentification><ows:Title>gridd</ows:Title><ows:ServiceType>OGC WMTS</ows:ServiceType><ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion></ows:ServiceIdentification>
  <ows:OperationsMetadata>
    <ows:Operation name="GetCapabilities"><ows:DCP><ows:HTTP><ows:Get xlink:href=")" + xml_escape(base) + R"(/wmts?"><ows:Constraint name="GetEncoding"><ows:AllowedValues><ows:Value>KVP</ows:Value></ows:AllowedValues></ows:Constraint></ows:Get></ows:HTTP></ows:DCP></ows:Operation>
    <ows:Operation name="GetTile"><ows:DCP><ows:HTTP><ows:Get xlink:href=")" + xml_escape(base) + R"(/wmts?"><ows:Constraint name="GetEncoding"><ows:AllowedValues><ows:Value>KVP</ows:Value></ows:AllowedValues></ows:Constraint></ows:Get></ows:HTTP></ows:DCP></ows:Operation>
  </ows:OperationsMetadata>
  <Contents>
)";
  int maxzoom = 0;
  for (const auto& s : tiles.sources()) {
    if (s.kind != "raster" || !s.healthy) continue;
    maxzoom = std::max(maxzoom, s.maxzoom);
    char bbox[256];
    std::snprintf(bbox, sizeof bbox,
                  "<ows:WGS84BoundingBox><ows:LowerCorner>%.8f %.8f</ows:LowerCorner><ows:UpperCorner>%.8f %.8f</ows:UpperCorner></ows:WGS84BoundingBox>",
                  s.bounds.minx, s.bounds.miny, s.bounds.maxx, s.bounds.maxy);
    x += "    <Layer>\n      <ows:Title>" + xml_escape(s.title) + "</ows:Title>\n      " + bbox +
         "\n      <ows:Identifier>" + xml_escape(s.name) + "</ows:Identifier>\n";
    x += "      <Style isDefault=\"true\"><ows:Identifier>default</ows:Identifier></Style>\n";
    for (const char* f : {"image/png", "image/jpeg", "image/webp"}) x += std::string("      <Format>") + f + "</Format>\n";
    x += "      <TileMatrixSetLink><TileMatrixSet>WebMercatorQuad</TileMatrixSet></TileMatrixSetLink>\n";
    for (const auto& [fmt, ext] : std::vector<std::pair<std::string, std::string>>{{"image/png", "png"}, {"image/jpeg", "jpg"}, {"image/webp", "webp"}}) {
      x += "      <ResourceURL format=\"" + fmt + "\" resourceType=\"tile\" template=\"" + xml_escape(base) + "/tiles/" +
           xml_escape(s.name) + "/{TileMatrix}/{TileCol}/{TileRow}." + ext + "\"/>\n";
    }
    x += "    </Layer>\n";
  }
  x += "    <TileMatrixSet>\n      <ows:Identifier>WebMercatorQuad</ows:Identifier>\n"
       "      <ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>\n"
       "      <WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>\n";
  for (int z = 0; z <= std::max(maxzoom, 18); ++z) {
    char m[512];
    const unsigned long n = 1ul << z;
    std::snprintf(m, sizeof m,
                  "      <TileMatrix><ows:Identifier>%d</ows:Identifier><ScaleDenominator>%.10f</ScaleDenominator>"
                  "<TopLeftCorner>%.7f %.7f</TopLeftCorner><TileWidth>256</TileWidth><TileHeight>256</TileHeight>"
                  "<MatrixWidth>%lu</MatrixWidth><MatrixHeight>%lu</MatrixHeight></TileMatrix>\n",
                  z, k_top_scale / static_cast<double>(n), -k_origin, k_origin, n, n);
    x += m;
  }
  x += "    </TileMatrixSet>\n  </Contents>\n  <ServiceMetadataURL xlink:href=\"" + xml_escape(base) +
       "/wmts/1.0.0/WMTSCapabilities.xml\"/>\n</Capabilities>\n";
  return x;
}

/// The OGC TileMatrixSet 2.0 description of WebMercatorQuad.
Json web_mercator_quad() {
  Json matrices = Json::array();
  for (int z = 0; z <= 24; ++z) {
    const double n = std::pow(2.0, z);
    matrices.push_back(Json{{"id", std::to_string(z)},
                            {"scaleDenominator", k_top_scale / n},
                            {"cellSize", 2 * k_origin / (256 * n)},
                            {"cornerOfOrigin", "topLeft"},
                            {"pointOfOrigin", Json::array({-k_origin, k_origin})},
                            {"tileWidth", 256},
                            {"tileHeight", 256},
                            {"matrixWidth", static_cast<std::uint64_t>(n)},
                            {"matrixHeight", static_cast<std::uint64_t>(n)}});
  }
  return Json{{"id", "WebMercatorQuad"},
              {"title", "Google Maps Compatible for the World"},
              {"uri", "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"},
              {"crs", "http://www.opengis.net/def/crs/EPSG/0/3857"},
              {"orderedAxes", Json::array({"E", "N"})},
              {"wellKnownScaleSet", "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible"},
              {"tileMatrices", std::move(matrices)}};
}

Response tile_response(service::TileService& tiles, const Request& r, const std::string& source,
                       const spatial::TileId& t, const std::string& format, int size);

}  // namespace

bool is_tile_request(const Request& r) {
  if (r.path.rfind("/tiles/", 0) == 0 && r.path.size() > 7) return true;
  if (r.path == "/wmts") return true;
  return r.path.rfind("/collections/", 0) == 0 && r.path.find("/tiles/WebMercatorQuad/") != std::string::npos;
}

void add_tile_routes(Router& router, const ApiContext& ctx) {
  if (!ctx.tiles) return;
  service::TileService& tiles = *ctx.tiles;
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
    return tile_response(tiles, r, p.at("source"), spatial::parse_tile(p.at("z"), p.at("x"), y), format, size);
  });

  // WMTS 1.0.0: REST capabilities, and KVP GetCapabilities / GetTile.
  router.add("GET", "/wmts/1.0.0/WMTSCapabilities.xml", [&tiles](const Request& r, const PathParams&) {
    Response res;
    res.content_type = "application/xml";
    res.body = wmts_capabilities(tiles, base_url(r));
    return res;
  });
  router.add("GET", "/wmts", [&tiles](const Request& r, const PathParams&) {
    // KVP names are case-insensitive.
    auto kvp = [&](const std::string& name) -> std::string {
      for (const auto& [k, v] : r.query) {
        if (iequals(k, name)) return v;
      }
      return {};
    };
    const std::string request = kvp("request");
    if (request == "GetCapabilities" || request.empty()) {
      Response res;
      res.content_type = "application/xml";
      res.body = wmts_capabilities(tiles, base_url(r));
      return res;
    }
    if (request != "GetTile") throw_invalid("invalid_request", "REQUEST must be GetCapabilities or GetTile", "REQUEST");
    if (!kvp("tilematrixset").empty() && kvp("tilematrixset") != "WebMercatorQuad") {
      throw_invalid("invalid_tile_matrix_set", "the only tile matrix set is WebMercatorQuad", "TILEMATRIXSET");
    }
    const std::string fmt = kvp("format");
    const std::string ext = fmt == "image/jpeg" ? "jpg" : fmt == "image/webp" ? "webp" : fmt.empty() || fmt == "image/png" ? "png" : "";
    if (ext.empty()) throw_invalid("unsupported_format", "FORMAT must be image/png, image/jpeg or image/webp", "FORMAT");
    return tile_response(tiles, r, kvp("layer"),
                         spatial::parse_tile(kvp("tilematrix"), kvp("tilecol"), kvp("tilerow")), ext, 256);
  });

  // OGC API - Tiles: the WebMercatorQuad tile matrix set and tile sets per
  // source ("collections" are the tile sources; vector sources are vector
  // tiles, raster sources map tiles).
  router.add("GET", "/tileMatrixSets", [](const Request& r, const PathParams&) {
    const std::string base = base_url(r);
    return json_response(Json{{"tileMatrixSets", Json::array({Json{
        {"id", "WebMercatorQuad"},
        {"title", "Google Maps Compatible for the World"},
        {"uri", "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"},
        {"links", Json::array({Json{{"rel", "self"}, {"type", "application/json"},
                                    {"href", base + "/tileMatrixSets/WebMercatorQuad"}}})}}})}});
  });
  router.add("GET", "/tileMatrixSets/{id}", [](const Request&, const PathParams& p) {
    if (p.at("id") != "WebMercatorQuad") {
      throw_not_found("unknown_tile_matrix_set", "the only tile matrix set is WebMercatorQuad", "tileMatrixSetId");
    }
    return json_response(web_mercator_quad());
  });
  auto tilesets = [&tiles](const Request& r, const std::string& name, bool map) {
    const auto s = tiles.source(name);
    if ((s.kind == "raster") != map) {
      throw_not_found("no_such_tileset", s.kind == "raster" ? "'" + name + "' has map tiles: use /map/tiles"
                                                            : "'" + name + "' has vector tiles: use /tiles",
                      "path");
    }
    const std::string base = base_url(r);
    const std::string prefix = base + "/collections/" + name + (map ? "/map/tiles" : "/tiles");
    const std::string ext = map ? "png" : "mvt";
    return Json{{"title", s.title},
                {"dataType", map ? "map" : "vector"},
                {"crs", "http://www.opengis.net/def/crs/EPSG/0/3857"},
                {"tileMatrixSetURI", "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"},
                {"links", Json::array({Json{{"rel", "self"}, {"type", "application/json"}, {"href", prefix + "/WebMercatorQuad"}},
                                       Json{{"rel", "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"},
                                            {"href", base + "/tileMatrixSets/WebMercatorQuad"}},
                                       Json{{"rel", "item"},
                                            {"type", map ? "image/png" : "application/vnd.mapbox-vector-tile"},
                                            {"templated", true},
                                            {"href", prefix + "/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}?f=" + ext}}})},
                {"boundingBox", Json{{"lowerLeft", Json::array({s.bounds.minx, s.bounds.miny})},
                                     {"upperRight", Json::array({s.bounds.maxx, s.bounds.maxy})},
                                     {"crs", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}}};
  };
  for (const bool map : {false, true}) {
    const std::string kind = map ? "/map/tiles" : "/tiles";
    router.add("GET", "/collections/{source}" + kind, [tilesets, map](const Request& r, const PathParams& p) {
      return json_response(Json{{"tilesets", Json::array({tilesets(r, p.at("source"), map)})}});
    });
    router.add("GET", "/collections/{source}" + kind + "/{tms}", [tilesets, map](const Request& r, const PathParams& p) {
      if (p.at("tms") != "WebMercatorQuad") {
        throw_not_found("unknown_tile_matrix_set", "the only tile matrix set is WebMercatorQuad", "tileMatrixSetId");
      }
      return json_response(tilesets(r, p.at("source"), map));
    });
    router.add("GET", "/collections/{source}" + kind + "/{tms}/{z}/{row}/{col}",
               [&tiles, map](const Request& r, const PathParams& p) {
                 if (p.at("tms") != "WebMercatorQuad") {
                   throw_not_found("unknown_tile_matrix_set", "the only tile matrix set is WebMercatorQuad", "tileMatrixSetId");
                 }
                 const auto s = tiles.source(p.at("source"));
                 if ((s.kind == "raster") != map) throw_not_found("no_such_tileset", "no such tile set", "path");
                 std::string f;
                 for (const auto& [k, v] : r.query) {
                   if (k == "f") f = v;
                 }
                 if (f.empty()) f = map ? "png" : "mvt";
                 if (f == "jpeg") f = "jpg";
                 return tile_response(tiles, r, p.at("source"), spatial::parse_tile(p.at("z"), p.at("col"), p.at("row")),
                                      f, 256);
               });
  }
}

namespace {

Response tile_response(service::TileService& tiles, const Request& r, const std::string& source,
                       const spatial::TileId& t, const std::string& format, int size) {
  {
    // A token limited to a subtree sees its own incidents only: its tiles
    // are its own (cached apart on the server, private for caches between).
    const auto scope = principal_scope(r, tiles.catalog());
    const service::TileAnswer a = tiles.tile(source, t, format, size, scope);
    Response res;
    res.headers.emplace_back("ETag", a.etag);
    res.headers.emplace_back("Cache-Control", scope                ? std::string("private, no-cache")
                                              : a.max_age > 0 ? "public, max-age=" + std::to_string(a.max_age)
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
  }
}

}  // namespace

}  // namespace gridd::api
