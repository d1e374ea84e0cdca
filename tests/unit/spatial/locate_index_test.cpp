// Unit tests for gridd/spatial/locate_index.hpp and geos.hpp: the indexes
// must give exactly the brute-force answers.
#include <gtest/gtest.h>

#include <geodesic.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iomanip>
#include <limits>
#include <random>

#include "gridd/spatial/geodesic.hpp"
#include "gridd/spatial/geojson.hpp"
#include "gridd/spatial/locate_index.hpp"
#include "unit/test_util.hpp"

namespace gridd::spatial {
namespace {

using Hits = std::vector<std::pair<std::size_t, double>>;

/// Earth-centred Cartesian position on the WGS84 ellipsoid.
std::array<double, 3> ecef(double lon, double lat) {
  constexpr double a = 6378137.0, f = 1 / 298.257223563, e2 = f * (2 - f), deg = 3.14159265358979323846 / 180;
  const double sp = std::sin(lat * deg), cp = std::cos(lat * deg);
  const double n = a / std::sqrt(1 - e2 * sp * sp);
  return {n * cp * std::cos(lon * deg), n * cp * std::sin(lon * deg), n * (1 - e2) * sp};
}

/// The exact k nearest by geodesic distance (ties by index). To keep it fast
/// without borrowing the index's sphere argument, points are visited in order
/// of their straight-line (chord) distance, a strict lower bound of the
/// geodesic distance, until the chord exceeds the k-th best geodesic found.
Hits brute_force_nearest(const std::vector<IndexedPoint>& pts, double lon, double lat, std::size_t k) {
  const auto q = ecef(lon, lat);
  std::vector<std::pair<double, std::size_t>> by_chord;
  by_chord.reserve(pts.size());
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const auto p = ecef(pts[i].lon, pts[i].lat);
    by_chord.emplace_back(std::hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]), i);
  }
  std::sort(by_chord.begin(), by_chord.end());
  Hits found;
  auto less = [](const auto& a, const auto& b) { return a.second < b.second || (a.second == b.second && a.first < b.first); };
  for (const auto& [chord, i] : by_chord) {
    if (found.size() >= k) {
      std::nth_element(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(k - 1), found.end(), less);
      if (chord * (1 - 1e-12) > found[k - 1].second) break;
    }
    found.emplace_back(i, geodesic_distance_m(lon, lat, pts[i].lon, pts[i].lat));
  }
  std::sort(found.begin(), found.end(), less);
  if (found.size() > k) found.resize(k);
  return found;
}

void check_point_index(double lon0, double lon1, double lat0, double lat1, std::size_t n_points,
                       std::size_t n_queries, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ulon(lon0, lon1), ulat(lat0, lat1);
  std::vector<IndexedPoint> pts(n_points);
  for (auto& p : pts) p = {ulon(rng), ulat(rng)};
  const PointIndex index(pts);
  ASSERT_EQ(index.size(), n_points);
  std::size_t mismatches = 0;
  for (std::size_t q = 0; q < n_queries; ++q) {
    const double lon = ulon(rng), lat = ulat(rng);
    const Hits truth = brute_force_nearest(pts, lon, lat, 10);
    for (std::size_t k : {1u, 3u, 10u}) {
      const Hits got = index.nearest(lon, lat, k);
      ASSERT_EQ(got.size(), k);
      for (std::size_t i = 0; i < k; ++i) {
        if (got[i].first != truth[i].first || got[i].second != truth[i].second) {
          ++mismatches;
          ADD_FAILURE() << "query " << q << " (" << lon << ", " << lat << ") k=" << k << " rank " << i << ": got #"
                        << got[i].first << " at " << got[i].second << " m, expected #" << truth[i].first << " at "
                        << truth[i].second << " m";
          break;
        }
      }
      if (mismatches > 5) return;
    }
  }
}

TEST(PointIndex, NearestEqualsBruteForceInACity) {
  check_point_index(116.0, 117.0, 39.5, 40.5, 2000, 1000, 7);
}

TEST(PointIndex, NearestEqualsBruteForceWorldwide) {
  // Sparse points all over the globe stress the sphere-to-ellipsoid widening.
  check_point_index(-180, 180, -85, 85, 2000, 500, 11);
}

