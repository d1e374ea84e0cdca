#pragma once
/// @file incident_store.hpp
/// The durable store of incidents, their append-only history and their
/// attachments. Every write is one transaction that has reached the disk
/// when the call returns. Queries run in the store, with its indexes, so the
/// number of incidents is bounded by the store and not by memory.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gridd/core/incident.hpp"

namespace gridd::storage {

/// How a listing is ordered. Every order ends with the id, so keyset paging
/// never skips or repeats an incident while new ones arrive.
enum class IncidentSort {
  newest,   ///< id descending (the default)
  oldest,   ///< id ascending
  due,      ///< earliest deadline first, incidents without one last
  urgency   ///< overdue, due today, near due, on track, none; then by deadline
};

/// The deadline clock a query evaluates colours with (see colour_at()).
struct ColourClock {
  std::string now;       ///< ISO 8601 UTC
  std::string day_end;   ///< end of the local day of `now`, ISO 8601 UTC
};

/// Filters of a listing; every set filter must hold.
struct IncidentFilter {
  std::optional<std::array<double, 4>> bbox;        ///< minlon, minlat, maxlon, maxlat
  std::optional<std::pair<Level, std::int64_t>> subtree;  ///< incidents whose chain holds this grid
  std::vector<IncidentStatus> statuses;
  std::vector<std::string> categories;
  std::vector<std::string> channels;
  std::vector<Colour> colours;
  std::optional<bool> covered;
  std::string assignee;        ///< the assignee's name
  std::string assignee_phone;  ///< the assignee's phone
  std::string created_from;  ///< ISO 8601 UTC, inclusive
  std::string created_to;    ///< ISO 8601 UTC, exclusive
};

/// Keyset position after the last item of a page (opaque to callers).
struct IncidentCursor {
  int rank = 0;
  std::string due;
  std::int64_t id = 0;
};

struct IncidentQuery {
  IncidentFilter filter;
  ColourClock clock;
  IncidentSort sort = IncidentSort::newest;
  std::optional<IncidentCursor> after;
  std::size_t limit = 100;
};

struct IncidentPage {
  std::vector<Incident> items;
  std::optional<IncidentCursor> next;  ///< set when more items may follow
};

/// What statistics are grouped by.
enum class StatsGroup { grid, category, day, channel, assignee };

struct StatsQuery {
  IncidentFilter filter;
  ColourClock clock;
  StatsGroup group = StatsGroup::grid;
  Level level = Level::grid;  ///< for StatsGroup::grid: the level of the grids compared
  int utc_offset_minutes = 480;  ///< for StatsGroup::day
};

/// One row of statistics: the numbers leaders compare grids by.
struct StatsRow {
  std::string key;  ///< grid id, category code, local date, channel or assignee
  std::int64_t received = 0;
  std::int64_t open = 0;
  std::int64_t closed = 0;
  std::int64_t rejected = 0;
  std::int64_t resolved_on_time = 0;   ///< resolved no later than the deadline
  std::int64_t resolved_with_deadline = 0;
  std::int64_t overdue = 0;            ///< open and past the deadline now
  std::optional<double> avg_hours_to_close;
  std::optional<double> avg_satisfaction;
  std::int64_t satisfaction_count = 0;
};

/// Filter of the live feed.
struct FeedFilter {
  std::optional<std::pair<Level, std::int64_t>> subtree;
  std::vector<std::string> categories;
};

/// An event with the incident as it is now.
struct FeedItem {
  IncidentEvent event;
  Incident incident;
};

/// Open incidents aggregated on a grid of cells (for low-zoom map tiles).
struct IncidentCluster {
  double lon = 0;  ///< mean position of the cell's incidents
  double lat = 0;
  std::int64_t count = 0;
  std::array<std::int64_t, 5> colours{};  ///< count per Colour value
};

class IncidentStore {
 public:
  virtual ~IncidentStore() = default;

  /// Insert incidents (id 0) each with its first event ("report"), all in
  /// one transaction. Fills in ids and event ids.
  virtual void insert(std::vector<Incident>& incidents, std::vector<IncidentEvent>& events) = 0;

  /// Replace incident `next.id` if its stored version is still
  /// `expected_version`, and append `event`, in one transaction. Fills in
  /// event.id. @throws Error(not_found, "incident_not_found") or
  /// Error(conflict, "stale_version") and writes nothing.
  virtual void update(const Incident& next, std::int64_t expected_version, IncidentEvent& event) = 0;

  [[nodiscard]] virtual std::optional<Incident> get(std::int64_t id) = 0;
  /// The incident with this tracking code, if any.
  [[nodiscard]] virtual std::optional<Incident> find_by_tracking_code(const std::string& code) = 0;
  [[nodiscard]] virtual IncidentPage list(const IncidentQuery& query) = 0;
  [[nodiscard]] virtual std::int64_t count(const IncidentFilter& filter, const ColourClock& clock) = 0;
  [[nodiscard]] virtual std::vector<IncidentEvent> history(std::int64_t incident_id) = 0;
  [[nodiscard]] virtual std::vector<StatsRow> stats(const StatsQuery& query) = 0;

  /// Open incidents in `bbox` counted on a cols x rows grid of equal cells;
  /// only those whose chain holds `subtree` when given.
  [[nodiscard]] virtual std::vector<IncidentCluster> clusters(
      const std::array<double, 4>& bbox, int cols, int rows, const ColourClock& clock,
      const std::optional<std::pair<Level, std::int64_t>>& subtree) = 0;

  /// Every open incident (not closed or rejected), oldest first, with only
  /// id, version, position, status and the deadline instants filled in: what
  /// the in-memory index of open incidents holds.
  virtual void for_each_open(const std::function<void(const Incident&)>& visit) = 0;

  /// Events with id > after_id matching `filter`, oldest first, at most `limit`.
  [[nodiscard]] virtual std::vector<FeedItem> events_after(std::int64_t after_id, const FeedFilter& filter,
                                                           std::size_t limit) = 0;
  /// The id of the newest event (0 when none).
  [[nodiscard]] virtual std::int64_t last_event_id() = 0;

  /// Store an attachment of an existing incident; fills in id.
  /// @throws Error(not_found, "incident_not_found").
  virtual void add_attachment(Attachment& attachment) = 0;
  /// With data when `with_data`.
  [[nodiscard]] virtual std::optional<Attachment> attachment(std::int64_t id, bool with_data) = 0;
  [[nodiscard]] virtual std::vector<Attachment> attachments_of(std::int64_t incident_id) = 0;
};

}  // namespace gridd::storage
