#pragma once
/// @file synthetic_city.hpp
/// A deterministic synthetic city for the benchmarks: a jittered lattice of
/// leaf grids grouped into communities, streets and one district, plus
/// service stations. Plain C++ (no GEOS, no gridd types), so that the
/// in-process benchmark (locate_bench.cpp) and the file generator
/// (data/make_city.cpp) produce exactly the same polygons.
///
/// Geometry: lattice vertex (i, j), 0 <= i <= cols, 0 <= j <= rows, sits at
/// (i + jx, j + jy) cells from the south-west corner, jx and jy hashed from
/// (seed, i, j) in [-jitter, +jitter]. Each lattice edge carries
/// `edge_points` extra vertices, offset across the edge by up to
/// `edge_jitter` cells (also hashed, so both neighbours share them). A leaf
/// grid is one lattice cell; a community, street or the district is the
/// ring around a block of cells through every lattice vertex and edge point
/// on its perimeter, so every parent is exactly the union of its children
/// and neighbours share identical vertices, like a real partition.
/// Coordinates are rounded to 1e-7 degree, as written to GeoJSON.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace gridd_bench {

struct CityParams {
  int cols = 200;          ///< leaf grids west-east
  int rows = 100;          ///< leaf grids south-north
  int community_w = 4;     ///< leaf grids per community, west-east
  int community_h = 5;     ///< leaf grids per community, south-north
  int street_w = 5;        ///< communities per street, west-east
  int street_h = 5;        ///< communities per street, south-north
  double lon0 = 116.45;    ///< south-west corner (near Jining, Shandong)
  double lat0 = 35.30;
  double cell_m = 150;     ///< leaf grid side in metres
  int edge_points = 3;     ///< extra vertices per lattice edge (a leaf has 4 + 4 * edge_points)
  double jitter = 0.15;    ///< corner displacement, fraction of a cell
  double edge_jitter = 0.05;
  int stations = 500;
  std::uint64_t seed = 20240601;
  std::string district_code = "370899";

  /// 20,000 leaf grids (200 x 100) + 1,000 communities + 40 streets + 1 district, 500 stations.
  static CityParams city_20k() { return CityParams{}; }
  /// 1,000,000 leaf grids (1000 x 1000, 60 m) + 50,000 communities + 500 streets + 1 district,
  /// 25,000 stations (the same density of stations per grid as the 20k city).
  static CityParams city_1m() {
    CityParams p;
    p.cols = 1000;
    p.rows = 1000;
    p.street_w = 10;
    p.street_h = 10;
    p.cell_m = 60;
    p.stations = 25000;
    return p;
  }
  /// "20k", "1m", or COLSxROWS (multiples of the street size).
  static CityParams by_name(const std::string& name) {
    if (name == "20k") return city_20k();
    if (name == "1m") return city_1m();
    CityParams p;
    int c = 0, r = 0;
    if (std::sscanf(name.c_str(), "%dx%d", &c, &r) != 2) throw std::invalid_argument("unknown city size '" + name + "'");
    p.cols = c;
    p.rows = r;
    p.stations = std::max(1, c * r / 40);
    return p;
  }
};

/// Levels as gridd spells them.
inline const char* level_name(int level) {
  static const char* names[] = {"district", "street", "community", "grid"};
  return names[level];
}

struct CityPerson {
  std::string name, role, phone;
};

/// One polygon of the hierarchy.
struct CityGrid {
  std::int64_t id = 0;
  int level = 3;  ///< 0 district, 1 street, 2 community, 3 grid
  std::string code, name, parent;
  std::int64_t households = -1;  ///< leaf grids only
  std::vector<CityPerson> people;
  std::vector<std::array<double, 2>> ring;  ///< closed, counter-clockwise, lon/lat
};

struct CityStation {
  std::int64_t id = 0;
  std::string code, name, kind, address, contact, hours;
  double lon = 0, lat = 0;
};

