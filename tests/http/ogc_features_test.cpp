// OGC API - Features (Part 1 core/GeoJSON/OAS 3.0, Part 2 CRS) over real HTTP
// on the demo city (1282 grids, 43 stations) plus reported incidents: the
// landing page, conformance, collections, items with bbox/datetime/limit and
// paging to the end, single items, CRS by reference checked against PROJ (via
// OGR), the OGC exception body, ETag/304 and gzip; and GDAL's OAPIF driver as
// a real client (ogrinfo and ogr2ogr copy every feature out).

#include <gtest/gtest.h>

#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <ogr_spatialref.h>
#include <ogrsf_frmts.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

const std::string k_manifest = std::string(GRIDD_GEODATA_DIR) + "/renchen/demo.json";
const char* k_crs84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const char* k_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326";
const char* k_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490";
const char* k_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857";
constexpr int k_incidents = 23;

const bool g_gdal_registered = [] {
  GDALAllRegister();
  return true;
}();

/// One GET on a fresh connection with extra request headers (the shared
/// client sends none), Host with the port as real clients do.
HttpResponse get_with(unsigned short port, const std::string& target,
                      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  boost::asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> req(bhttp::verb::get, target, 11);
  req.set(bhttp::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [k, v] : headers) req.set(k, v);
  bhttp::write(stream, req);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(1024 * 1024 * 1024);
  bhttp::read(stream, buffer, parser);
  auto res = parser.release();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  out.content_type = std::string(res[bhttp::field::content_type]);
  out.fields = res.base();
  beast::error_code ec;
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  return out;
}

/// "/path?query" of an absolute link.
std::string target_of(const std::string& href) {
  const auto scheme = href.find("://");
  if (scheme == std::string::npos) return href;
  const auto slash = href.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : href.substr(slash);
}

std::string href_of(const Json& body, const std::string& rel) {
  for (const auto& l : body.value("links", Json::array())) {
    if (l.value("rel", "") == rel) return l.value("href", "");
  }
  return {};
}

/// gunzip through GDAL's /vsigzip/ (zlib).
std::string gunzip(const std::string& data) {
  static int counter = 0;
  const std::string name = "/vsimem/ogc_test_" + std::to_string(++counter) + ".gz";
  VSILFILE* f = VSIFileFromMemBuffer(name.c_str(), reinterpret_cast<GByte*>(const_cast<char*>(data.data())),
                                     static_cast<vsi_l_offset>(data.size()), FALSE);
  if (f) VSIFCloseL(f);
  std::string out;
  if (VSILFILE* z = VSIFOpenL(("/vsigzip/" + name).c_str(), "rb")) {
    char buf[65536];
    for (std::size_t n; (n = VSIFReadL(buf, 1, sizeof buf, z)) > 0;) out.append(buf, n);
    VSIFCloseL(z);
  }
  VSIUnlink(name.c_str());
  return out;
}

/// The output of a command (stderr folded in) and its exit status.
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, ""};
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// Check the OGC exception body (and gridd's own members).
void expect_ogc_error(const HttpResponse& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  const Json j = body_json(r);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j.value("code", ""), code) << r.body;
  EXPECT_TRUE(j.contains("description") && j["description"].is_string() && !j["description"].get<std::string>().empty())
      << r.body;
  EXPECT_TRUE(j.contains("message") && j.contains("field")) << r.body;
}

