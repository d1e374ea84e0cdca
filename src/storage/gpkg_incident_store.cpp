#include "gridd/storage/gpkg_incident_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <string_view>
#include <variant>

#include "gridd/core/error.hpp"

namespace gridd::storage {

namespace {

constexpr int k_busy_timeout_ms = 30000;

// ---------------------------------------------------------------------------
// GeoPackage geometry blobs (points only) and the SQL functions the
// GeoPackage R-tree triggers call (GDAL registers the same on its own
// connections).
// ---------------------------------------------------------------------------

std::string point_blob(double x, double y) {
  std::string b(8 + 21, '\0');
  b[0] = 'G';
  b[1] = 'P';
  b[2] = 0;     // version 1
  b[3] = 0x01;  // little endian, no envelope, not empty
  const std::int32_t srs = 4326;
  std::memcpy(&b[4], &srs, 4);
  b[8] = 1;  // WKB little endian
  const std::uint32_t type = 1;  // Point
  std::memcpy(&b[9], &type, 4);
  std::memcpy(&b[13], &x, 8);
  std::memcpy(&b[21], &y, 8);
  return b;
}

/// The envelope of a GeoPackage blob: from its header when present, else
/// from a WKB point. False for anything else.
bool blob_envelope(const unsigned char* p, int n, double env[4], bool& empty) {
  empty = false;
  if (!p || n < 8 || p[0] != 'G' || p[1] != 'P') return false;
  const unsigned flags = p[3];
  empty = (flags >> 4) & 1u;
  const unsigned env_kind = (flags >> 1) & 7u;
  static const int env_doubles[] = {0, 4, 6, 6, 8};
  if (env_kind > 4) return false;
  const int header = 8 + 8 * env_doubles[env_kind];
  if (n < header) return false;
  const bool le = flags & 1u;
  if (env_kind != 0 && le) {
    std::memcpy(&env[0], p + 8, 8);   // minx
    std::memcpy(&env[1], p + 16, 8);  // maxx
    std::memcpy(&env[2], p + 24, 8);  // miny
    std::memcpy(&env[3], p + 32, 8);  // maxy
    return true;
  }
  const unsigned char* w = p + header;
  if (n - header < 21 || w[0] != 1) return false;  // little-endian WKB only
  std::uint32_t type = 0;
  std::memcpy(&type, w + 1, 4);
  if (type != 1) return false;
  double x = 0, y = 0;
  std::memcpy(&x, w + 5, 8);
  std::memcpy(&y, w + 13, 8);
  env[0] = env[1] = x;
  env[2] = env[3] = y;
  return true;
}

bool blob_point(const void* data, int n, double& x, double& y) {
  double env[4];
  bool empty = false;
  if (!blob_envelope(static_cast<const unsigned char*>(data), n, env, empty) || empty) return false;
  x = env[0];
  y = env[2];
  return true;
}

template <int Index>
void st_bound(sqlite3_context* ctx, int, sqlite3_value** argv) {
  double env[4];
  bool empty = false;
  const auto* p = static_cast<const unsigned char*>(sqlite3_value_blob(argv[0]));
  if (!blob_envelope(p, sqlite3_value_bytes(argv[0]), env, empty) || empty) {
    sqlite3_result_null(ctx);
    return;
  }
  sqlite3_result_double(ctx, env[Index]);
}

void st_is_empty(sqlite3_context* ctx, int, sqlite3_value** argv) {
  double env[4];
  bool empty = false;
  const auto* p = static_cast<const unsigned char*>(sqlite3_value_blob(argv[0]));
  const bool ok = blob_envelope(p, sqlite3_value_bytes(argv[0]), env, empty);
  sqlite3_result_int(ctx, ok ? (empty ? 1 : 0) : (p && sqlite3_value_bytes(argv[0]) >= 4 && ((p[3] >> 4) & 1)));
}

// ---------------------------------------------------------------------------
// Connections and statements
// ---------------------------------------------------------------------------

[[noreturn]] void fail_db(sqlite3* db, const std::string& what) {
  const int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  const std::string msg = db ? sqlite3_errmsg(db) : "no connection";
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) {
    throw Error(ErrorKind::unavailable, "store_busy", what + ": the store is busy (" + msg + ")");
  }
  if ((code & 0xff) == SQLITE_FULL) {
    throw Error(ErrorKind::unavailable, "store_full", what + ": the disk is full");
  }
  throw Error(ErrorKind::internal, "store_failure", what + ": " + msg);
}

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "";
    sqlite3_free(err);
    fail_db(db, std::string("'") + sql + "' failed (" + msg + ")");
  }
}

