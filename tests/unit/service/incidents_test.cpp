// Unit tests for gridd/service/incidents.hpp: intake with routing to the
// responsible grid and worker, the closed-loop workflow with its history
// and side paths, optimistic concurrency, deadline colours from an injected
// clock, attachments validated by GDAL, and the live-feed hub. A real
// GeoPackage store in a temp dir; no sockets.
#include <gtest/gtest.h>

#include <cpl_vsi.h>
#include <gdal_priv.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/core/incident.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/residents.hpp"
#include "gridd/storage/gpkg_store.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

using test::expect_error;
using namespace std::chrono;
using S = IncidentStatus;
using A = IncidentAction;

TimePoint utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi) + seconds(s);
}

std::optional<TimePoint> opt_time(const std::string& text) {
  if (text.empty()) return std::nullopt;
  auto t = try_parse_time(text, 0);
  EXPECT_TRUE(t.has_value()) << text;
  return t;
}

CategoryCatalogue shipped_categories() {
  return CategoryCatalogue::load(std::string(GRIDD_GEODATA_DIR) + "/categories.json");
}

// The grid codes of the test city: district → street → community → two grids.
const std::string k_d = "110101";
const std::string k_s = "110101001";
const std::string k_c = "110101001001";
const std::string k_g1 = "110101001001001";
const std::string k_g2 = "110101001001002";

// Points: inside G1, inside G2, outside everything.
constexpr double k_g1_lon = 116.05, k_g1_lat = 39.95;
constexpr double k_g2_lon = 116.15, k_g2_lat = 39.95;
constexpr double k_out_lon = 116.5, k_out_lat = 39.95;

/// A Catalog with the test city, its incident store, and an IncidentService
/// whose clock is `now` (settable).
struct Fixture {
  test::TempDir dir;
  storage::IncidentStore* store = nullptr;
  std::unique_ptr<Catalog> catalog;
  TimePoint now = utc(2026, 11, 22, 1);  // 09:00 local
  std::int64_t d = 0, s = 0, c = 0, g1 = 0, g2 = 0;
  std::unique_ptr<IncidentService> svc;

  explicit Fixture(IncidentOptions options = {}) {
    auto gpkg = test::open_test_store(dir.file("store.gpkg"));
    store = &gpkg->incidents();
    catalog = std::make_unique<Catalog>(std::move(gpkg));
    auto district = test::grid_in(k_d, Level::district, "", 116.0, 39.9, 116.4, 40.1);
    auto street = test::grid_in(k_s, Level::street, k_d, 116.0, 39.9, 116.2, 40.1);
    auto community = test::grid_in(k_c, Level::community, k_s, 116.0, 39.9, 116.2, 40.0);
    community.grid.people = {{"Chen Jing", "community_secretary", "13700000003"}};
    auto grid1 = test::grid_in(k_g1, Level::grid, k_c, 116.0, 39.9, 116.1, 40.0);
    grid1.grid.people = {{"Wang Fang", "grid_head", "13900000000"}, {"Li Wei", "grid_worker", "13800000001"}};
    auto grid2 = test::grid_in(k_g2, Level::grid, k_c, 116.1, 39.9, 116.2, 40.0);
    grid2.grid.people = {{"Zhang San", "grid_worker", "13800000002"}};
    const auto ids = catalog->create_grids(test::grids(std::move(district), std::move(street), std::move(community),
                                                       std::move(grid1), std::move(grid2)));
    d = ids.at(0);
    s = ids.at(1);
    c = ids.at(2);
    g1 = ids.at(3);
    g2 = ids.at(4);
    svc = std::make_unique<IncidentService>(*catalog, *store, shipped_categories(), [this] { return now; },
                                            options);
  }

  const Category& category(const std::string& code) const {
    const Category* cat = svc->categories().find(code);
    if (!cat) throw std::runtime_error("the shipped catalogue lacks " + code);
    return *cat;
  }

  static IntakeInput input(double lon, double lat, const std::string& category = "unauthorized_structure") {
    IntakeInput in;
    in.category = category;
    in.description = "a shed on the pavement";
    in.position = Position{lon, lat, ""};
    in.address = "仁和路 1 号";
    in.reporter_name = "张三";
    in.reporter_phone = "13912345678";
    in.actor = "hotline 3";
    return in;
  }

  Incident report(double lon = k_g1_lon, double lat = k_g1_lat, const std::string& category = "unauthorized_structure") {
    auto out = svc->report({input(lon, lat, category)});
    EXPECT_EQ(out.size(), 1u);
    return out.at(0);
  }

  Incident step(std::int64_t id, A action, const std::string& note = {}) {
    TransitionInput t;
    t.action = action;
    t.actor = "tester";
    t.note = note;
    if (action == A::reject || action == A::return_) t.reason = "not_a_case";
    if (action == A::resolve && note.empty()) t.note = "done";
    if (action == A::follow_up) t.satisfaction = 5;
    return svc->transition(id, t);
  }

  /// Report, register and dispatch.
  Incident dispatched(const std::string& category = "unauthorized_structure", double lon = k_g1_lon,
                      double lat = k_g1_lat) {
    const Incident i = report(lon, lat, category);
    step(i.id, A::register_);
    return step(i.id, A::dispatch);
  }
};

/// The colour rule of the domain on the stored instants.
Colour core_colour(const Incident& i, TimePoint at, int offset = 480) {
  return colour_at(opt_time(i.dispatched_at), opt_time(i.due_at), deadline_running(i.status), at, offset);
}

std::vector<std::int64_t> ids_of(const std::vector<Incident>& items) {
  std::vector<std::int64_t> ids;
  for (const auto& i : items) ids.push_back(i.id);
  return ids;
}

/// A real PNG made by GDAL (MEM → PNG in /vsimem/), as bytes.
std::string make_png(int width, int height) {
  GDALAllRegister();
  GDALDriver* mem = GetGDALDriverManager()->GetDriverByName("MEM");
  GDALDriver* png = GetGDALDriverManager()->GetDriverByName("PNG");
  if (!mem || !png) return {};
  GDALDatasetUniquePtr src(mem->Create("", width, height, 3, GDT_Byte, nullptr));
  if (!src) return {};
  std::vector<GByte> pixels(static_cast<std::size_t>(width) * height);
  for (int band = 1; band <= 3; ++band) {
    for (std::size_t k = 0; k < pixels.size(); ++k) pixels[k] = static_cast<GByte>((k * 37 + band * 11) & 0xff);
    if (src->GetRasterBand(band)->RasterIO(GF_Write, 0, 0, width, height, pixels.data(), width, height, GDT_Byte, 0,
                                           0, nullptr) != CE_None) {
      return {};
    }
  }
  const std::string name = "/vsimem/gridd_incidents_test_" + std::to_string(width) + "x" + std::to_string(height) + ".png";
  GDALDatasetUniquePtr out(png->CreateCopy(name.c_str(), src.get(), FALSE, nullptr, nullptr, nullptr));
  if (!out) return {};
  out.reset();
  vsi_l_offset length = 0;
  GByte* buffer = VSIGetMemFileBuffer(name.c_str(), &length, FALSE);
  std::string bytes = buffer ? std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(length))
                             : std::string();
  VSIUnlink(name.c_str());
  return bytes;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& ch : out) ch = static_cast<char>(rng() & 0xff);
  return out;
}

// ---------------------------------------------------------------------------
// Intake
// ---------------------------------------------------------------------------

