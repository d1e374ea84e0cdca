// Unit tests for gridd/spatial/geojson.hpp: every geometry type, structural
// errors with JSON-pointer fields, and lossless round trips.
#include <gtest/gtest.h>

#include "gridd/core/error.hpp"
#include "gridd/spatial/geojson.hpp"
#include "unit/test_util.hpp"

namespace gridd::spatial {
namespace {

using test::expect_error;

struct Case {
  const char* json;
  int geos_type;
};

TEST(GeoJson, ParsesEveryTypeAndRoundTripsExactly) {
  const Case cases[] = {
      {R"({"type":"Point","coordinates":[116.123456789012345,39.987654321098765]})", GEOS_POINT},
      {R"({"type":"LineString","coordinates":[[116,39],[116.5,39.5],[117,39.25]]})", GEOS_LINESTRING},
      {R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[2,2],[2,4],[4,4],[4,2],[2,2]]]})",
       GEOS_POLYGON},
      {R"({"type":"MultiPoint","coordinates":[[1,2],[3,4]]})", GEOS_MULTIPOINT},
      {R"({"type":"MultiLineString","coordinates":[[[0,0],[1,1]],[[2,2],[3,3],[4,2]]]})", GEOS_MULTILINESTRING},
      {R"({"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,6],[5,5]]]]})",
       GEOS_MULTIPOLYGON},
      {R"({"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[1,2]},{"type":"LineString","coordinates":[[0,0],[1,1]]}]})",
       GEOS_GEOMETRYCOLLECTION},
  };
  for (const auto& c : cases) {
    const Json in = Json::parse(c.json);
    const GeomPtr g = geometry_from_geojson(in);
    ASSERT_TRUE(g) << c.json;
    EXPECT_EQ(type_id(g.get()), c.geos_type) << c.json;
    EXPECT_EQ(geometry_to_geojson(g.get()), in) << c.json;  // exact doubles, same structure
    // And through WKB, which is how grids are stored.
    const GeomPtr w = from_wkb(to_wkb(g.get()));
    EXPECT_EQ(geometry_to_geojson(w.get()), in) << c.json;
  }
}

TEST(GeoJson, PolygonRingsAndHolesAreKept) {
  const GeomPtr g = geometry_from_geojson(Json::parse(
      R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[2,2],[2,4],[4,4],[4,2],[2,2]]]})"));
  EXPECT_EQ(GEOSGetNumInteriorRings_r(geos(), g.get()), 1);
  double area = 0;
  GEOSArea_r(geos(), g.get(), &area);
  EXPECT_DOUBLE_EQ(area, 100 - 4);
}

TEST(GeoJson, ThirdCoordinateIsDropped) {
  const GeomPtr g = geometry_from_geojson(Json::parse(R"({"type":"Point","coordinates":[1,2,30]})"));
  EXPECT_EQ(geometry_to_geojson(g.get()), Json::parse(R"({"type":"Point","coordinates":[1,2]})"));
}

TEST(GeoJson, DecimalsRoundOutput) {
  const GeomPtr g = geometry_from_geojson(Json::parse(R"({"type":"Point","coordinates":[116.1234567891,39.9876543219]})"));
  const Json out = geometry_to_geojson(g.get(), 6);
  EXPECT_DOUBLE_EQ(out["coordinates"][0].get<double>(), 116.123457);
  EXPECT_DOUBLE_EQ(out["coordinates"][1].get<double>(), 39.987654);
}

TEST(GeoJson, RingNotClosed) {
  const Json j = Json::parse(R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]})");
  expect_error([&] { (void)geometry_from_geojson(j); }, ErrorKind::invalid_input, "ring_not_closed",
               "geometry/coordinates/0");
  // A hole that does not close is reported at its own index.
  const Json hole = Json::parse(
      R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[2,2],[2,4],[4,4],[4,2],[2,3]]]})");
  expect_error([&] { (void)geometry_from_geojson(hole, "features/4/geometry"); }, ErrorKind::invalid_input,
               "ring_not_closed", "features/4/geometry/coordinates/1");
  // And in a MultiPolygon, under the polygon's index.
  const Json multi = Json::parse(
      R"({"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,6],[5,5.5]]]]})");
  expect_error([&] { (void)geometry_from_geojson(multi); }, ErrorKind::invalid_input, "ring_not_closed",
               "geometry/coordinates/1/0");
}

