// Unit tests for gridd/storage/incident_store.hpp through both
// implementations, the GeoPackage one (GpkgStore::incidents()) and the
// PostgreSQL/PostGIS one (PgIncidentStore on a fresh database of the test
// cluster): writes with optimistic versions, every listing filter against a
// brute-force filter, keyset paging in every order, deadline colours against
// colour_at(), statistics, the feed, attachments, persistence, the
// GeoPackage file as GDAL sees it, concurrent writers, and two PostGIS
// instances following each other's events.
//
// The "postgis" cases need the test cluster (GRIDD_TEST_PG_STATE or
// GRIDD_TEST_PG, see tests/common/pg_test_db.hpp); without it they fail.
#include <gtest/gtest.h>

#include <gdal_priv.h>
#include <ogrsf_frmts.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/core/incident.hpp"
#include "gridd/core/time.hpp"
#include "common/pg_test_db.hpp"
#include "gridd/storage/gpkg_store.hpp"
#include "gridd/storage/incident_store.hpp"
#include "gridd/storage/pg.hpp"
#include "gridd/storage/pg_schema.hpp"
#include "gridd/storage/pg_store.hpp"
#include "storage/incident_rows.hpp"
#include "storage/visit_rows.hpp"
#include "unit/test_util.hpp"

namespace gridd::storage {
namespace {

using test::expect_error;
using test::TempDir;
using namespace std::chrono;
using S = IncidentStatus;

TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, int ms = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi) + seconds(s) + milliseconds(ms);
}

std::string iso(TimePoint t) { return format_iso8601(t); }

std::optional<TimePoint> opt_time(const std::string& text) {
  if (text.empty()) return std::nullopt;
  auto t = try_parse_time(text, 0);
  EXPECT_TRUE(t.has_value()) << text;
  return t;
}

ColourClock clock_of(TimePoint now, int offset = 480) { return {iso(now), iso(local_day_end(now, offset))}; }

IncidentQuery query(const IncidentFilter& filter, TimePoint now = utc(2026, 11, 22, 2)) {
  IncidentQuery q;
  q.filter = filter;
  q.clock = clock_of(now);
  return q;
}

/// The colour the store must compute: colour_at() on the stored instants,
/// with the clock running only in the handling phase.
Colour expected_colour(const Incident& i, TimePoint now) {
  return colour_at(opt_time(i.dispatched_at), opt_time(i.due_at), deadline_running(i.status), now);
}

/// The keyset rank of a colour (urgency order: overdue first).
int rank_of(Colour c) { return static_cast<int>(c); }

/// Set the deadline fields as the service does: due and 3/4 mark from the dispatch instant.
void set_deadline(Incident& i, TimePoint dispatched, std::optional<TimePoint> due) {
  i.dispatched_at = iso(dispatched);
  if (due) {
    const auto total = *due - dispatched;
    i.due_at = iso(*due);
    i.near_due_at = iso(dispatched + (total - total / 4));
  } else {
    i.due_at.clear();
    i.near_due_at.clear();
  }
}

Incident make_incident(int n) {
  Incident i;
  i.category = "garbage";
  i.description = "incident #" + std::to_string(n) + " 垃圾";
  i.lon = 116.005 + (n % 10) * 0.02;
  i.lat = 39.905 + (n / 10 % 10) * 0.02;
  i.reported_position = Json{{"x", i.lon}, {"y", i.lat}, {"crs", "EPSG:4326"}};
  i.address = "仁和路 " + std::to_string(n) + " 号";
  i.channel = "api";
  i.priority = Priority::normal;
  i.reporter_name = "张三";
  i.reporter_phone = "1390000" + std::to_string(1000 + n);
  i.status = S::reported;
  i.version = 1;
  i.grid_id = 1000 + n % 10;
  i.grid_code = "G" + std::to_string(i.grid_id);
  i.grid_name = "网格 " + std::to_string(i.grid_id);
  i.chain = {1, 10 + (n % 10 >= 5 ? 1 : 0), 100 + (n % 10) / 3, i.grid_id, 0};
  i.covered = true;
  i.distance_m = 0;
  i.assignee_name = "Li Wei";
  i.assignee_phone = "13800000001";
  i.handler = "sanitation_department";
  i.created_at = iso(utc(2026, 11, 20) + minutes(n));
  i.updated_at = i.created_at;
  i.attributes = Json{{"n", n}, {"tags", Json::array({"a", "b"})}};
  return i;
}

IncidentEvent first_event(const Incident& i) {
  IncidentEvent e;
  e.version = 1;
  e.action = "report";
  e.to = S::reported;
  e.actor = "operator 1";
  e.at = i.created_at;
  e.grid_id = i.grid_id;
  e.data = Json{{"channel", i.channel}, {"covered", i.covered}};
  return e;
}

void expect_same(const Incident& a, const Incident& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.category, b.category);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.lon, b.lon);
  EXPECT_EQ(a.lat, b.lat);
  EXPECT_EQ(a.reported_position, b.reported_position);
  EXPECT_EQ(a.address, b.address);
  EXPECT_EQ(a.channel, b.channel);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.reporter_name, b.reporter_name);
  EXPECT_EQ(a.reporter_phone, b.reporter_phone);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.grid_id, b.grid_id);
  EXPECT_EQ(a.grid_code, b.grid_code);
  EXPECT_EQ(a.grid_name, b.grid_name);
  EXPECT_EQ(a.chain, b.chain);
  EXPECT_EQ(a.covered, b.covered);
  EXPECT_EQ(a.distance_m, b.distance_m);
  EXPECT_EQ(a.assignee_name, b.assignee_name);
  EXPECT_EQ(a.assignee_phone, b.assignee_phone);
  EXPECT_EQ(a.handler, b.handler);
  EXPECT_EQ(a.escalation_level, b.escalation_level);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.dispatched_at, b.dispatched_at);
  EXPECT_EQ(a.due_at, b.due_at);
  EXPECT_EQ(a.near_due_at, b.near_due_at);
  EXPECT_EQ(a.resolved_at, b.resolved_at);
  EXPECT_EQ(a.closed_at, b.closed_at);
  EXPECT_EQ(a.satisfaction, b.satisfaction);
  EXPECT_EQ(a.attributes, b.attributes);
}

void expect_same(const IncidentEvent& a, const IncidentEvent& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.incident_id, b.incident_id);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.action, b.action);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.actor, b.actor);
  EXPECT_EQ(a.note, b.note);
  EXPECT_EQ(a.at, b.at);
  EXPECT_EQ(a.grid_id, b.grid_id);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.attachments, b.attachments);
}

/// A PostgreSQL/PostGIS incident store on a fresh database of the test
/// cluster (with the schema), or on an existing one (`uri`).
struct PgFixture {
  std::unique_ptr<test::PgDatabase> db;
  std::unique_ptr<pg::Pool> pool;
  std::unique_ptr<PgIncidentStore> store;

  /// @throws std::runtime_error (the test fails) when there is no test cluster.
  static std::unique_ptr<test::PgDatabase> fresh_database() {
    if (!test::pg_admin_uri()) {
      throw std::runtime_error(
          "the postgis backend needs the PostgreSQL test cluster: set GRIDD_TEST_PG_STATE to the directory of "
          "scripts/pg-cluster.sh start DIR (or GRIDD_TEST_PG to an admin URI)");
    }
    return std::make_unique<test::PgDatabase>();
  }
  PgFixture() : db(fresh_database()) { open(db->uri()); }
  void open(const std::string& uri, const std::string& instance = "test") {
    store.reset();
    pool = std::make_unique<pg::Pool>(uri, 8);
    {
      auto c = pool->lease();
      pg::migrate(*c);
    }
    store = std::make_unique<PgIncidentStore>(*pool, instance);
  }
  /// Close every connection and open the same database anew.
  void reopen() {
    store.reset();
    pool.reset();
    open(db->uri());
  }
};

/// An incident store of either backend: "gpkg" (a GeoPackage in a temp dir)
/// or "postgis" (see PgFixture).
struct StoreFixture {
  explicit StoreFixture(const std::string& backend = "gpkg") {
    if (backend == "gpkg") {
      gpkg = std::make_unique<GpkgStore>(path);
    } else if (backend == "postgis") {
      pg = std::make_unique<PgFixture>();
    } else {
      throw std::invalid_argument("unknown backend " + backend);
    }
  }
  TempDir dir;
  std::string path = dir.file("incidents.gpkg");
  std::unique_ptr<GpkgStore> gpkg;
  std::unique_ptr<PgFixture> pg;
  IncidentStore& store() { return pg ? static_cast<IncidentStore&>(*pg->store) : gpkg->incidents(); }

  /// Insert incidents one transaction; returns them with ids.
  std::vector<Incident> insert(std::vector<Incident> incidents) {
    std::vector<IncidentEvent> events;
    for (const auto& i : incidents) events.push_back(first_event(i));
    store().insert(incidents, events);
    return incidents;
  }
};

// The fixed clock of the listing tests: 2026-11-22T02:00Z, 10:00 local.
const TimePoint k_now = utc(2026, 11, 22, 2);

