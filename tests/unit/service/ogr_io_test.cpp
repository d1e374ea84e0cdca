// Unit tests for gridd/service/ogr_io.hpp: imports from GeoJSON, CSV and a
// projected Shapefile, field mapping, GCJ-02 input, exports and round trips.
#include <gtest/gtest.h>

#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <filesystem>

#include "gridd/service/ogr_io.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

using test::CatalogFixture;
using test::data_file;
using test::expect_error;

/// Same geometry within `tol` degrees: discrete Hausdorff distance both ways
/// and the same number of vertices (ring orientation and start may differ).
void expect_same_geometry(const GEOSGeometry* a, const GEOSGeometry* b, double tol, const std::string& what) {
  double h = 0;
  ASSERT_EQ(GEOSHausdorffDistance_r(spatial::geos(), a, b, &h), 1);
  EXPECT_LE(h, tol) << what;
  EXPECT_EQ(GEOSGetNumCoordinates_r(spatial::geos(), a), GEOSGetNumCoordinates_r(spatial::geos(), b)) << what;
  double aa = 0, ab = 0;
  GEOSArea_r(spatial::geos(), a, &aa);
  GEOSArea_r(spatial::geos(), b, &ab);
  EXPECT_NEAR(aa, ab, 1e-12) << what;
}

TEST(OgrImport, GeoJsonWithNationalCodesInfersLevelsAndParents) {
  CatalogFixture f;
  std::vector<std::pair<std::size_t, std::size_t>> progress;
  const ImportReport rep = import_file(*f.catalog, ObjectKind::grids, data_file("grids_national.geojson"), {},
                                       [&](std::size_t done, std::size_t total) { progress.emplace_back(done, total); });
  EXPECT_EQ(rep.read, 7u);
  EXPECT_EQ(rep.created, 7u);
  EXPECT_EQ(rep.updated, 0u);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), (std::pair<std::size_t, std::size_t>{7, 7}));

  const auto snap = f.catalog->snapshot();
  ASSERT_EQ(snap->grids().size(), 7u);
  struct Expect {
    const char* code;
    Level level;
    const char* parent;
  };
  for (const auto& e : {Expect{"130101", Level::district, ""}, Expect{"130101001", Level::street, "130101"},
                        Expect{"130101002", Level::street, "130101"},
                        Expect{"130101001001", Level::community, "130101001"},
                        Expect{"130101001001001", Level::grid, "130101001001"},
                        Expect{"130101001001002", Level::grid, "130101001001"},
                        Expect{"MG-1", Level::micro_grid, "130101001001001"}}) {
    const GridEntry* g = snap->grid_by_code(e.code);
    ASSERT_NE(g, nullptr) << e.code;
    EXPECT_EQ(g->grid.level, e.level) << e.code;
    EXPECT_EQ(g->grid.parent_code, e.parent) << e.code;
  }
  const Grid& d = snap->grid_by_code("130101")->grid;
  EXPECT_EQ(d.name, "仁和区");
  EXPECT_EQ(d.households, 52000);
  EXPECT_EQ(d.attributes, (Json{{"note", "district"}}));
  EXPECT_EQ(snap->grid_by_code("130101001")->grid.people,
            (std::vector<Person>{{"赵敏", "grid_worker", "13800000011"}}));
  const Grid& g1 = snap->grid_by_code("130101001001001")->grid;
  EXPECT_EQ(g1.people, (std::vector<Person>{{"孙丽", "grid_worker", "13800000013"}}));
  EXPECT_EQ(g1.attributes, (Json{{"shelter", true}}));
  // Geometry: the hole and the two-part street survive.
  const GEOSGeometry* holed = snap->grid_by_code("130101001001002")->shape.geometry();
  ASSERT_EQ(GEOSGetNumGeometries_r(spatial::geos(), holed), 1);  // stored as a one-part MultiPolygon
  EXPECT_EQ(GEOSGetNumInteriorRings_r(spatial::geos(), GEOSGetGeometryN_r(spatial::geos(), holed, 0)), 1);
  EXPECT_EQ(GEOSGetNumGeometries_r(spatial::geos(), snap->grid_by_code("130101002")->shape.geometry()), 2);
  const auto e = spatial::envelope_of(snap->grid_by_code("130101")->shape.geometry());
  EXPECT_EQ(e.minx, 114.40);
  EXPECT_EQ(e.maxy, 38.10);

  // Importing again updates by code.
  const ImportReport again = import_file(*f.catalog, ObjectKind::grids, data_file("grids_national.geojson"), {});
  EXPECT_EQ(again.created, 0u);
  EXPECT_EQ(again.updated, 7u);
  EXPECT_EQ(f.catalog->snapshot()->grids().size(), 7u);
}