TEST(IncidentService, ReportRoutesToTheFinestGridAndItsWorker) {
  Fixture f;
  const Category& cat = f.category("unauthorized_structure");
  const Incident i = f.report();
  EXPECT_GT(i.id, 0);
  EXPECT_EQ(i.status, S::reported);
  EXPECT_EQ(i.version, 1);
  EXPECT_EQ(i.category, "unauthorized_structure");
  EXPECT_EQ(i.handler, cat.handler);
  EXPECT_EQ(i.grid_id, f.g1);
  EXPECT_EQ(i.grid_code, k_g1);
  EXPECT_EQ(i.grid_name, "grid " + k_g1);
  EXPECT_EQ(i.chain, (std::array<std::int64_t, 5>{f.d, f.s, f.c, f.g1, 0}));
  // The grid worker, not the first person of the grid.
  EXPECT_EQ(i.assignee_name, "Li Wei");
  EXPECT_EQ(i.assignee_phone, "13800000001");
  EXPECT_TRUE(i.covered);
  EXPECT_EQ(i.distance_m, 0.0);
  EXPECT_DOUBLE_EQ(i.lon, k_g1_lon);
  EXPECT_DOUBLE_EQ(i.lat, k_g1_lat);
  EXPECT_EQ(i.reported_position, (Json{{"x", k_g1_lon}, {"y", k_g1_lat}, {"crs", "EPSG:4326"}}));
  EXPECT_EQ(i.channel, "api");
  EXPECT_EQ(i.priority, Priority::normal);
  EXPECT_EQ(i.created_at, format_iso8601(f.now));
  EXPECT_EQ(i.updated_at, i.created_at);
  EXPECT_TRUE(i.dispatched_at.empty());
  EXPECT_TRUE(i.due_at.empty());
  EXPECT_EQ(i.escalation_level, 0);
  // What was returned is what was stored.
  const auto stored = f.svc->get(i.id);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->grid_id, f.g1);
  EXPECT_EQ(stored->chain, i.chain);
  EXPECT_EQ(stored->assignee_name, "Li Wei");
  EXPECT_EQ(stored->reporter_phone, "13912345678");
  EXPECT_EQ(stored->description, "a shed on the pavement");
  const auto history = f.svc->history(i.id);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].action, "report");
  EXPECT_EQ(history[0].version, 1);
  EXPECT_EQ(history[0].to, S::reported);
  EXPECT_FALSE(history[0].from.has_value());
  EXPECT_EQ(history[0].actor, "hotline 3");
  EXPECT_EQ(history[0].grid_id, f.g1);
  EXPECT_EQ(history[0].at, i.created_at);
  EXPECT_EQ(history[0].data["covered"], true);
  EXPECT_EQ(history[0].data["channel"], "api");

  // A point of the other grid goes to the other worker; channel and priority are kept.
  IntakeInput in = Fixture::input(k_g2_lon, k_g2_lat, "exposed_garbage");
  in.channel = "door_knock";
  in.priority = "urgent";
  in.attributes = Json{{"photo_count", 2}};
  const Incident j = f.svc->report({in}).at(0);
  EXPECT_EQ(j.grid_id, f.g2);
  EXPECT_EQ(j.chain, (std::array<std::int64_t, 5>{f.d, f.s, f.c, f.g2, 0}));
  EXPECT_EQ(j.assignee_name, "Zhang San");
  EXPECT_EQ(j.assignee_phone, "13800000002");
  EXPECT_EQ(j.handler, f.category("exposed_garbage").handler);
  EXPECT_EQ(j.channel, "door_knock");
  EXPECT_EQ(j.priority, Priority::urgent);
  EXPECT_EQ(f.svc->require(j.id).attributes, (Json{{"photo_count", 2}}));
  EXPECT_GT(j.id, i.id);
}

TEST(IncidentService, ReportOutsideEveryGridGoesToTheNearestLeafFlagged) {
  Fixture f;
  const Incident i = f.report(k_out_lon, k_out_lat);
  EXPECT_FALSE(i.covered);
  EXPECT_EQ(i.grid_id, f.g2);  // the nearest leaf
  EXPECT_EQ(i.chain, (std::array<std::int64_t, 5>{f.d, f.s, f.c, f.g2, 0}));
  EXPECT_EQ(i.assignee_name, "Zhang San");
  // 0.3° of longitude at 39.95°N to G2's east edge: about 25.6 km.
  EXPECT_GT(i.distance_m, 25000.0);
  EXPECT_LT(i.distance_m, 26200.0);
  EXPECT_DOUBLE_EQ(std::round(i.distance_m * 100) / 100, i.distance_m);  // centimetres
  const auto stored = f.svc->require(i.id);
  EXPECT_FALSE(stored.covered);
  EXPECT_EQ(stored.distance_m, i.distance_m);
  const auto history = f.svc->history(i.id);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].data["covered"], false);
  EXPECT_EQ(history[0].data["distance_m"], i.distance_m);

  // Inside the district but outside every leaf: also flagged, still the nearest leaf.
  const Incident j = f.report(116.3, 40.05);
  EXPECT_FALSE(j.covered);
  EXPECT_EQ(j.grid_id, f.g2);
  EXPECT_GT(j.distance_m, 0.0);
  EXPECT_LT(j.distance_m, i.distance_m);

  // The covered filter sees both.
  storage::IncidentFilter flagged;
  flagged.covered = false;
  EXPECT_EQ(f.svc->count(flagged), 2);
  // A dispatcher's assignment settles the flag.
  f.step(i.id, A::register_);
  TransitionInput t;
  t.action = A::dispatch;
  t.grid = k_g1;
  const Incident moved = f.svc->transition(i.id, t);
  EXPECT_TRUE(moved.covered);
  EXPECT_EQ(moved.grid_id, f.g1);
  EXPECT_EQ(f.svc->count(flagged), 1);
}

TEST(IncidentService, ReportConvertsOtherCoordinateSystems) {
  Fixture f;
  // Web Mercator of a point inside G2.
  const double x = k_g2_lon * 20037508.342789244 / 180.0;
  const double y = std::log(std::tan((90.0 + k_g2_lat) * M_PI / 360.0)) * 6378137.0;
  IntakeInput in = Fixture::input(0, 0);
  in.position = Position{x, y, "EPSG:3857"};
  const Incident i = f.svc->report({in}).at(0);
  EXPECT_NEAR(i.lon, k_g2_lon, 1e-7);
  EXPECT_NEAR(i.lat, k_g2_lat, 1e-7);
  EXPECT_EQ(i.grid_id, f.g2);
  EXPECT_EQ(i.reported_position["crs"], "EPSG:3857");
  EXPECT_DOUBLE_EQ(i.reported_position["x"].get<double>(), x);
  EXPECT_DOUBLE_EQ(i.reported_position["y"].get<double>(), y);
}

TEST(IncidentService, ReportRejectsBadInputNamingTheField) {
  Fixture f;
  auto one = [&](IntakeInput in) { (void)f.svc->report({std::move(in)}); };
  IntakeInput unknown = Fixture::input(k_g1_lon, k_g1_lat, "no_such_category");
  expect_error([&] { one(unknown); }, ErrorKind::invalid_input, "unknown_category", "category");
  unknown.where = "items/1";
  expect_error([&] { one(unknown); }, ErrorKind::invalid_input, "unknown_category", "items/1/category");
  IntakeInput empty_category = Fixture::input(k_g1_lon, k_g1_lat, "");
  expect_error([&] { one(empty_category); }, ErrorKind::invalid_input, "missing_category", "category");
  IntakeInput no_position = Fixture::input(k_g1_lon, k_g1_lat);
  no_position.position.reset();
  expect_error([&] { one(no_position); }, ErrorKind::invalid_input, "missing_position", "position");
  no_position.where = "items/4";
  expect_error([&] { one(no_position); }, ErrorKind::invalid_input, "missing_position", "items/4/position");
  IntakeInput bad_crs = Fixture::input(k_g1_lon, k_g1_lat);
  bad_crs.position->crs = "EPSG:999999";
  expect_error([&] { one(bad_crs); }, ErrorKind::invalid_input, "unknown_crs", "position/crs");
  bad_crs.position->crs = "not a crs";
  bad_crs.where = "items/2";
  expect_error([&] { one(bad_crs); }, ErrorKind::invalid_input, "unknown_crs", "items/2/position/crs");
  IntakeInput out_of_range = Fixture::input(200, k_g1_lat);
  expect_error([&] { one(out_of_range); }, ErrorKind::invalid_input, "coordinate_out_of_range", "position/lon");
  IntakeInput bad_channel = Fixture::input(k_g1_lon, k_g1_lat);
  bad_channel.channel = "Hot Line";
  expect_error([&] { one(bad_channel); }, ErrorKind::invalid_input, "invalid_channel", "channel");
  IntakeInput bad_priority = Fixture::input(k_g1_lon, k_g1_lat);
  bad_priority.priority = "asap";
  bad_priority.where = "items/0";
  expect_error([&] { one(bad_priority); }, ErrorKind::invalid_input, "invalid_priority", "items/0/priority");
  expect_error([&] { (void)f.svc->report({}); }, ErrorKind::invalid_input, "empty_batch", "items");
  // Nothing of it was stored.
  EXPECT_EQ(f.svc->count({}), 0);
  EXPECT_EQ(f.svc->last_event_id(), 0);
}

