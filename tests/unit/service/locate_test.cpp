// Unit tests for gridd/service/locate.hpp: chains, boundaries, fallback
// ownership and nearest stations.
#include <gtest/gtest.h>

#include <limits>

#include "gridd/service/locate.hpp"
#include "gridd/spatial/chinese_coords.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

using spatial::geodesic_distance_m;
using test::expect_error;
using test::grid_in;
using test::grids;
using test::station_in;

/// District D = [116.0,116.2] x [39.9,40.1]; streets S1 (west) and S2 (east)
/// meet at lon 116.1; community C9 (in S1) and C1 (in S2) fill them. Leaves:
/// G7 (south) and G8 (north) in C9, G3 only in the south half of C1, so C1's
/// north half [116.1,116.2] x [40.0,40.1] is owned by no leaf. Codes are
/// chosen so that "smallest code" alone would pick the wrong child (C1 < C9,
/// G3 < G7).
class LocateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    f.catalog->create_grids(grids(grid_in("D", Level::district, "", 116.0, 39.9, 116.2, 40.1),
                                  grid_in("S1", Level::street, "D", 116.0, 39.9, 116.1, 40.1),
                                  grid_in("S2", Level::street, "D", 116.1, 39.9, 116.2, 40.1),
                                  grid_in("C9", Level::community, "S1", 116.0, 39.9, 116.1, 40.1),
                                  grid_in("C1", Level::community, "S2", 116.1, 39.9, 116.2, 40.1),
                                  grid_in("G7", Level::grid, "C9", 116.0, 39.9, 116.1, 40.0),
                                  grid_in("G8", Level::grid, "C9", 116.0, 40.0, 116.1, 40.1),
                                  grid_in("G3", Level::grid, "C1", 116.1, 39.9, 116.2, 40.0)));
    f.catalog->create_stations({station_in("M1", "mediation_room", 116.05, 39.95),
                                station_in("M2", "mediation_room", 116.15, 39.95),
                                station_in("M3", "mediation_room", 116.30, 40.20),
                                station_in("V1", "volunteer_station", 116.101, 39.951),
                                station_in("V2", "volunteer_station", 116.00, 39.90),
                                station_in("G1", "grid_station", 116.11, 39.96)});
  }
  static std::vector<std::string> codes(const LocateResult& r) {
    std::vector<std::string> out;
    for (const auto* e : r.chain) out.push_back(e->grid.code);
    return out;
  }
  test::CatalogFixture f;
};

TEST_F(LocateTest, ChainRunsCoarsestToFinest) {
  const auto snap = f.catalog->snapshot();
  const LocateResult r = locate(*snap, {116.05, 39.95, ""}, {});
  EXPECT_EQ(codes(r), (std::vector<std::string>{"D", "S1", "C9", "G7"}));
  EXPECT_TRUE(r.covered);
  ASSERT_NE(r.owner, nullptr);
  EXPECT_EQ(r.owner->grid.code, "G7");
  EXPECT_EQ(r.owner_distance_m, 0.0);
  EXPECT_EQ(r.lon, 116.05);
  EXPECT_EQ(r.lat, 39.95);
  const LocateResult north = locate(*snap, {116.05, 40.05, ""}, {});
  EXPECT_EQ(codes(north), (std::vector<std::string>{"D", "S1", "C9", "G8"}));
}