TEST(OgrImport, InvalidFeatureAbortsTheWholeImport) {
  CatalogFixture f;
  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, data_file("grids_bad_level.geojson"), {}); },
               ErrorKind::invalid_input, "invalid_level", "features/1/properties/level");
  EXPECT_TRUE(f.catalog->snapshot()->grids().empty());

  // A feature without geometry, named by its index.
  const std::string path = f.dir.file("nogeom.geojson");
  test::write_file(path, R"({"type":"FeatureCollection","features":[
    {"type":"Feature","properties":{"code":"A","name":"a","level":"district"},
     "geometry":{"type":"Polygon","coordinates":[[[114,37],[114.1,37],[114.1,37.1],[114,37.1],[114,37]]]}},
    {"type":"Feature","properties":{"code":"B","name":"b","level":"district"},"geometry":null}]})");
  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, path, {}); }, ErrorKind::invalid_input,
               "missing_geometry", "features/1/geometry");
  // A self-intersecting polygon, named by its index.
  const std::string bow = f.dir.file("bow.geojson");
  test::write_file(bow, R"({"type":"FeatureCollection","features":[
    {"type":"Feature","properties":{"code":"A","name":"a","level":"district"},
     "geometry":{"type":"Polygon","coordinates":[[[114,37],[114.1,37],[114.1,37.1],[114,37.1],[114,37]]]}},
    {"type":"Feature","properties":{"code":"B","name":"b","level":"district"},
     "geometry":{"type":"Polygon","coordinates":[[[114,37],[114.1,37.1],[114.1,37],[114,37.1],[114,37]]]}}]})");
  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, bow, {}); }, ErrorKind::invalid_input,
               "invalid_geometry", "features/1/geometry");
  EXPECT_TRUE(f.catalog->snapshot()->grids().empty());
  EXPECT_TRUE(f.reopen()->snapshot()->grids().empty());
}

TEST(OgrImport, CsvStationsWithLonLatColumns) {
  CatalogFixture f;
  const ImportReport rep = import_file(*f.catalog, ObjectKind::stations, data_file("stations.csv"), {});
  EXPECT_EQ(rep.read, 3u);
  EXPECT_EQ(rep.created, 3u);
  const auto snap = f.catalog->snapshot();
  ASSERT_EQ(snap->stations().size(), 3u);
  const StationEntry* s = snap->station_by_code("ST-001");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "和平网格驿站");
  EXPECT_EQ(s->kind, "grid_station");
  EXPECT_DOUBLE_EQ(s->lon, 114.4123456789);
  EXPECT_DOUBLE_EQ(s->lat, 38.0234567891);
  EXPECT_EQ(s->address, "和平路 12 号");
  EXPECT_EQ(s->contact, "0311-5550001");
  EXPECT_EQ(s->hours, "08:00-20:00");
  // Unmapped columns become typed attributes; lon/lat do not.
  EXPECT_EQ(s->attributes, (Json{{"capacity", 12}}));
  // The row without a code is still imported.
  bool anonymous = false;
  for (const auto& st : snap->stations()) anonymous |= st->code.empty() && st->kind == "mediation_room";
  EXPECT_TRUE(anonymous);
}

TEST(OgrImport, CsvKeepsLeadingZerosOfCodes) {
  CatalogFixture f;
  const std::string path = f.dir.file("zeros.csv");
  test::write_file(path, "code,name,kind,lon,lat\n007,A,grid_station,114.41,38.02\n010,B,grid_station,114.42,38.03\n");
  import_file(*f.catalog, ObjectKind::stations, path, {});
  const auto snap = f.catalog->snapshot();
  EXPECT_NE(snap->station_by_code("007"), nullptr);
  EXPECT_NE(snap->station_by_code("010"), nullptr);
}