DbPtr open_connection(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) fail_db(raw, "cannot open '" + path + "'");
  sqlite3_busy_timeout(db.get(), k_busy_timeout_ms);
  exec(db.get(), "PRAGMA journal_mode=WAL");
  exec(db.get(), "PRAGMA synchronous=FULL");
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
  sqlite3_create_function_v2(db.get(), "ST_MinX", 1, flags, nullptr, st_bound<0>, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db.get(), "ST_MaxX", 1, flags, nullptr, st_bound<1>, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db.get(), "ST_MinY", 1, flags, nullptr, st_bound<2>, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db.get(), "ST_MaxY", 1, flags, nullptr, st_bound<3>, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db.get(), "ST_IsEmpty", 1, flags, nullptr, st_is_empty, nullptr, nullptr, nullptr);
  return db;
}

using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string>;

/// A prepared statement; finalised by the destructor.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : m_db(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &m_stmt, nullptr) != SQLITE_OK) {
      fail_db(db, "cannot prepare a statement");
    }
  }
  ~Stmt() { sqlite3_finalize(m_stmt); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  [[nodiscard]] int parameter_count() const { return sqlite3_bind_parameter_count(m_stmt); }

  Stmt& bind(int i, const Value& v) {
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::nullptr_t>(v)) {
      rc = sqlite3_bind_null(m_stmt, i);
    } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
      rc = sqlite3_bind_int64(m_stmt, i, *n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(m_stmt, i, *d);
    } else {
      const auto& s = std::get<std::string>(v);
      rc = sqlite3_bind_text(m_stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) fail_db(m_db, "cannot bind a parameter");
    return *this;
  }
  Stmt& bind_blob(int i, const std::string& bytes) {
    if (sqlite3_bind_blob(m_stmt, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT) != SQLITE_OK) {
      fail_db(m_db, "cannot bind a blob");
    }
    return *this;
  }
  void bind_all(const std::vector<Value>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) bind(static_cast<int>(i + 1), values[i]);
  }
  /// True while a row is available.
  bool step() {
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail_db(m_db, "a statement failed");
  }
  void run() {
    while (step()) {
    }
  }
  void reset() {
    sqlite3_reset(m_stmt);
    sqlite3_clear_bindings(m_stmt);
  }

  [[nodiscard]] bool null(int c) const { return sqlite3_column_type(m_stmt, c) == SQLITE_NULL; }
  [[nodiscard]] std::int64_t i64(int c) const { return sqlite3_column_int64(m_stmt, c); }
  [[nodiscard]] double dbl(int c) const { return sqlite3_column_double(m_stmt, c); }
  [[nodiscard]] std::string text(int c) const {
    const auto* p = sqlite3_column_text(m_stmt, c);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, c)))
             : std::string();
  }
  [[nodiscard]] std::string blob(int c) const {
    const void* p = sqlite3_column_blob(m_stmt, c);
    return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, c)))
             : std::string();
  }
  [[nodiscard]] std::pair<const void*, int> raw_blob(int c) const {
    return {sqlite3_column_blob(m_stmt, c), sqlite3_column_bytes(m_stmt, c)};
  }

 private:
  sqlite3* m_db;
  sqlite3_stmt* m_stmt = nullptr;
};

/// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : m_db(db) { exec(db, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!m_done) sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec(m_db, "COMMIT");
    m_done = true;
  }

 private:
  sqlite3* m_db;
  bool m_done = false;
};

Value opt_text(const std::string& s) { return s.empty() ? Value(nullptr) : Value(s); }

// ---------------------------------------------------------------------------
// Incidents <-> rows
// ---------------------------------------------------------------------------

const char* const k_chain_columns[5] = {"chain_district", "chain_street", "chain_community", "chain_grid",
                                        "chain_micro_grid"};

constexpr const char* k_incident_columns =
    "id, geom, category, description, address, channel, priority, status, version, reported_position, "
    "reporter_name, reporter_phone, grid_id, grid_code, grid_name, chain_district, chain_street, "
    "chain_community, chain_grid, chain_micro_grid, covered, distance_m, assignee_name, assignee_phone, "
    "handler, escalation_level, created_at, updated_at, dispatched_at, due_at, near_due_at, resolved_at, "
    "closed_at, satisfaction, attributes, grid_version";
constexpr int k_incident_column_count = 36;

