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

#include "gridd/core/listeners.hpp"
#include "gridd/service/snapshot.hpp"
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
  std::vector<std::int64_t> create_grids(std::vector<GridInput> inputs);
  /// Create or update by code in one transaction (imports). Returns {created, updated}.
  std::pair<std::size_t, std::size_t> upsert_grids(std::vector<GridInput> inputs);
  /// Replace grid `id` (children follow a code change).
  void update_grid(std::int64_t id, GridInput input);
  /// Delete a grid without children. @throws Error(conflict) when it has children.
  void delete_grid(std::int64_t id);

  std::vector<std::int64_t> create_stations(std::vector<StationInput> inputs);
  std::pair<std::size_t, std::size_t> upsert_stations(std::vector<StationInput> inputs);
  void update_station(std::int64_t id, StationInput input);
  void delete_station(std::int64_t id);

  [[nodiscard]] const CatalogOptions& options() const noexcept { return m_options; }
  [[nodiscard]] std::string describe_store() const { return m_store->describe(); }

  /// Validate one station (kind, position, name); throws Error(invalid_input).
  void validate_station(const StationInput& input) const;

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
                                        std::pair<std::size_t, std::size_t>* counts);
  std::vector<std::int64_t> write_stations(std::vector<StationInput> inputs, bool upsert,
                                           std::pair<std::size_t, std::size_t>* counts);

  std::unique_ptr<storage::Store> m_store;
  CatalogOptions m_options;
  std::mutex m_write_mutex;  // one writer at a time; readers never take it
  std::shared_ptr<const Snapshot> m_snapshot;  // accessed with std::atomic_load/store
  Listeners<const std::vector<spatial::Envelope>&, const std::vector<spatial::Envelope>&> m_listeners{"catalog change"};
};

/// Validate a grid geometry in WGS84: Polygon or MultiPolygon, not empty,
/// coordinates in range, OGC-valid (GEOS's reason and location otherwise).
/// @throws Error(invalid_input) with the field `where`.
void validate_grid_geometry(const GEOSGeometry* geometry, const std::string& where);

}  // namespace gridd::service