TEST(OgrImport, StationDefaultKindAndKindValidation) {
  CatalogFixture f;
  const std::string path = f.dir.file("nokind.csv");
  test::write_file(path, "name,lon,lat\nA,114.41,38.02\n");
  expect_error([&] { import_file(*f.catalog, ObjectKind::stations, path, {}); }, ErrorKind::invalid_input,
               "missing_kind", "features/0/properties/kind");
  ImportOptions o;
  o.default_kind = "volunteer_station";
  EXPECT_EQ(import_file(*f.catalog, ObjectKind::stations, path, o).created, 1u);
  EXPECT_EQ(f.catalog->snapshot()->stations().at(0)->kind, "volunteer_station");
  o.default_kind = "disco";
  expect_error([&] { import_file(*f.catalog, ObjectKind::stations, path, o); }, ErrorKind::invalid_input,
               "unknown_kind", "features/0/properties/kind");
}

TEST(OgrImport, ShapefileInCgcs2000GaussKrugerIsConvertedToWgs84) {
  CatalogFixture f;
  const std::string shp = f.dir.file("grids_4549.shp");
  {
    // Vertices of [120.5, 120.51] x [31.2, 31.21] in EPSG:4549, from
    //   echo "<lat> <lon>" | cs2cs -f %.6f EPSG:4326 EPSG:4549   (PROJ 9.1.1)
    GDALAllRegister();
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("ESRI Shapefile");
    GDALDatasetUniquePtr ds(drv->Create(shp.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    ASSERT_TRUE(ds);
    OGRSpatialReference srs;
    ASSERT_EQ(srs.importFromEPSG(4549), OGRERR_NONE);
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);  // x = easting in the file
    OGRLayer* layer = ds->CreateLayer("grids_4549", &srs, wkbPolygon, nullptr);
    ASSERT_NE(layer, nullptr);
    OGRFieldDefn code("code", OFTString), name("name", OFTString), level("level", OFTString);
    ASSERT_EQ(layer->CreateField(&code), OGRERR_NONE);
    ASSERT_EQ(layer->CreateField(&name), OGRERR_NONE);
    ASSERT_EQ(layer->CreateField(&level), OGRERR_NONE);
    OGRFeature feat(layer->GetLayerDefn());
    feat.SetField("code", "SH-1");
    feat.SetField("name", "Shanghai west");
    feat.SetField("level", "community");
    OGRLinearRing ring;
    ring.addPoint(547652.460955, 3453256.271903);  // 120.50 31.20
    ring.addPoint(548605.521811, 3453260.623545);  // 120.51 31.20
    ring.addPoint(548600.408432, 3454369.373989);  // 120.51 31.21
    ring.addPoint(547647.447848, 3454365.021551);  // 120.50 31.21
    ring.closeRings();
    OGRPolygon poly;
    poly.addRing(&ring);
    feat.SetGeometry(&poly);
    ASSERT_EQ(layer->CreateFeature(&feat), OGRERR_NONE);
  }
  ASSERT_TRUE(std::filesystem::exists(f.dir.file("grids_4549.prj")));
  const ImportReport rep = import_file(*f.catalog, ObjectKind::grids, shp, {});
  EXPECT_EQ(rep.created, 1u);
  const GridEntry* g = f.catalog->snapshot()->grid_by_code("SH-1");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->grid.level, Level::community);
  std::vector<std::pair<double, double>> xy;
  spatial::for_each_xy(g->shape.geometry(), [&](double x, double y) { xy.emplace_back(x, y); });
  ASSERT_EQ(xy.size(), 5u);
  const std::pair<double, double> expected[] = {{120.50, 31.20}, {120.51, 31.20}, {120.51, 31.21}, {120.50, 31.21}};
  for (const auto& want : expected) {
    double best = 1e9;
    for (const auto& got : xy) best = std::min(best, spatial::geodesic_distance_m(got.first, got.second, want.first, want.second));
    EXPECT_LT(best, 1e-3) << want.first << " " << want.second;  // cs2cs printed micrometres
  }
  // Explicitly overriding the CRS with a wrong one is obeyed (and fails: metres are no degrees).
  ImportOptions wrong;
  wrong.crs = "EPSG:4326";
  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, shp, wrong); }, ErrorKind::invalid_input,
               "coordinate_out_of_range");
}