/// The values of an incident in the order of k_incident_columns (id first).
std::vector<Value> incident_values(const Incident& i) {
  std::vector<Value> v;
  v.reserve(k_incident_column_count);
  v.emplace_back(i.id == 0 ? Value(nullptr) : Value(i.id));
  v.emplace_back(nullptr);  // geom is bound as a blob
  v.emplace_back(i.category);
  v.emplace_back(opt_text(i.description));
  v.emplace_back(opt_text(i.address));
  v.emplace_back(i.channel);
  v.emplace_back(std::string(to_string(i.priority)));
  v.emplace_back(std::string(to_string(i.status)));
  v.emplace_back(i.version);
  v.emplace_back(i.reported_position.dump());
  v.emplace_back(opt_text(i.reporter_name));
  v.emplace_back(opt_text(i.reporter_phone));
  v.emplace_back(i.grid_id == 0 ? Value(nullptr) : Value(i.grid_id));
  v.emplace_back(opt_text(i.grid_code));
  v.emplace_back(opt_text(i.grid_name));
  for (auto id : i.chain) v.emplace_back(id == 0 ? Value(nullptr) : Value(id));
  v.emplace_back(std::int64_t{i.covered ? 1 : 0});
  v.emplace_back(i.distance_m);
  v.emplace_back(opt_text(i.assignee_name));
  v.emplace_back(opt_text(i.assignee_phone));
  v.emplace_back(opt_text(i.handler));
  v.emplace_back(std::int64_t{i.escalation_level});
  v.emplace_back(i.created_at);
  v.emplace_back(i.updated_at);
  v.emplace_back(opt_text(i.dispatched_at));
  v.emplace_back(opt_text(i.due_at));
  v.emplace_back(opt_text(i.near_due_at));
  v.emplace_back(opt_text(i.resolved_at));
  v.emplace_back(opt_text(i.closed_at));
  v.emplace_back(i.satisfaction ? Value(std::int64_t{*i.satisfaction}) : Value(nullptr));
  v.emplace_back(i.attributes.dump());
  v.emplace_back(i.grid_version == 0 ? Value(nullptr) : Value(i.grid_version));
  return v;
}

void bind_incident(Stmt& st, const Incident& i) {
  const auto values = incident_values(i);
  st.bind_all(values);
  st.bind_blob(2, point_blob(i.lon, i.lat));
}

Json parse_json_or(const std::string& text, Json fallback) {
  if (text.empty()) return fallback;
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

/// Read an incident from columns [first, first + k_incident_column_count).
Incident read_incident(const Stmt& st, int first = 0) {
  Incident i;
  int c = first;
  i.id = st.i64(c++);
  const auto [data, size] = st.raw_blob(c++);
  blob_point(data, size, i.lon, i.lat);
  i.category = st.text(c++);
  i.description = st.text(c++);
  i.address = st.text(c++);
  i.channel = st.text(c++);
  i.priority = parse_priority(st.text(c++));
  i.status = try_parse_incident_status(st.text(c++)).value_or(IncidentStatus::reported);
  i.version = st.i64(c++);
  i.reported_position = parse_json_or(st.text(c++), Json::object());
  i.reporter_name = st.text(c++);
  i.reporter_phone = st.text(c++);
  i.grid_id = st.i64(c++);
  i.grid_code = st.text(c++);
  i.grid_name = st.text(c++);
  for (auto& id : i.chain) id = st.i64(c++);
  i.covered = st.i64(c++) != 0;
  i.distance_m = st.dbl(c++);
  i.assignee_name = st.text(c++);
  i.assignee_phone = st.text(c++);
  i.handler = st.text(c++);
  i.escalation_level = static_cast<int>(st.i64(c++));
  i.created_at = st.text(c++);
  i.updated_at = st.text(c++);
  i.dispatched_at = st.text(c++);
  i.due_at = st.text(c++);
  i.near_due_at = st.text(c++);
  i.resolved_at = st.text(c++);
  i.closed_at = st.text(c++);
  if (!st.null(c)) i.satisfaction = static_cast<int>(st.i64(c));
  ++c;
  i.attributes = parse_json_or(st.text(c++), Json::object());
  i.grid_version = st.i64(c++);
  return i;
}

constexpr const char* k_event_columns =
    "id, incident_id, version, action, from_status, to_status, actor, note, at, grid_id, data, attachments";
constexpr int k_event_column_count = 12;

/// The names of a column list: "a, b, c" -> {a, b, c}.
std::vector<std::string_view> column_names(std::string_view columns) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < columns.size()) {
    std::size_t end = columns.find(',', start);
    if (end == std::string_view::npos) end = columns.size();
    std::string_view name = columns.substr(start, end - start);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    out.push_back(name);
    start = end + 1;
  }
  return out;
}

/// A column list with a table prefix: prefixed("a, b", "i.") == "i.a, i.b".
std::string prefixed(std::string_view columns, std::string_view prefix) {
  std::string out;
  for (const auto name : column_names(columns)) {
    if (!out.empty()) out += ", ";
    out.append(prefix).append(name);
  }
  return out;
}

