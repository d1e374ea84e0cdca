// Unit tests for gridd/storage: the store contract (grids, stations, their
// history) on both backends, the GeoPackage file itself, PostgreSQL/PostGIS
// specifics (migrations, change notifications, an outage).
#include <gtest/gtest.h>

#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <filesystem>
#include <atomic>
#include <map>
#include <thread>

#include "gridd/spatial/geojson.hpp"
#include "gridd/storage/gpkg_store.hpp"
#include "gridd/storage/pg_schema.hpp"
#include "gridd/storage/pg_store.hpp"
#include "gridd/storage/store.hpp"
#include "common/pg_test_db.hpp"
#include "unit/test_util.hpp"

namespace gridd::storage {
namespace {

using test::expect_error;
using test::TempDir;

Grid make_grid(const std::string& code, Level level, const std::string& parent, double x0, double y0) {
  Grid g;
  g.code = code;
  g.name = "网格 " + code;
  g.level = level;
  g.parent_code = parent;
  g.people = {{"王芳", "grid_worker", "13900000001"}, {"Li Lei", "grid_head", ""}};
  g.households = 321;
  g.attributes = Json{{"area_note", "旧城"}, {"n", 3}};
  g.wkb = spatial::to_wkb(test::box_geom(x0, y0, x0 + 0.01, y0 + 0.01).get());
  g.created_at = "2026-01-01T00:00:00.000Z";
  g.updated_at = "2026-01-02T00:00:00.000Z";
  return g;
}

Station make_station(const std::string& code, const std::string& kind, double lon, double lat) {
  Station s;
  s.code = code;
  s.name = "驿站 " + code;
  s.kind = kind;
  s.lon = lon;
  s.lat = lat;
  s.address = "仁和路 1 号";
  s.contact = "0311-1234567";
  s.hours = "08:00-18:00";
  s.attributes = Json{{"wheelchair", true}};
  s.created_at = "2026-01-01T00:00:00.000Z";
  s.updated_at = "2026-01-01T00:00:00.000Z";
  return s;
}

const Grid* find_code(const std::vector<Grid>& grids, const std::string& code) {
  for (const auto& g : grids) {
    if (g.code == code) return &g;
  }
  return nullptr;
}

TEST(GpkgStore, CreatesAGeoPackageThatGisToolsOpen) {
  TempDir dir;
  const std::string path = dir.file("new.gpkg");
  ASSERT_FALSE(std::filesystem::exists(path));
  {
    GpkgStore store(path);
    EXPECT_EQ(store.describe(), "GeoPackage " + path);
    EXPECT_TRUE(store.load_grids().empty());
    EXPECT_TRUE(store.load_stations().empty());
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  // Open it independently with GDAL, read-only, as QGIS would.
  GDALAllRegister();
  GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
  ASSERT_TRUE(ds);
  EXPECT_STREQ(ds->GetDriver()->GetDescription(), "GPKG");
  struct Expect {
    const char* name;
    OGRwkbGeometryType type;
  };
  for (const auto& e : {Expect{"grids", wkbMultiPolygon}, Expect{"stations", wkbPoint}}) {
    OGRLayer* layer = ds->GetLayerByName(e.name);
    ASSERT_NE(layer, nullptr) << e.name;
    EXPECT_EQ(wkbFlatten(layer->GetGeomType()), e.type) << e.name;
    const OGRSpatialReference* srs = layer->GetSpatialRef();
    ASSERT_NE(srs, nullptr) << e.name;
    EXPECT_STREQ(srs->GetAuthorityName(nullptr), "EPSG");
    EXPECT_STREQ(srs->GetAuthorityCode(nullptr), "4326");
    EXPECT_STREQ(layer->GetFIDColumn(), "id");
    EXPECT_GE(layer->GetLayerDefn()->GetFieldIndex("code"), 0);
    EXPECT_GE(layer->GetLayerDefn()->GetFieldIndex("name"), 0);
  }
  OGRLayer* grids = ds->GetLayerByName("grids");
  for (const char* f : {"level", "parent_code", "people", "households", "attributes", "created_at", "updated_at"}) {
    EXPECT_GE(grids->GetLayerDefn()->GetFieldIndex(f), 0) << f;
  }
}

/// The store tests that hold for every backend run on each: "gpkg" (a file
/// in a temp dir) and "postgis" (a fresh database of the test cluster).
/// open(path) opens the same store again for the same path.
class StoreBackends : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Store> open(const std::string& path) {
    if (GetParam() == "gpkg") return std::make_unique<GpkgStore>(path);
    auto& db = m_databases[path];
    if (!db) db = std::make_unique<test::PgDatabase>();
    return std::make_unique<PgStore>(db->uri());
  }

 private:
  std::map<std::string, std::unique_ptr<test::PgDatabase>> m_databases;
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreBackends, ::testing::Values("gpkg", "postgis"),
                         [](const auto& info) { return info.param; });

TEST_P(StoreBackends, InsertUpdateDeletePersistAcrossInstances) {
  TempDir dir;
  const std::string path = dir.file("s.gpkg");
  std::int64_t g1 = 0, g2 = 0, s1 = 0, s2 = 0;
  {
    auto store_owned = open(path);
    Store& store = *store_owned;
    ChangeSet c;
    c.grid_inserts = {make_grid("110101", Level::district, "", 116.0, 39.0),
                      make_grid("110101001", Level::street, "110101", 116.0, 39.0)};
    c.station_inserts = {make_station("ST1", "grid_station", 116.005, 39.005),
                         make_station("", "mediation_room", 116.006, 39.006)};
    const ChangeResult r = store.apply(c);
    ASSERT_EQ(r.grid_ids.size(), 2u);
    ASSERT_EQ(r.station_ids.size(), 2u);
    g1 = r.grid_ids[0], g2 = r.grid_ids[1], s1 = r.station_ids[0], s2 = r.station_ids[1];
    EXPECT_GT(g1, 0);
    EXPECT_NE(g1, g2);
    EXPECT_NE(s1, s2);
  }
  {
    auto store_owned = open(path);
    Store& store = *store_owned;
    const auto grids = store.load_grids();
    ASSERT_EQ(grids.size(), 2u);
    const Grid* d = find_code(grids, "110101");
    ASSERT_NE(d, nullptr);
    const Grid expected = make_grid("110101", Level::district, "", 116.0, 39.0);
    EXPECT_EQ(d->id, g1);
    EXPECT_EQ(d->name, expected.name);
    EXPECT_EQ(d->level, Level::district);
    EXPECT_EQ(d->parent_code, "");
    EXPECT_EQ(d->people, expected.people);
    EXPECT_EQ(d->households, 321);
    EXPECT_EQ(d->attributes, expected.attributes);
    EXPECT_EQ(d->created_at, expected.created_at);
    EXPECT_EQ(d->updated_at, expected.updated_at);
    // Stored as MultiPolygon; same coordinates.
    const auto geom = spatial::from_wkb(d->wkb);
    EXPECT_EQ(spatial::type_id(geom.get()), GEOS_MULTIPOLYGON);
    const auto want = test::box_geom(116.0, 39.0, 116.01, 39.01);
    EXPECT_EQ(GEOSEquals_r(spatial::geos(), geom.get(), want.get()), 1);
    EXPECT_EQ(find_code(grids, "110101001")->parent_code, "110101");

    const auto stations = store.load_stations();
    ASSERT_EQ(stations.size(), 2u);
    const Station& st = stations[0].id == s1 ? stations[0] : stations[1];
    const Station& anon = stations[0].id == s1 ? stations[1] : stations[0];
    EXPECT_EQ(st.code, "ST1");
    EXPECT_EQ(st.kind, "grid_station");
    EXPECT_EQ(st.lon, 116.005);
    EXPECT_EQ(st.lat, 39.005);
    EXPECT_EQ(st.address, "仁和路 1 号");
    EXPECT_EQ(st.contact, "0311-1234567");
    EXPECT_EQ(st.hours, "08:00-18:00");
    EXPECT_EQ(st.attributes, (Json{{"wheelchair", true}}));
    EXPECT_EQ(anon.id, s2);
    EXPECT_EQ(anon.code, "");

    // Update one of each, delete one of each.
    ChangeSet c;
    Grid upd = *find_code(grids, "110101001");
    upd.name = "renamed";
    upd.households.reset();
    upd.people.clear();
    upd.wkb = spatial::to_wkb(test::box_geom(116.0, 39.0, 116.005, 39.005).get());
    c.grid_updates = {upd};
    Station supd = st;
    supd.lon = 116.5;
    supd.kind = "service_center";
    c.station_updates = {supd};
    c.grid_deletes = {g1};
    c.station_deletes = {s2};
    const ChangeResult r = store.apply(c);
    EXPECT_TRUE(r.grid_ids.empty());
  }
  {
    auto store_owned = open(path);
    Store& store = *store_owned;
    const auto grids = store.load_grids();
    ASSERT_EQ(grids.size(), 1u);
    EXPECT_EQ(grids[0].id, g2);
    EXPECT_EQ(grids[0].name, "renamed");
    EXPECT_FALSE(grids[0].households.has_value());
    EXPECT_TRUE(grids[0].people.empty());
    const auto geom = spatial::from_wkb(grids[0].wkb);
    EXPECT_EQ(spatial::envelope_of(geom.get()).maxx, 116.005);
    const auto stations = store.load_stations();
    ASSERT_EQ(stations.size(), 1u);
    EXPECT_EQ(stations[0].id, s1);
    EXPECT_EQ(stations[0].lon, 116.5);
    EXPECT_EQ(stations[0].kind, "service_center");
  }
}

TEST_P(StoreBackends, BatchIsAllOrNothingOnDuplicateCode) {
  TempDir dir;
  const std::string path = dir.file("s.gpkg");
  {
    auto store_owned = open(path);
    Store& store = *store_owned;
    ChangeSet seed;
    seed.grid_inserts = {make_grid("A", Level::district, "", 116, 39)};
    store.apply(seed);

    ChangeSet c;
    c.grid_inserts = {make_grid("B", Level::district, "", 117, 39), make_grid("A", Level::district, "", 118, 39),
                      make_grid("C", Level::district, "", 119, 39)};
    c.station_inserts = {make_station("S", "grid_station", 116, 39)};
    const std::string msg = expect_error([&] { store.apply(c); }, ErrorKind::conflict, "duplicate_code", "code");
    std::string lower = msg;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_NE(lower.find("unique"), std::string::npos) << msg;
    // Nothing of the batch, in this instance ...
    const auto grids = store.load_grids();
    ASSERT_EQ(grids.size(), 1u);
    EXPECT_EQ(grids[0].code, "A");
    EXPECT_TRUE(store.load_stations().empty());
    // ... and the store is still usable afterwards.
    ChangeSet ok;
    ok.grid_inserts = {make_grid("D", Level::district, "", 120, 39)};
    EXPECT_EQ(store.apply(ok).grid_ids.size(), 1u);
  }
  auto reopened_owned = open(path);
  Store& reopened = *reopened_owned;
  const auto grids = reopened.load_grids();
  ASSERT_EQ(grids.size(), 2u);
  EXPECT_NE(find_code(grids, "A"), nullptr);
  EXPECT_NE(find_code(grids, "D"), nullptr);
  EXPECT_EQ(find_code(grids, "B"), nullptr);
}

TEST_P(StoreBackends, StationCodesAreUniqueOnlyWhenSet) {
  TempDir dir;
  auto store_owned = open(dir.file("s.gpkg"));
  Store& store = *store_owned;
  ChangeSet c;
  c.station_inserts = {make_station("", "grid_station", 116, 39), make_station("", "grid_station", 116.1, 39)};
  EXPECT_EQ(store.apply(c).station_ids.size(), 2u);
  ChangeSet dup;
  dup.station_inserts = {make_station("X", "grid_station", 116, 39), make_station("X", "grid_station", 116.1, 39)};
  expect_error([&] { store.apply(dup); }, ErrorKind::conflict, "duplicate_code");
  EXPECT_EQ(store.load_stations().size(), 2u);
}

TEST_P(StoreBackends, UpdateOrDeleteOfMissingIdIsNotFoundAndRollsBack) {
  TempDir dir;
  auto store_owned = open(dir.file("s.gpkg"));
  Store& store = *store_owned;
  ChangeSet seed;
  seed.grid_inserts = {make_grid("A", Level::district, "", 116, 39)};
  seed.station_inserts = {make_station("S", "grid_station", 116, 39)};
  const ChangeResult ids = store.apply(seed);

  Grid ghost = make_grid("G", Level::district, "", 117, 39);
  ghost.id = 9999;
  ChangeSet upd;
  upd.grid_updates = {ghost};
  expect_error([&] { store.apply(upd); }, ErrorKind::not_found, "grid_not_found", "id");

  ChangeSet del;
  del.grid_deletes = {9999};
  expect_error([&] { store.apply(del); }, ErrorKind::not_found, "grid_not_found", "id");

  Station sghost = make_station("T", "grid_station", 116, 39);
  sghost.id = 4242;
  ChangeSet supd;
  supd.station_updates = {sghost};
  expect_error([&] { store.apply(supd); }, ErrorKind::not_found, "station_not_found", "id");
  ChangeSet sdel;
  sdel.station_deletes = {4242};
  expect_error([&] { store.apply(sdel); }, ErrorKind::not_found, "station_not_found", "id");

  // A batch whose valid update precedes a bad delete leaves nothing behind.
  Grid renamed = store.load_grids().at(0);
  renamed.name = "must not persist";
  ChangeSet mixed;
  mixed.grid_updates = {renamed};
  mixed.station_deletes = {4242};
  mixed.grid_inserts = {make_grid("NEW", Level::district, "", 118, 39)};
  expect_error([&] { store.apply(mixed); }, ErrorKind::not_found, "station_not_found");
  const auto grids = store.load_grids();
  ASSERT_EQ(grids.size(), 1u);
  EXPECT_EQ(grids[0].id, ids.grid_ids[0]);
  EXPECT_EQ(grids[0].name, make_grid("A", Level::district, "", 0, 0).name);
}

TEST_P(StoreBackends, EmptyChangeSetIsANoOp) {
  TempDir dir;
  auto store_owned = open(dir.file("s.gpkg"));
  Store& store = *store_owned;
  const ChangeResult r = store.apply(ChangeSet{});
  EXPECT_TRUE(r.grid_ids.empty());
  EXPECT_TRUE(r.station_ids.empty());
}

TEST(GpkgStore, RejectsFilesThatAreNotGriddGeoPackages) {
  TempDir dir;
  const std::string text = dir.file("notes.txt");
  test::write_file(text, "this is not a GeoPackage\nat all\n");
  expect_error([&] { GpkgStore s(text); }, ErrorKind::invalid_input, "invalid_store", "store");

  const std::string csv = dir.file("table.csv");
  test::write_file(csv, "a,b\n1,2\n");
  expect_error([&] { GpkgStore s(csv); }, ErrorKind::invalid_input, "invalid_store", "store");

  // A valid GeoPackage without gridd's layers.
  const std::string other = dir.file("other.gpkg");
  {
    GDALAllRegister();
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("GPKG");
    GDALDatasetUniquePtr ds(drv->Create(other.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    ASSERT_TRUE(ds);
    ASSERT_NE(ds->CreateLayer("roads", nullptr, wkbLineString, nullptr), nullptr);
  }
  const std::string msg =
      expect_error([&] { GpkgStore s(other); }, ErrorKind::invalid_input, "invalid_store", "store");
  EXPECT_NE(msg.find("grids"), std::string::npos) << msg;

  expect_error([&] { GpkgStore s(dir.file("no/such/dir/x.gpkg")); }, ErrorKind::invalid_input, "invalid_store");
}

TEST(OpenStore, RoutesUrisAndRejectsUnsupportedOnes) {
  expect_error([] { (void)open_store(""); }, ErrorKind::invalid_input, "invalid_store", "store");
  // A PostgreSQL URI goes to PostgreSQL: nothing listens on port 1, so the
  // store is unavailable (HTTP 503), not a bad request.
  const std::string msg = expect_error([] { (void)open_store("postgresql://gridd@127.0.0.1:1/nowhere"); },
                                       ErrorKind::unavailable, "store_unavailable");
  EXPECT_NE(msg.find("cannot connect"), std::string::npos) << msg;
  expect_error([] { (void)open_store("PG:host=127.0.0.1 port=1 dbname=x"); }, ErrorKind::unavailable,
               "store_unavailable");
  TempDir dir;
  const auto store = open_store(dir.file("x.gpkg"));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->describe(), "GeoPackage " + dir.file("x.gpkg"));
}

TEST_P(StoreBackends, HistoryTimeTravelAndRestore) {
  TempDir dir;
  auto owned = open(dir.file("s.gpkg"));
  Store& store = *owned;
  ChangeSet c1;
  c1.at = "2026-03-01T00:00:00.000Z";
  c1.editor = "alice";
  c1.grid_inserts = {make_grid("A", Level::district, "", 116, 39)};
  const std::int64_t id = store.apply(c1).grid_ids.at(0);
  Grid g = store.load_grids().at(0);
  g.name = "A renamed";
  g.version = 2;
  ChangeSet c2;
  c2.at = "2026-04-01T00:00:00.000Z";
  c2.editor = "bob";
  c2.reason = "street merger";
  c2.grid_updates = {g};
  store.apply(c2);
  ChangeSet c3;
  c3.at = "2026-05-01T00:00:00.000Z";
  c3.grid_deletes = {id};
  store.apply(c3);
  EXPECT_TRUE(store.load_grids().empty());

  const auto history = store.grid_history(id);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].operation, "create");
  EXPECT_EQ(history[0].editor, "alice");
  EXPECT_EQ(history[0].valid_from, "2026-03-01T00:00:00.000Z");
  EXPECT_EQ(history[0].valid_to, "2026-04-01T00:00:00.000Z");
  EXPECT_EQ(history[1].operation, "update");
  EXPECT_EQ(history[1].reason, "street merger");
  EXPECT_EQ(history[1].grid.name, "A renamed");
  EXPECT_EQ(history[1].valid_to, "2026-05-01T00:00:00.000Z");
  EXPECT_EQ(history[2].operation, "delete");
  EXPECT_EQ(history[2].grid.version, 3);
  EXPECT_TRUE(history[2].grid.wkb.empty());
  EXPECT_TRUE(store.grid_history(id + 1000).empty());

