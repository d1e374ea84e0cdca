#pragma once
/// @file coverage.hpp
/// Station coverage for planners: which parts of which grids lie beyond a
/// walking distance (the "15-minute" 1,200 m by default) from every station
/// of a kind, with their area and an estimate of their households.
///
/// Straight-line mode buffers the stations in a local azimuthal equidistant
/// projection centred on the city, unions the discs once per (snapshot
/// version, kind, distance) and subtracts the union from each grid projected
/// the same way; areas are geodesic, measured after transforming back to
/// WGS84. Network mode replaces the discs by a strip of `access_width_m`
/// either side of the parts of a road network (coverage_network.hpp) within
/// the distance of a station along the roads.

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gridd/service/catalog.hpp"
#include "gridd/service/coverage_network.hpp"
#include "gridd/service/snapshot.hpp"
#include "gridd/spatial/geos.hpp"

namespace gridd::service {

enum class CoverageMode { straight, network };

/// "straight", "network"; parse_coverage_mode throws Error(invalid_input,
/// "invalid_mode") naming `field`.
std::string_view to_string(CoverageMode mode) noexcept;
CoverageMode parse_coverage_mode(std::string_view text, std::string_view field = "mode");

inline constexpr double k_default_coverage_distance_m = 1200;
inline constexpr double k_min_coverage_distance_m = 50;
inline constexpr double k_max_coverage_distance_m = 20000;
inline constexpr double k_default_access_width_m = 100;
inline constexpr double k_min_access_width_m = 5;
inline constexpr double k_max_access_width_m = 1000;

struct CoverageQuery {
  std::string kind;  ///< station kind; empty or "all": every kind
  double distance_m = k_default_coverage_distance_m;
  std::string root;  ///< grid id or code whose descendants are compared; empty: every grid at `level`
  std::optional<Level> level;  ///< default: the finest level present (under root)
  CoverageMode mode = CoverageMode::straight;
  double access_width_m = k_default_access_width_m;  ///< network mode: metres either side of a road
  bool with_geometry = true;  ///< compute the uncovered parts as WGS84 geometries
};

/// The grids a planning query compares.
struct GridSelection {
  const GridEntry* root = nullptr;  ///< null: the whole city
  Level level = Level::grid;
  std::vector<const GridEntry*> grids;  ///< sorted by code
};

/// The grids at `level` under `root` (id or code; empty: all). Without a
/// level, the finest level present under the root (excluding the root).
/// @throws Error(not_found, "grid_not_found", root_field) for an unknown
/// root; Error(invalid_input, "invalid_level", level_field) when `level` is
/// not finer than the root's.
GridSelection select_grids(const Snapshot& snapshot, const std::string& root, std::optional<Level> level,
                           const std::string& root_field = "root", const std::string& level_field = "level");

/// One grid's answer.
struct GridCoverage {
  const GridEntry* grid = nullptr;
  double area_m2 = 0;
  double uncovered_area_m2 = 0;
  double uncovered_share = 0;  ///< uncovered_area_m2 / area_m2 (0 for an empty grid)
  std::optional<std::int64_t> households;
  /// households x uncovered_share: an estimate assuming households spread
  /// evenly over the grid.
  std::optional<double> uncovered_households;
  LonLat reference;  ///< a point on the grid's surface (its centroid when inside)
  const StationEntry* nearest = nullptr;  ///< the nearest station of the kind from `reference`
  std::optional<double> nearest_distance_m;  ///< straight-line or network metres (null: none reachable)
  spatial::GeomPtr uncovered;  ///< WGS84 MultiPolygon; null when fully covered or !with_geometry
};

struct CoverageTotals {
  std::size_t grids = 0;
  std::size_t fully_covered = 0;
  std::size_t partly_covered = 0;
  std::size_t uncovered = 0;  ///< grids no part of which is covered
  double area_m2 = 0;
  double uncovered_area_m2 = 0;
  std::int64_t households = 0;  ///< over the grids that state households
  double uncovered_households = 0;
  std::size_t grids_without_households = 0;
};

struct CoverageResult {
  std::shared_ptr<const Snapshot> snapshot;  ///< keeps the grid and station pointers valid
  CoverageQuery query;
  GridSelection selection;
  std::size_t stations = 0;  ///< stations of the kind
  std::vector<GridCoverage> grids;
  CoverageTotals totals;
  bool cache_hit = false;  ///< the station cover came from the cache
  std::string frame;  ///< the projection the geometry was computed in (PROJ string)
};

struct CoverageOptions {
  std::size_t cache_entries = 16;  ///< station covers kept (a snapshot change empties the cache)
  int quadrant_segments = 32;      ///< segments per quarter circle of a station disc
};

class CoverageService {
 public:
  /// `network` may be null: network mode then answers Error(conflict, "network_not_loaded").
  explicit CoverageService(Catalog& catalog, const RoadNetwork* network = nullptr, CoverageOptions options = {});
  ~CoverageService();
  CoverageService(const CoverageService&) = delete;
  CoverageService& operator=(const CoverageService&) = delete;

  /// @throws Error(invalid_input: invalid_kind, distance_out_of_range,
  /// access_width_out_of_range, invalid_level | not_found: grid_not_found |
  /// conflict: network_not_loaded) naming the query field.
  [[nodiscard]] CoverageResult run(const CoverageQuery& query) const;

  [[nodiscard]] const RoadNetwork* network() const noexcept { return m_network; }

 private:
  struct Cover;
  std::shared_ptr<const Cover> cover(const Snapshot& snapshot, const CoverageQuery& query, bool& hit) const;

  Catalog& m_catalog;
  const RoadNetwork* m_network;
  CoverageOptions m_options;
  mutable std::mutex m_mutex;
  mutable std::list<std::shared_ptr<const Cover>> m_cache;  ///< most recently used first
};

}  // namespace gridd::service