TEST(PointIndex, NearestEqualsBruteForceAlongAMeridianAndAParallel) {
  // The sphere underestimates north-south distances near the equator the most
  // and east-west ones near the poles: candidates on both axes around the query.
  for (const double lat0 : {0.0, 70.0}) {
    std::vector<IndexedPoint> pts;
    for (int i = 1; i <= 50; ++i) {
      pts.push_back({10.0, lat0 + i * 0.0101});  // north
      pts.push_back({10.0 + i * 0.0100, lat0});  // east
    }
    const PointIndex index(pts);
    const Hits truth = brute_force_nearest(pts, 10.0, lat0, 20);
    const Hits got = index.nearest(10.0, lat0, 20);
    ASSERT_EQ(got.size(), 20u);
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].first, truth[i].first) << "lat0=" << lat0 << " rank " << i;
      EXPECT_EQ(got[i].second, truth[i].second);
    }
  }
}

TEST(PointIndex, TiesAreBrokenByIndexAndKIsClamped) {
  const std::vector<IndexedPoint> pts = {{116.5, 39.5}, {116.4, 39.9}, {116.4, 39.9}, {116.4, 39.9}, {117, 40}};
  const PointIndex index(pts);
  const Hits got = index.nearest(116.4, 39.9, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, 1u);
  EXPECT_EQ(got[1].first, 2u);
  EXPECT_EQ(got[2].first, 3u);
  EXPECT_EQ(got[0].second, 0.0);
  EXPECT_EQ(index.nearest(116.4, 39.9, 100).size(), pts.size());
  EXPECT_TRUE(index.nearest(116.4, 39.9, 0).empty());
  const PointIndex empty(std::vector<IndexedPoint>{});
  EXPECT_TRUE(empty.nearest(116.4, 39.9, 5).empty());
}

// ---------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------

/// A random star-shaped (hence simple and valid) polygon around a centre.
GeomPtr random_polygon(std::mt19937_64& rng, double cx, double cy) {
  std::uniform_real_distribution<double> r(0.002, 0.03);
  std::uniform_int_distribution<int> nv(3, 9);
  const int n = nv(rng);
  Json ring = Json::array();
  for (int i = 0; i < n; ++i) {
    const double a = 2 * 3.14159265358979323846 * i / n;
    const double rad = r(rng);
    ring.push_back(Json::array({cx + rad * std::cos(a), cy + rad * std::sin(a) * 0.77}));
  }
  ring.push_back(ring[0]);
  return geometry_from_geojson(Json{{"type", "Polygon"}, {"coordinates", Json::array({ring})}});
}

struct Shapes {
  std::vector<GeomPtr> raw;  // independent copies for the brute force
  std::vector<std::unique_ptr<Shape>> shapes;
  std::vector<const Shape*> ptrs;
};

Shapes make_shapes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ulon(116.0, 117.0), ulat(39.5, 40.5);
  Shapes s;
  for (std::size_t i = 0; i < n; ++i) {
    GeomPtr g = random_polygon(rng, ulon(rng), ulat(rng));
    EXPECT_TRUE(check_validity(g.get()).valid);
    s.raw.push_back(clone(g.get()));
    s.shapes.push_back(std::make_unique<Shape>(std::move(g)));
    s.ptrs.push_back(s.shapes.back().get());
  }
  return s;
}

TEST(ShapeIndex, CoveringEqualsBruteForceIntersects) {
  const Shapes s = make_shapes(400, 3);
  const ShapeIndex index(s.ptrs);
  ASSERT_EQ(index.size(), 400u);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> ulon(115.95, 117.05), ulat(39.45, 40.55);
  std::size_t nonempty = 0, multi = 0;
  auto check = [&](double lon, double lat) {
    const GeomPtr p = make_point(lon, lat);
    std::vector<std::size_t> truth;
    for (std::size_t i = 0; i < s.raw.size(); ++i) {
      if (GEOSIntersects_r(geos(), s.raw[i].get(), p.get()) == 1) truth.push_back(i);
    }
    const auto got = index.covering(lon, lat);
    EXPECT_EQ(got, truth) << lon << " " << lat;
    nonempty += !truth.empty();
    multi += truth.size() > 1;
  };
  for (int q = 0; q < 3000; ++q) check(ulon(rng), ulat(rng));
  // Vertices lie on the boundary: covered (boundary counts).
  for (std::size_t i = 0; i < s.raw.size(); i += 7) {
    const GEOSGeometry* ring = GEOSGetExteriorRing_r(geos(), s.raw[i].get());
    double x = 0, y = 0;
    GEOSCoordSeq_getXY_r(geos(), GEOSGeom_getCoordSeq_r(geos(), ring), 1, &x, &y);
    check(x, y);
    const auto got = index.covering(x, y);
    EXPECT_TRUE(std::find(got.begin(), got.end(), i) != got.end());
  }
  EXPECT_GT(nonempty, 100u);  // the sample really exercises hits
  EXPECT_GT(multi, 5u);       // and overlaps
}

