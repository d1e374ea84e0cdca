#pragma once
/// @file open_incidents.hpp
/// The open incidents in memory: position, status and deadline instants of
/// every incident not closed or rejected, kept in step with the store by the
/// incident service (loaded at start, updated after each committed write).
/// Aggregating a million open incidents into a map tile's cells is a scan of
/// a flat array here, instead of a query over the whole table.

#include <array>
#include <cstdint>
#include <functional>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "gridd/core/incident.hpp"
#include "gridd/core/time.hpp"
#include "gridd/storage/incident_store.hpp"

namespace gridd::service {

class OpenIncidentIndex {
 public:
  /// Apply an incident as committed: open ones are added or replaced, closed
  /// and rejected ones removed. An older version than the one held is ignored.
  void apply(const Incident& incident);
  void clear();

  /// Open incidents in `bbox` (lon/lat, edges included) counted on a cols x
  /// rows grid of equal cells with their colours at `now` (the day ending at
  /// `day_end`): the same answer as storage::IncidentStore::clusters.
  [[nodiscard]] std::vector<storage::IncidentCluster> clusters(const std::array<double, 4>& bbox, int cols, int rows,
                                                               TimePoint now, TimePoint day_end) const;

  /// Open incidents per colour (Colour's values) at `now`.
  [[nodiscard]] std::array<std::int64_t, 5> colour_counts(TimePoint now, TimePoint day_end) const;

  [[nodiscard]] std::size_t size() const;
  /// Bytes held (for /metrics and the benchmarks).
  [[nodiscard]] std::size_t bytes() const;

 private:
  static constexpr std::int64_t k_none = INT64_MIN;  ///< an instant that is not set
  struct Point {
    std::int64_t id = 0;
    std::int64_t version = 0;
    double lon = 0, lat = 0;
    std::int64_t dispatched_ms = k_none, due_ms = k_none, near_due_ms = k_none;
    bool running = false;  ///< deadline_running(status)
  };
  static Point point_of(const Incident& incident);
  /// The colour's value (Colour) of a point at `now_ms`, as the store's SQL rule.
  static int rank(const Point& p, std::int64_t now_ms, std::int64_t day_end_ms) noexcept;

  mutable std::shared_mutex m_mutex;
  std::vector<Point> m_points;                        // dense; removal swaps with the last
  std::unordered_map<std::int64_t, std::size_t> m_slot;  // id -> index in m_points
};

}  // namespace gridd::service
