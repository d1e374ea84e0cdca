// Unit tests for the planners' import and export (gridd/service/ogr_io.hpp):
// text encodings of Shapefiles and CSV (GBK, GB18030, .cpg), validation of
// every feature with a full report (nothing committed, --skip-invalid,
// --make-valid), CGCS2000 Gauss-Krüger input, exports to every format read
// back with OGR, subtrees and levels. Binary fixtures (Shapefiles) are built
// here with OGR; nothing binary is committed.
#include <gtest/gtest.h>

#include <cpl_conv.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "gridd/core/incident.hpp"
#include "gridd/core/json.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/ogr_io.hpp"
#include "gridd/spatial/geojson.hpp"
#include "gridd/storage/gpkg_store.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

using test::CatalogFixture;
using test::data_file;
using test::expect_error;

// 金城街道 and 济阳街道 in GBK (as `iconv -f UTF-8 -t GBK` prints them).
const std::string k_jincheng = "金城街道";
const std::string k_jiyang = "济阳街道";
const std::string k_jincheng_gbk = "\xBD\xF0\xB3\xC7\xBD\xD6\xB5\xC0";
const std::string k_jiyang_gbk = "\xBC\xC3\xD1\xF4\xBD\xD6\xB5\xC0";

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

struct ShpFeature {
  std::string code, name, level, parent;
  std::vector<std::pair<double, double>> ring;  // closed by the writer
};

/// A polygon Shapefile written by OGR: fields code/name/level/parent, the
/// DBF in `encoding` (GDAL writes the .cpg), with a .prj when `epsg` > 0.
void write_shapefile(const std::string& path, const std::vector<ShpFeature>& features, const std::string& encoding,
                     int epsg = 4326) {
  GDALAllRegister();
  GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("ESRI Shapefile");
  GDALDatasetUniquePtr ds(drv->Create(path.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  ASSERT_TRUE(ds);
  OGRSpatialReference srs;
  if (epsg > 0) {
    ASSERT_EQ(srs.importFromEPSG(epsg), OGRERR_NONE);
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  }
  const std::string enc = "ENCODING=" + encoding;
  const char* lco[] = {enc.c_str(), nullptr};
  OGRLayer* layer = ds->CreateLayer(std::filesystem::path(path).stem().c_str(), epsg > 0 ? &srs : nullptr,
                                    wkbPolygon, const_cast<char**>(lco));
  ASSERT_NE(layer, nullptr);
  for (const char* f : {"code", "name", "level", "parent"}) {
    OGRFieldDefn d(f, OFTString);
    ASSERT_EQ(layer->CreateField(&d), OGRERR_NONE);
  }
  for (const auto& f : features) {
    OGRFeature feat(layer->GetLayerDefn());
    feat.SetField("code", f.code.c_str());
    feat.SetField("name", f.name.c_str());
    feat.SetField("level", f.level.c_str());
    if (!f.parent.empty()) feat.SetField("parent", f.parent.c_str());
    OGRLinearRing ring;
    for (const auto& [x, y] : f.ring) ring.addPoint(x, y);
    ring.closeRings();
    OGRPolygon poly;
    poly.addRing(&ring);
    feat.SetGeometry(&poly);
    ASSERT_EQ(layer->CreateFeature(&feat), OGRERR_NONE);
  }
}

std::vector<std::pair<double, double>> box_ring(double minx, double miny, double maxx, double maxy) {
  return {{minx, miny}, {maxx, miny}, {maxx, maxy}, {minx, maxy}};
}

/// Two streets of Rencheng district, Jining (the demo city), with Chinese names.
std::vector<ShpFeature> jining_streets() {
  return {{"370811", "任城区", "district", "", box_ring(116.50, 35.35, 116.70, 35.50)},
          {"370811001", k_jincheng, "street", "370811", box_ring(116.55, 35.40, 116.60, 35.45)},
          {"370811002", k_jiyang, "street", "370811", box_ring(116.60, 35.40, 116.65, 35.45)}};
}

void expect_jining_names(const Catalog& catalog) {
  const auto snap = catalog.snapshot();
  ASSERT_EQ(snap->grids().size(), 3u);
  ASSERT_NE(snap->grid_by_code("370811001"), nullptr);
  EXPECT_EQ(snap->grid_by_code("370811")->grid.name, "任城区");
  EXPECT_EQ(snap->grid_by_code("370811001")->grid.name, k_jincheng);
  EXPECT_EQ(snap->grid_by_code("370811002")->grid.name, k_jiyang);
}

/// The rejections of an import that must be refused (nothing written).
ImportReport refused(Catalog& catalog, ObjectKind kind, const std::string& path, const ImportOptions& o = {}) {
  try {
    import_file(catalog, kind, path, o);
  } catch (const ImportRejected& e) {
    return e.report();
  }
  ADD_FAILURE() << "expected ImportRejected for " << path;
  return {};
}

// ---------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------

TEST(ImportEncoding, GbkShapefileHonoursItsCpg) {
  CatalogFixture f;
  const std::string shp = f.dir.file("streets.shp");
  write_shapefile(shp, jining_streets(), "GBK");
  ASSERT_EQ(trimmed(read_bytes(f.dir.file("streets.cpg"))), "GBK");
  const std::string dbf = read_bytes(f.dir.file("streets.dbf"));
  ASSERT_NE(dbf.find(k_jincheng_gbk), std::string::npos);  // really GBK on disk
  ASSERT_EQ(dbf.find(k_jincheng), std::string::npos);

  const ImportReport rep = import_file(*f.catalog, ObjectKind::grids, shp, {});
  EXPECT_EQ(rep.created, 3u);
  EXPECT_NE(rep.encoding.find("GBK"), std::string::npos) << rep.encoding;
  expect_jining_names(*f.catalog);

  // ArcGIS writes the code page number: "936" is GBK too.
  test::write_file(f.dir.file("streets.cpg"), "936");
  CatalogFixture g;
  const ImportReport rep936 = import_file(*g.catalog, ObjectKind::grids, shp, {});
  EXPECT_NE(rep936.encoding.find("936"), std::string::npos) << rep936.encoding;
  expect_jining_names(*g.catalog);
}

TEST(ImportEncoding, GbkShapefileWithoutCpgNeedsTheEncodingOption) {
  const test::TempDir dir;
  const std::string shp = dir.file("streets.shp");
  write_shapefile(shp, jining_streets(), "GBK");
  std::filesystem::remove(dir.file("streets.cpg"));

  {
    // Without .cpg and option the bytes are not UTF-8: every feature with
    // Chinese text is rejected, naming the field and the remedy.
    CatalogFixture f;
    const ImportReport rep = refused(*f.catalog, ObjectKind::grids, shp);
    ASSERT_EQ(rep.rejected.size(), 3u);
    for (const auto& r : rep.rejected) {
      EXPECT_EQ(r.error, "invalid_encoding") << r.message;
      EXPECT_NE(r.message.find("--encoding"), std::string::npos) << r.message;
    }
    EXPECT_EQ(rep.rejected[0].field, "features/0/properties/name");
    EXPECT_TRUE(f.catalog->snapshot()->grids().empty());
  }
  for (const char* enc : {"GBK", "GB18030", "CP936"}) {
    CatalogFixture f;
    ImportOptions o;
    o.encoding = enc;
    const ImportReport rep = import_file(*f.catalog, ObjectKind::grids, shp, o);
    EXPECT_EQ(rep.created, 3u) << enc;
    EXPECT_EQ(rep.encoding, enc);
    expect_jining_names(*f.catalog);
  }
  {
    // The option overrides a wrong .cpg.
    test::write_file(dir.file("streets.cpg"), "UTF-8");
    CatalogFixture f;
    EXPECT_EQ(refused(*f.catalog, ObjectKind::grids, shp).rejected.at(0).error, "invalid_encoding");
    ImportOptions o;
    o.encoding = "GBK";
    EXPECT_EQ(import_file(*f.catalog, ObjectKind::grids, shp, o).created, 3u);
    expect_jining_names(*f.catalog);
  }
  CatalogFixture f;
  ImportOptions o;
  o.encoding = "NO-SUCH-ENCODING";
  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, shp, o); }, ErrorKind::invalid_input,
               "unknown_encoding", "encoding");
}