TEST(IncidentService, BatchIsAllOrNothing) {
  Fixture f;
  std::vector<IntakeInput> batch;
  for (int k = 0; k < 3; ++k) {
    IntakeInput in = Fixture::input(k_g1_lon, k_g1_lat);
    in.where = "items/" + std::to_string(k);
    batch.push_back(in);
  }
  batch[2].position.reset();
  expect_error([&] { (void)f.svc->report(batch); }, ErrorKind::invalid_input, "missing_position", "items/2/position");
  EXPECT_TRUE(f.svc->list({}).items.empty());
  EXPECT_EQ(f.svc->count({}), 0);
  EXPECT_EQ(f.svc->last_event_id(), 0);

  batch[2] = Fixture::input(k_g2_lon, k_g2_lat);
  batch[1].category = "nope";
  expect_error([&] { (void)f.svc->report(batch); }, ErrorKind::invalid_input, "unknown_category", "items/1/category");
  EXPECT_EQ(f.svc->count({}), 0);

  // Too many at once.
  IncidentOptions small;
  small.max_batch = 2;
  Fixture g(small);
  expect_error([&] { (void)g.svc->report({Fixture::input(k_g1_lon, k_g1_lat), Fixture::input(k_g1_lon, k_g1_lat),
                                          Fixture::input(k_g1_lon, k_g1_lat)}); },
               ErrorKind::too_large, "too_many_incidents", "items");
  EXPECT_EQ(g.svc->count({}), 0);

  // A good batch is stored whole, in order, with one event each.
  batch[1].category = "exposed_garbage";
  const auto stored = f.svc->report(batch);
  ASSERT_EQ(stored.size(), 3u);
  EXPECT_EQ(f.svc->count({}), 3);
  EXPECT_LT(stored[0].id, stored[1].id);
  EXPECT_LT(stored[1].id, stored[2].id);
  EXPECT_EQ(stored[1].category, "exposed_garbage");
  EXPECT_EQ(stored[2].grid_id, f.g2);
  for (const auto& i : stored) EXPECT_EQ(f.svc->history(i.id).size(), 1u);
}

// ---------------------------------------------------------------------------
// The workflow
// ---------------------------------------------------------------------------

TEST(IncidentService, FullLoopRecordsEightEventsInOrder) {
  Fixture f;
  const Category& cat = f.category("unauthorized_structure");
  const TimePoint t0 = f.now;
  const Incident i = f.report();

  std::vector<std::string> at;
  at.push_back(format_iso8601(t0));
  auto advance = [&](minutes m) {
    f.now += m;
    at.push_back(format_iso8601(f.now));
  };

  advance(minutes(10));
  Incident x = f.step(i.id, A::register_);
  EXPECT_EQ(x.status, S::registered);
  EXPECT_EQ(x.version, 2);

  advance(minutes(10));
  const TimePoint dispatched_at = f.now;
  x = f.step(i.id, A::dispatch);
  EXPECT_EQ(x.status, S::dispatched);
  EXPECT_EQ(x.dispatched_at, format_iso8601(dispatched_at));
  EXPECT_EQ(x.due_at, format_iso8601(dispatched_at + hours(cat.deadline_hours)));
  EXPECT_EQ(x.near_due_at, format_iso8601(dispatched_at + minutes(cat.deadline_hours * 60 * 3 / 4)));
  EXPECT_EQ(x.grid_id, f.g1);  // dispatch without a grid keeps the assignment

  advance(minutes(40));
  x = f.step(i.id, A::accept);
  EXPECT_EQ(x.status, S::accepted);

  advance(hours(4));
  TransitionInput resolve;
  resolve.action = A::resolve;
  resolve.actor = "Li Wei";
  resolve.note = "the shed is gone";
  x = f.svc->transition(i.id, resolve);
  EXPECT_EQ(x.status, S::resolved);
  EXPECT_EQ(x.resolved_at, format_iso8601(f.now));

  advance(hours(1));
  x = f.step(i.id, A::verify);
  EXPECT_EQ(x.status, S::verified);

  advance(hours(1));
  TransitionInput close;
  close.action = A::close;
  close.satisfaction = 4;
  x = f.svc->transition(i.id, close);
  EXPECT_EQ(x.status, S::closed);
  EXPECT_EQ(x.closed_at, format_iso8601(f.now));
  EXPECT_EQ(x.satisfaction, 4);

  advance(hours(24));
  TransitionInput follow;
  follow.action = A::follow_up;
  follow.satisfaction = 5;
  follow.note = "resident called back";
  x = f.svc->transition(i.id, follow);
  EXPECT_EQ(x.status, S::closed);
  EXPECT_EQ(x.satisfaction, 5);
  EXPECT_EQ(x.version, 8);

  // The stored incident is the returned one.
  const Incident stored = f.svc->require(i.id);
  EXPECT_EQ(stored.version, 8);
  EXPECT_EQ(stored.status, S::closed);
  EXPECT_EQ(stored.satisfaction, 5);
  EXPECT_EQ(stored.updated_at, at.back());
  EXPECT_EQ(stored.created_at, at.front());
  EXPECT_EQ(stored.dispatched_at, format_iso8601(dispatched_at));
  EXPECT_EQ(stored.due_at, x.due_at);
  EXPECT_EQ(stored.resolved_at, at[4]);
  EXPECT_EQ(stored.closed_at, at[6]);

  const auto history = f.svc->history(i.id);
  ASSERT_EQ(history.size(), 8u);
  const std::vector<std::string> actions = {"report", "register", "dispatch", "accept",
                                            "resolve", "verify", "close", "follow_up"};
  const std::vector<S> to = {S::reported, S::registered, S::dispatched, S::accepted,
                             S::resolved, S::verified,   S::closed,     S::closed};
  for (std::size_t k = 0; k < history.size(); ++k) {
    SCOPED_TRACE(actions[k]);
    EXPECT_EQ(history[k].incident_id, i.id);
    EXPECT_EQ(history[k].action, actions[k]);
    EXPECT_EQ(history[k].version, static_cast<std::int64_t>(k + 1));
    EXPECT_EQ(history[k].to, to[k]);
    EXPECT_EQ(history[k].at, at[k]);
    EXPECT_EQ(history[k].grid_id, f.g1);
    if (k == 0) {
      EXPECT_FALSE(history[k].from.has_value());
    } else {
      ASSERT_TRUE(history[k].from.has_value());
      EXPECT_EQ(*history[k].from, to[k - 1]);
      EXPECT_GT(history[k].id, history[k - 1].id);
    }
  }
  EXPECT_EQ(history[2].data["due_at"], x.due_at);
  EXPECT_EQ(history[4].note, "the shed is gone");
  EXPECT_EQ(history[4].actor, "Li Wei");
  EXPECT_EQ(history[6].data["satisfaction"], 4);
  EXPECT_EQ(history[7].data["satisfaction"], 5);
  EXPECT_EQ(history[7].note, "resident called back");
  EXPECT_EQ(f.svc->last_event_id(), history.back().id);
  EXPECT_EQ(f.svc->colour(stored, f.now), Colour::none);
}

TEST(IncidentService, RejectNeedsAReason) {
  Fixture f;
  const Incident i = f.report();
  TransitionInput t;
  t.action = A::reject;
  expect_error([&] { (void)f.svc->transition(i.id, t); }, ErrorKind::invalid_input, "missing_reason", "reason");
  EXPECT_EQ(f.svc->require(i.id).version, 1);
  EXPECT_EQ(f.svc->history(i.id).size(), 1u);
  t.reason = "duplicate";
  const Incident r = f.svc->transition(i.id, t);
  EXPECT_EQ(r.status, S::rejected);
  const auto history = f.svc->history(i.id);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].action, "reject");
  EXPECT_EQ(history[1].data["reason"], "duplicate");
  // Rejected is terminal.
  for (A a : all_incident_actions()) {
    TransitionInput any;
    any.action = a;
    any.reason = "x";
    any.note = "x";
    any.satisfaction = 3;
    expect_error([&] { (void)f.svc->transition(i.id, any); }, ErrorKind::conflict, "illegal_transition", "action");
  }
  EXPECT_EQ(f.svc->require(i.id).version, 2);
}

