// Unit tests for gridd/service/coverage.hpp and coverage_network.hpp:
// station coverage on small synthetic grids whose answers are known
// analytically (a quarter disc in a corner, a square inside a disc, a strip
// along a road), the road graph (noding, snapping, Dijkstra, cut edges), a
// road gap that keeps a place out of reach of the network though it is near
// in a straight line, the cache, and bad input. A real GeoPackage store in a
// temp dir; no sockets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/service/coverage.hpp"
#include "gridd/service/coverage_network.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

using test::expect_error;
constexpr double k_pi = std::numbers::pi;

/// Metres east/north of (116.5, 35.4) to lon/lat, with the WGS84 metres per
/// degree at that latitude (the convention of tests/data/coverage_roads.geojson).
struct Frame {
  double lon0 = 116.5, lat0 = 35.4, kx = 0, ky = 0;
  Frame() { spatial::metres_per_degree(lat0, kx, ky); }
  [[nodiscard]] double lon(double x) const { return lon0 + x / kx; }
  [[nodiscard]] double lat(double y) const { return lat0 + y / ky; }
  [[nodiscard]] LonLat at(double x, double y) const { return {lon(x), lat(y)}; }
};
const Frame k_frame;

GridInput grid_m(const std::string& code, Level level, const std::string& parent, double x0, double y0, double x1,
                 double y1, std::optional<std::int64_t> households = std::nullopt) {
  GridInput in = test::grid_in(code, level, parent, k_frame.lon(x0), k_frame.lat(y0), k_frame.lon(x1), k_frame.lat(y1));
  in.grid.households = households;
  return in;
}

StationInput station_m(const std::string& code, const std::string& kind, double x, double y) {
  return test::station_in(code, kind, k_frame.lon(x), k_frame.lat(y));
}

/// A catalog with a district (the bounding box of the grids given, which it
/// holds: the grids of each test tile their parents).
struct City {
  test::CatalogFixture fx;
  Catalog& catalog() { return *fx.catalog; }
  explicit City(std::vector<GridInput> grids, std::vector<StationInput> stations = {}) {
    spatial::Envelope box = spatial::envelope_of(grids.at(0).geometry.get());
    for (const auto& g : grids) {
      const spatial::Envelope e = spatial::envelope_of(g.geometry.get());
      box = {std::min(box.minx, e.minx), std::min(box.miny, e.miny), std::max(box.maxx, e.maxx),
             std::max(box.maxy, e.maxy)};
    }
    std::vector<GridInput> all;
    all.push_back(test::grid_in("370811", Level::district, "", box.minx, box.miny, box.maxx, box.maxy));
    for (auto& g : grids) all.push_back(std::move(g));
    fx.catalog->create_grids(std::move(all));
    if (!stations.empty()) fx.catalog->create_stations(std::move(stations));
  }
};

const GridCoverage& by_code(const CoverageResult& r, const std::string& code) {
  for (const auto& g : r.grids) {
    if (g.grid->grid.code == code) return g;
  }
  throw std::runtime_error("no grid " + code + " in the result");
}

double polyline_length(const std::vector<LonLat>& line) {
  double total = 0;
  for (std::size_t i = 1; i < line.size(); ++i) {
    total += spatial::geodesic_distance_m(line[i - 1].lon, line[i - 1].lat, line[i].lon, line[i].lat);
  }
  return total;
}

std::vector<spatial::GeomPtr> one_line(const std::vector<LonLat>& pts) {
  Json coords = Json::array();
  for (const auto& p : pts) coords.push_back(Json::array({p.lon, p.lat}));
  std::vector<spatial::GeomPtr> out;
  out.push_back(spatial::geometry_from_geojson(Json{{"type", "LineString"}, {"coordinates", coords}}));
  return out;
}

// ---------------------------------------------------------------------------
// Straight-line coverage
// ---------------------------------------------------------------------------