  auto at = [&](const char* t) { return store.load_grids_at(t); };
  EXPECT_TRUE(at("2026-02-01T00:00:00.000Z").empty());
  ASSERT_EQ(at("2026-03-15T00:00:00.000Z").size(), 1u);
  EXPECT_EQ(at("2026-03-15T00:00:00.000Z")[0].name, make_grid("A", Level::district, "", 0, 0).name);
  ASSERT_EQ(at("2026-04-01T00:00:00.000Z").size(), 1u);
  EXPECT_EQ(at("2026-04-01T00:00:00.000Z")[0].name, "A renamed");
  EXPECT_EQ(at("2026-04-01T00:00:00.000Z")[0].id, id);
  EXPECT_TRUE(at("2026-06-01T00:00:00.000Z").empty());
  const std::vector<std::string> times = {"2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z",
                                          "2026-05-01T00:00:00.000Z"};
  EXPECT_EQ(store.grid_change_times(), times);

  // Restore under the same id.
  Grid back = history[1].grid;
  back.id = id;
  back.version = 4;
  ChangeSet c4;
  c4.at = "2026-06-01T00:00:00.000Z";
  c4.grid_inserts = {back};
  EXPECT_EQ(store.apply(c4).grid_ids.at(0), id);
  ASSERT_EQ(store.load_grids().size(), 1u);
  EXPECT_EQ(store.load_grids()[0].name, "A renamed");
  EXPECT_EQ(store.grid_history(id).back().operation, "restore");
}

TEST_P(StoreBackends, TokensAndTheAuditLog) {
  TempDir dir;
  auto owned = open(dir.file("s.gpkg"));
  AuthStore& auth = owned->auth();
  const NewToken t = auth.create_token(Role::dispatcher, "370811001", "desk 1");
  EXPECT_EQ(t.record.hash, hash_token(t.secret));
  const NewToken u = auth.create_token(Role::viewer, "", "wall");
  auto all = auth.tokens();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, t.record.id);
  EXPECT_EQ(all[0].role, Role::dispatcher);
  EXPECT_EQ(all[0].scope_code, "370811001");
  EXPECT_EQ(all[1].scope_code, "");
  EXPECT_EQ(all[0].phone, "");
  const NewToken w = auth.create_token(Role::worker, "370811001", "王芳", "13800000042");
  all = auth.tokens();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].id, w.record.id);
  EXPECT_EQ(all[2].role, Role::worker);
  EXPECT_EQ(all[2].name, "王芳");
  EXPECT_EQ(all[2].phone, "13800000042");
  EXPECT_TRUE(auth.revoke_token(u.record.id));
  EXPECT_FALSE(auth.revoke_token(u.record.id));
  EXPECT_FALSE(auth.tokens()[1].live());

  AuditEntry e;
  e.principal_id = t.record.id;
  e.principal_name = "desk 1";
  e.principal_role = "dispatcher";
  e.method = "PUT";
  e.path = "/grids/7";
  e.target_kind = "grid";
  e.target_id = "7";
  e.status = 200;
  e.before = R"({"name":"old"})";
  e.after = R"({"name":"new"})";
  e.request_id = "r-1";
  const auto first = auth.append_audit(e);
  e.before.clear();
  const auto second = auth.append_audit(e);
  EXPECT_GT(second, first);
  const auto log = auth.audit(0, 10);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(Json::parse(log[0].before), Json::parse(R"({"name":"old"})"));
  EXPECT_EQ(Json::parse(log[0].after), Json::parse(R"({"name":"new"})"));
  EXPECT_EQ(log[0].method, "PUT");
  EXPECT_EQ(log[0].status, 200);
  EXPECT_EQ(log[0].request_id, "r-1");
  EXPECT_EQ(log[1].before, "");
  EXPECT_EQ(auth.audit(first, 10).size(), 1u);
}

