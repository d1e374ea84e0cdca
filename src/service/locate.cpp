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
  try {
    t.to_wgs84(lon, lat);
  } catch (const Error& e) {
    throw Error(e.kind(), e.code(), e.what(), t.is_geographic() ? "lon" : "x");
  }
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
  std::size_t last_pick = 0;  // position of the chain's end
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
    last_pick = pick;
    i = end;
  }
  // The owner is a covering leaf: the chain's own end when it is a leaf;
  // otherwise the covering leaf below the deepest grid of the chain (then the
  // smallest code), and the chain is re-cut to end at it.
  if (!r.chain.empty() && snapshot.is_leaf(last_pick)) {
    r.covered = true;
    r.owner = r.chain.back();
  } else {
    auto is_ancestor_or_self = [&](const GridEntry* a, const GridEntry* g) {
      for (int guard = 0; g && guard < 32; ++guard) {
        if (g == a) return true;
        g = g->grid.parent_code.empty() ? nullptr : snapshot.grid_by_code(g->grid.parent_code);
      }
      return false;
    };
    const GridEntry* best = nullptr;
    std::size_t best_depth = 0;
    for (std::size_t h : hits) {  // level, then code order
      if (!snapshot.is_leaf(h)) continue;
      std::size_t depth = 0;
      for (std::size_t c = 0; c < r.chain.size(); ++c) {
        if (is_ancestor_or_self(r.chain[c], grids[h].get())) depth = c + 1;
      }
      if (!best || depth > best_depth) {
        best = grids[h].get();
        best_depth = depth;
      }
    }
    if (best) {
      r.covered = true;
      r.owner = best;
      r.chain.clear();
      for (std::size_t h : hits) {
        if (is_ancestor_or_self(grids[h].get(), best)) r.chain.push_back(grids[h].get());
      }
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
