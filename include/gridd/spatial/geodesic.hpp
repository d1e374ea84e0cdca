#pragma once
/// @file geodesic.hpp
/// Distances on the WGS84 ellipsoid (Karney's algorithm, as shipped by PROJ).

#include <geos_c.h>

namespace gridd::spatial {

/// Geodesic distance in metres between two lon/lat positions on WGS84:
/// relative error below 1e-5 up to 50 km (local radii of curvature), exact
/// beyond (Karney's algorithm).
double geodesic_distance_m(double lon1, double lat1, double lon2, double lat2) noexcept;

/// Great-circle distance in metres on the sphere of the WGS84 mean radius;
/// within 0.56% of the geodesic distance anywhere on Earth.
double spherical_distance_m(double lon1, double lat1, double lon2, double lat2) noexcept;

/// Area in square metres of a lon/lat (Multi)Polygon on the WGS84 ellipsoid.
double geodesic_area_m2(const GEOSGeometry* g);

/// Metres per degree of longitude (kx) and latitude (ky) at a latitude, from
/// the WGS84 prime-vertical and meridional radii of curvature.
void metres_per_degree(double lat, double& kx, double& ky) noexcept;

/// The WGS84 mean radius (2a+b)/3 in metres.
inline constexpr double k_mean_radius_m = 6371008.771415;

}  // namespace gridd::spatial
