#pragma once
/// @file incident_rows.hpp
/// The incident tables as both stores see them, written once: the column
/// lists with their types (the GeoPackage layers are created from them and
/// the PostgreSQL schema is checked against them), the mapping between rows
/// and Incident / IncidentEvent / Attachment, and the SQL of every query
/// (filters, the deadline colour, keyset paging, statistics, clusters, the
/// feed), parameterised by a small dialect. A store only runs the
/// statements and hands the rows back. Private to the storage layer.
///
/// SQL text comes from fixed fragments only; every value is a bound
/// parameter. Text instants compare bytewise (COLLATE "C" on PostgreSQL, as
/// SQLite compares), so both stores give the same answers.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gridd/core/json.hpp"
#include "gridd/storage/incident_store.hpp"
#include "sql_builder.hpp"

namespace gridd::storage::rows {

/// The incidents table: `id`, the point `geom`, then these, in this order.
std::span<const Column> incident_columns();
/// The incident_events table: `id`, then these.
std::span<const Column> event_columns();
/// The incident_attachments table: `id`, then these (`data` last).
std::span<const Column> attachment_columns();

// ---------------------------------------------------------------------------
// Row mapping. A Row gives columns by 0-based index: null, i64, dbl,
// boolean, text (empty for NULL) and blob.
// ---------------------------------------------------------------------------

/// Number of columns incident_select() gives: id, x, y and the data columns.
int incident_select_width();
/// Number of columns event_select() gives.
int event_select_width();

/// The select list read_incident() reads, each column with `prefix`.
std::string incident_select(Dialect d, std::string_view prefix = "");
/// The select list read_event() reads.
std::string event_select(std::string_view prefix = "");
/// The select list read_attachment() reads (with `data` last when asked).
std::string attachment_select(bool with_data);

/// The data columns of `i`, in the order of incident_columns().
std::vector<SqlValue> incident_values(const Incident& i);
/// The columns of `e` but its id, in the order of event_columns().
std::vector<SqlValue> event_values(const IncidentEvent& e);
/// The columns of `a` but its id, in the order of attachment_columns().
std::vector<SqlValue> attachment_values(const Attachment& a);

template <class Row>
Incident read_incident(const Row& r, int first = 0) {
  Incident i;
  int c = first;
  i.id = r.i64(c++);
  i.lon = r.dbl(c++);
  i.lat = r.dbl(c++);
  i.category = r.text(c++);
  i.description = r.text(c++);
  i.address = r.text(c++);
  i.channel = r.text(c++);
  i.priority = parse_priority(r.text(c++));
  i.status = try_parse_incident_status(r.text(c++)).value_or(IncidentStatus::reported);
  i.version = r.i64(c++);
  i.reported_position = parse_json_or(r.text(c++), Json::object());
  i.reporter_name = r.text(c++);
  i.reporter_phone = r.text(c++);
  i.grid_id = r.i64(c++);
  i.grid_code = r.text(c++);
  i.grid_name = r.text(c++);
  for (auto& id : i.chain) id = r.i64(c++);
  i.covered = r.boolean(c++);
  i.distance_m = r.dbl(c++);
  i.assignee_name = r.text(c++);
  i.assignee_phone = r.text(c++);
  i.handler = r.text(c++);
  i.escalation_level = static_cast<int>(r.i64(c++));
  i.created_at = r.text(c++);
  i.updated_at = r.text(c++);
  i.dispatched_at = r.text(c++);
  i.due_at = r.text(c++);
  i.near_due_at = r.text(c++);
  i.resolved_at = r.text(c++);
  i.closed_at = r.text(c++);
  if (!r.null(c)) i.satisfaction = static_cast<int>(r.i64(c));
  ++c;
  i.attributes = parse_json_or(r.text(c++), Json::object());
  i.grid_version = r.i64(c++);
  i.tracking_code = r.text(c++);
  return i;
}

template <class Row>
IncidentEvent read_event(const Row& r, int first = 0) {
  IncidentEvent e;
  int c = first;
  e.id = r.i64(c++);
  e.incident_id = r.i64(c++);
  e.version = r.i64(c++);
  e.action = r.text(c++);
  e.from = try_parse_incident_status(r.text(c++));
  e.to = try_parse_incident_status(r.text(c++)).value_or(IncidentStatus::reported);
  e.actor = r.text(c++);
  e.note = r.text(c++);
  e.at = r.text(c++);
  e.grid_id = r.i64(c++);
  e.data = parse_json_or(r.text(c++), Json::object());
  const Json att = parse_json_or(r.text(c++), Json::array());
  if (att.is_array()) {
    for (const auto& a : att) {
      if (a.is_number_integer()) e.attachments.push_back(a.get<std::int64_t>());
    }
  }
  return e;
}

template <class Row>
Attachment read_attachment(const Row& r, bool with_data) {
  Attachment a;
  a.id = r.i64(0);
  a.incident_id = r.i64(1);
  a.filename = r.text(2);
  a.media_type = r.text(3);
  a.size = r.i64(4);
  a.width = static_cast<int>(r.i64(5));
  a.height = static_cast<int>(r.i64(6));
  a.created_at = r.text(7);
  if (with_data) a.data = r.blob(8);
  return a;
}

/// The columns of for_each_open()'s rows (id, version, x, y, status and
/// the deadline instants) read back.
template <class Row>
Incident read_open_incident(const Row& r) {
  Incident i;
  i.id = r.i64(0);
  i.version = r.i64(1);
  i.lon = r.dbl(2);
  i.lat = r.dbl(3);
  i.status = try_parse_incident_status(r.text(4)).value_or(IncidentStatus::reported);
  i.dispatched_at = r.text(5);
  i.due_at = r.text(6);
  i.near_due_at = r.text(7);
  return i;
}

template <class Row>
StatsRow read_stats_row(const Row& r) {
  StatsRow s;
  s.key = r.text(0);
  s.received = r.i64(1);
  s.open = r.i64(2);
  s.closed = r.i64(3);
  s.rejected = r.i64(4);
  s.resolved_on_time = r.i64(5);
  s.resolved_with_deadline = r.i64(6);
  s.overdue = r.i64(7);
  if (!r.null(8)) s.avg_hours_to_close = r.dbl(8);
  if (!r.null(9)) s.avg_satisfaction = r.dbl(9);
  s.satisfaction_count = r.i64(10);
  return s;
}

template <class Row>
IncidentCluster read_cluster(const Row& r) {
  IncidentCluster c;
  c.count = r.i64(2);
  c.lon = r.dbl(3);
  c.lat = r.dbl(4);
  for (int k = 0; k < 5; ++k) c.colours[static_cast<std::size_t>(k)] = r.i64(5 + k);
  return c;
}

/// Reads a list's row: the incident, and the keyset cursor after it.
template <class Row>
Incident read_listed(const Row& r, IncidentCursor& cursor) {
  Incident i = read_incident(r);
  cursor.id = i.id;
  cursor.rank = static_cast<int>(r.i64(incident_select_width()));
  cursor.due = r.text(incident_select_width() + 1);
  return i;
}

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

/// INSERT of an incident: the point (lon, lat) first, then incident_values();
/// on PostgreSQL it returns the id.
Statement insert_incident(Dialect d, const Incident& i);
/// UPDATE of incident i.id if its stored version is `expected_version`
/// (no row changes otherwise).
Statement update_incident(Dialect d, const Incident& i, std::int64_t expected_version);
/// The stored version of incident `id` (no row when there is none).
Statement incident_version(Dialect d, std::int64_t id);
/// INSERT of an event (its incident_id set); on PostgreSQL it returns the id.
Statement insert_event(Dialect d, const IncidentEvent& e);
/// INSERT of an attachment; on PostgreSQL it returns the id.
Statement insert_attachment(Dialect d, const Attachment& a);

Statement get_incident(Dialect d, std::int64_t id);
/// The incident whose tracking code is `code` (codes are unique).
Statement get_incident_by_tracking_code(Dialect d, const std::string& code);
/// A page of `q` plus one row (its presence says more follow); rows are read
/// with read_listed().
Statement list_incidents(Dialect d, const IncidentQuery& q);
Statement count_incidents(Dialect d, const IncidentFilter& f, const ColourClock& clock);
Statement history(Dialect d, std::int64_t incident_id);
Statement stats(Dialect d, const StatsQuery& q);
/// Open incidents in `bbox` counted on a cols x rows grid (cols, rows >= 1
/// and a non-empty box); rows are read with read_cluster().
Statement clusters(Dialect d, const std::array<double, 4>& bbox, int cols, int rows, const ColourClock& clock,
                   const std::optional<std::pair<Level, std::int64_t>>& subtree);
/// Open incidents with id > after_id, by id, at most `limit` (0: all).
Statement open_incidents(Dialect d, std::int64_t after_id, std::int64_t limit);
/// Events after `after_id` with their incidents (event columns first).
Statement events_after(Dialect d, std::int64_t after_id, const FeedFilter& f, std::size_t limit);
Statement last_event_id();
/// Whether incident `id` exists (on PostgreSQL it is locked against deletion).
Statement incident_exists(Dialect d, std::int64_t id);
Statement attachment(Dialect d, std::int64_t id, bool with_data);
Statement attachments_of(Dialect d, std::int64_t incident_id);

/// The not_found / stale_version error for an update that changed nothing;
/// `stored` is the version found (nullopt: no such incident).
[[noreturn]] void throw_update_refused(std::int64_t id, std::optional<std::int64_t> stored,
                                       std::int64_t expected_version);

}  // namespace gridd::storage::rows