/// A varied population: every status, three categories, two channels,
/// covered or not, four assignees, deadlines of every colour (including the
/// exact boundaries), shared deadlines (ties), non-monotonic creation times.
std::vector<Incident> population(int count, int first = 0) {
  const std::vector<S> statuses = all_incident_statuses();
  const char* categories[] = {"garbage", "structure", "noise"};
  const char* assignees[] = {"Li Wei", "Zhang San", "Wang Wu", ""};
  const char* phones[] = {"13800000001", "13800000002", "13800000003", ""};
  std::vector<Incident> out;
  for (int n = first; n < first + count; ++n) {
    Incident i = make_incident(n);
    i.category = categories[n % 3];
    i.channel = n % 4 == 0 ? "hotline" : "api";
    i.status = statuses[static_cast<std::size_t>(n) % statuses.size()];
    i.covered = n % 5 != 0;
    i.distance_m = i.covered ? 0.0 : 100.5 + n;
    i.assignee_name = assignees[(n / 2) % 4];
    // Two people share a name; the phone tells them apart.
    i.assignee_phone = n % 10 == 3 ? "13900000009" : phones[(n / 2) % 4];
    i.created_at = iso(utc(2026, 11, 17) + hours(3) * ((n * 37) % 60) + milliseconds(n));
    i.updated_at = i.created_at;
    if (n % 6 == 0) i.satisfaction = 1 + n % 5;
    if (n % 7 == 0) i.chain[4] = 5000 + n % 2;
    switch (n % 9) {
      case 0: break;                                                        // never dispatched
      case 1: set_deadline(i, k_now - hours(1), k_now + hours(71)); break;  // on track (shared due)
      case 2: set_deadline(i, k_now - hours(100), k_now + hours(20)); break;  // near due
      case 3: set_deadline(i, k_now - hours(90), k_now + hours(30)); break;   // near due exactly at now
      case 4: set_deadline(i, k_now - hours(19), k_now + hours(5)); break;    // due today
      case 5: set_deadline(i, k_now - hours(25), k_now - hours(1)); break;    // overdue
      case 6: set_deadline(i, k_now - hours(3), std::nullopt); break;         // dispatched, no deadline
      case 7: set_deadline(i, k_now - hours(10), k_now + hours(14)); break;   // due exactly at day end
      case 8: set_deadline(i, k_now - hours(24), k_now); break;               // due exactly now
    }
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<Incident> all_pages(IncidentStore& store, IncidentQuery q, std::size_t limit = 7) {
  q.limit = limit;
  std::vector<Incident> out;
  for (int guard = 0; guard < 1000; ++guard) {
    const IncidentPage page = store.list(q);
    EXPECT_LE(page.items.size(), limit);
    out.insert(out.end(), page.items.begin(), page.items.end());
    if (!page.next) return out;
    EXPECT_EQ(page.items.size(), limit) << "a page with a cursor must be full";
    q.after = page.next;
  }
  ADD_FAILURE() << "paging does not end";
  return out;
}

std::vector<std::int64_t> ids_of(const std::vector<Incident>& items) {
  std::vector<std::int64_t> ids;
  for (const auto& i : items) ids.push_back(i.id);
  return ids;
}

/// The sort key of an incident in an order (compared as a tuple).
std::tuple<int, std::string, std::int64_t> sort_key(const Incident& i, IncidentSort sort, TimePoint now) {
  const std::string due = i.due_at.empty() ? "~" : i.due_at;
  switch (sort) {
    case IncidentSort::newest: return {0, "", -i.id};
    case IncidentSort::oldest: return {0, "", i.id};
    case IncidentSort::due: return {0, due, i.id};
    case IncidentSort::urgency: return {-rank_of(expected_colour(i, now)), due, i.id};
  }
  return {};
}

std::vector<std::int64_t> expected_order(std::vector<Incident> items, IncidentSort sort, TimePoint now) {
  std::sort(items.begin(), items.end(),
            [&](const Incident& a, const Incident& b) { return sort_key(a, sort, now) < sort_key(b, sort, now); });
  return ids_of(items);
}

/// What a filter must select, evaluated in C++ on what was inserted.
bool matches(const Incident& i, const IncidentFilter& f, TimePoint now) {
  if (f.bbox) {
    const auto& b = *f.bbox;
    if (i.lon < b[0] || i.lon > b[2] || i.lat < b[1] || i.lat > b[3]) return false;
  }
  if (f.subtree && i.chain[static_cast<std::size_t>(f.subtree->first)] != f.subtree->second) return false;
  if (!f.statuses.empty() && std::find(f.statuses.begin(), f.statuses.end(), i.status) == f.statuses.end()) {
    return false;
  }
  if (!f.categories.empty() &&
      std::find(f.categories.begin(), f.categories.end(), i.category) == f.categories.end()) {
    return false;
  }
  if (!f.channels.empty() && std::find(f.channels.begin(), f.channels.end(), i.channel) == f.channels.end()) {
    return false;
  }
  if (!f.colours.empty() &&
      std::find(f.colours.begin(), f.colours.end(), expected_colour(i, now)) == f.colours.end()) {
    return false;
  }
  if (f.covered && i.covered != *f.covered) return false;
  if (!f.assignee.empty() && i.assignee_name != f.assignee) return false;
  if (!f.assignee_phone.empty() && i.assignee_phone != f.assignee_phone) return false;
  if (!f.created_from.empty() && i.created_at < f.created_from) return false;
  if (!f.created_to.empty() && i.created_at >= f.created_to) return false;
  return true;
}

/// The backends every store test runs against.
const auto k_backends = ::testing::Values(std::string("gpkg"), std::string("postgis"));
std::string backend_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

/// Store tests over each backend (the parameter).
class IncidentStoreTest : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Backends, IncidentStoreTest, k_backends, backend_name);

// ---------------------------------------------------------------------------
// Schema: both backends' tables hold exactly incident_rows' columns
// ---------------------------------------------------------------------------

/// The columns of `table` in order, as the backend's catalogue lists them.
std::vector<std::string> table_columns(StoreFixture& f, const std::string& table) {
  std::vector<std::string> out;
  if (f.pg) {
    pg::Connection c(f.pg->db->uri());
    const auto r = c.query(
        "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1::text ORDER BY ordinal_position",
        pg::Params().text(table));
    for (int row = 0; row < r.rows(); ++row) out.push_back(r.text(row, 0));
    return out;
  }
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(f.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  const std::string sql = "SELECT name FROM pragma_table_info('" + table + "') ORDER BY cid";
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::vector<std::string> expected_columns(std::vector<std::string> leading, std::span<const rows::Column> columns) {
  for (const auto& c : columns) leading.emplace_back(c.name);
  return leading;
}

TEST_P(IncidentStoreTest, TablesHoldExactlyTheColumnsOfTheRowMapping) {
  StoreFixture f(GetParam());
  EXPECT_EQ(table_columns(f, "incidents"), expected_columns({"id", "geom"}, rows::incident_columns()));
  EXPECT_EQ(table_columns(f, "incident_events"), expected_columns({"id"}, rows::event_columns()));
  EXPECT_EQ(table_columns(f, "incident_attachments"), expected_columns({"id"}, rows::attachment_columns()));
  EXPECT_EQ(table_columns(f, "visits"), expected_columns({"id", "geom"}, rows::visit_columns()));
  EXPECT_EQ(table_columns(f, "visit_photos"), expected_columns({"id"}, rows::visit_photo_columns()));
}

// ---------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------

TEST_P(IncidentStoreTest, InsertAssignsIdsAndTheFirstEvent) {
  StoreFixture f(GetParam());
  EXPECT_EQ(f.store().last_event_id(), 0);
  std::vector<Incident> incidents = {make_incident(1), make_incident(2), make_incident(3)};
  std::vector<IncidentEvent> events;
  for (const auto& i : incidents) events.push_back(first_event(i));
  f.store().insert(incidents, events);
  std::set<std::int64_t> ids, event_ids;
  for (std::size_t k = 0; k < incidents.size(); ++k) {
    EXPECT_GT(incidents[k].id, 0);
    EXPECT_GT(events[k].id, 0);
    EXPECT_EQ(events[k].incident_id, incidents[k].id);
    if (k) {
      EXPECT_GT(incidents[k].id, incidents[k - 1].id);
      EXPECT_GT(events[k].id, events[k - 1].id);
    }
    ids.insert(incidents[k].id);
    event_ids.insert(events[k].id);
    const auto history = f.store().history(incidents[k].id);
    ASSERT_EQ(history.size(), 1u);
    expect_same(history[0], events[k]);
    EXPECT_EQ(history[0].action, "report");
    EXPECT_FALSE(history[0].from.has_value());
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(event_ids.size(), 3u);
  EXPECT_EQ(f.store().last_event_id(), events.back().id);
  EXPECT_EQ(f.store().count({}, clock_of(k_now)), 3);

  // A second batch continues the numbering.
  auto more = f.insert({make_incident(4)});
  EXPECT_GT(more[0].id, incidents.back().id);
  EXPECT_GT(f.store().last_event_id(), events.back().id);

  // Nothing to insert is a no-op; mismatched events are refused and write nothing.
  std::vector<Incident> none;
  std::vector<IncidentEvent> no_events;
  f.store().insert(none, no_events);
  std::vector<Incident> two = {make_incident(5), make_incident(6)};
  std::vector<IncidentEvent> one = {first_event(two[0])};
  expect_error([&] { f.store().insert(two, one); }, ErrorKind::internal, "store_failure");
  EXPECT_EQ(f.store().count({}, clock_of(k_now)), 4);
}

TEST_P(IncidentStoreTest, GetRoundTripsEveryField) {
  StoreFixture f(GetParam());
  Incident i = make_incident(7);
  i.category = "unauthorized_structure";
  i.description = "line 1\nline 2 \"quoted\" 私搭乱建 ✓";
  i.lon = 116.123456789012;
  i.lat = -39.98765432101;
  i.reported_position = Json{{"x", 12926000.25}, {"y", 4852000.5}, {"crs", "EPSG:3857"}};
  i.address = "";
  i.channel = "door_knock";
  i.priority = Priority::urgent;
  i.reporter_name = "";
  i.reporter_phone = "";
  i.status = S::escalated;
  i.version = 17;
  i.grid_id = 42;
  i.grid_code = "110101001001";
  i.grid_name = "社区 42";
  i.chain = {3, 7, 42, 0, 0};
  i.covered = false;
  i.distance_m = 1234.56;
  i.assignee_name = "";
  i.assignee_phone = "";
  i.handler = "urban_management";
  i.escalation_level = 2;
  i.created_at = "2026-11-20T01:02:03.004Z";
  i.updated_at = "2026-11-21T05:06:07.008Z";
  set_deadline(i, utc(2026, 11, 20, 2), utc(2026, 11, 27, 2));
  i.resolved_at = "2026-11-21T04:00:00.000Z";
  i.closed_at = "2026-11-21T05:00:00.000Z";
  i.satisfaction = 3;
  i.attributes = Json{{"nested", Json{{"a", 1.5}, {"b", Json::array({true, nullptr, "x"})}}}, {"empty", Json::object()}};

  Incident plain = make_incident(8);  // the optional fields empty
  plain.satisfaction.reset();
  plain.grid_id = 0;
  plain.grid_code.clear();
  plain.grid_name.clear();
  plain.chain = {};
  plain.attributes = Json::object();

  auto stored = f.insert({i, plain});
  i.id = stored[0].id;
  plain.id = stored[1].id;
  const auto got = f.store().get(i.id);
  ASSERT_TRUE(got.has_value());
  expect_same(*got, i);
  const auto got_plain = f.store().get(plain.id);
  ASSERT_TRUE(got_plain.has_value());
  expect_same(*got_plain, plain);
  EXPECT_FALSE(got_plain->satisfaction.has_value());
  EXPECT_TRUE(got_plain->dispatched_at.empty());

  EXPECT_FALSE(f.store().get(plain.id + 1000).has_value());
  EXPECT_FALSE(f.store().get(0).has_value());
  EXPECT_FALSE(f.store().get(-1).has_value());
}

TEST_P(IncidentStoreTest, UpdateWithTheRightVersionAppendsAnEvent) {
  StoreFixture f(GetParam());
  auto stored = f.insert({make_incident(1), make_incident(2)});
  const Incident other_before = *f.store().get(stored[1].id);
  const std::int64_t last_before = f.store().last_event_id();

  Incident next = *f.store().get(stored[0].id);
  next.status = S::registered;
  next.version = 2;
  next.updated_at = "2026-11-20T08:00:00.000Z";
  next.assignee_name = "Zhang San";
  next.lon = 116.5;  // moves (through the R-tree triggers)
  next.lat = 40.5;
  next.satisfaction = 5;
  IncidentEvent ev;
  ev.version = 2;
  ev.action = "register";
  ev.from = S::reported;
  ev.to = S::registered;
  ev.actor = "hotline 7";
  ev.note = "checked by phone";
  ev.at = next.updated_at;
  ev.grid_id = next.grid_id;
  ev.data = Json{{"reason", "ok"}};
  ev.attachments = {11, 12};
  f.store().update(next, 1, ev);
  EXPECT_GT(ev.id, last_before);
  EXPECT_EQ(ev.incident_id, next.id);
  EXPECT_EQ(f.store().last_event_id(), ev.id);

  expect_same(*f.store().get(next.id), next);
  expect_same(*f.store().get(stored[1].id), other_before);  // the other one is untouched
  const auto history = f.store().history(next.id);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].action, "report");
  EXPECT_EQ(history[0].version, 1);
  expect_same(history[1], ev);
  EXPECT_EQ(f.store().history(stored[1].id).size(), 1u);

  // The moved point is found at its new place only.
  IncidentFilter at_new;
  at_new.bbox = std::array<double, 4>{116.49, 40.49, 116.51, 40.51};
  EXPECT_EQ(ids_of(f.store().list(query(at_new)).items), std::vector<std::int64_t>{next.id});
  IncidentFilter at_old;
  at_old.bbox = std::array<double, 4>{stored[0].lon - 0.001, stored[0].lat - 0.001, stored[0].lon + 0.001,
                                      stored[0].lat + 0.001};
  EXPECT_TRUE(f.store().list(query(at_old)).items.empty());
}

TEST_P(IncidentStoreTest, UpdateWithAStaleVersionWritesNothing) {
  StoreFixture f(GetParam());
  auto stored = f.insert({make_incident(1)});
  Incident v2 = stored[0];
  v2.status = S::registered;
  v2.version = 2;
  IncidentEvent e2;
  e2.version = 2;
  e2.action = "register";
  e2.from = S::reported;
  e2.to = S::registered;
  e2.at = "2026-11-20T09:00:00.000Z";
  f.store().update(v2, 1, e2);
  const Incident before = *f.store().get(v2.id);
  const auto history_before = f.store().history(v2.id);
  const std::int64_t last = f.store().last_event_id();

  Incident stale = before;
  stale.status = S::rejected;
  stale.version = 2;  // as a second writer that loaded version 1 would write
  stale.description = "overwritten";
  IncidentEvent e;
  e.version = 2;
  e.action = "reject";
  e.from = S::reported;
  e.to = S::rejected;
  e.at = "2026-11-20T09:30:00.000Z";
  for (std::int64_t expected : {std::int64_t{1}, std::int64_t{3}, std::int64_t{0}}) {
    const std::string msg = expect_error([&] { f.store().update(stale, expected, e); }, ErrorKind::conflict,
                                         "stale_version", "version");
    EXPECT_NE(msg.find("version 2"), std::string::npos) << msg;
  }
  EXPECT_EQ(e.id, 0);
  expect_same(*f.store().get(v2.id), before);
  const auto history = f.store().history(v2.id);
  ASSERT_EQ(history.size(), history_before.size());
  for (std::size_t k = 0; k < history.size(); ++k) expect_same(history[k], history_before[k]);
  EXPECT_EQ(f.store().last_event_id(), last);

  // And a writer that is not stale still can.
  stale.version = 3;
  e.version = 3;
  e.from = S::registered;
  f.store().update(stale, 2, e);
  EXPECT_EQ(f.store().get(v2.id)->status, S::rejected);
  EXPECT_EQ(f.store().history(v2.id).size(), 3u);
}

TEST_P(IncidentStoreTest, UpdateOfAMissingIncidentIsNotFound) {
  StoreFixture f(GetParam());
  auto stored = f.insert({make_incident(1)});
  Incident ghost = stored[0];
  ghost.id = stored[0].id + 100;
  IncidentEvent e;
  e.version = 2;
  e.action = "register";
  e.at = "2026-11-20T09:30:00.000Z";
  expect_error([&] { f.store().update(ghost, 1, e); }, ErrorKind::not_found, "incident_not_found", "id");
  EXPECT_TRUE(f.store().history(ghost.id).empty());
  EXPECT_EQ(f.store().count({}, clock_of(k_now)), 1);
  EXPECT_EQ(f.store().history(stored[0].id).size(), 1u);
}

// ---------------------------------------------------------------------------
// Listings
// ---------------------------------------------------------------------------

class IncidentStoreListing : public ::testing::TestWithParam<std::string> {
 protected:
  /// One populated store per backend, shared by the tests of the suite.
  struct Populated {
    explicit Populated(const std::string& backend) : fixture(backend), items(fixture.insert(population(90))) {}
    StoreFixture fixture;
    std::vector<Incident> items;
  };

  void SetUp() override {
    auto& slot = s_populated[GetParam()];
    if (!slot) {
      try {
        slot = std::make_unique<Populated>(GetParam());
      } catch (const std::exception& e) {
        s_populated.erase(GetParam());
        FAIL() << GetParam() << ": " << e.what();
      }
    }
    m_populated = slot.get();
  }
  static void TearDownTestSuite() { s_populated.clear(); }
  IncidentStore& store() { return m_populated->fixture.store(); }
  const std::vector<Incident>& items() { return m_populated->items; }

  /// list() over every page and count() must both equal the brute-force filter.
  void check_filter(const IncidentFilter& filter, const std::string& what, bool expect_some = true) {
    std::vector<Incident> expected_items;
    for (const auto& i : items()) {
      if (matches(i, filter, k_now)) expected_items.push_back(i);
    }
    const auto expected = expected_order(expected_items, IncidentSort::newest, k_now);
    if (expect_some) {
      EXPECT_FALSE(expected.empty()) << what << ": the data set should exercise this filter";
      EXPECT_LT(expected.size(), items().size()) << what << ": the filter should exclude something";
    }
    IncidentQuery q;
    q.filter = filter;
    q.clock = clock_of(k_now);
    EXPECT_EQ(ids_of(all_pages(store(), q, 1000)), expected) << what;
    EXPECT_EQ(ids_of(all_pages(store(), q, 4)), expected) << what << " (paged)";
    EXPECT_EQ(store().count(filter, q.clock), static_cast<std::int64_t>(expected.size())) << what;
  }

  static std::map<std::string, std::unique_ptr<Populated>> s_populated;
  Populated* m_populated = nullptr;
};

std::map<std::string, std::unique_ptr<IncidentStoreListing::Populated>> IncidentStoreListing::s_populated;
INSTANTIATE_TEST_SUITE_P(Backends, IncidentStoreListing, k_backends, backend_name);

TEST_P(IncidentStoreListing, NoFilterListsEverythingNewestFirst) {
  IncidentFilter none;
  check_filter(none, "none", false);
  IncidentQuery q;
  q.clock = clock_of(k_now);
  const auto page = store().list(q);  // default limit 100 > 90
  EXPECT_EQ(page.items.size(), items().size());
  EXPECT_FALSE(page.next.has_value());
  // The listed incidents are complete.
  std::map<std::int64_t, const Incident*> by_id;
  for (const auto& i : items()) by_id[i.id] = &i;
  for (const auto& got : page.items) {
    ASSERT_TRUE(by_id.count(got.id));
    expect_same(got, *by_id[got.id]);
  }
}

TEST_P(IncidentStoreListing, FiltersByStatus) {
  IncidentFilter f;
  f.statuses = {S::dispatched};
  check_filter(f, "dispatched");
  f.statuses = {S::closed, S::rejected, S::reopened};
  check_filter(f, "closed|rejected|reopened");
}

TEST_P(IncidentStoreListing, FiltersByCategoryAndChannel) {
  IncidentFilter f;
  f.categories = {"noise"};
  check_filter(f, "noise");
  f.categories = {"noise", "garbage"};
  check_filter(f, "noise|garbage");
  f.categories = {"nothing_like_this"};
  check_filter(f, "unknown category", false);
  EXPECT_EQ(store().count(f, clock_of(k_now)), 0);
  IncidentFilter c;
  c.channels = {"hotline"};
  check_filter(c, "hotline");
  c.channels = {"api", "hotline"};
  check_filter(c, "api|hotline", false);
}

TEST_P(IncidentStoreListing, FiltersByCoveredAndAssignee) {
  IncidentFilter f;
  f.covered = false;
  check_filter(f, "not covered");
  f.covered = true;
  check_filter(f, "covered");
  IncidentFilter a;
  a.assignee = "Zhang San";
  check_filter(a, "assignee");
  a.assignee = "Zhang";  // exact, not a prefix
  check_filter(a, "assignee prefix", false);
  EXPECT_EQ(store().count(a, clock_of(k_now)), 0);
  IncidentFilter phone;
  phone.assignee_phone = "13800000002";
  check_filter(phone, "assignee phone");
  phone.assignee_phone = "13900000009";
  check_filter(phone, "assignee phone shared by no name");
  EXPECT_GT(store().count(phone, clock_of(k_now)), 0);
}

TEST_P(IncidentStoreListing, FiltersByBoundingBoxThroughTheRtree) {
  IncidentFilter f;
  f.bbox = std::array<double, 4>{116.03, 39.93, 116.09, 39.99};
  check_filter(f, "bbox");
  f.bbox = std::array<double, 4>{116.0, 39.9, 116.011, 40.2};  // one column of points
  check_filter(f, "bbox column");
  f.bbox = std::array<double, 4>{117.0, 39.0, 118.0, 40.0};
  check_filter(f, "empty bbox", false);
  // A degenerate box on exactly one point.
  const Incident& one = items()[13];
  f.bbox = std::array<double, 4>{one.lon, one.lat, one.lon, one.lat};
  check_filter(f, "point bbox");
}

TEST_P(IncidentStoreListing, FiltersBySubtreeAtEveryLevel) {
  IncidentFilter f;
  f.subtree = std::pair{Level::street, std::int64_t{11}};
  check_filter(f, "street 11");
  f.subtree = std::pair{Level::community, std::int64_t{101}};
  check_filter(f, "community 101");
  f.subtree = std::pair{Level::grid, std::int64_t{1004}};
  check_filter(f, "grid 1004");
  f.subtree = std::pair{Level::micro_grid, std::int64_t{5001}};
  check_filter(f, "micro grid 5001");
  f.subtree = std::pair{Level::district, std::int64_t{1}};
  check_filter(f, "district 1 (everything)", false);
  EXPECT_EQ(store().count(f, clock_of(k_now)), static_cast<std::int64_t>(items().size()));
  f.subtree = std::pair{Level::district, std::int64_t{2}};
  check_filter(f, "district 2 (nothing)", false);
  EXPECT_EQ(store().count(f, clock_of(k_now)), 0);
}

TEST_P(IncidentStoreListing, FiltersByCreationTimeHalfOpen) {
  IncidentFilter f;
  f.created_from = "2026-11-19T00:00:00.000Z";
  check_filter(f, "from");
  f.created_to = "2026-11-20T12:00:00.000Z";
  check_filter(f, "from..to");
  IncidentFilter t;
  t.created_to = "2026-11-18T06:00:00.000Z";
  check_filter(t, "to");
  // Inclusive start, exclusive end, on an exact stored instant.
  const Incident& one = items()[21];
  IncidentFilter exact;
  exact.created_from = one.created_at;
  exact.created_to = iso(*opt_time(one.created_at) + milliseconds(1));
  check_filter(exact, "exact instant");
  EXPECT_EQ(ids_of(store().list(query(exact)).items), std::vector<std::int64_t>{one.id});
  exact.created_to = one.created_at;
  EXPECT_EQ(store().count(exact, clock_of(k_now)), 0);
}

TEST_P(IncidentStoreListing, FiltersCombine) {
  IncidentFilter f;
  f.categories = {"garbage", "structure"};
  f.statuses = {S::dispatched, S::accepted, S::returned, S::escalated};
  f.covered = true;
  f.subtree = std::pair{Level::street, std::int64_t{10}};
  f.created_from = "2026-11-17T12:00:00.000Z";
  f.bbox = std::array<double, 4>{116.0, 39.9, 116.2, 40.1};
  check_filter(f, "combined");
  f.colours = {Colour::overdue, Colour::due_today};
  f.channels = {"api"};
  check_filter(f, "combined with colours", false);
}

TEST_P(IncidentStoreListing, ColourFilterAgreesWithColourAt) {
  std::map<Colour, int> seen;
  for (const auto& i : items()) ++seen[expected_colour(i, k_now)];
  for (Colour c : {Colour::none, Colour::on_track, Colour::near_due, Colour::due_today, Colour::overdue}) {
    EXPECT_GT(seen[c], 0) << to_string(c) << " must occur in the data set";
    IncidentFilter f;
    f.colours = {c};
    check_filter(f, std::string("colour ") + std::string(to_string(c)));
  }
  IncidentFilter two;
  two.colours = {Colour::near_due, Colour::on_track};
  check_filter(two, "near_due|on_track");

  // The boundaries, one by one (see population()).
  for (const auto& i : items()) {
    if (!deadline_running(i.status)) continue;
    const Colour c = expected_colour(i, k_now);
    const int n = i.attributes["n"].get<int>();
    switch (n % 9) {
      case 3: EXPECT_EQ(c, Colour::near_due) << "3/4 reached exactly now"; break;
      case 6: EXPECT_EQ(c, Colour::on_track) << "no deadline"; break;
      case 7: EXPECT_EQ(c, Colour::on_track) << "due exactly at the end of the day is not due today"; break;
      case 8: EXPECT_EQ(c, Colour::due_today) << "due exactly now is not overdue yet"; break;
      default: break;
    }
  }

  // Another clock changes the answer the same way: one hour later everything
  // due now is overdue.
  const TimePoint later = k_now + hours(1);
  IncidentFilter overdue;
  overdue.colours = {Colour::overdue};
  std::vector<Incident> expected;
  for (const auto& i : items()) {
    if (expected_colour(i, later) == Colour::overdue) expected.push_back(i);
  }
  IncidentQuery q;
  q.filter = overdue;
  q.clock = clock_of(later);
  EXPECT_EQ(ids_of(all_pages(store(), q, 1000)), expected_order(expected, IncidentSort::newest, later));
  EXPECT_GT(store().count(overdue, clock_of(later)), store().count(overdue, clock_of(k_now)));
  // A negative local offset moves the day end, and with it "due today".
  IncidentFilter today;
  today.colours = {Colour::due_today};
  std::int64_t expected_today = 0;
  for (const auto& i : items()) {
    if (colour_at(opt_time(i.dispatched_at), opt_time(i.due_at), deadline_running(i.status), k_now, -300) ==
        Colour::due_today) {
      ++expected_today;
    }
  }
  EXPECT_EQ(store().count(today, clock_of(k_now, -300)), expected_today);
}

TEST_P(IncidentStoreListing, KeysetPagingInEveryOrder) {
  for (IncidentSort sort : {IncidentSort::newest, IncidentSort::oldest, IncidentSort::due, IncidentSort::urgency}) {
    const auto expected = expected_order(items(), sort, k_now);
    for (std::size_t limit : {1u, 7u, 10u, 89u, 90u, 91u}) {
      IncidentQuery q;
      q.sort = sort;
      q.clock = clock_of(k_now);
      const auto got = ids_of(all_pages(store(), q, limit));
      EXPECT_EQ(got, expected) << "sort " << static_cast<int>(sort) << " limit " << limit;
    }
    // With a filter too.
    IncidentQuery q;
    q.sort = sort;
    q.clock = clock_of(k_now);
    q.filter.categories = {"structure"};
    std::vector<Incident> subset;
    for (const auto& i : items()) {
      if (i.category == "structure") subset.push_back(i);
    }
    EXPECT_EQ(ids_of(all_pages(store(), q, 4)), expected_order(subset, sort, k_now)) << static_cast<int>(sort);
  }
}

TEST_P(IncidentStoreListing, UrgencyOrderPutsOverdueFirst) {
  IncidentQuery q;
  q.sort = IncidentSort::urgency;
  q.clock = clock_of(k_now);
  const auto got = all_pages(store(), q, 1000);
  ASSERT_EQ(got.size(), items().size());
  EXPECT_EQ(expected_colour(got.front(), k_now), Colour::overdue);
  EXPECT_EQ(expected_colour(got.back(), k_now), Colour::none);
  for (std::size_t k = 1; k < got.size(); ++k) {
    EXPECT_GE(rank_of(expected_colour(got[k - 1], k_now)), rank_of(expected_colour(got[k], k_now)));
  }
  // The due order puts incidents without a deadline last.
  q.sort = IncidentSort::due;
  const auto due = all_pages(store(), q, 1000);
  bool seen_empty = false;
  for (const auto& i : due) {
    if (i.due_at.empty()) {
      seen_empty = true;
    } else {
      EXPECT_FALSE(seen_empty) << "an incident with a deadline after one without";
    }
  }
  EXPECT_TRUE(seen_empty);
}

// The bbox filter must hold exactly ("every set filter must hold"). The
// GeoPackage R-tree keeps 32-bit bounds rounded outwards (about 7.6e-6
// degrees of longitude near 116°): answered from it alone, a point up to
// ~1 m outside the box would be listed and counted too.
TEST_P(IncidentStoreTest, BboxFilterIsExactAtTheEdges) {
  StoreFixture f(GetParam());
  Incident inside = make_incident(1);
  inside.lon = 116.05 - 3e-6;
  inside.lat = 39.95;
  Incident outside_x = make_incident(2);
  outside_x.lon = 116.05 + 3e-6;  // 0.26 m east of the box
  outside_x.lat = 39.95;
  Incident outside_y = make_incident(3);
  outside_y.lon = 116.02;
  outside_y.lat = 40.0 + 2e-6;  // 0.22 m north of the box
  const auto stored = f.insert({inside, outside_x, outside_y});
  IncidentFilter box;
  box.bbox = std::array<double, 4>{116.0, 39.9, 116.05, 40.0};
  EXPECT_EQ(ids_of(f.store().list(query(box)).items), std::vector<std::int64_t>{stored[0].id});
  EXPECT_EQ(f.store().count(box, clock_of(k_now)), 1);
}

// Paging while new incidents arrive: nothing is skipped or repeated.
TEST_P(IncidentStoreTest, PagingIsStableWhileIncidentsArrive) {
  for (IncidentSort sort : {IncidentSort::newest, IncidentSort::oldest, IncidentSort::due, IncidentSort::urgency}) {
    StoreFixture f(GetParam());
    const auto original = f.insert(population(40));
    std::set<std::int64_t> original_ids;
    for (const auto& i : original) original_ids.insert(i.id);
    std::vector<Incident> everything = original;

    IncidentQuery q;
    q.sort = sort;
    q.clock = clock_of(k_now);
    q.limit = 6;
    std::vector<Incident> got;
    std::set<std::int64_t> added_ids;
    int round = 0;
    for (int guard = 0; guard < 100; ++guard) {
      const IncidentPage page = f.store().list(q);
      got.insert(got.end(), page.items.begin(), page.items.end());
      if (!page.next) break;
      q.after = page.next;
      // New incidents of every deadline kind between pages.
      const auto added = f.insert(population(3, 100 + 3 * round++));
      for (const auto& i : added) {
        added_ids.insert(i.id);
        everything.push_back(i);
      }
    }
    ASSERT_GT(round, 3) << "several pages";
    const std::string what = "sort " + std::to_string(static_cast<int>(sort));
    std::multiset<std::int64_t> seen;
    for (const auto& i : got) seen.insert(i.id);
    for (auto id : seen) EXPECT_EQ(seen.count(id), 1u) << what << ": repeated " << id;
    for (auto id : original_ids) EXPECT_EQ(seen.count(id), 1u) << what << ": skipped " << id;
    // The whole walk is in the order of the sort (a new incident shows up
    // only when it sorts after the cursor).
    for (std::size_t k = 1; k < got.size(); ++k) {
      EXPECT_LT(sort_key(got[k - 1], sort, k_now), sort_key(got[k], sort, k_now)) << what << " at " << k;
    }
    if (sort == IncidentSort::newest) {
      for (const auto& i : got) EXPECT_EQ(added_ids.count(i.id), 0u) << "a newer incident in a later page";
      EXPECT_EQ(got.size(), original.size());
    }
    if (sort == IncidentSort::oldest) {
      // Newer incidents have larger ids: all of them come at the end.
      EXPECT_EQ(got.size(), everything.size());
      EXPECT_EQ(ids_of(got), expected_order(everything, IncidentSort::oldest, k_now));
    }
  }
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

struct StatsFixture : StoreFixture {
  // now: 2026-11-22T02:00Z (10:00 local)
  std::vector<Incident> seven;
  explicit StatsFixture(const std::string& backend) : StoreFixture(backend) {
    auto mk = [](const char* category, std::int64_t street, std::int64_t community, const char* created, S status) {
      Incident i = make_incident(0);
      i.category = category;
      i.chain = {1, street, community, 0, 0};
      i.grid_id = community ? community : street;
      i.created_at = created;
      i.updated_at = created;
      i.status = status;
      i.satisfaction.reset();
      return i;
    };
    // A: closed on time after 24 h, satisfaction 4.
    Incident a = mk("garbage", 10, 100, "2026-11-20T15:00:00.000Z", S::closed);
    a.channel = "hotline";
    a.assignee_name = "Li Wei";
    a.dispatched_at = "2026-11-20T16:00:00.000Z";
    a.due_at = "2026-11-21T16:00:00.000Z";
    a.resolved_at = "2026-11-21T10:00:00.000Z";
    a.closed_at = "2026-11-21T15:00:00.000Z";
    a.satisfaction = 4;
    // B: closed late after 30 h, satisfaction 2.
    Incident b = mk("garbage", 10, 100, "2026-11-20T16:00:00.000Z", S::closed);
    b.assignee_name = "Li Wei";
    b.dispatched_at = "2026-11-20T17:00:00.000Z";
    b.due_at = "2026-11-21T17:00:00.000Z";
    b.resolved_at = "2026-11-21T18:00:00.000Z";
    b.closed_at = "2026-11-21T22:00:00.000Z";
    b.satisfaction = 2;
    // C: dispatched and past its deadline.
    Incident c = mk("garbage", 11, 100, "2026-11-21T03:00:00.000Z", S::dispatched);
    c.assignee_name = "Zhang San";
    c.dispatched_at = "2026-11-21T04:00:00.000Z";
    c.due_at = "2026-11-22T01:00:00.000Z";
    // D: rejected.
    Incident d = mk("structure", 11, 0, "2026-11-21T10:00:00.000Z", S::rejected);
    d.assignee_name = "Zhang San";
    // E: accepted, deadline next week.
    Incident e = mk("structure", 10, 0, "2026-11-22T01:00:00.000Z", S::accepted);
    e.channel = "hotline";
    e.dispatched_at = "2026-11-22T01:30:00.000Z";
    e.due_at = "2026-11-29T01:30:00.000Z";
    // F: verified (resolved on time; its deadline has passed but the clock stopped), satisfaction 5.
    Incident fi = mk("structure", 11, 0, "2026-11-22T01:30:00.000Z", S::verified);
    fi.dispatched_at = "2026-11-21T00:00:00.000Z";
    fi.due_at = "2026-11-21T20:00:00.000Z";
    fi.resolved_at = "2026-11-21T19:00:00.000Z";
    fi.satisfaction = 5;
    // G: returned and past its deadline (the clock still runs).
    Incident g = mk("noise", 10, 0, "2026-11-22T00:00:00.000Z", S::returned);
    g.dispatched_at = "2026-11-21T00:00:00.000Z";
    g.due_at = "2026-11-22T00:00:00.000Z";
    seven = insert({a, b, c, d, e, fi, g});
  }
  std::vector<StatsRow> stats(StatsGroup group, Level level = Level::grid, int offset = 480,
                              IncidentFilter filter = {}) {
    StatsQuery q;
    q.filter = std::move(filter);
    q.clock = clock_of(k_now, offset);
    q.group = group;
    q.level = level;
    q.utc_offset_minutes = offset;
    return store().stats(q);
  }
};

struct Expected {
  std::string key;
  std::int64_t received, open, closed, rejected, on_time, with_deadline, overdue;
  std::optional<double> hours_to_close, satisfaction;
  std::int64_t satisfaction_count;
};

void expect_rows(const std::vector<StatsRow>& rows, const std::vector<Expected>& expected, const std::string& what) {
  ASSERT_EQ(rows.size(), expected.size()) << what;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const auto& r = rows[k];
    const auto& e = expected[k];
    SCOPED_TRACE(what + " row " + e.key);
    EXPECT_EQ(r.key, e.key);
    EXPECT_EQ(r.received, e.received);
    EXPECT_EQ(r.open, e.open);
    EXPECT_EQ(r.closed, e.closed);
    EXPECT_EQ(r.rejected, e.rejected);
    EXPECT_EQ(r.resolved_on_time, e.on_time);
    EXPECT_EQ(r.resolved_with_deadline, e.with_deadline);
    EXPECT_EQ(r.overdue, e.overdue);
    ASSERT_EQ(r.avg_hours_to_close.has_value(), e.hours_to_close.has_value());
    if (e.hours_to_close) {
      EXPECT_NEAR(*r.avg_hours_to_close, *e.hours_to_close, 1e-6);
    }
    ASSERT_EQ(r.avg_satisfaction.has_value(), e.satisfaction.has_value());
    if (e.satisfaction) {
      EXPECT_NEAR(*r.avg_satisfaction, *e.satisfaction, 1e-9);
    }
    EXPECT_EQ(r.satisfaction_count, e.satisfaction_count);
  }
}

class IncidentStoreStats : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Backends, IncidentStoreStats, k_backends, backend_name);

TEST_P(IncidentStoreStats, ByCategory) {
  StatsFixture f(GetParam());
  expect_rows(f.stats(StatsGroup::category),
              {{"garbage", 3, 1, 2, 0, 1, 2, 1, 27.0, 3.0, 2},
               {"noise", 1, 1, 0, 0, 0, 0, 1, std::nullopt, std::nullopt, 0},
               {"structure", 3, 2, 0, 1, 1, 1, 0, std::nullopt, 5.0, 1}},
              "category");
  // A filter applies before grouping.
  IncidentFilter only;
  only.categories = {"garbage"};
  only.statuses = {S::closed};
  expect_rows(f.stats(StatsGroup::category, Level::grid, 480, only), {{"garbage", 2, 0, 2, 0, 1, 2, 0, 27.0, 3.0, 2}},
              "filtered");
  IncidentFilter nothing;
  nothing.categories = {"none_such"};
  EXPECT_TRUE(f.stats(StatsGroup::category, Level::grid, 480, nothing).empty());
}

TEST_P(IncidentStoreStats, ByGridLevel) {
  StatsFixture f(GetParam());
  expect_rows(f.stats(StatsGroup::grid, Level::street),
              {{"10", 4, 2, 2, 0, 1, 2, 1, 27.0, 3.0, 2}, {"11", 3, 2, 0, 1, 1, 1, 1, std::nullopt, 5.0, 1}},
              "street");
  expect_rows(f.stats(StatsGroup::grid, Level::district), {{"1", 7, 4, 2, 1, 2, 3, 2, 27.0, 11.0 / 3, 3}},
              "district");
  // Incidents without a community fall in the empty key.
  expect_rows(f.stats(StatsGroup::grid, Level::community),
              {{"", 4, 3, 0, 1, 1, 1, 1, std::nullopt, 5.0, 1}, {"100", 3, 1, 2, 0, 1, 2, 1, 27.0, 3.0, 2}},
              "community");
}

TEST_P(IncidentStoreStats, ByLocalDay) {
  StatsFixture f(GetParam());
  // +08:00: A is late on the 20th, B just after local midnight of the 21st.
  expect_rows(f.stats(StatsGroup::day),
              {{"2026-11-20", 1, 0, 1, 0, 1, 1, 0, 24.0, 4.0, 1},
               {"2026-11-21", 3, 1, 1, 1, 0, 1, 1, 30.0, 2.0, 1},
               {"2026-11-22", 3, 3, 0, 0, 1, 1, 1, std::nullopt, 5.0, 1}},
              "+08:00");
  // -05:00.
  expect_rows(f.stats(StatsGroup::day, Level::grid, -300),
              {{"2026-11-20", 3, 1, 2, 0, 1, 2, 1, 27.0, 3.0, 2}, {"2026-11-21", 4, 3, 0, 1, 1, 1, 1, std::nullopt, 5.0, 1}},
              "-05:00");
  // The keys are local_date() of the creation time.
  for (int offset : {480, -300, 0}) {
    std::set<std::string> expected;
    for (const auto& i : f.seven) expected.insert(local_date(*opt_time(i.created_at), offset));
    std::set<std::string> got;
    for (const auto& r : f.stats(StatsGroup::day, Level::grid, offset)) got.insert(r.key);
    EXPECT_EQ(got, expected) << offset;
  }
}

TEST_P(IncidentStoreStats, ByChannelAndAssignee) {
  StatsFixture f(GetParam());
  const auto channels = f.stats(StatsGroup::channel);
  ASSERT_EQ(channels.size(), 2u);
  EXPECT_EQ(channels[0].key, "api");
  EXPECT_EQ(channels[0].received, 5);
  EXPECT_EQ(channels[1].key, "hotline");
  EXPECT_EQ(channels[1].received, 2);
  EXPECT_EQ(channels[1].closed, 1);
  const auto assignees = f.stats(StatsGroup::assignee);
  std::map<std::string, std::int64_t> received;
  for (const auto& r : assignees) received[r.key] = r.received;
  EXPECT_EQ(received["Li Wei"], 5);  // A, B, and E, F, G with the default assignee of make_incident
  EXPECT_EQ(received["Zhang San"], 2);
}

// ---------------------------------------------------------------------------
// The feed
// ---------------------------------------------------------------------------

TEST_P(IncidentStoreTest, EventsAfterWithFiltersAndLimit) {
  StoreFixture f(GetParam());
  Incident a = make_incident(0);  // street 10
  a.category = "garbage";
  Incident b = make_incident(6);  // street 11
  b.category = "garbage";
  Incident c = make_incident(1);  // street 10
  c.category = "noise";
  Incident d = make_incident(7);  // street 11
  d.category = "noise";
  ASSERT_EQ(a.chain[1], 10);
  ASSERT_EQ(b.chain[1], 11);
  std::vector<Incident> incidents = {a, b, c, d};
  std::vector<IncidentEvent> events;
  for (const auto& i : incidents) events.push_back(first_event(i));
  f.store().insert(incidents, events);
  // Two more events on b and one on c.
  auto bump = [&](Incident& i, const char* action) {
    Incident next = *f.store().get(i.id);
    next.version += 1;
    IncidentEvent e;
    e.version = next.version;
    e.action = action;
    e.from = next.status;
    e.to = next.status;
    e.at = "2026-11-21T00:00:00.000Z";
    f.store().update(next, next.version - 1, e);
    events.push_back(e);
    i = next;
  };
  bump(incidents[1], "register");
  bump(incidents[2], "register");
  bump(incidents[1], "dispatch");
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(f.store().last_event_id(), events.back().id);

  auto event_ids = [](const std::vector<FeedItem>& items) {
    std::vector<std::int64_t> ids;
    for (const auto& i : items) ids.push_back(i.event.id);
    return ids;
  };
  auto expected = [&](std::int64_t after, const std::function<bool(const Incident&)>& keep, std::size_t limit) {
    std::map<std::int64_t, const Incident*> by_id;
    for (const auto& i : incidents) by_id[i.id] = &i;
    std::vector<std::int64_t> ids;
    for (const auto& e : events) {
      if (e.id > after && keep(*by_id[e.incident_id]) && ids.size() < limit) ids.push_back(e.id);
    }
    return ids;
  };
  const auto all = f.store().events_after(0, {}, 100);
  EXPECT_EQ(event_ids(all), expected(0, [](const Incident&) { return true; }, 100));
  ASSERT_EQ(all.size(), 7u);
  for (const auto& item : all) {
    // Each item carries its event and the incident as it is now.
    const auto it = std::find_if(events.begin(), events.end(), [&](const auto& e) { return e.id == item.event.id; });
    ASSERT_NE(it, events.end());
    expect_same(item.event, *it);
    expect_same(item.incident, *f.store().get(item.event.incident_id));
  }
  EXPECT_EQ(event_ids(f.store().events_after(events[2].id, {}, 100)),
            expected(events[2].id, [](const Incident&) { return true; }, 100));
  EXPECT_TRUE(f.store().events_after(events.back().id, {}, 100).empty());
  EXPECT_EQ(event_ids(f.store().events_after(0, {}, 2)), expected(0, [](const Incident&) { return true; }, 2));

  FeedFilter street11;
  street11.subtree = std::pair{Level::street, std::int64_t{11}};
  EXPECT_EQ(event_ids(f.store().events_after(0, street11, 100)),
            expected(0, [](const Incident& i) { return i.chain[1] == 11; }, 100));
  FeedFilter noise;
  noise.categories = {"noise"};
  EXPECT_EQ(event_ids(f.store().events_after(0, noise, 100)),
            expected(0, [](const Incident& i) { return i.category == "noise"; }, 100));
  FeedFilter both = street11;
  both.categories = {"garbage", "other"};
  const auto both_expected = expected(0, [](const Incident& i) { return i.chain[1] == 11 && i.category == "garbage"; }, 100);
  EXPECT_EQ(both_expected.size(), 3u);
  EXPECT_EQ(event_ids(f.store().events_after(0, both, 100)), both_expected);
  EXPECT_EQ(event_ids(f.store().events_after(0, both, 1)), std::vector<std::int64_t>{both_expected[0]});
  EXPECT_EQ(event_ids(f.store().events_after(both_expected[0], both, 100)),
            std::vector<std::int64_t>(both_expected.begin() + 1, both_expected.end()));
  FeedFilter grid;
  grid.subtree = std::pair{Level::grid, incidents[3].grid_id};
  EXPECT_EQ(event_ids(f.store().events_after(0, grid, 100)),
            expected(0, [&](const Incident& i) { return i.chain[3] == incidents[3].grid_id; }, 100));
}

// ---------------------------------------------------------------------------
// Attachments
// ---------------------------------------------------------------------------

TEST_P(IncidentStoreTest, AttachmentsAddGetAndList) {
  StoreFixture f(GetParam());
  auto stored = f.insert({make_incident(1), make_incident(2)});
  const char raw[] = "\x89PNG\r\n\x1a\n\0\0\0binary\xff\x00tail";
  const std::string bytes(raw, sizeof raw - 1);
  ASSERT_EQ(bytes.size(), 23u);
  Attachment a;
  a.incident_id = stored[0].id;
  a.filename = "photo 1.png";
  a.media_type = "image/png";
  a.size = static_cast<std::int64_t>(bytes.size());
  a.width = 640;
  a.height = 480;
  a.created_at = "2026-11-20T01:00:00.000Z";
  a.data = bytes;
  f.store().add_attachment(a);
  EXPECT_GT(a.id, 0);
  Attachment b = a;
  b.id = 0;
  b.filename = "";
  b.media_type = "image/jpeg";
  b.data = "second";
  b.size = 6;
  f.store().add_attachment(b);
  EXPECT_GT(b.id, a.id);
  Attachment c = a;
  c.id = 0;
  c.incident_id = stored[1].id;
  f.store().add_attachment(c);

  const auto with = f.store().attachment(a.id, true);
  ASSERT_TRUE(with.has_value());
  EXPECT_EQ(with->id, a.id);
  EXPECT_EQ(with->incident_id, stored[0].id);
  EXPECT_EQ(with->filename, "photo 1.png");
  EXPECT_EQ(with->media_type, "image/png");
  EXPECT_EQ(with->size, 23);
  EXPECT_EQ(with->width, 640);
  EXPECT_EQ(with->height, 480);
  EXPECT_EQ(with->created_at, a.created_at);
  EXPECT_EQ(with->data, bytes);  // binary-exact, NULs included
  const auto without = f.store().attachment(a.id, false);
  ASSERT_TRUE(without.has_value());
  EXPECT_TRUE(without->data.empty());
  EXPECT_EQ(without->size, 23);
  EXPECT_FALSE(f.store().attachment(c.id + 100, true).has_value());

  const auto list = f.store().attachments_of(stored[0].id);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, a.id);
  EXPECT_EQ(list[1].id, b.id);
  EXPECT_EQ(list[1].filename, "");
  EXPECT_EQ(list[1].media_type, "image/jpeg");
  for (const auto& x : list) EXPECT_TRUE(x.data.empty());
  EXPECT_EQ(f.store().attachments_of(stored[1].id).size(), 1u);
  EXPECT_TRUE(f.store().attachments_of(stored[1].id + 100).empty());

  Attachment orphan = a;
  orphan.id = 0;
  orphan.incident_id = stored[1].id + 100;
  expect_error([&] { f.store().add_attachment(orphan); }, ErrorKind::not_found, "incident_not_found", "id");
  EXPECT_EQ(orphan.id, 0);
  EXPECT_EQ(f.store().attachments_of(orphan.incident_id).size(), 0u);
}

