#pragma once
/// @file pg_store.hpp
/// The shared store for several gridd instances: PostgreSQL with PostGIS.
/// Same tables and answers as the GeoPackage store (grids, grid_versions,
/// stations, incidents, incident_events, incident_attachments, api_tokens,
/// audit_log), geometries as PostGIS types with GiST indexes, every
/// statement prepared with bound parameters. Each committed write announces
/// itself with NOTIFY on `gridd_changes` ("<instance> grids|stations|
/// incidents"); watch() LISTENs and tells the service what other instances
/// changed. Incident events are committed in id order (an advisory lock
/// around each incident write), so a reader that follows event ids never
/// skips one that commits late.

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "gridd/storage/pg.hpp"
#include "gridd/storage/store.hpp"

namespace gridd::storage {

/// NOTIFY on `gridd_changes` inside the current transaction of `conn`.
void pg_notify_change(pg::Connection& conn, const std::string& instance, const char* what);

class PgIncidentStore final : public IncidentStore {
 public:
  /// `instance` tags this process's change notifications.
  PgIncidentStore(pg::Pool& pool, std::string instance);

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
  pg::Pool& m_pool;
  std::string m_instance;
};

class PgAuthStore final : public AuthStore {
 public:
  explicit PgAuthStore(pg::Pool& pool) : m_pool(pool) {}
  NewToken create_token(Role role, const std::string& scope_code, const std::string& name,
                                  const std::string& phone = {}) override;
  std::vector<TokenRecord> tokens() override;
  bool revoke_token(std::int64_t id) override;
  std::int64_t append_audit(const AuditEntry& entry) override;
  std::vector<AuditEntry> audit(std::int64_t after, std::size_t limit) override;

 private:
  pg::Pool& m_pool;
};

class PgStore final : public Store {
 public:
  /// Connect to `uri` (postgresql://... or PG:...), create or upgrade the
  /// schema. @throws Error(unavailable) when the server cannot be reached,
  ///         Error(invalid_input, "invalid_store") for a database gridd cannot use.
  explicit PgStore(const std::string& uri);
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  std::vector<Grid> load_grids() override;
  std::vector<Station> load_stations() override;
  ChangeResult apply(const ChangeSet& changes) override;
  std::vector<GridVersion> grid_history(std::int64_t grid_id) override;
  std::vector<Grid> load_grids_at(const std::string& at) override;
  std::vector<std::string> grid_change_times() override;
  IncidentStore& incidents() override { return *m_incidents; }
  AuthStore& auth() override { return *m_auth; }
  IdempotencyStore& idempotency() override { return *m_idempotency; }
  VisitStore& visits() override { return *m_visits; }
  [[nodiscard]] std::string describe() const override;
  bool watch(std::function<void(const ExternalChange&)> on_change) override;
  void stop_watching() override;

  /// This process's tag in change notifications.
  [[nodiscard]] const std::string& instance() const noexcept { return m_instance; }

 private:
  void listen_loop();

  std::string m_uri;
  std::string m_instance;
  std::unique_ptr<pg::Pool> m_pool;
  std::unique_ptr<PgIncidentStore> m_incidents;
  std::unique_ptr<PgAuthStore> m_auth;
  std::unique_ptr<IdempotencyStore> m_idempotency;
  std::unique_ptr<VisitStore> m_visits;
  std::function<void(const ExternalChange&)> m_on_change;
  std::atomic<bool> m_stop{false};
  int m_wake_pipe[2] = {-1, -1};
  std::thread m_listener;
};

}  // namespace gridd::storage