TEST(IncidentService, ReturnThenRedispatchToAnotherGrid) {
  Fixture f;
  const Incident i = f.dispatched();
  EXPECT_FALSE(f.svc->history(i.id).back().data.contains("previous_grid_id"));
  f.step(i.id, A::accept);
  TransitionInput ret;
  ret.action = A::return_;
  ret.reason = "wrong_grid";
  Incident x = f.svc->transition(i.id, ret);
  EXPECT_EQ(x.status, S::returned);
  EXPECT_EQ(f.svc->history(i.id).back().data["reason"], "wrong_grid");

  f.now += hours(2);
  TransitionInput to_g2;
  to_g2.action = A::dispatch;
  to_g2.grid = k_g2;  // by code
  x = f.svc->transition(i.id, to_g2);
  EXPECT_EQ(x.status, S::dispatched);
  EXPECT_EQ(x.grid_id, f.g2);
  EXPECT_EQ(x.grid_code, k_g2);
  EXPECT_EQ(x.chain, (std::array<std::int64_t, 5>{f.d, f.s, f.c, f.g2, 0}));
  EXPECT_EQ(x.assignee_name, "Zhang San");
  EXPECT_EQ(x.assignee_phone, "13800000002");
  EXPECT_EQ(x.dispatched_at, format_iso8601(f.now));
  EXPECT_EQ(x.due_at, format_iso8601(f.now + hours(f.category("unauthorized_structure").deadline_hours)));
  auto last = f.svc->history(i.id).back();
  EXPECT_EQ(last.action, "dispatch");
  EXPECT_EQ(last.grid_id, f.g2);
  EXPECT_EQ(last.data["previous_grid_id"], f.g1);
  const Incident stored = f.svc->require(i.id);
  EXPECT_EQ(stored.grid_id, f.g2);
  EXPECT_EQ(stored.assignee_name, "Zhang San");

  // The subtree filter follows the assignment.
  storage::IncidentFilter in_g2;
  in_g2.subtree = f.svc->grid_ref(k_g2, "grid");
  EXPECT_EQ(in_g2.subtree->first, Level::grid);
  EXPECT_EQ(f.svc->count(in_g2), 1);
  storage::IncidentFilter in_g1;
  in_g1.subtree = f.svc->grid_ref(std::to_string(f.g1), "grid");  // by id
  EXPECT_EQ(f.svc->count(in_g1), 0);

  // And back by numeric id.
  f.svc->transition(i.id, ret);
  TransitionInput to_g1;
  to_g1.action = A::dispatch;
  to_g1.grid = std::to_string(f.g1);
  x = f.svc->transition(i.id, to_g1);
  EXPECT_EQ(x.grid_id, f.g1);
  EXPECT_EQ(x.assignee_name, "Li Wei");
  EXPECT_EQ(f.svc->history(i.id).back().data["previous_grid_id"], f.g2);

  // An unknown grid is not found and changes nothing.
  f.svc->transition(i.id, ret);
  const std::int64_t version = f.svc->require(i.id).version;
  TransitionInput nowhere;
  nowhere.action = A::dispatch;
  nowhere.grid = "no-such-grid";
  expect_error([&] { (void)f.svc->transition(i.id, nowhere); }, ErrorKind::not_found, "grid_not_found", "grid");
  EXPECT_EQ(f.svc->require(i.id).version, version);
  EXPECT_EQ(f.svc->require(i.id).status, S::returned);
  // Only dispatch takes a grid.
  TransitionInput escalate_to;
  escalate_to.action = A::escalate;
  escalate_to.grid = k_g2;
  expect_error([&] { (void)f.svc->transition(i.id, escalate_to); }, ErrorKind::invalid_input, "unexpected_grid",
               "grid");
  EXPECT_EQ(f.svc->require(i.id).version, version);
}

TEST(IncidentService, EscalateClimbsToTheParentGridUntilTheRoot) {
  Fixture f;
  const Incident i = f.dispatched();
  Incident x = f.step(i.id, A::escalate);
  EXPECT_EQ(x.status, S::escalated);
  EXPECT_EQ(x.grid_id, f.c);
  EXPECT_EQ(x.grid_code, k_c);
  EXPECT_EQ(x.escalation_level, 1);
  EXPECT_EQ(x.chain, (std::array<std::int64_t, 5>{f.d, f.s, f.c, 0, 0}));
  // The community has no grid worker: its first person answers.
  EXPECT_EQ(x.assignee_name, "Chen Jing");
  auto last = f.svc->history(i.id).back();
  EXPECT_EQ(last.action, "escalate");
  EXPECT_EQ(last.grid_id, f.c);
  EXPECT_EQ(last.data["previous_grid_id"], f.g1);
  // The community's subtree holds it, the grid's no longer does.
  storage::IncidentFilter in_g1;
  in_g1.subtree = std::pair{Level::grid, f.g1};
  EXPECT_EQ(f.svc->count(in_g1), 0);
  storage::IncidentFilter in_c;
  in_c.subtree = std::pair{Level::community, f.c};
  EXPECT_EQ(f.svc->count(in_c), 1);

  f.step(i.id, A::dispatch);
  x = f.step(i.id, A::escalate);
  EXPECT_EQ(x.grid_id, f.s);
  EXPECT_EQ(x.escalation_level, 2);
  EXPECT_EQ(x.assignee_name, "");  // nobody is recorded for the street
  EXPECT_EQ(x.chain, (std::array<std::int64_t, 5>{f.d, f.s, 0, 0, 0}));
  f.step(i.id, A::dispatch);
  x = f.step(i.id, A::escalate);
  EXPECT_EQ(x.grid_id, f.d);
  EXPECT_EQ(x.escalation_level, 3);
  EXPECT_EQ(x.chain, (std::array<std::int64_t, 5>{f.d, 0, 0, 0, 0}));
  x = f.step(i.id, A::dispatch);
  EXPECT_EQ(x.grid_id, f.d);

  const Incident before = f.svc->require(i.id);
  const auto history_before = f.svc->history(i.id);
  expect_error([&] { (void)f.step(i.id, A::escalate); }, ErrorKind::conflict, "no_parent_grid", "action");
  const Incident after = f.svc->require(i.id);
  EXPECT_EQ(after.version, before.version);
  EXPECT_EQ(after.status, S::dispatched);
  EXPECT_EQ(after.grid_id, f.d);
  EXPECT_EQ(after.escalation_level, 3);
  EXPECT_EQ(f.svc->history(i.id).size(), history_before.size());
}

TEST(IncidentService, SendBackAndReopen) {
  Fixture f;
  const Incident i = f.dispatched();
  f.step(i.id, A::accept);
  f.now += hours(1);
  Incident x = f.step(i.id, A::resolve, "fixed");
  EXPECT_FALSE(x.resolved_at.empty());
  const std::string dispatched_at = x.dispatched_at;
  f.now += hours(1);
  x = f.step(i.id, A::send_back, "not fixed at all");
  EXPECT_EQ(x.status, S::accepted);
  EXPECT_TRUE(x.resolved_at.empty());
  EXPECT_EQ(x.dispatched_at, dispatched_at);
  EXPECT_TRUE(f.svc->require(i.id).resolved_at.empty());
  EXPECT_EQ(f.svc->history(i.id).back().action, "send_back");
  // The deadline clock runs again.
  EXPECT_NE(f.svc->colour(x, f.now), Colour::none);

  f.now += hours(1);
  x = f.step(i.id, A::resolve, "fixed for real");
  EXPECT_EQ(x.resolved_at, format_iso8601(f.now));
  f.step(i.id, A::verify);
  f.now += hours(1);
  x = f.step(i.id, A::close);
  EXPECT_EQ(x.closed_at, format_iso8601(f.now));
  EXPECT_FALSE(is_open(x.status));

  f.now += hours(30);
  x = f.step(i.id, A::reopen, "it is back");
  EXPECT_EQ(x.status, S::reopened);
  EXPECT_TRUE(x.closed_at.empty());
  EXPECT_TRUE(f.svc->require(i.id).closed_at.empty());
  EXPECT_EQ(f.svc->colour(x, f.now), Colour::none);  // not dispatched again yet
  f.now += hours(1);
  x = f.step(i.id, A::dispatch);
  EXPECT_EQ(x.status, S::dispatched);
  EXPECT_EQ(x.dispatched_at, format_iso8601(f.now));
  EXPECT_TRUE(x.resolved_at.empty());
  EXPECT_EQ(f.svc->colour(x, f.now), Colour::on_track);
  const auto history = f.svc->history(i.id);
  std::vector<std::string> actions;
  for (const auto& e : history) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"report", "register", "dispatch", "accept", "resolve", "send_back",
                                                "resolve", "verify", "close", "reopen", "dispatch"}));
  for (std::size_t k = 0; k < history.size(); ++k) EXPECT_EQ(history[k].version, static_cast<std::int64_t>(k + 1));
}