/// "UPDATE incidents SET category = ?3, ... WHERE id = ?1": every column but
/// the id, numbered as bind_incident() binds them (the id is ?1).
const std::string& update_incident_sql() {
  static const std::string sql = [] {
    std::string set;
    const auto names = column_names(k_incident_columns);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "id") continue;
      if (!set.empty()) set += ", ";
      set.append(names[i]).append(" = ?").append(std::to_string(i + 1));
    }
    return "UPDATE incidents SET " + set + " WHERE id = ?1";
  }();
  return sql;
}

IncidentEvent read_event(const Stmt& st, int first = 0) {
  IncidentEvent e;
  int c = first;
  e.id = st.i64(c++);
  e.incident_id = st.i64(c++);
  e.version = st.i64(c++);
  e.action = st.text(c++);
  e.from = try_parse_incident_status(st.text(c++));
  e.to = try_parse_incident_status(st.text(c++)).value_or(IncidentStatus::reported);
  e.actor = st.text(c++);
  e.note = st.text(c++);
  e.at = st.text(c++);
  e.grid_id = st.i64(c++);
  e.data = parse_json_or(st.text(c++), Json::object());
  const Json att = parse_json_or(st.text(c++), Json::array());
  if (att.is_array()) {
    for (const auto& a : att) {
      if (a.is_number_integer()) e.attachments.push_back(a.get<std::int64_t>());
    }
  }
  return e;
}

void insert_event(sqlite3* db, Stmt& st, IncidentEvent& e) {
  st.reset();
  Json att = Json::array();
  for (auto id : e.attachments) att.push_back(id);
  st.bind_all({e.incident_id, e.version, e.action,
               e.from ? Value(std::string(to_string(*e.from))) : Value(nullptr), std::string(to_string(e.to)),
               opt_text(e.actor), opt_text(e.note), e.at, e.grid_id == 0 ? Value(nullptr) : Value(e.grid_id),
               e.data.dump(), att.dump()});
  st.run();
  e.id = sqlite3_last_insert_rowid(db);
}

constexpr const char* k_insert_event_sql =
    "INSERT INTO incident_events (incident_id, version, action, from_status, to_status, actor, note, at, "
    "grid_id, data, attachments) VALUES (?,?,?,?,?,?,?,?,?,?,?)";

// ---------------------------------------------------------------------------
// Queries: SQL text from fixed fragments only; every value is bound.
// ---------------------------------------------------------------------------

/// The colour of a row as a number (Colour's enum values), from the bound
/// clock: the same rule as colour_at() on the stored instants.
constexpr const char* k_colour_sql =
    "(CASE WHEN status IN ('dispatched','accepted','returned','escalated') AND dispatched_at IS NOT NULL "
    "THEN (CASE WHEN due_at IS NULL THEN 1 WHEN due_at < ?1 THEN 4 WHEN due_at < ?2 THEN 3 "
    "WHEN near_due_at IS NOT NULL AND near_due_at <= ?1 THEN 2 ELSE 1 END) ELSE 0 END)";

struct Where {
  std::string sql = " WHERE 1";
  std::vector<Value> values;  // bound from ?3 on (?1, ?2 are the clock)

  void add(const std::string& fragment) { sql += " AND " + fragment; }
  std::string next() { return "?" + std::to_string(values.size() + 3); }
  void in_list(const char* column, const std::vector<std::string>& items) {
    if (items.empty()) return;
    std::string f = std::string(column) + " IN (";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) f += ',';
      f += next();
      values.emplace_back(items[i]);
    }
    add(f + ")");
  }
};