class OgcFeatures : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(k_manifest)) return;
    s_dir = new TempDir();
    s_server = new ServerProcess(s_dir->file("demo.gpkg"), {"--demo"});
    HttpClient c(s_server->port());
    // Incidents across the city, each with a reporter (personal data).
    const Json grids = body_json(c.get("/grids?level=grid&limit=" + std::to_string(k_incidents)));
    ASSERT_EQ(grids["features"].size(), static_cast<std::size_t>(k_incidents));
    for (const auto& g : grids["features"]) {
      // The mean of the outer ring's vertices: inside the city (assigned or flagged, either is fine).
      const Json ring = g["geometry"]["coordinates"][0][0];
      double lon = 0, lat = 0;
      for (const auto& p : ring) {
        lon += p[0].get<double>();
        lat += p[1].get<double>();
      }
      lon /= static_cast<double>(ring.size());
      lat /= static_cast<double>(ring.size());
      Json body{{"category", "property_dispute"}, {"description", "ogc test case"}, {"lon", lon}, {"lat", lat},
                {"channel", "hotline"}, {"reporter", {{"name", "居民甲"}, {"phone", "13912345678"}}}};
      const HttpResponse r = c.post("/incidents", body.dump());
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }
  static void TearDownTestSuite() {
    delete s_server;
    s_server = nullptr;
    delete s_dir;
    s_dir = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(k_manifest)) << "the demo city " << k_manifest << " is missing";
    ASSERT_NE(s_server, nullptr);
    client = std::make_unique<HttpClient>(s_server->port());
  }
  [[nodiscard]] unsigned short port() const { return s_server->port(); }
  [[nodiscard]] std::string base() const { return "http://127.0.0.1:" + std::to_string(port()); }

  /// Follow rel=next from `first` to the end: every feature id once.
  std::vector<std::int64_t> walk(const std::string& first, std::size_t page_limit, std::int64_t* matched = nullptr,
                                 std::size_t* pages = nullptr) {
    std::vector<std::int64_t> ids;
    std::string target = first;
    std::size_t n = 0;
    while (!target.empty() && n < 10000) {
      const HttpResponse r = get_with(port(), target);
      EXPECT_EQ(r.status, 200) << target << ": " << r.body;
      if (r.status != 200) break;
      EXPECT_NE(r.content_type.find("application/geo+json"), std::string::npos);
      const Json page = body_json(r);
      EXPECT_EQ(page.value("numberReturned", -1), static_cast<int>(page["features"].size()));
      EXPECT_LE(page["features"].size(), page_limit);
      if (matched) *matched = page.value("numberMatched", -1);
      for (const auto& f : page["features"]) ids.push_back(f["id"].get<std::int64_t>());
      const std::string next = href_of(page, "next");
      if (!next.empty()) EXPECT_EQ(page["features"].size(), page_limit) << "a page short of the limit has a next link";
      target = next.empty() ? std::string() : target_of(next);
      ++n;
    }
    if (pages) *pages = n;
    return ids;
  }

  static TempDir* s_dir;
  static ServerProcess* s_server;
  std::unique_ptr<HttpClient> client;
};

TempDir* OgcFeatures::s_dir = nullptr;
ServerProcess* OgcFeatures::s_server = nullptr;

TEST_F(OgcFeatures, LandingPageForJsonClientsWebMapForBrowsers) {
  const HttpResponse json = get_with(port(), "/", {{"Accept", "application/json"}});
  ASSERT_EQ(json.status, 200) << json.body;
  EXPECT_NE(json.content_type.find("application/json"), std::string::npos);
  const Json landing = body_json(json);
  EXPECT_EQ(href_of(landing, "conformance"), base() + "/conformance");
  EXPECT_EQ(href_of(landing, "data"), base() + "/collections");
  EXPECT_EQ(href_of(landing, "service-desc"), base() + "/openapi.json");
  EXPECT_NE(json.header("Vary").find("Accept"), std::string::npos);
  EXPECT_EQ(body_json(get_with(port(), "/?f=json")), landing);

  const HttpResponse html = get_with(port(), "/", {{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}});
  EXPECT_EQ(html.status, 200);
  EXPECT_NE(html.content_type.find("text/html"), std::string::npos);
  EXPECT_NE(html.header("Vary").find("Accept"), std::string::npos);

  // The OpenAPI document the landing page points to.
  const HttpResponse api = get_with(port(), target_of(href_of(landing, "service-desc")));
  EXPECT_EQ(api.status, 200);
  EXPECT_NE(api.content_type.find("application/vnd.oai.openapi+json"), std::string::npos);
  EXPECT_TRUE(body_json(api)["paths"].contains("/collections/{collectionId}/items"));
}

TEST_F(OgcFeatures, Conformance) {
  const Json c = body_json(client->get("/conformance"));
  std::set<std::string> classes;
  for (const auto& v : c["conformsTo"]) classes.insert(v.get<std::string>());
  for (const char* want : {"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
                           "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
                           "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
                           "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"}) {
    EXPECT_TRUE(classes.count(want)) << want;
  }
}

