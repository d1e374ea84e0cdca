// PgIncidentStore: the incident store on PostgreSQL/PostGIS. Same answers
// as GpkgIncidentStore (gpkg_incident_store.cpp is the specification): the
// same colour rule, keyset paging in every order, statistics, clusters, the
// feed and attachments. SQL text comes from fixed fragments only; every
// value is a bound parameter (sent as text, cast in the SQL where
// PostgreSQL cannot infer its type).
//
// Text comparisons and orderings use COLLATE "C" (bytewise, as SQLite
// compares text), so the answers do not depend on the database's collation.
// Incident writes take one advisory transaction lock first: event ids are
// then allocated and committed in id order, so a reader following event ids
// (events_after) never skips one that commits late.
#include "gridd/storage/pg_store.hpp"

#include <algorithm>
#include <string_view>

#include "gridd/core/error.hpp"

namespace gridd::storage {

namespace {

/// Advisory lock key that orders incident writes ("gridd" + 1).
constexpr const char* k_incident_write_lock_sql = "SELECT pg_advisory_xact_lock(6779042917)";

const char* const k_chain_columns[5] = {"chain_district", "chain_street", "chain_community", "chain_grid",
                                        "chain_micro_grid"};

/// Every incident column but id and geom, in the order incident_params() binds them.
constexpr const char* k_data_columns =
    "category, description, address, channel, priority, status, version, reported_position, "
    "reporter_name, reporter_phone, grid_id, grid_code, grid_name, chain_district, chain_street, "
    "chain_community, chain_grid, chain_micro_grid, covered, distance_m, assignee_name, assignee_phone, "
    "handler, escalation_level, created_at, updated_at, dispatched_at, due_at, near_due_at, resolved_at, "
    "closed_at, satisfaction, attributes, grid_version";
constexpr int k_data_column_count = 34;
/// id, x, y and the data columns.
constexpr int k_incident_column_count = 3 + k_data_column_count;

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

/// The select list read_incident() reads: id, the point, the data columns.
std::string incident_select(std::string_view p = "") {
  std::string out;
  out.append(p).append("id, ST_X(").append(p).append("geom), ST_Y(").append(p).append("geom), ");
  out += prefixed(k_data_columns, p);
  return out;
}

/// The data columns as parameters, in the order of k_data_columns.
void incident_params(pg::Params& p, const Incident& i) {
  p.text(i.category);
  p.opt_text(i.description);
  p.opt_text(i.address);
  p.text(i.channel);
  p.text(std::string(to_string(i.priority)));
  p.text(std::string(to_string(i.status)));
  p.i64(i.version);
  p.text(i.reported_position.dump());
  p.opt_text(i.reporter_name);
  p.opt_text(i.reporter_phone);
  p.opt_id(i.grid_id);
  p.opt_text(i.grid_code);
  p.opt_text(i.grid_name);
  for (auto id : i.chain) p.opt_id(id);
  p.boolean(i.covered);
  p.dbl(i.distance_m);
  p.opt_text(i.assignee_name);
  p.opt_text(i.assignee_phone);
  p.opt_text(i.handler);
  p.i64(i.escalation_level);
  p.text(i.created_at);
  p.text(i.updated_at);
  p.opt_text(i.dispatched_at);
  p.opt_text(i.due_at);
  p.opt_text(i.near_due_at);
  p.opt_text(i.resolved_at);
  p.opt_text(i.closed_at);
  if (i.satisfaction) {
    p.i64(*i.satisfaction);
  } else {
    p.null();
  }
  p.text(i.attributes.dump());
  p.opt_id(i.grid_version);
}

/// The casts of the data columns' parameters (same order).
const std::vector<std::string>& data_casts() {
  static const std::vector<std::string> casts = [] {
    std::vector<std::string> c;
    for (const auto name : column_names(k_data_columns)) {
      if (name == "reported_position" || name == "attributes") {
        c.emplace_back("::jsonb");
      } else if (name == "version" || name == "grid_id" || name == "grid_version" || name.rfind("chain_", 0) == 0) {
        c.emplace_back("::bigint");
      } else if (name == "covered") {
        c.emplace_back("::boolean");
      } else if (name == "distance_m") {
        c.emplace_back("::double precision");
      } else if (name == "escalation_level" || name == "satisfaction") {
        c.emplace_back("::integer");
      } else {
        c.emplace_back("::text");
      }
    }
    return c;
  }();
  return casts;
}

/// The point of $1, $2 (lon, lat).
constexpr const char* k_point_sql = "ST_SetSRID(ST_MakePoint($1::double precision, $2::double precision), 4326)";

/// INSERT with $1, $2 the point and $3.. the data columns; returns the id.
const std::string& insert_incident_sql() {
  static const std::string sql = [] {
    std::string values;
    const auto& casts = data_casts();
    for (int k = 0; k < k_data_column_count; ++k) {
      values += ", $" + std::to_string(k + 3) + casts[static_cast<std::size_t>(k)];
    }
    return std::string("INSERT INTO incidents (geom, ") + k_data_columns + ") VALUES (" + k_point_sql + values +
           ") RETURNING id";
  }();
  return sql;
}

/// UPDATE with $1, $2 the point, $3.. the data columns, then the id and the
/// expected version.
const std::string& update_incident_sql() {
  static const std::string sql = [] {
    std::string set = std::string("geom = ") + k_point_sql;
    const auto names = column_names(k_data_columns);
    const auto& casts = data_casts();
    for (std::size_t k = 0; k < names.size(); ++k) {
      set.append(", ").append(names[k]).append(" = $").append(std::to_string(k + 3)).append(casts[k]);
    }
    const int id = k_data_column_count + 3;
    return "UPDATE incidents SET " + set + " WHERE id = $" + std::to_string(id) + "::bigint AND version = $" +
           std::to_string(id + 1) + "::bigint";
  }();
  return sql;
}

Json parse_json_or(const std::string& text, Json fallback) {
  if (text.empty()) return fallback;
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

/// Read an incident from columns [first, first + k_incident_column_count) of `row`.
Incident read_incident(const pg::Result& r, int row, int first = 0) {
  Incident i;
  int c = first;
  i.id = r.i64(row, c++);
  i.lon = r.dbl(row, c++);
  i.lat = r.dbl(row, c++);
  i.category = r.text(row, c++);
  i.description = r.text(row, c++);
  i.address = r.text(row, c++);
  i.channel = r.text(row, c++);
  i.priority = parse_priority(r.text(row, c++));
  i.status = try_parse_incident_status(r.text(row, c++)).value_or(IncidentStatus::reported);
  i.version = r.i64(row, c++);
  i.reported_position = parse_json_or(r.text(row, c++), Json::object());
  i.reporter_name = r.text(row, c++);
  i.reporter_phone = r.text(row, c++);
  i.grid_id = r.i64(row, c++);
  i.grid_code = r.text(row, c++);
  i.grid_name = r.text(row, c++);
  for (auto& id : i.chain) id = r.i64(row, c++);
  i.covered = r.boolean(row, c++);
  i.distance_m = r.dbl(row, c++);
  i.assignee_name = r.text(row, c++);
  i.assignee_phone = r.text(row, c++);
  i.handler = r.text(row, c++);
  i.escalation_level = static_cast<int>(r.i64(row, c++));
  i.created_at = r.text(row, c++);
  i.updated_at = r.text(row, c++);
  i.dispatched_at = r.text(row, c++);
  i.due_at = r.text(row, c++);
  i.near_due_at = r.text(row, c++);
  i.resolved_at = r.text(row, c++);
  i.closed_at = r.text(row, c++);
  if (!r.null(row, c)) i.satisfaction = static_cast<int>(r.i64(row, c));
  ++c;
  i.attributes = parse_json_or(r.text(row, c++), Json::object());
  i.grid_version = r.i64(row, c++);
  return i;
}

constexpr const char* k_event_columns =
    "id, incident_id, version, action, from_status, to_status, actor, note, at, grid_id, data, attachments";
constexpr int k_event_column_count = 12;

constexpr const char* k_insert_event_sql =
    "INSERT INTO incident_events (incident_id, version, action, from_status, to_status, actor, note, at, "
    "grid_id, data, attachments) VALUES ($1::bigint, $2::bigint, $3::text, $4::text, $5::text, $6::text, "
    "$7::text, $8::text, $9::bigint, $10::jsonb, $11::jsonb) RETURNING id";

IncidentEvent read_event(const pg::Result& r, int row, int first = 0) {
  IncidentEvent e;
  int c = first;
  e.id = r.i64(row, c++);
  e.incident_id = r.i64(row, c++);
  e.version = r.i64(row, c++);
  e.action = r.text(row, c++);
  e.from = try_parse_incident_status(r.text(row, c++));
  e.to = try_parse_incident_status(r.text(row, c++)).value_or(IncidentStatus::reported);
  e.actor = r.text(row, c++);
  e.note = r.text(row, c++);
  e.at = r.text(row, c++);
  e.grid_id = r.i64(row, c++);
  e.data = parse_json_or(r.text(row, c++), Json::object());
  const Json att = parse_json_or(r.text(row, c++), Json::array());
  if (att.is_array()) {
    for (const auto& a : att) {
      if (a.is_number_integer()) e.attachments.push_back(a.get<std::int64_t>());
    }
  }
  return e;
}

/// Insert `e` (its incident_id set) and fill in its id.
void insert_event(pg::Connection& conn, IncidentEvent& e) {
  Json att = Json::array();
  for (auto id : e.attachments) att.push_back(id);
  pg::Params p;
  p.i64(e.incident_id).i64(e.version).text(e.action);
  if (e.from) {
    p.text(std::string(to_string(*e.from)));
  } else {
    p.null();
  }
  p.text(std::string(to_string(e.to))).opt_text(e.actor).opt_text(e.note).text(e.at).opt_id(e.grid_id);
  p.text(e.data.dump()).text(att.dump());
  const pg::Result r = conn.query(k_insert_event_sql, p);
  e.id = r.i64(0, 0);
}

/// A PostgreSQL array literal of texts: {"a","b \"c\""}.
std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t k = 0; k < items.size(); ++k) {
    if (k) out += ',';
    out += '"';
    for (const char ch : items[k]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// ---------------------------------------------------------------------------
// Queries: SQL text from fixed fragments only; every value is bound.
// ---------------------------------------------------------------------------

/// A statement under construction: its WHERE clause and its parameters,
/// numbered in the order they are added. Each instant of the colour clock
/// is added the first time it is used (a prepared statement must use every
/// parameter it is given).
class Query {
 public:
  explicit Query(const ColourClock* clock = nullptr) : m_clock(clock) {}

  std::string where = " WHERE true";
  pg::Params params;

  void add(const std::string& fragment) { where += " AND " + fragment; }

  std::string text(const std::string& v, const char* cast = "::text") {
    params.text(v);
    return next(cast);
  }
  std::string i64(std::int64_t v, const char* cast = "::bigint") {
    params.i64(v);
    return next(cast);
  }
  std::string dbl(double v) {
    params.dbl(v);
    return next("::double precision");
  }
  std::string boolean(bool v) {
    params.boolean(v);
    return next("::boolean");
  }

  /// The colour of a row as a number (Colour's enum values), from the
  /// clock: the same rule as colour_at() on the stored instants.
  std::string colour() {
    const std::string n = now();
    const std::string e = day_end();
    return "(CASE WHEN status IN ('dispatched','accepted','returned','escalated') AND dispatched_at IS NOT NULL "
           "THEN (CASE WHEN due_at IS NULL THEN 1 WHEN due_at < " + n + " COLLATE \"C\" THEN 4 WHEN due_at < " + e +
           " COLLATE \"C\" THEN 3 WHEN near_due_at IS NOT NULL AND near_due_at <= " + n +
           " COLLATE \"C\" THEN 2 ELSE 1 END) ELSE 0 END)";
  }
  /// The clock's now (a parameter added at its first use). As in the
  /// GeoPackage store, an unset clock compares before every instant.
  const std::string& now() {
    if (m_now.empty()) m_now = text(m_clock && !m_clock->now.empty() ? m_clock->now : std::string("0000"));
    return m_now;
  }
  /// The clock's day end (a parameter added at its first use).
  const std::string& day_end() {
    if (m_day_end.empty()) {
      m_day_end = text(m_clock && !m_clock->day_end.empty() ? m_clock->day_end : std::string("0000"));
    }
    return m_day_end;
  }

 private:
  std::string next(const char* cast) { return "$" + std::to_string(params.size()) + cast; }

  const ColourClock* m_clock;
  std::string m_now;
  std::string m_day_end;
};

void in_list(Query& q, const char* column, const std::vector<std::string>& items) {
  if (items.empty()) return;
  q.add(std::string(column) + " = ANY(" + q.text(text_array(items), "::text[]") + ")");
}

void build_where(Query& w, const IncidentFilter& f) {
  if (f.bbox) {
    const auto& b = *f.bbox;
    const std::string minx = w.dbl(b[0]);
    const std::string miny = w.dbl(b[1]);
    const std::string maxx = w.dbl(b[2]);
    const std::string maxy = w.dbl(b[3]);
    // The GiST index narrows the search (its boxes are rounded outwards);
    // the stored point decides, edges included.
    w.add("geom && ST_MakeEnvelope(" + minx + ", " + miny + ", " + maxx + ", " + maxy + ", 4326)");
    w.add("ST_X(geom) BETWEEN " + minx + " AND " + maxx + " AND ST_Y(geom) BETWEEN " + miny + " AND " + maxy);
  }
  if (f.subtree) {
    const auto level = static_cast<int>(f.subtree->first);
    w.add(std::string(k_chain_columns[level]) + " = " + w.i64(f.subtree->second));
  }
  std::vector<std::string> statuses;
  for (auto s : f.statuses) statuses.emplace_back(to_string(s));
  in_list(w, "status", statuses);
  in_list(w, "category", f.categories);
  in_list(w, "channel", f.channels);
  if (!f.colours.empty()) {
    std::string items = "{";
    for (std::size_t i = 0; i < f.colours.size(); ++i) {
      if (i) items += ',';
      items += std::to_string(static_cast<int>(f.colours[i]));
    }
    items += '}';
    const std::string colour = w.colour();
    w.add(colour + " = ANY(" + w.text(items, "::integer[]") + ")");
  }
  if (f.covered) w.add("covered = " + w.boolean(*f.covered));
  if (!f.assignee.empty()) w.add("assignee_name = " + w.text(f.assignee));
  if (!f.created_from.empty()) w.add("created_at >= " + w.text(f.created_from) + " COLLATE \"C\"");
  if (!f.created_to.empty()) w.add("created_at < " + w.text(f.created_to) + " COLLATE \"C\"");
}

/// The due key of the due and urgency orders: incidents without a deadline last.
constexpr const char* k_due_key_sql = "(COALESCE(due_at, '~') COLLATE \"C\")";

Attachment read_attachment(const pg::Result& r, int row, bool with_data) {
  Attachment a;
  a.id = r.i64(row, 0);
  a.incident_id = r.i64(row, 1);
  a.filename = r.text(row, 2);
  a.media_type = r.text(row, 3);
  a.size = r.i64(row, 4);
  a.width = static_cast<int>(r.i64(row, 5));
  a.height = static_cast<int>(r.i64(row, 6));
  a.created_at = r.text(row, 7);
  if (with_data) a.data = r.bytes(row, 8);
  return a;
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
      pg::Params p;
      p.dbl(incidents[k].lon).dbl(incidents[k].lat);
      incident_params(p, incidents[k]);
      const pg::Result r = conn->query(insert_incident_sql(), p);
      ids.push_back(r.i64(0, 0));
      IncidentEvent e = events[k];
      e.incident_id = ids.back();
      insert_event(*conn, e);
      event_ids.push_back(e.id);
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
    pg::Params p;
    p.dbl(next.lon).dbl(next.lat);
    incident_params(p, next);
    p.i64(next.id).i64(expected_version);
    const pg::Result updated = conn->query(update_incident_sql(), p);
    if (updated.affected() == 0) {
      const pg::Result cur = conn->query("SELECT version FROM incidents WHERE id = $1::bigint", pg::Params().i64(next.id));
      if (cur.rows() == 0) {
        throw_not_found("incident_not_found", "no incident with id " + std::to_string(next.id), "id");
      }
      const std::int64_t stored = cur.i64(0, 0);
      throw_conflict("stale_version",
                     "incident " + std::to_string(next.id) + " is at version " + std::to_string(stored) + ", not " +
                         std::to_string(expected_version) + "; reload it and try again",
                     "version");
    }
    insert_event(*conn, e);
    pg_notify_change(*conn, m_instance, "incidents");
    tx.commit();
  }
  event.id = e.id;
  event.incident_id = next.id;
}

std::optional<Incident> PgIncidentStore::get(std::int64_t id) {
  auto conn = m_pool.lease();
  const pg::Result r =
      conn->query("SELECT " + incident_select() + " FROM incidents WHERE id = $1::bigint", pg::Params().i64(id));
  if (r.rows() == 0) return std::nullopt;
  return read_incident(r, 0);
}

IncidentPage PgIncidentStore::list(const IncidentQuery& q) {
  Query w(&q.clock);
  build_where(w, q.filter);
  if (q.after) {
    const auto& a = *q.after;
    switch (q.sort) {
      case IncidentSort::newest: w.add("id < " + w.i64(a.id)); break;
      case IncidentSort::oldest: w.add("id > " + w.i64(a.id)); break;
      case IncidentSort::due: {
        const std::string d1 = w.text(a.due);
        const std::string i1 = w.i64(a.id);
        w.add(std::string("(") + k_due_key_sql + " > " + d1 + " OR (" + k_due_key_sql + " = " + d1 + " AND id > " +
              i1 + "))");
        break;
      }
      case IncidentSort::urgency: {
        const std::string rank = w.colour();
        const std::string r1 = w.i64(a.rank, "::integer");
        const std::string d1 = w.text(a.due);
        const std::string i1 = w.i64(a.id);
        w.add("(" + rank + " < " + r1 + " OR (" + rank + " = " + r1 + " AND (" + k_due_key_sql + " > " + d1 +
              " OR (" + k_due_key_sql + " = " + d1 + " AND id > " + i1 + "))))");
        break;
      }
    }
  }
  const std::string colour = w.colour();
  std::string sql = "SELECT " + incident_select() + ", " + colour + " AS colour_rank, " + k_due_key_sql +
                    " AS due_key FROM incidents" + w.where;
  switch (q.sort) {
    case IncidentSort::newest: sql += " ORDER BY id DESC"; break;
    case IncidentSort::oldest: sql += " ORDER BY id ASC"; break;
    case IncidentSort::due: sql += " ORDER BY due_key ASC, id ASC"; break;
    case IncidentSort::urgency: sql += " ORDER BY colour_rank DESC, due_key ASC, id ASC"; break;
  }
  sql += " LIMIT " + w.i64(static_cast<std::int64_t>(q.limit + 1));

  auto conn = m_pool.lease();
  const pg::Result r = conn->query(sql, w.params);
  IncidentPage page;
  IncidentCursor last;
  for (int row = 0; row < r.rows(); ++row) {
    if (page.items.size() == q.limit) {
      page.next = last;
      break;
    }
    page.items.push_back(read_incident(r, row));
    last.id = page.items.back().id;
    last.rank = static_cast<int>(r.i64(row, k_incident_column_count));
    last.due = r.text(row, k_incident_column_count + 1);
  }
  return page;
}

std::int64_t PgIncidentStore::count(const IncidentFilter& filter, const ColourClock& clock) {
  Query w(&clock);
  build_where(w, filter);
  auto conn = m_pool.lease();
  const pg::Result r = conn->query("SELECT COUNT(*) FROM incidents" + w.where, w.params);
  return r.rows() ? r.i64(0, 0) : 0;
}

std::vector<IncidentEvent> PgIncidentStore::history(std::int64_t incident_id) {
  auto conn = m_pool.lease();
  const pg::Result r =
      conn->query(std::string("SELECT ") + k_event_columns + " FROM incident_events WHERE incident_id = $1::bigint ORDER BY id",
                  pg::Params().i64(incident_id));
  std::vector<IncidentEvent> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int row = 0; row < r.rows(); ++row) out.push_back(read_event(r, row));
  return out;
}

std::vector<StatsRow> PgIncidentStore::stats(const StatsQuery& q) {
  Query w(&q.clock);
  build_where(w, q.filter);
  std::string key;
  switch (q.group) {
    case StatsGroup::grid: key = k_chain_columns[static_cast<int>(q.level)]; break;
    case StatsGroup::category: key = "category"; break;
    case StatsGroup::channel: key = "channel"; break;
    case StatsGroup::assignee: key = "assignee_name"; break;
    case StatsGroup::day:
      key = "to_char((created_at::timestamptz AT TIME ZONE 'UTC') + make_interval(mins => " +
            w.i64(q.utc_offset_minutes, "::integer") + "), 'YYYY-MM-DD')";
      break;
  }
  const std::string now = w.now();
  const std::string running =
      "(status IN ('dispatched','accepted','returned','escalated') AND dispatched_at IS NOT NULL)";
  const std::string sql =
      "SELECT CAST(" + key + " AS text) COLLATE \"C\" AS k, COUNT(*), "
      "COUNT(*) FILTER (WHERE status NOT IN ('closed','rejected')), COUNT(*) FILTER (WHERE status = 'closed'), "
      "COUNT(*) FILTER (WHERE status = 'rejected'), "
      "COUNT(*) FILTER (WHERE resolved_at IS NOT NULL AND due_at IS NOT NULL AND resolved_at <= due_at COLLATE \"C\"), "
      "COUNT(*) FILTER (WHERE resolved_at IS NOT NULL AND due_at IS NOT NULL), "
      "COUNT(*) FILTER (WHERE " + running + " AND due_at IS NOT NULL AND due_at < " + now + " COLLATE \"C\"), "
      "AVG(CASE WHEN status = 'closed' AND closed_at IS NOT NULL "
      "THEN EXTRACT(EPOCH FROM (closed_at::timestamptz - created_at::timestamptz)) / 3600.0 END), "
      "AVG(satisfaction), COUNT(satisfaction) FROM incidents" +
      w.where + " GROUP BY k ORDER BY k NULLS FIRST";
  auto conn = m_pool.lease();
  const pg::Result r = conn->query(sql, w.params);
  std::vector<StatsRow> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int row = 0; row < r.rows(); ++row) {
    StatsRow s;
    s.key = r.text(row, 0);
    s.received = r.i64(row, 1);
    s.open = r.i64(row, 2);
    s.closed = r.i64(row, 3);
    s.rejected = r.i64(row, 4);
    s.resolved_on_time = r.i64(row, 5);
    s.resolved_with_deadline = r.i64(row, 6);
    s.overdue = r.i64(row, 7);
    if (!r.null(row, 8)) s.avg_hours_to_close = r.dbl(row, 8);
    if (!r.null(row, 9)) s.avg_satisfaction = r.dbl(row, 9);
    s.satisfaction_count = r.i64(row, 10);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<IncidentCluster> PgIncidentStore::clusters(const std::array<double, 4>& b, int cols, int rows,
                                                       const ColourClock& clock,
                                                       const std::optional<std::pair<Level, std::int64_t>>& subtree) {
  cols = std::max(cols, 1);
  rows = std::max(rows, 1);
  const double cw = (b[2] - b[0]) / cols, ch = (b[3] - b[1]) / rows;
  if (!(cw > 0) || !(ch > 0)) return {};
  Query w(&clock);
  const std::string minx = w.dbl(b[0]);
  const std::string miny = w.dbl(b[1]);
  const std::string maxx = w.dbl(b[2]);
  const std::string maxy = w.dbl(b[3]);
  const std::string cwp = w.dbl(cw);
  const std::string chp = w.dbl(ch);
  const std::string last_col = w.i64(cols - 1);
  const std::string last_row = w.i64(rows - 1);
  const std::string colour = w.colour();
  // Open incidents through the partial GiST index; the stored point decides.
  std::string inner = "SELECT ST_X(geom) AS x, ST_Y(geom) AS y, " + colour +
                      " AS rank FROM incidents WHERE geom && ST_MakeEnvelope(" + minx + ", " + miny + ", " + maxx +
                      ", " + maxy + ", 4326) AND status NOT IN ('closed', 'rejected')";
  if (subtree) {
    inner += std::string(" AND ") + k_chain_columns[static_cast<int>(subtree->first)] + " = " + w.i64(subtree->second);
  }
  // x >= minx and y >= miny here: floor() is the truncation SQLite's CAST does.
  const std::string sql =
      "SELECT LEAST(floor((x - " + minx + ") / " + cwp + ")::bigint, " + last_col + ") AS cx, LEAST(floor((y - " +
      miny + ") / " + chp + ")::bigint, " + last_row + ") AS cy, COUNT(*), AVG(x), AVG(y), "
      "COUNT(*) FILTER (WHERE rank = 0), COUNT(*) FILTER (WHERE rank = 1), COUNT(*) FILTER (WHERE rank = 2), "
      "COUNT(*) FILTER (WHERE rank = 3), COUNT(*) FILTER (WHERE rank = 4) FROM (" +
      inner + ") AS open_incidents WHERE x BETWEEN " + minx + " AND " + maxx + " AND y BETWEEN " + miny + " AND " +
      maxy + " GROUP BY cx, cy ORDER BY cx, cy";
  auto conn = m_pool.lease();
  const pg::Result r = conn->query(sql, w.params);
  std::vector<IncidentCluster> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int row = 0; row < r.rows(); ++row) {
    IncidentCluster c;
    c.count = r.i64(row, 2);
    c.lon = r.dbl(row, 3);
    c.lat = r.dbl(row, 4);
    for (int k = 0; k < 5; ++k) c.colours[static_cast<std::size_t>(k)] = r.i64(row, 5 + k);
    out.push_back(c);
  }
  return out;
}

void PgIncidentStore::for_each_open(const std::function<void(const Incident&)>& visit) {
  // In batches (a result is held in memory whole), all from one snapshot.
  constexpr std::int64_t k_batch = 5000;
  auto conn = m_pool.lease();
  pg::Transaction tx(*conn);
  conn->exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  std::int64_t after = 0;  // ids start at 1
  Incident i;
  for (;;) {
    const pg::Result r = conn->query(
        "SELECT id, version, ST_X(geom), ST_Y(geom), status, dispatched_at, due_at, near_due_at FROM incidents "
        "WHERE status NOT IN ('closed', 'rejected') AND id > $1::bigint ORDER BY id LIMIT $2::bigint",
        pg::Params().i64(after).i64(k_batch));
    for (int row = 0; row < r.rows(); ++row) {
      i.id = r.i64(row, 0);
      i.version = r.i64(row, 1);
      i.lon = r.dbl(row, 2);
      i.lat = r.dbl(row, 3);
      i.status = try_parse_incident_status(r.text(row, 4)).value_or(IncidentStatus::reported);
      i.dispatched_at = r.text(row, 5);
      i.due_at = r.text(row, 6);
      i.near_due_at = r.text(row, 7);
      visit(i);
      after = i.id;
    }
    if (r.rows() < k_batch) break;
  }
  tx.commit();
}

std::vector<FeedItem> PgIncidentStore::events_after(std::int64_t after_id, const FeedFilter& filter,
                                                    std::size_t limit) {
  Query w;
  std::string sql = "SELECT " + prefixed(k_event_columns, "e.") + ", " + incident_select("i.") +
                    " FROM incident_events e JOIN incidents i ON i.id = e.incident_id WHERE e.id > " + w.i64(after_id);
  if (filter.subtree) {
    sql += std::string(" AND i.") + k_chain_columns[static_cast<int>(filter.subtree->first)] + " = " +
           w.i64(filter.subtree->second);
  }
  if (!filter.categories.empty()) {
    sql += " AND i.category = ANY(" + w.text(text_array(filter.categories), "::text[]") + ")";
  }
  sql += " ORDER BY e.id LIMIT " + w.i64(static_cast<std::int64_t>(limit));
  auto conn = m_pool.lease();
  const pg::Result r = conn->query(sql, w.params);
  std::vector<FeedItem> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int row = 0; row < r.rows(); ++row) {
    FeedItem item;
    item.event = read_event(r, row, 0);
    item.incident = read_incident(r, row, k_event_column_count);
    out.push_back(std::move(item));
  }
  return out;
}

std::int64_t PgIncidentStore::last_event_id() {
  auto conn = m_pool.lease();
  const pg::Result r = conn->query("SELECT COALESCE(MAX(id), 0) FROM incident_events");
  return r.rows() ? r.i64(0, 0) : 0;
}

void PgIncidentStore::add_attachment(Attachment& a) {
  std::int64_t id = 0;
  {
    auto conn = m_pool.lease();
    pg::Transaction tx(*conn);
    // FOR KEY SHARE: the incident cannot go away before the attachment commits.
    const pg::Result cur =
        conn->query("SELECT 1 FROM incidents WHERE id = $1::bigint FOR KEY SHARE", pg::Params().i64(a.incident_id));
    if (cur.rows() == 0) {
      throw_not_found("incident_not_found", "no incident with id " + std::to_string(a.incident_id), "id");
    }
    const pg::Result r = conn->query(
        "INSERT INTO incident_attachments (incident_id, filename, media_type, size, width, height, created_at, data) "
        "VALUES ($1::bigint, $2::text, $3::text, $4::bigint, $5::integer, $6::integer, $7::text, $8::bytea) "
        "RETURNING id",
        pg::Params()
            .i64(a.incident_id)
            .opt_text(a.filename)
            .text(a.media_type)
            .i64(a.size)
            .i64(a.width)
            .i64(a.height)
            .text(a.created_at)
            .bytes(a.data));
    id = r.i64(0, 0);
    pg_notify_change(*conn, m_instance, "incidents");
    tx.commit();
  }
  a.id = id;
}

std::optional<Attachment> PgIncidentStore::attachment(std::int64_t id, bool with_data) {
  auto conn = m_pool.lease();
  const pg::Result r =
      conn->query(std::string("SELECT id, incident_id, filename, media_type, size, width, height, created_at") +
                      (with_data ? ", data" : "") + " FROM incident_attachments WHERE id = $1::bigint",
                  pg::Params().i64(id));
  if (r.rows() == 0) return std::nullopt;
  return read_attachment(r, 0, with_data);
}

std::vector<Attachment> PgIncidentStore::attachments_of(std::int64_t incident_id) {
  auto conn = m_pool.lease();
  const pg::Result r = conn->query(
      "SELECT id, incident_id, filename, media_type, size, width, height, created_at FROM incident_attachments "
      "WHERE incident_id = $1::bigint ORDER BY id",
      pg::Params().i64(incident_id));
  std::vector<Attachment> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int row = 0; row < r.rows(); ++row) out.push_back(read_attachment(r, row, false));
  return out;
}

}  // namespace gridd::storage