Where build_where(const IncidentFilter& f) {
  Where w;
  if (f.bbox) {
    const auto& b = *f.bbox;
    const std::string minx = w.next();
    w.values.emplace_back(b[0]);
    const std::string maxx = w.next();
    w.values.emplace_back(b[2]);
    const std::string miny = w.next();
    w.values.emplace_back(b[1]);
    const std::string maxy = w.next();
    w.values.emplace_back(b[3]);
    w.add("id IN (SELECT id FROM rtree_incidents_geom WHERE maxx >= " + minx + " AND minx <= " + maxx +
          " AND maxy >= " + miny + " AND miny <= " + maxy + ")");
    // The R-tree keeps 32-bit bounds rounded outwards (up to a metre here):
    // it only narrows the search; the stored point decides.
    w.add("ST_MinX(geom) BETWEEN " + minx + " AND " + maxx + " AND ST_MinY(geom) BETWEEN " + miny + " AND " + maxy);
  }
  if (f.subtree) {
    const auto level = static_cast<int>(f.subtree->first);
    w.add(std::string(k_chain_columns[level]) + " = " + w.next());
    w.values.emplace_back(f.subtree->second);
  }
  std::vector<std::string> statuses;
  for (auto s : f.statuses) statuses.emplace_back(to_string(s));
  w.in_list("status", statuses);
  w.in_list("category", f.categories);
  w.in_list("channel", f.channels);
  if (!f.colours.empty()) {
    std::string frag = std::string(k_colour_sql) + " IN (";
    for (std::size_t i = 0; i < f.colours.size(); ++i) {
      if (i) frag += ',';
      frag += w.next();
      w.values.emplace_back(std::int64_t{static_cast<int>(f.colours[i])});
    }
    w.add(frag + ")");
  }
  if (f.covered) {
    w.add("covered = " + w.next());
    w.values.emplace_back(std::int64_t{*f.covered ? 1 : 0});
  }
  if (!f.assignee.empty()) {
    w.add("assignee_name = " + w.next());
    w.values.emplace_back(f.assignee);
  }
  if (!f.created_from.empty()) {
    w.add("created_at >= " + w.next());
    w.values.emplace_back(f.created_from);
  }
  if (!f.created_to.empty()) {
    w.add("created_at < " + w.next());
    w.values.emplace_back(f.created_to);
  }
  return w;
}

void bind_clock_and(Stmt& st, const ColourClock& clock, const std::vector<Value>& values) {
  // ?1 and ?2 are the clock; a statement that does not use them has fewer parameters.
  const int n = st.parameter_count();
  if (n >= 1) st.bind(1, clock.now.empty() ? Value(std::string("0000")) : Value(clock.now));
  if (n >= 2) st.bind(2, clock.day_end.empty() ? Value(std::string("0000")) : Value(clock.day_end));
  for (std::size_t i = 0; i < values.size(); ++i) st.bind(static_cast<int>(i + 3), values[i]);
}

}  // namespace

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

struct GpkgIncidentStore::Impl {
  std::string path;
  std::mutex& write_mutex;
  DbPtr writer;
  std::unique_ptr<Stmt> insert_incident;
  std::unique_ptr<Stmt> insert_event;
  std::mutex pool_mutex;
  std::vector<DbPtr> pool;

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
      Transaction tx(db);
      bool any = false;
      if (batch.size() == 1) {
        // Alone in the transaction: no savepoint needed (a savepoint makes
        // SQLite journal every page a large batch touches).
        (*batch.front()->work)(db);
        tx.commit();
        return;
      }
      for (auto* p : batch) {
        exec(db, "SAVEPOINT gridd_piece");
        try {
          (*p->work)(db);
          exec(db, "RELEASE gridd_piece");
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
    DbPtr db;
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
        DbPtr db = std::move(pool.back());
        pool.pop_back();
        return Reader{this, std::move(db)};
      }
    }
    return Reader{this, open_connection(path)};
  }
};

GpkgIncidentStore::GpkgIncidentStore(std::string path, std::mutex& write_mutex)
    : m_impl(std::make_unique<Impl>(std::move(path), write_mutex)) {
  std::lock_guard lock(m_impl->write_mutex);
  m_impl->writer = open_connection(m_impl->path);
  std::string placeholders;
  for (int i = 0; i < k_incident_column_count; ++i) placeholders += i ? ",?" : "?";
  m_impl->insert_incident = std::make_unique<Stmt>(
      m_impl->writer.get(),
      std::string("INSERT INTO incidents (") + k_incident_columns + ") VALUES (" + placeholders + ")");
  m_impl->insert_event = std::make_unique<Stmt>(m_impl->writer.get(), k_insert_event_sql);
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
      Stmt& st = *m_impl->insert_incident;
      st.reset();
      Incident copy = incidents[k];
      copy.id = 0;
      bind_incident(st, copy);
      st.run();
      st.reset();
      ids.push_back(sqlite3_last_insert_rowid(db));
      IncidentEvent e = events[k];
      e.incident_id = ids.back();
      insert_event(db, *m_impl->insert_event, e);
      m_impl->insert_event->reset();
      event_ids.push_back(e.id);
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
  const std::function<void(sqlite3*)> work = [&](sqlite3* db) {
    {
      Stmt cur(db, "SELECT version FROM incidents WHERE id = ?");
      cur.bind(1, next.id);
      if (!cur.step()) {
        throw_not_found("incident_not_found", "no incident with id " + std::to_string(next.id), "id");
      }
      const std::int64_t stored = cur.i64(0);
      if (stored != expected_version) {
        throw_conflict("stale_version",
                       "incident " + std::to_string(next.id) + " is at version " + std::to_string(stored) +
                           ", not " + std::to_string(expected_version) + "; reload it and try again",
                       "version");
      }
    }
    {
      Stmt st(db, update_incident_sql());
      bind_incident(st, next);
      st.run();
    }
    e = event;
    e.incident_id = next.id;
    Stmt ev(db, k_insert_event_sql);
    insert_event(db, ev, e);
  };
  m_impl->write(work);
  event.id = e.id;
  event.incident_id = next.id;
}

