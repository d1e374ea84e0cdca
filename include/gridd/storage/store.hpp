#pragma once
/// @file store.hpp
/// The store interface: the durable truth behind gridd's in-memory indexes.
/// A store applies a whole ChangeSet in one transaction or not at all; once
/// apply() returns, the change survives a crash (kill -9, power loss as far
/// as the file system honours fsync).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gridd/core/model.hpp"
#include "gridd/storage/auth_store.hpp"
#include "gridd/storage/idempotency_store.hpp"
#include "gridd/storage/visit_store.hpp"
#include "gridd/storage/incident_store.hpp"

namespace gridd::storage {

/// A batch of writes applied atomically. Inserts carry id 0 and get fresh
/// ids (or the id of a deleted grid being restored); updates replace the
/// whole object with the given id. Every grid write also appends a
/// GridVersion stamped with `at`, `editor`, `reason` and `operation`.
struct ChangeSet {
  std::vector<Grid> grid_inserts;
  std::vector<Grid> grid_updates;
  std::vector<std::int64_t> grid_deletes;
  std::vector<Station> station_inserts;
  std::vector<Station> station_updates;
  std::vector<std::int64_t> station_deletes;

  std::string at;         ///< when (ISO 8601 UTC); valid_from of the new versions
  std::string editor;
  std::string reason;
  std::string operation;  ///< for the grid versions; empty: create/update/delete by kind of write
  bool draft = false;

  [[nodiscard]] bool empty() const noexcept {
    return grid_inserts.empty() && grid_updates.empty() && grid_deletes.empty() &&
           station_inserts.empty() && station_updates.empty() && station_deletes.empty();
  }
};

/// Ids assigned to the inserts, in the order of the ChangeSet.
struct ChangeResult {
  std::vector<std::int64_t> grid_ids;
  std::vector<std::int64_t> station_ids;
};

/// What other processes sharing the store have committed (see Store::watch).
struct ExternalChange {
  bool grids = false;
  bool stations = false;
  bool incidents = false;
  /// Notifications may have been missed (the connection to the store was
  /// lost and is back): bring in everything.
  bool resync = false;
};

class Store {
 public:
  virtual ~Store() = default;

  /// Everything, for building the in-memory indexes at start.
  virtual std::vector<Grid> load_grids() = 0;
  virtual std::vector<Station> load_stations() = 0;

  /// Apply all of `changes` in one transaction.
  /// @throws Error(not_found) for an update or delete of a missing id,
  ///         Error(conflict) for a duplicate code, Error(unavailable/internal)
  ///         when the store fails; nothing is written then.
  virtual ChangeResult apply(const ChangeSet& changes) = 0;

  /// Every version of a grid, oldest first (empty for an unknown id).
  virtual std::vector<GridVersion> grid_history(std::int64_t grid_id) = 0;
  /// The grids as they were at `at` (ISO 8601 UTC), from the version history.
  virtual std::vector<Grid> load_grids_at(const std::string& at) = 0;
  /// Every instant at which some grid changed, ascending (for caching the
  /// past: two moments between the same instants see the same grids).
  virtual std::vector<std::string> grid_change_times() = 0;

  /// The incidents kept in the same store (owned by it).
  virtual IncidentStore& incidents() = 0;
  /// API tokens and the audit log kept in the same store (owned by it).
  virtual AuthStore& auth() = 0;
  /// Idempotency keys kept in the same store (owned by it).
  virtual IdempotencyStore& idempotency() = 0;
  /// Door-to-door visits kept in the same store (owned by it).
  virtual VisitStore& visits() = 0;

  /// Call `on_change` (from a thread of the store's) whenever another
  /// process commits a change to this store, until the store is destroyed.
  /// False when the store has no such notifications (a GeoPackage serves one
  /// process).
  virtual bool watch(std::function<void(const ExternalChange&)> on_change) {
    (void)on_change;
    return false;
  }
  /// Stop calling the watch() callback; returns once no call is running.
  virtual void stop_watching() {}

  /// A human description ("GeoPackage /var/lib/gridd/city.gpkg").
  [[nodiscard]] virtual std::string describe() const = 0;
};

/// Open the store named by `uri`: a file path (GeoPackage, created when
/// missing) or a postgresql:// (or PG:) URI of a PostGIS database.
/// @throws Error(invalid_input) for an unsupported URI.
std::unique_ptr<Store> open_store(const std::string& uri);

}  // namespace gridd::storage