// --- PostgreSQL/PostGIS only ---------------------------------------------------

/// Count the rows of a query in `uri`'s database.
std::int64_t scalar(const std::string& uri, const std::string& sql) {
  pg::Connection c(uri);
  return c.query(sql).i64(0, 0);
}

TEST(PgStore, MigratesOnceRecordsTheVersionAndRefusesANewerSchema) {
  test::PgDatabase db;
  { PgStore a(db.uri()); }
  { PgStore b(db.uri()); }  // a second start runs nothing again
  EXPECT_EQ(scalar(db.uri(), "SELECT count(*) FROM gridd_schema_migrations"),
            static_cast<std::int64_t>(pg::migrations().size()));
  EXPECT_EQ(scalar(db.uri(), "SELECT max(version) FROM gridd_schema_migrations"), pg::migrations().back().version);
  // GiST indexes on every geometry.
  EXPECT_GE(scalar(db.uri(), "SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%USING gist%'"), 4);
  {
    pg::Connection c(db.uri());
    c.exec("INSERT INTO gridd_schema_migrations (version, description) VALUES (999, 'from the future')");
  }
  const std::string msg = expect_error([&] { PgStore s(db.uri()); }, ErrorKind::invalid_input, "invalid_store");
  EXPECT_NE(msg.find("newer"), std::string::npos) << msg;
}