TEST(GeoJson, TooFewPositions) {
  const std::string msg = expect_error(
      [] { (void)geometry_from_geojson(Json::parse(R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]})")); },
      ErrorKind::invalid_input, "invalid_geometry", "geometry/coordinates/0");
  EXPECT_NE(msg.find("at least 4"), std::string::npos) << msg;
  expect_error([] { (void)geometry_from_geojson(Json::parse(R"({"type":"LineString","coordinates":[[0,0]]})")); },
               ErrorKind::invalid_input, "invalid_geometry", "geometry/coordinates");
  expect_error([] { (void)geometry_from_geojson(Json::parse(R"({"type":"Polygon","coordinates":[]})")); },
               ErrorKind::invalid_input, "invalid_geometry", "geometry/coordinates");
  expect_error([] { (void)geometry_from_geojson(Json::parse(R"({"type":"Point","coordinates":[1]})")); },
               ErrorKind::invalid_input, "invalid_geometry", "geometry/coordinates");
}

TEST(GeoJson, NonNumberCoordinateNamesItsPosition) {
  const Json j = Json::parse(R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,"1"],[0,1],[0,0]]]})");
  expect_error([&] { (void)geometry_from_geojson(j); }, ErrorKind::invalid_input, "invalid_geometry",
               "geometry/coordinates/0/2/1");
  const Json p = Json::parse(R"({"type":"MultiPoint","coordinates":[[1,2],[null,4]]})");
  expect_error([&] { (void)geometry_from_geojson(p); }, ErrorKind::invalid_input, "invalid_geometry",
               "geometry/coordinates/1/0");
  const Json pos = Json::parse(R"({"type":"LineString","coordinates":[[0,0],"1,1"]})");
  expect_error([&] { (void)geometry_from_geojson(pos); }, ErrorKind::invalid_input, "invalid_geometry",
               "geometry/coordinates/1");
}

TEST(GeoJson, UnknownOrMissingTypeAndMissingCoordinates) {
  expect_error([] { (void)geometry_from_geojson(Json::parse(R"({"type":"Circle","coordinates":[0,0]})")); },
               ErrorKind::invalid_input, "invalid_geometry", "geometry/type");
  expect_error([] { (void)geometry_from_geojson(Json::parse(R"({"type":7,"coordinates":[0,0]})")); },
               ErrorKind::invalid_input, "invalid_geometry", "geometry/type");
  const std::string msg =
      expect_error([] { (void)geometry_from_geojson(Json::parse(R"({"type":"Polygon"})")); },
                   ErrorKind::invalid_input, "invalid_geometry", "geometry");
  EXPECT_NE(msg.find("coordinates"), std::string::npos) << msg;
  expect_error([] { (void)geometry_from_geojson(Json::parse(R"({"coordinates":[0,0]})")); },
               ErrorKind::invalid_input, "invalid_geometry", "geometry");
  expect_error([] { (void)geometry_from_geojson(Json::array({1, 2})); }, ErrorKind::invalid_input,
               "invalid_geometry", "geometry");
  expect_error(
      [] {
        (void)geometry_from_geojson(Json::parse(
            R"({"type":"GeometryCollection","geometries":[{"type":"Point","coordinates":[0,0]},{"type":"Point"}]})"));
      },
      ErrorKind::invalid_input, "invalid_geometry", "geometry/geometries/1");
}

TEST(GeoJson, ForEachXyVisitsEveryCoordinate) {
  const GeomPtr g = geometry_from_geojson(Json::parse(
      R"({"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,6],[5,5]],[[5.2,5.2],[5.2,5.4],[5.4,5.4],[5.2,5.2]]]]})"));
  int n = 0;
  double sx = 0;
  for_each_xy(g.get(), [&](double x, double) {
    ++n;
    sx += x;
  });
  EXPECT_EQ(n, 4 + 5 + 4);
  EXPECT_DOUBLE_EQ(sx, 0 + 1 + 1 + 0 + 5 + 6 + 6 + 5 + 5 + 5.2 + 5.2 + 5.4 + 5.2);
}

}  // namespace
}  // namespace gridd::spatial