TEST(ImportEncoding, GbkCsvIsRecodedAndUtf8FormatsRefuseAnEncoding) {
  CatalogFixture f;
  const std::string csv = f.dir.file("stations_gbk.csv");
  test::write_file(csv, "code,name,kind,lon,lat,note\nJC-1," + k_jincheng_gbk + ",grid_station,116.57,35.42," +
                            k_jiyang_gbk + "\n");
  EXPECT_EQ(refused(*f.catalog, ObjectKind::stations, csv).rejected.at(0).error, "invalid_encoding");
  ImportOptions o;
  o.encoding = "GBK";
  EXPECT_EQ(import_file(*f.catalog, ObjectKind::stations, csv, o).created, 1u);
  const StationEntry* s = f.catalog->snapshot()->station_by_code("JC-1");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, k_jincheng);
  EXPECT_EQ(s->attributes, (Json{{"note", k_jiyang}}));

  expect_error([&] { import_file(*f.catalog, ObjectKind::grids, data_file("grids_national.geojson"), o); },
               ErrorKind::invalid_input, "encoding_not_applicable", "encoding");
  o.encoding = "UTF-8";  // says what GeoJSON is anyway
  EXPECT_EQ(import_file(*f.catalog, ObjectKind::grids, data_file("grids_national.geojson"), o).created, 7u);
}

TEST(ExportEncoding, GbkShapefileRoundTripKeepsChineseNames) {
  CatalogFixture src;
  const std::string in = src.dir.file("in.shp");
  write_shapefile(in, jining_streets(), "UTF-8");
  ASSERT_EQ(import_file(*src.catalog, ObjectKind::grids, in, {}).created, 3u);

  // Default: UTF-8 with a .cpg saying so.
  const std::string utf8 = src.dir.file("utf8.shp");
  EXPECT_EQ(export_file(*src.catalog->snapshot(), ObjectKind::grids, utf8, {}).written, 3u);
  EXPECT_EQ(trimmed(read_bytes(src.dir.file("utf8.cpg"))), "UTF-8");
  EXPECT_NE(read_bytes(src.dir.file("utf8.dbf")).find(k_jincheng), std::string::npos);

  // GBK: GBK bytes in the DBF (not UTF-8) and a .cpg naming GBK.
  const std::string gbk = src.dir.file("gbk.shp");
  ExportOptions eo;
  eo.encoding = "GBK";
  EXPECT_EQ(export_file(*src.catalog->snapshot(), ObjectKind::grids, gbk, eo).written, 3u);
  EXPECT_EQ(trimmed(read_bytes(src.dir.file("gbk.cpg"))), "GBK");
  const std::string dbf = read_bytes(src.dir.file("gbk.dbf"));
  EXPECT_NE(dbf.find(k_jincheng_gbk), std::string::npos);
  EXPECT_NE(dbf.find(k_jiyang_gbk), std::string::npos);
  EXPECT_EQ(dbf.find(k_jincheng), std::string::npos);
  EXPECT_EQ(dbf.find(k_jiyang), std::string::npos);

  // Back into a fresh store: the names are intact.
  CatalogFixture dst;
  const ImportReport rep = import_file(*dst.catalog, ObjectKind::grids, gbk, {});
  EXPECT_EQ(rep.created, 3u);
  expect_jining_names(*dst.catalog);
  for (const auto& e : src.catalog->snapshot()->grids()) {
    const GridEntry* b = dst.catalog->snapshot()->grid_by_code(e->grid.code);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(b->grid.parent_code, e->grid.parent_code);
    EXPECT_EQ(b->grid.level, e->grid.level);
  }

  // GB18030 likewise; GeoJSON is UTF-8 only.
  eo.encoding = "GB18030";
  export_file(*src.catalog->snapshot(), ObjectKind::grids, src.dir.file("gb18030.shp"), eo);
  EXPECT_EQ(trimmed(read_bytes(src.dir.file("gb18030.cpg"))), "GB18030");
  CatalogFixture dst2;
  import_file(*dst2.catalog, ObjectKind::grids, src.dir.file("gb18030.shp"), {});
  expect_jining_names(*dst2.catalog);
  eo.encoding = "GBK";
  expect_error([&] { (void)export_file(*src.catalog->snapshot(), ObjectKind::grids, src.dir.file("x.geojson"), eo); },
               ErrorKind::invalid_input, "encoding_not_applicable", "encoding");
}

