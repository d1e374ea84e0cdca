#pragma once
/// @file snapshot.hpp
/// An immutable view of all grids and stations with their spatial indexes.
/// Readers hold a std::shared_ptr<const Snapshot> and never lock; writers
/// build a new snapshot and publish it atomically (see Catalog).

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gridd/core/model.hpp"
#include "gridd/spatial/locate_index.hpp"

namespace gridd::service {

/// A rendering of an immutable entry computed once, on first use, by the
/// one renderer that owns it (the API's locate summary). Thread-safe.
class RenderCache {
 public:
  template <class Render>
  const std::string& get(Render&& render) const {
    std::call_once(m_once, [&] { m_text = render(); });
    return m_text;
  }

 private:
  mutable std::once_flag m_once;
  mutable std::string m_text;
};

/// A grid with its prepared geometry. Shared between snapshots until changed.
struct GridEntry {
  GridEntry(Grid g, spatial::GeomPtr geometry);
  Grid grid;               ///< grid.wkb is cleared; the geometry lives in `shape`
  spatial::Shape shape;
  double area_m2 = 0;      ///< geodesic area
  RenderCache summary;     ///< the locate answer's JSON for this grid
  RenderCache public_summary;  ///< the same without personal data (people's phones)
};

/// A station (shared between snapshots until changed).
struct StationEntry : Station {
  explicit StationEntry(Station s) : Station(std::move(s)) {}
  RenderCache summary;     ///< the locate answer's JSON for this station
};

class Snapshot {
 public:
  Snapshot(std::uint64_t version, std::vector<std::shared_ptr<const GridEntry>> grids,
           std::vector<std::shared_ptr<const StationEntry>> stations);
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  [[nodiscard]] std::uint64_t version() const noexcept { return m_version; }

  /// Grids sorted by id.
  [[nodiscard]] const std::vector<std::shared_ptr<const GridEntry>>& grids() const noexcept { return m_grids; }
  [[nodiscard]] const GridEntry* grid_by_id(std::int64_t id) const;
  [[nodiscard]] const GridEntry* grid_by_code(const std::string& code) const;
  /// The ids of `entry` and its ancestors by level (0 where none), by the
  /// parent links; a cycle or a too deep tree stops.
  [[nodiscard]] std::array<std::int64_t, 5> chain_of(const GridEntry& entry) const;
  /// Positions (into grids()) of the children of a grid code.
  [[nodiscard]] const std::vector<std::size_t>& children_of(const std::string& code) const;
  [[nodiscard]] bool is_leaf(std::size_t grid_pos) const { return m_leaf[grid_pos]; }
  [[nodiscard]] const spatial::ShapeIndex& grid_index() const noexcept { return *m_grid_index; }
  [[nodiscard]] std::size_t position_of(const GridEntry* entry) const;

  /// Stations sorted by id.
  [[nodiscard]] const std::vector<std::shared_ptr<const StationEntry>>& stations() const noexcept {
    return m_stations;
  }
  [[nodiscard]] const StationEntry* station_by_id(std::int64_t id) const;
  [[nodiscard]] const StationEntry* station_by_code(const std::string& code) const;
  /// The k nearest stations (of `kind`, or of any kind when empty) with
  /// their geodesic distance in metres, nearest first.
  [[nodiscard]] std::vector<std::pair<const StationEntry*, double>> nearest_stations(
      double lon, double lat, std::size_t k, const std::string& kind) const;

 private:
  struct KindIndex {
    std::vector<std::size_t> positions;  // into m_stations
    std::unique_ptr<spatial::PointIndex> index;
  };
  std::uint64_t m_version;
  std::vector<std::shared_ptr<const GridEntry>> m_grids;
  std::unordered_map<std::int64_t, std::size_t> m_grid_by_id;
  std::unordered_map<std::string, std::size_t> m_grid_by_code;
  std::unordered_map<const GridEntry*, std::size_t> m_grid_pos;
  std::unordered_map<std::string, std::vector<std::size_t>> m_children;
  std::vector<bool> m_leaf;
  std::unique_ptr<spatial::ShapeIndex> m_grid_index;

  std::vector<std::shared_ptr<const StationEntry>> m_stations;
  std::unordered_map<std::int64_t, std::size_t> m_station_by_id;
  std::unordered_map<std::string, std::size_t> m_station_by_code;
  KindIndex m_all_stations;
  std::unordered_map<std::string, KindIndex> m_stations_by_kind;
};

}  // namespace gridd::service