// ---------------------------------------------------------------------------
// Persistence and the file as GIS tools see it
// ---------------------------------------------------------------------------

TEST(IncidentStore, SurvivesReopeningAndOpensInGdal) {
  StoreFixture f;
  auto stored = f.insert(population(12));
  Incident next = stored[3];
  next.status = S::registered;
  next.version = 2;
  IncidentEvent e;
  e.version = 2;
  e.action = "register";
  e.from = stored[3].status;
  e.to = S::registered;
  e.at = "2026-11-21T00:00:00.000Z";
  e.note = "持久";
  f.store().update(next, 1, e);
  stored[3] = next;
  Attachment a;
  a.incident_id = stored[0].id;
  a.media_type = "image/gif";
  a.data = std::string("GIF89a\0\1", 8);
  a.size = 8;
  a.width = 1;
  a.height = 1;
  a.created_at = "2026-11-21T00:00:00.000Z";
  f.store().add_attachment(a);
  const std::int64_t last = f.store().last_event_id();

  f.gpkg.reset();  // close every connection
  f.gpkg = std::make_unique<GpkgStore>(f.path);
  for (const auto& i : stored) {
    const auto got = f.store().get(i.id);
    ASSERT_TRUE(got.has_value()) << i.id;
    expect_same(*got, i);
  }
  const auto history = f.store().history(next.id);
  ASSERT_EQ(history.size(), 2u);
  expect_same(history[1], e);
  EXPECT_EQ(f.store().last_event_id(), last);
  const auto att = f.store().attachment(a.id, true);
  ASSERT_TRUE(att.has_value());
  EXPECT_EQ(att->data, a.data);
  EXPECT_EQ(f.store().count({}, clock_of(k_now)), 12);
  IncidentFilter box;
  box.bbox = std::array<double, 4>{116.0, 39.9, 116.05, 39.95};
  std::int64_t in_box = 0;
  for (const auto& i : stored) in_box += matches(i, box, k_now) ? 1 : 0;
  EXPECT_GT(in_box, 0);
  EXPECT_EQ(f.store().count(box, clock_of(k_now)), in_box);
  // Writes continue after the old ids.
  auto more = f.insert({make_incident(50)});
  EXPECT_GT(more[0].id, stored.back().id);
  EXPECT_GT(f.store().last_event_id(), last);
  stored.push_back(more[0]);
  f.gpkg.reset();

  // GDAL reads the file as a GeoPackage with a Point layer `incidents`.
  GDALAllRegister();
  GDALDatasetUniquePtr ds(
      GDALDataset::Open(f.path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
  ASSERT_TRUE(ds);
  ASSERT_NE(ds->GetDriver(), nullptr);
  EXPECT_STREQ(ds->GetDriver()->GetDescription(), "GPKG");
  OGRLayer* layer = ds->GetLayerByName("incidents");
  ASSERT_NE(layer, nullptr);
  EXPECT_EQ(wkbFlatten(layer->GetGeomType()), wkbPoint);
  EXPECT_EQ(layer->GetFeatureCount(TRUE), static_cast<GIntBig>(stored.size()));
  const OGRSpatialReference* srs = layer->GetSpatialRef();
  ASSERT_NE(srs, nullptr);
  EXPECT_STREQ(srs->GetAuthorityCode(nullptr), "4326");
  for (const auto& i : stored) {
    std::unique_ptr<OGRFeature> feature(layer->GetFeature(i.id));
    ASSERT_TRUE(feature) << i.id;
    EXPECT_STREQ(feature->GetFieldAsString("category"), i.category.c_str());
    EXPECT_STREQ(feature->GetFieldAsString("status"), std::string(to_string(i.status)).c_str());
    const OGRGeometry* g = feature->GetGeometryRef();
    ASSERT_NE(g, nullptr);
    ASSERT_EQ(wkbFlatten(g->getGeometryType()), wkbPoint);
    EXPECT_DOUBLE_EQ(g->toPoint()->getX(), i.lon);
    EXPECT_DOUBLE_EQ(g->toPoint()->getY(), i.lat);
  }
  // GDAL's own spatial filter (its R-tree) sees the incidents written through SQLite.
  layer->SetSpatialFilterRect(116.0, 39.9, 116.05, 39.95);
  EXPECT_EQ(layer->GetFeatureCount(TRUE), in_box);
  layer->SetSpatialFilter(nullptr);
  OGRLayer* events = ds->GetLayerByName("incident_events");
  ASSERT_NE(events, nullptr);
  EXPECT_EQ(events->GetFeatureCount(TRUE), static_cast<GIntBig>(stored.size() + 1));
  OGRLayer* attachments = ds->GetLayerByName("incident_attachments");
  ASSERT_NE(attachments, nullptr);
  EXPECT_EQ(attachments->GetFeatureCount(TRUE), 1);
}

}  // namespace
}  // namespace gridd::storage