TEST_F(OgcFeatures, CollectionsWithCrsExtentAndTileLinks) {
  const HttpResponse r = get_with(port(), "/collections");
  ASSERT_EQ(r.status, 200);
  const Json body = body_json(r);
  std::map<std::string, Json> by_id;
  for (const auto& c : body["collections"]) by_id[c["id"].get<std::string>()] = c;
  ASSERT_EQ(by_id.size(), 3u) << r.body;
  for (const char* id : {"grids", "stations", "incidents"}) {
    const Json& c = by_id[id];
    EXPECT_EQ(c.value("itemType", ""), "feature");
    EXPECT_EQ(href_of(c, "items"), base() + "/collections/" + id + "/items");
    std::set<std::string> crs;
    for (const auto& v : c["crs"]) crs.insert(v.get<std::string>());
    EXPECT_EQ(crs, (std::set<std::string>{k_crs84, k_4326, k_4490, k_3857}));
    EXPECT_EQ(c.value("storageCrs", ""), k_crs84);
    const Json bbox = c["extent"]["spatial"]["bbox"][0];
    EXPECT_GT(bbox[0].get<double>(), 116.0);
    EXPECT_LT(bbox[2].get<double>(), 117.0);
    // The tile set of the same name is linked, and still served.
    const std::string tiles = href_of(c, "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector");
    EXPECT_EQ(tiles, base() + "/collections/" + id + "/tiles");
    EXPECT_EQ(get_with(port(), target_of(tiles)).status, 200);
    // One collection alone is the same document.
    EXPECT_EQ(body_json(get_with(port(), std::string("/collections/") + id)), c);
  }
  EXPECT_NE(by_id["incidents"].value("description", "").find("personal data"), std::string::npos);

  // ETag and 304, also for the gzip variant.
  const std::string tag = r.header("ETag");
  ASSERT_FALSE(tag.empty());
  const HttpResponse again = get_with(port(), "/collections", {{"If-None-Match", tag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.header("ETag"), tag);
  const HttpResponse gz = get_with(port(), "/collections", {{"Accept-Encoding", "gzip"}});
  ASSERT_EQ(gz.header("Content-Encoding"), "gzip");
  const std::string gz_tag = gz.header("ETag");
  EXPECT_NE(gz_tag, tag);
  EXPECT_EQ(gunzip(gz.body), r.body);
  const HttpResponse gz304 = get_with(port(), "/collections", {{"Accept-Encoding", "gzip"}, {"If-None-Match", gz_tag}});
  EXPECT_EQ(gz304.status, 304);
  EXPECT_EQ(gz304.header("ETag"), gz_tag);
  // An edit changes the tag.
  ASSERT_EQ(client->post("/stations", station_feature("OGC temp", "opinion_point", 116.55, 35.40).dump()).status, 201);
  const HttpResponse after = get_with(port(), "/collections", {{"If-None-Match", tag}});
  EXPECT_EQ(after.status, 200);
  EXPECT_NE(after.header("ETag"), tag);
  const Json created = body_json(client->get("/stations?kind=opinion_point&limit=10000"));
  for (const auto& f : created["features"]) {
    if (f["properties"]["name"] == "OGC temp") EXPECT_EQ(client->del("/stations/" + std::to_string(f["id"].get<int>())).status, 204);
  }
}

TEST_F(OgcFeatures, PagingReachesEveryFeatureExactlyOnce) {
  const Json health = body_json(client->get("/healthz"));
  const std::size_t grids = health["grids"].get<std::size_t>();
  const std::size_t stations = health["stations"].get<std::size_t>();
  EXPECT_EQ(grids, 1282u);
  struct Case {
    std::string collection;
    std::size_t limit;
    std::size_t expected;
  };
  for (const Case& c : {Case{"grids", 100, grids}, Case{"stations", 10, stations},
                        Case{"incidents", 7, static_cast<std::size_t>(k_incidents)}, Case{"grids", 10000, grids}}) {
    std::int64_t matched = -1;
    std::size_t pages = 0;
    const auto ids = walk("/collections/" + c.collection + "/items?limit=" + std::to_string(c.limit), c.limit, &matched, &pages);
    EXPECT_EQ(ids.size(), c.expected) << c.collection;
    EXPECT_EQ(std::set<std::int64_t>(ids.begin(), ids.end()).size(), ids.size()) << c.collection << ": a feature twice";
    EXPECT_EQ(matched, static_cast<std::int64_t>(c.expected)) << c.collection;
    EXPECT_EQ(pages, std::max<std::size_t>(1, (c.expected + c.limit - 1) / c.limit)) << c.collection;
  }
  // The default page is 10 features.
  const Json first = body_json(client->get("/collections/grids/items"));
  EXPECT_EQ(first["features"].size(), 10u);
  EXPECT_EQ(first.value("numberMatched", 0), static_cast<int>(grids));
  // curl follows the links too (what a shell script would do).
  std::string target = base() + "/collections/stations/items?limit=5";
  std::set<std::int64_t> seen;
  for (int guard = 0; !target.empty() && guard < 100; ++guard) {
    const auto [rc, out] = run("curl -sf '" + target + "'");
    ASSERT_EQ(rc, 0) << out;
    const Json page = Json::parse(out);
    for (const auto& f : page["features"]) EXPECT_TRUE(seen.insert(f["id"].get<std::int64_t>()).second);
    target = href_of(page, "next");
  }
  EXPECT_EQ(seen.size(), stations);
}

TEST_F(OgcFeatures, DomainFiltersAndBbox) {
  // level, parent, kind as extra parameters agree with gridd's own listings.
  for (const std::string q : {"level=community", "level=grid", "kind=service_center"}) {
    const std::string coll = q.rfind("kind", 0) == 0 ? "stations" : "grids";
    const Json own = body_json(client->get("/" + coll + "?limit=10000&" + q));
    std::int64_t matched = -1;
    const auto ids = walk("/collections/" + coll + "/items?limit=50&" + q, 50, &matched);
    EXPECT_EQ(ids.size(), own["features"].size()) << q;
  }
  const Json community = body_json(client->get("/grids?level=community&limit=1"))["features"][0];
  const std::string code = community["properties"]["code"];
  const Json children = body_json(client->get("/collections/grids/items?limit=1000&parent=" + code));
  EXPECT_EQ(children.value("numberMatched", -1), community["properties"]["children"].get<int>());

  // bbox in CRS84, in EPSG:4326 (lat,lon order) and in EPSG:3857: the same grids.
  const double x0 = 116.50, y0 = 35.30, x1 = 116.56, y1 = 35.36;
  char b84[200], b4326[200], b3857[200];
  std::snprintf(b84, sizeof b84, "%.6f,%.6f,%.6f,%.6f", x0, y0, x1, y1);
  std::snprintf(b4326, sizeof b4326, "%.6f,%.6f,%.6f,%.6f", y0, x0, y1, x1);
  OGRSpatialReference wgs, merc;
  wgs.importFromEPSG(4326);
  wgs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  merc.importFromEPSG(3857);
  std::unique_ptr<OGRCoordinateTransformation> to_merc(OGRCreateCoordinateTransformation(&wgs, &merc));
  double mx[2] = {x0, x1}, my[2] = {y0, y1};
  ASSERT_TRUE(to_merc->Transform(2, mx, my));
  std::snprintf(b3857, sizeof b3857, "%.4f,%.4f,%.4f,%.4f", mx[0], my[0], mx[1], my[1]);
  const Json own = body_json(client->get(std::string("/grids?limit=10000&bbox=") + b84));
  ASSERT_GT(own["features"].size(), 0u);
  std::set<std::int64_t> expected;
  for (const auto& f : own["features"]) expected.insert(f["id"].get<std::int64_t>());
  char b6[200];  // with heights
  std::snprintf(b6, sizeof b6, "%.6f,%.6f,0,%.6f,%.6f,100", x0, y0, x1, y1);
  for (const std::string q : {std::string("bbox=") + b84, std::string("bbox=") + b4326 + "&bbox-crs=" + k_4326,
                              std::string("bbox=") + b6, std::string("bbox=") + b3857 + "&bbox-crs=" + k_3857}) {
    const auto ids = walk("/collections/grids/items?limit=100&" + q, 100);
    EXPECT_EQ(std::set<std::int64_t>(ids.begin(), ids.end()), expected) << q;
  }
  // Stations and incidents by bbox: inside the box only.
  const Json st = body_json(client->get(std::string("/collections/stations/items?limit=1000&bbox=") + b84));
  for (const auto& f : st["features"]) {
    const double lon = f["geometry"]["coordinates"][0], lat = f["geometry"]["coordinates"][1];
    EXPECT_TRUE(lon >= x0 && lon <= x1 && lat >= y0 && lat <= y1);
  }
  const Json all_incidents = body_json(client->get("/collections/incidents/items?limit=1000&status=open&category=property_dispute"));
  EXPECT_EQ(all_incidents.value("numberMatched", -1), k_incidents);
  EXPECT_EQ(body_json(client->get("/collections/incidents/items?status=closed")).value("numberMatched", -1), 0);
}

TEST_F(OgcFeatures, Datetime) {
  const std::string future = "2200-01-01T00:00:00Z", past = "2000-01-01T00:00:00Z";
  auto matched = [&](const std::string& coll, const std::string& q) {
    return body_json(client->get("/collections/" + coll + "/items?limit=1&" + q)).value("numberMatched", -1);
  };
  const int grids = matched("grids", "");
  // An instant: the grids as they were (none in 2000, all of today's later).
  EXPECT_EQ(matched("grids", "datetime=" + past), 0);
  EXPECT_EQ(matched("grids", "datetime=" + future), grids);
  // Intervals filter updated_at (grids, stations) and created_at (incidents).
  for (const char* coll : {"grids", "stations", "incidents"}) {
    const int all = matched(coll, "");
    EXPECT_GT(all, 0) << coll;
    EXPECT_EQ(matched(coll, "datetime=../" + future), all) << coll;
    EXPECT_EQ(matched(coll, "datetime=" + past + "/.."), all) << coll;
    EXPECT_EQ(matched(coll, "datetime=" + past + "/" + future), all) << coll;
    EXPECT_EQ(matched(coll, "datetime=../" + past), 0) << coll;
    EXPECT_EQ(matched(coll, "datetime=" + future + "/.."), 0) << coll;
  }
  // One incident's own instant finds it.
  const Json one = body_json(client->get("/collections/incidents/items?limit=1"))["features"][0];
  const std::string created = one["properties"]["created_at"];
  const Json at = body_json(client->get("/collections/incidents/items?datetime=" + created));
  ASSERT_GE(at["features"].size(), 1u);
  for (const auto& f : at["features"]) EXPECT_EQ(f["properties"]["created_at"], created);
}

TEST_F(OgcFeatures, SingleItemsAndNoPersonalData) {
  const Json grid = body_json(client->get("/grids/1"));
  const HttpResponse r = get_with(port(), "/collections/grids/items/1");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.content_type.find("application/geo+json"), std::string::npos);
  EXPECT_EQ(r.header("Content-Crs"), std::string("<") + k_crs84 + ">");
  const Json item = body_json(r);
  EXPECT_EQ(item["geometry"], grid["geometry"]);
  EXPECT_EQ(item["properties"], grid["properties"]);
  EXPECT_EQ(href_of(item, "collection"), base() + "/collections/grids");
  EXPECT_EQ(get_with(port(), "/collections/grids/items/1", {{"If-None-Match", r.header("ETag")}}).status, 304);
  EXPECT_EQ(body_json(client->get("/collections/stations/items/1"))["properties"],
            body_json(client->get("/stations/1"))["properties"]);

  // Incidents: never the reporter's name or phone, nor the assignee.
  const HttpResponse list = client->get("/collections/incidents/items?limit=100");
  EXPECT_EQ(list.body.find("13912345678"), std::string::npos);
  EXPECT_EQ(list.body.find("居民甲"), std::string::npos);
  EXPECT_EQ(list.body.find("\"reporter\""), std::string::npos);
  EXPECT_EQ(list.body.find("\"assignee\""), std::string::npos);
  const std::int64_t id = body_json(list)["features"][0]["id"];
  const HttpResponse one = client->get("/collections/incidents/items/" + std::to_string(id));
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.body.find("13912345678"), std::string::npos);
  const Json inc = body_json(one);
  EXPECT_EQ(inc["properties"]["category"], "property_dispute");
  EXPECT_TRUE(inc["properties"].contains("status"));
  EXPECT_TRUE(inc["properties"]["grid_code"].is_string());
  // gridd's own endpoint still shows the reporter (for the dispatcher).
  EXPECT_NE(client->get("/incidents/" + std::to_string(id)).body.find("13912345678"), std::string::npos);
}