TEST(PgStore, CreatesPostGisWhenMissingAndDescribesItselfWithoutThePassword) {
  test::PgDatabase db;
  {
    pg::Connection c(db.uri());
    c.exec("DROP EXTENSION postgis");
  }
  PgStore store(db.uri());
  EXPECT_EQ(scalar(db.uri(), "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'"), 1);
  EXPECT_EQ(store.describe().rfind("PostgreSQL postgresql://", 0), 0u) << store.describe();
  EXPECT_EQ(pg::redacted("postgresql://u:secret@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(pg::redacted("PG:host=h password=secret dbname=x"), "PG:host=h password=*** dbname=x");
}

TEST(PgStore, AConcurrentDuplicateCodeFromAnotherInstanceIsAConflict) {
  test::PgDatabase db;
  PgStore a(db.uri()), b(db.uri());
  ChangeSet c;
  c.grid_inserts = {make_grid("X1", Level::district, "", 116, 39)};
  a.apply(c);
  expect_error([&] { b.apply(c); }, ErrorKind::conflict, "duplicate_code", "code");
  EXPECT_EQ(b.load_grids().size(), 1u);
}

/// Collects watch() callbacks.
struct Heard {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<ExternalChange> changes;
  void operator()(const ExternalChange& c) {
    std::lock_guard lock(mutex);
    changes.push_back(c);
    cv.notify_all();
  }
  /// Wait until `pred` holds for some change heard (at most `ms`).
  template <class Pred>
  bool wait_for(Pred pred, int ms = 5000) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, std::chrono::milliseconds(ms), [&] {
      for (const auto& c : changes) {
        if (pred(c)) return true;
      }
      return false;
    });
  }
  void clear() {
    std::lock_guard lock(mutex);
    changes.clear();
  }
};

