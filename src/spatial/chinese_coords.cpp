#include "gridd/spatial/chinese_coords.hpp"

#include <cmath>

namespace gridd::spatial {

namespace {

constexpr double k_pi = 3.14159265358979324;
constexpr double k_a = 6378245.0;                 // Krasovsky 1940 semi-major axis
constexpr double k_ee = 0.00669342162296594323;   // Krasovsky 1940 eccentricity squared
constexpr double k_x_pi = k_pi * 3000.0 / 180.0;  // Baidu's constant

double shift_lat(double x, double y) noexcept {
  double r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * std::sqrt(std::fabs(x));
  r += (20.0 * std::sin(6.0 * x * k_pi) + 20.0 * std::sin(2.0 * x * k_pi)) * 2.0 / 3.0;
  r += (20.0 * std::sin(y * k_pi) + 40.0 * std::sin(y / 3.0 * k_pi)) * 2.0 / 3.0;
  r += (160.0 * std::sin(y / 12.0 * k_pi) + 320.0 * std::sin(y * k_pi / 30.0)) * 2.0 / 3.0;
  return r;
}

double shift_lon(double x, double y) noexcept {
  double r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * std::sqrt(std::fabs(x));
  r += (20.0 * std::sin(6.0 * x * k_pi) + 20.0 * std::sin(2.0 * x * k_pi)) * 2.0 / 3.0;
  r += (20.0 * std::sin(x * k_pi) + 40.0 * std::sin(x / 3.0 * k_pi)) * 2.0 / 3.0;
  r += (150.0 * std::sin(x / 12.0 * k_pi) + 300.0 * std::sin(x / 30.0 * k_pi)) * 2.0 / 3.0;
  return r;
}

/// The GCJ-02 offset (dlon, dlat) in degrees at a WGS84 position in China.
LonLat gcj_delta(double lon, double lat) noexcept {
  double dlat = shift_lat(lon - 105.0, lat - 35.0);
  double dlon = shift_lon(lon - 105.0, lat - 35.0);
  const double radlat = lat / 180.0 * k_pi;
  double magic = std::sin(radlat);
  magic = 1 - k_ee * magic * magic;
  const double sqrtmagic = std::sqrt(magic);
  dlat = (dlat * 180.0) / ((k_a * (1 - k_ee)) / (magic * sqrtmagic) * k_pi);
  dlon = (dlon * 180.0) / (k_a / sqrtmagic * std::cos(radlat) * k_pi);
  return {dlon, dlat};
}

/// Invert a forward transform by fixed-point iteration: the transforms are
/// a near-identity map, so x_{n+1} = x_n - (f(x_n) - target) converges
/// geometrically (about four orders of magnitude per step).
template <class Forward>
LonLat invert(LonLat target, Forward forward) noexcept {
  LonLat guess = target;
  for (int i = 0; i < 30; ++i) {
    const LonLat f = forward(guess);
    const double ex = f.lon - target.lon;
    const double ey = f.lat - target.lat;
    guess.lon -= ex;
    guess.lat -= ey;
    if (std::fabs(ex) < 1e-12 && std::fabs(ey) < 1e-12) break;
  }
  return guess;
}

}  // namespace

bool outside_china(double lon, double lat) noexcept {
  return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271;
}

LonLat wgs84_to_gcj02(LonLat p) noexcept {
  if (outside_china(p.lon, p.lat)) return p;
  const LonLat d = gcj_delta(p.lon, p.lat);
  return {p.lon + d.lon, p.lat + d.lat};
}

LonLat gcj02_to_wgs84(LonLat p) noexcept {
  if (outside_china(p.lon, p.lat)) return p;
  return invert(p, wgs84_to_gcj02);
}

LonLat gcj02_to_bd09(LonLat p) noexcept {
  const double x = p.lon;
  const double y = p.lat;
  const double z = std::sqrt(x * x + y * y) + 0.00002 * std::sin(y * k_x_pi);
  const double theta = std::atan2(y, x) + 0.000003 * std::cos(x * k_x_pi);
  return {z * std::cos(theta) + 0.0065, z * std::sin(theta) + 0.006};
}

LonLat bd09_to_gcj02(LonLat p) noexcept { return invert(p, gcj02_to_bd09); }

LonLat wgs84_to_bd09(LonLat p) noexcept { return gcj02_to_bd09(wgs84_to_gcj02(p)); }

LonLat bd09_to_wgs84(LonLat p) noexcept { return gcj02_to_wgs84(bd09_to_gcj02(p)); }

}  // namespace gridd::spatial