/// A small city: 24 x 24 jittered quadrilaterals sharing their edges, their
/// unions by 4 x 4 blocks, a district around all of them with a hole, and a
/// few polygons smaller than a lattice cell (always left to GEOS).
Shapes make_tiled_city(unsigned seed) {
  std::mt19937_64 rng(seed);
  constexpr int n = 24;
  constexpr double x0 = 116.3, y0 = 39.8, d = 0.01;
  std::uniform_real_distribution<double> jitter(-0.2 * d, 0.2 * d);
  std::vector<std::array<double, 2>> v((n + 1) * (n + 1));
  for (int i = 0; i <= n; ++i) {
    for (int j = 0; j <= n; ++j) {
      const bool edge = i == 0 || j == 0 || i == n || j == n;
      v[static_cast<std::size_t>(i * (n + 1) + j)] = {x0 + i * d + (edge ? 0 : jitter(rng)),
                                                      y0 + j * d + (edge ? 0 : jitter(rng))};
    }
  }
  auto at = [&](int i, int j) { return v[static_cast<std::size_t>(i * (n + 1) + j)]; };
  auto ring_of = [](const std::vector<std::array<double, 2>>& pts) {
    Json ring = Json::array();
    for (const auto& p : pts) ring.push_back(Json::array({p[0], p[1]}));
    ring.push_back(ring[0]);
    return ring;
  };
  Shapes s;
  auto add = [&](GeomPtr g) {
    EXPECT_TRUE(check_validity(g.get()).valid);
    s.raw.push_back(clone(g.get()));
    s.shapes.push_back(std::make_unique<Shape>(std::move(g)));
    s.ptrs.push_back(s.shapes.back().get());
  };
  // The district: the whole square with a hole in the middle.
  const Json outer = ring_of({{x0 - d, y0 - d}, {x0 + (n + 1) * d, y0 - d}, {x0 + (n + 1) * d, y0 + (n + 1) * d},
                              {x0 - d, y0 + (n + 1) * d}});
  const Json hole = ring_of({{x0 + 10.3 * d, y0 + 10.3 * d}, {x0 + 10.3 * d, y0 + 13.1 * d},
                             {x0 + 13.7 * d, y0 + 13.1 * d}, {x0 + 13.7 * d, y0 + 10.3 * d}});
  add(geometry_from_geojson(Json{{"type", "Polygon"}, {"coordinates", Json::array({outer, hole})}}));
  std::vector<GeomPtr> quads;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      quads.push_back(geometry_from_geojson(
          Json{{"type", "Polygon"},
               {"coordinates", Json::array({ring_of({at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)})})}}));
    }
  }
  for (int bi = 0; bi < n; bi += 4) {
    for (int bj = 0; bj < n; bj += 4) {
      std::vector<const GEOSGeometry*> parts;
      for (int i = bi; i < bi + 4; ++i) {
        for (int j = bj; j < bj + 4; ++j) parts.push_back(quads[static_cast<std::size_t>(i * n + j)].get());
      }
      add(union_all(parts));
    }
  }
  for (auto& q : quads) add(std::move(q));
  // Slivers far smaller than a cell.
  for (int k = 0; k < 5; ++k) {
    const double cx = x0 + (3 + 4 * k) * d + 0.0003, cy = y0 + 7.5 * d;
    add(geometry_from_geojson(Json{
        {"type", "Polygon"},
        {"coordinates", Json::array({ring_of({{cx, cy}, {cx + 0.0002, cy}, {cx + 0.0001, cy + 0.00015}})})}}));
  }
  return s;
}

