#pragma once
// Independent reference answers for /locate: every grid polygon tested with
// the plain GEOS C API (GEOSIntersects_r, no index, own context), distances
// to stations with PROJ's geodesic (Karney, WGS84), distances to polygons by
// exhaustive nearest-point search over every segment in a local
// equirectangular frame, measured geodesically. Nothing here calls gridd.

#include <geodesic.h>
#include <geos_c.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gridd::http_test {

/// The level order of gridd's hierarchy, coarsest first.
inline int level_rank(const std::string& level) {
  static const std::map<std::string, int> ranks = {
      {"district", 0}, {"street", 1}, {"community", 2}, {"grid", 3}, {"micro_grid", 4}};
  auto it = ranks.find(level);
  if (it == ranks.end()) throw std::runtime_error("unknown level " + level);
  return it->second;
}

/// WGS84 geodesic distance in metres.
inline double geodesic_m(double lon1, double lat1, double lon2, double lat2) {
  static const geod_geodesic g = [] {
    geod_geodesic out{};
    geod_init(&out, 6378137.0, 1 / 298.257223563);
    return out;
  }();
  double s12 = 0;
  geod_inverse(&g, lat1, lon1, lat2, lon2, &s12, nullptr, nullptr);
  return s12;
}

/// One GEOS context owned by the reference (not shared with gridd).
class GeosRef {
 public:
  GeosRef() : m_ctx(GEOS_init_r()) {}
  ~GeosRef() {
    for (GEOSGeometry* g : m_owned) GEOSGeom_destroy_r(m_ctx, g);
    GEOS_finish_r(m_ctx);
  }
  GeosRef(const GeosRef&) = delete;
  GeosRef& operator=(const GeosRef&) = delete;
  [[nodiscard]] GEOSContextHandle_t ctx() const { return m_ctx; }

  /// A GEOS (Multi)Polygon from a GeoJSON geometry object; owned by this.
  GEOSGeometry* polygonal(const nlohmann::json& geometry) {
    const std::string type = geometry.at("type").get<std::string>();
    GEOSGeometry* g = nullptr;
    if (type == "Polygon") {
      g = polygon(geometry.at("coordinates"));
    } else if (type == "MultiPolygon") {
      std::vector<GEOSGeometry*> parts;
      for (const auto& p : geometry.at("coordinates")) parts.push_back(polygon(p));
      g = GEOSGeom_createCollection_r(m_ctx, GEOS_MULTIPOLYGON, parts.data(), static_cast<unsigned>(parts.size()));
    } else {
      throw std::runtime_error("not polygonal: " + type);
    }
    if (!g) throw std::runtime_error("GEOS could not build a polygon");
    m_owned.push_back(g);
    return g;
  }
  /// A point; the caller destroys it with destroy().
  [[nodiscard]] GEOSGeometry* point(double x, double y) const { return GEOSGeom_createPointFromXY_r(m_ctx, x, y); }
  void destroy(GEOSGeometry* g) const { GEOSGeom_destroy_r(m_ctx, g); }
  [[nodiscard]] bool intersects(const GEOSGeometry* a, const GEOSGeometry* b) const {
    const char r = GEOSIntersects_r(m_ctx, a, b);
    if (r == 2) throw std::runtime_error("GEOSIntersects_r failed");
    return r == 1;
  }

 private:
  GEOSGeometry* ring(const nlohmann::json& coords) {
    GEOSCoordSequence* seq = GEOSCoordSeq_create_r(m_ctx, static_cast<unsigned>(coords.size()), 2);
    for (std::size_t i = 0; i < coords.size(); ++i) {
      GEOSCoordSeq_setXY_r(m_ctx, seq, static_cast<unsigned>(i), coords[i][0].get<double>(), coords[i][1].get<double>());
    }
    return GEOSGeom_createLinearRing_r(m_ctx, seq);
  }
  GEOSGeometry* polygon(const nlohmann::json& rings) {
    GEOSGeometry* shell = ring(rings.at(0));
    std::vector<GEOSGeometry*> holes;
    for (std::size_t i = 1; i < rings.size(); ++i) holes.push_back(ring(rings[i]));
    return GEOSGeom_createPolygon_r(m_ctx, shell, holes.data(), static_cast<unsigned>(holes.size()));
  }
  GEOSContextHandle_t m_ctx;
  std::vector<GEOSGeometry*> m_owned;
};