TEST_F(LocateTest, SharedBoundaryHasExactlyOneOwnerPerLevelFollowingTheParent) {
  const auto snap = f.catalog->snapshot();
  // On the S1|S2 boundary (lon 116.1): every level has two candidates.
  const LocateResult r = locate(*snap, {116.1, 39.95, ""}, {});
  EXPECT_EQ(codes(r), (std::vector<std::string>{"D", "S1", "C9", "G7"}))
      << "street by smallest code, then the chosen street's community and grid, not C1/G3";
  // Levels strictly increase: one grid per level.
  for (std::size_t i = 1; i < r.chain.size(); ++i) EXPECT_LT(r.chain[i - 1]->grid.level, r.chain[i]->grid.level);
  // Each element is the child of the previous one.
  for (std::size_t i = 1; i < r.chain.size(); ++i) EXPECT_EQ(r.chain[i]->grid.parent_code, r.chain[i - 1]->grid.code);
  EXPECT_TRUE(r.covered);
  EXPECT_EQ(r.owner->grid.code, "G7");

  // The corner shared by G7, G8 and G3 (and both streets): still one per level.
  const LocateResult corner = locate(*snap, {116.1, 40.0, ""}, {});
  EXPECT_EQ(codes(corner), (std::vector<std::string>{"D", "S1", "C9", "G7"}));

  // Boundary between G7 and G8 inside C9: the smaller code.
  const LocateResult inner = locate(*snap, {116.05, 40.0, ""}, {});
  EXPECT_EQ(codes(inner), (std::vector<std::string>{"D", "S1", "C9", "G7"}));
}

TEST_F(LocateTest, UncoveredPointIsOwnedByTheNearestLeaf) {
  const auto snap = f.catalog->snapshot();
  struct Case {
    double lon, lat;     // query
    const char* owner;   // expected nearest leaf
    double nlon, nlat;   // the nearest point of that leaf, independently known
    std::size_t chain;   // grids containing the point
  };
  const Case cases[] = {
      {116.15, 39.85, "G3", 116.15, 39.9, 0},   // 5.5 km south of G3
      {116.30, 39.95, "G3", 116.2, 39.95, 0},   // 8.5 km east of G3
      {116.15, 40.05, "G8", 116.1, 40.05, 3},   // in C1's gap: D, S2, C1 but no leaf
      {115.90, 40.08, "G8", 116.0, 40.08, 0},   // west of G8
  };
  for (const auto& c : cases) {
    const LocateResult r = locate(*snap, {c.lon, c.lat, ""}, {});
    EXPECT_FALSE(r.covered) << c.lon << " " << c.lat;
    EXPECT_EQ(r.chain.size(), c.chain);
    ASSERT_NE(r.owner, nullptr);
    EXPECT_EQ(r.owner->grid.code, c.owner) << c.lon << " " << c.lat;
    const double truth = geodesic_distance_m(c.lon, c.lat, c.nlon, c.nlat);
    EXPECT_NEAR(r.owner_distance_m, truth, truth * 0.01) << c.lon << " " << c.lat;
  }
}

TEST_F(LocateTest, NearestStationsByKind) {
  const auto snap = f.catalog->snapshot();
  LocateOptions o;
  o.k = 2;
  o.station_kind = "mediation_room";
  const LocateResult r = locate(*snap, {116.12, 39.95, ""}, o);
  ASSERT_EQ(r.stations.size(), 2u);
  EXPECT_EQ(r.stations[0].first->code, "M2");
  EXPECT_EQ(r.stations[1].first->code, "M1");
  for (const auto& [s, d] : r.stations) {
    EXPECT_EQ(s->kind, "mediation_room");
    EXPECT_DOUBLE_EQ(d, geodesic_distance_m(116.12, 39.95, s->lon, s->lat));
  }
  // Any kind: the volunteer station is nearest, then the grid station.
  o.station_kind.clear();
  o.k = 3;
  const LocateResult all = locate(*snap, {116.1, 39.95, ""}, o);
  ASSERT_EQ(all.stations.size(), 3u);
  EXPECT_EQ(all.stations[0].first->code, "V1");
  EXPECT_EQ(all.stations[1].first->code, "G1");
  EXPECT_LE(all.stations[0].second, all.stations[1].second);
  EXPECT_LE(all.stations[1].second, all.stations[2].second);
  // More than there are: all of them.
  o.k = 100;
  o.station_kind = "volunteer_station";
  EXPECT_EQ(locate(*snap, {116.1, 39.95, ""}, o).stations.size(), 2u);
  // A known kind without stations, and k = 0.
  o.station_kind = "veterans_station";
  EXPECT_TRUE(locate(*snap, {116.1, 39.95, ""}, o).stations.empty());
  o.station_kind.clear();
  o.k = 0;
  EXPECT_TRUE(locate(*snap, {116.1, 39.95, ""}, o).stations.empty());
}