TEST(CoverCells, LatticeAnswersEqualGeosEverywhereIncludingCellEdgesAndBoundaries) {
  const Shapes s = make_tiled_city(41);
  const ShapeIndex index(s.ptrs);
  const CoverCells& cells = index.cells();
  ASSERT_FALSE(cells.empty());
  const double size = cells.cell_size();
  // A power of two of a degree, giving a tile about 16 cells across.
  EXPECT_EQ(std::exp2(std::round(std::log2(size))), size);
  EXPECT_GT(0.01 / size, 8.0);
  EXPECT_GT(static_cast<double>(cells.pure_cells()) / static_cast<double>(cells.cell_count()), 0.5);

  std::size_t from_lattice = 0, checked = 0, nonempty = 0;
  auto check = [&](double lon, double lat) {
    const GeomPtr p = make_point(lon, lat);
    std::vector<std::size_t> truth;
    for (std::size_t i = 0; i < s.raw.size(); ++i) {
      if (GEOSIntersects_r(geos(), s.raw[i].get(), p.get()) == 1) truth.push_back(i);
    }
    std::size_t n = 0;
    from_lattice += cells.lookup(lon, lat, n) != nullptr;
    ++checked;
    nonempty += !truth.empty();
    const auto got = index.covering(lon, lat);
    ASSERT_EQ(got, truth) << std::setprecision(17) << lon << " " << lat;
    ASSERT_EQ(index.covering_geos(lon, lat), truth) << std::setprecision(17) << lon << " " << lat;
  };
  std::mt19937_64 rng(43);
  std::uniform_real_distribution<double> ulon(116.28, 116.56), ulat(39.78, 40.06), unit(0, 1);
  for (int q = 0; q < 20000; ++q) check(ulon(rng), ulat(rng));
  // On lattice lines and corners: the cells on both sides must agree with GEOS.
  for (int q = 0; q < 3000; ++q) {
    const double lon = std::floor(ulon(rng) / size) * size, lat = std::floor(ulat(rng) / size) * size;
    check(lon, ulat(rng));
    check(ulon(rng), lat);
    check(lon, lat);
  }
  // On every shape's boundary and a hair either side of it.
  for (const auto& g : s.raw) {
    std::vector<std::array<double, 2>> pts;  // every ring's vertices, ring after ring
    for_each_xy(g.get(), [&](double x, double y) { pts.push_back({x, y}); });
    for (std::size_t i = 0; i + 1 < pts.size(); ++i) {
      const double t = unit(rng);
      const double x = pts[i][0] + t * (pts[i + 1][0] - pts[i][0]), y = pts[i][1] + t * (pts[i + 1][1] - pts[i][1]);
      check(pts[i][0], pts[i][1]);
      check(x, y);
      for (const double h : {1e-13, 1e-9, size * 0.5, size * 1.5}) {
        check(x + h, y);
        check(x - h, y);
        check(x, y + h);
        check(x, y - h);
      }
    }
  }
  RecordProperty("cover_cells_pure_fraction",
                 std::to_string(static_cast<double>(cells.pure_cells()) / static_cast<double>(cells.cell_count())));
  EXPECT_GT(nonempty, checked / 2);
  EXPECT_GT(from_lattice, checked / 3);  // the lattice really answers, and...
  EXPECT_LT(from_lattice, checked);      // ...points near boundaries really go to GEOS
}

TEST(CoverCells, NoLatticeWhenShapesAreTinyForTheExtent) {
  // Two slivers 60 degrees apart: 3 x 3 cells each would exceed the cap.
  Shapes s;
  for (const double cx : {60.0, 120.0}) {
    GeomPtr g = geometry_from_geojson(Json::parse(
        R"({"type":"Polygon","coordinates":[[[)" + std::to_string(cx) + ",30],[" + std::to_string(cx + 1e-4) +
        ",30],[" + std::to_string(cx + 1e-4) + ",30.0001],[" + std::to_string(cx) + ",30.0001]," + "[" +
        std::to_string(cx) + ",30]]]}"));
    s.shapes.push_back(std::make_unique<Shape>(std::move(g)));
    s.ptrs.push_back(s.shapes.back().get());
  }
  const ShapeIndex index(s.ptrs);
  EXPECT_TRUE(index.cells().empty());
  std::size_t n = 0;
  EXPECT_EQ(index.cells().lookup(60.00005, 30.00005, n), nullptr);
  EXPECT_EQ(index.covering(60.00005, 30.00005), std::vector<std::size_t>{0});
  EXPECT_EQ(index.covering(120.00005, 30.00005), std::vector<std::size_t>{1});
  EXPECT_TRUE(index.covering(90, 30).empty());
}