TEST(PgStore, WatchHearsWhatOtherInstancesCommitButNotItsOwnWrites) {
  test::PgDatabase db;
  PgStore a(db.uri()), b(db.uri());
  auto heard = std::make_shared<Heard>();
  ASSERT_TRUE(b.watch([heard](const ExternalChange& c) { (*heard)(c); }));
  // Listening starts with a resync (what came before was announced to no one).
  ASSERT_TRUE(heard->wait_for([](const ExternalChange& c) { return c.resync; }));
  heard->clear();
  ChangeSet grids;
  grids.grid_inserts = {make_grid("W1", Level::district, "", 116, 39)};
  const auto t0 = std::chrono::steady_clock::now();
  a.apply(grids);
  ASSERT_TRUE(heard->wait_for([](const ExternalChange& c) { return c.grids && !c.stations; }));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  ChangeSet stations;
  stations.station_inserts = {make_station("S1", "grid_station", 116, 39)};
  a.apply(stations);
  ASSERT_TRUE(heard->wait_for([](const ExternalChange& c) { return c.stations; }));
  heard->clear();
  // b's own write is not announced back to b.
  ChangeSet own;
  own.grid_inserts = {make_grid("W2", Level::district, "", 117, 39)};
  b.apply(own);
  EXPECT_FALSE(heard->wait_for([](const ExternalChange& c) { return c.grids; }, 500));
  // A failed (rolled back) write announces nothing either.
  ChangeSet dup;
  dup.grid_inserts = {make_grid("W1", Level::district, "", 118, 39)};
  EXPECT_THROW(a.apply(dup), Error);
  EXPECT_FALSE(heard->wait_for([](const ExternalChange& c) { return c.grids; }, 500));
  b.stop_watching();
}