TEST(IncidentService, IllegalTransitionsChangeNothing) {
  Fixture f;
  const Incident i = f.report();
  f.now += hours(1);
  for (A a : {A::dispatch, A::accept, A::return_, A::escalate, A::resolve, A::send_back, A::verify, A::close,
              A::reopen, A::follow_up}) {
    TransitionInput t;
    t.action = a;
    t.note = "n";
    t.reason = "r";
    if (a == A::close || a == A::follow_up) t.satisfaction = 3;
    const std::string msg = expect_error([&] { (void)f.svc->transition(i.id, t); }, ErrorKind::conflict,
                                         "illegal_transition", "action");
    EXPECT_NE(msg.find("reported"), std::string::npos) << msg;
  }
  const Incident after = f.svc->require(i.id);
  EXPECT_EQ(after.version, 1);
  EXPECT_EQ(after.status, S::reported);
  EXPECT_EQ(after.updated_at, i.updated_at);
  EXPECT_EQ(f.svc->history(i.id).size(), 1u);
  EXPECT_EQ(f.svc->last_event_id(), f.svc->history(i.id).back().id);

  // Step-specific requirements, each refused before any write.
  const Incident a = f.dispatched();
  f.step(a.id, A::accept);
  const std::int64_t v = f.svc->require(a.id).version;
  TransitionInput resolve;
  resolve.action = A::resolve;
  expect_error([&] { (void)f.svc->transition(a.id, resolve); }, ErrorKind::invalid_input, "missing_note", "note");
  TransitionInput bad_sat;
  bad_sat.action = A::resolve;
  bad_sat.note = "x";
  bad_sat.satisfaction = 6;
  expect_error([&] { (void)f.svc->transition(a.id, bad_sat); }, ErrorKind::invalid_input, "invalid_satisfaction",
               "satisfaction");
  bad_sat.satisfaction = 0;
  expect_error([&] { (void)f.svc->transition(a.id, bad_sat); }, ErrorKind::invalid_input, "invalid_satisfaction",
               "satisfaction");
  EXPECT_EQ(f.svc->require(a.id).version, v);
  EXPECT_EQ(f.svc->require(a.id).status, S::accepted);
  f.step(a.id, A::resolve);
  f.step(a.id, A::verify);
  f.step(a.id, A::close);
  TransitionInput follow;
  follow.action = A::follow_up;
  expect_error([&] { (void)f.svc->transition(a.id, follow); }, ErrorKind::invalid_input, "missing_satisfaction",
               "satisfaction");
  EXPECT_EQ(f.svc->require(a.id).version, v + 3);
  // A note over the limit.
  TransitionInput long_note;
  long_note.action = A::follow_up;
  long_note.satisfaction = 3;
  long_note.note = std::string(f.svc->options().max_text + 1, 'x');
  expect_error([&] { (void)f.svc->transition(a.id, long_note); }, ErrorKind::too_large, "text_too_long", "note");
  EXPECT_EQ(f.svc->require(a.id).version, v + 3);

  // A missing incident.
  TransitionInput reg;
  reg.action = A::register_;
  expect_error([&] { (void)f.svc->transition(a.id + 1000, reg); }, ErrorKind::not_found, "incident_not_found", "id");
  expect_error([&] { (void)f.svc->require(a.id + 1000); }, ErrorKind::not_found, "incident_not_found", "id");
  expect_error([&] { (void)f.svc->history(a.id + 1000); }, ErrorKind::not_found, "incident_not_found", "id");
}

TEST(IncidentService, ExpectedStatusAndVersionGuardTheStep) {
  Fixture f;
  const Incident i = f.report();
  f.step(i.id, A::register_);  // now registered, version 2
  TransitionInput t;
  t.action = A::dispatch;
  t.expected_status = S::reported;
  expect_error([&] { (void)f.svc->transition(i.id, t); }, ErrorKind::conflict, "stale_state", "expected_status");
  t.expected_status = S::registered;
  t.expected_version = 1;
  expect_error([&] { (void)f.svc->transition(i.id, t); }, ErrorKind::conflict, "stale_version", "version");
  t.expected_version = 3;
  expect_error([&] { (void)f.svc->transition(i.id, t); }, ErrorKind::conflict, "stale_version", "version");
  const Incident unchanged = f.svc->require(i.id);
  EXPECT_EQ(unchanged.version, 2);
  EXPECT_EQ(unchanged.status, S::registered);
  EXPECT_EQ(f.svc->history(i.id).size(), 2u);

  t.expected_version = 2;
  const Incident x = f.svc->transition(i.id, t);
  EXPECT_EQ(x.status, S::dispatched);
  EXPECT_EQ(x.version, 3);
  // The same guarded request again is now stale.
  expect_error([&] { (void)f.svc->transition(i.id, t); }, ErrorKind::conflict, "stale_state", "expected_status");
  t.expected_status.reset();
  expect_error([&] { (void)f.svc->transition(i.id, t); }, ErrorKind::conflict, "stale_version", "version");
  EXPECT_EQ(f.svc->require(i.id).version, 3);
}

// ---------------------------------------------------------------------------
// Deadline colours
// ---------------------------------------------------------------------------

TEST(IncidentService, ColoursFollowTheInjectedClock) {
  Fixture f;
  const Category& cat = f.category("unauthorized_structure");
  ASSERT_GE(cat.deadline_hours, 48) << "the test needs a deadline beyond tomorrow";
  const Incident r = f.report();
  EXPECT_EQ(f.svc->colour(r, f.now), Colour::none);  // not dispatched
  f.step(r.id, A::register_);
  f.now += minutes(17);
  const TimePoint d = f.now;
  const TimePoint due = d + hours(cat.deadline_hours);
  const TimePoint near = d + minutes(cat.deadline_hours * 60 * 3 / 4);
  const Incident i = f.step(r.id, A::dispatch);
  ASSERT_EQ(i.due_at, format_iso8601(due));
  ASSERT_LE(local_day_end(near), due) << "the due time must not be on the day it turns near due";
  const TimePoint due_day_start = local_day_end(due) - hours(24);

  auto check = [&](TimePoint at, Colour expected, const char* what) {
    SCOPED_TRACE(what);
    const Incident now_stored = f.svc->require(i.id);
    EXPECT_EQ(f.svc->colour(now_stored, at), expected);
    EXPECT_EQ(core_colour(now_stored, at), expected);
    // The store's query agrees, with the injected clock as the default.
    f.now = at;
    storage::IncidentQuery q;
    q.filter.colours = {expected};
    EXPECT_EQ(ids_of(f.svc->list(q).items), std::vector<std::int64_t>{i.id});
    EXPECT_EQ(f.svc->count(q.filter), 1);
    EXPECT_EQ(f.svc->count(q.filter, at), 1);
  };
  check(d, Colour::on_track, "at dispatch");
  check(d + minutes(1), Colour::on_track, "right after dispatch");
  check(near - milliseconds(1), Colour::on_track, "just before 3/4");
  check(near, Colour::near_due, "at 3/4 of the time");
  check(due_day_start - milliseconds(1), Colour::near_due, "the evening before the due day");
  check(due_day_start, Colour::due_today, "local midnight of the due day");
  check(due - minutes(1), Colour::due_today, "a minute before the deadline");
  check(due, Colour::due_today, "at the deadline");
  check(due + milliseconds(1), Colour::overdue, "just after the deadline");
  check(due + hours(100), Colour::overdue, "long after");

  // Accepting keeps the clock running; resolving stops it.
  f.now = due + hours(1);
  Incident x = f.step(i.id, A::accept);
  EXPECT_EQ(f.svc->colour(x, f.now), Colour::overdue);
  x = f.step(i.id, A::resolve, "done late");
  for (TimePoint at : {d, near, due, due + hours(5)}) {
    EXPECT_EQ(f.svc->colour(x, at), Colour::none);
    EXPECT_EQ(core_colour(x, at), Colour::none);
  }
  storage::IncidentQuery q;
  q.filter.colours = {Colour::none};
  EXPECT_EQ(ids_of(f.svc->list(q).items), std::vector<std::int64_t>{i.id});

  // Another local offset moves "due today".
  IncidentOptions west;
  west.utc_offset_minutes = -300;
  Fixture g(west);
  g.now = f.now;
  const Incident w = g.dispatched();
  const TimePoint wdue = *opt_time(w.due_at);
  const TimePoint west_midnight = local_day_end(wdue, -300) - hours(24);
  EXPECT_EQ(g.svc->colour(w, west_midnight), Colour::due_today);
  EXPECT_EQ(core_colour(w, west_midnight, -300), Colour::due_today);
  EXPECT_EQ(g.svc->clock_at(west_midnight).day_end, format_iso8601(local_day_end(west_midnight, -300)));
  EXPECT_EQ(g.svc->colour(w, west_midnight - milliseconds(1)),
            core_colour(w, west_midnight - milliseconds(1), -300));
}