TEST(OgrImport, FieldMappingRenamesSourceFields) {
  CatalogFixture f;
  ImportOptions o;
  o.fields = {{"code", "BM"}, {"name", "MC"}, {"level", "JB"}, {"parent", "SJBM"}, {"households", "HS"}};
  const ImportReport rep = import_file(*f.catalog, ObjectKind::grids, data_file("grids_mapped.geojson"), o);
  EXPECT_EQ(rep.created, 2u);
  const auto snap = f.catalog->snapshot();
  const GridEntry* s1 = snap->grid_by_code("RC-S1");
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ(s1->grid.name, "Street 1");
  EXPECT_EQ(s1->grid.level, Level::street);
  EXPECT_EQ(s1->grid.parent_code, "RC-D");
  EXPECT_EQ(s1->grid.households, 400);
  EXPECT_EQ(s1->grid.attributes, (Json{{"BZ", "x"}}));  // mapped fields are not repeated as attributes

  o.fields = {{"code", "NOPE"}};
  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, data_file("grids_mapped.geojson"), o); },
               ErrorKind::invalid_input, "unknown_field", "fields");
  o.fields = {{"colour", "BM"}};
  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, data_file("grids_mapped.geojson"), o); },
               ErrorKind::invalid_input, "unknown_property", "fields");
  // Without a mapping, the source has no code: the first feature is named.
  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, data_file("grids_mapped.geojson"), {}); },
               ErrorKind::invalid_input, "missing_code", "features/0/properties/code");
}

TEST(OgrImport, SourceFieldsNamedLikePropertiesOfTheOtherKindAreKeptAsAttributes) {
  CatalogFixture f;
  const std::string path = f.dir.file("grids_with_address.geojson");
  test::write_file(path, R"({"type":"FeatureCollection","features":[
    {"type":"Feature","properties":{"code":"A","name":"a","level":"district","address":"仁和路 1 号","kind":"old town"},
     "geometry":{"type":"Polygon","coordinates":[[[114,37],[114.1,37],[114.1,37.1],[114,37.1],[114,37]]]}}]})");
  import_file(*f.catalog, ObjectKind::grids, path, {});
  EXPECT_EQ(f.catalog->snapshot()->grid_by_code("A")->grid.attributes,
            (Json{{"address", "仁和路 1 号"}, {"kind", "old town"}}));
}

TEST(OgrImport, Gcj02SourceIsConvertedToWgs84) {
  CatalogFixture f;
  ImportOptions o;
  o.crs = "gcj02";
  EXPECT_EQ(import_file(*f.catalog, ObjectKind::stations, data_file("stations_gcj02.geojson"), o).created, 2u);
  const auto snap = f.catalog->snapshot();
  // googollee/eviltransform python/test.py pairs, inverted.
  const StationEntry* sh = snap->station_by_code("GCJ-SH");
  ASSERT_NE(sh, nullptr);
  EXPECT_NEAR(sh->lon, 121.5272106, 1e-8);
  EXPECT_NEAR(sh->lat, 31.1774276, 1e-8);
  const StationEntry* bj = snap->station_by_code("GCJ-BJ");
  ASSERT_NE(bj, nullptr);
  EXPECT_NEAR(bj->lon, 116.377817, 1e-8);
  EXPECT_NEAR(bj->lat, 39.911954, 1e-8);
  o.crs = "EPSG:0";
  expect_error([&] { import_file(*f.catalog, ObjectKind::stations, data_file("stations_gcj02.geojson"), o); },
               ErrorKind::invalid_input, "unknown_crs", "crs");
}

TEST(OgrImport, UnreadableSourceAndUnknownLayer) {
  CatalogFixture f;
  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, f.dir.file("missing.geojson"), {}); },
               ErrorKind::invalid_input, "unreadable_source", "file");
  ImportOptions o;
  o.layer = "nope";
  const std::string msg =
      expect_error([&] { import_file(*f.catalog, ObjectKind::grids, data_file("grids_national.geojson"), o); },
                   ErrorKind::invalid_input, "unknown_layer", "layer");
  EXPECT_NE(msg.find("grids_national"), std::string::npos) << msg;  // lists the layers there are
  o.layer = "grids_national";
  EXPECT_EQ(import_file(*f.catalog, ObjectKind::grids, data_file("grids_national.geojson"), o).read, 7u);
}

