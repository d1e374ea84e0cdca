#pragma once
/// @file crs.hpp
/// Coordinate reference systems: anything PROJ knows ("EPSG:4490",
/// "EPSG:4549" for a CGCS2000 Gauss-Krüger zone, "EPSG:3857", WKT, PROJJSON,
/// a "+proj=..." string) plus "gcj02" and "bd09", which gridd implements.
/// gridd's internal CRS is WGS84 longitude/latitude (EPSG:4326, east-north).

#include <memory>
#include <string>
#include <string_view>

#include "gridd/spatial/geos.hpp"

namespace gridd::spatial {

/// A transformation between one CRS and WGS84 lon/lat. Not thread-safe:
/// obtain one per thread with crs_transform().
class CrsTransform {
 public:
  virtual ~CrsTransform() = default;
  /// Convert (x, y) in this CRS (east, north order) to WGS84 lon/lat.
  /// @throws Error(invalid_input, "coordinate_out_of_range") when PROJ cannot.
  virtual void to_wgs84(double& x, double& y) const = 0;
  /// The inverse of to_wgs84.
  virtual void from_wgs84(double& x, double& y) const = 0;
  /// True when this CRS is WGS84 lon/lat itself (or CGCS2000, treated alike).
  [[nodiscard]] virtual bool is_wgs84() const noexcept { return false; }
  /// True for geographic (lon/lat degree) CRSs, false for projected ones.
  [[nodiscard]] virtual bool is_geographic() const noexcept { return true; }
};

/// This thread's transformer for `crs` (cached). An empty string, "EPSG:4326",
/// "WGS84" and "CRS84" mean WGS84. The reference stays valid until the next
/// call of crs_transform() on the same thread (the cache is bounded).
/// @throws Error(invalid_input, "unknown_crs", field "crs") when PROJ does not know it.
const CrsTransform& crs_transform(std::string_view crs);

/// Transform a whole geometry to WGS84 (a copy).
GeomPtr to_wgs84(const GEOSGeometry* g, std::string_view crs);
/// Transform a whole WGS84 geometry into `crs` (a copy).
GeomPtr from_wgs84(const GEOSGeometry* g, std::string_view crs);

/// Check that lon/lat are finite and within [-180,180] x [-90,90].
/// @throws Error(invalid_input, "coordinate_out_of_range", field)
void check_lon_lat(double lon, double lat, std::string_view field);

}  // namespace gridd::spatial