class City {
 public:
  explicit City(CityParams p) : m_p(std::move(p)) {
    const int bw = m_p.community_w * m_p.street_w, bh = m_p.community_h * m_p.street_h;
    if (m_p.cols <= 0 || m_p.rows <= 0 || m_p.cols % bw != 0 || m_p.rows % bh != 0) {
      throw std::invalid_argument("cols must be a multiple of " + std::to_string(bw) + " and rows of " +
                                  std::to_string(bh));
    }
    constexpr double metres_per_degree = 6371008.8 * 3.14159265358979323846 / 180.0;
    m_dy = m_p.cell_m / metres_per_degree;
    const double mid_lat = m_p.lat0 + m_dy * m_p.rows / 2;
    m_dx = m_dy / std::cos(mid_lat * 3.14159265358979323846 / 180.0);
  }

  [[nodiscard]] const CityParams& params() const noexcept { return m_p; }
  [[nodiscard]] std::size_t leaf_count() const noexcept {
    return static_cast<std::size_t>(m_p.cols) * static_cast<std::size_t>(m_p.rows);
  }
  [[nodiscard]] std::size_t community_count() const noexcept {
    return leaf_count() / static_cast<std::size_t>(m_p.community_w * m_p.community_h);
  }
  [[nodiscard]] std::size_t street_count() const noexcept {
    return community_count() / static_cast<std::size_t>(m_p.street_w * m_p.street_h);
  }
  /// Polygons of all levels.
  [[nodiscard]] std::size_t grid_count() const noexcept {
    return 1 + street_count() + community_count() + leaf_count();
  }

  /// Lon/lat of a point given in cell units from the south-west corner (no jitter).
  [[nodiscard]] std::array<double, 2> at(double cx, double cy) const {
    return {round7(m_p.lon0 + cx * m_dx), round7(m_p.lat0 + cy * m_dy)};
  }
  [[nodiscard]] double cell_dx() const noexcept { return m_dx; }
  [[nodiscard]] double cell_dy() const noexcept { return m_dy; }

  /// Every polygon, coarsest level first (parents before children), ids 1..grid_count().
  template <class F>
  void for_each_grid(F&& f) const {
    const int cw = m_p.community_w, ch = m_p.community_h;
    const int sw = m_p.street_w * cw, sh = m_p.street_h * ch;
    const int streets_x = m_p.cols / sw, streets_y = m_p.rows / sh;
    std::int64_t id = 0;
    CityGrid g;
    // district
    g.id = ++id;
    g.level = 0;
    g.code = m_p.district_code;
    g.name = "合成区";
    g.parent.clear();
    g.people = {{person_name(0, 0), "district_head", phone(0, 0)}};
    g.households = -1;
    block_ring(0, 0, m_p.cols, m_p.rows, g.ring);
    f(static_cast<const CityGrid&>(g));
    // streets
    for (int sy = 0; sy < streets_y; ++sy) {
      for (int sx = 0; sx < streets_x; ++sx) {
        const int s = sy * streets_x + sx + 1;
        g.id = ++id;
        g.level = 1;
        g.code = street_code(s);
        g.name = "合成街道" + pad(s, 3);
        g.parent = m_p.district_code;
        g.people = {{person_name(1, s), "street_head", phone(1, s)}};
        block_ring(sx * sw, sy * sh, sx * sw + sw, sy * sh + sh, g.ring);
        f(static_cast<const CityGrid&>(g));
      }
    }
    // communities
    const int per_street_x = m_p.street_w;
    for (int sy = 0; sy < streets_y; ++sy) {
      for (int sx = 0; sx < streets_x; ++sx) {
        const int s = sy * streets_x + sx + 1;
        for (int cy = 0; cy < m_p.street_h; ++cy) {
          for (int cx = 0; cx < per_street_x; ++cx) {
            const int c = cy * per_street_x + cx + 1;
            const int i0 = sx * sw + cx * cw, j0 = sy * sh + cy * ch;
            g.id = ++id;
            g.level = 2;
            g.code = street_code(s) + pad(c, 3);
            g.name = "合成街道" + pad(s, 3) + "第" + pad(c, 2) + "社区";
            g.parent = street_code(s);
            g.people = {{person_name(2, g.id), "community_secretary", phone(2, g.id)}};
            block_ring(i0, j0, i0 + cw, j0 + ch, g.ring);
            f(static_cast<const CityGrid&>(g));
          }
        }
      }
    }
    // leaf grids
    for (int sy = 0; sy < streets_y; ++sy) {
      for (int sx = 0; sx < streets_x; ++sx) {
        const int s = sy * streets_x + sx + 1;
        for (int cy = 0; cy < m_p.street_h; ++cy) {
          for (int cx = 0; cx < per_street_x; ++cx) {
            const int c = cy * per_street_x + cx + 1;
            const std::string community = street_code(s) + pad(c, 3);
            for (int ly = 0; ly < ch; ++ly) {
              for (int lx = 0; lx < cw; ++lx) {
                const int n = ly * cw + lx + 1;
                const int i = sx * sw + cx * cw + lx, j = sy * sh + cy * ch + ly;
                g.id = ++id;
                g.level = 3;
                g.code = community + pad(n, 3);
                g.name = "第" + pad(n, 2) + "网格";
                g.parent = community;
                g.households = 150 + static_cast<std::int64_t>(hash(7, i, j, 0) % 450);
                g.people = {{person_name(3, g.id), "grid_worker", phone(3, g.id)}};
                block_ring(i, j, i + 1, j + 1, g.ring);
                f(static_cast<const CityGrid&>(g));
              }
            }
          }
        }
      }
    }
  }