TEST(PgStore, AnOutageFailsWritesAsUnavailableLosesNothingAndHealsByItself) {
  test::PgCluster cluster;
  const std::string uri = cluster.database("outage");
  PgStore store(uri);
  auto heard = std::make_shared<Heard>();
  ASSERT_TRUE(store.watch([heard](const ExternalChange& c) { (*heard)(c); }));
  ASSERT_TRUE(heard->wait_for([](const ExternalChange& c) { return c.resync; }));
  heard->clear();
  ChangeSet before;
  before.grid_inserts = {make_grid("O1", Level::district, "", 116, 39)};
  store.apply(before);

  cluster.halt();
  ChangeSet during;
  during.grid_inserts = {make_grid("O2", Level::district, "", 117, 39)};
  expect_error([&] { store.apply(during); }, ErrorKind::unavailable, "store_unavailable");
  expect_error([&] { (void)store.load_grids(); }, ErrorKind::unavailable, "store_unavailable");
  expect_error([&] { (void)store.incidents().last_event_id(); }, ErrorKind::unavailable, "store_unavailable");

  cluster.resume();
  // Back without a restart: the listener reconnects and asks for a resync,
  // and the next write goes through on a fresh connection.
  EXPECT_TRUE(heard->wait_for([](const ExternalChange& c) { return c.resync; }, 15000));
  ChangeSet after;
  after.grid_inserts = {make_grid("O3", Level::district, "", 118, 39)};
  store.apply(after);
  const auto grids = store.load_grids();
  ASSERT_EQ(grids.size(), 2u);
  EXPECT_NE(find_code(grids, "O1"), nullptr);
  EXPECT_EQ(find_code(grids, "O2"), nullptr);  // refused, so not written
  EXPECT_NE(find_code(grids, "O3"), nullptr);
}
}  // namespace
}  // namespace gridd::storage