TEST(ShapeIndex, NearestEqualsBruteForce) {
  const Shapes s = make_shapes(300, 17);
  const ShapeIndex index(s.ptrs);
  std::mt19937_64 rng(23);
  // Queries inside the extent and up to ~1.5 degrees outside it.
  std::uniform_real_distribution<double> ulon(114.5, 118.5), ulat(38.0, 42.0);
  for (int q = 0; q < 300; ++q) {
    const double lon = ulon(rng), lat = ulat(rng);
    for (const bool even_only : {false, true}) {
      std::size_t best = static_cast<std::size_t>(-1);
      double best_d = std::numeric_limits<double>::infinity();
      for (std::size_t i = 0; i < s.shapes.size(); ++i) {
        if (even_only && i % 2) continue;
        const double d = s.shapes[i]->distance_m(lon, lat);
        if (d < best_d) best = i, best_d = d;
      }
      const auto [got, got_d] =
          even_only ? index.nearest(lon, lat, [](std::size_t i) { return i % 2 == 0; })
                    : index.nearest(lon, lat, [](std::size_t) { return true; });
      EXPECT_EQ(got, best) << "query " << q << " (" << lon << ", " << lat << ") even_only=" << even_only;
      EXPECT_DOUBLE_EQ(got_d, best_d);
    }
  }
  const auto none = index.nearest(116.5, 40, [](std::size_t) { return false; });
  EXPECT_EQ(none.first, static_cast<std::size_t>(-1));
  EXPECT_TRUE(std::isinf(none.second));
}

TEST(Shape, DistanceIsWithinOnePercentOfGeodesicAndZeroInside) {
  // A box [116.40,116.45] x [39.90,39.95]; points due south and due east.
  const Shape shape(test::box_geom(116.40, 39.90, 116.45, 39.95));
  EXPECT_EQ(shape.distance_m(116.42, 39.92), 0.0);
  EXPECT_EQ(shape.distance_m(116.40, 39.93), 0.0);  // on the boundary
  const double south = shape.distance_m(116.42, 39.85);
  const double south_truth = geodesic_distance_m(116.42, 39.85, 116.42, 39.90);
  EXPECT_NEAR(south, south_truth, south_truth * 1e-2);
  const double east = shape.distance_m(116.50, 39.93);
  const double east_truth = geodesic_distance_m(116.50, 39.93, 116.45, 39.93);
  EXPECT_NEAR(east, east_truth, east_truth * 1e-2);
  const GeomPtr inside = make_point(116.42, 39.92);
  const GeomPtr outside = make_point(116.42, 39.85);
  EXPECT_TRUE(shape.covers(inside.get()));
  EXPECT_FALSE(shape.covers(outside.get()));
}

/// Karney's geodesic distance straight from PROJ (independent of gridd's
/// short-distance shortcut).
double karney_m(double lon1, double lat1, double lon2, double lat2) {
  static const geod_geodesic g = [] {
    geod_geodesic t{};
    geod_init(&t, 6378137.0, 1 / 298.257223563);
    return t;
  }();
  double s12 = 0;
  geod_inverse(&g, lat1, lon1, lat2, lon2, &s12, nullptr, nullptr);
  return s12;
}

/// Geodesic distance from a point to a short lon/lat edge, by golden-section
/// search along the edge (the distance is unimodal along a short edge).
double karney_to_edge_m(double lon, double lat, double ax, double ay, double bx, double by) {
  auto at = [&](double t) { return karney_m(lon, lat, ax + t * (bx - ax), ay + t * (by - ay)); };
  double lo = 0, hi = 1;
  const double r = (std::sqrt(5.0) - 1) / 2;
  for (int i = 0; i < 200; ++i) {
    const double m1 = hi - r * (hi - lo), m2 = lo + r * (hi - lo);
    (at(m1) < at(m2) ? hi : lo) = (at(m1) < at(m2) ? m2 : m1);
  }
  return std::min({at(0), at(1), at((lo + hi) / 2)});
}

