// Unit tests for gridd/spatial/crs.hpp. Expected projected values were
// computed independently with the PROJ 9.1.1 command-line tools:
//   echo "39.9 116.4"  | cs2cs -f %.6f EPSG:4326 EPSG:3857
//     -> 12957588.728337  4851421.175183
//   echo "31.2 120.5"  | cs2cs -f %.6f EPSG:4326 EPSG:4549   (northing, easting)
//     -> 3453256.271903   547652.460955
// (EPSG:4326 input to cs2cs is latitude first; EPSG:4549 is "CGCS2000 /
// 3-degree Gauss-Kruger CM 120E", axis order northing, easting.)
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gridd/core/error.hpp"
#include "gridd/spatial/chinese_coords.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "gridd/spatial/geojson.hpp"
#include "unit/test_util.hpp"

namespace gridd::spatial {
namespace {

using test::expect_error;

TEST(Crs, Wgs84AliasesAreIdentity) {
  for (const char* name : {"", "EPSG:4326", "epsg:4326", "WGS84", "CRS84", "OGC:CRS84", "4326"}) {
    const CrsTransform& t = crs_transform(name);
    EXPECT_TRUE(t.is_wgs84()) << name;
    EXPECT_TRUE(t.is_geographic()) << name;
    double x = 116.4, y = 39.9;
    t.to_wgs84(x, y);
    EXPECT_EQ(x, 116.4);
    EXPECT_EQ(y, 39.9);
  }
}

TEST(Crs, WebMercatorKnownValue) {
  const CrsTransform& t = crs_transform("EPSG:3857");
  EXPECT_FALSE(t.is_geographic());
  EXPECT_FALSE(t.is_wgs84());
  double x = 116.4, y = 39.9;
  t.from_wgs84(x, y);
  EXPECT_NEAR(x, 12957588.728337, 1e-4);  // cs2cs, see the file comment
  EXPECT_NEAR(y, 4851421.175183, 1e-4);
  t.to_wgs84(x, y);
  EXPECT_NEAR(x, 116.4, 1e-10);
  EXPECT_NEAR(y, 39.9, 1e-10);
}

TEST(Crs, Cgcs2000GaussKrugerZoneKnownValueAndRoundTrip) {
  const CrsTransform& t = crs_transform("EPSG:4549");
  EXPECT_FALSE(t.is_geographic());
  double x = 120.5, y = 31.2;
  t.from_wgs84(x, y);
  // gridd works east-north whatever the CRS's declared axis order.
  EXPECT_NEAR(x, 547652.460955, 1e-4);   // easting (cs2cs 2nd column)
  EXPECT_NEAR(y, 3453256.271903, 1e-4);  // northing (cs2cs 1st column)
  t.to_wgs84(x, y);
  EXPECT_NEAR(x, 120.5, 1e-10);
  EXPECT_NEAR(y, 31.2, 1e-10);

  // Round trip over the zone's extent (118.5E..121.5E).
  for (double lon = 118.5; lon <= 121.5; lon += 0.25) {
    for (double lat = 20; lat <= 45; lat += 2.5) {
      double px = lon, py = lat;
      t.from_wgs84(px, py);
      t.to_wgs84(px, py);
      EXPECT_LT(geodesic_distance_m(lon, lat, px, py), 1e-6) << lon << " " << lat;
    }
  }
}

TEST(Crs, Cgcs2000GeographicIsPracticallyWgs84) {
  const CrsTransform& t = crs_transform("EPSG:4490");
  EXPECT_TRUE(t.is_geographic());
  for (const auto& [lon, lat] : {std::pair{116.4, 39.9}, {121.5, 31.2}, {87.6, 43.8}}) {
    double x = lon, y = lat;  // east, north: the normalised axis order
    t.to_wgs84(x, y);
    EXPECT_LT(geodesic_distance_m(lon, lat, x, y), 1.0);
  }
}

TEST(Crs, Gcj02AndBd09GoThroughCrsTransform) {
  const CrsTransform& gcj = crs_transform("gcj02");
  EXPECT_FALSE(gcj.is_wgs84());
  EXPECT_TRUE(gcj.is_geographic());
  // eviltransform python/test.py, beijing pair.
  double x = 116.377817, y = 39.911954;
  gcj.from_wgs84(x, y);
  EXPECT_NEAR(x, 116.38404722455657, 1e-9);
  EXPECT_NEAR(y, 39.91334545536069, 1e-9);
  gcj.to_wgs84(x, y);
  EXPECT_NEAR(x, 116.377817, 1e-9);
  EXPECT_NEAR(y, 39.911954, 1e-9);

  // dromara/hutool CoordinateUtilTest.wgs84toBd09Test.
  const CrsTransform& bd = crs_transform("BD09");
  x = 116.404, y = 39.915;
  bd.from_wgs84(x, y);
  EXPECT_NEAR(x, 116.41662724378733, 1e-9);
  EXPECT_NEAR(y, 39.922699552216216, 1e-9);
  bd.to_wgs84(x, y);
  EXPECT_NEAR(x, 116.404, 1e-9);
  EXPECT_NEAR(y, 39.915, 1e-9);

  // Aliases are case-insensitive.
  double ax = 116.377817, ay = 39.911954;
  crs_transform("GCJ-02").from_wgs84(ax, ay);
  EXPECT_NEAR(ax, 116.38404722455657, 1e-9);
  EXPECT_NEAR(ay, 39.91334545536069, 1e-9);
}

TEST(Crs, Gcj02RejectsOutOfRangeInput) {
  double x = 190, y = 39;
  expect_error([&] { crs_transform("gcj02").to_wgs84(x, y); }, ErrorKind::invalid_input, "coordinate_out_of_range",
               "coordinates");
  x = 116, y = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { crs_transform("bd09").to_wgs84(x, y); }, ErrorKind::invalid_input, "coordinate_out_of_range");
}

TEST(Crs, ProjRejectsNonFiniteInput) {
  double x = std::numeric_limits<double>::infinity(), y = 0;
  expect_error([&] { crs_transform("EPSG:3857").to_wgs84(x, y); }, ErrorKind::invalid_input,
               "coordinate_out_of_range");
}

TEST(Crs, UnknownCrsIsInvalidInputNamingTheCrsField) {
  for (const char* bad : {"EPSG:999999", "not a crs", "gcj03", "+proj=nonsense"}) {
    const std::string msg =
        expect_error([&] { (void)crs_transform(bad); }, ErrorKind::invalid_input, "unknown_crs", "crs");
    EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  }
}

TEST(Crs, GeometryTransformsToAndFromWgs84) {
  const GeomPtr wgs = test::box_geom(116.4, 39.9, 116.5, 40.0);
  const GeomPtr merc = from_wgs84(wgs.get(), "EPSG:3857");
  const Envelope e = envelope_of(merc.get());
  EXPECT_NEAR(e.minx, 12957588.728337, 1e-4);
  EXPECT_NEAR(e.miny, 4851421.175183, 1e-4);
  const GeomPtr back = to_wgs84(merc.get(), "EPSG:3857");
  const Envelope b = envelope_of(back.get());
  EXPECT_NEAR(b.minx, 116.4, 1e-10);
  EXPECT_NEAR(b.maxy, 40.0, 1e-10);
  // WGS84 is a plain copy.
  const GeomPtr same = to_wgs84(wgs.get(), "EPSG:4326");
  EXPECT_EQ(GEOSEqualsExact_r(geos(), same.get(), wgs.get(), 0), 1);
  // An unknown CRS fails before anything is transformed.
  expect_error([&] { (void)to_wgs84(wgs.get(), "EPSG:0"); }, ErrorKind::invalid_input, "unknown_crs", "crs");
}

TEST(Crs, CheckLonLatRejectsNonFiniteAndOutOfRange) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::pair<double, double> bad[] = {{nan, 0},  {0, nan},      {inf, 0},   {0, -inf},
                                           {180.000001, 0}, {-180.5, 0}, {0, 90.0001}, {0, -91}};
  for (const auto& p : bad) {
    expect_error([&] { check_lon_lat(p.first, p.second, "features/0/geometry"); }, ErrorKind::invalid_input,
                 "coordinate_out_of_range", "features/0/geometry");
  }
  EXPECT_NO_THROW(check_lon_lat(180, 90, "f"));
  EXPECT_NO_THROW(check_lon_lat(-180, -90, "f"));
  EXPECT_NO_THROW(check_lon_lat(0, 0, "f"));
}

}  // namespace
}  // namespace gridd::spatial