TEST(OgrImport, LoadDemoFillsAnEmptyCatalogOnce) {
  CatalogFixture f;
  EXPECT_TRUE(load_demo(*f.catalog, data_file("demo_manifest.json")));
  EXPECT_EQ(f.catalog->snapshot()->grids().size(), 7u);
  EXPECT_EQ(f.catalog->snapshot()->stations().size(), 3u);
  EXPECT_FALSE(load_demo(*f.catalog, data_file("demo_manifest.json")));
  EXPECT_EQ(f.catalog->snapshot()->stations().size(), 3u);
  CatalogFixture g;
  expect_error([&] { (void)load_demo(*g.catalog, g.dir.file("absent.json")); }, ErrorKind::invalid_input,
               "missing_demo");
}

// ---------------------------------------------------------------------------
// Export and round trips
// ---------------------------------------------------------------------------

ExportOptions export_crs(const std::string& crs) {
  ExportOptions o;
  o.crs = crs;
  return o;
}

ExportOptions export_format(const std::string& format) {
  ExportOptions o;
  o.format = format;
  return o;
}

class OgrRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(OgrRoundTrip, ExportThenImportKeepsCodesAndGeometries) {
  CatalogFixture src;
  import_file(*src.catalog, ObjectKind::grids, data_file("grids_national.geojson"), {});
  import_file(*src.catalog, ObjectKind::stations, data_file("stations.csv"), {});
  const auto snap = src.catalog->snapshot();

  const std::string grids_path = src.dir.file("grids_out" + GetParam());
  const std::string stations_path = src.dir.file("stations_out" + GetParam());
  EXPECT_EQ(export_file(*snap, ObjectKind::grids, grids_path, {}).written, 7u);
  EXPECT_EQ(export_file(*snap, ObjectKind::stations, stations_path, {}).written, 3u);

  CatalogFixture dst;
  EXPECT_EQ(import_file(*dst.catalog, ObjectKind::grids, grids_path, {}).created, 7u);
  EXPECT_EQ(import_file(*dst.catalog, ObjectKind::stations, stations_path, {}).created, 3u);
  const auto back = dst.catalog->snapshot();
  ASSERT_EQ(back->grids().size(), 7u);
  for (const auto& e : snap->grids()) {
    const GridEntry* b = back->grid_by_code(e->grid.code);
    ASSERT_NE(b, nullptr) << e->grid.code;
    EXPECT_EQ(b->grid.level, e->grid.level);
    EXPECT_EQ(b->grid.parent_code, e->grid.parent_code);
    EXPECT_EQ(b->grid.households, e->grid.households);
    EXPECT_EQ(b->grid.people.size(), e->grid.people.size());
    expect_same_geometry(e->shape.geometry(), b->shape.geometry(), 1e-9, e->grid.code);
  }
  ASSERT_EQ(back->stations().size(), 3u);
  for (const auto& s : snap->stations()) {
    const StationEntry* b = nullptr;
    for (const auto& c : back->stations()) {
      if (c->kind == s->kind) b = c.get();  // one station per kind in the fixture
    }
    ASSERT_NE(b, nullptr) << s->kind;
    EXPECT_EQ(b->code, s->code);
    EXPECT_NEAR(b->lon, s->lon, 1e-9);
    EXPECT_NEAR(b->lat, s->lat, 1e-9);
  }
}

