#pragma once
/// @file locate.hpp
/// "Which grid contains this point, who is responsible, which station is
/// nearest": the dispatcher's question, answered from a snapshot.

#include <string>
#include <vector>

#include "gridd/service/snapshot.hpp"

namespace gridd::service {

/// A position as the caller gives it, in any CRS gridd accepts.
struct Position {
  double x = 0;
  double y = 0;
  std::string crs;  ///< empty: WGS84 lon/lat
};

struct LocateOptions {
  std::size_t k = 3;          ///< nearest stations to return (0..100)
  std::string station_kind;   ///< restrict stations to this kind; empty: all
};

inline constexpr std::size_t k_max_locate_k = 100;

/// The answer. Pointers stay valid while the snapshot is held.
struct LocateResult {
  double lon = 0;  ///< the position in WGS84
  double lat = 0;
  /// Grids containing the point, coarsest first; at each level the grid
  /// whose parent is the one chosen above wins, then the smallest code
  /// (so a point on a shared boundary has exactly one owner per level).
  std::vector<const GridEntry*> chain;
  /// True when a finest-level grid (a leaf) contains the point.
  bool covered = false;
  /// The responsible leaf grid: the finest containing one, or when the point
  /// is outside every leaf, the nearest leaf (属地兜底).
  const GridEntry* owner = nullptr;
  double owner_distance_m = 0;  ///< 0 when covered
  std::vector<std::pair<const StationEntry*, double>> stations;
};

/// Convert a position to WGS84 lon/lat. @throws Error(invalid_input)
void to_wgs84(const Position& position, double& lon, double& lat);

/// @throws Error(invalid_input) for a bad CRS, coordinate or option.
LocateResult locate(const Snapshot& snapshot, const Position& position, const LocateOptions& options);

/// Locate an already converted WGS84 point (no validation).
LocateResult locate_wgs84(const Snapshot& snapshot, double lon, double lat, const LocateOptions& options);

}  // namespace gridd::service