TEST_F(OgcFeatures, CrsByReference) {
  const Json plain = body_json(client->get("/collections/stations/items?limit=100"));
  ASSERT_GT(plain["features"].size(), 0u);
  // EPSG:4490 and EPSG:4326: latitude first; gridd treats CGCS2000 as WGS84.
  for (const char* crs : {k_4490, k_4326}) {
    const HttpResponse r = get_with(port(), std::string("/collections/stations/items?limit=100&crs=") + crs);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("Content-Crs"), std::string("<") + crs + ">");
    const Json j = body_json(r);
    ASSERT_EQ(j["features"].size(), plain["features"].size());
    for (std::size_t i = 0; i < j["features"].size(); ++i) {
      const Json& a = plain["features"][i]["geometry"]["coordinates"];
      const Json& b = j["features"][i]["geometry"]["coordinates"];
      EXPECT_DOUBLE_EQ(b[0].get<double>(), a[1].get<double>());
      EXPECT_DOUBLE_EQ(b[1].get<double>(), a[0].get<double>());
    }
  }
  // EPSG:3857 against PROJ (through OGR), for points and polygons.
  OGRSpatialReference wgs, merc;
  wgs.importFromEPSG(4326);
  wgs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  merc.importFromEPSG(3857);
  merc.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> t(OGRCreateCoordinateTransformation(&wgs, &merc));
  for (const std::string path : {"/collections/stations/items/1", "/collections/grids/items/3"}) {
    const Json a = body_json(client->get(path));
    const HttpResponse r = get_with(port(), path + "?crs=" + k_3857);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("Content-Crs"), std::string("<") + k_3857 + ">");
    const Json b = body_json(r);
    std::vector<std::pair<const Json*, const Json*>> pairs;
    std::function<void(const Json&, const Json&)> collect = [&](const Json& x, const Json& y) {
      if (x.is_array() && !x.empty() && x[0].is_number()) {
        pairs.emplace_back(&x, &y);
        return;
      }
      for (std::size_t i = 0; i < x.size(); ++i) collect(x[i], y[i]);
    };
    collect(a["geometry"]["coordinates"], b["geometry"]["coordinates"]);
    ASSERT_GT(pairs.size(), 0u);
    for (const auto& [p, q] : pairs) {
      double x = (*p)[0], y = (*p)[1];
      ASSERT_TRUE(t->Transform(1, &x, &y));
      EXPECT_NEAR((*q)[0].get<double>(), x, 1e-3) << path;
      EXPECT_NEAR((*q)[1].get<double>(), y, 1e-3) << path;
      EXPECT_GT(x, 1e7);  // metres, not degrees
    }
  }
  // The https form and the safe CURIE name the same CRS.
  EXPECT_EQ(get_with(port(), "/collections/stations/items/1?crs=%5BEPSG:4490%5D").header("Content-Crs"),
            std::string("<") + k_4490 + ">");
  EXPECT_EQ(get_with(port(), "/collections/stations/items/1?crs=https://www.opengis.net/def/crs/EPSG/0/3857").status, 200);
  // next links keep the CRS.
  const Json page = body_json(client->get(std::string("/collections/grids/items?limit=5&crs=") + k_3857));
  EXPECT_NE(href_of(page, "next").find("crs="), std::string::npos);
}

