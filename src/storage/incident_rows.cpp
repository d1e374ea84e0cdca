#include "incident_rows.hpp"

#include <algorithm>
#include <array>

#include "gridd/core/error.hpp"

namespace gridd::storage::rows {

namespace {

constexpr Column k_incident_columns[] = {
    {"category", SqlType::text},          {"description", SqlType::text},
    {"address", SqlType::text},           {"channel", SqlType::text},
    {"priority", SqlType::text},          {"status", SqlType::text},
    {"version", SqlType::bigint},         {"reported_position", SqlType::json},
    {"reporter_name", SqlType::text},     {"reporter_phone", SqlType::text},
    {"grid_id", SqlType::bigint},         {"grid_code", SqlType::text},
    {"grid_name", SqlType::text},         {"chain_district", SqlType::bigint},
    {"chain_street", SqlType::bigint},    {"chain_community", SqlType::bigint},
    {"chain_grid", SqlType::bigint},      {"chain_micro_grid", SqlType::bigint},
    {"covered", SqlType::boolean},        {"distance_m", SqlType::real},
    {"assignee_name", SqlType::text},     {"assignee_phone", SqlType::text},
    {"handler", SqlType::text},           {"escalation_level", SqlType::integer},
    {"created_at", SqlType::instant},     {"updated_at", SqlType::instant},
    {"dispatched_at", SqlType::instant},  {"due_at", SqlType::instant},
    {"near_due_at", SqlType::instant},    {"resolved_at", SqlType::instant},
    {"closed_at", SqlType::instant},      {"satisfaction", SqlType::integer},
    {"attributes", SqlType::json},        {"grid_version", SqlType::bigint},
    {"tracking_code", SqlType::text},
};

constexpr Column k_event_columns[] = {
    {"incident_id", SqlType::bigint}, {"version", SqlType::bigint},   {"action", SqlType::text},
    {"from_status", SqlType::text},   {"to_status", SqlType::text},   {"actor", SqlType::text},
    {"note", SqlType::text},          {"at", SqlType::instant},       {"grid_id", SqlType::bigint},
    {"data", SqlType::json},          {"attachments", SqlType::json},
};

constexpr Column k_attachment_columns[] = {
    {"incident_id", SqlType::bigint}, {"filename", SqlType::text}, {"media_type", SqlType::text},
    {"size", SqlType::bigint},        {"width", SqlType::integer}, {"height", SqlType::integer},
    {"created_at", SqlType::instant}, {"data", SqlType::bytes},
};

/// The subtree filter's column per level.
const char* const k_chain_columns[5] = {"chain_district", "chain_street", "chain_community", "chain_grid",
                                        "chain_micro_grid"};

/// A statement under construction: parameters are numbered in the order
/// they are added. Each instant of the colour clock is added at its first
/// use (a PostgreSQL statement must use every parameter it is given).
class Query : public SqlBuilder {
 public:
  explicit Query(Dialect d, const ColourClock* clock = nullptr) : SqlBuilder(d), m_clock(clock) {}

  std::string where = " WHERE 1 = 1";

  void add(const std::string& fragment) { where += " AND " + fragment; }

  /// The colour of a row as a number (Colour's values): deadline_colour()
  /// of core/incident.hpp on the stored ISO instants, NULL being "none".
  std::string colour() {
    std::string running;
    for (const auto s : all_incident_statuses()) {
      if (!deadline_running(s)) continue;
      running += running.empty() ? "'" : ",'";
      running.append(to_string(s)).append("'");
    }
    const std::string n = now();
    const std::string e = day_end();
    const std::string c = collate();
    return "(CASE WHEN status IN (" + running + ") AND dispatched_at IS NOT NULL THEN (CASE WHEN due_at IS NULL THEN " +
           std::to_string(static_cast<int>(Colour::on_track)) + " WHEN due_at < " + n + c + " THEN " +
           std::to_string(static_cast<int>(Colour::overdue)) + " WHEN due_at < " + e + c + " THEN " +
           std::to_string(static_cast<int>(Colour::due_today)) + " WHEN near_due_at IS NOT NULL AND near_due_at <= " +
           n + c + " THEN " + std::to_string(static_cast<int>(Colour::near_due)) + " ELSE " +
           std::to_string(static_cast<int>(Colour::on_track)) + " END) ELSE " +
           std::to_string(static_cast<int>(Colour::none)) + " END)";
  }
  /// The clock's now; an unset clock compares before every instant.
  const std::string& now() {
    if (m_now.empty()) m_now = text(m_clock && !m_clock->now.empty() ? m_clock->now : std::string("0000"));
    return m_now;
  }
  const std::string& day_end() {
    if (m_day_end.empty()) {
      m_day_end = text(m_clock && !m_clock->day_end.empty() ? m_clock->day_end : std::string("0000"));
    }
    return m_day_end;
  }

