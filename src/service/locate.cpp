#include "gridd/service/locate.hpp"

#include <algorithm>
#include <cmath>

#include "gridd/core/error.hpp"
#include "gridd/spatial/crs.hpp"

namespace gridd::service {

void to_wgs84(const Position& position, double& lon, double& lat) {
  const spatial::CrsTransform& t = spatial::crs_transform(position.crs);
  lon = position.x;
  lat = position.y;
  // Name the offending parameter: a latitude out of range is "lat".
  auto check = [](double x, double y) {
    if (!std::isfinite(x) || x < -180 || x > 180) {
      throw_invalid("coordinate_out_of_range", "longitude " + std::to_string(x) + " is outside [-180, 180]", "lon");
    }
    if (!std::isfinite(y) || y < -90 || y > 90) {
      throw_invalid("coordinate_out_of_range", "latitude " + std::to_string(y) + " is outside [-90, 90]", "lat");
    }
  };
  if (t.is_geographic()) check(lon, lat);
  t.to_wgs84(lon, lat);
  check(lon, lat);
}

LocateResult locate_wgs84(const Snapshot& snapshot, double lon, double lat, const LocateOptions& options) {
  LocateResult r;
  r.lon = lon;
  r.lat = lat;
  const auto& grids = snapshot.grids();
  std::vector<std::size_t> hits = snapshot.grid_index().covering(lon, lat);
  // Sort by level, then code; choose one grid per level, preferring the
  // children of the grid chosen at the level above.
  std::sort(hits.begin(), hits.end(), [&](std::size_t a, std::size_t b) {
    const Grid& ga = grids[a]->grid;
    const Grid& gb = grids[b]->grid;
    if (ga.level != gb.level) return ga.level < gb.level;
    return ga.code < gb.code;
  });
  std::size_t i = 0;
  while (i < hits.size()) {
    const Level level = grids[hits[i]]->grid.level;
    std::size_t end = i;
    while (end < hits.size() && grids[hits[end]]->grid.level == level) ++end;
    std::size_t pick = hits[i];
    if (!r.chain.empty()) {
      const std::string& parent = r.chain.back()->grid.code;
      for (std::size_t j = i; j < end; ++j) {
        if (grids[hits[j]]->grid.parent_code == parent) {
          pick = hits[j];
          break;
        }
      }
    }
    r.chain.push_back(grids[pick].get());
    i = end;
  }
  for (auto it = r.chain.rbegin(); it != r.chain.rend(); ++it) {
    if (snapshot.is_leaf(snapshot.position_of(*it))) {
      r.covered = true;
      r.owner = *it;
      break;
    }
  }
  if (!r.covered && !grids.empty()) {
    const auto [pos, distance] =
        snapshot.grid_index().nearest(lon, lat, [&](std::size_t p) { return snapshot.is_leaf(p); });
    if (pos != static_cast<std::size_t>(-1)) {
      r.owner = grids[pos].get();
      r.owner_distance_m = distance;
    }
  }
  r.stations = snapshot.nearest_stations(lon, lat, options.k, options.station_kind);
  return r;
}

LocateResult locate(const Snapshot& snapshot, const Position& position, const LocateOptions& options) {
  if (options.k > k_max_locate_k) {
    throw_invalid("invalid_k", "k must be between 0 and " + std::to_string(k_max_locate_k), "k");
  }
  double lon = 0, lat = 0;
  to_wgs84(position, lon, lat);
  return locate_wgs84(snapshot, lon, lat, options);
}

}  // namespace gridd::service