TEST(Shape, DistanceMeetsDocumentedAccuracy) {
  // Documented (locate_index.hpp): "relative error about 0.5e-5 per km of
  // distance: 0.05% at 10 km". The two figures disagree by 10x (0.5e-5/km is
  // 0.005% at 10 km); the frame is first order in the latitude difference, so
  // diagonal offsets reach ~2.5e-5/km at 40N-60N. Asserted: the 0.05%-at-10-km
  // figure (5e-5 per km), at 40N and 60N, in eight directions, 1-40 km.
  double worst_per_km = 0;
  for (const double lat0 : {40.0, 60.0}) {
    const double w = 0.05, h = 0.05;
    const Shape shape(test::box_geom(116.0, lat0, 116.0 + w, lat0 + h));
    const double corners[4][2] = {{116.0, lat0}, {116.0 + w, lat0}, {116.0 + w, lat0 + h}, {116.0, lat0 + h}};
    for (const double off : {0.01, 0.05, 0.1, 0.3}) {
      const std::pair<double, double> queries[] = {
          {116.0 + w / 2, lat0 - off}, {116.0 + w / 2, lat0 + h + off}, {116.0 - off, lat0 + h / 2},
          {116.0 + w + off, lat0 + h / 2}, {116.0 - off, lat0 - off}, {116.0 + w + off, lat0 + h + off},
          {116.0 - off, lat0 + h + off}, {116.0 + w + off, lat0 - off}};
      for (const auto& [lon, lat] : queries) {
        double truth = std::numeric_limits<double>::infinity();
        for (int e = 0; e < 4; ++e) {
          truth = std::min(truth, karney_to_edge_m(lon, lat, corners[e][0], corners[e][1], corners[(e + 1) % 4][0],
                                                   corners[(e + 1) % 4][1]));
        }
        const double d = shape.distance_m(lon, lat);
        const double rel = std::abs(d - truth) / truth;
        worst_per_km = std::max(worst_per_km, rel / (truth / 1000));
        EXPECT_LE(rel, 5e-5 * truth / 1000) << "lat0 " << lat0 << " query " << lon << " " << lat << ": "
                                                    << d << " m vs " << truth << " m";
      }
    }
  }
  RecordProperty("shape_distance_worst_rel_error_per_km", std::to_string(worst_per_km));
}

TEST(ShapeIndex, EmptyIndex) {
  const ShapeIndex index(std::vector<const Shape*>{});
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(index.covering(116, 40).empty());
  EXPECT_EQ(index.nearest(116, 40, [](std::size_t) { return true; }).first, static_cast<std::size_t>(-1));
}

// ---------------------------------------------------------------------------
// GEOS helpers
// ---------------------------------------------------------------------------

TEST(Geos, BowTieValidityNamesSelfIntersectionAndItsLocation) {
  const GeomPtr g = geometry_from_geojson(test::bow_tie(116.5, 39.5, 0.01));
  const Validity v = check_validity(g.get());
  EXPECT_FALSE(v.valid);
  EXPECT_NE(v.reason.find("Self-intersection"), std::string::npos) << v.reason;
  EXPECT_NEAR(v.x, 116.5, 1e-9);
  EXPECT_NEAR(v.y, 39.5, 1e-9);
  EXPECT_TRUE(check_validity(test::box_geom(0, 0, 1, 1).get()).valid);
}

TEST(Geos, WkbRoundTripEnvelopeAndUnreadableWkb) {
  const GeomPtr g = test::box_geom(116.1, 39.2, 116.3, 39.4);
  const Envelope e = envelope_of(from_wkb(to_wkb(g.get())).get());
  EXPECT_EQ(e.minx, 116.1);
  EXPECT_EQ(e.miny, 39.2);
  EXPECT_EQ(e.maxx, 116.3);
  EXPECT_EQ(e.maxy, 39.4);
  EXPECT_TRUE(e.contains(116.2, 39.3));
  EXPECT_FALSE(e.contains(116.4, 39.3));
  EXPECT_TRUE(e.intersects({116.3, 39.4, 117, 40}));  // touching corners intersect
  EXPECT_FALSE(e.intersects({116.31, 39.4, 117, 40}));
  test::expect_error([] { (void)from_wkb(std::string("\x01\x03\x00", 3)); }, ErrorKind::invalid_input,
                     "invalid_geometry", "geometry");
}

TEST(Geos, TransformXyPropagatesExceptions) {
  const GeomPtr g = test::box_geom(0, 0, 1, 1);
  const GeomPtr shifted = transform_xy(g.get(), [](double& x, double& y) {
    x += 10;
    y -= 1;
  });
  const Envelope e = envelope_of(shifted.get());
  EXPECT_EQ(e.minx, 10);
  EXPECT_EQ(e.maxy, 0);
  test::expect_error(
      [&] { (void)transform_xy(g.get(), [](double&, double&) { throw_invalid("boom", "boom", "f"); }); },
      ErrorKind::invalid_input, "boom", "f");
}

}  // namespace
}  // namespace gridd::spatial