// ---------------------------------------------------------------------------
// Validation before commit
// ---------------------------------------------------------------------------

/// A GeoJSON feature line.
std::string feature(const Json& properties, const Json& geometry) {
  return Json{{"type", "Feature"}, {"properties", properties}, {"geometry", geometry}}.dump();
}

/// Eleven features: two good ones and nine rejected for different reasons.
std::string bad_grids_file(const test::TempDir& dir) {
  const Json box = test::box_polygon(114.0, 37.0, 114.1, 37.1);
  const std::vector<std::string> features = {
      feature({{"code", "D1"}, {"name", "good district"}, {"level", "district"}}, box),             // 0 ok
      feature({{"name", "no code"}, {"level", "street"}, {"parent", "D1"}}, box),                    // 1
      feature({{"code", "S1"}, {"name", "twin a"}, {"level", "street"}, {"parent", "D1"}}, box),     // 2
      feature({{"code", "S1"}, {"name", "twin b"}, {"level", "street"}, {"parent", "D1"}}, box),     // 3
      feature({{"code", "S2"}, {"name", "orphan"}, {"level", "street"}, {"parent", "NOPE"}}, box),   // 4
      feature({{"code", "S3"}, {"name", "county"}, {"level", "county"}, {"parent", "D1"}}, box),     // 5
      feature({{"code", "D2"}, {"name", "flat"}, {"level", "district"}, {"parent", "D1"}}, box),     // 6
      feature({{"code", "S4"}, {"name", "bow tie"}, {"level", "street"}, {"parent", "D1"}},
              test::bow_tie(114.05, 37.05, 0.05)),                                                   // 7
      feature({{"code", "S5"}, {"name", "far"}, {"level", "street"}, {"parent", "D1"}},
              test::box_polygon(200.0, 37.0, 200.1, 37.1)),                                          // 8
      feature({{"code", "C1"}, {"name", "child of bow tie"}, {"level", "community"}, {"parent", "S4"}},
              box),                                                                                  // 9
      feature({{"code", "S6"}, {"name", "good street"}, {"level", "street"}, {"parent", "D1"}}, box)  // 10
  };
  std::string text = R"({"type":"FeatureCollection","features":[)";
  for (std::size_t i = 0; i < features.size(); ++i) text += (i ? ",\n" : "\n") + features[i];
  text += "]}";
  const std::string path = dir.file("bad_grids.geojson");
  test::write_file(path, text);
  return path;
}

struct Expected {
  std::size_t feature;
  const char* code;
  const char* field;
  const char* error;
};
const std::vector<Expected> k_bad = {
    {1, "", "features/1/properties/code", "missing_code"},
    {2, "S1", "features/2/properties/code", "duplicate_code"},
    {3, "S1", "features/3/properties/code", "duplicate_code"},
    {4, "S2", "features/4/properties/parent", "unknown_parent"},
    {5, "S3", "features/5/properties/level", "invalid_level"},
    {6, "D2", "features/6/properties/parent", "invalid_parent"},
    {7, "S4", "features/7/geometry", "invalid_geometry"},
    {8, "S5", "features/8/geometry", "coordinate_out_of_range"},
    {9, "C1", "features/9/properties/parent", "parent_rejected"},
};

void expect_bad_report(const ImportReport& rep) {
  EXPECT_EQ(rep.read, 11u);
  ASSERT_EQ(rep.rejected.size(), k_bad.size());
  for (std::size_t i = 0; i < k_bad.size(); ++i) {
    const Rejection& r = rep.rejected[i];
    EXPECT_EQ(r.feature, k_bad[i].feature);
    EXPECT_EQ(r.code, k_bad[i].code) << r.feature;
    EXPECT_EQ(r.field, k_bad[i].field) << r.feature;
    EXPECT_EQ(r.error, k_bad[i].error) << r.feature << ": " << r.message;
    EXPECT_FALSE(r.message.empty());
  }
  // GEOS's reason and location; the twin's other position; the rejected parent's reason.
  EXPECT_NE(rep.rejected[6].message.find("Self-intersection"), std::string::npos) << rep.rejected[6].message;
  EXPECT_NE(rep.rejected[6].message.find("(114.05 37.05)"), std::string::npos) << rep.rejected[6].message;
  EXPECT_NE(rep.rejected[1].message.find("features 2, 3"), std::string::npos) << rep.rejected[1].message;
  EXPECT_NE(rep.rejected[8].message.find("invalid_geometry"), std::string::npos) << rep.rejected[8].message;
  EXPECT_NE(rep.rejected[4].message.find("county"), std::string::npos) << rep.rejected[4].message;
}

