// libFuzzer target: the GeoJSON reader of POST/PUT /grids and /stations.
// The input is a request body: parse_json, features_of, then every feature
// through grid_input and station_input (properties, people, attributes, the
// geometry via spatial::geometry_from_geojson and a CRS transform to WGS84),
// validate_grid_input, the geodesic area, and the geometry written back as
// GeoJSON and read again (the same coordinates).
//
// A gridd::Error is the promised answer to bad input; any other exception
// escaping, a sanitizer report or a broken invariant is a bug (abort).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "gridd/api/features.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "gridd/spatial/geojson.hpp"

namespace {

using gridd::Json;

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_geojson: %s %s\n", what, detail.c_str());
  std::abort();
}

std::vector<double> coordinates(const GEOSGeometry* g) {
  std::vector<double> out;
  gridd::spatial::for_each_xy(g, [&](double x, double y) {
    out.push_back(x);
    out.push_back(y);
  });
  return out;
}

/// Writing a parsed geometry as GeoJSON and reading it back keeps every coordinate.
void check_round_trip(const GEOSGeometry* g) {
  const Json written = gridd::spatial::geometry_to_geojson(g);
  gridd::spatial::GeomPtr again;
  try {
    again = gridd::spatial::geometry_from_geojson(Json::parse(written.dump()));
  } catch (const gridd::Error& e) {
    fail("gridd wrote GeoJSON it cannot read:", std::string(e.what()) + " in " + written.dump());
  }
  if (gridd::spatial::type_id(again.get()) != gridd::spatial::type_id(g) || coordinates(again.get()) != coordinates(g)) {
    fail("GeoJSON round trip changed the geometry:", written.dump());
  }
}

void exercise(const Json& feature, const std::string& where, const std::string& crs) {
  try {
    gridd::service::GridInput in = gridd::api::grid_input(feature, where, crs);
    gridd::service::validate_grid_input(in);
    const double area = gridd::spatial::geodesic_area_m2(in.geometry.get());
    if (!std::isfinite(area) || area < 0) fail("the area of a valid grid is not a finite non-negative number");
  } catch (const gridd::Error&) {
  }
  try {
    const gridd::service::StationInput in = gridd::api::station_input(feature, where, crs);
    if (!std::isfinite(in.station.lon) || !std::isfinite(in.station.lat)) fail("a station position is not finite");
  } catch (const gridd::Error&) {
  }
  try {
    const auto it = feature.find("geometry");
    if (it != feature.end()) {
      gridd::spatial::GeomPtr g = gridd::spatial::geometry_from_geojson(*it, where);
      check_round_trip(g.get());
    }
  } catch (const gridd::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The CRS of a write comes from ?crs=; here from the input's length, so
  // each input always takes the same path.
  static const char* const crss[] = {"", "gcj02", "bd09", "EPSG:3857", "EPSG:4490", "EPSG:4549"};
  const std::string crs = crss[size % (sizeof crss / sizeof *crss)];
  try {
    const Json body = gridd::parse_json(std::string_view(reinterpret_cast<const char*>(data), size));
    const std::vector<const Json*> features = gridd::api::features_of(body);
    for (std::size_t i = 0; i < features.size() && i < 64; ++i) {
      exercise(*features[i], features.size() > 1 ? "features/" + std::to_string(i) : std::string(), crs);
    }
    // The people of any object's "people" member.
    if (const auto it = body.find("people"); it != body.end()) gridd::people_from_json(*it, "people");
  } catch (const gridd::Error&) {
    // bad input, answered as a 4xx
  } catch (const std::exception& e) {
    fail("an exception other than gridd::Error escaped:", e.what());
  }
  return 0;
}
