#pragma once
/// @file chinese_coords.hpp
/// GCJ-02 ("Mars coordinates", used by AMap, Tencent and most Chinese phone
/// apps) and BD-09 (Baidu). PROJ implements neither. The forward transforms
/// are the published obfuscation formulas; the inverses are solved by
/// Newton-style fixed-point iteration to well under a millimetre.
///
/// Outside mainland China (the customary rough bounding box) GCJ-02 equals
/// WGS84, as in every mainstream implementation.

namespace gridd::spatial {

struct LonLat {
  double lon = 0;
  double lat = 0;
};

/// True where the GCJ-02 shift is not applied.
bool outside_china(double lon, double lat) noexcept;

LonLat wgs84_to_gcj02(LonLat p) noexcept;
LonLat gcj02_to_wgs84(LonLat p) noexcept;
LonLat gcj02_to_bd09(LonLat p) noexcept;
LonLat bd09_to_gcj02(LonLat p) noexcept;
LonLat wgs84_to_bd09(LonLat p) noexcept;
LonLat bd09_to_wgs84(LonLat p) noexcept;

}  // namespace gridd::spatial
