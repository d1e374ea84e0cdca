// Unit tests for gridd/spatial/chinese_coords.hpp against PUBLISHED reference
// pairs from independent implementations (each source cited next to its values).
#include <gtest/gtest.h>

#include <cmath>

#include "gridd/spatial/chinese_coords.hpp"
#include "gridd/spatial/geodesic.hpp"

namespace gridd::spatial {
namespace {

struct Pair {
  const char* name;
  LonLat from;
  LonLat to;
  double tol_deg;
};

void expect_near(LonLat got, LonLat want, double tol, const char* name) {
  EXPECT_NEAR(got.lon, want.lon, tol) << name;
  EXPECT_NEAR(got.lat, want.lat, tol) << name;
}

TEST(ChineseCoords, Wgs84ToGcj02MatchesPublishedPairs) {
  const Pair pairs[] = {
      // googollee/eviltransform python/test.py (also its C, Go and C# suites): shanghai
      {"eviltransform shanghai", {121.5272106, 31.1774276}, {121.531541859215, 31.17530398364597}, 1e-9},
      // googollee/eviltransform python/test.py: shenzhen
      {"eviltransform shenzhen", {113.912316, 22.543847}, {113.9171764808363, 22.540796131694766}, 1e-9},
      // googollee/eviltransform python/test.py: beijing
      {"eviltransform beijing", {116.377817, 39.911954}, {116.38404722455657, 39.91334545536069}, 1e-9},
      // wandergis/coordtransform test/app.js (and its README): wgs84togcj02(116.404, 39.915)
      {"wandergis", {116.404, 39.915}, {116.41024449916938, 39.91640428150164}, 1e-9},
      // madlogos/asesgeo tests (test_transform_coord.R, "wgs 2 gcj"), 8 decimals published
      {"asesgeo", {116.39089, 39.90734}, {116.39713094, 39.90874107}, 1e-7},
      // hujiulong/gcoord test/unit/transform.spec.ts: WGS84 -> GCJ02 of [123, 45]
      {"gcoord", {123, 45}, {123.00607541, 45.00197815}, 1e-7},
  };
  for (const auto& p : pairs) expect_near(wgs84_to_gcj02(p.from), p.to, p.tol_deg, p.name);
}

TEST(ChineseCoords, Gcj02ToBd09MatchesPublishedPairs) {
  const Pair pairs[] = {
      // wandergis/coordtransform test/app.js: gcj02tobd09(116.404, 39.915)
      {"wandergis", {116.404, 39.915}, {116.41036949371029, 39.92133699351021}, 1e-9},
      // madlogos/asesgeo tests ("gcj 2 bd"), 8 decimals published
      {"asesgeo", {116.397131, 39.908746}, {116.40350426, 39.91508839}, 1e-7},
      // hujiulong/gcoord test/unit/transform.spec.ts: GCJ02 -> BD09 of [123, 45]
      {"gcoord", {123, 45}, {123.00636499, 45.00636899}, 1e-7},
  };
  for (const auto& p : pairs) expect_near(gcj02_to_bd09(p.from), p.to, p.tol_deg, p.name);
}

TEST(ChineseCoords, Wgs84ToBd09MatchesHutool) {
  // dromara/hutool CoordinateUtilTest.wgs84toBd09Test: wgs84ToBd09(116.404, 39.915)
  expect_near(wgs84_to_bd09({116.404, 39.915}), {116.41662724378733, 39.922699552216216}, 1e-9, "hutool");
}

TEST(ChineseCoords, Bd09ToGcj02AgreesWithPublishedApproximateInverses) {
  // Published values come from the one-step approximate inverse; gridd solves
  // the exact inverse, so the two may differ slightly: the difference must stay
  // well under half a metre.
  // wandergis/coordtransform test/app.js: bd09togcj02(116.404, 39.915)
  const LonLat wandergis{116.39762729119315, 39.90865673957631};
  const LonLat got = bd09_to_gcj02({116.404, 39.915});
  const double diff_m = geodesic_distance_m(got.lon, got.lat, wandergis.lon, wandergis.lat);
  EXPECT_LT(diff_m, 0.5) << "exact inverse vs wandergis approximate inverse differ by " << diff_m << " m";
  RecordProperty("bd09_wandergis_diff_m", std::to_string(diff_m));
  // And the exact inverse really is exact: forward again gives the input back.
  const LonLat back = gcj02_to_bd09(got);
  EXPECT_NEAR(back.lon, 116.404, 1e-11);
  EXPECT_NEAR(back.lat, 39.915, 1e-11);

  // hujiulong/gcoord test/unit/transform.spec.ts: BD09 -> GCJ02 of [123, 45]
  expect_near(bd09_to_gcj02({123, 45}), {122.99363304, 44.99365430}, 1e-6, "gcoord");
}

TEST(ChineseCoords, OutsideChinaIsUnchanged) {
  // Cities from the eviltransform MATLAB suite's out-of-China checks.
  const LonLat outside[] = {{-104.9903, 39.7392} /* Denver */, {153.0251, -27.4698} /* Brisbane */,
                            {-43.1729, -22.9068} /* Rio de Janeiro */, {183, 45} /* gcoord: [183,45] */};
  for (const auto& p : outside) {
    EXPECT_TRUE(outside_china(p.lon, p.lat));
    const LonLat g = wgs84_to_gcj02(p);
    EXPECT_EQ(g.lon, p.lon);
    EXPECT_EQ(g.lat, p.lat);
    const LonLat w = gcj02_to_wgs84(p);
    EXPECT_EQ(w.lon, p.lon);
    EXPECT_EQ(w.lat, p.lat);
  }
  EXPECT_FALSE(outside_china(116.4, 39.9));
}

TEST(ChineseCoords, ShiftIsHundredsOfMetresInsideChina) {
  // The reason gridd must convert: GCJ-02 moves Beijing by roughly 500-600 m.
  const LonLat g = wgs84_to_gcj02({116.404, 39.915});
  const double d = geodesic_distance_m(116.404, 39.915, g.lon, g.lat);
  EXPECT_GT(d, 300);
  EXPECT_LT(d, 800);
}

/// Max round-trip error in metres over a lattice covering China.
template <class Fwd, class Inv>
double max_roundtrip_error_m(Fwd fwd, Inv inv) {
  double worst = 0;
  for (double lon = 73; lon <= 135 + 1e-9; lon += 0.5) {
    for (double lat = 18; lat <= 53 + 1e-9; lat += 0.5) {
      const LonLat back = inv(fwd(LonLat{lon, lat}));
      worst = std::max(worst, geodesic_distance_m(lon, lat, back.lon, back.lat));
    }
  }
  return worst;
}

TEST(ChineseCoords, Gcj02InverseIsSubMillimetreOverChina) {
  const double worst = max_roundtrip_error_m(wgs84_to_gcj02, gcj02_to_wgs84);
  EXPECT_LT(worst, 0.5);
  EXPECT_LT(worst, 1e-3) << "the inverse is documented as well under a millimetre";
}

TEST(ChineseCoords, Bd09InverseIsSubMillimetreOverChina) {
  EXPECT_LT(max_roundtrip_error_m(gcj02_to_bd09, bd09_to_gcj02), 1e-3);
  const double worst = max_roundtrip_error_m(wgs84_to_bd09, bd09_to_wgs84);
  EXPECT_LT(worst, 0.5);
  EXPECT_LT(worst, 1e-3);
}

}  // namespace
}  // namespace gridd::spatial
