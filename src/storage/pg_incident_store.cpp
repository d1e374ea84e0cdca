// PgIncidentStore: the incident store on PostgreSQL/PostGIS. Its columns,
// row mapping and SQL are incident_rows' (the same as the GeoPackage
// store's, in the postgres dialect); this file runs them.
// Incident writes take one advisory transaction lock first: event ids are
// then allocated and committed in id order, so a reader following event ids
// (events_after) never skips one that commits late.
#include "gridd/storage/pg_store.hpp"

#include <algorithm>

#include "gridd/core/error.hpp"
#include "incident_rows.hpp"
#include "sql_runner.hpp"

namespace gridd::storage {

namespace {

constexpr auto k_dialect = rows::Dialect::postgres;

/// Advisory lock key that orders incident writes ("gridd" + 1).
constexpr const char* k_incident_write_lock_sql = "SELECT pg_advisory_xact_lock(6779042917)";

/// Every row of a query on a leased connection, each read with `read`.
template <class T, class Read>
std::vector<T> read_all(pg::Pool& pool, const rows::Statement& s, Read&& read) {
  auto conn = pool.lease();
  const pg::Result r = run_statement(*conn, s);
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int row = 0; row < r.rows(); ++row) out.push_back(read(PgRow(r, row)));
  return out;
}

}  // namespace