TEST(IncidentService, ListByColourIsExactlyTheIncidentsOfThatColour) {
  Fixture f;
  const TimePoint t0 = f.now;
  std::vector<std::int64_t> ids;
  ids.push_back(f.report().id);  // reported: never coloured
  for (const char* code : {"lost_person", "exposed_garbage", "corridor_clutter", "unauthorized_structure"}) {
    ids.push_back(f.dispatched(code).id);
  }
  ids.push_back(f.dispatched("corridor_clutter", k_g2_lon, k_g2_lat).id);
  f.now += hours(1);
  const std::int64_t resolved = f.dispatched("exposed_garbage").id;
  f.step(resolved, A::accept);
  f.step(resolved, A::resolve, "done");
  ids.push_back(resolved);
  const std::int64_t returned = f.dispatched("exposed_garbage", k_g2_lon, k_g2_lat).id;
  f.step(returned, A::return_);
  ids.push_back(returned);

  std::map<Colour, int> seen;
  const std::vector<Colour> colours = {Colour::none, Colour::on_track, Colour::near_due, Colour::due_today,
                                       Colour::overdue};
  for (int h : {1, 2, 5, 20, 30, 60, 100, 130, 160, 200}) {
    const TimePoint at = t0 + hours(h);
    std::map<Colour, std::vector<std::int64_t>> expected;
    for (auto id : ids) {
      const Incident i = f.svc->require(id);
      const Colour c = f.svc->colour(i, at);
      EXPECT_EQ(c, core_colour(i, at)) << "incident " << id << " at +" << h << "h";
      expected[c].push_back(id);
      ++seen[c];
    }
    for (Colour c : colours) {
      std::vector<std::int64_t> want = expected[c];
      std::sort(want.rbegin(), want.rend());  // newest first
      storage::IncidentQuery q;
      q.filter.colours = {c};
      EXPECT_EQ(ids_of(f.svc->list(q, at).items), want) << to_string(c) << " at +" << h << "h";
      EXPECT_EQ(f.svc->count(q.filter, at), static_cast<std::int64_t>(want.size()));
    }
    // The urgency order agrees with the colours.
    storage::IncidentQuery q;
    q.sort = storage::IncidentSort::urgency;
    q.limit = 3;
    std::vector<Incident> all;
    for (int guard = 0; guard < 20; ++guard) {
      const auto page = f.svc->list(q, at);
      all.insert(all.end(), page.items.begin(), page.items.end());
      if (!page.next) break;
      q.after = page.next;
    }
    ASSERT_EQ(all.size(), ids.size());
    for (std::size_t k = 1; k < all.size(); ++k) {
      EXPECT_GE(static_cast<int>(f.svc->colour(all[k - 1], at)), static_cast<int>(f.svc->colour(all[k], at)))
          << "at +" << h << "h";
    }
  }
  for (Colour c : colours) EXPECT_GT(seen[c], 0) << to_string(c) << " never occurred";
}

// ---------------------------------------------------------------------------
// Attachments
// ---------------------------------------------------------------------------

TEST(IncidentService, AttachmentPngIsRecognisedAndMeasured) {
  const std::string png = make_png(7, 5);
  ASSERT_FALSE(png.empty()) << "GDAL (Debian's libgdal) has the PNG and MEM drivers";
  ASSERT_EQ(png.substr(1, 3), "PNG");
  Fixture f;
  const Incident i = f.report();
  f.now += minutes(5);
  const Attachment a = f.svc->add_attachment(i.id, png, "shed.png");
  EXPECT_GT(a.id, 0);
  EXPECT_EQ(a.incident_id, i.id);
  EXPECT_EQ(a.media_type, "image/png");
  EXPECT_EQ(a.width, 7);
  EXPECT_EQ(a.height, 5);
  EXPECT_EQ(a.size, static_cast<std::int64_t>(png.size()));
  EXPECT_EQ(a.filename, "shed.png");
  EXPECT_EQ(a.created_at, format_iso8601(f.now));
  const auto loaded = f.svc->attachment(a.id, true);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->data, png);
  EXPECT_EQ(loaded->media_type, "image/png");
  EXPECT_EQ(loaded->width, 7);
  const auto list = f.svc->attachments_of(i.id);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, a.id);
  // A second image of another size.
  const Attachment b = f.svc->add_attachment(i.id, make_png(32, 3), "");
  EXPECT_EQ(b.width, 32);
  EXPECT_EQ(b.height, 3);
  EXPECT_EQ(f.svc->attachments_of(i.id).size(), 2u);
  // To a missing incident.
  expect_error([&] { (void)f.svc->add_attachment(i.id + 1000, png, "x.png"); }, ErrorKind::not_found,
               "incident_not_found");
}

TEST(IncidentService, AttachmentRejectsNonImagesAndOversize) {
  const std::string png = make_png(4, 4);
  ASSERT_FALSE(png.empty()) << "GDAL (Debian's libgdal) has the PNG and MEM drivers";
  IncidentOptions options;
  options.max_attachment_bytes = 4096;
  options.max_attachments_per_incident = 2;
  ASSERT_LT(png.size(), options.max_attachment_bytes);
  Fixture f(options);
  const Incident i = f.report();
  expect_error([&] { (void)f.svc->add_attachment(i.id, random_bytes(2000, 7), "noise.png"); },
               ErrorKind::invalid_input, "not_an_image", "body");
  expect_error([&] { (void)f.svc->add_attachment(i.id, "just some text, not a picture", "a.jpg"); },
               ErrorKind::invalid_input, "not_an_image", "body");
  // A truncated PNG is not an image either.
  expect_error([&] { (void)f.svc->add_attachment(i.id, png.substr(0, 20), "cut.png"); }, ErrorKind::invalid_input,
               "not_an_image", "body");
  expect_error([&] { (void)f.svc->add_attachment(i.id, "", "empty.png"); }, ErrorKind::invalid_input,
               "empty_attachment", "body");
  expect_error([&] { (void)f.svc->add_attachment(i.id, random_bytes(4097, 8), "big.png"); }, ErrorKind::too_large,
               "attachment_too_large", "body");
  // Exactly at the limit is allowed through the size check (and then judged as an image).
  expect_error([&] { (void)f.svc->add_attachment(i.id, random_bytes(4096, 9), "edge.png"); },
               ErrorKind::invalid_input, "not_an_image", "body");
  EXPECT_TRUE(f.svc->attachments_of(i.id).empty());
  // The per-incident limit.
  f.svc->add_attachment(i.id, png, "1.png");
  f.svc->add_attachment(i.id, png, "2.png");
  expect_error([&] { (void)f.svc->add_attachment(i.id, png, "3.png"); }, ErrorKind::too_large,
               "too_many_attachments", "body");
  EXPECT_EQ(f.svc->attachments_of(i.id).size(), 2u);
}

TEST(IncidentService, TransitionAttachmentsMustBelongToTheIncident) {
  const std::string png = make_png(3, 3);
  ASSERT_FALSE(png.empty()) << "GDAL (Debian's libgdal) has the PNG and MEM drivers";
  Fixture f;
  const Incident i = f.report();
  const Incident other = f.report(k_g2_lon, k_g2_lat);
  const Attachment mine = f.svc->add_attachment(i.id, png, "mine.png");
  const Attachment theirs = f.svc->add_attachment(other.id, png, "theirs.png");

  TransitionInput t;
  t.action = A::register_;
  t.attachments = {mine.id, theirs.id};
  expect_error([&] { (void)f.svc->transition(i.id, t); }, ErrorKind::invalid_input, "unknown_attachment",
               "attachments/1");
  t.attachments = {theirs.id + 1000};
  expect_error([&] { (void)f.svc->transition(i.id, t); }, ErrorKind::invalid_input, "unknown_attachment",
               "attachments/0");
  EXPECT_EQ(f.svc->require(i.id).version, 1);
  EXPECT_EQ(f.svc->history(i.id).size(), 1u);

  t.attachments = {mine.id};
  f.svc->transition(i.id, t);
  const auto history = f.svc->history(i.id);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].attachments, std::vector<std::int64_t>{mine.id});
}