TEST(ImportValidation, EveryBadFeatureIsReportedAndNothingIsCommitted) {
  CatalogFixture f;
  const std::string path = bad_grids_file(f.dir);
  ImportReport rep;
  try {
    import_file(*f.catalog, ObjectKind::grids, path, {});
    ADD_FAILURE() << "the import was not refused";
  } catch (const ImportRejected& e) {
    // The error itself is the first rejection, and says how many there are.
    EXPECT_EQ(e.kind(), ErrorKind::invalid_input);
    EXPECT_EQ(e.code(), "missing_code");
    EXPECT_EQ(e.field(), "features/1/properties/code");
    EXPECT_NE(std::string(e.what()).find("9 of 11 features rejected"), std::string::npos) << e.what();
    rep = e.report();
  }
  expect_bad_report(rep);
  EXPECT_FALSE(rep.committed);
  EXPECT_EQ(rep.created, 0u);
  EXPECT_TRUE(f.catalog->snapshot()->grids().empty());
  EXPECT_TRUE(f.reopen()->snapshot()->grids().empty());

  // The JSON form and the table.
  const Json j = to_json(rep);
  EXPECT_EQ(j["read"], 11);
  EXPECT_EQ(j["valid"], 2);
  EXPECT_EQ(j["committed"], false);
  ASSERT_EQ(j["rejected"].size(), 9u);
  EXPECT_EQ(j["rejected"][3], (Json{{"feature", 4},
                                    {"code", "S2"},
                                    {"field", "features/4/properties/parent"},
                                    {"error", "unknown_parent"},
                                    {"message", rep.rejected[3].message}}));
  const std::string table = format_report(rep, 3);
  EXPECT_NE(table.find("9 of 11 features rejected; nothing imported"), std::string::npos) << table;
  EXPECT_NE(table.find("missing_code"), std::string::npos) << table;
  EXPECT_NE(table.find("properties/code"), std::string::npos) << table;
  EXPECT_EQ(table.find("unknown_parent"), std::string::npos) << table;  // row 4 is beyond 3
  EXPECT_NE(table.find("... and 6 more"), std::string::npos) << table;
  const std::string report_path = f.dir.file("report.json");
  write_report(rep, report_path);
  EXPECT_EQ(parse_json(read_bytes(report_path)), j);

  // A dry run reports the same and writes nothing, even when valid features exist.
  ImportOptions dry;
  dry.dry_run = true;
  const ImportReport again = import_file(*f.catalog, ObjectKind::grids, path, dry);
  expect_bad_report(again);
  EXPECT_FALSE(again.committed);
  EXPECT_TRUE(f.catalog->snapshot()->grids().empty());
}

TEST(ImportValidation, SkipInvalidCommitsOnlyTheValidFeatures) {
  CatalogFixture f;
  ImportOptions o;
  o.skip_invalid = true;
  const ImportReport rep = import_file(*f.catalog, ObjectKind::grids, bad_grids_file(f.dir), o);
  expect_bad_report(rep);
  EXPECT_TRUE(rep.committed);
  EXPECT_EQ(rep.created, 2u);
  for (const auto& c : {f.catalog->snapshot(), f.reopen()->snapshot()}) {
    ASSERT_EQ(c->grids().size(), 2u);
    ASSERT_NE(c->grid_by_code("D1"), nullptr);
    ASSERT_NE(c->grid_by_code("S6"), nullptr);
    EXPECT_EQ(c->grid_by_code("S6")->grid.parent_code, "D1");
  }
  EXPECT_NE(format_report(rep).find("the other features were imported"), std::string::npos);
}

TEST(ImportValidation, ParentsAndChildrenInTheStoreCount) {
  CatalogFixture f;
  f.catalog->create_grids(test::grids(test::grid_in("D", Level::district, "", 114.0, 37.0, 114.2, 37.2),
                                      test::grid_in("S", Level::street, "D", 114.0, 37.0, 114.1, 37.1)));
  const std::string path = f.dir.file("update.geojson");
  const Json box = test::box_polygon(114.0, 37.0, 114.1, 37.1);
  test::write_file(path, R"({"type":"FeatureCollection","features":[)" +
                             feature({{"code", "C"}, {"name", "c"}, {"level", "community"}, {"parent", "S"}}, box) +
                             "," +
                             feature({{"code", "D"}, {"name", "d"}, {"level", "community"}},
                                     test::box_polygon(114.0, 37.0, 114.2, 37.2)) +
                             "," + feature({{"code", "X"}, {"name", "x"}, {"level", "street"}, {"parent", "C"}}, box) +
                             "]}");
  const ImportReport rep = refused(*f.catalog, ObjectKind::grids, path);
  // C under the stored S is fine; D cannot become a community above its
  // stored street S; X's parent C (in the file) is a community, finer than a street.
  ASSERT_EQ(rep.rejected.size(), 2u);
  EXPECT_EQ(rep.rejected[0].feature, 1u);
  EXPECT_EQ(rep.rejected[0].error, "invalid_level");
  EXPECT_NE(rep.rejected[0].message.find("'S'"), std::string::npos) << rep.rejected[0].message;
  EXPECT_EQ(rep.rejected[1].feature, 2u);
  EXPECT_EQ(rep.rejected[1].error, "invalid_parent");
  EXPECT_EQ(f.catalog->snapshot()->grid_by_code("D")->grid.level, Level::district);
}

