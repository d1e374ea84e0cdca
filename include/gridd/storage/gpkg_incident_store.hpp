#pragma once
/// @file gpkg_incident_store.hpp
/// Incidents in the embedded GeoPackage: the layer `incidents` (Point,
/// EPSG:4326, with the GeoPackage R-tree), the tables `incident_events` and
/// `incident_attachments`, all created through GDAL so the file opens in
/// QGIS as it is. Reads and writes go through SQLite prepared statements
/// (OGR has no bound parameters): one writer connection, a pool of reader
/// connections, WAL journal with synchronous=FULL so readers never wait on
/// the writer and every commit is on disk when a call returns.

#include <memory>
#include <mutex>
#include <string>

#include "gridd/storage/incident_store.hpp"

namespace gridd::storage {

class GpkgIncidentStore final : public IncidentStore {
 public:
  /// Open the incident tables of the GeoPackage at `path` (they must exist:
  /// GpkgStore creates them). `write_mutex` serialises this store's writes
  /// with the other writers of the same file in this process.
  GpkgIncidentStore(std::string path, std::mutex& write_mutex);
  ~GpkgIncidentStore() override;
  GpkgIncidentStore(const GpkgIncidentStore&) = delete;
  GpkgIncidentStore& operator=(const GpkgIncidentStore&) = delete;

  void insert(std::vector<Incident>& incidents, std::vector<IncidentEvent>& events) override;
  void update(const Incident& next, std::int64_t expected_version, IncidentEvent& event) override;
  std::optional<Incident> get(std::int64_t id) override;
  std::optional<Incident> find_by_tracking_code(const std::string& code) override;
  IncidentPage list(const IncidentQuery& query) override;
  std::int64_t count(const IncidentFilter& filter, const ColourClock& clock) override;
  std::vector<IncidentEvent> history(std::int64_t incident_id) override;
  std::vector<StatsRow> stats(const StatsQuery& query) override;
  std::vector<IncidentCluster> clusters(const std::array<double, 4>& bbox, int cols, int rows, const ColourClock& clock,
                                       const std::optional<std::pair<Level, std::int64_t>>& subtree) override;
  void for_each_open(const std::function<void(const Incident&)>& visit) override;
  std::vector<FeedItem> events_after(std::int64_t after_id, const FeedFilter& filter, std::size_t limit) override;
  std::int64_t last_event_id() override;
  void add_attachment(Attachment& attachment) override;
  std::optional<Attachment> attachment(std::int64_t id, bool with_data) override;
  std::vector<Attachment> attachments_of(std::int64_t incident_id) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace gridd::storage
