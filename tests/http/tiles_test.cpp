// Map tiles over real HTTP: raster tiles compared with gdalwarp on real
// GeoTIFFs, vector tiles decoded by GDAL's MVT driver, exact invalidation
// after edits, conditional requests, TileJSON, and bad or broken sources.

#include <gtest/gtest.h>

#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "gridd/spatial/tiles.hpp"
#include "http/http_test_util.hpp"
#include "http/mvt_decode.hpp"

#ifndef GRIDD_TEST_RASTERS
#define GRIDD_TEST_RASTERS "test-rasters"
#endif

namespace gridd::http_test {
namespace {

using spatial::TileId;

const bool g_gdal_registered = [] {
  GDALAllRegister();
  return true;
}();

std::string raster_file(const std::string& name) {
  const std::string path = std::string(GRIDD_TEST_RASTERS) + "/" + name;
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << path << " is missing: run scripts/test-rasters.sh " << GRIDD_TEST_RASTERS
                  << " (scripts/test.sh does)";
  }
  return path;
}

TileId tile_of(double lon, double lat, int z) {
  const double n = std::pow(2.0, z);
  const double r = lat * M_PI / 180;
  TileId t;
  t.z = z;
  t.x = static_cast<std::uint32_t>((lon + 180) / 360 * n);
  t.y = static_cast<std::uint32_t>((1 - std::log(std::tan(r) + 1 / std::cos(r)) / M_PI) / 2 * n);
  return t;
}

std::string tile_path(const std::string& source, const TileId& t, const std::string& ext) {
  return "/tiles/" + source + "/" + t.to_string() + "." + ext;
}

/// Pixels of an image (any GDAL raster format) as RGBA rows; empty on failure.
struct Image {
  int width = 0, height = 0, bands = 0;
  std::vector<std::vector<std::uint8_t>> band;  // per band, row-major
};

Image decode(const std::string& bytes, const std::string& ext) {
  static int counter = 0;
  const std::string name = "/vsimem/tiles_test_" + std::to_string(++counter) + "." + ext;
  VSILFILE* f = VSIFileFromMemBuffer(name.c_str(), reinterpret_cast<GByte*>(const_cast<char*>(bytes.data())),
                                     static_cast<vsi_l_offset>(bytes.size()), FALSE);
  if (f) VSIFCloseL(f);
  Image img;
  {
    GDALDatasetUniquePtr ds(GDALDataset::Open(name.c_str(), GDAL_OF_RASTER));
    if (ds) {
      img.width = ds->GetRasterXSize();
      img.height = ds->GetRasterYSize();
      img.bands = ds->GetRasterCount();
      for (int b = 1; b <= img.bands; ++b) {
        std::vector<std::uint8_t> px(static_cast<std::size_t>(img.width) * img.height);
        if (ds->GetRasterBand(b)->RasterIO(GF_Read, 0, 0, img.width, img.height, px.data(), img.width, img.height,
                                           GDT_Byte, 0, 0) != CE_None) {
          return Image{};
        }
        img.band.push_back(std::move(px));
      }
    }
  }
  VSIUnlink(name.c_str());
  return img;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10f", v);
  return buf;
}

/// gdalwarp of `source` to the tile's Web Mercator square, as PNG bytes.
std::string gdalwarp_tile(const std::string& source, const TileId& t, int size, const std::string& dir) {
  const auto m = spatial::tile_bounds_mercator(t);
  const std::string out = dir + "/ref_" + std::to_string(t.z) + "_" + std::to_string(size) + ".tif";
  std::filesystem::remove(out);
  const std::string cmd = "gdalwarp -q -of GTiff -t_srs EPSG:3857 -te " + num(m.minx) + " " + num(m.miny) + " " +
                          num(m.maxx) + " " + num(m.maxy) + " -ts " + std::to_string(size) + " " +
                          std::to_string(size) + " -r bilinear -dstalpha '" + source + "' '" + out + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return read_file(out);
}

struct Comparison {
  double mean_abs = 1e9;
  double share_within_2 = 0;
};

Comparison compare(const Image& a, const Image& b) {
  Comparison c;
  if (a.width != b.width || a.height != b.height || a.bands != b.bands || a.bands == 0) return c;
  double sum = 0;
  std::size_t n = 0, close = 0;
  for (int band = 0; band < a.bands; ++band) {
    for (std::size_t i = 0; i < a.band[band].size(); ++i) {
      const int d = std::abs(int(a.band[band][i]) - int(b.band[band][i]));
      sum += d;
      close += d <= 2;
      ++n;
    }
  }
  c.mean_abs = sum / n;
  c.share_within_2 = double(close) / n;
  return c;
}

/// Count of pixels with alpha 0 and 255.
std::pair<std::size_t, std::size_t> alpha_counts(const Image& img) {
  std::size_t clear = 0, opaque = 0;
  if (img.bands < 4) return {0, 0};
  for (auto a : img.band[3]) {
    clear += a == 0;
    opaque += a == 255;
  }
  return {clear, opaque};
}

// ---------------------------------------------------------------------------
// Raster tiles
// ---------------------------------------------------------------------------

TEST(RasterTiles, MatchWhatGdalwarpProducesForTheSameBoundsFromTheSameSource) {
  TempDir dir;
  const std::string landsat = raster_file("L7_ETMs.tif");
  // The reference shows the same bands (red, green, blue = 3, 2, 1).
  const std::string vrt = dir.file("rgb.vrt");
  ASSERT_EQ(std::system(("gdal_translate -q -of VRT -b 3 -b 2 -b 1 '" + landsat + "' '" + vrt + "'").c_str()), 0);
  ServerProcess server(dir.file("s.gpkg"), {"--raster", "landsat=" + landsat + "?bands=3,2,1"});
  HttpClient c(server.port());
  // Olinda, Brazil: the image's centre, at a zoom near its native 30 m, one
  // coarser (reads more pixels per tile) and one finer (upsampled), 256 and 512 px.
  for (const auto& [z, size] : std::vector<std::pair<int, int>>{{13, 256}, {11, 256}, {15, 256}, {13, 512}}) {
    const TileId t = tile_of(-34.87, -8.0, z);
    const std::string path = "/tiles/landsat/" + t.to_string() + (size == 512 ? "@2x" : "") + ".png";
    const HttpResponse r = c.get(path);
    ASSERT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.content_type, "image/png");
    const Image got = decode(r.body, "png");
    ASSERT_EQ(got.width, size);
    ASSERT_EQ(got.bands, 4);
    const Image want = decode(gdalwarp_tile(vrt, t, size, dir.path().string()), "tif");
    const Comparison cmp = compare(got, want);
    EXPECT_LT(cmp.mean_abs, 0.5) << path;
    EXPECT_GT(cmp.share_within_2, 0.995) << path;
    const auto [clear, opaque] = alpha_counts(got);
    EXPECT_GT(opaque, 0u) << path << " shows nothing";
  }
  // JPEG and WebP of the same tile decode to the same picture (lossy).
  const TileId t = tile_of(-34.87, -8.0, 13);
  const Image png = decode(c.get(tile_path("landsat", t, "png")).body, "png");
  for (const char* ext : {"jpg", "webp"}) {
    const HttpResponse r = c.get(tile_path("landsat", t, ext));
    ASSERT_EQ(r.status, 200) << ext;
    const Image lossy = decode(r.body, ext);
    ASSERT_EQ(lossy.width, 256) << ext;
    ASSERT_GE(lossy.bands, 3) << ext;
    double sum = 0;
    for (int b = 0; b < 3; ++b) {
      for (std::size_t i = 0; i < png.band[b].size(); ++i) sum += std::abs(int(png.band[b][i]) - int(lossy.band[b][i]));
    }
    EXPECT_LT(sum / (3.0 * png.band[0].size()), 6.0) << ext;
  }
}