// ---------------------------------------------------------------------------
// Statistics through the service (labels)
// ---------------------------------------------------------------------------

TEST(IncidentService, StatsAreLabelled) {
  Fixture f;
  f.report();
  f.report(k_g2_lon, k_g2_lat, "exposed_garbage");
  f.report(k_g2_lon, k_g2_lat, "exposed_garbage");
  storage::StatsQuery by_grid;
  by_grid.group = storage::StatsGroup::grid;
  by_grid.level = Level::grid;
  const auto grids = f.svc->stats(by_grid);
  ASSERT_EQ(grids.size(), 2u);
  std::map<std::string, std::int64_t> received;
  for (const auto& e : grids) received[e.label["code"].get<std::string>()] = e.row.received;
  EXPECT_EQ(received[k_g1], 1);
  EXPECT_EQ(received[k_g2], 2);
  storage::StatsQuery by_category;
  by_category.group = storage::StatsGroup::category;
  const auto cats = f.svc->stats(by_category);
  ASSERT_EQ(cats.size(), 2u);
  EXPECT_EQ(cats[0].row.key, "exposed_garbage");
  EXPECT_EQ(cats[0].label["name"], f.category("exposed_garbage").name);
  EXPECT_EQ(cats[0].row.received, 2);
  EXPECT_EQ(cats[1].row.key, "unauthorized_structure");
}

// ---------------------------------------------------------------------------
// The live feed
// ---------------------------------------------------------------------------

TEST(IncidentService, FeedHubIsToldOfEveryCommit) {
  Fixture f;
  std::vector<std::int64_t> first, second;
  const auto t1 = f.svc->feed().subscribe([&](std::int64_t id) { first.push_back(id); });
  const auto t2 = f.svc->feed().subscribe([&](std::int64_t id) { second.push_back(id); });
  EXPECT_NE(t1, t2);
  EXPECT_EQ(f.svc->feed().subscribers(), 2u);

  const Incident i = f.report();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first.back(), f.svc->last_event_id());
  EXPECT_GT(first.back(), 0);

  f.step(i.id, A::register_);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first.back(), f.svc->last_event_id());
  EXPECT_GT(first[1], first[0]);

  // A batch is one commit: one call with its last event.
  f.svc->report({Fixture::input(k_g1_lon, k_g1_lat), Fixture::input(k_g2_lon, k_g2_lat),
                 Fixture::input(k_g2_lon, k_g2_lat)});
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first.back(), f.svc->last_event_id());
  EXPECT_EQ(first.back() - first[1], 3);
  // What the feed then reads from the store.
  const auto items = f.svc->events_after(first[1], {}, 100);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items.back().event.id, first.back());

  // Failures publish nothing.
  expect_error([&] { (void)f.step(i.id, A::accept); }, ErrorKind::conflict, "illegal_transition");
  expect_error([&] { (void)f.svc->report({Fixture::input(k_g1_lon, k_g1_lat, "nope")}); }, ErrorKind::invalid_input,
               "unknown_category");
  EXPECT_EQ(first.size(), 3u);
  EXPECT_EQ(second, first);

  f.svc->feed().unsubscribe(t1);
  EXPECT_EQ(f.svc->feed().subscribers(), 1u);
  f.step(i.id, A::dispatch);
  EXPECT_EQ(first.size(), 3u);
  ASSERT_EQ(second.size(), 4u);
  EXPECT_EQ(second.back(), f.svc->last_event_id());
  f.svc->feed().unsubscribe(t2);
  f.svc->feed().unsubscribe(t2);  // twice is harmless
  EXPECT_EQ(f.svc->feed().subscribers(), 0u);
  f.step(i.id, A::accept);
  EXPECT_EQ(second.size(), 4u);

  // The feed filters by subtree and category.
  storage::FeedFilter g2_only;
  g2_only.subtree = std::pair{Level::grid, f.g2};
  for (const auto& item : f.svc->events_after(0, g2_only, 100)) EXPECT_EQ(item.incident.grid_id, f.g2);
  EXPECT_EQ(f.svc->events_after(0, g2_only, 100).size(), 2u);
}

}  // namespace
}  // namespace gridd::service

namespace gridd::service {
namespace {

/// The in-memory index of open incidents answers clusters exactly as the
/// store's SQL does, after reports, dispatches with deadlines, closes,
/// rejections and reopenings, at several clocks, and again after a restart.
TEST(OpenIncidentIndex, ClustersAgreeWithTheStoreAtEveryClock) {
  Fixture fx;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> lon(116.0, 116.4), lat(39.9, 40.1);
  const char* categories[] = {"unauthorized_structure", "roof_leak", "property_dispute", "exposed_garbage"};
  std::vector<std::int64_t> ids;
  for (int k = 0; k < 400; ++k) {
    const Incident i = fx.report(lon(rng), lat(rng), categories[k % 4]);
    ids.push_back(i.id);
    switch (k % 7) {
      case 1: fx.step(i.id, A::register_); fx.step(i.id, A::dispatch); break;
      case 2: fx.step(i.id, A::reject); break;
      case 3:
        fx.step(i.id, A::register_); fx.step(i.id, A::dispatch); fx.step(i.id, A::accept);
        fx.step(i.id, A::resolve); fx.step(i.id, A::verify); fx.step(i.id, A::close);
        if (k % 2) fx.step(i.id, A::reopen);
        break;
      case 4: fx.step(i.id, A::register_); fx.step(i.id, A::dispatch); fx.step(i.id, A::accept); break;
      default: break;
    }
    fx.now += minutes(37);  // spread dispatch instants and deadlines
  }
  auto expect_same = [&](const IncidentService& svc, TimePoint at, const std::array<double, 4>& box,
                         int cols) -> std::int64_t {
    SCOPED_TRACE(format_iso8601(at));
    const storage::ColourClock clock{format_iso8601(at), format_iso8601(local_day_end(at, svc.options().utc_offset_minutes))};
    const auto sql = fx.store->clusters(box, cols, cols, clock, std::nullopt);
    const auto mem = svc.clusters(box, cols, cols, at);
    EXPECT_EQ(mem.size(), sql.size());
    if (mem.size() != sql.size()) return 0;
    std::int64_t total = 0;
    for (std::size_t k = 0; k < sql.size(); ++k) {
      EXPECT_EQ(mem[k].count, sql[k].count) << k;
      EXPECT_EQ(mem[k].colours, sql[k].colours) << k;
      EXPECT_NEAR(mem[k].lon, sql[k].lon, 1e-9);
      EXPECT_NEAR(mem[k].lat, sql[k].lat, 1e-9);
      total += mem[k].count;
    }
    return total;
  };
  const std::array<double, 4> city{116.0, 39.9, 116.4, 40.1}, corner{116.05, 39.93, 116.21, 40.02};
  std::set<std::int64_t> colours_seen;
  for (const auto at : {fx.now, fx.now + hours(20), fx.now + hours(24 * 3), fx.now + hours(24 * 30)}) {
    EXPECT_GT(expect_same(*fx.svc, at, city, 16), 0);
    expect_same(*fx.svc, at, corner, 7);
    for (const auto& c : fx.svc->clusters(city, 16, 16, at)) {
      for (int k = 0; k < 5; ++k) {
        if (c.colours[static_cast<std::size_t>(k)] > 0) colours_seen.insert(k);
      }
    }
  }
  EXPECT_GE(colours_seen.size(), 4u) << "the data should exercise most colours";
  // Open ones only: rejected and closed (not reopened) incidents are not counted.
  std::int64_t open = 0;
  for (const auto id : ids) open += is_open(fx.svc->require(id).status) ? 1 : 0;
  EXPECT_EQ(static_cast<std::int64_t>(fx.svc->open_index().size()), open);
  // A new service over the same store loads the same index.
  IncidentService again(*fx.catalog, *fx.store, shipped_categories(), [&] { return fx.now; });
  EXPECT_EQ(again.open_index().size(), fx.svc->open_index().size());
  expect_same(again, fx.now + hours(30), city, 16);
}

}  // namespace
}  // namespace gridd::service