// ---------------------------------------------------------------------------
// Group commit: concurrent writers share transactions; a failing writer is
// undone alone.
// ---------------------------------------------------------------------------

namespace gridd::storage {
namespace {

TEST(IncidentStoreGroupCommit, ConcurrentWritersAllLandAndAFailingOneIsUndoneAlone) {
  test::TempDir dir;
  GpkgStore store(dir.file("s.gpkg"));
  IncidentStore& incidents = store.incidents();
  std::vector<Incident> seed{make_incident(0)};
  std::vector<IncidentEvent> seed_events{first_event(seed[0])};
  incidents.insert(seed, seed_events);

  constexpr int threads = 8, per_thread = 40;
  std::vector<std::vector<std::int64_t>> ids(threads);
  std::atomic<int> stale{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int k = 0; k < per_thread; ++k) {
        if (t % 4 == 3 && k % 5 == 0) {
          // A stale update in the same batches: refused, writes nothing.
          Incident next = seed[0];
          next.status = S::registered;
          next.version = 99;
          IncidentEvent e = first_event(next);
          e.action = "register";
          try {
            incidents.update(next, 42, e);
          } catch (const Error& err) {
            if (err.code() == "stale_version") ++stale;
          }
          continue;
        }
        std::vector<Incident> one{make_incident(t * 1000 + k)};
        std::vector<IncidentEvent> ev{first_event(one[0])};
        incidents.insert(one, ev);
        ids[t].push_back(one[0].id);
      }
    });
  }
  for (auto& th : pool) th.join();
  std::set<std::int64_t> all;
  std::size_t inserted = 0;
  for (const auto& v : ids) {
    inserted += v.size();
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), inserted) << "ids must be unique";
  EXPECT_EQ(stale.load(), 2 * (per_thread / 5));
  ColourClock clock{iso(utc(2026, 11, 21)), iso(utc(2026, 11, 21, 16))};
  EXPECT_EQ(incidents.count(IncidentFilter{}, clock), static_cast<std::int64_t>(inserted + 1));
  for (auto id : all) {
    auto got = incidents.get(id);
    ASSERT_TRUE(got) << id;
    EXPECT_EQ(incidents.history(id).size(), 1u) << id;
  }
  // The stale updates left the seed untouched.
  const auto untouched = incidents.get(seed[0].id);
  ASSERT_TRUE(untouched);
  EXPECT_EQ(untouched->version, 1);
  EXPECT_EQ(incidents.history(seed[0].id).size(), 1u);
}

}  // namespace
}  // namespace gridd::storage

