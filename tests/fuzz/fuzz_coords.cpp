// libFuzzer target: the coordinate transforms. The input is read as one
// selector byte and then doubles (8 bytes each, any bit pattern: NaN,
// infinities, subnormals, huge values):
//   - GCJ-02 and BD-09 (spatial/chinese_coords): finite in, finite out for
//     any longitude/latitude; inside China a forward and an inverse
//     transform give the position back to well under a millimetre;
//   - spatial::crs_transform for the CRSs gridd meets (gcj02, bd09, Web
//     Mercator, CGCS2000 and a Gauss-Krüger zone, UTM): a finite answer or a
//     gridd::Error, never NaN or infinity; projected positions come back;
//   - Web Mercator (spatial/tiles): finite and invertible in its square, and
//     tiles_covering gives tiles of the zoom that hold the box;
//   - distances (spatial/geodesic): finite, symmetric, within the documented
//     bounds of Karney's exact solution and of the sphere.
#include <geodesic.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/spatial/chinese_coords.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "gridd/spatial/tiles.hpp"

namespace {

namespace sp = gridd::spatial;

[[noreturn]] void fail(const char* what, double x, double y, const char* detail = "") {
  std::fprintf(stderr, "fuzz_coords: %s at (%.17g, %.17g) %s\n", what, x, y, detail);
  std::abort();
}

bool finite(sp::LonLat p) { return std::isfinite(p.lon) && std::isfinite(p.lat); }
bool valid_lon_lat(double x, double y) { return std::isfinite(x) && std::isfinite(y) && std::fabs(x) <= 180 && std::fabs(y) <= 90; }
/// Well inside the box where GCJ-02 applies (a shifted position stays in it).
bool well_inside_china(double x, double y) { return x > 72.6 && x < 137.2 && y > 1.4 && y < 55.2; }
bool near(sp::LonLat a, double x, double y, double tolerance) {
  return std::fabs(a.lon - x) <= tolerance && std::fabs(a.lat - y) <= tolerance;
}

void chinese(double x, double y) {
  const sp::LonLat p{x, y};
  // noexcept for any input; only finiteness is promised for real positions.
  const sp::LonLat r[] = {sp::wgs84_to_gcj02(p), sp::gcj02_to_wgs84(p), sp::gcj02_to_bd09(p),
                          sp::bd09_to_gcj02(p),  sp::wgs84_to_bd09(p),  sp::bd09_to_wgs84(p)};
  if (!valid_lon_lat(x, y)) return;
  for (const sp::LonLat& q : r) {
    if (!finite(q)) fail("a Chinese coordinate transform gave a non-finite answer", x, y);
  }
  if (well_inside_china(x, y)) {
    // 1e-8 degrees is about a millimetre.
    if (!near(sp::gcj02_to_wgs84(sp::wgs84_to_gcj02(p)), x, y, 1e-8)) fail("WGS84 -> GCJ-02 -> WGS84 drifts", x, y);
    if (!near(sp::wgs84_to_gcj02(sp::gcj02_to_wgs84(p)), x, y, 1e-8)) fail("GCJ-02 -> WGS84 -> GCJ-02 drifts", x, y);
    if (!near(sp::bd09_to_wgs84(sp::wgs84_to_bd09(p)), x, y, 1e-8)) fail("WGS84 -> BD-09 -> WGS84 drifts", x, y);
    if (!near(sp::bd09_to_gcj02(sp::gcj02_to_bd09(p)), x, y, 1e-8)) fail("GCJ-02 -> BD-09 -> GCJ-02 drifts", x, y);
  }
}

void crs(const char* name, double x, double y) {
  const sp::CrsTransform& t = sp::crs_transform(name);
  const bool geographic = t.is_geographic();
  // Into WGS84: what an import or a ?crs= write does (gridd checks lon/lat
  // ranges of geographic input before, as feature_geometry does).
  if (!geographic || valid_lon_lat(x, y) || t.is_wgs84()) {
    double lon = x, lat = y;
    try {
      t.to_wgs84(lon, lat);
      if (!t.is_wgs84() && (!std::isfinite(lon) || !std::isfinite(lat))) fail("to_wgs84 gave a non-finite answer", x, y, name);
      if (!geographic) {
        double bx = lon, by = lat;
        t.from_wgs84(bx, by);
        const double tolerance = 1e-3 + 1e-9 * std::max(std::fabs(x), std::fabs(y));
        if (std::fabs(bx - x) > tolerance || std::fabs(by - y) > tolerance) fail("a projected position does not come back", x, y, name);
      }
    } catch (const gridd::Error&) {
    }
  }
  // Out of WGS84: what an export or an answer in ?crs= does.
  if (valid_lon_lat(x, y)) {
    double px = x, py = y;
    try {
      t.from_wgs84(px, py);
      if (!std::isfinite(px) || !std::isfinite(py)) fail("from_wgs84 gave a non-finite answer", x, y, name);
    } catch (const gridd::Error&) {
    }
  }
}

void mercator(double x, double y) {
  if (!valid_lon_lat(x, y)) return;
  double mx = 0, my = 0;
  sp::lonlat_to_mercator(x, y, mx, my);
  if (!std::isfinite(mx) || !std::isfinite(my) || std::fabs(mx) > sp::k_mercator_half * (1 + 1e-12) ||
      std::fabs(my) > sp::k_mercator_half * (1 + 1e-9)) {
    fail("lonlat_to_mercator left the Web Mercator square", x, y);
  }
  double lon = 0, lat = 0;
  sp::mercator_to_lonlat(mx, my, lon, lat);
  const double clamped = std::clamp(y, -sp::k_mercator_max_lat, sp::k_mercator_max_lat);
  if (std::fabs(lon - x) > 1e-9 || std::fabs(lat - clamped) > 1e-9) fail("Web Mercator does not come back", x, y);
}

void covering(double x1, double y1, double x2, double y2, int z) {
  if (!valid_lon_lat(x1, y1) || !valid_lon_lat(x2, y2)) return;
  const sp::Envelope e{std::min(x1, x2), std::min(y1, y2), std::max(x1, x2), std::max(y1, y2)};
  const sp::TileRange r = sp::tiles_covering(e, z);
  const std::uint64_t n = std::uint64_t{1} << z;
  if (r.minx > r.maxx || r.miny > r.maxy || r.maxx >= n || r.maxy >= n) fail("tiles_covering gave a bad range", x1, y1);
  if (r.count() > n * n) fail("tiles_covering counts more tiles than the zoom has", x1, y1);
  // The corner tiles hold the corners (within the Web Mercator latitudes).
  const sp::Envelope first = sp::tile_bounds_lonlat({z, r.minx, r.miny});
  const sp::Envelope last = sp::tile_bounds_lonlat({z, r.maxx, r.maxy});
  const double eps = 1e-9;
  if (e.minx < first.minx - eps || e.minx > first.maxx + eps || e.maxx > last.maxx + eps ||
      e.maxx < last.minx - eps) {
    fail("the tile range does not hold the box's longitudes", x1, y1);
  }
  // Latitudes beyond Web Mercator's fall in its first or last row.
  const double top = std::clamp(e.maxy, -sp::k_mercator_max_lat, sp::k_mercator_max_lat);
  const double bottom = std::clamp(e.miny, -sp::k_mercator_max_lat, sp::k_mercator_max_lat);
  if (top > first.maxy + eps || top < first.miny - eps || bottom < last.miny - eps || bottom > last.maxy + eps) {
    fail("the tile range does not hold the box's latitudes", x1, y1);
  }
}

void distances(double x1, double y1, double x2, double y2) {
  if (!valid_lon_lat(x1, y1) || !valid_lon_lat(x2, y2)) return;
  const double g = sp::geodesic_distance_m(x1, y1, x2, y2);
  const double s = sp::spherical_distance_m(x1, y1, x2, y2);
  if (!std::isfinite(g) || !std::isfinite(s) || g < 0 || s < 0 || g > 20004000 || s > 20016000) {
    fail("a distance is not a finite length on the Earth", x1, y1);
  }
  // Karney's exact solution, as shipped by PROJ.
  static const geod_geodesic wgs84 = [] {
    geod_geodesic tmp{};
    geod_init(&tmp, 6378137.0, 1 / 298.257223563);
    return tmp;
  }();
  double exact = 0;
  geod_inverse(&wgs84, y1, x1, y2, x2, &exact, nullptr, nullptr);
  if (std::fabs(g - exact) > 1e-5 * exact + 1e-6) fail("geodesic_distance_m is off Karney's distance", x1, y1);
  // The sphere of the mean radius against the ellipsoid: at most R a / b^2 - 1
  // (0.5614%, north-south at the equator).
  if (std::fabs(s - exact) > 0.0057 * exact + 1e-6) fail("spherical_distance_m is off by more than 0.57%", x1, y1);
  double kx = 0, ky = 0;
  sp::metres_per_degree(y1, kx, ky);
  if (!std::isfinite(kx) || !std::isfinite(ky) || kx < -1e-6 || ky <= 0) fail("metres_per_degree is not a length", x1, y1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* const crss[] = {"gcj02", "bd09", "EPSG:3857", "EPSG:4490", "EPSG:4549", "EPSG:32650", "", "EPSG:4326"};
  const std::uint8_t selector = data[0];
  std::vector<double> v;
  if ((selector & 3) == 0) {
    // Raw doubles: any bit pattern.
    v.resize((size - 1) / sizeof(double));
    if (!v.empty()) std::memcpy(v.data(), data + 1, v.size() * sizeof(double));
  } else {
    // 32-bit fractions of the world (selector & 3 == 1) or of the GCJ-02
    // box around China (2, 3), so that most positions are real ones.
    const bool china = (selector & 2) != 0;
    for (std::size_t at = 1; at + 4 <= size; at += 4) {
      std::uint32_t u = 0;
      std::memcpy(&u, data + at, 4);
      const double f = u / 4294967296.0;
      const bool lat = v.size() % 2 == 1;
      v.push_back(china ? (lat ? 0.0 + 56 * f : 72.0 + 66 * f) : (lat ? -90 + 180 * f : -180 + 360 * f));
    }
  }
  try {
    for (std::size_t i = 0; i + 1 < v.size() && i < 64; i += 2) {
      const double x = v[i], y = v[i + 1];
      chinese(x, y);
      crs(crss[(selector + i / 2) % (sizeof crss / sizeof *crss)], x, y);
      mercator(x, y);
      if (i + 3 < v.size()) {
        covering(x, y, v[i + 2], v[i + 3], (selector >> 3) % (sp::k_max_tile_zoom + 1));
        distances(x, y, v[i + 2], v[i + 3]);
      }
    }
  } catch (const gridd::Error& e) {
    fail("an unexpected gridd::Error", 0, 0, e.what());
  } catch (const std::exception& e) {
    fail("an exception other than gridd::Error escaped", 0, 0, e.what());
  }
  return 0;
}