TEST_F(LocateTest, KAboveLimitIsRejected) {
  LocateOptions o;
  o.k = k_max_locate_k + 1;
  expect_error([&] { (void)locate(*f.catalog->snapshot(), {116.05, 39.95, ""}, o); }, ErrorKind::invalid_input,
               "invalid_k", "k");
  o.k = k_max_locate_k;
  EXPECT_NO_THROW((void)locate(*f.catalog->snapshot(), {116.05, 39.95, ""}, o));
}

TEST_F(LocateTest, Gcj02PositionIsConvertedBeforeLocating) {
  const auto snap = f.catalog->snapshot();
  // A WGS84 point 300 m inside G7's east edge; in GCJ-02 it reads ~500 m further east.
  const double lon = 116.0965, lat = 39.95;
  const spatial::LonLat gcj = spatial::wgs84_to_gcj02({lon, lat});
  const LocateResult r = locate(*snap, {gcj.lon, gcj.lat, "gcj02"}, {});
  EXPECT_NEAR(r.lon, lon, 1e-9);
  EXPECT_NEAR(r.lat, lat, 1e-9);
  EXPECT_EQ(codes(r), (std::vector<std::string>{"D", "S1", "C9", "G7"}));
  // Taking the GCJ-02 numbers for WGS84 sends the case to the wrong grid.
  const LocateResult wrong = locate(*snap, {gcj.lon, gcj.lat, ""}, {});
  ASSERT_NE(wrong.owner, nullptr);
  EXPECT_EQ(wrong.owner->grid.code, "G3");
}

TEST_F(LocateTest, ProjectedPositionIsConverted) {
  double x = 116.05, y = 39.95;
  spatial::crs_transform("EPSG:3857").from_wgs84(x, y);
  const LocateResult r = locate(*f.catalog->snapshot(), {x, y, "EPSG:3857"}, {});
  EXPECT_NEAR(r.lon, 116.05, 1e-9);
  EXPECT_NEAR(r.lat, 39.95, 1e-9);
  EXPECT_EQ(r.owner->grid.code, "G7");
}

TEST_F(LocateTest, BadPositionsAreRejected) {
  const auto snap = f.catalog->snapshot();
  expect_error([&] { (void)locate(*snap, {200, 39.9, ""}, {}); }, ErrorKind::invalid_input,
               "coordinate_out_of_range", "lon");
  expect_error([&] { (void)locate(*snap, {std::numeric_limits<double>::quiet_NaN(), 39.9, ""}, {}); },
               ErrorKind::invalid_input, "coordinate_out_of_range");
  expect_error([&] { (void)locate(*snap, {116, 39.9, "EPSG:123456789"}, {}); }, ErrorKind::invalid_input,
               "unknown_crs", "crs");
  double lon = 0, lat = 0;
  to_wgs84({116.1, 39.9, "EPSG:4490"}, lon, lat);
  EXPECT_NEAR(lon, 116.1, 1e-8);
  EXPECT_NEAR(lat, 39.9, 1e-8);
}

TEST_F(LocateTest, OutOfRangeLatitudeNamesTheLatField) {
  expect_error([&] { (void)locate(*f.catalog->snapshot(), {116, 95, ""}, {}); }, ErrorKind::invalid_input,
               "coordinate_out_of_range", "lat");
}

TEST(Locate, EmptyCatalogHasNoOwner) {
  test::CatalogFixture f;
  const LocateResult r = locate(*f.catalog->snapshot(), {116.1, 39.9, ""}, {});
  EXPECT_FALSE(r.covered);
  EXPECT_EQ(r.owner, nullptr);
  EXPECT_TRUE(r.chain.empty());
  EXPECT_TRUE(r.stations.empty());
}

}  // namespace
}  // namespace gridd::service