  template <class F>
  void for_each_station(F&& f) const {
    static const char* kinds[] = {"grid_station",      "service_center", "mediation_room",
                                  "opinion_point",     "volunteer_station", "veterans_station"};
    CityStation s;
    for (int n = 1; n <= m_p.stations; ++n) {
      s.id = n;
      s.code = "ST" + pad(n, 5);
      s.kind = kinds[hash(11, n, 0, 0) % 6];
      s.name = "合成站点" + pad(n, 5);
      const auto p = at(0.5 + unit(12, n, 0, 0) * (m_p.cols - 1), 0.5 + unit(13, n, 0, 0) * (m_p.rows - 1));
      s.lon = p[0];
      s.lat = p[1];
      s.address = "合成区合成路" + std::to_string(n) + "号";
      s.contact = "0537-2" + pad(static_cast<int>(hash(14, n, 0, 0) % 1000000), 6);
      s.hours = "08:30-17:30";
      f(static_cast<const CityStation&>(s));
    }
  }

  /// A uniformly random point of the city's lattice extent (almost always inside a leaf).
  template <class Rng>
  [[nodiscard]] std::array<double, 2> random_inside(Rng& rng) const {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53, v = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return at(u * m_p.cols, v * m_p.rows);
  }
  /// A random point 1..10 cells outside the city (the "nearest grid" fallback).
  template <class Rng>
  [[nodiscard]] std::array<double, 2> random_outside(Rng& rng) const {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53, v = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    const double off = 1 + 9 * v;
    switch (rng() % 4) {
      case 0: return at(u * m_p.cols, -off);
      case 1: return at(u * m_p.cols, m_p.rows + off);
      case 2: return at(-off, u * m_p.rows);
      default: return at(m_p.cols + off, u * m_p.rows);
    }
  }