TEST_F(OgcFeatures, BadInputAnswersTheOgcException) {
  expect_ogc_error(client->get("/collections/nope"), 404, "no_such_collection");
  expect_ogc_error(client->get("/collections/nope/items"), 404, "no_such_collection");
  expect_ogc_error(client->get("/collections/grids/items/999999"), 404, "feature_not_found");
  expect_ogc_error(client->get("/collections/stations/items/abc"), 404, "feature_not_found");
  expect_ogc_error(client->get("/collections/incidents/items/999999"), 404, "feature_not_found");
  for (const char* l : {"0", "10001", "-1", "ten", ""}) {
    expect_ogc_error(client->get(std::string("/collections/grids/items?limit=") + l), 400, "invalid_limit");
  }
  EXPECT_EQ(client->get("/collections/grids/items?limit=10000").status, 200);
  for (const char* b : {"1,2,3", "a,b,c,d", "1,2,3,4,5", "116.6,35.3,116.5,35.4", "0,0,200,10", "1,,2,3", "1,2,3,4,"}) {
    expect_ogc_error(client->get(std::string("/collections/grids/items?bbox=") + b), 400, "invalid_bbox");
  }
  expect_ogc_error(client->get("/collections/grids/items?bbox-crs=http://www.opengis.net/def/crs/EPSG/0/3857"), 400,
                   "invalid_bbox");
  for (const char* d : {"yesterday", "2024-13-01T00:00:00Z", "2024-01-02T00:00:00Z/2024-01-01T00:00:00Z", "a/b/c", "..", "9999-01-01T00:00:00Z"}) {
    expect_ogc_error(client->get(std::string("/collections/incidents/items?datetime=") + d), 400, "invalid_datetime");
  }
  for (const char* c : {"EPSG:9999", "http://www.opengis.net/def/crs/EPSG/0/4549", "EPSG:4490"}) {
    expect_ogc_error(client->get(std::string("/collections/grids/items?crs=") + c), 400, "unsupported_crs");
    expect_ogc_error(client->get(std::string("/collections/grids/items/1?crs=") + c), 400, "unsupported_crs");
    expect_ogc_error(client->get(std::string("/collections/grids/items?bbox=1,2,3,4&bbox-crs=") + c), 400, "unsupported_crs");
  }
  expect_ogc_error(client->get("/collections/grids/items?levle=grid"), 400, "unknown_parameter");
  expect_ogc_error(client->get("/collections/grids/items?f=xml"), 400, "unsupported_format");
  expect_ogc_error(client->get("/collections/grids/items?level=block"), 400, "invalid_level");
  expect_ogc_error(client->get("/collections/incidents/items?category=nope"), 400, "unknown_category");
}

