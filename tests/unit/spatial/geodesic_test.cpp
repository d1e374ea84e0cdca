// Unit tests for gridd/spatial/geodesic.hpp. Reference values were computed
// independently:
//   echo "39.9 116.4 31.2 121.5" | geod +ellps=WGS84 -I +units=m -F %.6f
//     -> 1069819.450792 m                                     (PROJ 9.1.1)
//   area of the lon/lat quadrangle [116, 116.01] x [35, 35.01] on WGS84:
//     A = b^2/2 * dlon * (q(lat2) - q(lat1)),
//     q(p) = sin p/(1 - e^2 sin^2 p) + 1/(2e) ln((1 + e sin p)/(1 - e sin p))
//     -> 1012695.423712 m^2 (python3, closed-form authalic formula)
//   [116, 116.1] x [35, 35.1] -> 101214798.322404 m^2
//   [116.05, 116.06] x [35.05, 35.06] -> 1012087.260131 m^2
//   short distances, same geod command (lat1 lon1 lat2 lon2 -> metres):
//     39.9 116.4 39.93 116.45 -> 5419.498646     39.9 116.4 40.3 116.4 -> 44414.622292
//     39.9 116.4 39.9 116.84  -> 37628.011035    39.9 116.4 40.2 116.7 -> 42011.051550
//     79.5 10 79.9 10.44      -> 45518.876963    79.9 10 80.3 10.3     -> 45034.031378
//     0 0 0.3 0.3             -> 47070.936186    50 179.9 50 -179.9    -> 14339.146451
//     -22.9 -43.17 -22.7 -42.9 -> 35482.896027   60 25 60.001 25.001   -> 124.604357
//     35 135 35.44 135.44     -> 63147.969892
// The geodesic polygon's edges along parallels bow slightly poleward; for
// these sizes the difference from the quadrangle is ~1e-5 relative.
#include <gtest/gtest.h>

#include <random>

#include "gridd/spatial/geodesic.hpp"
#include "gridd/spatial/geojson.hpp"
#include "unit/test_util.hpp"

namespace gridd::spatial {
namespace {

TEST(Geodesic, DistanceMatchesGeodCli) {
  EXPECT_NEAR(geodesic_distance_m(116.4, 39.9, 121.5, 31.2), 1069819.450792, 1e-5);
  EXPECT_NEAR(geodesic_distance_m(121.5, 31.2, 116.4, 39.9), 1069819.450792, 1e-5);  // symmetric
  EXPECT_EQ(geodesic_distance_m(116.4, 39.9, 116.4, 39.9), 0.0);
  // One degree of longitude on the equator is a * pi / 180.
  EXPECT_NEAR(geodesic_distance_m(0, 0, 1, 0), 6378137.0 * 3.14159265358979323846 / 180, 1e-6);
}

TEST(Geodesic, ShortDistancesMeetTheDocumentedAccuracy) {
  // Below 50 km gridd uses local radii of curvature; documented relative
  // error < 1e-5. References: geod (see the file comment).
  struct Pair {
    double lat1, lon1, lat2, lon2, metres;
  };
  const Pair pairs[] = {
      {39.9, 116.4, 39.93, 116.45, 5419.498646},  {39.9, 116.4, 40.3, 116.4, 44414.622292},
      {39.9, 116.4, 39.9, 116.84, 37628.011035},  {39.9, 116.4, 40.2, 116.7, 42011.051550},
      {79.5, 10, 79.9, 10.44, 45518.876963},      {79.9, 10, 80.3, 10.3, 45034.031378},
      {0, 0, 0.3, 0.3, 47070.936186},             {50, 179.9, 50, -179.9, 14339.146451},
      {-22.9, -43.17, -22.7, -42.9, 35482.896027}, {60, 25, 60.001, 25.001, 124.604357},
      {35, 135, 35.44, 135.44, 63147.969892},
  };
  for (const auto& p : pairs) {
    const double d = geodesic_distance_m(p.lon1, p.lat1, p.lon2, p.lat2);
    EXPECT_NEAR(d, p.metres, p.metres * 1e-5) << p.lat1 << " " << p.lon1 << " -> " << p.lat2 << " " << p.lon2;
    EXPECT_NEAR(geodesic_distance_m(p.lon2, p.lat2, p.lon1, p.lat1), p.metres, p.metres * 1e-5) << "reversed";
  }
}

TEST(Geodesic, SphericalIsWithinDocumentedBound) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> lon(-180, 180), lat(-89, 89);
  double worst = 0;
  for (int i = 0; i < 20000; ++i) {
    const double a = lon(rng), b = lat(rng), c = lon(rng), d = lat(rng);
    const double g = geodesic_distance_m(a, b, c, d);
    if (g < 1 || g > 19900000) continue;  // skip near-antipodal pairs, where geodesics are ill-conditioned
    worst = std::max(worst, std::abs(spherical_distance_m(a, b, c, d) / g - 1));
  }
  EXPECT_LT(worst, 0.0056);
  EXPECT_GT(worst, 0.001);  // the sphere is not the ellipsoid: the test has teeth
}

TEST(Geodesic, AreaOfSmallSquareMatchesClosedForm) {
  const GeomPtr sq = test::box_geom(116.0, 35.0, 116.01, 35.01);
  EXPECT_NEAR(geodesic_area_m2(sq.get()), 1012695.423712, 1012695.423712 * 1e-3);
  const GeomPtr big = test::box_geom(116.0, 35.0, 116.1, 35.1);
  EXPECT_NEAR(geodesic_area_m2(big.get()), 101214798.322404, 101214798.322404 * 1e-3);
}

TEST(Geodesic, AreaIgnoresOrientationSubtractsHolesAndSumsParts) {
  const GeomPtr ccw = geometry_from_geojson(
      Json::parse(R"({"type":"Polygon","coordinates":[[[116,35],[116.01,35],[116.01,35.01],[116,35.01],[116,35]]]})"));
  const GeomPtr cw = geometry_from_geojson(
      Json::parse(R"({"type":"Polygon","coordinates":[[[116,35],[116,35.01],[116.01,35.01],[116.01,35],[116,35]]]})"));
  EXPECT_NEAR(geodesic_area_m2(ccw.get()), geodesic_area_m2(cw.get()), 1e-6);

  const GeomPtr holed = geometry_from_geojson(Json::parse(
      R"({"type":"Polygon","coordinates":[[[116,35],[116.1,35],[116.1,35.1],[116,35.1],[116,35]],[[116.05,35.05],[116.05,35.06],[116.06,35.06],[116.06,35.05],[116.05,35.05]]]})"));
  // area = shell - hole; the hole [116.05,116.06]x[35.05,35.06] is 1012087.260131 m^2 (same formula).
  EXPECT_NEAR(geodesic_area_m2(holed.get()), 101214798.322404 - 1012087.260131, 101214798.322404 * 1e-4);

  const GeomPtr multi = geometry_from_geojson(Json::parse(
      R"({"type":"MultiPolygon","coordinates":[[[[116,35],[116.01,35],[116.01,35.01],[116,35.01],[116,35]]],[[[117,35],[117.01,35],[117.01,35.01],[117,35.01],[117,35]]]]})"));
  EXPECT_NEAR(geodesic_area_m2(multi.get()), 2 * 1012695.423712, 2 * 1012695.423712 * 1e-3);

  const GeomPtr point = make_point(116, 35);
  EXPECT_EQ(geodesic_area_m2(point.get()), 0.0);
}

}  // namespace
}  // namespace gridd::spatial
