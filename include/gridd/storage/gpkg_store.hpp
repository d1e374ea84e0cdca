#pragma once
/// @file gpkg_store.hpp
/// The embedded default store: one GeoPackage file written through GDAL/OGR.
/// Layers `grids` (MultiPolygon) and `stations` (Point), EPSG:4326, open in
/// QGIS as they are, plus the incident tables (GpkgIncidentStore). SQLite
/// write-ahead log with synchronous=FULL, so a committed transaction
/// survives kill -9.

#include <memory>
#include <mutex>
#include <string>

#include "gridd/storage/store.hpp"

namespace gridd::storage {

class GpkgStore final : public Store {
 public:
  /// Open `path`, creating the file and its layers when missing.
  explicit GpkgStore(std::string path);
  ~GpkgStore() override;
  GpkgStore(const GpkgStore&) = delete;
  GpkgStore& operator=(const GpkgStore&) = delete;

  std::vector<Grid> load_grids() override;
  std::vector<Station> load_stations() override;
  ChangeResult apply(const ChangeSet& changes) override;
  std::vector<GridVersion> grid_history(std::int64_t grid_id) override;
  std::vector<Grid> load_grids_at(const std::string& at) override;
  std::vector<std::string> grid_change_times() override;
  IncidentStore& incidents() override;
  AuthStore& auth() override;
  IdempotencyStore& idempotency() override;
  VisitStore& visits() override;
  [[nodiscard]] std::string describe() const override;

 private:
  struct Impl;
  std::string m_path;
  std::mutex m_mutex;  // one GDAL dataset, never used by two threads at once
  std::unique_ptr<Impl> m_impl;
  std::unique_ptr<IncidentStore> m_incidents;
  std::unique_ptr<AuthStore> m_auth;
  std::unique_ptr<IdempotencyStore> m_idempotency;
  std::unique_ptr<VisitStore> m_visits;
};

}  // namespace gridd::storage
