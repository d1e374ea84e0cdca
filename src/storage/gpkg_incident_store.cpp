#include "gridd/storage/gpkg_incident_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>

#include "gridd/core/error.hpp"
#include "incident_rows.hpp"
#include "sqlite.hpp"

namespace gridd::storage {

namespace {

using sqlite::Stmt;
constexpr auto k_dialect = rows::Dialect::sqlite;

/// Run a statement of incident_rows that returns no rows; the rows it changed.
int run(sqlite3* db, const rows::Statement& s) {
  Stmt(db, s.sql, s.values).run();
  return sqlite3_changes(db);
}

/// Run an INSERT prepared once (its text does not depend on the values); the new row's id.
std::int64_t insert_row(sqlite3* db, Stmt& prepared, const rows::Statement& s) {
  prepared.reset();
  prepared.bind_all(s.values);
  prepared.run();
  prepared.reset();
  return sqlite3_last_insert_rowid(db);
}

}  // namespace

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

struct GpkgIncidentStore::Impl {
  std::string path;
  std::mutex& write_mutex;
  sqlite::Connection writer;
  std::unique_ptr<Stmt> insert_incident;
  std::unique_ptr<Stmt> insert_event;
  std::mutex pool_mutex;
  std::vector<sqlite::Connection> pool;

  Impl(std::string p, std::mutex& m) : path(std::move(p)), write_mutex(m) {}

  // Group commit: writers queue their work; one of them (the leader) runs
  // everything queued in one transaction, each piece in its own savepoint
  // (a failing piece is undone alone), and one fsync acknowledges them all.
  // Throughput then grows with concurrency instead of being one write per
  // disk flush.
  struct Pending {
    const std::function<void(sqlite3*)>* work;
    std::exception_ptr error;
    bool done = false;
  };
  std::mutex queue_mutex;
  std::condition_variable queue_cv;
  std::vector<Pending*> queue;
  bool leader_active = false;

  void write(const std::function<void(sqlite3*)>& work) {
    Pending me{&work, nullptr, false};
    std::unique_lock lk(queue_mutex);
    queue.push_back(&me);
    while (!me.done) {
      if (leader_active) {
        queue_cv.wait(lk);
        continue;
      }
      leader_active = true;
      std::vector<Pending*> batch;
      batch.swap(queue);
      lk.unlock();
      run_batch(batch);
      lk.lock();
      for (auto* p : batch) p->done = true;
      leader_active = false;
      queue_cv.notify_all();
    }
    lk.unlock();
    if (me.error) std::rethrow_exception(me.error);
  }

  void run_batch(const std::vector<Pending*>& batch) {
    try {
      std::lock_guard lock(write_mutex);  // shared with the other writers of the file
      sqlite3* db = writer.get();
      sqlite::Transaction tx(db);
      bool any = false;
      if (batch.size() == 1) {
        // Alone in the transaction: no savepoint needed (a savepoint makes
        // SQLite journal every page a large batch touches).
        (*batch.front()->work)(db);
        tx.commit();
        return;
      }
      for (auto* p : batch) {
        sqlite::exec(db, "SAVEPOINT gridd_piece");
        try {
          (*p->work)(db);
          sqlite::exec(db, "RELEASE gridd_piece");
          any = true;
        } catch (...) {
          p->error = std::current_exception();
          sqlite3_exec(db, "ROLLBACK TO gridd_piece", nullptr, nullptr, nullptr);
          sqlite3_exec(db, "RELEASE gridd_piece", nullptr, nullptr, nullptr);
        }
      }
      if (any) tx.commit();
    } catch (...) {
      // BEGIN or COMMIT failed: nothing of the batch is written.
      const auto error = std::current_exception();
      for (auto* p : batch) {
        if (!p->error) p->error = error;
      }
    }
  }