TEST(ImportValidation, StationsAreValidatedOneByOneAndForDuplicates) {
  CatalogFixture f;
  const std::string csv = f.dir.file("stations.csv");
  test::write_file(csv,
                   "code,name,kind,lon,lat\n"
                   "A,ok,grid_station,116.57,35.42\n"
                   "B,disco,disco,116.57,35.42\n"
                   "C,twin,grid_station,116.57,35.42\n"
                   "C,twin,grid_station,116.58,35.42\n"
                   "D,,grid_station,116.57,35.42\n"
                   "E,far,grid_station,116.57,135.42\n");
  const ImportReport rep = refused(*f.catalog, ObjectKind::stations, csv);
  std::vector<std::pair<std::size_t, std::string>> got;
  for (const auto& r : rep.rejected) got.emplace_back(r.feature, r.error);
  EXPECT_EQ(got, (std::vector<std::pair<std::size_t, std::string>>{{1, "unknown_kind"},
                                                                   {2, "duplicate_code"},
                                                                   {3, "duplicate_code"},
                                                                   {4, "missing_name"},
                                                                   {5, "coordinate_out_of_range"}}));
  EXPECT_TRUE(f.catalog->snapshot()->stations().empty());
  ImportOptions o;
  o.skip_invalid = true;
  EXPECT_EQ(import_file(*f.catalog, ObjectKind::stations, csv, o).created, 1u);
  ASSERT_EQ(f.catalog->snapshot()->stations().size(), 1u);
  EXPECT_EQ(f.catalog->snapshot()->stations()[0]->code, "A");
}

TEST(ImportValidation, MakeValidRepairsABowTie) {
  CatalogFixture f;
  const std::string path = f.dir.file("bow.geojson");
  test::write_file(path, R"({"type":"FeatureCollection","features":[)" +
                             feature({{"code", "D"}, {"name", "d"}, {"level", "district"}},
                                     test::box_polygon(114.0, 37.0, 114.2, 37.2)) +
                             "," +
                             feature({{"code", "BOW"}, {"name", "bow"}, {"level", "street"}, {"parent", "D"}},
                                     test::bow_tie(114.05, 37.05, 0.05)) +
                             "]}");
  EXPECT_EQ(refused(*f.catalog, ObjectKind::grids, path).rejected.at(0).error, "invalid_geometry");

  ImportOptions o;
  o.make_valid = true;
  const ImportReport rep = import_file(*f.catalog, ObjectKind::grids, path, o);
  EXPECT_TRUE(rep.rejected.empty());
  EXPECT_EQ(rep.created, 2u);
  ASSERT_EQ(rep.repaired.size(), 1u);
  EXPECT_EQ(rep.repaired[0].feature, 1u);
  EXPECT_EQ(rep.repaired[0].code, "BOW");
  EXPECT_NE(rep.repaired[0].message.find("Self-intersection at (114.05 37.05)"), std::string::npos)
      << rep.repaired[0].message;
  EXPECT_NE(rep.repaired[0].message.find("2 polygons"), std::string::npos) << rep.repaired[0].message;
  EXPECT_NE(format_report(rep).find("1 geometries repaired"), std::string::npos);
  EXPECT_EQ(to_json(rep)["repaired"].size(), 1u);

  const GEOSGeometry* g = f.catalog->snapshot()->grid_by_code("BOW")->shape.geometry();
  EXPECT_EQ(spatial::type_id(g), GEOS_MULTIPOLYGON);
  EXPECT_EQ(GEOSGetNumGeometries_r(spatial::geos(), g), 2);
  EXPECT_TRUE(spatial::check_validity(g).valid);
  double area = 0;
  GEOSArea_r(spatial::geos(), g, &area);
  EXPECT_NEAR(area, 2 * 0.05 * 0.05, 1e-12);  // the two triangles of the bow tie

  // A ring without area cannot be repaired into a polygon: still rejected.
  const std::string flat = f.dir.file("flat.geojson");
  test::write_file(flat, R"({"type":"FeatureCollection","features":[)" +
                             feature({{"code", "F"}, {"name", "f"}, {"level", "district"}},
                                     Json{{"type", "Polygon"},
                                          {"coordinates", {{{114, 37}, {114.5, 37.5}, {115, 38}, {114, 37}}}}}) +
                             "]}");
  const ImportReport flat_rep = refused(*f.catalog, ObjectKind::grids, flat, o);
  ASSERT_EQ(flat_rep.rejected.size(), 1u);
  EXPECT_EQ(flat_rep.rejected[0].error, "invalid_geometry");
}

// ---------------------------------------------------------------------------
// CGCS2000 Gauss-Krüger input
// ---------------------------------------------------------------------------

TEST(ImportCrs, Cgcs2000GaussKrugerZone39) {
  // Known WGS84 positions in Jining (zone 39, central meridian 117°E),
  // projected here with OGR into EPSG:4527.
  const std::vector<std::pair<double, double>> lonlat = {
      {116.5512345, 35.3812345}, {116.6234567, 35.3854321}, {116.6298765, 35.4456789}, {116.5587654, 35.4411111}};
  OGRSpatialReference wgs84, gk;
  ASSERT_EQ(wgs84.importFromEPSG(4326), OGRERR_NONE);
  ASSERT_EQ(gk.importFromEPSG(4527), OGRERR_NONE);
  wgs84.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  gk.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&wgs84, &gk));
  ASSERT_TRUE(ct);
  std::vector<std::pair<double, double>> projected;
  for (auto [x, y] : lonlat) {
    ASSERT_TRUE(ct->Transform(1, &x, &y));
    EXPECT_GT(x, 39400000);  // easting with the zone number in front
    EXPECT_LT(x, 39600000);
    projected.emplace_back(x, y);
  }
  const test::TempDir dir;
  const std::string shp = dir.file("gk39.shp");
  write_shapefile(shp, {{"GK-1", "济宁网格", "grid", "", projected}}, "UTF-8", 4527);
  ASSERT_TRUE(std::filesystem::exists(dir.file("gk39.prj")));

  const auto expect_lonlat = [&](const Catalog& catalog) {
    const GridEntry* g = catalog.snapshot()->grid_by_code("GK-1");
    ASSERT_NE(g, nullptr);
    std::vector<std::pair<double, double>> xy;
    spatial::for_each_xy(g->shape.geometry(), [&](double x, double y) { xy.emplace_back(x, y); });
    ASSERT_EQ(xy.size(), 5u);
    for (const auto& want : lonlat) {
      double best = 1e9;
      for (const auto& got : xy) best = std::min(best, std::max(std::fabs(got.first - want.first), std::fabs(got.second - want.second)));
      EXPECT_LT(best, 1e-7) << want.first << " " << want.second;
    }
  };
  {
    CatalogFixture f;  // the .prj says EPSG:4527
    const ImportReport rep = import_file(*f.catalog, ObjectKind::grids, shp, {});
    EXPECT_EQ(rep.created, 1u);
    EXPECT_FALSE(rep.crs.empty());
    expect_lonlat(*f.catalog);
  }
  std::filesystem::remove(dir.file("gk39.prj"));
  {
    CatalogFixture f;  // no .prj: the coordinates are metres, not degrees
    const ImportReport rep = refused(*f.catalog, ObjectKind::grids, shp);
    ASSERT_EQ(rep.rejected.size(), 1u);
    EXPECT_EQ(rep.rejected[0].error, "coordinate_out_of_range");
    ImportOptions o;
    o.crs = "EPSG:4527";
    EXPECT_EQ(import_file(*f.catalog, ObjectKind::grids, shp, o).created, 1u);
    expect_lonlat(*f.catalog);
  }
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

