// End to end: the real gridd binary's `import` and `export` subcommands on
// temporary directories. Fixtures (GeoJSON written here, Shapefiles built
// with OGR) are made at run time; results are read back with OGR and with
// gridd's own store.

#include <gtest/gtest.h>

#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gridd/service/catalog.hpp"
#include "gridd/spatial/geojson.hpp"
#include "gridd/storage/store.hpp"
#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

struct CliResult {
  int status = -1;     ///< exit code
  std::string output;  ///< stdout and stderr
};

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Run `gridd ARGS...` and collect its exit code and output.
CliResult gridd(const std::vector<std::string>& args) {
  std::string cmd = quoted(gridd_binary());
  bool store_next = false;
  for (const auto& a : args) {
    cmd += " " + quoted(store_next ? backend_store(a) : a);
    store_next = a == "--store";
  }
  cmd += " 2>&1 </dev/null";
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

/// The grids of a store as gridd reads it (after the CLI has exited).
std::shared_ptr<const service::Snapshot> store_snapshot(const std::string& store) {
  service::Catalog catalog(storage::open_store(backend_store(store)));
  return catalog.snapshot();
}

Json feature_collection(const std::vector<Json>& features) {
  return Json{{"type", "FeatureCollection"}, {"features", features}};
}

const std::string k_jincheng = "金城街道";
const std::string k_jiyang = "济阳街道";
const std::string k_jincheng_gbk = "\xBD\xF0\xB3\xC7\xBD\xD6\xB5\xC0";
const std::string k_jiyang_gbk = "\xBC\xC3\xD1\xF4\xBD\xD6\xB5\xC0";

/// Rencheng district of Jining with two streets, in GeoJSON.
std::string jining_geojson(const TempDir& dir) {
  const std::string path = dir.file("jining.geojson");
  write_text(path, feature_collection({grid_feature("370811", "district", "", 116.50, 35.35, 116.70, 35.50, "任城区"),
                                       grid_feature("370811001", "street", "370811", 116.55, 35.40, 116.60, 35.45,
                                                    k_jincheng),
                                       grid_feature("370811002", "street", "370811", 116.60, 35.40, 116.65, 35.45,
                                                    k_jiyang)})
                       .dump());
  return path;
}

void expect_jining_names(const std::string& store) {
  const auto snap = store_snapshot(store);
  ASSERT_EQ(snap->grids().size(), 3u);
  ASSERT_NE(snap->grid_by_code("370811001"), nullptr);
  EXPECT_EQ(snap->grid_by_code("370811")->grid.name, "任城区");
  EXPECT_EQ(snap->grid_by_code("370811001")->grid.name, k_jincheng);
  EXPECT_EQ(snap->grid_by_code("370811002")->grid.name, k_jiyang);
}

GIntBig ogr_count(const std::string& path, std::string* driver = nullptr) {
  GDALAllRegister();
  GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
  if (!ds) {
    ADD_FAILURE() << "OGR cannot open " << path;
    return -1;
  }
  if (driver) *driver = ds->GetDriverName();
  return ds->GetLayer(0)->GetFeatureCount(TRUE);
}

TEST(ImportExportCli, HelpDescribesEveryFlag) {
  const CliResult imp = gridd({"import", "--help"});
  EXPECT_EQ(imp.status, 0) << imp.output;
  for (const char* flag : {"--store", "--crs", "--layer", "--field", "--default-level", "--default-kind", "--encoding",
                           "--station-kind", "--skip-invalid", "--make-valid", "--dry-run", "--report",
                           "--report-rows", "GBK", "EPSG:4527", "gcj02", ".cpg"}) {
    EXPECT_NE(imp.output.find(flag), std::string::npos) << flag << "\n" << imp.output;
  }
  const CliResult exp = gridd({"export", "--help"});
  EXPECT_EQ(exp.status, 0) << exp.output;
  for (const char* flag : {"--store", "--output", "--format", "--crs", "--encoding", "--root", "--level",
                           "--overwrite", "incidents", "GPKG", "GeoJSON", "ESRI Shapefile", "KML", "CSV"}) {
    EXPECT_NE(exp.output.find(flag), std::string::npos) << flag << "\n" << exp.output;
  }
}

TEST(ImportExportCli, GbkShapefileRoundTripKeepsChineseNames) {
  TempDir dir;
  const std::string a = dir.file("a.gpkg"), b = dir.file("b.gpkg"), c = dir.file("c.gpkg");
  CliResult r = gridd({"import", "grids", jining_geojson(dir), "--store", a});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("3 created"), std::string::npos) << r.output;

  const std::string shp = dir.file("streets.shp");
  r = gridd({"export", "grids", "--store", a, "-o", shp, "--encoding", "GBK"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("exported 3 grids"), std::string::npos) << r.output;
  EXPECT_EQ(trimmed(read_bytes(dir.file("streets.cpg"))), "GBK");
  const std::string dbf = read_bytes(dir.file("streets.dbf"));
  EXPECT_NE(dbf.find(k_jincheng_gbk), std::string::npos);
  EXPECT_NE(dbf.find(k_jiyang_gbk), std::string::npos);
  EXPECT_EQ(dbf.find(k_jincheng), std::string::npos);  // no UTF-8 left

  r = gridd({"import", "grids", shp, "--store", b});
  ASSERT_EQ(r.status, 0) << r.output;
  expect_jining_names(b);

  // Without the .cpg, the bytes are refused until the encoding is named.
  std::filesystem::remove(dir.file("streets.cpg"));
  r = gridd({"import", "grids", shp, "--store", c});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("invalid_encoding"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing imported"), std::string::npos) << r.output;
  EXPECT_TRUE(store_snapshot(c)->grids().empty());
  r = gridd({"import", "grids", shp, "--store", c, "--encoding", "GBK"});
  ASSERT_EQ(r.status, 0) << r.output;
  expect_jining_names(c);
}

/// A file with two good grids and rejected ones of several kinds.
std::string bad_file(const TempDir& dir) {
  Json bow = polygon(Json::array({Json::array({Json::array({114.0, 37.0}), Json::array({114.1, 37.1}),
                                               Json::array({114.1, 37.0}), Json::array({114.0, 37.1}),
                                               Json::array({114.0, 37.0})})}));
  Json bow_feature = grid_feature("S4", "street", "D1", 0, 0, 1, 1);
  bow_feature["geometry"] = bow;
  const std::string path = dir.file("bad.geojson");
  write_text(path, feature_collection({
                       grid_feature("D1", "district", "", 114.0, 37.0, 114.2, 37.2),     // ok
                       grid_feature("S1", "street", "D1", 114.0, 37.0, 114.1, 37.1),     // duplicate
                       grid_feature("S1", "street", "D1", 114.1, 37.0, 114.2, 37.1),     // duplicate
                       grid_feature("S2", "street", "NOPE", 114.0, 37.0, 114.1, 37.1),   // unknown parent
                       grid_feature("S3", "county", "D1", 114.0, 37.0, 114.1, 37.1),     // bad level
                       bow_feature,                                                      // self-intersection
                       grid_feature("C1", "community", "S4", 114.0, 37.0, 114.1, 37.1),  // parent rejected
                       grid_feature("S6", "street", "D1", 114.1, 37.1, 114.2, 37.2),     // ok
                   })
                       .dump());
  return path;
}

TEST(ImportExportCli, ValidationReportSkipInvalidAndMakeValid) {
  TempDir dir;
  const std::string path = bad_file(dir), store = dir.file("s.gpkg"), report = dir.file("report.json");
  CliResult r = gridd({"import", "grids", path, "--store", store, "--report", report, "--report-rows", "3"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("6 of 8 features rejected; nothing imported"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("feature"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("duplicate_code"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unknown_parent"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("parent_rejected"), std::string::npos) << r.output;  // beyond 3 rows
  EXPECT_NE(r.output.find("... and 3 more"), std::string::npos) << r.output;
  EXPECT_TRUE(store_snapshot(store)->grids().empty());
  const Json j = Json::parse(read_bytes(report));
  EXPECT_EQ(j["read"], 8);
  EXPECT_EQ(j["committed"], false);
  ASSERT_EQ(j["rejected"].size(), 6u);
  std::vector<std::string> errors;
  for (const auto& x : j["rejected"]) errors.push_back(x["error"]);
  EXPECT_EQ(errors, (std::vector<std::string>{"duplicate_code", "duplicate_code", "unknown_parent", "invalid_level",
                                              "invalid_geometry", "parent_rejected"}));
  EXPECT_EQ(j["rejected"][4]["field"], "features/5/geometry");
  EXPECT_NE(j["rejected"][4]["message"].get<std::string>().find("Self-intersection at (114.05 37.05)"),
            std::string::npos);

  // --dry-run: the same verdict, nothing written, non-zero.
  r = gridd({"import", "grids", path, "--store", store, "--dry-run"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("2 valid, 6 rejected"), std::string::npos) << r.output;
  EXPECT_TRUE(store_snapshot(store)->grids().empty());

  // --skip-invalid: the two good ones, and the report still.
  r = gridd({"import", "grids", path, "--store", store, "--skip-invalid", "--report", report});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("2 created, 0 updated, 6 rejected"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("unknown_parent"), std::string::npos) << r.output;
  auto snap = store_snapshot(store);
  EXPECT_EQ(snap->grids().size(), 2u);
  EXPECT_NE(snap->grid_by_code("S6"), nullptr);
  EXPECT_EQ(Json::parse(read_bytes(report))["committed"], true);

  // --skip-invalid --make-valid: the bow tie is repaired, and its child follows it in.
  r = gridd({"import", "grids", path, "--store", store, "--skip-invalid", "--make-valid"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("2 created, 2 updated, 4 rejected, 1 repaired"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("1 geometries repaired"), std::string::npos) << r.output;
  snap = store_snapshot(store);
  ASSERT_NE(snap->grid_by_code("S4"), nullptr);
  EXPECT_EQ(GEOSGetNumGeometries_r(spatial::geos(), snap->grid_by_code("S4")->shape.geometry()), 2);
  EXPECT_NE(snap->grid_by_code("C1"), nullptr);
}

TEST(ImportExportCli, GaussKrugerZone39WithAndWithoutPrj) {
  TempDir dir;
  // Known WGS84 corners in Jining, projected with OGR into EPSG:4527.
  const std::vector<std::pair<double, double>> lonlat = {
      {116.5812345, 35.4012345}, {116.6034567, 35.4054321}, {116.6098765, 35.4256789}, {116.5787654, 35.4211111}};
  GDALAllRegister();
  OGRSpatialReference wgs84, gk;
  ASSERT_EQ(wgs84.importFromEPSG(4326), OGRERR_NONE);
  ASSERT_EQ(gk.importFromEPSG(4527), OGRERR_NONE);
  wgs84.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  gk.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> ct(OGRCreateCoordinateTransformation(&wgs84, &gk));
  ASSERT_TRUE(ct);
  const std::string shp = dir.file("gk.shp");
  {
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("ESRI Shapefile");
    GDALDatasetUniquePtr ds(drv->Create(shp.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    ASSERT_TRUE(ds);
    const char* lco[] = {"ENCODING=UTF-8", nullptr};
    OGRLayer* layer = ds->CreateLayer("gk", &gk, wkbPolygon, const_cast<char**>(lco));
    ASSERT_NE(layer, nullptr);
    OGRFieldDefn code("code", OFTString), name("name", OFTString);
    ASSERT_EQ(layer->CreateField(&code), OGRERR_NONE);
    ASSERT_EQ(layer->CreateField(&name), OGRERR_NONE);
    OGRLinearRing ring;
    for (auto [x, y] : lonlat) {
      ASSERT_TRUE(ct->Transform(1, &x, &y));
      ring.addPoint(x, y);
    }
    ring.closeRings();
    OGRPolygon poly;
    poly.addRing(&ring);
    OGRFeature f(layer->GetLayerDefn());
    f.SetField("code", "GK-1");
    f.SetField("name", "济宁网格");
    f.SetGeometry(&poly);
    ASSERT_EQ(layer->CreateFeature(&f), OGRERR_NONE);
  }
  const auto expect_lonlat = [&](const std::string& store) {
    const auto snap = store_snapshot(store);
    const service::GridEntry* g = snap->grid_by_code("GK-1");
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->grid.name, "济宁网格");
    std::vector<std::pair<double, double>> xy;
    spatial::for_each_xy(g->shape.geometry(), [&](double x, double y) { xy.emplace_back(x, y); });
    for (const auto& want : lonlat) {
      double best = 1e9;
      for (const auto& got : xy) {
        best = std::min(best, std::max(std::fabs(got.first - want.first), std::fabs(got.second - want.second)));
      }
      EXPECT_LT(best, 1e-7) << want.first << " " << want.second;
    }
  };
  CliResult r = gridd({"import", "grids", shp, "--store", dir.file("prj.gpkg")});
  ASSERT_EQ(r.status, 0) << r.output;
  expect_lonlat(dir.file("prj.gpkg"));

  std::filesystem::remove(dir.file("gk.prj"));
  r = gridd({"import", "grids", shp, "--store", dir.file("noprj.gpkg")});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("coordinate_out_of_range"), std::string::npos) << r.output;
  r = gridd({"import", "grids", shp, "--store", dir.file("noprj.gpkg"), "--crs", "EPSG:4527"});
  ASSERT_EQ(r.status, 0) << r.output;
  expect_lonlat(dir.file("noprj.gpkg"));
}

TEST(ImportExportCli, ExportsEveryFormatSubtreesAndRefusesToOverwrite) {
  TempDir dir;
  const std::string store = dir.file("s.gpkg");
  const std::string data = GRIDD_TEST_DATA_DIR;
  ASSERT_EQ(gridd({"import", "grids", data + "/grids_national.geojson", "--store", store}).status, 0);
  ASSERT_EQ(gridd({"import", "stations", data + "/stations.csv", "--store", store}).status, 0);

  const std::vector<std::pair<std::string, std::string>> formats = {
      {".gpkg", "GPKG"}, {".geojson", "GeoJSON"}, {".shp", "ESRI Shapefile"}, {".kml", "KML"}, {".csv", "CSV"}};
  for (const auto& [ext, driver] : formats) {
    for (const char* what : {"grids", "stations"}) {
      const std::string out = dir.file(std::string(what) + ext);
      const CliResult r = gridd({"export", what, "--store", store, "-o", out});
      ASSERT_EQ(r.status, 0) << r.output;
      std::string got;
      EXPECT_EQ(ogr_count(out, &got), std::string(what) == "grids" ? 7 : 3) << out;
      // OGR reads KML with LIBKML when it has it.
      EXPECT_TRUE(got == driver || (driver == "KML" && got == "LIBKML")) << got;
    }
  }
  // --format when the extension does not tell.
  CliResult r = gridd({"export", "grids", "--store", store, "-o", dir.file("grids.data"), "--format", "KML"});
  ASSERT_EQ(r.status, 0) << r.output;
  std::string driver;
  EXPECT_EQ(ogr_count(dir.file("grids.data"), &driver), 7);
  EXPECT_TRUE(driver == "KML" || driver == "LIBKML") << driver;

  // A subtree, a level, and both.
  r = gridd({"export", "grids", "--store", store, "-o", dir.file("sub.geojson"), "--root", "130101001001"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(ogr_count(dir.file("sub.geojson")), 4);
  r = gridd({"export", "grids", "--store", store, "-o", dir.file("streets.geojson"), "--level", "street"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(ogr_count(dir.file("streets.geojson")), 2);
  r = gridd({"export", "stations", "--store", store, "-o", dir.file("sub_st.csv"), "--root", "130101001001"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(ogr_count(dir.file("sub_st.csv")), 2);
  r = gridd({"export", "incidents", "--store", store, "-o", dir.file("incidents.gpkg"), "--root", "130101"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(ogr_count(dir.file("incidents.gpkg")), 0);

  // An existing output is kept unless --overwrite.
  const std::string out = dir.file("grids.geojson");
  const std::string before = read_bytes(out);
  r = gridd({"export", "stations", "--store", store, "-o", out});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("output_exists"), std::string::npos) << r.output;
  EXPECT_EQ(read_bytes(out), before);
  r = gridd({"export", "stations", "--store", store, "-o", out, "--overwrite"});
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(ogr_count(out), 3);

  // Errors name the problem.
  r = gridd({"export", "grids", "--store", store, "-o", dir.file("x.gpkg"), "--root", "NOPE"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("grid_not_found"), std::string::npos) << r.output;
  if (!on_postgis()) {  // a GeoPackage that does not exist is not created by an export
    r = gridd({"export", "grids", "--store", dir.file("absent.gpkg"), "-o", dir.file("x.gpkg")});
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("store_not_found"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir.file("absent.gpkg")));
  }
  r = gridd({"export", "grids", "--store", store, "-o", dir.file("x.kml"), "--crs", "EPSG:4527"});
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("crs_not_applicable"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace gridd::http_test