/// A grid as fetched over HTTP, with its rings for distance computations.
struct RefGrid {
  std::int64_t id = 0;
  std::string code;
  std::string parent;
  int rank = 0;
  bool leaf = true;
  const GEOSGeometry* geom = nullptr;
  std::vector<std::vector<std::pair<double, double>>> rings;  // every ring of every part
  double minx = 0, miny = 0, maxx = 0, maxy = 0;
};

struct RefStation {
  std::int64_t id = 0;
  std::string code;
  std::string kind;
  double lon = 0, lat = 0;
};

/// The reference model of the whole city.
class Reference {
 public:
  /// features: GeoJSON grid Features with geometry (GET /grids); stations: station Features.
  Reference(const std::vector<nlohmann::json>& grid_features, const std::vector<nlohmann::json>& station_features) {
    std::set<std::string> parents;
    for (const auto& f : grid_features) {
      RefGrid g;
      g.id = f.at("id").get<std::int64_t>();
      const auto& p = f.at("properties");
      g.code = p.at("code").get<std::string>();
      g.parent = p.at("parent").is_null() ? "" : p.at("parent").get<std::string>();
      g.rank = level_rank(p.at("level").get<std::string>());
      g.geom = m_geos.polygonal(f.at("geometry"));
      g.minx = g.miny = std::numeric_limits<double>::infinity();
      g.maxx = g.maxy = -std::numeric_limits<double>::infinity();
      const auto& geometry = f.at("geometry");
      auto add_polygon = [&](const nlohmann::json& rings) {
        for (const auto& r : rings) {
          std::vector<std::pair<double, double>> pts;
          for (const auto& c : r) {
            const double x = c[0].get<double>(), y = c[1].get<double>();
            pts.emplace_back(x, y);
            g.minx = std::min(g.minx, x);
            g.maxx = std::max(g.maxx, x);
            g.miny = std::min(g.miny, y);
            g.maxy = std::max(g.maxy, y);
          }
          g.rings.push_back(std::move(pts));
        }
      };
      if (geometry.at("type") == "Polygon") {
        add_polygon(geometry.at("coordinates"));
      } else {
        for (const auto& poly : geometry.at("coordinates")) add_polygon(poly);
      }
      if (!g.parent.empty()) parents.insert(g.parent);
      m_by_code[g.code] = m_grids.size();
      m_grids.push_back(std::move(g));
    }
    for (auto& g : m_grids) g.leaf = parents.count(g.code) == 0;
    for (const auto& f : station_features) {
      RefStation s;
      s.id = f.at("id").get<std::int64_t>();
      const auto& p = f.at("properties");
      s.code = p.at("code").is_null() ? "" : p.at("code").get<std::string>();
      s.kind = p.at("kind").get<std::string>();
      s.lon = f.at("geometry").at("coordinates")[0].get<double>();
      s.lat = f.at("geometry").at("coordinates")[1].get<double>();
      m_stations.push_back(s);
    }
  }

  [[nodiscard]] const std::vector<RefGrid>& grids() const { return m_grids; }
  [[nodiscard]] const std::vector<RefStation>& stations() const { return m_stations; }
  [[nodiscard]] const RefGrid* by_code(const std::string& code) const {
    auto it = m_by_code.find(code);
    return it == m_by_code.end() ? nullptr : &m_grids[it->second];
  }