TEST(Coverage, StationInACornerLeavesTheSquareMinusAQuarterDisc) {
  City city(test::grids(grid_m("370811001", Level::street, "370811", 0, 0, 2000, 2000, 400)),
            {station_m("S1", "grid_station", 0, 0)});
  CoverageService svc(city.catalog());
  CoverageQuery q;
  q.kind = "grid_station";
  const CoverageResult r = svc.run(q);
  ASSERT_EQ(r.grids.size(), 1u);
  EXPECT_EQ(r.selection.level, Level::street);  // the finest level present
  EXPECT_EQ(r.stations, 1u);
  const GridCoverage& g = r.grids[0];
  const double quarter = k_pi * 1200 * 1200 / 4;
  EXPECT_NEAR(g.area_m2, 4e6, 4e6 * 1e-3);
  const double expected = g.area_m2 - quarter;
  EXPECT_NEAR(g.uncovered_area_m2, expected, expected * 0.005);
  EXPECT_NEAR(g.uncovered_area_m2, expected, expected * 0.001) << "128-gon discs should be within 0.1%";
  EXPECT_NEAR(g.uncovered_share, expected / g.area_m2, 1e-3);
  ASSERT_TRUE(g.households);
  ASSERT_TRUE(g.uncovered_households);
  EXPECT_NEAR(*g.uncovered_households, 400 * g.uncovered_share, 1e-9);
  // The nearest station from the centre (1000, 1000): sqrt(2) km.
  ASSERT_NE(g.nearest, nullptr);
  EXPECT_EQ(g.nearest->code, "S1");
  ASSERT_TRUE(g.nearest_distance_m);
  EXPECT_NEAR(*g.nearest_distance_m, 1000 * std::sqrt(2.0), 1.0);
  EXPECT_NEAR(g.reference.lon, k_frame.lon(1000), 1e-6);
  EXPECT_NEAR(g.reference.lat, k_frame.lat(1000), 1e-6);
  // The uncovered part is a WGS84 MultiPolygon with the same geodesic area.
  ASSERT_TRUE(g.uncovered);
  EXPECT_EQ(spatial::type_id(g.uncovered.get()), GEOS_MULTIPOLYGON);
  EXPECT_NEAR(spatial::geodesic_area_m2(g.uncovered.get()), g.uncovered_area_m2, 1e-6 * g.uncovered_area_m2);
  // The corner at the station is covered, the far corner is not.
  auto* ctx = spatial::geos();
  const auto near = spatial::make_point(k_frame.lon(100), k_frame.lat(100));
  const auto far = spatial::make_point(k_frame.lon(1900), k_frame.lat(1900));
  EXPECT_EQ(GEOSIntersects_r(ctx, g.uncovered.get(), near.get()), 0);
  EXPECT_EQ(GEOSIntersects_r(ctx, g.uncovered.get(), far.get()), 1);
  // Totals.
  EXPECT_EQ(r.totals.grids, 1u);
  EXPECT_EQ(r.totals.partly_covered, 1u);
  EXPECT_EQ(r.totals.households, 400);
  EXPECT_NEAR(r.totals.uncovered_area_m2, g.uncovered_area_m2, 1e-6);
}

TEST(Coverage, StationInTheMiddleCoversAKilometreSquare) {
  City city(test::grids(grid_m("370811001", Level::street, "370811", -500, -500, 500, 500)),
            {station_m("S1", "grid_station", 0, 0)});
  CoverageService svc(city.catalog());
  CoverageQuery q;
  q.kind = "grid_station";
  const CoverageResult r = svc.run(q);
  ASSERT_EQ(r.grids.size(), 1u);
  EXPECT_EQ(r.grids[0].uncovered_area_m2, 0);
  EXPECT_EQ(r.grids[0].uncovered_share, 0);
  EXPECT_FALSE(r.grids[0].uncovered);
  EXPECT_FALSE(r.grids[0].households);
  EXPECT_FALSE(r.grids[0].uncovered_households);
  EXPECT_EQ(r.totals.fully_covered, 1u);
  EXPECT_EQ(r.totals.grids_without_households, 1u);
  // 600 m does not reach the corners (707 m away): four corner pieces.
  q.distance_m = 600;
  const CoverageResult r600 = svc.run(q);
  const GridCoverage& g = r600.grids[0];
  EXPECT_GT(g.uncovered_area_m2, 0);
  // The square minus the disc's part inside it: 1e6 - (pi r^2 - 4 segments beyond the sides).
  const double r0 = 600, h = 500;
  const double segment = r0 * r0 * std::acos(h / r0) - h * std::sqrt(r0 * r0 - h * h);
  const double expected = 1e6 - (k_pi * r0 * r0 - 4 * segment);
  EXPECT_NEAR(g.uncovered_area_m2, expected, expected * 0.02);
  ASSERT_TRUE(g.uncovered);
  EXPECT_EQ(GEOSGetNumGeometries_r(spatial::geos(), g.uncovered.get()), 4);
}