TEST(RasterTiles, NonByteSourcesInAnyCrsAreScaledAndTransparentWhereTheyHaveNoData) {
  TempDir dir;
  ServerProcess server(dir.file("s.gpkg"),
                       {"--raster", "elev=" + raster_file("elev.tif"), "--raster", "meuse=" + raster_file("meuse.tif")});
  HttpClient c(server.port());
  // Luxembourg (Int16, EPSG:4326) and the Meuse near Stein (Float32, EPSG:28992): tiles
  // on the data's edge have both opaque data and transparent no-data.
  for (const auto& [name, lon, lat, z] : std::vector<std::tuple<std::string, double, double, int>>{
           {"elev", 6.0, 49.75, 9}, {"meuse", 5.74, 50.98, 13}}) {
    const TileId t = tile_of(lon, lat, z);
    const HttpResponse r = c.get(tile_path(name, t, "png"));
    ASSERT_EQ(r.status, 200) << name << ": " << r.body;
    const Image img = decode(r.body, "png");
    ASSERT_EQ(img.bands, 4) << name;
    const auto [clear, opaque] = alpha_counts(img);
    EXPECT_GT(clear, 100u) << name;
    EXPECT_GT(opaque, 100u) << name;
    std::set<int> values;
    for (std::size_t i = 0; i < img.band[0].size(); ++i) {
      if (img.band[3][i] == 255) values.insert(img.band[0][i]);
    }
    EXPECT_GT(values.size(), 10u) << name << ": the data should span many grey levels";
  }
  // Far from the data: fully transparent.
  const Image empty = decode(c.get(tile_path("elev", tile_of(116.5, 35.4, 9), "png")).body, "png");
  EXPECT_EQ(alpha_counts(empty).first, 256u * 256u);
}

