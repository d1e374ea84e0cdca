#pragma once
/// @file tiles.hpp
/// Web Mercator tile arithmetic (the WebMercatorQuad tile matrix set of OGC
/// API - Tiles, EPSG:3857, XYZ with y down from the north).

#include <cstdint>
#include <string>

#include "gridd/spatial/geos.hpp"

namespace gridd::spatial {

/// Half the width of the Web Mercator square in metres.
inline constexpr double k_mercator_half = 20037508.342789244;
/// The largest latitude Web Mercator shows.
inline constexpr double k_mercator_max_lat = 85.0511287798066;
/// The deepest zoom gridd accepts for any tile.
inline constexpr int k_max_tile_zoom = 24;

struct TileId {
  int z = 0;
  std::uint32_t x = 0;
  std::uint32_t y = 0;
  bool operator==(const TileId&) const = default;
  [[nodiscard]] std::string to_string() const;
};

/// Parse z, x and y; @throws Error(invalid_input, "invalid_tile") naming the
/// part when not integers or outside 0..2^z-1 (z in 0..max_zoom).
TileId parse_tile(const std::string& z, const std::string& x, const std::string& y, int max_zoom = k_max_tile_zoom);

/// WGS84 lon/lat <-> Web Mercator metres (latitude clamped to the square).
void lonlat_to_mercator(double lon, double lat, double& mx, double& my) noexcept;
void mercator_to_lonlat(double mx, double my, double& lon, double& lat) noexcept;

/// The tile's square in Web Mercator metres and in lon/lat.
Envelope tile_bounds_mercator(const TileId& t) noexcept;
Envelope tile_bounds_lonlat(const TileId& t) noexcept;
/// The lon/lat envelope of the tile grown by `fraction` of its size on each side.
Envelope tile_bounds_lonlat_buffered(const TileId& t, double fraction) noexcept;

/// The range of tiles at zoom z that intersect a lon/lat envelope.
struct TileRange {
  int z = 0;
  std::uint32_t minx = 0, miny = 0, maxx = 0, maxy = 0;
  [[nodiscard]] std::uint64_t count() const noexcept {
    return static_cast<std::uint64_t>(maxx - minx + 1) * static_cast<std::uint64_t>(maxy - miny + 1);
  }
};
TileRange tiles_covering(const Envelope& lonlat, int z) noexcept;

}  // namespace gridd::spatial