std::optional<Incident> GpkgIncidentStore::get(std::int64_t id) {
  auto r = m_impl->reader();
  Stmt st(r.get(), std::string("SELECT ") + k_incident_columns + " FROM incidents WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_incident(st);
}

IncidentPage GpkgIncidentStore::list(const IncidentQuery& q) {
  Where w = build_where(q.filter);
  if (q.after) {
    const auto& a = *q.after;
    switch (q.sort) {
      case IncidentSort::newest:
        w.add("id < " + w.next());
        w.values.emplace_back(a.id);
        break;
      case IncidentSort::oldest:
        w.add("id > " + w.next());
        w.values.emplace_back(a.id);
        break;
      case IncidentSort::due: {
        const std::string d1 = w.next();
        w.values.emplace_back(a.due);
        const std::string i1 = w.next();
        w.values.emplace_back(a.id);
        w.add("(COALESCE(due_at, '~') > " + d1 + " OR (COALESCE(due_at, '~') = " + d1 + " AND id > " + i1 + "))");
        break;
      }
      case IncidentSort::urgency: {
        const std::string r1 = w.next();
        w.values.emplace_back(std::int64_t{a.rank});
        const std::string d1 = w.next();
        w.values.emplace_back(a.due);
        const std::string i1 = w.next();
        w.values.emplace_back(a.id);
        const std::string rank = k_colour_sql;
        w.add("(" + rank + " < " + r1 + " OR (" + rank + " = " + r1 + " AND (COALESCE(due_at, '~') > " + d1 +
              " OR (COALESCE(due_at, '~') = " + d1 + " AND id > " + i1 + "))))");
        break;
      }
    }
  }
  std::string sql = std::string("SELECT ") + k_incident_columns + ", " + k_colour_sql +
                    " AS colour_rank, COALESCE(due_at, '~') AS due_key FROM incidents" + w.sql;
  std::string order;
  switch (q.sort) {
    case IncidentSort::newest: order = " ORDER BY id DESC"; break;
    case IncidentSort::oldest: order = " ORDER BY id ASC"; break;
    case IncidentSort::due: order = " ORDER BY due_key ASC, id ASC"; break;
    case IncidentSort::urgency: order = " ORDER BY colour_rank DESC, due_key ASC, id ASC"; break;
  }
  sql += order + " LIMIT " + w.next();
  w.values.emplace_back(static_cast<std::int64_t>(q.limit + 1));

  auto r = m_impl->reader();
  Stmt st(r.get(), sql);
  bind_clock_and(st, q.clock, w.values);
  IncidentPage page;
  IncidentCursor last;
  while (st.step()) {
    if (page.items.size() == q.limit) {
      page.next = last;
      break;
    }
    page.items.push_back(read_incident(st));
    last.id = page.items.back().id;
    last.rank = static_cast<int>(st.i64(k_incident_column_count));
    last.due = st.text(k_incident_column_count + 1);
  }
  return page;
}

std::int64_t GpkgIncidentStore::count(const IncidentFilter& filter, const ColourClock& clock) {
  Where w = build_where(filter);
  auto r = m_impl->reader();
  Stmt st(r.get(), "SELECT COUNT(*) FROM incidents" + w.sql);
  bind_clock_and(st, clock, w.values);
  return st.step() ? st.i64(0) : 0;
}

std::vector<IncidentEvent> GpkgIncidentStore::history(std::int64_t incident_id) {
  auto r = m_impl->reader();
  Stmt st(r.get(), std::string("SELECT ") + k_event_columns + " FROM incident_events WHERE incident_id = ? ORDER BY id");
  st.bind(1, incident_id);
  std::vector<IncidentEvent> out;
  while (st.step()) out.push_back(read_event(st));
  return out;
}

std::vector<StatsRow> GpkgIncidentStore::stats(const StatsQuery& q) {
  Where w = build_where(q.filter);
  std::string key;
  switch (q.group) {
    case StatsGroup::grid: key = k_chain_columns[static_cast<int>(q.level)]; break;
    case StatsGroup::category: key = "category"; break;
    case StatsGroup::channel: key = "channel"; break;
    case StatsGroup::assignee: key = "assignee_name"; break;
    case StatsGroup::day: {
      key = "date(created_at, " + w.next() + ")";
      w.values.emplace_back((q.utc_offset_minutes >= 0 ? "+" : "") + std::to_string(q.utc_offset_minutes) +
                            " minutes");
      break;
    }
  }
  const std::string running =
      "(status IN ('dispatched','accepted','returned','escalated') AND dispatched_at IS NOT NULL)";
  const std::string sql =
      "SELECT CAST(" + key + " AS TEXT) AS k, COUNT(*), "
      "SUM(status NOT IN ('closed','rejected')), SUM(status = 'closed'), SUM(status = 'rejected'), "
      "SUM(resolved_at IS NOT NULL AND due_at IS NOT NULL AND resolved_at <= due_at), "
      "SUM(resolved_at IS NOT NULL AND due_at IS NOT NULL), "
      "SUM(" + running + " AND due_at IS NOT NULL AND due_at < ?1), "
      "AVG(CASE WHEN status = 'closed' AND closed_at IS NOT NULL "
      "THEN (julianday(closed_at) - julianday(created_at)) * 24.0 END), "
      "AVG(satisfaction), COUNT(satisfaction) FROM incidents" +
      w.sql + " GROUP BY k ORDER BY k";
  auto r = m_impl->reader();
  Stmt st(r.get(), sql);
  bind_clock_and(st, q.clock, w.values);
  std::vector<StatsRow> out;
  while (st.step()) {
    StatsRow row;
    row.key = st.text(0);
    row.received = st.i64(1);
    row.open = st.i64(2);
    row.closed = st.i64(3);
    row.rejected = st.i64(4);
    row.resolved_on_time = st.i64(5);
    row.resolved_with_deadline = st.i64(6);
    row.overdue = st.i64(7);
    if (!st.null(8)) row.avg_hours_to_close = st.dbl(8);
    if (!st.null(9)) row.avg_satisfaction = st.dbl(9);
    row.satisfaction_count = st.i64(10);
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<IncidentCluster> GpkgIncidentStore::clusters(const std::array<double, 4>& b, int cols, int rows,
                                                         const ColourClock& clock,
                                                         const std::optional<std::pair<Level, std::int64_t>>& subtree) {
  cols = std::max(cols, 1);
  rows = std::max(rows, 1);
  const double cw = (b[2] - b[0]) / cols, ch = (b[3] - b[1]) / rows;
  if (!(cw > 0) || !(ch > 0)) return {};
  const std::string sql =
      std::string("SELECT MIN(CAST((x - ?3) / ?4 AS INTEGER), ?9) AS cx, MIN(CAST((y - ?5) / ?6 AS INTEGER), ?10) AS cy, "
                  "COUNT(*), AVG(x), AVG(y), SUM(rank = 0), SUM(rank = 1), SUM(rank = 2), SUM(rank = 3), SUM(rank = 4) "
                  "FROM (SELECT ST_MinX(i.geom) AS x, ST_MinY(i.geom) AS y, ") +
      k_colour_sql +
      " AS rank FROM rtree_incidents_geom r JOIN incidents i ON i.id = r.id "
      "WHERE r.maxx >= ?3 AND r.minx <= ?7 AND r.maxy >= ?5 AND r.miny <= ?8 "
      "AND i.status NOT IN ('closed', 'rejected')" +
      (subtree ? std::string(" AND i.") + k_chain_columns[static_cast<int>(subtree->first)] + " = ?11" : std::string()) +
      ") WHERE x BETWEEN ?3 AND ?7 AND y BETWEEN ?5 AND ?8 GROUP BY cx, cy";
  auto r = m_impl->reader();
  Stmt st(r.get(), sql);
  std::vector<Value> values{b[0], cw, b[1], ch, b[2], b[3], std::int64_t{cols - 1}, std::int64_t{rows - 1}};
  if (subtree) values.emplace_back(subtree->second);
  bind_clock_and(st, clock, values);
  std::vector<IncidentCluster> out;
  while (st.step()) {
    IncidentCluster c;
    c.count = st.i64(2);
    c.lon = st.dbl(3);
    c.lat = st.dbl(4);
    for (int k = 0; k < 5; ++k) c.colours[static_cast<std::size_t>(k)] = st.i64(5 + k);
    out.push_back(c);
  }
  return out;
}

void GpkgIncidentStore::for_each_open(const std::function<void(const Incident&)>& visit) {
  auto r = m_impl->reader();
  Stmt st(r.get(),
          "SELECT id, version, ST_MinX(geom), ST_MinY(geom), status, dispatched_at, due_at, near_due_at FROM incidents "
          "WHERE status NOT IN ('closed', 'rejected') ORDER BY id");
  Incident i;
  while (st.step()) {
    i.id = st.i64(0);
    i.version = st.i64(1);
    i.lon = st.dbl(2);
    i.lat = st.dbl(3);
    i.status = try_parse_incident_status(st.text(4)).value_or(IncidentStatus::reported);
    i.dispatched_at = st.text(5);
    i.due_at = st.text(6);
    i.near_due_at = st.text(7);
    visit(i);
  }
}

std::vector<FeedItem> GpkgIncidentStore::events_after(std::int64_t after_id, const FeedFilter& filter,
                                                      std::size_t limit) {
  std::string sql = "SELECT " + prefixed(k_event_columns, "e.") + ", " + prefixed(k_incident_columns, "i.") +
                    " FROM incident_events e JOIN incidents i ON i.id = e.incident_id WHERE e.id > ?1";
  std::vector<Value> values{after_id};
  if (filter.subtree) {
    sql += std::string(" AND i.") + k_chain_columns[static_cast<int>(filter.subtree->first)] + " = ?" +
           std::to_string(values.size() + 1);
    values.emplace_back(filter.subtree->second);
  }
  if (!filter.categories.empty()) {
    sql += " AND i.category IN (";
    for (std::size_t k = 0; k < filter.categories.size(); ++k) {
      if (k) sql += ',';
      sql += "?" + std::to_string(values.size() + 1);
      values.emplace_back(filter.categories[k]);
    }
    sql += ")";
  }
  sql += " ORDER BY e.id LIMIT ?" + std::to_string(values.size() + 1);
  values.emplace_back(static_cast<std::int64_t>(limit));
  auto r = m_impl->reader();
  Stmt st(r.get(), sql);
  st.bind_all(values);
  std::vector<FeedItem> out;
  while (st.step()) {
    FeedItem item;
    item.event = read_event(st, 0);
    item.incident = read_incident(st, k_event_column_count);
    out.push_back(std::move(item));
  }
  return out;
}

std::int64_t GpkgIncidentStore::last_event_id() {
  auto r = m_impl->reader();
  Stmt st(r.get(), "SELECT COALESCE(MAX(id), 0) FROM incident_events");
  return st.step() ? st.i64(0) : 0;
}

void GpkgIncidentStore::add_attachment(Attachment& a) {
  std::int64_t id = 0;
  const std::function<void(sqlite3*)> work = [&](sqlite3* db) {
    {
      Stmt cur(db, "SELECT 1 FROM incidents WHERE id = ?");
      cur.bind(1, a.incident_id);
      if (!cur.step()) {
        throw_not_found("incident_not_found", "no incident with id " + std::to_string(a.incident_id), "id");
      }
    }
    Stmt st(db,
            "INSERT INTO incident_attachments (incident_id, filename, media_type, size, width, height, created_at, "
            "data) VALUES (?,?,?,?,?,?,?,?)");
    st.bind_all({a.incident_id, opt_text(a.filename), a.media_type, a.size, std::int64_t{a.width},
                 std::int64_t{a.height}, a.created_at});
    st.bind_blob(8, a.data);
    st.run();
    id = sqlite3_last_insert_rowid(db);
  };
  m_impl->write(work);
  a.id = id;
}

namespace {

Attachment read_attachment(const Stmt& st, bool with_data) {
  Attachment a;
  a.id = st.i64(0);
  a.incident_id = st.i64(1);
  a.filename = st.text(2);
  a.media_type = st.text(3);
  a.size = st.i64(4);
  a.width = static_cast<int>(st.i64(5));
  a.height = static_cast<int>(st.i64(6));
  a.created_at = st.text(7);
  if (with_data) a.data = st.blob(8);
  return a;
}

}  // namespace

std::optional<Attachment> GpkgIncidentStore::attachment(std::int64_t id, bool with_data) {
  auto r = m_impl->reader();
  Stmt st(r.get(), std::string("SELECT id, incident_id, filename, media_type, size, width, height, created_at") +
                       (with_data ? ", data" : "") + " FROM incident_attachments WHERE id = ?");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_attachment(st, with_data);
}

std::vector<Attachment> GpkgIncidentStore::attachments_of(std::int64_t incident_id) {
  auto r = m_impl->reader();
  Stmt st(r.get(),
          "SELECT id, incident_id, filename, media_type, size, width, height, created_at FROM incident_attachments "
          "WHERE incident_id = ? ORDER BY id");
  st.bind(1, incident_id);
  std::vector<Attachment> out;
  while (st.step()) out.push_back(read_attachment(st, false));
  return out;
}

}  // namespace gridd::storage