struct Format {
  const char* ext;
  const char* driver;
};

void PrintTo(const Format& f, std::ostream* os) { *os << f.ext; }

class ExportFormats : public ::testing::TestWithParam<Format> {};

/// OGR's view of an exported file: feature count, EPSG code (0: none) and
/// the features by code.
struct ReadBack {
  GIntBig count = 0;
  int epsg = 0;
  std::string driver;
  std::map<std::string, std::map<std::string, std::string>> by_code;
  std::map<std::string, std::string> wkt_by_code;
};

ReadBack read_back(const std::string& path) {
  ReadBack r;
  GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
  if (!ds) {
    ADD_FAILURE() << "OGR cannot open " << path;
    return r;
  }
  r.driver = ds->GetDriverName();
  OGRLayer* layer = ds->GetLayer(0);
  r.count = layer->GetFeatureCount(TRUE);
  if (const OGRSpatialReference* srs = layer->GetSpatialRef()) {
    OGRSpatialReference copy(*srs);
    if (copy.AutoIdentifyEPSG() == OGRERR_NONE || copy.GetAuthorityCode(nullptr)) {
      const char* code = copy.GetAuthorityCode(nullptr);
      r.epsg = code ? std::atoi(code) : 0;
    }
    if (r.epsg == 0 && srs->IsGeographic()) {
      OGRSpatialReference w;
      w.importFromEPSG(4326);
      if (srs->IsSame(&w)) r.epsg = 4326;
    }
  }
  for (auto& f : *layer) {
    std::map<std::string, std::string> fields;
    for (int i = 0; i < f->GetFieldCount(); ++i) {
      if (f->IsFieldSetAndNotNull(i)) fields[f->GetFieldDefnRef(i)->GetNameRef()] = f->GetFieldAsString(i);
    }
    std::string code;
    for (const auto& [k, v] : fields) {
      if (EQUAL(k.c_str(), "code")) code = v;
    }
    if (const OGRGeometry* g = f->GetGeometryRef()) r.wkt_by_code[code] = g->exportToWkt();
    r.by_code[code] = std::move(fields);
  }
  return r;
}

TEST_P(ExportFormats, GridsAndStationsReadBackWithOgr) {
  CatalogFixture f;
  import_file(*f.catalog, ObjectKind::grids, data_file("grids_national.geojson"), {});
  import_file(*f.catalog, ObjectKind::stations, data_file("stations.csv"), {});
  const auto snap = f.catalog->snapshot();
  const std::string ext = GetParam().ext;

  const std::string grids = f.dir.file("grids" + ext);
  std::vector<std::pair<std::size_t, std::size_t>> ticks;
  EXPECT_EQ(export_file(*snap, ObjectKind::grids, grids, {}, [&](std::size_t d, std::size_t t) { ticks.emplace_back(d, t); }).written,
            7u);
  ASSERT_FALSE(ticks.empty());
  EXPECT_EQ(ticks.back(), (std::pair<std::size_t, std::size_t>{7, 7}));
  const ReadBack g = read_back(grids);
  // OGR reads KML with LIBKML when it has it.
  EXPECT_TRUE(g.driver == GetParam().driver || (ext == ".kml" && g.driver == "LIBKML")) << g.driver;
  EXPECT_EQ(g.count, 7);
  EXPECT_EQ(g.epsg, ext == ".csv" ? 0 : 4326) << ext;  // CSV keeps no CRS
  ASSERT_TRUE(g.by_code.count("130101001")) << ext;
  const auto& street = g.by_code.at("130101001");
  const auto field = [&](const std::map<std::string, std::string>& m, const std::string& name) {
    for (const auto& [k, v] : m) {
      if (EQUAL(k.c_str(), name.c_str())) return v;
    }
    return std::string("<missing " + name + ">");
  };
  EXPECT_EQ(field(street, "name"), "东街道");
  EXPECT_EQ(field(street, "level"), "street");
  EXPECT_EQ(field(street, "parent"), "130101");
  EXPECT_EQ(parse_json(field(street, "people")), to_json(snap->grid_by_code("130101001")->grid.people));
  EXPECT_EQ(parse_json(field(g.by_code.at("130101"), "attributes")), (Json{{"note", "district"}}));
  // The two-part street stays in two parts (a Shapefile says Polygon for one part).
  const std::string wkt = g.wkt_by_code.at("130101002");
  EXPECT_TRUE(wkt.rfind("MULTIPOLYGON", 0) == 0 || wkt.rfind("GEOMETRYCOLLECTION (POLYGON", 0) == 0) << wkt;

  const std::string stations = f.dir.file("stations" + ext);
  EXPECT_EQ(export_file(*snap, ObjectKind::stations, stations, {}).written, 3u);
  const ReadBack s = read_back(stations);
  EXPECT_EQ(s.count, 3);
  ASSERT_TRUE(s.by_code.count("ST-001"));
  EXPECT_EQ(field(s.by_code.at("ST-001"), "name"), "和平网格驿站");
  if (ext == ".csv") {
    EXPECT_EQ(field(s.by_code.at("ST-001"), "lon"), "114.4123456789");
    EXPECT_EQ(field(s.by_code.at("ST-001"), "lat"), "38.0234567891");
    EXPECT_EQ(field(s.by_code.at("ST-001"), "WKT"), "POINT (114.4123456789 38.0234567891)");
  }

  // The files read back into gridd (CSV and KML included).
  CatalogFixture back;
  EXPECT_EQ(import_file(*back.catalog, ObjectKind::grids, grids, {}).created, 7u);
  EXPECT_EQ(import_file(*back.catalog, ObjectKind::stations, stations, {}).created, 3u);
  EXPECT_EQ(back.catalog->snapshot()->grid_by_code("130101001")->grid.name, "东街道");
}