TEST_F(OgcFeatures, GzipWhenAccepted) {
  const std::string target = "/collections/grids/items?limit=200";
  const HttpResponse plain = get_with(port(), target);
  const HttpResponse gz = get_with(port(), target, {{"Accept-Encoding", "br;q=1, gzip;q=0.8"}});
  EXPECT_TRUE(plain.header("Content-Encoding").empty());
  EXPECT_NE(plain.header("Vary").find("Accept-Encoding"), std::string::npos);
  ASSERT_EQ(gz.header("Content-Encoding"), "gzip");
  EXPECT_NE(gz.header("Vary").find("Accept-Encoding"), std::string::npos);
  EXPECT_LT(gz.body.size(), plain.body.size() / 3);
  Json a = Json::parse(gunzip(gz.body)), b = body_json(plain);
  a.erase("timeStamp");
  b.erase("timeStamp");
  EXPECT_EQ(a, b);
  // Refused or not offered: plain.
  EXPECT_TRUE(get_with(port(), target, {{"Accept-Encoding", "gzip;q=0"}}).header("Content-Encoding").empty());
  EXPECT_TRUE(get_with(port(), target, {{"Accept-Encoding", "identity"}}).header("Content-Encoding").empty());
  // Small bodies and images stay plain.
  EXPECT_TRUE(get_with(port(), "/healthz", {{"Accept-Encoding", "gzip"}}).header("Content-Encoding").empty());
  const HttpResponse png = get_with(port(), "/field/icon-512.png", {{"Accept-Encoding", "gzip"}});
  ASSERT_EQ(png.status, 200);
  EXPECT_GT(png.body.size(), 1024u);
  EXPECT_EQ(png.content_type, "image/png");
  EXPECT_TRUE(png.header("Content-Encoding").empty());
  // Static files too (the web map's script).
  const HttpResponse js = get_with(port(), "/web/app.js", {{"Accept-Encoding", "gzip"}});
  ASSERT_EQ(js.status, 200);
  const std::string plain_js = get_with(port(), "/web/app.js").body;
  ASSERT_GT(plain_js.size(), 1024u);
  EXPECT_EQ(js.header("Content-Encoding"), "gzip");
  EXPECT_EQ(gunzip(js.body), plain_js);
}

