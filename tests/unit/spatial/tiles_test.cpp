// Unit tests for gridd/spatial/tiles.hpp: Web Mercator tile arithmetic
// (parsing z/x/y, lon/lat <-> metres, tile bounds, tiles covering a box).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/spatial/tiles.hpp"
#include "unit/test_util.hpp"

namespace gridd::spatial {
namespace {

using test::expect_error;

// ---------------------------------------------------------------------------
// parse_tile
// ---------------------------------------------------------------------------

TEST(TileMath, ParseAcceptsOriginAndLargestValues) {
  EXPECT_EQ(parse_tile("0", "0", "0"), (TileId{0, 0, 0}));
  EXPECT_EQ(parse_tile("1", "1", "1"), (TileId{1, 1, 1}));
  EXPECT_EQ(parse_tile("3", "7", "5"), (TileId{3, 7, 5}));
  EXPECT_EQ(parse_tile("10", "843", "388"), (TileId{10, 843, 388}));
  const std::uint32_t last = (1u << 24) - 1;
  EXPECT_EQ(parse_tile("24", std::to_string(last), std::to_string(last)), (TileId{24, last, last}));
  EXPECT_EQ(parse_tile("24", "0", std::to_string(last)), (TileId{24, 0, last}));
  // A smaller maximum zoom.
  EXPECT_EQ(parse_tile("18", "5", "6", 18), (TileId{18, 5, 6}));
}

TEST(TileMath, TileIdToString) {
  EXPECT_EQ((TileId{0, 0, 0}).to_string(), "0/0/0");
  EXPECT_EQ((TileId{14, 13489, 6208}).to_string(), "14/13489/6208");
}

TEST(TileMath, ParseRejectsEachPartByName) {
  struct Case {
    const char *z, *x, *y;
    int max_zoom;
    const char* part;
  };
  const Case cases[] = {
      {"-1", "0", "0", k_max_tile_zoom, "z"},
      {"1.5", "0", "0", k_max_tile_zoom, "z"},
      {"", "0", "0", k_max_tile_zoom, "z"},
      {"a", "0", "0", k_max_tile_zoom, "z"},
      {" 1", "0", "0", k_max_tile_zoom, "z"},
      {"1 ", "0", "0", k_max_tile_zoom, "z"},
      {"+1", "0", "0", k_max_tile_zoom, "z"},
      {"1e1", "0", "0", k_max_tile_zoom, "z"},
      {"25", "0", "0", k_max_tile_zoom, "z"},
      {"99999999999999999999999", "0", "0", k_max_tile_zoom, "z"},
      {"19", "0", "0", 18, "z"},
      {"0", "1", "0", k_max_tile_zoom, "x"},
      {"0", "0", "1", k_max_tile_zoom, "y"},
      {"1", "2", "0", k_max_tile_zoom, "x"},
      {"1", "0", "2", k_max_tile_zoom, "y"},
      {"3", "-1", "0", k_max_tile_zoom, "x"},
      {"3", "0", "-1", k_max_tile_zoom, "y"},
      {"3", "2.0", "0", k_max_tile_zoom, "x"},
      {"3", "0", "0x1", k_max_tile_zoom, "y"},
      {"3", "", "0", k_max_tile_zoom, "x"},
      {"3", "1", "", k_max_tile_zoom, "y"},
      {"3", "8", "0", k_max_tile_zoom, "x"},
      {"3", "0", "8", k_max_tile_zoom, "y"},
      {"24", "16777216", "0", k_max_tile_zoom, "x"},
      {"24", "0", "16777216", k_max_tile_zoom, "y"},
      {"24", "4294967296", "0", k_max_tile_zoom, "x"},  // would wrap to 0 in 32 bits
      // z is checked first, then x, then y.
      {"x", "-1", "-1", k_max_tile_zoom, "z"},
      {"2", "9", "9", k_max_tile_zoom, "x"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.z) + "/" + c.x + "/" + c.y);
    const std::string msg =
        expect_error([&] { (void)parse_tile(c.z, c.x, c.y, c.max_zoom); }, ErrorKind::invalid_input, "invalid_tile", c.part);
    EXPECT_NE(msg.find(std::string("tile ") + c.part), std::string::npos) << msg;
  }
}

// ---------------------------------------------------------------------------
// Lon/lat <-> Web Mercator
// ---------------------------------------------------------------------------

TEST(TileMath, MercatorKnownValues) {
  double mx = 1, my = 1;
  lonlat_to_mercator(0, 0, mx, my);
  EXPECT_DOUBLE_EQ(mx, 0);
  EXPECT_NEAR(my, 0, 1e-9);
  lonlat_to_mercator(180, 0, mx, my);
  EXPECT_NEAR(mx, 20037508.34, 0.01);
  EXPECT_NEAR(mx, k_mercator_half, 1e-6);
  lonlat_to_mercator(-180, 0, mx, my);
  EXPECT_NEAR(mx, -k_mercator_half, 1e-6);
  lonlat_to_mercator(0, k_mercator_max_lat, mx, my);
  EXPECT_NEAR(my, k_mercator_half, 1e-3);
  lonlat_to_mercator(0, -k_mercator_max_lat, mx, my);
  EXPECT_NEAR(my, -k_mercator_half, 1e-3);
  lonlat_to_mercator(0, 85.0511, mx, my);
  EXPECT_NEAR(my, 20037508, 100);  // 85.0511 is 37 m short of the edge
  // Beyond the square latitude is clamped to its edge.
  lonlat_to_mercator(10, 90, mx, my);
  EXPECT_NEAR(my, k_mercator_half, 1e-3);
  EXPECT_TRUE(std::isfinite(my));
  lonlat_to_mercator(10, -90, mx, my);
  EXPECT_NEAR(my, -k_mercator_half, 1e-3);
  // A known city: Beijing, Tiananmen (116.3974, 39.9087).
  lonlat_to_mercator(116.3974, 39.9087, mx, my);
  EXPECT_NEAR(mx, 12957299.30, 0.01);
  EXPECT_NEAR(my, 4852683.67, 0.01);

  double lon = 1, lat = 1;
  mercator_to_lonlat(0, 0, lon, lat);
  EXPECT_NEAR(lon, 0, 1e-12);
  EXPECT_NEAR(lat, 0, 1e-12);
  mercator_to_lonlat(k_mercator_half, k_mercator_half, lon, lat);
  EXPECT_NEAR(lon, 180, 1e-9);
  EXPECT_NEAR(lat, k_mercator_max_lat, 1e-9);
  mercator_to_lonlat(-k_mercator_half, -k_mercator_half, lon, lat);
  EXPECT_NEAR(lon, -180, 1e-9);
  EXPECT_NEAR(lat, -k_mercator_max_lat, 1e-9);
}

TEST(TileMath, MercatorRoundTrip) {
  for (double lon = -180; lon <= 180; lon += 7.5) {
    for (double lat = -85; lat <= 85; lat += 2.5) {
      double mx = 0, my = 0, lon2 = 0, lat2 = 0;
      lonlat_to_mercator(lon, lat, mx, my);
      mercator_to_lonlat(mx, my, lon2, lat2);
      EXPECT_NEAR(lon2, lon, 1e-9) << lon << "," << lat;
      EXPECT_NEAR(lat2, lat, 1e-9) << lon << "," << lat;
    }
  }
  // And from metres.
  for (double mx = -2e7; mx <= 2e7; mx += 1e6) {
    for (double my = -2e7; my <= 2e7; my += 1e6) {
      double lon = 0, lat = 0, mx2 = 0, my2 = 0;
      mercator_to_lonlat(mx, my, lon, lat);
      lonlat_to_mercator(lon, lat, mx2, my2);
      EXPECT_NEAR(mx2, mx, 1e-6);
      EXPECT_NEAR(my2, my, 1e-6);
    }
  }
}

// ---------------------------------------------------------------------------
// Tile bounds
// ---------------------------------------------------------------------------

TEST(TileMath, ZoomZeroIsTheWholeSquare) {
  const Envelope m = tile_bounds_mercator({0, 0, 0});
  EXPECT_DOUBLE_EQ(m.minx, -k_mercator_half);
  EXPECT_DOUBLE_EQ(m.maxx, k_mercator_half);
  EXPECT_DOUBLE_EQ(m.miny, -k_mercator_half);
  EXPECT_DOUBLE_EQ(m.maxy, k_mercator_half);
  const Envelope g = tile_bounds_lonlat({0, 0, 0});
  EXPECT_NEAR(g.minx, -180, 1e-9);
  EXPECT_NEAR(g.maxx, 180, 1e-9);
  EXPECT_NEAR(g.miny, -k_mercator_max_lat, 1e-9);
  EXPECT_NEAR(g.maxy, k_mercator_max_lat, 1e-9);
}

TEST(TileMath, ChildrenTileTheirParentExactly) {
  const double eps = 1e-6;  // metres
  for (int z = 0; z <= 6; ++z) {
    const std::uint32_t n = 1u << z;
    for (std::uint32_t x = 0; x < n; ++x) {
      for (std::uint32_t y = 0; y < n; ++y) {
        const Envelope p = tile_bounds_mercator({z, x, y});
        EXPECT_NEAR(p.maxx - p.minx, 2 * k_mercator_half / n, eps);
        EXPECT_NEAR(p.maxy - p.miny, 2 * k_mercator_half / n, eps);
        const Envelope nw = tile_bounds_mercator({z + 1, 2 * x, 2 * y});
        const Envelope ne = tile_bounds_mercator({z + 1, 2 * x + 1, 2 * y});
        const Envelope sw = tile_bounds_mercator({z + 1, 2 * x, 2 * y + 1});
        const Envelope se = tile_bounds_mercator({z + 1, 2 * x + 1, 2 * y + 1});
        // Corners on the parent's corners (y grows southward).
        EXPECT_NEAR(nw.minx, p.minx, eps);
        EXPECT_NEAR(nw.maxy, p.maxy, eps);
        EXPECT_NEAR(ne.maxx, p.maxx, eps);
        EXPECT_NEAR(ne.maxy, p.maxy, eps);
        EXPECT_NEAR(sw.minx, p.minx, eps);
        EXPECT_NEAR(sw.miny, p.miny, eps);
        EXPECT_NEAR(se.maxx, p.maxx, eps);
        EXPECT_NEAR(se.miny, p.miny, eps);
        // Shared edges, no gap and no overlap.
        EXPECT_NEAR(nw.maxx, ne.minx, eps);
        EXPECT_NEAR(sw.maxx, se.minx, eps);
        EXPECT_NEAR(nw.miny, sw.maxy, eps);
        EXPECT_NEAR(ne.miny, se.maxy, eps);
        EXPECT_NEAR(nw.maxx, (p.minx + p.maxx) / 2, eps);
        EXPECT_NEAR(nw.miny, (p.miny + p.maxy) / 2, eps);
      }
    }
  }
}

TEST(TileMath, LonLatBoundsOfKnownTiles) {
  const double eps = 1e-9;
  Envelope e = tile_bounds_lonlat({1, 0, 0});
  EXPECT_NEAR(e.minx, -180, eps);
  EXPECT_NEAR(e.maxx, 0, eps);
  EXPECT_NEAR(e.miny, 0, eps);
  EXPECT_NEAR(e.maxy, k_mercator_max_lat, eps);
  e = tile_bounds_lonlat({1, 1, 0});
  EXPECT_NEAR(e.minx, 0, eps);
  EXPECT_NEAR(e.maxx, 180, eps);
  EXPECT_NEAR(e.miny, 0, eps);
  e = tile_bounds_lonlat({1, 0, 1});
  EXPECT_NEAR(e.miny, -k_mercator_max_lat, eps);
  EXPECT_NEAR(e.maxy, 0, eps);
  e = tile_bounds_lonlat({1, 1, 1});
  EXPECT_NEAR(e.minx, 0, eps);
  EXPECT_NEAR(e.maxx, 180, eps);
  EXPECT_NEAR(e.miny, -k_mercator_max_lat, eps);
  EXPECT_NEAR(e.maxy, 0, eps);
  // 2/2/1: lon 0..90, lat 0..66.51326044311186.
  e = tile_bounds_lonlat({2, 2, 1});
  EXPECT_NEAR(e.minx, 0, eps);
  EXPECT_NEAR(e.maxx, 90, eps);
  EXPECT_NEAR(e.miny, 0, eps);
  EXPECT_NEAR(e.maxy, 66.51326044311186, 1e-9);
  // The z10 tile of Tiananmen holds it.
  e = tile_bounds_lonlat({10, 843, 388});
  EXPECT_TRUE(e.contains(116.3974, 39.9087));
  EXPECT_NEAR(e.maxx - e.minx, 360.0 / 1024, 1e-9);
}

TEST(TileMath, BufferedBoundsGrowInMetresAndClampLongitude) {
  const TileId t{4, 5, 6};
  const Envelope m = tile_bounds_mercator(t);
  const double size = m.maxx - m.minx;
  const Envelope b = tile_bounds_lonlat_buffered(t, 0.25);
  double lon = 0, lat = 0;
  mercator_to_lonlat(m.minx - size / 4, m.miny - size / 4, lon, lat);
  EXPECT_NEAR(b.minx, lon, 1e-9);
  EXPECT_NEAR(b.miny, lat, 1e-9);
  mercator_to_lonlat(m.maxx + size / 4, m.maxy + size / 4, lon, lat);
  EXPECT_NEAR(b.maxx, lon, 1e-9);
  EXPECT_NEAR(b.maxy, lat, 1e-9);
  const Envelope plain = tile_bounds_lonlat(t);
  EXPECT_LT(b.minx, plain.minx);
  EXPECT_GT(b.maxx, plain.maxx);
  EXPECT_LT(b.miny, plain.miny);
  EXPECT_GT(b.maxy, plain.maxy);
  EXPECT_DOUBLE_EQ(tile_bounds_lonlat_buffered(t, 0).minx, plain.minx);
  // At the antimeridian longitude stops at +-180.
  const Envelope west = tile_bounds_lonlat_buffered({3, 0, 3}, 0.5);
  EXPECT_DOUBLE_EQ(west.minx, -180);
  const Envelope east = tile_bounds_lonlat_buffered({3, 7, 3}, 0.5);
  EXPECT_DOUBLE_EQ(east.maxx, 180);
  const Envelope world = tile_bounds_lonlat_buffered({0, 0, 0}, 0.1);
  EXPECT_DOUBLE_EQ(world.minx, -180);
  EXPECT_DOUBLE_EQ(world.maxx, 180);
  EXPECT_GT(world.maxy, k_mercator_max_lat);
}

// ---------------------------------------------------------------------------
// tiles_covering
// ---------------------------------------------------------------------------

/// Every tile at zoom z whose lon/lat bounds meet the envelope once the
/// envelope is clamped to the Web Mercator square. A tile owns its west and
/// north edges ([minx, maxx) x (miny, maxy]), the last column and row their
/// far edges too, so a box edge exactly on a tile edge is not counted twice.
TileRange brute_force(const Envelope& in, int z) {
  const Envelope world = tile_bounds_lonlat({0, 0, 0});
  Envelope e{std::clamp(in.minx, world.minx, world.maxx), std::clamp(in.miny, world.miny, world.maxy),
             std::clamp(in.maxx, world.minx, world.maxx), std::clamp(in.maxy, world.miny, world.maxy)};
  const std::uint32_t n = 1u << z;
  TileRange r{z, n, n, 0, 0};
  bool any = false;
  for (std::uint32_t x = 0; x < n; ++x) {
    for (std::uint32_t y = 0; y < n; ++y) {
      const Envelope t = tile_bounds_lonlat({z, x, y});
      const bool in_x = t.minx <= e.maxx && (e.minx < t.maxx || (x == n - 1 && e.minx <= t.maxx));
      const bool in_y = e.miny <= t.maxy && (t.miny < e.maxy || (y == n - 1 && t.miny <= e.maxy));
      if (in_x && in_y) {
        any = true;
        r.minx = std::min(r.minx, x);
        r.maxx = std::max(r.maxx, x);
        r.miny = std::min(r.miny, y);
        r.maxy = std::max(r.maxy, y);
      }
    }
  }
  EXPECT_TRUE(any) << "every clamped box meets some tile";
  return r;
}

void expect_range(const TileRange& got, const TileRange& want, const std::string& what) {
  EXPECT_EQ(got.z, want.z) << what;
  EXPECT_EQ(got.minx, want.minx) << what;
  EXPECT_EQ(got.maxx, want.maxx) << what;
  EXPECT_EQ(got.miny, want.miny) << what;
  EXPECT_EQ(got.maxy, want.maxy) << what;
}

std::string describe(const Envelope& e, int z) {
  return "z" + std::to_string(z) + " [" + std::to_string(e.minx) + "," + std::to_string(e.miny) + "," +
         std::to_string(e.maxx) + "," + std::to_string(e.maxy) + "]";
}

TEST(TileMath, CoveringMatchesBruteForce) {
  std::mt19937 rng(20240611);
  std::uniform_real_distribution<double> lon(-180, 180), lat(-84, 84), size(0, 60), tiny(0, 0.5);
  std::vector<Envelope> boxes;
  for (int i = 0; i < 150; ++i) {
    const double x = lon(rng), y = lat(rng);
    const double w = i % 3 == 0 ? tiny(rng) : size(rng), h = i % 3 == 0 ? tiny(rng) : size(rng) / 2;
    boxes.push_back({x, y, std::min(180.0, x + w), std::min(85.0, y + h)});
  }
  // Edges of the world: the antimeridian, the poles, beyond both.
  boxes.push_back({-180, -90, 180, 90});
  boxes.push_back({-250, -100, 250, 100});
  boxes.push_back({170.3, 10.2, 180, 20.7});
  boxes.push_back({-180, 10.2, -170.3, 20.7});
  boxes.push_back({179.9, -5.1, 185, 5.1});
  boxes.push_back({-185, -5.1, -179.9, 5.1});
  boxes.push_back({-10.3, 80.2, 10.3, 90});
  boxes.push_back({-10.3, -90, 10.3, -80.2});
  boxes.push_back({-10.3, 86, 10.3, 89});    // wholly north of the square
  boxes.push_back({-10.3, -89, 10.3, -86});  // wholly south of it
  boxes.push_back({116.3974, 39.9087, 116.3974, 39.9087});  // a point
  for (int z = 0; z <= 6; ++z) {
    for (const auto& b : boxes) {
      expect_range(tiles_covering(b, z), brute_force(b, z), describe(b, z));
    }
  }
}

TEST(TileMath, CoveringKnownRanges) {
  // The whole world at zoom 3: every one of the 64 tiles.
  TileRange r = tiles_covering({-180, -90, 180, 90}, 3);
  EXPECT_EQ(r.minx, 0u);
  EXPECT_EQ(r.miny, 0u);
  EXPECT_EQ(r.maxx, 7u);
  EXPECT_EQ(r.maxy, 7u);
  EXPECT_EQ(r.count(), 64u);
  // Zoom 0: the one tile, whatever the box.
  r = tiles_covering({10, 10, 11, 11}, 0);
  EXPECT_EQ(r.count(), 1u);
  EXPECT_EQ(r.maxx, 0u);
  // A point: its tile (Tiananmen at 10/843/388 and 14/13489/6208).
  r = tiles_covering({116.3974, 39.9087, 116.3974, 39.9087}, 10);
  EXPECT_EQ(r.minx, 843u);
  EXPECT_EQ(r.maxx, 843u);
  EXPECT_EQ(r.miny, 388u);
  EXPECT_EQ(r.maxy, 388u);
  EXPECT_EQ(r.count(), 1u);
  r = tiles_covering({116.3974, 39.9087, 116.3974, 39.9087}, 14);
  EXPECT_EQ(r.minx, 13489u);
  EXPECT_EQ(r.miny, 6208u);
  // y grows southward: the northern edge of a box gives the smallest row.
  r = tiles_covering({-10, -40, 10, 40}, 2);
  EXPECT_EQ(r.minx, 1u);
  EXPECT_EQ(r.maxx, 2u);
  EXPECT_EQ(r.miny, 1u);
  EXPECT_EQ(r.maxy, 2u);
  // Clamped at the antimeridian and the poles: never outside 0..2^z-1.
  r = tiles_covering({-200, -95, 200, 95}, 5);
  EXPECT_EQ(r.minx, 0u);
  EXPECT_EQ(r.miny, 0u);
  EXPECT_EQ(r.maxx, 31u);
  EXPECT_EQ(r.maxy, 31u);
  r = tiles_covering({180, 0.5, 180, 0.5}, 4);
  EXPECT_EQ(r.minx, 15u);
  EXPECT_EQ(r.maxx, 15u);
  r = tiles_covering({-180, 89.9, -180, 89.9}, 4);
  EXPECT_EQ(r.minx, 0u);
  EXPECT_EQ(r.miny, 0u);
  r = tiles_covering({0, -89.9, 0, -89.9}, 4);
  EXPECT_EQ(r.maxy, 15u);
  // A point on the corner shared by four tiles belongs to one of them, the
  // tile east and south of it (tiles own their west and north edges).
  r = tiles_covering({0, 0, 0, 0}, 1);
  EXPECT_EQ(r.minx, 1u);
  EXPECT_EQ(r.maxx, 1u);
  EXPECT_EQ(r.miny, 1u);
  EXPECT_EQ(r.maxy, 1u);
  // The deepest zoom: counts beyond 32 bits do not overflow.
  r = tiles_covering({-180, -85, 180, 85}, k_max_tile_zoom);
  EXPECT_EQ(r.maxx, (1u << 24) - 1);
  EXPECT_GT(r.count(), std::uint64_t{1} << 32);
}

TEST(TileMath, CoveringTilesHoldTheBox) {
  // Each corner of a box lies in the bounds of a tile of its range.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> lon(-179, 178), lat(-84, 83), d(0.001, 1);
  for (int i = 0; i < 200; ++i) {
    const Envelope b{lon(rng), lat(rng), 0, 0};
    const Envelope box{b.minx, b.miny, b.minx + d(rng), b.miny + d(rng)};
    const int z = 8 + i % 10;
    const TileRange r = tiles_covering(box, z);
    const Envelope nw = tile_bounds_lonlat({z, r.minx, r.miny});
    const Envelope se = tile_bounds_lonlat({z, r.maxx, r.maxy});
    EXPECT_LE(nw.minx, box.minx);
    EXPECT_GE(nw.maxy, box.maxy);
    EXPECT_GE(se.maxx, box.maxx);
    EXPECT_LE(se.miny, box.miny);
    EXPECT_GT(nw.maxx, box.minx);
    EXPECT_LT(se.minx, box.maxx);
  }
}

}  // namespace
}  // namespace gridd::spatial