  /// A reader connection, returned to the pool by the guard.
  struct Reader {
    Impl* impl;
    sqlite::Connection db;
    ~Reader() {
      if (db) {
        std::lock_guard lock(impl->pool_mutex);
        impl->pool.push_back(std::move(db));
      }
    }
    sqlite3* get() const { return db.get(); }
  };
  Reader reader() {
    {
      std::lock_guard lock(pool_mutex);
      if (!pool.empty()) {
        sqlite::Connection db = std::move(pool.back());
        pool.pop_back();
        return Reader{this, std::move(db)};
      }
    }
    return Reader{this, sqlite::open(path, sqlite::Sync::full)};
  }

  /// Run a query of incident_rows on a reader and read every row with `read`.
  template <class Read>
  void query(const rows::Statement& s, Read&& read) {
    auto r = reader();
    Stmt st(r.get(), s.sql, s.values);
    while (st.step()) read(st);
  }
};

GpkgIncidentStore::GpkgIncidentStore(std::string path, std::mutex& write_mutex)
    : m_impl(std::make_unique<Impl>(std::move(path), write_mutex)) {
  std::lock_guard lock(m_impl->write_mutex);
  m_impl->writer = sqlite::open(m_impl->path, sqlite::Sync::full);
  sqlite3* db = m_impl->writer.get();
  m_impl->insert_incident = std::make_unique<Stmt>(db, rows::insert_incident(k_dialect, Incident{}).sql);
  m_impl->insert_event = std::make_unique<Stmt>(db, rows::insert_event(k_dialect, IncidentEvent{}).sql);
}

GpkgIncidentStore::~GpkgIncidentStore() {
  if (!m_impl) return;
  m_impl->insert_incident.reset();
  m_impl->insert_event.reset();
}

void GpkgIncidentStore::insert(std::vector<Incident>& incidents, std::vector<IncidentEvent>& events) {
  if (incidents.size() != events.size()) {
    throw Error(ErrorKind::internal, "store_failure", "one first event per incident is required");
  }
  if (incidents.empty()) return;
  std::vector<std::int64_t> ids;
  std::vector<std::int64_t> event_ids;
  const std::function<void(sqlite3*)> work = [&](sqlite3* db) {
    ids.clear();
    event_ids.clear();
    for (std::size_t k = 0; k < incidents.size(); ++k) {
      ids.push_back(insert_row(db, *m_impl->insert_incident, rows::insert_incident(k_dialect, incidents[k])));
      IncidentEvent e = events[k];
      e.incident_id = ids.back();
      event_ids.push_back(insert_row(db, *m_impl->insert_event, rows::insert_event(k_dialect, e)));
    }
  };
  m_impl->write(work);
  for (std::size_t k = 0; k < incidents.size(); ++k) {
    incidents[k].id = ids[k];
    events[k].incident_id = ids[k];
    events[k].id = event_ids[k];
  }
}

void GpkgIncidentStore::update(const Incident& next, std::int64_t expected_version, IncidentEvent& event) {
  IncidentEvent e = event;
  e.incident_id = next.id;
  const std::function<void(sqlite3*)> work = [&](sqlite3* db) {
    if (run(db, rows::update_incident(k_dialect, next, expected_version)) == 0) {
      const auto s = rows::incident_version(k_dialect, next.id);
      Stmt cur(db, s.sql, s.values);
      rows::throw_update_refused(next.id, cur.step() ? std::optional(cur.i64(0)) : std::nullopt, expected_version);
    }
    e.id = insert_row(db, *m_impl->insert_event, rows::insert_event(k_dialect, e));
  };
  m_impl->write(work);
  event.id = e.id;
  event.incident_id = next.id;
}

std::optional<Incident> GpkgIncidentStore::get(std::int64_t id) {
  std::optional<Incident> out;
  m_impl->query(rows::get_incident(k_dialect, id), [&](const Stmt& st) { out = rows::read_incident(st); });
  return out;
}

std::optional<Incident> GpkgIncidentStore::find_by_tracking_code(const std::string& code) {
  std::optional<Incident> out;
  m_impl->query(rows::get_incident_by_tracking_code(k_dialect, code),
                [&](const Stmt& st) { out = rows::read_incident(st); });
  return out;
}

IncidentPage GpkgIncidentStore::list(const IncidentQuery& q) {
  IncidentPage page;
  IncidentCursor last;
  auto r = m_impl->reader();
  const auto s = rows::list_incidents(k_dialect, q);
  Stmt st(r.get(), s.sql, s.values);
  while (st.step()) {
    if (page.items.size() == q.limit) {
      page.next = last;
      break;
    }
    page.items.push_back(rows::read_listed(st, last));
  }
  return page;
}

std::int64_t GpkgIncidentStore::count(const IncidentFilter& filter, const ColourClock& clock) {
  std::int64_t n = 0;
  m_impl->query(rows::count_incidents(k_dialect, filter, clock), [&](const Stmt& st) { n = st.i64(0); });
  return n;
}

std::vector<IncidentEvent> GpkgIncidentStore::history(std::int64_t incident_id) {
  std::vector<IncidentEvent> out;
  m_impl->query(rows::history(k_dialect, incident_id), [&](const Stmt& st) { out.push_back(rows::read_event(st)); });
  return out;
}

std::vector<StatsRow> GpkgIncidentStore::stats(const StatsQuery& q) {
  std::vector<StatsRow> out;
  m_impl->query(rows::stats(k_dialect, q), [&](const Stmt& st) { out.push_back(rows::read_stats_row(st)); });
  return out;
}

std::vector<IncidentCluster> GpkgIncidentStore::clusters(const std::array<double, 4>& b, int cols, int n_rows,
                                                         const ColourClock& clock,
                                                         const std::optional<std::pair<Level, std::int64_t>>& subtree) {
  if (!(b[2] > b[0]) || !(b[3] > b[1])) return {};
  std::vector<IncidentCluster> out;
  m_impl->query(rows::clusters(k_dialect, b, std::max(cols, 1), std::max(n_rows, 1), clock, subtree),
                [&](const Stmt& st) { out.push_back(rows::read_cluster(st)); });
  return out;
}

void GpkgIncidentStore::for_each_open(const std::function<void(const Incident&)>& visit) {
  m_impl->query(rows::open_incidents(k_dialect, 0, 0), [&](const Stmt& st) { visit(rows::read_open_incident(st)); });
}

std::vector<FeedItem> GpkgIncidentStore::events_after(std::int64_t after_id, const FeedFilter& filter,
                                                      std::size_t limit) {
  std::vector<FeedItem> out;
  m_impl->query(rows::events_after(k_dialect, after_id, filter, limit), [&](const Stmt& st) {
    out.push_back(FeedItem{rows::read_event(st, 0), rows::read_incident(st, rows::event_select_width())});
  });
  return out;
}

std::int64_t GpkgIncidentStore::last_event_id() {
  std::int64_t id = 0;
  m_impl->query(rows::last_event_id(), [&](const Stmt& st) { id = st.i64(0); });
  return id;
}

void GpkgIncidentStore::add_attachment(Attachment& a) {
  std::int64_t id = 0;
  const std::function<void(sqlite3*)> work = [&](sqlite3* db) {
    const auto exists = rows::incident_exists(k_dialect, a.incident_id);
    if (!Stmt(db, exists.sql, exists.values).step()) {
      throw_not_found("incident_not_found", "no incident with id " + std::to_string(a.incident_id), "id");
    }
    run(db, rows::insert_attachment(k_dialect, a));
    id = sqlite3_last_insert_rowid(db);
  };
  m_impl->write(work);
  a.id = id;
}

std::optional<Attachment> GpkgIncidentStore::attachment(std::int64_t id, bool with_data) {
  std::optional<Attachment> out;
  m_impl->query(rows::attachment(k_dialect, id, with_data),
                [&](const Stmt& st) { out = rows::read_attachment(st, with_data); });
  return out;
}

std::vector<Attachment> GpkgIncidentStore::attachments_of(std::int64_t incident_id) {
  std::vector<Attachment> out;
  m_impl->query(rows::attachments_of(k_dialect, incident_id),
                [&](const Stmt& st) { out.push_back(rows::read_attachment(st, false)); });
  return out;
}

}  // namespace gridd::storage
