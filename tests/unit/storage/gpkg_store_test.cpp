// Unit tests for gridd/storage: the GeoPackage store.
#include <gtest/gtest.h>

#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <filesystem>

#include "gridd/spatial/geojson.hpp"
#include "gridd/storage/gpkg_store.hpp"
#include "gridd/storage/store.hpp"
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

TEST(GpkgStore, InsertUpdateDeletePersistAcrossInstances) {
  TempDir dir;
  const std::string path = dir.file("s.gpkg");
  std::int64_t g1 = 0, g2 = 0, s1 = 0, s2 = 0;
  {
    GpkgStore store(path);
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
    GpkgStore store(path);
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
    GpkgStore store(path);
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

TEST(GpkgStore, BatchIsAllOrNothingOnDuplicateCode) {
  TempDir dir;
  const std::string path = dir.file("s.gpkg");
  {
    GpkgStore store(path);
    ChangeSet seed;
    seed.grid_inserts = {make_grid("A", Level::district, "", 116, 39)};
    store.apply(seed);

    ChangeSet c;
    c.grid_inserts = {make_grid("B", Level::district, "", 117, 39), make_grid("A", Level::district, "", 118, 39),
                      make_grid("C", Level::district, "", 119, 39)};
    c.station_inserts = {make_station("S", "grid_station", 116, 39)};
    const std::string msg = expect_error([&] { store.apply(c); }, ErrorKind::conflict, "duplicate_code", "code");
    EXPECT_NE(msg.find("UNIQUE"), std::string::npos) << msg;
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
  GpkgStore reopened(path);
  const auto grids = reopened.load_grids();
  ASSERT_EQ(grids.size(), 2u);
  EXPECT_NE(find_code(grids, "A"), nullptr);
  EXPECT_NE(find_code(grids, "D"), nullptr);
  EXPECT_EQ(find_code(grids, "B"), nullptr);
}

TEST(GpkgStore, StationCodesAreUniqueOnlyWhenSet) {
  TempDir dir;
  GpkgStore store(dir.file("s.gpkg"));
  ChangeSet c;
  c.station_inserts = {make_station("", "grid_station", 116, 39), make_station("", "grid_station", 116.1, 39)};
  EXPECT_EQ(store.apply(c).station_ids.size(), 2u);
  ChangeSet dup;
  dup.station_inserts = {make_station("X", "grid_station", 116, 39), make_station("X", "grid_station", 116.1, 39)};
  expect_error([&] { store.apply(dup); }, ErrorKind::conflict, "duplicate_code");
  EXPECT_EQ(store.load_stations().size(), 2u);
}

TEST(GpkgStore, UpdateOrDeleteOfMissingIdIsNotFoundAndRollsBack) {
  TempDir dir;
  GpkgStore store(dir.file("s.gpkg"));
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

TEST(GpkgStore, EmptyChangeSetIsANoOp) {
  TempDir dir;
  GpkgStore store(dir.file("s.gpkg"));
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
  expect_error([] { (void)open_store("postgresql://u@h/db"); }, ErrorKind::invalid_input, "unsupported_store",
               "store");
  expect_error([] { (void)open_store("PG:dbname=x"); }, ErrorKind::invalid_input, "unsupported_store");
  TempDir dir;
  const auto store = open_store(dir.file("x.gpkg"));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->describe(), "GeoPackage " + dir.file("x.gpkg"));
}

}  // namespace
}  // namespace gridd::storage