INSTANTIATE_TEST_SUITE_P(All, ExportFormats,
                         ::testing::Values(Format{".gpkg", "GPKG"}, Format{".geojson", "GeoJSON"},
                                           Format{".shp", "ESRI Shapefile"}, Format{".kml", "KML"},
                                           Format{".csv", "CSV"}),
                         [](const auto& info) { return std::string(info.param.ext + 1); });

TEST(Export, FormatOptionAndTargetCrs) {
  CatalogFixture f;
  import_file(*f.catalog, ObjectKind::grids, data_file("grids_national.geojson"), {});
  const auto snap = f.catalog->snapshot();
  ExportOptions o;
  o.format = "shapefile";
  o.crs = "EPSG:4527";
  const std::string path = f.dir.file("out.dat.shp");
  EXPECT_EQ(export_file(*snap, ObjectKind::grids, path, o).written, 7u);
  const ReadBack r = read_back(path);
  EXPECT_EQ(r.driver, "ESRI Shapefile");
  EXPECT_EQ(r.epsg, 4527);
  ExportOptions gpkg;
  gpkg.format = "GPKG";
  gpkg.crs = "EPSG:4527";
  const std::string p2 = f.dir.file("out.data");
  export_file(*snap, ObjectKind::stations, p2, gpkg);
  EXPECT_EQ(read_back(p2).driver, "GPKG");
  // KML is WGS84 by definition.
  ExportOptions kml;
  kml.crs = "gcj02";
  expect_error([&] { (void)export_file(*snap, ObjectKind::grids, f.dir.file("x.kml"), kml); }, ErrorKind::invalid_input,
               "crs_not_applicable", "crs");
  // CSV in projected metres names the columns x and y.
  ExportOptions csv;
  csv.crs = "EPSG:4527";
  import_file(*f.catalog, ObjectKind::stations, data_file("stations.csv"), {});
  const std::string p3 = f.dir.file("stations_gk.csv");
  export_file(*f.catalog->snapshot(), ObjectKind::stations, p3, csv);
  const ReadBack r3 = read_back(p3);
  ASSERT_TRUE(r3.by_code.count("ST-001"));
  EXPECT_TRUE(r3.by_code.at("ST-001").count("x"));
  EXPECT_GT(std::stod(r3.by_code.at("ST-001").at("y")), 4000000);
}

TEST(Export, ShapefileTextLimitIsReported) {
  CatalogFixture f;
  std::vector<GridInput> in;
  in.push_back(test::grid_in("LONG", Level::district, "", 114.0, 37.0, 114.1, 37.1));
  in.push_back(test::grid_in("SHORT", Level::district, "", 114.1, 37.0, 114.2, 37.1));
  std::string note;
  for (int i = 0; i < 30; ++i) note += "很长的备注";  // 450 bytes in UTF-8, 300 in GBK
  in[0].grid.attributes = Json{{"note", note}};
  f.catalog->create_grids(std::move(in));
  const auto snap = f.catalog->snapshot();
  const ExportReport shp = export_file(*snap, ObjectKind::grids, f.dir.file("long.shp"), {});
  EXPECT_EQ(shp.written, 2u);
  ASSERT_EQ(shp.warnings.size(), 1u);
  EXPECT_NE(shp.warnings[0].find("'attributes'"), std::string::npos) << shp.warnings[0];
  EXPECT_NE(shp.warnings[0].find("grid LONG"), std::string::npos) << shp.warnings[0];
  EXPECT_NE(shp.warnings[0].find("1 value(s)"), std::string::npos) << shp.warnings[0];
  const ExportReport gpkg = export_file(*snap, ObjectKind::grids, f.dir.file("long.gpkg"), {});
  EXPECT_TRUE(gpkg.warnings.empty());
  CatalogFixture back;
  import_file(*back.catalog, ObjectKind::grids, f.dir.file("long.gpkg"), {});
  EXPECT_EQ(back.catalog->snapshot()->grid_by_code("LONG")->grid.attributes, (Json{{"note", note}}));
}