TEST_F(OgcFeatures, GdalOapifDriverListsAndCopiesEveryCollection) {
  const auto [rc, listing] = run("timeout 120 ogrinfo -ro -so OAPIF:" + base());
  ASSERT_EQ(rc, 0) << listing;
  for (const char* name : {"grids", "stations", "incidents"}) {
    EXPECT_NE(listing.find(std::string(": ") + name + " (title"), std::string::npos) << listing;
  }
  const Json health = body_json(client->get("/healthz"));
  const std::map<std::string, std::size_t> expected = {{"grids", health["grids"].get<std::size_t>()},
                                                       {"stations", health["stations"].get<std::size_t>()},
                                                       {"incidents", static_cast<std::size_t>(k_incidents)}};
  // Every grid's code and every station's name from the store.
  std::set<std::string> codes, station_names;
  const Json all_grids = body_json(client->get("/grids?limit=10000"));
  for (const auto& f : all_grids["features"]) codes.insert(f["properties"]["code"]);
  std::map<std::string, std::pair<double, double>> station_at;
  const Json all_stations = body_json(client->get("/stations?limit=10000"));
  for (const auto& f : all_stations["features"]) {
    station_at[f["properties"]["code"]] = {f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][1]};
  }

  TempDir dir;
  for (const bool cgcs2000 : {false, true}) {
    const std::string out = dir.file(cgcs2000 ? "copy4490.gpkg" : "copy.gpkg");
    // GDAL 3.6's driver has no CRS open option (3.7 added it): the crs
    // parameter rides in the URL, which the driver adds to every request.
    const std::string url = "OAPIF:" + base() + (cgcs2000 ? std::string("?crs=") + k_4490 : std::string());
    const auto [copy_rc, log] = run("timeout 600 ogr2ogr -f GPKG '" + out + "' '" + url + "' grids stations incidents");
    ASSERT_EQ(copy_rc, 0) << log;
    GDALDatasetUniquePtr ds(GDALDataset::Open(out.c_str(), GDAL_OF_VECTOR));
    ASSERT_TRUE(ds);
    for (const auto& [name, count] : expected) {
      OGRLayer* layer = ds->GetLayerByName(name.c_str());
      ASSERT_NE(layer, nullptr) << name;
      EXPECT_EQ(static_cast<std::size_t>(layer->GetFeatureCount(TRUE)), count) << name << (cgcs2000 ? " (EPSG:4490)" : "");
      OGRFeatureDefn* defn = layer->GetLayerDefn();
      EXPECT_LT(defn->GetFieldIndex("reporter"), 0) << name;
      if (name == "grids") {
        for (const char* f : {"code", "name", "level", "parent", "people", "households", "area_m2", "version"}) {
          EXPECT_GE(defn->GetFieldIndex(f), 0) << f;
        }
        std::set<std::string> copied;
        for (auto& feature : *layer) copied.insert(feature->GetFieldAsString("code"));
        EXPECT_EQ(copied, codes);
      } else if (name == "stations") {
        for (const char* f : {"code", "name", "kind", "address", "contact", "hours"}) EXPECT_GE(defn->GetFieldIndex(f), 0) << f;
        for (auto& feature : *layer) {
          const auto* p = feature->GetGeometryRef()->toPoint();
          const auto& want = station_at.at(feature->GetFieldAsString("code"));
          // In EPSG:4490 the server answers latitude first (its axis order).
          EXPECT_DOUBLE_EQ(p->getX(), cgcs2000 ? want.second : want.first);
          EXPECT_DOUBLE_EQ(p->getY(), cgcs2000 ? want.first : want.second);
        }
      } else {
        for (const char* f : {"category", "status", "created_at", "grid_code"}) EXPECT_GE(defn->GetFieldIndex(f), 0) << f;
      }
    }
  }
}

TEST(OgcCors, OriginFlag) {
  TempDir dir;
  {
    ServerProcess server(dir.file("a.gpkg"));
    const HttpResponse r = get_with(server.port(), "/collections", {{"Origin", "https://elsewhere.example"}});
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
  }
  {
    ServerProcess server(dir.file("b.gpkg"), {"--cors-origin", "none"});
    const HttpResponse r = get_with(server.port(), "/collections", {{"Origin", "https://elsewhere.example"}});
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.header("Access-Control-Allow-Origin").empty());
  }
  {
    ServerProcess server(dir.file("c.gpkg"), {"--cors-origin", "https://city.example,https://ops.example"});
    const HttpResponse ok = get_with(server.port(), "/collections", {{"Origin", "https://ops.example"}});
    EXPECT_EQ(ok.header("Access-Control-Allow-Origin"), "https://ops.example");
    EXPECT_NE(ok.header("Vary").find("Origin"), std::string::npos);
    const HttpResponse other = get_with(server.port(), "/collections", {{"Origin", "https://elsewhere.example"}});
    EXPECT_TRUE(other.header("Access-Control-Allow-Origin").empty());
  }
}

}  // namespace
}  // namespace gridd::http_test
