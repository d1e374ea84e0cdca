#pragma once
/// @file catalog.hpp
/// The facade over grids and stations that the API, the CLI, the tests and
/// the benchmarks call. It validates writes, commits them to the store in
/// one transaction, and then publishes a new immutable Snapshot; readers
/// never wait on writers.

#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <list>

#include "gridd/core/listeners.hpp"
#include "gridd/core/published.hpp"
#include "gridd/service/snapshot.hpp"
#include "gridd/service/topology.hpp"
#include "gridd/spatial/geos.hpp"
#include "gridd/storage/store.hpp"

namespace gridd::service {

/// A grid to create or replace: the Grid fields plus its geometry already
/// converted to WGS84 (Grid::wkb is ignored).
struct GridInput {
  Grid grid;
  spatial::GeomPtr geometry;
  std::string where;  ///< where the input came from, for error fields ("features/3")
};

struct StationInput {
  Station station;
  std::string where;
};

/// Who edits and why, and how strictly: an edit that would create an
/// overlap, a gap or a child outside its parent is refused unless it is
/// saved as a draft (the version is then marked draft).
struct EditOptions {
  std::string editor;
  std::string reason;
  bool draft = false;
  bool check_topology = true;
  TopologyOptions topology;
};

/// One part of a split: the kept grid first (the largest part), then the new ones.
struct SplitPart {
  std::string code;
  std::string name;
  double area_m2 = 0;
  std::optional<std::int64_t> households;
  bool kept = false;
};

/// What a split does to the records besides the shapes: how the households
/// were divided. `by` is "area" (each part round(households x part area /
/// total area), largest remainders first so the parts sum exactly), "given"
/// (the planner's counts) or "unknown" (the grid had no count, the parts neither).
struct SplitSummary {
  std::optional<std::int64_t> households;  ///< the grid's count before the split
  std::string by;
  std::vector<SplitPart> parts;
};

/// `total` divided in proportion to `areas`: each part the floor of its
/// share, the remainder one each to the largest fractions (ties: the larger
/// part), so the parts sum exactly to `total` (1000 by 30/70 is 300/700,
/// 1001 in three equal parts 334/334/333).
std::vector<std::int64_t> divide_by_area(std::int64_t total, const std::vector<double>& areas);

/// A grid a merge reads: its count of households (null when unknown).
struct MergeSource {
  std::int64_t id = 0;
  std::string code;
  std::string name;
  std::optional<std::int64_t> households;
  std::size_t people = 0;
  bool kept = false;
};

/// What a merge does to the records besides the shapes: every person of the
/// merged grids is kept (the same name, phone and role only once), the
/// households are summed (null only when no grid had a count), and the codes
/// of the grids absorbed are retired.
struct MergeSummary {
  std::vector<MergeSource> grids;       ///< in the order given
  std::vector<Person> people;           ///< of the merged grid: the kept grid's first
  std::vector<Person> people_added;     ///< of those, the ones from the absorbed grids
  std::size_t duplicates = 0;           ///< people listed in more than one grid, kept once
  std::optional<std::int64_t> households;
  std::vector<std::string> households_unknown;  ///< codes of the grids without a count
  std::vector<std::string> retired;             ///< codes of the absorbed grids
};

/// A reviewed change of several grids at once (split, merge, snap, restore):
/// updates replace existing grids (grid.id set), creates add grids (id 0,
/// or the id of a deleted grid being restored), deletes remove grids.
struct EditPlan {
  std::string operation;
  std::vector<GridInput> updates;
  std::vector<GridInput> creates;
  std::vector<std::int64_t> deletes;
  std::optional<SplitSummary> split;  ///< set by plan_split
  std::optional<MergeSummary> merge;  ///< set by plan_merge
};

/// What an edit plan does or would do.
struct EditOutcome {
  std::vector<Grid> grids;  ///< the updates then the creates, as stored (wkb set; ids once committed)
  std::vector<std::int64_t> deleted;
  std::vector<Defect> defects;  ///< the defects the edit creates (warnings included)
  bool committed = false;
  std::optional<SplitSummary> split;  ///< the plan's, for a split
  std::optional<MergeSummary> merge;  ///< the plan's, for a merge
};

struct CatalogOptions {
  std::vector<std::string> station_kinds = default_station_kinds();
};

class Catalog {
 public:
  Catalog(std::unique_ptr<storage::Store> store, CatalogOptions options = {});
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  /// The current snapshot; hold it for as long as its pointers are used.
  [[nodiscard]] std::shared_ptr<const Snapshot> snapshot() const;

