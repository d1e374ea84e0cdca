#pragma once
/// @file workload.hpp
/// Workload per grid and per grid worker, for deciding which grids to split
/// or merge: open incidents, overdue ones and their share, incidents
/// received in a period per 1,000 households. The numbers come from the
/// incident store's statistics (grouped by grid at a level, and by
/// assignee); households and areas from the catalogue.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gridd/core/time.hpp"
#include "gridd/service/coverage.hpp"
#include "gridd/service/incidents.hpp"

namespace gridd::service {

/// What grids and workers are sorted and flagged by (descending; unknown values last).
enum class WorkloadKey { open, overdue, overdue_share, received, per_1000_households };

/// "open", "overdue", "overdue_share", "received", "per_1000_households";
/// parse_workload_key throws Error(invalid_input, "invalid_sort") naming `field`.
std::string_view to_string(WorkloadKey key) noexcept;
WorkloadKey parse_workload_key(std::string_view text, std::string_view field = "sort");

inline constexpr int k_default_workload_days = 30;

struct WorkloadQuery {
  std::string root;             ///< grid id or code; empty: the whole city
  std::optional<Level> level;   ///< default: the finest level present under the root
  std::optional<TimePoint> from;  ///< start of the period (inclusive); default: `to` - 30 days
  std::optional<TimePoint> to;    ///< end of the period (exclusive); default: now (inclusive)
  WorkloadKey sort = WorkloadKey::open;
  std::size_t limit = 0;        ///< grids and workers returned; 0: all
  double split_percentile = 90;
  double merge_percentile = 10;
  std::size_t min_grids_for_flags = 5;  ///< fewer grids with a value: no flags
};

/// The numbers of one grid or one worker.
struct WorkloadNumbers {
  std::int64_t open = 0;      ///< not closed and not rejected (now)
  std::int64_t overdue = 0;   ///< open and past the deadline now
  std::int64_t received = 0;  ///< reported in the period
  std::optional<double> overdue_share;        ///< overdue / open; null when nothing is open
  std::optional<std::int64_t> households;     ///< null when unknown
  std::optional<double> per_1000_households;  ///< received x 1000 / households; null when households unknown or 0
  double area_km2 = 0;
};

enum class WorkloadFlag { none, split, merge };
std::string_view to_string(WorkloadFlag flag) noexcept;

struct GridWorkload {
  const GridEntry* grid = nullptr;
  WorkloadNumbers numbers;
  std::vector<Person> workers;  ///< the grid's grid workers (else its first person)
  WorkloadFlag flag = WorkloadFlag::none;
};

struct WorkerWorkload {
  std::string name;  ///< the assignee name incidents carry
  WorkloadNumbers numbers;  ///< households and area: of the finest grids the worker is responsible for
  std::vector<std::string> grids;  ///< codes of those grids
};

struct WorkloadResult {
  std::shared_ptr<const Snapshot> snapshot;  ///< keeps the grid pointers valid
  GridSelection selection;
  TimePoint at;    ///< the clock of "open" and "overdue"
  TimePoint from;  ///< the period of "received"
  TimePoint to;
  WorkloadKey key = WorkloadKey::open;
  std::optional<double> p_split, median, p_merge;  ///< of the key over the grids with a value
  std::string rule;  ///< the flag rule in words
  std::size_t split_candidates = 0;
  std::size_t merge_candidates = 0;
  std::vector<GridWorkload> grids;      ///< sorted by the key, at most `limit`
  std::vector<WorkerWorkload> workers;  ///< sorted by the key, at most `limit`
  WorkloadNumbers totals;               ///< over every selected grid (before `limit`)
  std::size_t grid_count = 0;           ///< selected grids (before `limit`)
  std::size_t worker_count = 0;
  /// Incidents under the root without an assignee name (a grid without people).
  WorkloadNumbers unassigned;
};

/// The percentile p (0..100) of sorted values by linear interpolation
/// between closest ranks (R type 7); nullopt for no values.
std::optional<double> percentile(const std::vector<double>& sorted, double p);

/// @throws Error(invalid_input: invalid_level, invalid_period, invalid_percentile | not_found: grid_not_found)
WorkloadResult workload(const IncidentService& incidents, const WorkloadQuery& query);

}  // namespace gridd::service