TEST(RasterTiles, TheDemoBasemapIsDrawnFromTheGridsAndListed) {
  TempDir dir;
  ServerProcess server(dir.file("s.gpkg"), {"--demo"});
  HttpClient c(server.port());
  const Json list = body_json(c.get("/tiles"));
  std::set<std::string> names;
  for (const auto& s : list["sources"]) names.insert(s["name"].get<std::string>());
  EXPECT_TRUE(names.count("demo"));
  EXPECT_TRUE(names.count("gridd"));
  const Image inside = decode(c.get(tile_path("demo", tile_of(116.58, 35.41, 12), "png")).body, "png");
  EXPECT_EQ(alpha_counts(inside).second, 256u * 256u) << "the district centre is land";
  const Image outside = decode(c.get(tile_path("demo", tile_of(100.0, 30.0, 12), "png")).body, "png");
  EXPECT_EQ(alpha_counts(outside).first, 256u * 256u);
  // The basemap file has overviews (gridd builds them). It lies next to a
  // GeoPackage store; for a database, in the temp dir under its own name.
  // GeoPackage store; for a database, in the temp dir under the server's pid
  // (and removed when it stops).
  const std::string basemap =
      on_postgis() ? (std::filesystem::temp_directory_path() /
                      ("gridd-demo-basemap-" + std::to_string(server.pid()) + ".tif"))
                         .string()
                   : dir.file("demo-basemap.tif");
  {
    GDALDatasetUniquePtr ds(GDALDataset::Open(basemap.c_str(), GDAL_OF_RASTER));
    ASSERT_TRUE(ds) << basemap;
    EXPECT_GE(ds->GetRasterBand(1)->GetOverviewCount(), 3);
  }
  if (on_postgis()) {
    server.stop();
    EXPECT_FALSE(std::filesystem::exists(basemap)) << "a stopped gridd leaves its temporary basemap behind";
  }
}

TEST(RasterTiles, BrokenSourcesAreUnhealthyAnd503WhileTheOthersKeepServing) {
  TempDir dir;
  const std::string corrupt = dir.file("corrupt.tif");
  {
    std::ofstream out(corrupt, std::ios::binary);
    out << "II*\0 this is not a TIFF at all";
  }
  ServerProcess server(dir.file("s.gpkg"), {"--raster", "missing=" + dir.file("nowhere.tif"), "--raster",
                                            "corrupt=" + corrupt, "--raster", "elev=" + raster_file("elev.tif")});
  HttpClient c(server.port());
  const Json health = body_json(c.get("/healthz"));
  EXPECT_EQ(health["status"], "degraded");
  std::map<std::string, Json> by_name;
  for (const auto& s : health["tile_sources"]) by_name[s["name"].get<std::string>()] = s;
  EXPECT_EQ(by_name["missing"]["healthy"], false);
  EXPECT_TRUE(by_name["missing"]["reason"].is_string());
  EXPECT_EQ(by_name["corrupt"]["healthy"], false);
  EXPECT_EQ(by_name["elev"]["healthy"], true);
  for (const char* name : {"missing", "corrupt"}) {
    // 503 with the JSON error body naming the source and the reason.
    const HttpResponse r = c.get(std::string("/tiles/") + name + "/1/1/1.png");
    EXPECT_EQ(r.status, 503) << r.body;
    const Json j = body_json(r);
    EXPECT_EQ(j["code"], "source_unhealthy") << r.body;
    EXPECT_EQ(j["field"], "source");
    EXPECT_NE(j["message"].get<std::string>().find(name), std::string::npos) << r.body;
  }
  EXPECT_EQ(c.get(tile_path("elev", tile_of(6.0, 49.75, 9), "png")).status, 200);
  EXPECT_TRUE(server.alive());
}