  /// Create grids (all or nothing). Parents may be earlier items of the same batch.
  /// @returns the created grids' ids in input order.
  /// @throws Error(invalid_input | conflict | not_found)
  /// @throws Error(conflict, "topology_defects") with the defects as details
  ///         when the grids would overlap their siblings or leave their parent.
  std::vector<std::int64_t> create_grids(std::vector<GridInput> inputs, const EditOptions& options = {});
  /// Create or update by code in one transaction (imports; no topology
  /// refusal: imports are checked with check_topology). Returns {created, updated}.
  std::pair<std::size_t, std::size_t> upsert_grids(std::vector<GridInput> inputs, const EditOptions& options = {});
  /// Replace grid `id` (children follow a code change).
  void update_grid(std::int64_t id, GridInput input, const EditOptions& options = {});
  /// Delete a grid without children. @throws Error(conflict) when it has children.
  void delete_grid(std::int64_t id, const EditOptions& options = {});

  /// The defects a plan would create, and its grids, without writing.
  /// @throws Error(invalid_input | not_found | conflict) for a plan that cannot be applied.
  [[nodiscard]] EditOutcome preview(const EditPlan& plan, const TopologyOptions& topology = {}) const;
  /// Apply a plan in one transaction (one new version per grid touched).
  EditOutcome apply(EditPlan plan, const EditOptions& options);

  /// Split grid `id` by a line: the largest part keeps the grid, the others
  /// become new siblings (codes and names from `names`, else derived);
  /// children move to the part that holds most of them. The households are
  /// divided by area (see SplitSummary) unless `households` gives one count
  /// per part (the kept part first, then the new parts in order).
  /// @throws Error(invalid_input, "invalid_households", field "households")
  ///         when the counts are not one per part or do not sum to the grid's count.
  [[nodiscard]] EditPlan plan_split(std::int64_t id, const GEOSGeometry* line,
                                    const std::vector<std::pair<std::string, std::string>>& codes_and_names = {},
                                    const std::optional<std::vector<std::int64_t>>& households = std::nullopt) const;
  /// Merge sibling grids into `keep` (default: the first), dissolving
  /// shared boundaries; the others are deleted, their children move to `keep`.
  /// The merged grid keeps every person and the sum of the households (see MergeSummary).
  [[nodiscard]] EditPlan plan_merge(const std::vector<std::int64_t>& ids, std::int64_t keep = 0,
                                    bool allow_disjoint = false) const;
  /// Snap grid `id` to its parent's boundary and/or its siblings' boundaries.
  [[nodiscard]] EditPlan plan_snap(std::int64_t id, double tolerance_m, bool to_parent, bool to_neighbours) const;
  /// Bring back version `version` of grid `id` (also of a deleted grid).
  [[nodiscard]] EditPlan plan_restore(std::int64_t id, std::int64_t version) const;

  /// Every version of grid `id`, oldest first. @throws Error(not_found).
  [[nodiscard]] std::vector<GridVersion> history(std::int64_t id) const;
  /// The grids as they were at `at` (ISO 8601 UTC) with today's stations;
  /// the current snapshot for a time at or after the last change.
  [[nodiscard]] std::shared_ptr<const Snapshot> snapshot_at(const std::string& at) const;

