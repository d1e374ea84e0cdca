#include "gridd/spatial/tiles.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "gridd/core/error.hpp"

namespace gridd::spatial {

namespace {

constexpr double k_pi = 3.14159265358979323846;
constexpr double k_radius = 6378137.0;

std::int64_t parse_part(const std::string& text, const char* name, std::int64_t max) {
  std::int64_t v = -1;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || v < 0 || v > max) {
    throw_invalid("invalid_tile",
                  std::string("tile ") + name + " '" + text + "' must be an integer from 0 to " + std::to_string(max),
                  name);
  }
  return v;
}

}  // namespace

std::string TileId::to_string() const {
  return std::to_string(z) + "/" + std::to_string(x) + "/" + std::to_string(y);
}

TileId parse_tile(const std::string& z, const std::string& x, const std::string& y, int max_zoom) {
  TileId t;
  t.z = static_cast<int>(parse_part(z, "z", max_zoom));
  const std::int64_t n = (std::int64_t{1} << t.z) - 1;
  t.x = static_cast<std::uint32_t>(parse_part(x, "x", n));
  t.y = static_cast<std::uint32_t>(parse_part(y, "y", n));
  return t;
}

void lonlat_to_mercator(double lon, double lat, double& mx, double& my) noexcept {
  lat = std::clamp(lat, -k_mercator_max_lat, k_mercator_max_lat);
  mx = k_radius * lon * k_pi / 180.0;
  my = k_radius * std::log(std::tan(k_pi / 4.0 + lat * k_pi / 360.0));
}

void mercator_to_lonlat(double mx, double my, double& lon, double& lat) noexcept {
  lon = mx / k_radius * 180.0 / k_pi;
  lat = (2.0 * std::atan(std::exp(my / k_radius)) - k_pi / 2.0) * 180.0 / k_pi;
}

Envelope tile_bounds_mercator(const TileId& t) noexcept {
  const double size = 2.0 * k_mercator_half / static_cast<double>(std::uint64_t{1} << t.z);
  Envelope e;
  e.minx = -k_mercator_half + t.x * size;
  e.maxx = e.minx + size;
  e.maxy = k_mercator_half - t.y * size;
  e.miny = e.maxy - size;
  return e;
}

Envelope tile_bounds_lonlat(const TileId& t) noexcept { return tile_bounds_lonlat_buffered(t, 0.0); }

Envelope tile_bounds_lonlat_buffered(const TileId& t, double fraction) noexcept {
  Envelope m = tile_bounds_mercator(t);
  const double pad = (m.maxx - m.minx) * fraction;
  m.minx -= pad;
  m.maxx += pad;
  m.miny -= pad;
  m.maxy += pad;
  Envelope e;
  mercator_to_lonlat(m.minx, m.miny, e.minx, e.miny);
  mercator_to_lonlat(m.maxx, m.maxy, e.maxx, e.maxy);
  e.minx = std::max(e.minx, -180.0);
  e.maxx = std::min(e.maxx, 180.0);
  return e;
}

TileRange tiles_covering(const Envelope& ll, int z) noexcept {
  const double n = static_cast<double>(std::uint64_t{1} << z);
  auto tx = [&](double lon) {
    double mx = 0, my = 0;
    lonlat_to_mercator(lon, 0, mx, my);
    return std::clamp(std::floor((mx + k_mercator_half) / (2 * k_mercator_half) * n), 0.0, n - 1);
  };
  auto ty = [&](double lat) {
    double mx = 0, my = 0;
    lonlat_to_mercator(0, lat, mx, my);
    return std::clamp(std::floor((k_mercator_half - my) / (2 * k_mercator_half) * n), 0.0, n - 1);
  };
  TileRange r;
  r.z = z;
  r.minx = static_cast<std::uint32_t>(tx(ll.minx));
  r.maxx = static_cast<std::uint32_t>(tx(ll.maxx));
  r.miny = static_cast<std::uint32_t>(ty(ll.maxy));
  r.maxy = static_cast<std::uint32_t>(ty(ll.miny));
  return r;
}

}  // namespace gridd::spatial