namespace gridd::storage {
namespace {

using Claim = IdempotencyClaim::State;
using namespace std::chrono_literals;

TEST_P(StoreBackends, IdempotencyKeysRunARequestOnceAndKeepItsAnswer) {
  TempDir dir;
  const std::string path = dir.file("s.gpkg");
  const auto t0 = std::chrono::system_clock::time_point(std::chrono::sys_days{std::chrono::year{2026} / 12 / 7});
  IdempotentResponse answer;
  answer.status = 201;
  answer.content_type = "application/geo+json";
  answer.body = std::string("{\"id\":7}\0\xff", 10);  // kept as bytes
  answer.headers = {{"Location", "/incidents/7"}, {"ETag", "\"7-1\""}};
  {
    auto owned = open(path);
    IdempotencyStore& keys = owned->idempotency();
    EXPECT_EQ(keys.claim("1:k1", "POST /incidents abc", t0).state, Claim::claimed);
    // A second request with the key while the first runs, or with another body.
    EXPECT_EQ(keys.claim("1:k1", "POST /incidents abc", t0 + 1s).state, Claim::in_progress);
    EXPECT_EQ(keys.claim("1:k1", "POST /incidents xyz", t0 + 1s).state, Claim::mismatch);
    keys.complete("1:k1", answer);
    // A failed request's claim is forgotten: it may be sent again.
    EXPECT_EQ(keys.claim("1:k2", "POST /visits", t0).state, Claim::claimed);
    keys.release("1:k2");
    EXPECT_EQ(keys.claim("1:k2", "POST /visits", t0 + 2s).state, Claim::claimed);
  }
  auto owned = open(path);  // kept across a restart
  IdempotencyStore& keys = owned->idempotency();
  const auto again = keys.claim("1:k1", "POST /incidents abc", t0 + 23h);
  ASSERT_EQ(again.state, Claim::replay);
  EXPECT_EQ(again.response.status, 201);
  EXPECT_EQ(again.response.content_type, "application/geo+json");
  EXPECT_EQ(again.response.body, answer.body);
  EXPECT_EQ(again.response.headers, answer.headers);
  EXPECT_EQ(keys.claim("2:k1", "POST /incidents abc", t0 + 23h).state, Claim::claimed) << "another principal's key";
  // After the retention period the key is new again.
  EXPECT_EQ(keys.claim("1:k1", "POST /incidents abc", t0 + 24h + 1s).state, Claim::claimed);
}

TEST_P(StoreBackends, OneOfManyConcurrentClaimsOfAKeyWins) {
  TempDir dir;
  auto owned = open(dir.file("s.gpkg"));
  IdempotencyStore& keys = owned->idempotency();
  const auto now = std::chrono::system_clock::now();
  std::atomic<int> claimed{0}, running{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      const auto c = keys.claim("1:same", "POST /incidents abc", now);
      if (c.state == Claim::claimed) ++claimed;
      if (c.state == Claim::in_progress) ++running;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.load(), 1);
  EXPECT_EQ(running.load(), 7);
}

}  // namespace
}  // namespace gridd::storage