void pg_notify_change(pg::Connection& conn, const std::string& instance, const char* what) {
  conn.query("SELECT pg_notify('gridd_changes', $1::text)", pg::Params().text(instance + " " + what));
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

PgIncidentStore::PgIncidentStore(pg::Pool& pool, std::string instance)
    : m_pool(pool), m_instance(std::move(instance)) {}

void PgIncidentStore::insert(std::vector<Incident>& incidents, std::vector<IncidentEvent>& events) {
  if (incidents.size() != events.size()) {
    throw Error(ErrorKind::internal, "store_failure", "one first event per incident is required");
  }
  if (incidents.empty()) return;
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> event_ids;
  {
    auto conn = m_pool.lease();
    pg::Transaction tx(*conn);
    conn->exec(k_incident_write_lock_sql);
    for (std::size_t k = 0; k < incidents.size(); ++k) {
      ids.push_back(run_statement(*conn, rows::insert_incident(k_dialect, incidents[k])).i64(0, 0));
      IncidentEvent e = events[k];
      e.incident_id = ids.back();
      event_ids.push_back(run_statement(*conn, rows::insert_event(k_dialect, e)).i64(0, 0));
    }
    pg_notify_change(*conn, m_instance, "incidents");
    tx.commit();
  }
  for (std::size_t k = 0; k < incidents.size(); ++k) {
    incidents[k].id = ids[k];
    events[k].incident_id = ids[k];
    events[k].id = event_ids[k];
  }
}

void PgIncidentStore::update(const Incident& next, std::int64_t expected_version, IncidentEvent& event) {
  IncidentEvent e = event;
  e.incident_id = next.id;
  {
    auto conn = m_pool.lease();
    pg::Transaction tx(*conn);
    conn->exec(k_incident_write_lock_sql);
    if (run_statement(*conn, rows::update_incident(k_dialect, next, expected_version)).affected() == 0) {
      const pg::Result cur = run_statement(*conn, rows::incident_version(k_dialect, next.id));
      rows::throw_update_refused(next.id, cur.rows() ? std::optional(cur.i64(0, 0)) : std::nullopt,
                                 expected_version);
    }
    e.id = run_statement(*conn, rows::insert_event(k_dialect, e)).i64(0, 0);
    pg_notify_change(*conn, m_instance, "incidents");
    tx.commit();
  }
  event.id = e.id;
  event.incident_id = next.id;
}

std::optional<Incident> PgIncidentStore::get(std::int64_t id) {
  auto found = read_all<Incident>(m_pool, rows::get_incident(k_dialect, id),
                                  [](const SqlRow& r) { return rows::read_incident(r); });
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::optional<Incident> PgIncidentStore::find_by_tracking_code(const std::string& code) {
  auto found = read_all<Incident>(m_pool, rows::get_incident_by_tracking_code(k_dialect, code),
                                  [](const SqlRow& r) { return rows::read_incident(r); });
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

IncidentPage PgIncidentStore::list(const IncidentQuery& q) {
  auto conn = m_pool.lease();
  const pg::Result r = run_statement(*conn, rows::list_incidents(k_dialect, q));
  IncidentPage page;
  IncidentCursor last;
  for (int row = 0; row < r.rows(); ++row) {
    if (page.items.size() == q.limit) {
      page.next = last;
      break;
    }
    page.items.push_back(rows::read_listed(PgRow(r, row), last));
  }
  return page;
}

std::int64_t PgIncidentStore::count(const IncidentFilter& filter, const ColourClock& clock) {
  auto conn = m_pool.lease();
  const pg::Result r = run_statement(*conn, rows::count_incidents(k_dialect, filter, clock));
  return r.rows() ? r.i64(0, 0) : 0;
}

std::vector<IncidentEvent> PgIncidentStore::history(std::int64_t incident_id) {
  return read_all<IncidentEvent>(m_pool, rows::history(k_dialect, incident_id),
                                 [](const SqlRow& r) { return rows::read_event(r); });
}

std::vector<StatsRow> PgIncidentStore::stats(const StatsQuery& q) {
  return read_all<StatsRow>(m_pool, rows::stats(k_dialect, q), [](const SqlRow& r) { return rows::read_stats_row(r); });
}

std::vector<IncidentCluster> PgIncidentStore::clusters(const std::array<double, 4>& b, int cols, int n_rows,
                                                       const ColourClock& clock,
                                                       const std::optional<std::pair<Level, std::int64_t>>& subtree) {
  if (!(b[2] > b[0]) || !(b[3] > b[1])) return {};
  return read_all<IncidentCluster>(m_pool,
                                   rows::clusters(k_dialect, b, std::max(cols, 1), std::max(n_rows, 1), clock, subtree),
                                   [](const SqlRow& r) { return rows::read_cluster(r); });
}

void PgIncidentStore::for_each_open(const std::function<void(const Incident&)>& visit) {
  // In batches (a result is held in memory whole), all from one snapshot.
  constexpr std::int64_t k_batch = 5000;
  auto conn = m_pool.lease();
  pg::Transaction tx(*conn);
  conn->exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  std::int64_t after = 0;  // ids start at 1
  for (;;) {
    const pg::Result r = run_statement(*conn, rows::open_incidents(k_dialect, after, k_batch));
    for (int row = 0; row < r.rows(); ++row) {
      const Incident i = rows::read_open_incident(PgRow(r, row));
      visit(i);
      after = i.id;
    }
    if (r.rows() < k_batch) break;
  }
  tx.commit();
}

std::vector<FeedItem> PgIncidentStore::events_after(std::int64_t after_id, const FeedFilter& filter,
                                                    std::size_t limit) {
  return read_all<FeedItem>(m_pool, rows::events_after(k_dialect, after_id, filter, limit), [](const SqlRow& r) {
    return FeedItem{rows::read_event(r, 0), rows::read_incident(r, rows::event_select_width())};
  });
}

std::int64_t PgIncidentStore::last_event_id() {
  auto conn = m_pool.lease();
  const pg::Result r = run_statement(*conn, rows::last_event_id());
  return r.rows() ? r.i64(0, 0) : 0;
}

void PgIncidentStore::add_attachment(Attachment& a) {
  std::int64_t id = 0;
  {
    auto conn = m_pool.lease();
    pg::Transaction tx(*conn);
    if (run_statement(*conn, rows::incident_exists(k_dialect, a.incident_id)).rows() == 0) {
      throw_not_found("incident_not_found", "no incident with id " + std::to_string(a.incident_id), "id");
    }
    id = run_statement(*conn, rows::insert_attachment(k_dialect, a)).i64(0, 0);
    pg_notify_change(*conn, m_instance, "incidents");
    tx.commit();
  }
  a.id = id;
}

std::optional<Attachment> PgIncidentStore::attachment(std::int64_t id, bool with_data) {
  auto found = read_all<Attachment>(m_pool, rows::attachment(k_dialect, id, with_data),
                                    [with_data](const SqlRow& r) { return rows::read_attachment(r, with_data); });
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::vector<Attachment> PgIncidentStore::attachments_of(std::int64_t incident_id) {
  return read_all<Attachment>(m_pool, rows::attachments_of(k_dialect, incident_id),
                              [](const SqlRow& r) { return rows::read_attachment(r, false); });
}

}  // namespace gridd::storage