namespace gridd::service {
namespace {

std::int64_t open_total(const IncidentService& svc) {
  std::int64_t n = 0;
  for (const auto c : svc.open_by_colour()) n += c;
  return n;
}

// A second service on the same store stands for a second gridd instance on
// one database: sync_from_store() brings another instance's reports and
// steps into its open-incident index, wakes its feed and tells its
// listeners (the tile caches) where incidents changed.
TEST(IncidentServiceSync, BringsInWhatAnotherInstanceCommitted) {
  Fixture f;
  auto other_store = test::open_test_store(f.dir.file("store.gpkg"));
  storage::IncidentStore& other_incidents = other_store->incidents();
  Catalog other_catalog(std::move(other_store));
  IncidentService other(other_catalog, other_incidents, shipped_categories(), [&f] { return f.now; });
  std::vector<std::int64_t> woken;
  other.feed().subscribe([&](std::int64_t last) { woken.push_back(last); });
  std::vector<spatial::Envelope> heard;
  other.add_change_listener([&](const auto& positions) { heard.insert(heard.end(), positions.begin(), positions.end()); });

  EXPECT_EQ(other.sync_from_store(), 0u);
  EXPECT_TRUE(woken.empty());
  const Incident a = f.report();
  const Incident b = f.dispatched("exposed_garbage", k_g2_lon, k_g2_lat);
  EXPECT_EQ(open_total(other), 0);  // not until it syncs
  EXPECT_EQ(other.sync_from_store(), 4u);  // a's report; b's report, registration, dispatch
  EXPECT_EQ(open_total(other), 2);
  ASSERT_EQ(woken.size(), 1u);
  EXPECT_EQ(woken.back(), f.svc->last_event_id());
  ASSERT_EQ(heard.size(), 4u);
  EXPECT_DOUBLE_EQ(heard.back().minx, k_g2_lon);
  // Clusters answered there now count them, with b's colour.
  const auto cl = other.clusters({116.0, 39.9, 116.4, 40.1}, 1, 1, f.now);
  ASSERT_EQ(cl.size(), 1u);
  EXPECT_EQ(cl[0].count, 2);

  // A's rejection there closes it here; nothing new means nothing to do.
  f.step(a.id, A::reject);
  EXPECT_EQ(other.sync_from_store(), 1u);
  EXPECT_EQ(open_total(other), 1);
  EXPECT_EQ(other.sync_from_store(), 0u);
  EXPECT_EQ(woken.size(), 2u);
  // Its own writes and the other's interleave without losing either.
  other.report({Fixture::input(k_g1_lon, k_g1_lat)});
  f.report();
  other.sync_from_store();
  f.svc->sync_from_store();
  EXPECT_EQ(open_total(other), 3);
  EXPECT_EQ(open_total(*f.svc), 3);
  (void)b;
}

// ---------------------------------------------------------------------------
// The resident desk: tracking codes, limits of anonymous intake, photo window
// ---------------------------------------------------------------------------

TEST(TrackingCode, IsTenCrockfordCharactersAndReadsAsTyped) {
  std::set<std::string> seen;
  for (int k = 0; k < 2000; ++k) {
    const std::string code = new_tracking_code();
    ASSERT_EQ(code.size(), 10u);
    EXPECT_EQ(code.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos) << code;
    seen.insert(code);
    EXPECT_EQ(normalize_tracking_code(code), code);
  }
  EXPECT_EQ(seen.size(), 2000u) << "50 random bits: no repeats in 2000";
  EXPECT_EQ(normalize_tracking_code("k7q2m-9xh3d"), "K7Q2M9XH3D");
  EXPECT_EQ(normalize_tracking_code("O1IL 23456 7"), "0111234567");
  EXPECT_FALSE(normalize_tracking_code("K7Q2M9XH3"));    // too short
  EXPECT_FALSE(normalize_tracking_code("K7Q2M9XH3DD"));  // too long
  EXPECT_FALSE(normalize_tracking_code("K7Q2M9XH3U"));   // U is not in the alphabet
  EXPECT_FALSE(normalize_tracking_code(""));
}

TEST(ResidentDesk, CountsReportsPerAddressInASlidingWindowAndRefusesRepeats) {
  Fixture f;
  ResidentLimits limits;
  parse_report_rate("2/10m", limits);
  limits.duplicate_window = parse_duration("5m", "duplicate-window");
  ResidentDesk desk(*f.svc, limits);
  Incident a;
  a.category = "unauthorized_structure";
  a.description = "a shed  on the pavement";
  a.lon = k_g1_lon;
  a.lat = k_g1_lat;
  a.tracking_code = "AAAAAAAAAA";
  const TimePoint t0 = f.now;
  desk.admit("10.0.0.1", a, t0);
  // The same words and place within 5 minutes: a repeat, naming the first.
  Incident same = a;
  same.description = " a shed on the   pavement ";
  same.lon += 0.0005;  // about 43 m east
  same.tracking_code = "BBBBBBBBBB";
  const std::string why =
      test::expect_error([&] { desk.admit("10.0.0.1", same, t0 + minutes(4)); }, ErrorKind::conflict, "duplicate_report");
  // ... but not from another address, nor after the window, nor 200 m away.
  desk.admit("10.0.0.2", same, t0 + minutes(4));
  Incident far = a;
  far.lon += 0.0025;
  desk.admit("10.0.0.1", far, t0 + minutes(4));
  // Two in ten minutes: the third waits until the first leaves the window.
  Incident third = a;
  third.description = "another thing";
  try {
    desk.admit("10.0.0.1", third, t0 + minutes(7));
    ADD_FAILURE() << "a third report in the window is refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::rate_limited);
    EXPECT_EQ(e.code(), "rate_limited");
    EXPECT_EQ(e.retry_after(), 180) << "the first report leaves the window at t0 + 10 min";
  }
  desk.admit("10.0.0.1", third, t0 + minutes(10));
  // The repeat is welcome again once the duplicate window has passed (and the rate allows).
  desk.admit("10.0.0.1", same, t0 + minutes(20));

  // No limit: 0.
  ResidentLimits none;
  parse_report_rate("0", none);
  none.duplicate_window = parse_duration("0", "duplicate-window");
  ResidentDesk open(*f.svc, none);
  for (int k = 0; k < 100; ++k) open.admit("10.0.0.1", a, t0);

  // Bad settings name themselves.
  ResidentLimits bad;
  for (const char* text : {"3", "x/1h", "3/", "3/0", "-1/1h", "3/1y"}) {
    test::expect_error([&] { parse_report_rate(text, bad); }, ErrorKind::invalid_input,
                       std::string(text) == "3/1y" || std::string(text) == "3/" ? "invalid_duration" : "invalid_rate");
  }
}

TEST(ResidentDesk, TakesPhotosWithinTheWindowAfterReportingAndOneRatingOnceClosed) {
  Fixture f;
  ResidentDesk desk(*f.svc, ResidentLimits{});
  const Incident i = f.report();
  ASSERT_EQ(i.tracking_code.size(), 10u);
  EXPECT_EQ(desk.receipt(i.tracking_code).incident.id, i.id);
  EXPECT_EQ(f.svc->find_by_tracking_code(i.tracking_code)->id, i.id);
  (void)desk.add_photo(i.tracking_code, make_png(4, 4), "a.png");
  f.now += minutes(61);
  test::expect_error([&] { (void)desk.add_photo(i.tracking_code, make_png(4, 4), "b.png"); },
                     ErrorKind::conflict, "photo_window_passed");
  EXPECT_EQ(desk.receipt(i.tracking_code).photos, 1u);
  test::expect_error([&] { (void)desk.rate(i.tracking_code, 5, ""); }, ErrorKind::conflict, "not_closed");
  for (const A a : {A::register_, A::dispatch, A::accept, A::resolve, A::verify, A::close}) f.step(i.id, a);
  EXPECT_TRUE(desk.receipt(i.tracking_code).can_rate);
  const Receipt rated = desk.rate(i.tracking_code, 2, "slow");
  EXPECT_EQ(rated.incident.satisfaction, 2);
  EXPECT_FALSE(rated.can_rate);
  EXPECT_EQ(rated.events.back().actor, "resident");
  test::expect_error([&] { (void)desk.rate(i.tracking_code, 5, ""); }, ErrorKind::conflict, "already_rated");
  test::expect_error([&] { (void)desk.receipt("0000000000"); }, ErrorKind::not_found, "tracking_code_not_found");
}

}  // namespace
}  // namespace gridd::service