TEST(Coverage, KindsRootsLevelsAndTotals) {
  // A street with two communities, each with two grids (1 km squares).
  City city(test::grids(grid_m("370811001", Level::street, "370811", 0, 0, 4000, 1000),
             grid_m("370811001001", Level::community, "370811001", 0, 0, 2000, 1000),
             grid_m("370811001002", Level::community, "370811001", 2000, 0, 4000, 1000),
             grid_m("370811001001001", Level::grid, "370811001001", 0, 0, 1000, 1000, 100),
             grid_m("370811001001002", Level::grid, "370811001001", 1000, 0, 2000, 1000, 200),
             grid_m("370811001002001", Level::grid, "370811001002", 2000, 0, 3000, 1000, 300),
             grid_m("370811001002002", Level::grid, "370811001002", 3000, 0, 4000, 1000)),
            {station_m("G", "grid_station", 500, 500), station_m("M", "mediation_room", 3500, 500)});
  CoverageService svc(city.catalog());
  CoverageQuery q;
  q.kind = "grid_station";
  q.distance_m = 800;  // covers the first grid (707 m corners), not the far ones
  CoverageResult r = svc.run(q);
  EXPECT_EQ(r.selection.level, Level::grid);
  ASSERT_EQ(r.grids.size(), 4u);
  EXPECT_EQ(by_code(r, "370811001001001").uncovered_area_m2, 0);
  EXPECT_EQ(by_code(r, "370811001002002").uncovered_share, 1);  // 2.5 km away
  EXPECT_EQ(by_code(r, "370811001002002").nearest->code, "G");
  EXPECT_NEAR(*by_code(r, "370811001002002").nearest_distance_m, 3000, 1);
  EXPECT_EQ(r.totals.fully_covered, 1u);
  EXPECT_EQ(r.totals.uncovered, 2u);
  EXPECT_EQ(r.totals.partly_covered, 1u);
  EXPECT_EQ(r.totals.households, 600);
  EXPECT_EQ(r.totals.grids_without_households, 1u);
  // Estimated uncovered households: 0 + 200 x share + 300 x 1.
  const double share2 = by_code(r, "370811001001002").uncovered_share;
  EXPECT_NEAR(r.totals.uncovered_households, 200 * share2 + 300, 1e-6);

  // Every kind: the mediation room covers the last grid too.
  q.kind = "all";
  r = svc.run(q);
  EXPECT_EQ(r.stations, 2u);
  EXPECT_EQ(by_code(r, "370811001002002").uncovered_area_m2, 0);
  EXPECT_EQ(by_code(r, "370811001002002").nearest->code, "M");

  // A kind without stations: everything is uncovered, nobody is nearest.
  q.kind = "veterans_station";
  r = svc.run(q);
  EXPECT_EQ(r.stations, 0u);
  EXPECT_EQ(r.totals.uncovered, 4u);
  EXPECT_EQ(r.grids[0].nearest, nullptr);
  EXPECT_NEAR(r.totals.uncovered_area_m2, r.totals.area_m2, 1e-6);

  // Under a root, at its default (finest) level and at a chosen level.
  q.kind = "grid_station";
  q.root = "370811001002";
  r = svc.run(q);
  ASSERT_EQ(r.grids.size(), 2u);
  EXPECT_EQ(r.grids[0].grid->grid.code, "370811001002001");
  q.root = "370811001";
  q.level = Level::community;
  r = svc.run(q);
  ASSERT_EQ(r.grids.size(), 2u);
  EXPECT_EQ(r.grids[0].grid->grid.level, Level::community);
  // The root by id.
  q.root = std::to_string(r.selection.root->grid.id);
  EXPECT_EQ(svc.run(q).grids.size(), 2u);
}