TEST_P(OgrRoundTrip, ExportThenImportKeepsChineseText) {
  CatalogFixture src;
  import_file(*src.catalog, ObjectKind::grids, data_file("grids_national.geojson"), {});
  import_file(*src.catalog, ObjectKind::stations, data_file("stations.csv"), {});
  const auto snap = src.catalog->snapshot();
  const std::string grids_path = src.dir.file("grids_out" + GetParam());
  const std::string stations_path = src.dir.file("stations_out" + GetParam());
  export_file(*snap, ObjectKind::grids, grids_path, {});
  export_file(*snap, ObjectKind::stations, stations_path, {});
  CatalogFixture dst;
  import_file(*dst.catalog, ObjectKind::grids, grids_path, {});
  import_file(*dst.catalog, ObjectKind::stations, stations_path, {});
  const auto back = dst.catalog->snapshot();
  for (const auto& e : snap->grids()) {
    const GridEntry* b = back->grid_by_code(e->grid.code);
    ASSERT_NE(b, nullptr) << e->grid.code;
    EXPECT_EQ(b->grid.name, e->grid.name);
    EXPECT_EQ(b->grid.people, e->grid.people);
  }
  for (const auto& s : snap->stations()) {
    bool found = false;
    for (const auto& c : back->stations()) {
      if (c->kind != s->kind) continue;
      found = true;
      EXPECT_EQ(c->name, s->name);
      EXPECT_EQ(c->address, s->address);
    }
    EXPECT_TRUE(found) << s->kind;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, OgrRoundTrip, ::testing::Values(".geojson", ".gpkg", ".shp"),
                         [](const auto& info) { return info.param.substr(1); });

TEST(OgrExport, ExportThenImportKeepsAttributes) {
  CatalogFixture src;
  import_file(*src.catalog, ObjectKind::grids, data_file("grids_national.geojson"), {});
  const std::string path = src.dir.file("out.gpkg");
  export_file(*src.catalog->snapshot(), ObjectKind::grids, path, {});
  CatalogFixture dst;
  import_file(*dst.catalog, ObjectKind::grids, path, {});
  for (const auto& e : src.catalog->snapshot()->grids()) {
    EXPECT_EQ(dst.catalog->snapshot()->grid_by_code(e->grid.code)->grid.attributes, e->grid.attributes)
        << e->grid.code;
  }
}

TEST(OgrExport, ProjectedAndGcj02ExportsRoundTrip) {
  CatalogFixture src;
  import_file(*src.catalog, ObjectKind::grids, data_file("grids_national.geojson"), {});
  const auto snap = src.catalog->snapshot();
  for (const char* crs : {"EPSG:4549", "EPSG:3857", "gcj02"}) {
    const std::string path = src.dir.file(std::string("grids_") + (crs[0] == 'g' ? "gcj" : crs + 5) + ".gpkg");
    EXPECT_EQ(export_file(*snap, ObjectKind::grids, path, export_crs(crs)).written, 7u);
    {
      // The file really holds projected / shifted coordinates.
      GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
      ASSERT_TRUE(ds);
      OGREnvelope env;
      ASSERT_EQ(ds->GetLayer(0)->GetExtent(&env), OGRERR_NONE);
      if (std::string(crs) == "gcj02") {
        EXPECT_GT(env.MinX, 114.40);  // shifted east
        EXPECT_LT(env.MinX, 114.42);
      } else {
        EXPECT_GT(env.MinX, 1000) << crs;  // metres
      }
    }
    CatalogFixture dst;
    ImportOptions o;
    if (std::string(crs) == "gcj02") o.crs = "gcj02";  // no SRS in the file: the caller knows
    import_file(*dst.catalog, ObjectKind::grids, path, o);
    for (const auto& e : snap->grids()) {
      const GridEntry* b = dst.catalog->snapshot()->grid_by_code(e->grid.code);
      ASSERT_NE(b, nullptr);
      expect_same_geometry(e->shape.geometry(), b->shape.geometry(), 1e-8, std::string(crs) + " " + e->grid.code);
    }
  }
}

TEST(OgrExport, RejectsUnknownFormatsAndCrs) {
  CatalogFixture f;
  const auto snap = f.catalog->snapshot();
  expect_error([&] { (void)export_file(*snap, ObjectKind::grids, f.dir.file("x.xyz"), {}); },
               ErrorKind::invalid_input, "unknown_format", "format");
  expect_error([&] { (void)export_file(*snap, ObjectKind::grids, f.dir.file("x.dat"), export_format("NoSuchDriver")); },
               ErrorKind::invalid_input, "unknown_format", "format");
  expect_error([&] { (void)export_file(*snap, ObjectKind::grids, f.dir.file("x.gpkg"), export_crs("EPSG:0")); },
               ErrorKind::invalid_input, "unknown_crs", "crs");
  // An empty catalog exports an empty, valid layer.
  EXPECT_EQ(export_file(*snap, ObjectKind::stations, f.dir.file("empty.geojson"), {}).written, 0u);
  EXPECT_TRUE(std::filesystem::exists(f.dir.file("empty.geojson")));
}

}  // namespace
}  // namespace gridd::service