 private:
  static double round7(double v) { return std::round(v * 1e7) / 1e7; }
  static std::string pad(int n, int width) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*d", width, n);
    return buf;
  }
  [[nodiscard]] std::string street_code(int s) const { return m_p.district_code + pad(s, 3); }

  [[nodiscard]] std::uint64_t hash(std::uint64_t salt, std::int64_t a, std::int64_t b, std::int64_t c) const {
    std::uint64_t x = m_p.seed ^ (salt * 0x9E3779B97F4A7C15ULL);
    for (std::uint64_t v : {static_cast<std::uint64_t>(a), static_cast<std::uint64_t>(b), static_cast<std::uint64_t>(c)}) {
      x += v + 0x9E3779B97F4A7C15ULL;  // splitmix64 over the inputs
      x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
      x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
      x ^= x >> 31;
    }
    return x;
  }
  /// [0, 1)
  [[nodiscard]] double unit(std::uint64_t salt, std::int64_t a, std::int64_t b, std::int64_t c) const {
    return static_cast<double>(hash(salt, a, b, c) >> 11) * 0x1.0p-53;
  }
  /// [-1, 1)
  [[nodiscard]] double sym(std::uint64_t salt, std::int64_t a, std::int64_t b, std::int64_t c) const {
    return 2 * unit(salt, a, b, c) - 1;
  }

  /// Lattice vertex in cell units.
  [[nodiscard]] std::array<double, 2> vertex(int i, int j) const {
    return {i + m_p.jitter * sym(1, i, j, 0), j + m_p.jitter * sym(2, i, j, 0)};
  }
  /// Edge point k (1..edge_points) of the edge from vertex (i, j) east (horizontal) or north.
  [[nodiscard]] std::array<double, 2> edge_point(int i, int j, bool horizontal, int k) const {
    const auto a = vertex(i, j);
    const auto b = horizontal ? vertex(i + 1, j) : vertex(i, j + 1);
    const double t = static_cast<double>(k) / (m_p.edge_points + 1);
    const double off = m_p.edge_jitter * sym(horizontal ? 3 : 4, i, j, k);
    std::array<double, 2> p{a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])};
    if (horizontal) p[1] += off; else p[0] += off;
    return p;
  }
  void push(std::vector<std::array<double, 2>>& ring, const std::array<double, 2>& c) const {
    ring.push_back(at(c[0], c[1]));
  }
  /// Counter-clockwise ring around cells [i0, i1) x [j0, j1).
  void block_ring(int i0, int j0, int i1, int j1, std::vector<std::array<double, 2>>& ring) const {
    ring.clear();
    const int m = m_p.edge_points;
    for (int i = i0; i < i1; ++i) {  // south side, eastwards
      push(ring, vertex(i, j0));
      for (int k = 1; k <= m; ++k) push(ring, edge_point(i, j0, true, k));
    }
    for (int j = j0; j < j1; ++j) {  // east side, northwards
      push(ring, vertex(i1, j));
      for (int k = 1; k <= m; ++k) push(ring, edge_point(i1, j, false, k));
    }
    for (int i = i1; i > i0; --i) {  // north side, westwards
      push(ring, vertex(i, j1));
      for (int k = m; k >= 1; --k) push(ring, edge_point(i - 1, j1, true, k));
    }
    for (int j = j1; j > j0; --j) {  // west side, southwards
      push(ring, vertex(i0, j));
      for (int k = m; k >= 1; --k) push(ring, edge_point(i0, j - 1, false, k));
    }
    ring.push_back(ring.front());
  }

  static const char* const* surnames() {
    static const char* s[] = {"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林"};
    return s;
  }
  [[nodiscard]] std::string person_name(int level, std::int64_t n) const {
    static const char* given[] = {"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明"};
    const std::uint64_t h = hash(20 + level, n, 0, 0);
    return std::string(surnames()[h % 16]) + given[(h >> 8) % 16] + given[(h >> 16) % 16];
  }
  [[nodiscard]] std::string phone(int level, std::int64_t n) const {
    return "1990" + pad(static_cast<int>(hash(30 + level, n, 0, 0) % 10000000), 7);
  }

  CityParams m_p;
  double m_dx = 0, m_dy = 0;
};

}  // namespace gridd_bench