  /// `column IN (...)` over texts.
  void in_list(const std::string& column, const std::vector<std::string>& items) {
    if (items.empty()) return;
    if (dialect() == Dialect::postgres) {
      // One parameter whatever the count: one prepared statement.
      add(column + " = ANY(" + param(text_array(items), SqlType::text) + "[])");
      return;
    }
    std::string f = column + " IN (";
    for (std::size_t i = 0; i < items.size(); ++i) f += (i ? "," : "") + text(items[i]);
    add(f + ")");
  }

 private:
  /// A PostgreSQL array literal of texts: {"a","b \"c\""}.
  static std::string text_array(const std::vector<std::string>& items) {
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
    return out + '}';
  }

  const ColourClock* m_clock;
  std::string m_now;
  std::string m_day_end;
};

void filter_where(Query& w, const IncidentFilter& f) {
  if (f.bbox) w.add(w.in_box("incidents", *f.bbox));
  if (f.subtree) {
    w.add(std::string(k_chain_columns[static_cast<int>(f.subtree->first)]) + " = " + w.i64(f.subtree->second));
  }
  std::vector<std::string> statuses;
  for (auto s : f.statuses) statuses.emplace_back(to_string(s));
  w.in_list("status", statuses);
  w.in_list("category", f.categories);
  w.in_list("channel", f.channels);
  if (!f.colours.empty()) {
    const std::string colour = w.colour();
    std::string list;
    for (std::size_t i = 0; i < f.colours.size(); ++i) {
      list += (i ? "," : "") + w.param(std::int64_t{static_cast<int>(f.colours[i])}, SqlType::integer);
    }
    w.add(colour + " IN (" + list + ")");
  }
  if (f.covered) w.add("covered = " + w.param(std::int64_t{*f.covered ? 1 : 0}, SqlType::boolean));
  if (!f.assignee.empty()) w.add("assignee_name = " + w.text(f.assignee));
  if (!f.assignee_phone.empty()) w.add("assignee_phone = " + w.text(f.assignee_phone));
  if (!f.created_from.empty()) w.add("created_at >= " + w.text(f.created_from) + w.collate());
  if (!f.created_to.empty()) w.add("created_at < " + w.text(f.created_to) + w.collate());
}

/// A column list, each name with a prefix.
template <class Columns>
std::string names(const Columns& columns, std::string_view prefix) {
  std::string out;
  for (const auto& c : columns) {
    if (!out.empty()) out += ", ";
    out.append(prefix).append(c.name);
  }
  return out;
}

/// The placeholders of `values` (added to `q`) typed as `columns`.
template <class Columns>
std::string placeholders(Query& q, const Columns& columns, std::vector<SqlValue> values) {
  std::string out;
  for (std::size_t k = 0; k < values.size(); ++k) {
    if (!out.empty()) out += ", ";
    out += q.param(std::move(values[k]), columns[k].type);
  }
  return out;
}

const char* returning_id(Dialect d) { return d == Dialect::postgres ? " RETURNING id" : ""; }

/// The due key of the due and urgency orders: incidents without a deadline last.
std::string due_key(const Query& q) { return std::string("(COALESCE(due_at, '~')") + q.collate() + ")"; }

}  // namespace

std::span<const Column> incident_columns() { return k_incident_columns; }
std::span<const Column> event_columns() { return k_event_columns; }
std::span<const Column> attachment_columns() { return k_attachment_columns; }

int incident_select_width() { return 3 + static_cast<int>(std::size(k_incident_columns)); }
int event_select_width() { return 1 + static_cast<int>(std::size(k_event_columns)); }

std::string incident_select(Dialect d, std::string_view p) {
  const Query q(d);
  return std::string(p) + "id, " + q.x(p) + ", " + q.y(p) + ", " + names(k_incident_columns, p);
}

std::string event_select(std::string_view p) { return std::string(p) + "id, " + names(k_event_columns, p); }

std::string attachment_select(bool with_data) {
  const std::span<const Column> cols(k_attachment_columns, std::size(k_attachment_columns) - (with_data ? 0 : 1));
  return "id, " + names(cols, "");
}

std::vector<SqlValue> incident_values(const Incident& i) {
  std::vector<SqlValue> v;
  v.reserve(std::size(k_incident_columns));
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
  v.emplace_back(opt_id(i.grid_id));
  v.emplace_back(opt_text(i.grid_code));
  v.emplace_back(opt_text(i.grid_name));
  for (auto id : i.chain) v.emplace_back(opt_id(id));
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
  v.emplace_back(i.satisfaction ? SqlValue(std::int64_t{*i.satisfaction}) : SqlValue(nullptr));
  v.emplace_back(i.attributes.dump());
  v.emplace_back(opt_id(i.grid_version));
  v.emplace_back(opt_text(i.tracking_code));
  return v;
}

std::vector<SqlValue> event_values(const IncidentEvent& e) {
  Json att = Json::array();
  for (auto id : e.attachments) att.push_back(id);
  return {e.incident_id,
          e.version,
          e.action,
          e.from ? SqlValue(std::string(to_string(*e.from))) : SqlValue(nullptr),
          std::string(to_string(e.to)),
          opt_text(e.actor),
          opt_text(e.note),
          e.at,
          opt_id(e.grid_id),
          e.data.dump(),
          att.dump()};
}

std::vector<SqlValue> attachment_values(const Attachment& a) {
  return {a.incident_id,           opt_text(a.filename),    a.media_type,  a.size, std::int64_t{a.width},
          std::int64_t{a.height},  a.created_at,            Blob{a.data}};
}

Statement insert_incident(Dialect d, const Incident& i) {
  Query q(d);
  const std::string point = q.point(i.lon, i.lat);
  const std::string data = placeholders(q, k_incident_columns, incident_values(i));
  return q.done("INSERT INTO incidents (geom, " + names(k_incident_columns, "") + ") VALUES (" + point + ", " + data +
                ")" + returning_id(d));
}

Statement update_incident(Dialect d, const Incident& i, std::int64_t expected_version) {
  Query q(d);
  std::string set = "geom = " + q.point(i.lon, i.lat);
  auto values = incident_values(i);
  for (std::size_t k = 0; k < values.size(); ++k) {
    set.append(", ").append(k_incident_columns[k].name).append(" = ");
    set += q.param(std::move(values[k]), k_incident_columns[k].type);
  }
  const std::string id = q.i64(i.id);
  const std::string version = q.i64(expected_version);
  return q.done("UPDATE incidents SET " + set + " WHERE id = " + id + " AND version = " + version);
}

Statement incident_version(Dialect d, std::int64_t id) {
  Query q(d);
  const std::string p = q.i64(id);
  return q.done("SELECT version FROM incidents WHERE id = " + p);
}

Statement insert_event(Dialect d, const IncidentEvent& e) {
  Query q(d);
  const std::string values = placeholders(q, k_event_columns, event_values(e));
  return q.done("INSERT INTO incident_events (" + names(k_event_columns, "") + ") VALUES (" + values + ")" +
                returning_id(d));
}

Statement insert_attachment(Dialect d, const Attachment& a) {
  Query q(d);
  const std::string values = placeholders(q, k_attachment_columns, attachment_values(a));
  return q.done("INSERT INTO incident_attachments (" + names(k_attachment_columns, "") + ") VALUES (" + values +
                ")" + returning_id(d));
}

Statement get_incident(Dialect d, std::int64_t id) {
  Query q(d);
  const std::string p = q.i64(id);
  return q.done("SELECT " + incident_select(d) + " FROM incidents WHERE id = " + p);
}

Statement get_incident_by_tracking_code(Dialect d, const std::string& code) {
  Query q(d);
  const std::string p = q.text(code);
  return q.done("SELECT " + incident_select(d) + " FROM incidents WHERE tracking_code = " + p);
}

Statement list_incidents(Dialect d, const IncidentQuery& query) {
  Query w(d, &query.clock);
  filter_where(w, query.filter);
  const std::string due = due_key(w);
  if (query.after) {
    const auto& a = *query.after;
    switch (query.sort) {
      case IncidentSort::newest: w.add("id < " + w.i64(a.id)); break;
      case IncidentSort::oldest: w.add("id > " + w.i64(a.id)); break;
      case IncidentSort::due: {
        const std::string d1 = w.text(a.due);
        const std::string i1 = w.i64(a.id);
        w.add("(" + due + " > " + d1 + " OR (" + due + " = " + d1 + " AND id > " + i1 + "))");
        break;
      }
      case IncidentSort::urgency: {
        const std::string rank = w.colour();
        const std::string r1 = w.param(std::int64_t{a.rank}, SqlType::integer);
        const std::string d1 = w.text(a.due);
        const std::string i1 = w.i64(a.id);
        w.add("(" + rank + " < " + r1 + " OR (" + rank + " = " + r1 + " AND (" + due + " > " + d1 + " OR (" + due +
              " = " + d1 + " AND id > " + i1 + "))))");
        break;
      }
    }
  }
  const std::string colour = w.colour();
  std::string sql = "SELECT " + incident_select(d) + ", " + colour + " AS colour_rank, " + due +
                    " AS due_key FROM incidents" + w.where;
  switch (query.sort) {
    case IncidentSort::newest: sql += " ORDER BY id DESC"; break;
    case IncidentSort::oldest: sql += " ORDER BY id ASC"; break;
    case IncidentSort::due: sql += " ORDER BY due_key ASC, id ASC"; break;
    case IncidentSort::urgency: sql += " ORDER BY colour_rank DESC, due_key ASC, id ASC"; break;
  }
  sql += " LIMIT " + w.i64(static_cast<std::int64_t>(query.limit + 1));
  return w.done(std::move(sql));
}

Statement count_incidents(Dialect d, const IncidentFilter& f, const ColourClock& clock) {
  Query w(d, &clock);
  filter_where(w, f);
  return w.done("SELECT COUNT(*) FROM incidents" + w.where);
}

Statement history(Dialect d, std::int64_t incident_id) {
  Query q(d);
  const std::string p = q.i64(incident_id);
  return q.done("SELECT " + event_select() + " FROM incident_events WHERE incident_id = " + p + " ORDER BY id");
}

Statement stats(Dialect d, const StatsQuery& query) {
  Query w(d, &query.clock);
  filter_where(w, query.filter);
  std::string key;
  switch (query.group) {
    case StatsGroup::grid: key = k_chain_columns[static_cast<int>(query.level)]; break;
    case StatsGroup::category: key = "category"; break;
    case StatsGroup::channel: key = "channel"; break;
    case StatsGroup::assignee: key = "assignee_name"; break;
    case StatsGroup::day:
      // The local date of created_at.
      if (d == Dialect::sqlite) {
        const int m = query.utc_offset_minutes;
        key = "date(created_at, " + w.text((m >= 0 ? "+" : "") + std::to_string(m) + " minutes") + ")";
      } else {
        key = "to_char((created_at::timestamptz AT TIME ZONE 'UTC') + make_interval(mins => " +
              w.param(std::int64_t{query.utc_offset_minutes}, SqlType::integer) + "), 'YYYY-MM-DD')";
      }
      break;
  }
  const std::string hours_to_close =
      d == Dialect::sqlite ? "(julianday(closed_at) - julianday(created_at)) * 24.0"
                           : "EXTRACT(EPOCH FROM (closed_at::timestamptz - created_at::timestamptz)) / 3600.0";
  const std::string c = w.collate();
  const std::string overdue = std::to_string(static_cast<int>(Colour::overdue));
  const std::string colour = w.colour();
  auto count_if = [](const std::string& cond) { return "COUNT(CASE WHEN " + cond + " THEN 1 END)"; };
  const std::string sql =
      "SELECT CAST(" + key + " AS TEXT)" + c + " AS k, COUNT(*), " + count_if("status NOT IN ('closed','rejected')") +
      ", " + count_if("status = 'closed'") + ", " + count_if("status = 'rejected'") + ", " +
      count_if("resolved_at IS NOT NULL AND due_at IS NOT NULL AND resolved_at <= due_at" + std::string(c)) + ", " +
      count_if("resolved_at IS NOT NULL AND due_at IS NOT NULL") + ", " + count_if(colour + " = " + overdue) +
      ", AVG(CASE WHEN status = 'closed' AND closed_at IS NOT NULL THEN " + hours_to_close +
      " END), AVG(satisfaction), COUNT(satisfaction) FROM incidents" + w.where + " GROUP BY k ORDER BY k NULLS FIRST";
  return w.done(sql);
}

Statement clusters(Dialect d, const std::array<double, 4>& b, int cols, int rows, const ColourClock& clock,
                   const std::optional<std::pair<Level, std::int64_t>>& subtree) {
  const double cw = (b[2] - b[0]) / cols, ch = (b[3] - b[1]) / rows;
  Query w(d, &clock);
  const std::string minx = w.dbl(b[0]), miny = w.dbl(b[1]), maxx = w.dbl(b[2]), maxy = w.dbl(b[3]);
  const std::string cwp = w.dbl(cw), chp = w.dbl(ch);
  const std::string last_col = w.i64(cols - 1), last_row = w.i64(rows - 1);
  const std::string colour = w.colour();
  // Open incidents through the spatial index (on PostgreSQL its partial
  // index of open incidents); the stored point decides.
  std::string inner = "SELECT " + w.x() + " AS x, " + w.y() + " AS y, " + colour + " AS rank FROM incidents WHERE ";
  inner += w.index_box("incidents", minx, miny, maxx, maxy) + " AND status NOT IN ('closed', 'rejected')";
  if (subtree) {
    inner += std::string(" AND ") + k_chain_columns[static_cast<int>(subtree->first)] + " = " + w.i64(subtree->second);
  }
  // The cell of a point (x >= minx, y >= miny here: floor is truncation),
  // the last cell holding the upper edge.
  auto cell = [&](const std::string& v, const std::string& min, const std::string& size, const std::string& last) {
    return d == Dialect::sqlite ? "MIN(CAST((" + v + " - " + min + ") / " + size + " AS INTEGER), " + last + ")"
                                : "LEAST(floor((" + v + " - " + min + ") / " + size + ")::bigint, " + last + ")";
  };
  std::string sql = "SELECT " + cell("x", minx, cwp, last_col) + " AS cx, " + cell("y", miny, chp, last_row) +
                    " AS cy, COUNT(*), AVG(x), AVG(y)";
  for (int k = 0; k < 5; ++k) sql += ", COUNT(CASE WHEN rank = " + std::to_string(k) + " THEN 1 END)";
  sql += " FROM (" + inner + ") AS open_incidents WHERE x BETWEEN " + minx + " AND " + maxx + " AND y BETWEEN " +
         miny + " AND " + maxy + " GROUP BY cx, cy ORDER BY cx, cy";
  return w.done(std::move(sql));
}

Statement open_incidents(Dialect d, std::int64_t after_id, std::int64_t limit) {
  Query q(d);
  std::string sql = "SELECT id, version, " + q.x() + ", " + q.y() +
                    ", status, dispatched_at, due_at, near_due_at FROM incidents WHERE status NOT IN "
                    "('closed', 'rejected') AND id > " + q.i64(after_id) + " ORDER BY id";
  if (limit > 0) sql += " LIMIT " + q.i64(limit);
  return q.done(std::move(sql));
}

Statement events_after(Dialect d, std::int64_t after_id, const FeedFilter& f, std::size_t limit) {
  Query w(d);
  w.where = " WHERE e.id > " + w.i64(after_id);
  if (f.subtree) {
    w.add(std::string("i.") + k_chain_columns[static_cast<int>(f.subtree->first)] + " = " + w.i64(f.subtree->second));
  }
  w.in_list("i.category", f.categories);
  const std::string sql = "SELECT " + event_select("e.") + ", " + incident_select(d, "i.") +
                          " FROM incident_events e JOIN incidents i ON i.id = e.incident_id" + w.where +
                          " ORDER BY e.id LIMIT " + w.i64(static_cast<std::int64_t>(limit));
  return w.done(sql);
}

Statement last_event_id() { return Statement{"SELECT COALESCE(MAX(id), 0) FROM incident_events", {}}; }

Statement incident_exists(Dialect d, std::int64_t id) {
  Query q(d);
  // FOR KEY SHARE: the incident cannot go away before the attachment commits.
  return q.done("SELECT 1 FROM incidents WHERE id = " + q.i64(id) + (d == Dialect::postgres ? " FOR KEY SHARE" : ""));
}

Statement attachment(Dialect d, std::int64_t id, bool with_data) {
  Query q(d);
  return q.done("SELECT " + attachment_select(with_data) + " FROM incident_attachments WHERE id = " + q.i64(id));
}

Statement attachments_of(Dialect d, std::int64_t incident_id) {
  Query q(d);
  return q.done("SELECT " + attachment_select(false) + " FROM incident_attachments WHERE incident_id = " +
                q.i64(incident_id) + " ORDER BY id");
}

void throw_update_refused(std::int64_t id, std::optional<std::int64_t> stored, std::int64_t expected_version) {
  if (!stored) throw_not_found("incident_not_found", "no incident with id " + std::to_string(id), "id");
  throw_conflict("stale_version",
                 "incident " + std::to_string(id) + " is at version " + std::to_string(*stored) + ", not " +
                     std::to_string(expected_version) + "; reload it and try again",
                 "version");
}

}  // namespace gridd::storage::rows
