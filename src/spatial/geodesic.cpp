#include "gridd/spatial/geodesic.hpp"

#include <geodesic.h>

#include <algorithm>
#include <cmath>

#include "gridd/spatial/geos.hpp"

namespace gridd::spatial {

namespace {
const geod_geodesic& wgs84() {
  static const geod_geodesic g = [] {
    geod_geodesic tmp{};
    geod_init(&tmp, 6378137.0, 1 / 298.257223563);
    return tmp;
  }();
  return g;
}
constexpr double k_deg = 3.14159265358979323846 / 180.0;
}  // namespace

void metres_per_degree(double lat, double& kx, double& ky) noexcept {
  constexpr double a = 6378137.0;
  constexpr double f = 1 / 298.257223563;
  constexpr double e2 = f * (2 - f);
  const double phi = lat * k_deg;
  const double sin_phi = std::sin(phi);
  const double w2 = 1 - e2 * sin_phi * sin_phi;
  const double w = std::sqrt(w2);
  ky = a * (1 - e2) / (w2 * w) * k_deg;
  kx = a / w * std::cos(phi) * k_deg;
}

double geodesic_distance_m(double lon1, double lat1, double lon2, double lat2) noexcept {
  // Short distances (the everyday case: a station a few km away) use the
  // ellipsoid's meridional and prime-vertical radii at the mean latitude;
  // below 50 km its relative error is under 1e-5. Longer ones use Karney's
  // exact solution.
  double dlon = lon2 - lon1;
  if (dlon > 180) dlon -= 360;
  if (dlon < -180) dlon += 360;
  const double dlat = lat2 - lat1;
  if (std::fabs(dlat) < 0.45 && std::fabs(dlon) < 0.45 && std::fabs(lat1) < 80) {
    double kx = 0, ky = 0;
    metres_per_degree((lat1 + lat2) / 2, kx, ky);
    const double dy = ky * dlat;
    const double dx = kx * dlon;
    const double d = std::sqrt(dx * dx + dy * dy);
    if (d < 50000) return d;
  }
  double s12 = 0;
  geod_inverse(&wgs84(), lat1, lon1, lat2, lon2, &s12, nullptr, nullptr);
  return s12;
}

double spherical_distance_m(double lon1, double lat1, double lon2, double lat2) noexcept {
  const double p1 = lat1 * k_deg, p2 = lat2 * k_deg;
  const double dp = p2 - p1, dl = (lon2 - lon1) * k_deg;
  const double h = std::sin(dp / 2) * std::sin(dp / 2) +
                   std::cos(p1) * std::cos(p2) * std::sin(dl / 2) * std::sin(dl / 2);
  return 2 * k_mean_radius_m * std::asin(std::min(1.0, std::sqrt(h)));
}

namespace {
double ring_area(const GEOSGeometry* ring) {
  const GEOSCoordSequence* seq = GEOSGeom_getCoordSeq_r(geos(), ring);
  unsigned int n = 0;
  GEOSCoordSeq_getSize_r(geos(), seq, &n);
  geod_polygon poly{};
  geod_polygon_init(&poly, 0);
  for (unsigned int i = 0; i + 1 < n; ++i) {  // the closing point is implied
    double x = 0, y = 0;
    GEOSCoordSeq_getXY_r(geos(), seq, i, &x, &y);
    geod_polygon_addpoint(&wgs84(), &poly, y, x);
  }
  double area = 0;
  geod_polygon_compute(&wgs84(), &poly, 0, 1, &area, nullptr);
  return std::abs(area);
}

double polygon_area(const GEOSGeometry* p) {
  double a = ring_area(GEOSGetExteriorRing_r(geos(), p));
  const int holes = GEOSGetNumInteriorRings_r(geos(), p);
  for (int i = 0; i < holes; ++i) a -= ring_area(GEOSGetInteriorRingN_r(geos(), p, i));
  return a;
}
}  // namespace

double geodesic_area_m2(const GEOSGeometry* g) {
  const int t = type_id(g);
  if (t == GEOS_POLYGON) return polygon_area(g);
  if (t == GEOS_MULTIPOLYGON || t == GEOS_GEOMETRYCOLLECTION) {
    double a = 0;
    const int n = GEOSGetNumGeometries_r(geos(), g);
    for (int i = 0; i < n; ++i) a += geodesic_area_m2(GEOSGetGeometryN_r(geos(), g, i));
    return a;
  }
  return 0;
}

}  // namespace gridd::spatial