// ---------------------------------------------------------------------------
// PostgreSQL/PostGIS only: persistence across connections, concurrent
// writers, and two instances on one database.
// ---------------------------------------------------------------------------

namespace gridd::storage {
namespace {

TEST(PgIncidentStore, SurvivesReopening) {
  StoreFixture f("postgis");
  auto stored = f.insert(population(12));
  Incident next = stored[3];
  next.status = S::registered;
  next.version = 2;
  IncidentEvent e;
  e.version = 2;
  e.action = "register";
  e.from = stored[3].status;
  e.to = S::registered;
  e.at = "2026-11-21T00:00:00.000Z";
  e.note = "持久";
  f.store().update(next, 1, e);
  stored[3] = next;
  Attachment a;
  a.incident_id = stored[0].id;
  a.media_type = "image/gif";
  a.data = std::string("GIF89a\0\1", 8);
  a.size = 8;
  a.width = 1;
  a.height = 1;
  a.created_at = "2026-11-21T00:00:00.000Z";
  f.store().add_attachment(a);
  const std::int64_t last = f.store().last_event_id();

  f.pg->reopen();  // a new pool and store: every connection is new
  for (const auto& i : stored) {
    const auto got = f.store().get(i.id);
    ASSERT_TRUE(got.has_value()) << i.id;
    expect_same(*got, i);
  }
  const auto history = f.store().history(next.id);
  ASSERT_EQ(history.size(), 2u);
  expect_same(history[1], e);
  EXPECT_EQ(f.store().last_event_id(), last);
  const auto att = f.store().attachment(a.id, true);
  ASSERT_TRUE(att.has_value());
  EXPECT_EQ(att->data, a.data);
  EXPECT_EQ(f.store().count({}, clock_of(k_now)), 12);
  IncidentFilter box;
  box.bbox = std::array<double, 4>{116.0, 39.9, 116.05, 39.95};
  std::int64_t in_box = 0;
  for (const auto& i : stored) in_box += matches(i, box, k_now) ? 1 : 0;
  EXPECT_GT(in_box, 0);
  EXPECT_EQ(f.store().count(box, clock_of(k_now)), in_box);
  // Migrating again changes nothing; writes continue after the old ids.
  {
    auto c = f.pg->pool->lease();
    EXPECT_EQ(pg::migrate(*c), 0);
  }
  auto more = f.insert({make_incident(50)});
  EXPECT_GT(more[0].id, stored.back().id);
  EXPECT_GT(f.store().last_event_id(), last);
  f.pg->reopen();
  EXPECT_EQ(f.store().count({}, clock_of(k_now)), 13);
  expect_same(*f.store().get(more[0].id), more[0]);
}

TEST(PgIncidentStore, ConcurrentWritersAllLandAndAStaleOneFailsAlone) {
  StoreFixture f("postgis");
  IncidentStore& incidents = f.store();
  std::vector<Incident> seed{make_incident(0)};
  std::vector<IncidentEvent> seed_events{first_event(seed[0])};
  incidents.insert(seed, seed_events);

  constexpr int threads = 8, per_thread = 40;
  std::vector<std::vector<std::int64_t>> ids(threads);
  std::vector<std::vector<std::int64_t>> updated(threads);
  std::vector<std::vector<std::int64_t>> event_ids(threads);
  std::atomic<int> stale{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        for (int k = 0; k < per_thread; ++k) {
          if (t % 4 == 3 && k % 5 == 0) {
            // A stale update among the others: refused, writes nothing.
            Incident next = seed[0];
            next.status = S::registered;
            next.version = 99;
            IncidentEvent e = first_event(next);
            e.action = "register";
            try {
              incidents.update(next, 42, e);
            } catch (const Error& err) {
              if (err.code() == "stale_version") ++stale;
            }
            continue;
          }
          if (k % 3 == 2 && !ids[t].empty()) {
            // Update the thread's last incident (version 1 -> 2).
            Incident next = *incidents.get(ids[t].back());
            next.status = S::registered;
            next.version = 2;
            IncidentEvent e;
            e.version = 2;
            e.action = "register";
            e.from = S::reported;
            e.to = S::registered;
            e.at = "2026-11-21T00:00:00.000Z";
            incidents.update(next, 1, e);
            updated[t].push_back(next.id);
            event_ids[t].push_back(e.id);
            continue;
          }
          std::vector<Incident> one{make_incident(t * 1000 + k)};
          std::vector<IncidentEvent> ev{first_event(one[0])};
          incidents.insert(one, ev);
          ids[t].push_back(one[0].id);
          event_ids[t].push_back(ev[0].id);
        }
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << "thread " << t << ": " << e.what();
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::int64_t> all, all_updated, all_events;
  std::size_t inserted = 0, updates = 0, events = 0;
  for (int t = 0; t < threads; ++t) {
    inserted += ids[t].size();
    updates += updated[t].size();
    events += event_ids[t].size();
    all.insert(ids[t].begin(), ids[t].end());
    all_updated.insert(updated[t].begin(), updated[t].end());
    all_events.insert(event_ids[t].begin(), event_ids[t].end());
  }
  EXPECT_EQ(all.size(), inserted) << "ids must be unique";
  EXPECT_EQ(all_events.size(), events) << "event ids must be unique";
  EXPECT_EQ(all_updated.size(), updates);
  EXPECT_GT(updates, 0u);
  EXPECT_EQ(stale.load(), 2 * (per_thread / 5));
  ColourClock clock{iso(utc(2026, 11, 21)), iso(utc(2026, 11, 21, 16))};
  EXPECT_EQ(incidents.count(IncidentFilter{}, clock), static_cast<std::int64_t>(inserted + 1));
  for (auto id : all) {
    auto got = incidents.get(id);
    ASSERT_TRUE(got) << id;
    const bool was_updated = all_updated.count(id) != 0;
    EXPECT_EQ(got->version, was_updated ? 2 : 1) << id;
    EXPECT_EQ(got->status, was_updated ? S::registered : S::reported) << id;
    EXPECT_EQ(incidents.history(id).size(), was_updated ? 2u : 1u) << id;
  }
  // Every event is in the feed, in id order.
  const auto feed = incidents.events_after(seed_events[0].id, {}, 100000);
  std::vector<std::int64_t> feed_ids;
  for (const auto& item : feed) feed_ids.push_back(item.event.id);
  EXPECT_EQ(feed_ids, std::vector<std::int64_t>(all_events.begin(), all_events.end()));
  EXPECT_EQ(incidents.last_event_id(), *all_events.rbegin());
  // The stale updates left the seed untouched.
  const auto untouched = incidents.get(seed[0].id);
  ASSERT_TRUE(untouched);
  EXPECT_EQ(untouched->version, 1);
  EXPECT_EQ(incidents.history(seed[0].id).size(), 1u);
}

// Clusters and the open incidents are only exercised through the service
// elsewhere: here both backends must give the same answers on the same data.
TEST(PgIncidentStore, ClustersAndOpenIncidentsAgreeWithTheGeoPackage) {
  StoreFixture gpkg("gpkg");
  StoreFixture pgs("postgis");
  const auto a = gpkg.insert(population(90));
  const auto b = pgs.insert(population(90));
  ASSERT_EQ(ids_of(a), ids_of(b));
  const std::vector<std::array<double, 4>> boxes = {
      {116.0, 39.9, 116.2, 40.1}, {116.005, 39.905, 116.185, 40.085}, {116.03, 39.93, 116.09, 39.99}};
  const std::vector<std::optional<std::pair<Level, std::int64_t>>> subtrees = {
      std::nullopt, std::pair{Level::street, std::int64_t{11}}, std::pair{Level::micro_grid, std::int64_t{5001}}};
  std::size_t clusters_seen = 0;
  for (const auto& box : boxes) {
    for (const auto& subtree : subtrees) {
      for (auto [cols, rows] : {std::pair{1, 1}, std::pair{4, 3}, std::pair{16, 16}}) {
        for (auto now : {k_now, k_now + hours(1)}) {
          const auto want = gpkg.store().clusters(box, cols, rows, clock_of(now), subtree);
          const auto got = pgs.store().clusters(box, cols, rows, clock_of(now), subtree);
          SCOPED_TRACE(std::to_string(box[0]) + "," + std::to_string(box[2]) + " " + std::to_string(cols) + "x" +
                       std::to_string(rows) + (subtree ? " subtree" : ""));
          ASSERT_EQ(got.size(), want.size());
          for (std::size_t k = 0; k < got.size(); ++k) {
            EXPECT_EQ(got[k].count, want[k].count);
            EXPECT_EQ(got[k].colours, want[k].colours);
            EXPECT_NEAR(got[k].lon, want[k].lon, 1e-9);
            EXPECT_NEAR(got[k].lat, want[k].lat, 1e-9);
          }
          clusters_seen += got.size();
        }
      }
    }
  }
  EXPECT_GT(clusters_seen, 50u);
  // A degenerate box has no cells.
  EXPECT_TRUE(pgs.store().clusters({116.0, 39.9, 116.0, 40.1}, 4, 4, clock_of(k_now), std::nullopt).empty());

  auto open_of = [](IncidentStore& store) {
    std::vector<std::tuple<std::int64_t, std::int64_t, double, double, S, std::string, std::string, std::string>> out;
    store.for_each_open([&](const Incident& i) {
      out.emplace_back(i.id, i.version, i.lon, i.lat, i.status, i.dispatched_at, i.due_at, i.near_due_at);
    });
    return out;
  };
  const auto open_gpkg = open_of(gpkg.store());
  EXPECT_EQ(open_of(pgs.store()), open_gpkg);
  std::size_t expected_open = 0;
  for (const auto& i : b) expected_open += (i.status != S::closed && i.status != S::rejected) ? 1 : 0;
  EXPECT_EQ(open_gpkg.size(), expected_open);

  // More open incidents than one batch of for_each_open: all of them, in id order.
  std::vector<Incident> many;
  for (int n = 0; n < 5200; ++n) many.push_back(make_incident(n));
  pgs.insert(many);
  const auto open_pg = open_of(pgs.store());
  ASSERT_EQ(open_pg.size(), expected_open + many.size());
  for (std::size_t k = 1; k < open_pg.size(); ++k) {
    ASSERT_LT(std::get<0>(open_pg[k - 1]), std::get<0>(open_pg[k]));
  }
}

// Two instances on one database: a reader following event ids through B
// sees every event written through A (and B) in id order, none skipped,
// while both write concurrently (events commit in id order).
TEST(PgIncidentStore, TwoInstancesFollowEachOthersEventsInOrder) {
  PgFixture a;  // instance "test", a fresh database
  pg::Pool pool_b(a.db->uri(), 8);
  PgIncidentStore b(pool_b, "b");

  constexpr int writers_a = 3, writers_b = 2, per_writer = 40;
  std::atomic<int> running{writers_a + writers_b};
  std::vector<std::vector<std::int64_t>> written(writers_a + writers_b);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers_a + writers_b; ++w) {
    threads.emplace_back([&, w] {
      IncidentStore& store = w < writers_a ? static_cast<IncidentStore&>(*a.store) : b;
      try {
        for (int k = 0; k < per_writer; ++k) {
          std::vector<Incident> batch{make_incident(w * 1000 + k)};
          if (k % 4 == 0) batch.push_back(make_incident(w * 1000 + 500 + k));  // two events in one transaction
          std::vector<IncidentEvent> events;
          for (const auto& i : batch) events.push_back(first_event(i));
          store.insert(batch, events);
          for (const auto& e : events) written[static_cast<std::size_t>(w)].push_back(e.id);
          if (k % 5 == 1) {
            Incident next = batch[0];
            next.version = 2;
            next.status = S::registered;
            IncidentEvent e;
            e.version = 2;
            e.action = "register";
            e.from = S::reported;
            e.to = S::registered;
            e.at = "2026-11-21T00:00:00.000Z";
            store.update(next, 1, e);
            written[static_cast<std::size_t>(w)].push_back(e.id);
          }
        }
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << "writer " << w << ": " << e.what();
      }
      --running;
    });
  }
  // The follower: B's events_after in small pages while the writers run.
  std::vector<std::int64_t> seen;
  std::int64_t after = 0;
  int polls = 0;
  bool in_order = true;
  for (;;) {
    const bool done = running.load() == 0;
    for (;;) {
      const auto page = b.events_after(after, {}, 7);
      for (const auto& item : page) {
        if (item.event.id <= after) in_order = false;
        EXPECT_EQ(item.incident.id, item.event.incident_id);
        after = item.event.id;
        seen.push_back(item.event.id);
      }
      ++polls;
      if (page.size() < 7) break;
    }
    if (done) break;  // the writers had finished before this last drain began
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(in_order);
  EXPECT_GT(polls, 3);
  std::set<std::int64_t> expected;
  for (const auto& w : written) expected.insert(w.begin(), w.end());
  EXPECT_EQ(seen, std::vector<std::int64_t>(expected.begin(), expected.end()))
      << "the follower must see every event once, in id order";
  EXPECT_EQ(b.last_event_id(), *expected.rbegin());
  EXPECT_EQ(a.store->last_event_id(), *expected.rbegin());
}

}  // namespace
}  // namespace gridd::storage