TEST(RasterTiles, ASlowSourceNeverBlocksLocate) {
  // A source that is slow to render: 12,000 x 12,000 compressed pixels over
  // 10 x 10 degrees with no overviews, so every low-zoom tile decodes all of it.
  TempDir dir;
  const std::string slow = dir.file("slow.tif");
  {
    const char* options[] = {"TILED=YES", "COMPRESS=DEFLATE", "BLOCKXSIZE=512", "BLOCKYSIZE=512", nullptr};
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName("GTiff");
    GDALDatasetUniquePtr ds(drv->Create(slow.c_str(), 12000, 12000, 1, GDT_Byte, const_cast<char**>(options)));
    ASSERT_TRUE(ds);
    double gt[6] = {110.0, 10.0 / 12000, 0, 40.0, 0, -10.0 / 12000};
    ds->SetGeoTransform(gt);
    ds->SetProjection("GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563]],"
                      "PRIMEM[\"Greenwich\",0],UNIT[\"degree\",0.0174532925199433]]");
    std::vector<unsigned char> row(12000);
    for (int y = 0; y < 12000; ++y) {
      for (int x = 0; x < 12000; ++x) row[x] = static_cast<unsigned char>((x ^ y) & 0xff);
      ASSERT_EQ(ds->GetRasterBand(1)->RasterIO(GF_Write, 0, y, 12000, 1, row.data(), 12000, 1, GDT_Byte, 0, 0), CE_None);
    }
  }
  ServerProcess server(dir.file("s.gpkg"), {"--raster", "slow=" + slow});
  HttpClient probe(server.port());
  ASSERT_EQ(probe.get("/locate?lon=116&lat=35").status, 200);

  // Many distinct low-zoom tiles at once: more work than the rendering pool has threads.
  std::vector<TileId> tiles;
  for (int z = 3; z <= 6; ++z) {
    const TileId a = tile_of(111, 39, z), b = tile_of(119, 31, z);
    for (std::uint32_t x = a.x; x <= b.x && tiles.size() < 16; ++x) {
      for (std::uint32_t y = a.y; y <= b.y && tiles.size() < 16; ++y) tiles.push_back(TileId{z, x, y});
    }
  }
  ASSERT_GE(tiles.size(), 12u);
  std::atomic<int> done{0}, ok{0};
  std::vector<double> tile_seconds(tiles.size());
  std::vector<std::thread> clients;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    clients.emplace_back([&, i] {
      HttpClient c(server.port());
      const auto t0 = std::chrono::steady_clock::now();
      if (c.get(tile_path("slow", tiles[i], "png")).status == 200) ++ok;
      tile_seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++done;
    });
  }
  // Meanwhile, locate answers at once, again and again.
  double worst_locate = 0;
  int locates = 0;
  while (done.load() < static_cast<int>(tiles.size()) &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(120)) {
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(probe.get("/locate?lon=116&lat=35").status, 200);
    worst_locate = std::max(worst_locate, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    ++locates;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (auto& t : clients) t.join();
  const double slowest_tile = *std::max_element(tile_seconds.begin(), tile_seconds.end());
  std::cout << tiles.size() << " slow tiles, slowest " << slowest_tile << " s; " << locates
            << " locates meanwhile, slowest " << worst_locate << " s" << std::endl;
  EXPECT_EQ(ok.load(), static_cast<int>(tiles.size()));
  EXPECT_GE(locates, 5) << "the tiles were not slow enough to test anything (slowest " << slowest_tile << " s)";
  // Locate was never queued behind the renders.
  EXPECT_LT(worst_locate, 1.0) << locates << " locates, slowest tile " << slowest_tile << " s";
  EXPECT_LT(worst_locate * 4, slowest_tile) << locates << " locates";
}

TEST(RasterTiles, WmtsWorksInGdalsWmtsClientAndKvpMatchesRest) {
  TempDir dir;
  ServerProcess server(dir.file("s.gpkg"), {"--demo"});
  HttpClient c(server.port());
  const HttpResponse caps = c.get("/wmts/1.0.0/WMTSCapabilities.xml");
  ASSERT_EQ(caps.status, 200);
  EXPECT_NE(caps.body.find("<ows:Identifier>demo</ows:Identifier>"), std::string::npos);
  EXPECT_NE(caps.body.find("GoogleMapsCompatible"), std::string::npos);
  // GDAL's WMTS driver reads the capabilities and fetches tiles through them.
  const std::string url = "WMTS:http://127.0.0.1:" + std::to_string(server.port()) +
                          "/wmts/1.0.0/WMTSCapabilities.xml,layer=demo";
  const std::string out = dir.file("wmts.tif");
  double mx0 = 0, my0 = 0, mx1 = 0, my1 = 0;
  spatial::lonlat_to_mercator(116.55, 35.38, mx0, my0);
  spatial::lonlat_to_mercator(116.60, 35.43, mx1, my1);
  const std::string cmd = "gdal_translate -q --config GDAL_DEFAULT_WMS_CACHE_PATH '" + dir.file("wmscache") + "' -outsize 256 256 -projwin " + num(mx0) + " " + num(my1) + " " + num(mx1) +
                          " " + num(my0) + " '" + url + "' '" + out + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const Image img = decode(read_file(out), "tif");
  ASSERT_EQ(img.width, 256);
  EXPECT_EQ(alpha_counts(img).second, 256u * 256u) << "the district centre is opaque land";
  // KVP GetTile answers the same bytes as the REST template.
  const TileId t = tile_of(116.58, 35.41, 12);
  const HttpResponse rest = c.get(tile_path("demo", t, "png"));
  const HttpResponse kvp = c.get("/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=demo&STYLE=default&"
                                 "TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=12&TILEROW=" + std::to_string(t.y) +
                                 "&TILECOL=" + std::to_string(t.x) + "&FORMAT=image/png");
  ASSERT_EQ(kvp.status, 200) << kvp.body;
  EXPECT_EQ(kvp.body, rest.body);
  expect_error(c.get("/wmts?REQUEST=GetTile&LAYER=demo&TILEMATRIX=12&TILEROW=0&TILECOL=0&FORMAT=image/bmp"), 400,
               "unsupported_format", "FORMAT");
  expect_error(c.get("/wmts?REQUEST=GetMap"), 400, "invalid_request", "REQUEST");
}

TEST(RasterTiles, SeedFillsTheDiskCacheThatServeThenReads) {
  TempDir dir;
  const std::string elev = raster_file("elev.tif");
  const std::string cache = dir.file("tilecache");
  const std::string cmd = gridd_binary() + " seed --store '" + backend_store(dir.file("s.gpkg")) + "' --raster 'elev=" +
                          elev + "' --source elev --zoom 5-8 --tile-cache-dir '" + cache + "' > '" +
                          dir.file("seed.log") + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_file(dir.file("seed.log"));
  std::size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(cache)) files += e.is_regular_file();
  ServerProcess server(dir.file("s.gpkg"), {"--raster", "elev=" + elev, "--tile-cache-dir", cache});
  HttpClient c(server.port());
  const Json src = body_json(c.get("/tiles/elev.json"));
  spatial::Envelope b{src["bounds"][0].get<double>(), src["bounds"][1].get<double>(), src["bounds"][2].get<double>(),
                      src["bounds"][3].get<double>()};
  std::size_t expected = 0;
  for (int z = 5; z <= 8; ++z) expected += spatial::tiles_covering(b, z).count();
  EXPECT_EQ(files, expected);
  EXPECT_NE(read_file(dir.file("seed.log")).find("seeded " + std::to_string(expected) + " tiles"), std::string::npos);
  // The first request of a seeded tile comes from the disk.
  const TileId t = tile_of(6.0, 49.75, 8);
  const HttpResponse r = c.get(tile_path("elev", t, "png"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("X-Tile-Cache"), "hit");
  const Image img = decode(r.body, "png");
  EXPECT_GT(alpha_counts(img).second, 100u);
  // Vector sources are not seeded (they show live data).
  const std::string vec = gridd_binary() + " seed --store '" + dir.file("s.gpkg") +
                          "' --source grids --zoom 1 --tile-cache-dir '" + cache + "' > /dev/null 2>&1";
  EXPECT_NE(std::system(vec.c_str()), 0);
}

// ---------------------------------------------------------------------------
// Vector tiles
// ---------------------------------------------------------------------------

constexpr double X0 = 116.50, Y0 = 35.40, U = 0.01;

Json grid(const std::string& code, const std::string& level, const std::string& parent, double a, double b, double cc,
          double d) {
  Json f = grid_feature(code, level, parent, X0 + a * U, Y0 + b * U, X0 + cc * U, Y0 + d * U);
  f["properties"]["people"] = Json::array({Json{{"name", "worker " + code}, {"role", "grid_worker"}, {"phone", "1"}}});
  return f;
}

/// Two separate districts: A around (116.50..116.54, 35.40..35.42) and B one degree east.
void make_cities(HttpClient& c) {
  post_created(c, "/grids",
               collection({grid("A", "district", "", 0, 0, 4, 2), grid("A1", "grid", "A", 0, 0, 2, 2),
                           grid("A2", "grid", "A", 2, 0, 4, 2), grid("B", "district", "", 100, 0, 104, 2),
                           grid("B1", "grid", "B", 100, 0, 104, 2)}));
  post_created(c, "/stations", station_feature("Station A", "grid_station", X0 + 1 * U, Y0 + 1 * U));
}

std::set<std::string> values_of(const std::vector<std::map<std::string, std::string>>& features, const std::string& key) {
  std::set<std::string> out;
  for (const auto& f : features) {
    if (auto it = f.find(key); it != f.end()) out.insert(it->second);
  }
  return out;
}

class VectorTiles : public ::testing::Test {
 protected:
  void SetUp() override {
    server = std::make_unique<ServerProcess>(dir.file("city.gpkg"));
    client = std::make_unique<HttpClient>(server->port());
    make_cities(*client);
  }
  HttpResponse tile(const std::string& source, const TileId& t) { return client->get(tile_path(source, t, "mvt")); }
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<HttpClient> client;
};

TEST_F(VectorTiles, DecodeWithGdalAndCarryTheAttributesAMapNeeds) {
  // Four incidents inside the tile below (three left of the A1/A2 line, one right).
  const TileId t = tile_of(X0 + 2 * U, Y0 + 1 * U, 14);
  const auto tb = spatial::tile_bounds_lonlat(t);
  for (double f : {0.1, 0.15, 0.2, 0.9}) {
    const double lon = tb.minx + f * (tb.maxx - tb.minx);
    const Json body{{"category", "roof_leak"}, {"lon", lon}, {"lat", (tb.miny + tb.maxy) / 2}};
    ASSERT_EQ(client->post("/incidents", body.dump()).status, 201);
  }
  const HttpResponse r = tile("gridd", t);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/vnd.mapbox-vector-tile");
  std::map<std::string, OGRwkbGeometryType> types;
  auto layers = decode_mvt(r.body, t, &types);
  ASSERT_TRUE(layers.count("grids_grid")) << "layers: " << layers.size();
  EXPECT_EQ(values_of(layers["grids_grid"], "code"), (std::set<std::string>{"A1", "A2"}));
  EXPECT_EQ(values_of(layers["grids_grid"], "worker"), (std::set<std::string>{"worker A1", "worker A2"}));
  EXPECT_EQ(values_of(layers["grids_district"], "code"), (std::set<std::string>{"A"}));
  EXPECT_EQ(types["grids_grid"], wkbPolygon);
  EXPECT_EQ(values_of(layers["grid_labels"], "code").count("A1"), 1u);
  EXPECT_EQ(values_of(layers["stations"], "kind"), (std::set<std::string>{"grid_station"}));
  EXPECT_EQ(types["stations"], wkbPoint);
  // Incidents one by one at this zoom, with status and colour.
  ASSERT_EQ(layers["incidents"].size(), 4u);
  EXPECT_EQ(values_of(layers["incidents"], "status"), (std::set<std::string>{"reported"}));
  EXPECT_EQ(values_of(layers["incidents"], "colour"), (std::set<std::string>{"none"}));
  EXPECT_EQ(values_of(layers["incidents"], "category"), (std::set<std::string>{"roof_leak"}));
  // The georeferenced polygon of A1 lies where A1 is (EPSG:3857 metres).
  for (const auto& f : layers["grids_grid"]) {
    if (f.at("code") != "A1") continue;
    double mx0 = 0, my = 0, mx1 = 0;
    spatial::lonlat_to_mercator(X0, Y0, mx0, my);
    spatial::lonlat_to_mercator(X0 + 2 * U, Y0, mx1, my);
    EXPECT_NEAR(std::stod(f.at("@minx")), mx0, 30.0);
    EXPECT_NEAR(std::stod(f.at("@maxx")), mx1, 30.0);
  }
  // Aggregated below zoom 14: one cluster point per cell, counts add up.
  const TileId low = tile_of(X0 + 2 * U, Y0 + 1 * U, 9);
  auto agg = decode_mvt(tile("incidents", low).body, low);
  ASSERT_FALSE(agg["incidents"].empty());
  long total = 0;
  for (const auto& f : agg["incidents"]) total += std::stol(f.at("count"));
  EXPECT_EQ(total, 4);
  EXPECT_LT(agg["incidents"].size(), 4u + 1);
  // Per-source tiles hold only their layers; levels start at their zoom.
  auto only_stations = decode_mvt(tile("stations", t).body, t);
  EXPECT_EQ(only_stations.size(), 1u);
  const TileId z5 = tile_of(X0, Y0, 5);
  auto coarse = decode_mvt(tile("grids", z5).body, z5);
  EXPECT_TRUE(coarse.count("grids_district"));
  EXPECT_FALSE(coarse.count("grids_grid")) << "grid level is drawn from zoom 13";
}

TEST_F(VectorTiles, ADenseTileAtTheIncidentZoomsIsAggregatedAndStaysSmall) {
  // 2,400 open incidents inside one zoom-15 tile: more than the 2,000 points a
  // tile holds, so it carries clusters (32 x 32 cells) whose counts add up.
  const TileId t = tile_of(X0 + 1 * U, Y0 + 1 * U, 15);
  const auto tb = spatial::tile_bounds_lonlat(t);
  for (int batch = 0; batch < 3; ++batch) {
    Json items = Json::array();
    for (int k = 0; k < 800; ++k) {
      const int n = batch * 800 + k;
      items.push_back(Json{{"category", "roof_leak"},
                           {"lon", tb.minx + (0.05 + 0.9 * (n % 49) / 48.0) * (tb.maxx - tb.minx)},
                           {"lat", tb.miny + (0.05 + 0.9 * (n / 49) / 48.0) * (tb.maxy - tb.miny)}});
    }
    ASSERT_EQ(client->post("/incidents", Json{{"items", items}}.dump()).status, 201);
  }
  const HttpResponse r = tile("incidents", t);
  ASSERT_EQ(r.status, 200);
  auto layers = decode_mvt(r.body, t);
  long total = 0;
  for (const auto& f : layers["incidents"]) {
    ASSERT_EQ(f.count("cluster"), 1u) << "a point where a cluster was due";
    total += std::stol(f.at("count"));
  }
  EXPECT_EQ(total, 2400);
  EXPECT_LE(layers["incidents"].size(), 32u * 32u);
  EXPECT_LT(r.body.size(), 64u * 1024u) << "the tile is " << r.body.size() << " bytes";
  // A sparse tile at the same zoom still has the incidents one by one.
  const TileId sparse = tile_of(X0 + 3 * U, Y0 + 1 * U, 15);
  const auto sb = spatial::tile_bounds_lonlat(sparse);
  ASSERT_EQ(client->post("/incidents", Json{{"category", "roof_leak"}, {"lon", (sb.minx + sb.maxx) / 2},
                                            {"lat", (sb.miny + sb.maxy) / 2}}.dump()).status, 201);
  auto one = decode_mvt(tile("incidents", sparse).body, sparse);
  ASSERT_EQ(one["incidents"].size(), 1u);
  EXPECT_EQ(one["incidents"][0].count("cluster"), 0u);
  EXPECT_EQ(one["incidents"][0].at("category"), "roof_leak");
}

TEST_F(VectorTiles, AnEditInvalidatesExactlyTheTilesItTouchesAtEveryZoom) {
  // Zoom 13 (the first with grid-level polygons) and 16.
  const TileId a12 = tile_of(X0 + 1 * U, Y0 + 1 * U, 13), a16 = tile_of(X0 + 1 * U, Y0 + 1 * U, 16);
  const TileId b14 = tile_of(X0 + 102 * U, Y0 + 1 * U, 14);
  std::map<std::string, std::string> etags;
  for (const auto& t : {a12, a16, b14}) {
    const HttpResponse first = tile("gridd", t);
    ASSERT_EQ(first.status, 200);
    EXPECT_EQ(first.header("X-Tile-Cache"), "miss");
    const HttpResponse again = tile("gridd", t);
    EXPECT_EQ(again.header("X-Tile-Cache"), "hit") << t.to_string();
    EXPECT_EQ(again.header("ETag"), first.header("ETag"));
    etags[t.to_string()] = first.header("ETag");
  }
  // Shrink A1: the A tiles change at every zoom, B's tile stays cached.
  const Json a1 = body_json(client->get("/grids?code=A1"))["features"][0];
  Json moved = grid("A1", "grid", "A", 0, 0, 1.5, 2);
  // (Shrinking uncovers part of A: saved as a draft.)
  ASSERT_EQ(client->put("/grids/" + std::to_string(a1["id"].get<std::int64_t>()) + "?draft=true", moved.dump()).status, 200);
  for (const auto& t : {a12, a16}) {
    const HttpResponse r = tile("gridd", t);
    EXPECT_EQ(r.header("X-Tile-Cache"), "miss") << t.to_string();
    EXPECT_NE(r.header("ETag"), etags[t.to_string()]) << t.to_string() << " is stale";
  }
  EXPECT_EQ(tile("gridd", b14).header("X-Tile-Cache"), "hit") << "an edit far away must not evict this tile";
  // The new geometry is what the tile shows.
  auto layers = decode_mvt(tile("grids", a16).body, a16);
  ASSERT_TRUE(layers.count("grids_grid"));

  // A new incident evicts the incident tiles around it, not B's.
  const std::string before = tile("incidents", a16).header("ETag");
  EXPECT_EQ(tile("incidents", b14).header("X-Tile-Cache"), "miss");
  EXPECT_EQ(tile("incidents", b14).header("X-Tile-Cache"), "hit");
  const Json body{{"category", "roof_leak"}, {"lon", X0 + 1 * U}, {"lat", Y0 + 1 * U}};
  ASSERT_EQ(client->post("/incidents", body.dump()).status, 201);
  const HttpResponse after = tile("incidents", a16);
  EXPECT_EQ(after.header("X-Tile-Cache"), "miss");
  EXPECT_NE(after.header("ETag"), before);
  EXPECT_EQ(tile("incidents", b14).header("X-Tile-Cache"), "hit");
  // A station edit touches the stations layer only where it is.
  EXPECT_EQ(tile("gridd", b14).header("X-Tile-Cache"), "hit");
  post_created(*client, "/stations", station_feature("Station B", "service_center", X0 + 102 * U, Y0 + 1 * U));
  EXPECT_EQ(tile("gridd", b14).header("X-Tile-Cache"), "miss");
  auto b_layers = decode_mvt(tile("gridd", b14).body, b14);
  EXPECT_EQ(values_of(b_layers["stations"], "name"), (std::set<std::string>{"Station B"}));
}

TEST_F(VectorTiles, ConditionalRequestsAnswer304) {
  const TileId t = tile_of(X0 + 1 * U, Y0 + 1 * U, 14);
  const HttpResponse r = tile("grids", t);
  const std::string etag = r.header("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(r.header("Cache-Control"), "no-cache");
  RawSocket s(server->port());
  ASSERT_TRUE(s.send_all("GET " + tile_path("grids", t, "mvt") + " HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag +
                         "\r\nConnection: close\r\n\r\n"));
  const std::string res = s.read_all();
  EXPECT_EQ(raw_status(res), 304) << res;
}

TEST_F(VectorTiles, TileJsonDescribesEverySource) {
  const Json tj = body_json(client->get("/tiles/gridd.json"));
  EXPECT_EQ(tj["tilejson"], "3.0.0");
  ASSERT_EQ(tj["tiles"].size(), 1u);
  const std::string url = tj["tiles"][0].get<std::string>();
  EXPECT_NE(url.find("http://"), std::string::npos) << url;
  EXPECT_NE(url.find("/tiles/gridd/{z}/{x}/{y}.mvt"), std::string::npos) << url;
  std::set<std::string> ids;
  for (const auto& l : tj["vector_layers"]) ids.insert(l["id"].get<std::string>());
  for (const char* want : {"grids_district", "grids_grid", "grid_labels", "stations", "incidents"}) {
    EXPECT_TRUE(ids.count(want)) << want;
  }
  EXPECT_LT(tj["bounds"][0].get<double>(), X0 + 0.001);
  EXPECT_GT(tj["bounds"][2].get<double>(), X0 + 100 * U);
  const Json list = body_json(client->get("/tiles"));
  for (const auto& s : list["sources"]) {
    EXPECT_EQ(client->get("/tiles/" + s["name"].get<std::string>() + ".json").status, 200) << s.dump();
  }
  const Json composite = body_json(client->get("/tiles/grids,stations.json"));
  EXPECT_EQ(composite["vector_layers"].size(), 7u);
}

TEST_F(VectorTiles, OgcApiTilesPathsServeTheSameTiles) {
  const Json sets = body_json(client->get("/tileMatrixSets"));
  ASSERT_EQ(sets["tileMatrixSets"].size(), 1u);
  EXPECT_EQ(sets["tileMatrixSets"][0]["id"], "WebMercatorQuad");
  const Json tms = body_json(client->get("/tileMatrixSets/WebMercatorQuad"));
  ASSERT_EQ(tms["tileMatrices"].size(), 25u);
  EXPECT_EQ(tms["tileMatrices"][3]["matrixWidth"], 8);
  EXPECT_NEAR(tms["tileMatrices"][0]["scaleDenominator"].get<double>(), 559082264.0287178, 1e-3);
  const Json ts = body_json(client->get("/collections/grids/tiles"));
  ASSERT_EQ(ts["tilesets"].size(), 1u);
  EXPECT_EQ(ts["tilesets"][0]["dataType"], "vector");
  bool templated = false;
  for (const auto& l : ts["tilesets"][0]["links"]) {
    if (l["rel"] == "item") templated = l["href"].get<std::string>().find("{tileMatrix}/{tileRow}/{tileCol}") != std::string::npos;
  }
  EXPECT_TRUE(templated);
  const TileId t = tile_of(X0 + 1 * U, Y0 + 1 * U, 14);
  const HttpResponse ogc = client->get("/collections/grids/tiles/WebMercatorQuad/14/" + std::to_string(t.y) + "/" +
                                       std::to_string(t.x));
  ASSERT_EQ(ogc.status, 200) << ogc.body;
  EXPECT_EQ(ogc.content_type, "application/vnd.mapbox-vector-tile");
  EXPECT_EQ(ogc.body, tile("grids", t).body);
  expect_error(client->get("/collections/grids/tiles/WorldCRS84Quad/1/0/0"), 404, "unknown_tile_matrix_set");
  expect_error(client->get("/collections/grids/map/tiles"), 404, "no_such_tileset");
  expect_error(client->get("/tileMatrixSets/Other"), 404, "unknown_tile_matrix_set");
}

TEST_F(VectorTiles, BadTileRequestsAre4xx) {
  expect_error(client->get("/tiles/gridd/25/0/0.mvt"), 400, "invalid_tile", "z");
  expect_error(client->get("/tiles/gridd/3/8/0.mvt"), 400, "invalid_tile", "x");
  expect_error(client->get("/tiles/gridd/3/0/-1.mvt"), 400, "invalid_tile", "y");
  expect_error(client->get("/tiles/gridd/a/0/0.mvt"), 400, "invalid_tile", "z");
  expect_error(client->get("/tiles/nope/1/0/0.mvt"), 404, "unknown_tile_source", "source");
  expect_error(client->get("/tiles/grids,nope/1/0/0.mvt"), 404, "unknown_tile_source", "source");
  expect_error(client->get("/tiles/gridd/1/0/0.png"), 400, "unsupported_format", "format");
  expect_error(client->get("/tiles/gridd/1/0/0"), 400, "unsupported_format", "format");
  expect_error(client->get("/tiles/nope.json"), 404, "unknown_tile_source");
  expect_error(client->get("/tiles/gridd/99999999999/0/0.mvt"), 400, "invalid_tile", "z");
  expect_healthy(*server);
}

}  // namespace
}  // namespace gridd::http_test