TEST(Coverage, CachesTheStationCoverPerSnapshotVersion) {
  City city(test::grids(grid_m("370811001", Level::street, "370811", 0, 0, 2000, 2000)), {station_m("S1", "grid_station", 0, 0)});
  CoverageService svc(city.catalog());
  CoverageQuery q;
  q.kind = "grid_station";
  const CoverageResult first = svc.run(q);
  EXPECT_FALSE(first.cache_hit);
  const CoverageResult second = svc.run(q);
  EXPECT_TRUE(second.cache_hit);
  EXPECT_DOUBLE_EQ(first.grids[0].uncovered_area_m2, second.grids[0].uncovered_area_m2);
  q.distance_m = 1500;  // another key
  EXPECT_FALSE(svc.run(q).cache_hit);
  // A new station publishes a new snapshot: the cover is computed again.
  city.catalog().create_stations({station_m("S2", "grid_station", 2000, 2000)});
  q.distance_m = 1200;
  const CoverageResult third = svc.run(q);
  EXPECT_FALSE(third.cache_hit);
  const double two_quarters = 2 * k_pi * 1200 * 1200 / 4;
  // Two quarter discs in opposite corners (2828 m apart: they do not overlap).
  EXPECT_NEAR(third.grids[0].uncovered_area_m2, third.grids[0].area_m2 - two_quarters,
              0.001 * third.grids[0].area_m2);
}

TEST(Coverage, BadInputNamesTheField) {
  City city(test::grids(grid_m("370811001", Level::street, "370811", 0, 0, 1000, 1000)), {station_m("S1", "grid_station", 0, 0)});
  CoverageService svc(city.catalog());
  CoverageQuery q;
  q.kind = "grid_station";
  q.distance_m = 10;
  expect_error([&] { (void)svc.run(q); }, ErrorKind::invalid_input, "distance_out_of_range", "distance");
  q.distance_m = 20001;
  expect_error([&] { (void)svc.run(q); }, ErrorKind::invalid_input, "distance_out_of_range", "distance");
  q.distance_m = std::nan("");
  expect_error([&] { (void)svc.run(q); }, ErrorKind::invalid_input, "distance_out_of_range", "distance");
  q.distance_m = 1200;
  q.kind = "bakery";
  expect_error([&] { (void)svc.run(q); }, ErrorKind::invalid_input, "invalid_kind", "kind");
  q.kind = "grid_station";
  q.root = "999";
  expect_error([&] { (void)svc.run(q); }, ErrorKind::not_found, "grid_not_found", "root");
  q.root = "370811001";
  q.level = Level::district;
  expect_error([&] { (void)svc.run(q); }, ErrorKind::invalid_input, "invalid_level", "level");
  q.root.clear();
  q.level.reset();
  q.mode = CoverageMode::network;
  expect_error([&] { (void)svc.run(q); }, ErrorKind::conflict, "network_not_loaded", "mode");
  expect_error([] { (void)parse_coverage_mode("walking"); }, ErrorKind::invalid_input, "invalid_mode", "mode");
}

// ---------------------------------------------------------------------------
// The road network
// ---------------------------------------------------------------------------

TEST(RoadNetwork, LoadsTheFixtureAndNodesCrossings) {
  const auto crossing = RoadNetwork::load(test::data_file("coverage_roads.geojson"));
  // Roads A (3000 m), B (1950 m) and C (2000 m); C crosses A at x = 1000.
  EXPECT_NEAR(crossing->total_length_m(), 6950, 0.01);
  EXPECT_EQ(crossing->skipped_features(), 1u);  // the polygon
  EXPECT_EQ(crossing->edge_count(), 5u);
  EXPECT_EQ(crossing->node_count(), 7u);
  const auto apart = RoadNetwork::load(test::data_file("coverage_roads.geojson") + "?noding=vertices");
  EXPECT_NEAR(apart->total_length_m(), 6950, 0.01);
  EXPECT_EQ(apart->edge_count(), 3u);
  EXPECT_EQ(apart->node_count(), 6u);

  expect_error([] { (void)RoadNetwork::load(test::data_file("coverage_roads.geojson") + "?noding=sometimes"); },
               ErrorKind::invalid_input, "invalid_roads", "roads");
  expect_error([] { (void)RoadNetwork::load(test::data_file("coverage_roads.geojson") + "?layer=rivers"); },
               ErrorKind::invalid_input, "unknown_layer", "roads");
  expect_error([] { (void)RoadNetwork::load(test::data_file("no_such_roads.geojson")); }, ErrorKind::invalid_input,
               "unreadable_roads", "roads");
  expect_error([] { (void)RoadNetwork::load(test::data_file("stations_gcj02.geojson")); }, ErrorKind::invalid_input,
               "no_road_lines", "roads");
}