TEST(Export, ExistingOutputNeedsOverwrite) {
  CatalogFixture f;
  import_file(*f.catalog, ObjectKind::grids, data_file("grids_national.geojson"), {});
  const auto snap = f.catalog->snapshot();
  for (const char* name : {"out.gpkg", "out.shp", "out.geojson"}) {
    const std::string path = f.dir.file(name);
    EXPECT_EQ(export_file(*snap, ObjectKind::grids, path, {}).written, 7u);
    const auto before = std::filesystem::last_write_time(path);
    expect_error([&] { (void)export_file(*snap, ObjectKind::stations, path, {}); }, ErrorKind::conflict,
                 "output_exists", "output");
    EXPECT_EQ(std::filesystem::last_write_time(path), before);
    EXPECT_EQ(read_back(path).count, 7);
    ExportOptions o;
    o.overwrite = true;
    o.level = Level::grid;
    EXPECT_EQ(export_file(*snap, ObjectKind::grids, path, o).written, 2u) << name;
    EXPECT_EQ(read_back(path).count, 2) << name;
  }
}

TEST(Export, SubtreesAndLevels) {
  // The test city of the incident tests: district → street → community → two grids.
  test::TempDir dir;
  auto gpkg = std::make_unique<storage::GpkgStore>(dir.file("store.gpkg"));
  storage::IncidentStore& store = gpkg->incidents();
  Catalog catalog(std::move(gpkg));
  import_file(catalog, ObjectKind::grids, data_file("grids_national.geojson"), {});
  import_file(catalog, ObjectKind::stations, data_file("stations.csv"), {});
  IncidentService incidents(catalog, store, CategoryCatalogue::load(std::string(GRIDD_GEODATA_DIR) + "/categories.json"));
  const std::string category = incidents.categories().all().at(0).code;
  std::vector<IntakeInput> intake;
  for (const auto& [lon, lat] : std::vector<std::pair<double, double>>{
           {114.405, 38.005}, {114.44, 38.09}, {114.47, 38.06}, {114.58, 38.05}}) {
    IntakeInput in;
    in.category = category;
    in.description = "井盖缺失";
    in.position = Position{lon, lat, "EPSG:4326"};
    in.reporter_name = "王五";
    in.reporter_phone = "13900000000";
    intake.push_back(in);
  }
  incidents.report(intake);
  const auto snap = catalog.snapshot();

  const auto codes_of = [](const ReadBack& r) {
    std::set<std::string> out;
    for (const auto& [code, fields] : r.by_code) out.insert(code);
    return out;
  };
  ExportOptions o;
  o.root = "130101001001";  // 和平社区, 114.40..114.45 x 38.0..38.1
  EXPECT_EQ(export_file(*snap, ObjectKind::grids, dir.file("sub.gpkg"), o).written, 4u);
  EXPECT_EQ(codes_of(read_back(dir.file("sub.gpkg"))),
            (std::set<std::string>{"130101001001", "130101001001001", "130101001001002", "MG-1"}));
  o.level = Level::grid;
  EXPECT_EQ(export_file(*snap, ObjectKind::grids, dir.file("sub_grid.geojson"), o).written, 2u);
  EXPECT_EQ(codes_of(read_back(dir.file("sub_grid.geojson"))),
            (std::set<std::string>{"130101001001001", "130101001001002"}));
  o.level.reset();
  EXPECT_EQ(export_file(*snap, ObjectKind::stations, dir.file("sub_stations.geojson"), o).written, 2u);
  const ReadBack st = read_back(dir.file("sub_stations.geojson"));
  EXPECT_EQ(st.count, 2);
  EXPECT_TRUE(st.by_code.count("ST-001"));   // 114.412: inside
  EXPECT_FALSE(st.by_code.count("ST-002"));  // 114.47: outside
  // Incidents: routed to the finest grid (114.47 38.06 lies in a street
  // with children: it goes to the nearest grid, in the root's subtree).
  EXPECT_EQ(export_file(*snap, ObjectKind::incidents, dir.file("sub_incidents.csv"), o, {}, &store).written, 3u);
  EXPECT_EQ(read_back(dir.file("sub_incidents.csv")).count, 3);
  o.root = "130101002";
  EXPECT_EQ(export_file(*snap, ObjectKind::incidents, dir.file("west_incidents.geojson"), o, {}, &store).written, 1u);
  o.root = "130101001001001";
  EXPECT_EQ(export_file(*snap, ObjectKind::incidents, dir.file("g1_incidents.kml"), o, {}, &store).written, 1u);
  // Everything: four incidents, with their grid and the description in Chinese.
  ExportOptions all;
  EXPECT_EQ(export_file(*snap, ObjectKind::incidents, dir.file("incidents.gpkg"), all, {}, &store).written, 4u);
  GDALDatasetUniquePtr ds(GDALDataset::Open(dir.file("incidents.gpkg").c_str(), GDAL_OF_VECTOR));
  ASSERT_TRUE(ds);
  std::set<std::string> grids;
  for (auto& feat : *ds->GetLayer(0)) {
    EXPECT_STREQ(feat->GetFieldAsString("description"), "井盖缺失");
    grids.insert(feat->GetFieldAsString("grid_code"));
    EXPECT_EQ(feat->GetFieldIndex("reporter_name"), -1);  // personal data stays in the store
    EXPECT_EQ(feat->GetFieldIndex("reporter_phone"), -1);
  }
  EXPECT_EQ(grids, (std::set<std::string>{"MG-1", "130101001001002", "130101002"}));

  // Errors.
  ExportOptions bad;
  bad.root = "NOPE";
  expect_error([&] { (void)export_file(*snap, ObjectKind::grids, dir.file("x.gpkg"), bad); }, ErrorKind::not_found,
               "grid_not_found", "root");
  bad.root.clear();
  bad.level = Level::grid;
  expect_error([&] { (void)export_file(*snap, ObjectKind::stations, dir.file("x.gpkg"), bad); },
               ErrorKind::invalid_input, "level_not_applicable", "level");
  expect_error([&] { (void)export_file(*snap, ObjectKind::incidents, dir.file("y.gpkg"), {}); },
               ErrorKind::invalid_input, "unsupported_export", "what");
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.gpkg")));
}

}  // namespace
}  // namespace gridd::service