  /// Indices of every grid whose polygon intersects the point (GEOSIntersects_r on each, no index).
  [[nodiscard]] std::vector<std::size_t> covering(double lon, double lat) const {
    GEOSGeometry* p = m_geos.point(lon, lat);
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < m_grids.size(); ++i) {
      if (m_geos.intersects(p, m_grids[i].geom)) out.push_back(i);
    }
    m_geos.destroy(p);
    return out;
  }

  /// gridd's documented chain rule, re-implemented: one grid per level among
  /// the covering ones, coarsest first; at each level the child of the grid
  /// chosen above wins, then the smallest code.
  [[nodiscard]] std::vector<std::size_t> expected_chain(std::vector<std::size_t> covering) const {
    std::sort(covering.begin(), covering.end(), [&](std::size_t a, std::size_t b) {
      if (m_grids[a].rank != m_grids[b].rank) return m_grids[a].rank < m_grids[b].rank;
      return m_grids[a].code < m_grids[b].code;
    });
    std::vector<std::size_t> chain;
    std::size_t i = 0;
    while (i < covering.size()) {
      std::size_t end = i;
      while (end < covering.size() && m_grids[covering[end]].rank == m_grids[covering[i]].rank) ++end;
      std::size_t pick = covering[i];
      if (!chain.empty()) {
        for (std::size_t j = i; j < end; ++j) {
          if (m_grids[covering[j]].parent == m_grids[chain.back()].code) {
            pick = covering[j];
            break;
          }
        }
      }
      chain.push_back(pick);
      i = end;
    }
    return chain;
  }

  /// Distance in metres from a point to a grid's boundary region (0 inside):
  /// the nearest point of every segment in a local equirectangular frame,
  /// then the geodesic distance to it.
  [[nodiscard]] double distance_m(const RefGrid& g, double lon, double lat) const {
    GEOSGeometry* p = m_geos.point(lon, lat);
    const bool inside = m_geos.intersects(p, g.geom);
    m_geos.destroy(p);
    if (inside) return 0;
    const double kx = std::cos(lat * M_PI / 180.0);
    double best = std::numeric_limits<double>::infinity();
    double bx = 0, by = 0;
    for (const auto& ring : g.rings) {
      for (std::size_t i = 0; i + 1 < ring.size(); ++i) {
        const double ax = (ring[i].first - lon) * kx, ay = ring[i].second - lat;
        const double cx = (ring[i + 1].first - lon) * kx, cy = ring[i + 1].second - lat;
        const double dx = cx - ax, dy = cy - ay;
        const double len2 = dx * dx + dy * dy;
        double t = len2 > 0 ? -(ax * dx + ay * dy) / len2 : 0;
        t = std::clamp(t, 0.0, 1.0);
        const double px = ax + t * dx, py = ay + t * dy;
        const double d2 = px * px + py * py;
        if (d2 < best) {
          best = d2;
          bx = lon + px / kx;
          by = lat + py;
        }
      }
    }
    return geodesic_m(lon, lat, bx, by);
  }

  /// A lower bound of distance_m from the grid's bounding box (local frame,
  /// slightly shrunk so that it stays a lower bound of the geodesic).
  [[nodiscard]] double envelope_lower_bound_m(const RefGrid& g, double lon, double lat) const {
    const double kx = std::cos(lat * M_PI / 180.0);
    const double dx = std::max({0.0, g.minx - lon, lon - g.maxx}) * kx;
    const double dy = std::max({0.0, g.miny - lat, lat - g.maxy});
    return std::sqrt(dx * dx + dy * dy) * 110574.0 * 0.98;  // metres per degree of latitude at the equator, less 2%
  }

  /// All leaves with their distance, nearest first (exhaustive, pruned only
  /// by an exact lower bound).
  [[nodiscard]] std::pair<std::size_t, double> nearest_leaf(double lon, double lat) const {
    std::vector<std::pair<double, std::size_t>> order;
    for (std::size_t i = 0; i < m_grids.size(); ++i) {
      if (m_grids[i].leaf) order.emplace_back(envelope_lower_bound_m(m_grids[i], lon, lat), i);
    }
    std::sort(order.begin(), order.end());
    std::pair<std::size_t, double> best{static_cast<std::size_t>(-1), std::numeric_limits<double>::infinity()};
    for (const auto& [bound, i] : order) {
      if (bound > best.second) break;
      const double d = distance_m(m_grids[i], lon, lat);
      if (d < best.second) best = {i, d};
    }
    return best;
  }

  /// Every station of `kind` (all when empty) with its geodesic distance, nearest first.
  [[nodiscard]] std::vector<std::pair<double, std::size_t>> stations_by_distance(double lon, double lat,
                                                                                const std::string& kind = "") const {
    std::vector<std::pair<double, std::size_t>> out;
    for (std::size_t i = 0; i < m_stations.size(); ++i) {
      if (!kind.empty() && m_stations[i].kind != kind) continue;
      out.emplace_back(geodesic_m(lon, lat, m_stations[i].lon, m_stations[i].lat), i);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  [[nodiscard]] const GeosRef& geos() const { return m_geos; }

 private:
  mutable GeosRef m_geos;
  std::vector<RefGrid> m_grids;
  std::map<std::string, std::size_t> m_by_code;
  std::vector<RefStation> m_stations;
};

// ---------------------------------------------------------------------------
// GCJ-02, BD-09 and Web Mercator forward transforms, written out from the
// published formulas (independent of gridd's implementation).
// ---------------------------------------------------------------------------

inline void wgs84_to_gcj02(double lon, double lat, double& out_lon, double& out_lat) {
  const double a = 6378245.0, ee = 0.00669342162296594323, pi = M_PI;
  const double x = lon - 105.0, y = lat - 35.0;
  double dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * std::sqrt(std::abs(x));
  dlat += (20.0 * std::sin(6.0 * x * pi) + 20.0 * std::sin(2.0 * x * pi)) * 2.0 / 3.0;
  dlat += (20.0 * std::sin(y * pi) + 40.0 * std::sin(y / 3.0 * pi)) * 2.0 / 3.0;
  dlat += (160.0 * std::sin(y / 12.0 * pi) + 320 * std::sin(y * pi / 30.0)) * 2.0 / 3.0;
  double dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * std::sqrt(std::abs(x));
  dlon += (20.0 * std::sin(6.0 * x * pi) + 20.0 * std::sin(2.0 * x * pi)) * 2.0 / 3.0;
  dlon += (20.0 * std::sin(x * pi) + 40.0 * std::sin(x / 3.0 * pi)) * 2.0 / 3.0;
  dlon += (150.0 * std::sin(x / 12.0 * pi) + 300.0 * std::sin(x / 30.0 * pi)) * 2.0 / 3.0;
  const double radlat = lat / 180.0 * pi;
  double magic = std::sin(radlat);
  magic = 1 - ee * magic * magic;
  const double sqrtmagic = std::sqrt(magic);
  dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sqrtmagic) * pi);
  dlon = (dlon * 180.0) / (a / sqrtmagic * std::cos(radlat) * pi);
  out_lon = lon + dlon;
  out_lat = lat + dlat;
}

inline void gcj02_to_bd09(double lon, double lat, double& out_lon, double& out_lat) {
  const double x_pi = M_PI * 3000.0 / 180.0;
  const double z = std::sqrt(lon * lon + lat * lat) + 0.00002 * std::sin(lat * x_pi);
  const double theta = std::atan2(lat, lon) + 0.000003 * std::cos(lon * x_pi);
  out_lon = z * std::cos(theta) + 0.0065;
  out_lat = z * std::sin(theta) + 0.006;
}

inline void wgs84_to_web_mercator(double lon, double lat, double& x, double& y) {
  const double a = 6378137.0;
  x = a * lon * M_PI / 180.0;
  y = a * std::log(std::tan(M_PI / 4 + lat * M_PI / 360.0));
}

}  // namespace gridd::http_test