TEST(RoadNetwork, SnapsDijkstraAndCutsEdges) {
  const auto net = RoadNetwork::load(test::data_file("coverage_roads.geojson"));
  // A point 200 m north of road A at x = 700 (300 m from road C) meets A at x = 700 ...
  const auto snap = net->snap(k_frame.lon(700), k_frame.lat(200));
  ASSERT_TRUE(snap);
  EXPECT_NEAR(snap->access_m, 200, 0.01);
  EXPECT_NEAR(snap->point.lon, k_frame.lon(700), 1e-9);
  EXPECT_NEAR(snap->point.lat, k_frame.lat0, 1e-9);
  EXPECT_NEAR(snap->offset_m, 700, 0.01);  // on A's first edge, 0..1000
  // ... and a point far away still finds the nearest road.
  const auto far = net->snap(k_frame.lon(9000), k_frame.lat(0));
  ASSERT_TRUE(far);
  EXPECT_NEAR(far->access_m, 4000, 0.5);

  // One source on road A at x = 500.
  const NetworkDistances d = net->distances({k_frame.at(500, 0)});
  double junction = -1, c_south = -1, a_east = -1, b_west = -1;
  for (std::size_t i = 0; i < net->node_count(); ++i) {
    const LonLat n = net->node(i);
    if (std::fabs(n.lon - k_frame.lon(1000)) < 1e-9 && std::fabs(n.lat - k_frame.lat0) < 1e-9) junction = d.node_distance_m[i];
    if (std::fabs(n.lon - k_frame.lon(1000)) < 1e-9 && std::fabs(n.lat - k_frame.lat(-1000)) < 1e-9) c_south = d.node_distance_m[i];
    if (std::fabs(n.lon - k_frame.lon(3000)) < 1e-9) a_east = d.node_distance_m[i];
    if (std::fabs(n.lon - k_frame.lon(3050)) < 1e-9) b_west = d.node_distance_m[i];
  }
  EXPECT_NEAR(junction, 500, 0.01);
  EXPECT_NEAR(c_south, 1500, 0.01);
  EXPECT_NEAR(a_east, 2500, 0.01);
  EXPECT_TRUE(std::isinf(b_west)) << "road B is not joined to road A";

  // Network distance to a point 100 m off road C, 400 m south of the junction.
  const auto near = net->nearest_source(d, k_frame.lon(1100), k_frame.lat(-400));
  ASSERT_TRUE(near);
  EXPECT_EQ(near->first, 0u);
  EXPECT_NEAR(near->second, 500 + 400 + 100, 0.05);
  // Road B is out of reach.
  EXPECT_FALSE(net->nearest_source(d, k_frame.lon(4000), k_frame.lat(10)));

  // Within 1200 m: A from 0 to 1700 and C from -700 to 700.
  const auto pieces = net->reachable(d, 1200);
  double total = 0;
  for (const auto& p : pieces) total += polyline_length(p);
  EXPECT_NEAR(total, 1700 + 1400, 0.1);
  // Without the crossing node, only A: 0..1700.
  const auto apart = RoadNetwork::load(test::data_file("coverage_roads.geojson") + "?noding=vertices");
  const auto d2 = apart->distances({k_frame.at(500, 0)});
  total = 0;
  for (const auto& p : apart->reachable(d2, 1200)) total += polyline_length(p);
  EXPECT_NEAR(total, 1700, 0.1);
}