  std::vector<std::int64_t> create_stations(std::vector<StationInput> inputs);
  std::pair<std::size_t, std::size_t> upsert_stations(std::vector<StationInput> inputs);
  void update_station(std::int64_t id, StationInput input);
  void delete_station(std::int64_t id);

  [[nodiscard]] const CatalogOptions& options() const noexcept { return m_options; }
  [[nodiscard]] std::string describe_store() const { return m_store->describe(); }

  /// Validate one station (kind, position, name); throws Error(invalid_input).
  void validate_station(const StationInput& input) const;

  /// What reload() found changed in the store.
  struct ReloadResult {
    std::size_t grids_changed = 0;     ///< added, replaced or removed
    std::size_t stations_changed = 0;
  };
  /// Bring the in-memory catalog up to the store's current content: for
  /// changes another process committed to the same store (several gridd
  /// instances on one database). Unchanged grids keep their prepared
  /// geometries (compared by id and version; stations by value); the
  /// listeners hear of what changed, so tile caches drop exactly that.
  /// Serialised with this catalog's own writes.
  ReloadResult reload();

  /// Called after each published change with the lon/lat envelopes of what
  /// changed (before and after), on the writer's thread; keep it quick.
  using ChangeListener =
      std::function<void(const std::vector<spatial::Envelope>& grids, const std::vector<spatial::Envelope>& stations)>;
  std::uint64_t add_change_listener(ChangeListener listener);
  void remove_change_listener(std::uint64_t token);

 private:
  void publish(std::shared_ptr<const Snapshot> next);
  /// Publish `previous` with new grids (stations unchanged), or new stations.
  void publish_grids(const Snapshot& previous, std::vector<std::shared_ptr<const GridEntry>> grids);
  void publish_stations(const Snapshot& previous, std::vector<std::shared_ptr<const StationEntry>> stations);
  std::vector<std::int64_t> write_grids(std::vector<GridInput> inputs, bool upsert,
                                        std::pair<std::size_t, std::size_t>* counts, const EditOptions& options);
  /// Validate a plan against `snap`; fills the ids, versions and times.
  EditOutcome check_plan(const Snapshot& snap, EditPlan& plan, const TopologyOptions& topology,
                         const std::string& now) const;
  void remember_change(const std::string& at);
  std::vector<std::int64_t> write_stations(std::vector<StationInput> inputs, bool upsert,
                                           std::pair<std::size_t, std::size_t>* counts);

  std::unique_ptr<storage::Store> m_store;
  CatalogOptions m_options;
  std::mutex m_write_mutex;  // one writer at a time; readers never take it
  Published<Snapshot> m_snapshot;
  Listeners<const std::vector<spatial::Envelope>&, const std::vector<spatial::Envelope>&> m_listeners{"catalog change"};

  // The past: the instants grids changed, and a few snapshots of it.
  mutable std::mutex m_past_mutex;
  std::vector<std::string> m_change_times;
  mutable std::list<std::pair<std::string, std::shared_ptr<const Snapshot>>> m_past;
};

/// Refuse an edit whose new defects include an overlap, a gap, a child
/// outside its parent or an invalid shape: Error(conflict,
/// "topology_defects") with the defects as a GeoJSON FeatureCollection.
void refuse_defects(const std::vector<Defect>& defects);

/// Validate a grid geometry in WGS84: Polygon or MultiPolygon, not empty,
/// coordinates in range, OGC-valid (GEOS's reason and location otherwise).
/// @throws Error(invalid_input) with the field `where`.
void validate_grid_geometry(const GEOSGeometry* geometry, const std::string& where);

/// The checks of one grid input on its own, without writing anything: code,
/// name and geometry (validate_grid_geometry), the rules create, upsert and
/// update apply to each input. Imports use it to validate every feature
/// before committing. @throws Error(invalid_input) naming the field under
/// input.where ("features/3/properties/code").
void validate_grid_input(const GridInput& input);

}  // namespace gridd::service