TEST(RoadNetwork, AccessLegCountsAndIsCutWhenTooLong) {
  const auto net = RoadNetwork(one_line({k_frame.at(0, 0), k_frame.at(4000, 0)}), Noding::vertices);
  // A source 300 m off the road at x = 2000: 900 m left either way.
  const auto d = net.distances({k_frame.at(2000, 300)});
  double total = 0;
  for (const auto& p : net.reachable(d, 1200)) total += polyline_length(p);
  EXPECT_NEAR(total, 300 + 1800, 0.1);
  // A source 2 km off the road: only 1200 m of its leg.
  const auto d2 = net.distances({k_frame.at(2000, 2000)});
  const auto pieces = net.reachable(d2, 1200);
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_NEAR(polyline_length(pieces[0]), 1200, 0.5);
  // Two sources on one edge: their reaches merge into one piece.
  const auto d3 = net.distances({k_frame.at(1000, 0), k_frame.at(2500, 0)});
  const auto merged = net.reachable(d3, 1000);
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_NEAR(polyline_length(merged[0]), 3500, 0.1);  // 0..3500
}

// ---------------------------------------------------------------------------
// Network coverage
// ---------------------------------------------------------------------------

TEST(Coverage, NetworkStripAlongAStraightRoad) {
  // One 4 km road, a station on it at 2 km: 1200 m either way, 100 m each side.
  const RoadNetwork net(one_line({k_frame.at(0, 0), k_frame.at(4000, 0)}), Noding::vertices);
  City city(test::grids(grid_m("370811001", Level::street, "370811", 0, -500, 4000, 500, 1000)),
            {station_m("S1", "grid_station", 2000, 0)});
  CoverageService svc(city.catalog(), &net);
  CoverageQuery q;
  q.kind = "grid_station";
  q.mode = CoverageMode::network;
  const CoverageResult r = svc.run(q);
  ASSERT_EQ(r.grids.size(), 1u);
  const GridCoverage& g = r.grids[0];
  const double strip = 2400 * 200 + k_pi * 100 * 100;  // the reachable 2.4 km, 200 m wide, round ends
  EXPECT_NEAR(g.area_m2 - g.uncovered_area_m2, strip, strip * 0.005);
  // From the grid's centre (2000, 0), right on the station.
  ASSERT_TRUE(g.nearest_distance_m);
  EXPECT_NEAR(*g.nearest_distance_m, 0, 0.01);
  // A wider access strip.
  q.access_width_m = 250;
  const CoverageResult wide = svc.run(q);
  const double strip250 = 2400 * 500 + k_pi * 250 * 250;
  EXPECT_NEAR(wide.grids[0].area_m2 - wide.grids[0].uncovered_area_m2, strip250, strip250 * 0.005);
  q.access_width_m = 1;
  expect_error([&] { (void)svc.run(q); }, ErrorKind::invalid_input, "access_width_out_of_range", "access_width");
}

TEST(Coverage, ARoadGapKeepsAPlaceOutOfNetworkReachThoughNearInAStraightLine) {
  const auto net = RoadNetwork::load(test::data_file("coverage_roads.geojson"));
  // The station on road A at x = 2500; a grid around road B just beyond the 50 m gap.
  City city(test::grids(grid_m("370811001", Level::street, "370811", 3200, -50, 3600, 50, 80)),
            {station_m("S1", "grid_station", 2500, 0)});
  CoverageService svc(city.catalog(), net.get());
  CoverageQuery q;
  q.kind = "grid_station";
  const CoverageResult straight = svc.run(q);
  EXPECT_EQ(straight.grids[0].uncovered_area_m2, 0) << "at most 1101 m in a straight line";
  q.mode = CoverageMode::network;
  const CoverageResult network = svc.run(q);
  EXPECT_NEAR(network.grids[0].uncovered_share, 1, 1e-9) << "road B is not joined to road A";
  EXPECT_EQ(network.totals.uncovered, 1u);
  EXPECT_NEAR(*network.grids[0].uncovered_households, 80, 1e-6);
  EXPECT_FALSE(network.grids[0].nearest_distance_m);
  EXPECT_EQ(network.grids[0].nearest, nullptr);
  // The straight-line answer for the same grid still names the station.
  ASSERT_NE(straight.grids[0].nearest, nullptr);
  EXPECT_NEAR(*straight.grids[0].nearest_distance_m, 900, 1);
}

}  // namespace
}  // namespace gridd::service
