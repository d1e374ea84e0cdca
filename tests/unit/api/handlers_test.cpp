// Unit tests for gridd/api/handlers.hpp, driven in-process through
// Api::handle with api::Request values (no sockets).
#include <gtest/gtest.h>

#include <set>

#include "gridd/api/handlers.hpp"
#include "gridd/spatial/chinese_coords.hpp"
#include "unit/test_util.hpp"

namespace gridd::api {
namespace {

Json feature(const std::string& code, const std::string& level, const std::string& parent, double x0, double y0,
             double x1, double y1) {
  Json props{{"code", code}, {"name", "网格 " + code}, {"level", level}};
  if (!parent.empty()) props["parent"] = parent;
  return Json{{"type", "Feature"}, {"properties", props}, {"geometry", test::box_polygon(x0, y0, x1, y1)}};
}

Json collection(std::vector<Json> features) {
  return Json{{"type", "FeatureCollection"}, {"features", std::move(features)}};
}

class ApiTest : public ::testing::Test {
 protected:
  Response call(const std::string& method, const std::string& path, const std::string& query = {},
                const std::string& body = {}) const {
    Request r;
    r.method = method;
    r.path = path;
    r.query = parse_query(query);
    r.body = body;
    r.content_type = "application/json";
    r.request_id = "t";
    return api.handle(r);
  }
  Response post(const std::string& path, const Json& body, const std::string& query = {}) const {
    return call("POST", path, query, body.dump());
  }
  static Json json(const Response& r) { return Json::parse(r.body); }
  /// Expect a JSON error body with status, code and field.
  static void expect_error(const Response& r, int status, const std::string& code, const Json& field) {
    EXPECT_EQ(r.status, status) << r.body;
    const Json b = Json::parse(r.body);
    EXPECT_EQ(b.value("code", ""), code) << r.body;
    EXPECT_TRUE(b.contains("message") && b["message"].is_string()) << r.body;
    EXPECT_EQ(b["field"], field) << r.body;
  }
  /// The small hierarchy used by locate tests: a district and two streets.
  void seed_city() {
    const Response r = post("/grids", collection({feature("D", "district", "", 116.0, 39.9, 116.2, 40.1),
                                                  feature("S1", "street", "D", 116.0, 39.9, 116.1, 40.1),
                                                  feature("S2", "street", "D", 116.1, 39.9, 116.2, 40.1)}));
    ASSERT_EQ(r.status, 201) << r.body;
    Json stations = collection({});
    auto station = [](const std::string& code, const std::string& kind, double lon, double lat) {
      return Json{{"type", "Feature"},
                  {"properties", {{"code", code}, {"name", "驿站 " + code}, {"kind", kind}}},
                  {"geometry", {{"type", "Point"}, {"coordinates", {lon, lat}}}}};
    };
    stations["features"] = Json::array({station("M1", "mediation_room", 116.05, 39.95),
                                        station("V1", "volunteer_station", 116.06, 39.95),
                                        station("M2", "mediation_room", 116.15, 39.95)});
    ASSERT_EQ(post("/stations", stations).status, 201);
  }

  test::CatalogFixture f;
  Api api{*f.catalog};
};

TEST_F(ApiTest, UnknownRouteIs404JsonAndWrongMethodIs405WithAllow) {
  expect_error(call("GET", "/nope"), 404, "not_found", "path");
  const Response r = call("DELETE", "/grids");
  expect_error(r, 405, "method_not_allowed", "method");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Allow", "GET, POST"}));
  const Response r2 = call("POST", "/grids/5");
  EXPECT_EQ(r2.status, 405);
  EXPECT_EQ(r2.headers.at(0).second, "DELETE, GET, PUT");
  EXPECT_EQ(call("PATCH", "/locate").headers.at(0).second, "GET, POST");
}

TEST_F(ApiTest, HealthzReportsCounts) {
  const Response r = call("GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json(r)["status"], "ok");
  EXPECT_EQ(json(r)["grids"], 0);
  seed_city();
  EXPECT_EQ(json(call("GET", "/healthz"))["grids"], 3);
  EXPECT_EQ(json(call("GET", "/healthz"))["stations"], 3);
}

TEST_F(ApiTest, MalformedJsonIs400) {
  for (const char* path : {"/grids", "/stations", "/locate"}) {
    expect_error(call("POST", path, "", "{\"type\": \"Feature\","), 400, "malformed_json", "body");
  }
  expect_error(call("POST", "/grids", "", "[]"), 400, "invalid_geojson", "body");
  expect_error(post("/grids", Json{{"type", "Point"}}), 400, "invalid_geojson", "type");
  expect_error(post("/grids", collection({})), 400, "invalid_geojson", "features");
}

// Found by tests/fuzz/fuzz_geojson: deeply nested attributes or
// GeometryCollections overflowed the stack (a crash of the server); they are
// a 400 now.
TEST_F(ApiTest, DeeplyNestedBodiesAre400NotACrash) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string props = R"({"code":"D","name":"D","level":"district","x":)" + deep + "}";
  const std::string box = test::box_polygon(116.0, 39.9, 116.2, 40.1).dump();
  expect_error(call("POST", "/grids", {}, R"({"type":"Feature","properties":)" + props + R"(,"geometry":)" + box + "}"),
               400, "json_too_deep", "body");
  std::string collection;
  for (int i = 0; i < 50000; ++i) collection += R"({"type":"GeometryCollection","geometries":[)";
  for (int i = 0; i < 50000; ++i) collection += "]}";
  expect_error(call("POST", "/grids", {},
                    R"({"type":"Feature","properties":{"code":"D","name":"D","level":"district"},"geometry":)" +
                        collection + "}"),
               400, "json_too_deep", "body");
  expect_error(call("POST", "/locate", {}, R"({"points":)" + deep + "}"), 400, "json_too_deep", "body");
  EXPECT_EQ(call("GET", "/healthz").status, 200);
}

TEST_F(ApiTest, PostFeatureCreatesAGrid) {
  Json feat = feature("110101", "district", "", 116.0, 39.9, 116.2, 40.1);
  feat["properties"]["households"] = 1200;
  feat["properties"]["people"] = Json::array({{{"name", "王芳"}, {"role", "grid_head"}, {"phone", "139"}}});
  feat["properties"]["colour"] = "blue";  // unknown properties become attributes
  feat["properties"]["id"] = 999;         // read-only properties are ignored
  const Response r = post("/grids", feat);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.content_type, "application/geo+json");
  const Json body = json(r);
  const std::int64_t id = body["id"];
  EXPECT_NE(id, 999);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"Location", "/grids/" + std::to_string(id)}));
  EXPECT_EQ(body["properties"]["code"], "110101");
  EXPECT_EQ(body["properties"]["households"], 1200);
  EXPECT_EQ(body["properties"]["attributes"], (Json{{"colour", "blue"}}));
  EXPECT_EQ(body["properties"]["people"][0]["name"], "王芳");
  EXPECT_GT(body["properties"]["area_m2"].get<double>(), 3e8);
  EXPECT_EQ(body["geometry"], test::box_multipolygon(116.0, 39.9, 116.2, 40.1));  // stored as MultiPolygon
  // The Location answers.
  const Response got = call("GET", "/grids/" + std::to_string(id));
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(json(got)["properties"]["name"], "网格 110101");
  EXPECT_TRUE(json(call("GET", "/grids/" + std::to_string(id), "geometry=false"))["geometry"].is_null());
  expect_error(call("GET", "/grids/424242"), 404, "grid_not_found", "id");
  expect_error(call("GET", "/grids/abc"), 400, "invalid_id", "id");
  // The same code again conflicts.
  expect_error(post("/grids", feat), 409, "duplicate_code", "properties/code");
}

/// Features that each fail in a different member, and the member's pointer
/// below the feature.
std::vector<std::pair<Json, std::pair<std::string, std::string>>> bad_features() {
  std::vector<std::pair<Json, std::pair<std::string, std::string>>> out;
  Json no_level = feature("A", "district", "", 116, 39, 116.1, 39.1);
  no_level["properties"].erase("level");
  out.push_back({no_level, {"missing_level", "properties/level"}});
  Json bad_people = feature("A", "district", "", 116, 39, 116.1, 39.1);
  bad_people["properties"]["people"] = Json::array({{{"role", "x"}}});
  out.push_back({bad_people, {"invalid_people", "properties/people/0"}});
  Json negative = feature("A", "district", "", 116, 39, 116.1, 39.1);
  negative["properties"]["households"] = -3;
  out.push_back({negative, {"invalid_households", "properties/households"}});
  Json code_type = feature("A", "district", "", 116, 39, 116.1, 39.1);
  code_type["properties"]["code"] = 12;
  out.push_back({code_type, {"invalid_type", "properties/code"}});
  out.push_back({feature("A", "district", "", 116, 39, 116.1, 95), {"coordinate_out_of_range", "geometry"}});
  Json nogeom = feature("A", "district", "", 116, 39, 116.1, 39.1);
  nogeom["geometry"] = nullptr;
  out.push_back({nogeom, {"missing_geometry", "geometry"}});
  Json open_ring = feature("A", "district", "", 116, 39, 116.1, 39.1);
  open_ring["geometry"]["coordinates"][0].erase(4);
  out.push_back({open_ring, {"ring_not_closed", "geometry/coordinates/0"}});
  Json text_coord = feature("A", "district", "", 116, 39, 116.1, 39.1);
  text_coord["geometry"]["coordinates"][0][2][1] = "39.1";
  out.push_back({text_coord, {"invalid_geometry", "geometry/coordinates/0/2/1"}});
  // Errors raised by the catalog rather than the parser.
  out.push_back({feature("A", "district", "NOPE", 116, 39, 116.1, 39.1), {"unknown_parent", "properties/parent"}});
  out.push_back({feature("a b", "district", "", 116, 39, 116.1, 39.1), {"invalid_code", "properties/code"}});
  return out;
}

TEST_F(ApiTest, FeatureErrorsInACollectionNameTheField) {
  for (const auto& [bad, expected] : bad_features()) {
    const Response r = post("/grids", collection({feature("OK", "district", "", 117, 39, 117.1, 39.1), bad}));
    expect_error(r, 400, expected.first, "features/1/" + expected.second);
  }
  EXPECT_EQ(json(call("GET", "/grids"))["numberReturned"], 0);
}

TEST_F(ApiTest, FeatureErrorsOfASingleFeatureNameTheField) {
  for (const auto& [bad, expected] : bad_features()) {
    expect_error(post("/grids", bad), 400, expected.first, expected.second);
  }
}

TEST_F(ApiTest, FeatureCollectionIsAllOrNothing) {
  Json bad = feature("B", "town", "", 116.1, 39.9, 116.2, 40.0);
  expect_error(post("/grids", collection({feature("A", "district", "", 116.0, 39.9, 116.1, 40.0), bad,
                                          feature("C", "district", "", 116.2, 39.9, 116.3, 40.0)})),
               400, "invalid_level", "features/1/properties/level");
  Json bow = feature("B", "district", "", 0, 0, 0, 0);
  bow["geometry"] = test::bow_tie(116.15, 39.95, 0.01);
  const Response r = post("/grids", collection({feature("A", "district", "", 116.0, 39.9, 116.1, 40.0), bow}));
  expect_error(r, 400, "invalid_geometry", "features/1/geometry");
  EXPECT_NE(json(r)["message"].get<std::string>().find("116.15 39.95"), std::string::npos) << r.body;
  expect_error(post("/grids", collection({feature("A", "district", "", 116.0, 39.9, 116.1, 40.0),
                                          feature("A", "district", "", 116.1, 39.9, 116.2, 40.0)})),
               409, "duplicate_code", "features/1/properties/code");
  expect_error(post("/grids", collection({feature("A", "district", "", 116.0, 39.9, 116.1, 40.0), Json(5)})), 400,
               "invalid_geojson", "features/1");
  // Nothing was created by any of these.
  EXPECT_EQ(json(call("GET", "/grids"))["numberReturned"], 0);
  EXPECT_TRUE(f.reopen()->snapshot()->grids().empty());
  // A valid collection creates all, parents after children included.
  const Response ok = post("/grids", collection({feature("S", "street", "A", 116.0, 39.9, 116.05, 40.0),
                                                 feature("A", "district", "", 116.0, 39.9, 116.1, 40.0)}));
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(json(ok)["features"].size(), 2u);
  EXPECT_EQ(json(ok)["features"][0]["properties"]["parent_id"], json(ok)["features"][1]["id"]);
}

TEST_F(ApiTest, PagingReturnsEveryGridExactlyOnce) {
  std::vector<Json> feats;
  for (int i = 0; i < 23; ++i) {
    const double x = 116.0 + 0.01 * i;
    feats.push_back(feature("P" + std::to_string(100 + i), i % 2 ? "grid" : "community", "", x, 39.9, x + 0.01, 40.0));
  }
  ASSERT_EQ(post("/grids", collection(feats)).status, 201);
  for (const int limit : {1, 5, 7, 23, 100}) {
    std::multiset<std::string> seen;
    std::string cursor;
    int pages = 0;
    while (true) {
      std::string q = "limit=" + std::to_string(limit) + "&geometry=false";
      if (!cursor.empty()) q += "&cursor=" + cursor;
      const Response r = call("GET", "/grids", q);
      ASSERT_EQ(r.status, 200) << r.body;
      const Json body = json(r);
      EXPECT_LE(body["numberReturned"].get<int>(), limit);
      EXPECT_EQ(body["numberReturned"], body["features"].size());
      for (const auto& ft : body["features"]) seen.insert(ft["properties"]["code"].get<std::string>());
      ++pages;
      ASSERT_LT(pages, 100);
      if (body["next_cursor"].is_null()) break;
      cursor = body["next_cursor"].get<std::string>();
    }
    EXPECT_EQ(seen.size(), 23u) << "limit " << limit;
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 23u) << "duplicates at limit " << limit;
    EXPECT_EQ(pages, (23 + limit - 1) / limit + (23 % limit == 0 && limit <= 23 ? 0 : 0)) << limit;
  }
  // Paging combined with a filter.
  std::set<std::string> grids;
  std::string cursor;
  for (int guard = 0; guard < 50; ++guard) {
    const Response r = call("GET", "/grids", "level=grid&limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor));
    const Json body = json(r);
    for (const auto& ft : body["features"]) {
      EXPECT_EQ(ft["properties"]["level"], "grid");
      EXPECT_TRUE(grids.insert(ft["properties"]["code"].get<std::string>()).second);
    }
    if (body["next_cursor"].is_null()) break;
    cursor = body["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(grids.size(), 11u);
  expect_error(call("GET", "/grids", "limit=0"), 400, "invalid_integer", "limit");
  expect_error(call("GET", "/grids", "limit=10001"), 400, "invalid_integer", "limit");
  expect_error(call("GET", "/grids", "cursor=-1"), 400, "invalid_integer", "cursor");
}

TEST_F(ApiTest, ListFiltersByBboxLevelParentAndCode) {
  seed_city();
  auto codes = [&](const std::string& q) {
    std::set<std::string> out;
    const Response r = call("GET", "/grids", q);
    EXPECT_EQ(r.status, 200) << q << " " << r.body;
    const Json body = json(r);
    for (const auto& ft : body["features"]) out.insert(ft["properties"]["code"].get<std::string>());
    return out;
  };
  EXPECT_EQ(codes(""), (std::set<std::string>{"D", "S1", "S2"}));
  EXPECT_EQ(codes("level=street"), (std::set<std::string>{"S1", "S2"}));
  EXPECT_EQ(codes("parent=D"), (std::set<std::string>{"S1", "S2"}));
  EXPECT_EQ(codes("code=S2"), (std::set<std::string>{"S2"}));
  EXPECT_EQ(codes("bbox=116.15,39.95,116.19,39.99"), (std::set<std::string>{"D", "S2"}));
  EXPECT_EQ(codes("bbox=116.15,39.95,116.19,39.99&level=street"), (std::set<std::string>{"S2"}));
  EXPECT_EQ(codes("bbox=117,39,118,40"), (std::set<std::string>{}));
  EXPECT_EQ(codes("level=grid"), (std::set<std::string>{}));
  expect_error(call("GET", "/grids", "level=town"), 400, "invalid_level", "level");
  expect_error(call("GET", "/grids", "bbox=1,2,3"), 400, "invalid_bbox", "bbox");
  expect_error(call("GET", "/grids", "geometry=maybe"), 400, "invalid_boolean", "geometry");
  // Stations: kind and bbox filters.
  const Response st = call("GET", "/stations", "kind=mediation_room&bbox=116.1,39.9,116.2,40");
  ASSERT_EQ(json(st)["features"].size(), 1u);
  EXPECT_EQ(json(st)["features"][0]["properties"]["code"], "M2");
}

TEST_F(ApiTest, UpdateAndDeleteGrids) {
  seed_city();
  const Json list = json(call("GET", "/grids", "code=D"));
  const std::int64_t d = list["features"][0]["id"];
  expect_error(call("DELETE", "/grids/" + std::to_string(d)), 409, "has_children", "id");
  // Fetch, edit and PUT back (read-only properties are ignored).
  Json s1 = json(call("GET", "/grids", "code=S1"))["features"][0];
  s1["properties"]["name"] = "西街道";
  const Response put = call("PUT", "/grids/" + std::to_string(s1["id"].get<std::int64_t>()), "", s1.dump());
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(json(put)["properties"]["name"], "西街道");
  // Deleting a street uncovers part of its district: refused with the gap.
  const Response refused = call("DELETE", "/grids/" + s1["id"].dump());
  expect_error(refused, 409, "topology_defects", "geometry");
  EXPECT_EQ(json(refused)["details"]["features"][0]["properties"]["type"], "gap") << refused.body;
  const Response del = call("DELETE", "/grids/" + s1["id"].dump(), "draft=true&reason=test");
  EXPECT_EQ(del.status, 204);
  EXPECT_TRUE(del.body.empty());
  expect_error(call("GET", "/grids/" + s1["id"].dump()), 404, "grid_not_found", "id");
  expect_error(call("PUT", "/grids/424242", "", s1.dump()), 404, "grid_not_found", "id");
}

TEST_F(ApiTest, LocateGet) {
  seed_city();
  const Response r = call("GET", "/locate", "lon=116.05&lat=39.95&k=2");
  ASSERT_EQ(r.status, 200) << r.body;
  const Json b = json(r);
  EXPECT_TRUE(b["covered"].get<bool>());
  ASSERT_EQ(b["grids"].size(), 2u);
  EXPECT_EQ(b["grids"][0]["code"], "D");
  EXPECT_EQ(b["grids"][1]["code"], "S1");
  EXPECT_EQ(b["owner"]["code"], "S1");
  ASSERT_EQ(b["stations"].size(), 2u);
  EXPECT_EQ(b["stations"][0]["code"], "M1");
  EXPECT_EQ(b["stations"][0]["distance_m"], 0.0);
  EXPECT_EQ(b["stations"][1]["code"], "V1");
  // Kind filter.
  const Json m = json(call("GET", "/locate", "lon=116.06&lat=39.95&k=5&kind=mediation_room"));
  ASSERT_EQ(m["stations"].size(), 2u);
  EXPECT_EQ(m["stations"][0]["code"], "M1");
  // Outside every grid: the nearest one answers, with its distance.
  const Json out = json(call("GET", "/locate", "lon=116.05&lat=39.85"));
  EXPECT_FALSE(out["covered"].get<bool>());
  EXPECT_EQ(out["owner"]["code"], "S1");
  EXPECT_EQ(out["nearest_grid"]["code"], "S1");
  EXPECT_GT(out["owner"]["distance_m"].get<double>(), 5000);
  // x/y are accepted in place of lon/lat.
  EXPECT_EQ(json(call("GET", "/locate", "x=116.15&y=39.95"))["owner"]["code"], "S2");
}

TEST_F(ApiTest, LocateGetRejectsBadParameters) {
  seed_city();
  expect_error(call("GET", "/locate", "lon=116.05"), 400, "missing_parameter", "lat");
  expect_error(call("GET", "/locate", "lat=39.95"), 400, "missing_parameter", "lon");
  expect_error(call("GET", "/locate", ""), 400, "missing_parameter", "lon");
  expect_error(call("GET", "/locate", "lon=east&lat=39.95"), 400, "invalid_number", "lon");
  expect_error(call("GET", "/locate", "lon=116.05&lat=39.95&k=101"), 400, "invalid_integer", "k");
  expect_error(call("GET", "/locate", "lon=116.05&lat=39.95&k=-1"), 400, "invalid_integer", "k");
  EXPECT_EQ(call("GET", "/locate", "lon=116.05&lat=39.95&k=100").status, 200);
  expect_error(call("GET", "/locate", "lon=116.05&lat=39.95&kind=karaoke"), 400, "unknown_kind", "kind");
  expect_error(call("GET", "/locate", "lon=116.05&lat=39.95&crs=EPSG:0"), 400, "unknown_crs", "crs");
  expect_error(call("GET", "/locate", "lon=216.05&lat=39.95"), 400, "coordinate_out_of_range", "lon");
}

TEST_F(ApiTest, LocateGetConvertsGcj02) {
  seed_city();
  // WGS84 (116.097, 39.95) lies in S1, 260 m from S2; its GCJ-02 reading lies in S2.
  const spatial::LonLat gcj = spatial::wgs84_to_gcj02({116.097, 39.95});
  ASSERT_GT(gcj.lon, 116.1);
  char q[160];
  std::snprintf(q, sizeof q, "lon=%.15g&lat=%.15g&crs=gcj02", gcj.lon, gcj.lat);
  const Json b = json(call("GET", "/locate", q));
  EXPECT_NEAR(b["position"]["lon"].get<double>(), 116.097, 1e-9);
  EXPECT_NEAR(b["position"]["lat"].get<double>(), 39.95, 1e-9);
  EXPECT_EQ(b["owner"]["code"], "S1");
  std::snprintf(q, sizeof q, "lon=%.15g&lat=%.15g", gcj.lon, gcj.lat);
  EXPECT_EQ(json(call("GET", "/locate", q))["owner"]["code"], "S2");  // misread as WGS84
}

TEST_F(ApiTest, LocatePostBatch) {
  seed_city();
  const Json body{{"points", Json::array({Json::array({116.05, 39.95}), Json{{"lon", 116.15}, {"lat", 39.95}}})},
                  {"k", 1},
                  {"kind", "mediation_room"}};
  const Response r = post("/locate", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const Json res = json(r)["results"];
  ASSERT_EQ(res.size(), 2u);
  EXPECT_EQ(res[0]["owner"]["code"], "S1");
  EXPECT_EQ(res[1]["owner"]["code"], "S2");
  EXPECT_EQ(res[1]["stations"][0]["code"], "M2");
  expect_error(post("/locate", Json{{"points", Json::array({Json::array({116.05, 39.95}), "x"})}}), 400,
               "invalid_point", "points/1");
  expect_error(post("/locate", Json{{"points", Json::array({Json::array({116.05, 39.95}), Json::array({500, 1})})}}),
               400, "coordinate_out_of_range", "points/1");
  expect_error(post("/locate", Json{{"points", 5}}), 400, "invalid_body", "points");
  // An object point reads like an incident's position: lon/lat, x/y, or a GeoJSON Point geometry.
  const Json objects{{"points", Json::array({Json{{"x", 116.05}, {"y", 39.95}},
                                             Json{{"geometry", {{"type", "Point"}, {"coordinates", {116.15, 39.95}}}}}})}};
  const Response o = post("/locate", objects);
  ASSERT_EQ(o.status, 200) << o.body;
  EXPECT_EQ(json(o)["results"][0]["owner"]["code"], "S1");
  EXPECT_EQ(json(o)["results"][1]["owner"]["code"], "S2");
  expect_error(post("/locate", Json{{"points", Json::array({Json{{"lon", 116.05}}})}}), 400, "missing_position",
               "points/0/lat");
  expect_error(post("/locate", Json{{"points", Json::array({Json{{"lon", "east"}, {"lat", 39.95}}})}}), 400,
               "invalid_type", "points/0/lon");
  expect_error(post("/locate", Json{{"points", Json::array({Json{{"name", "no position"}}})}}), 400, "invalid_point",
               "points/0");
  expect_error(post("/locate", Json{{"points", Json::array()}, {"k", 101}}), 400, "invalid_k", "k");
  expect_error(post("/locate", Json{{"points", Json::array()}, {"kind", "karaoke"}}), 400, "unknown_kind", "kind");
  expect_error(post("/locate", Json{{"points", Json::array({Json::array({116, 39})})}, {"crs", "EPSG:0"}}), 400,
               "unknown_crs", "crs");
  // The body's crs, overridden by the query's.
  const spatial::LonLat gcj = spatial::wgs84_to_gcj02({116.097, 39.95});
  const Json gbody{{"points", Json::array({Json::array({gcj.lon, gcj.lat})})}, {"crs", "gcj02"}};
  EXPECT_EQ(json(post("/locate", gbody))["results"][0]["owner"]["code"], "S1");
  EXPECT_EQ(json(post("/locate", gbody, "crs=EPSG:4326"))["results"][0]["owner"]["code"], "S2");
}

TEST_F(ApiTest, LocatePostBatchLimit) {
  seed_city();
  auto points = [](std::size_t n) {
    Json pts = Json::array();
    for (std::size_t i = 0; i < n; ++i) pts.push_back(Json::array({116.0 + 0.2 * (i % 1000) / 1000.0, 39.95}));
    return Json{{"points", std::move(pts)}, {"k", 0}};
  };
  const Response too_many = post("/locate", points(10001));
  expect_error(too_many, 413, "too_many_points", "points");
  EXPECT_NE(json(too_many)["message"].get<std::string>().find("10001"), std::string::npos);
  const Response ok = post("/locate", points(10000));
  ASSERT_EQ(ok.status, 200) << ok.body.substr(0, 300);
  const Json res = json(ok)["results"];
  ASSERT_EQ(res.size(), 10000u);
  EXPECT_EQ(res[0]["owner"]["code"], "S1");
  EXPECT_EQ(res[999]["owner"]["code"], "S2");
}

TEST_F(ApiTest, LocatePostFieldsNameTheBodyMember) {
  seed_city();
  expect_error(post("/locate", Json{{"points", Json::array()}, {"k", "3"}}), 400, "invalid_type", "k");
  expect_error(post("/locate", Json{{"points", Json::array()}, {"kind", 7}}), 400, "invalid_type", "kind");
}

TEST_F(ApiTest, StationsCrud) {
  const Json st{{"type", "Feature"},
                {"properties", {{"code", "ST1"}, {"name", "仁和驿站"}, {"kind", "grid_station"}, {"wifi", true}}},
                {"geometry", {{"type", "Point"}, {"coordinates", {116.05, 39.95}}}}};
  const Response r = post("/stations", st);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::int64_t id = json(r)["id"];
  EXPECT_EQ(r.headers.at(0).second, "/stations/" + std::to_string(id));
  EXPECT_EQ(json(r)["properties"]["attributes"], (Json{{"wifi", true}}));
  EXPECT_EQ(json(r)["geometry"]["coordinates"], Json::array({116.05, 39.95}));
  Json line = st;
  line["properties"]["code"] = "ST2";
  line["geometry"] = {{"type", "LineString"}, {"coordinates", {{116, 39}, {116.1, 39.1}}}};
  expect_error(post("/stations", collection({line})), 400, "invalid_geometry_type", "features/0/geometry");
  Json unknown = st;
  unknown["properties"]["kind"] = "karaoke";
  unknown["properties"]["code"] = "ST3";
  expect_error(post("/stations", unknown), 400, "unknown_kind", "properties/kind");
  Json moved = st;
  moved["geometry"]["coordinates"] = {116.06, 39.96};
  EXPECT_EQ(call("PUT", "/stations/" + std::to_string(id), "", moved.dump()).status, 200);
  EXPECT_EQ(json(call("GET", "/stations/" + std::to_string(id)))["geometry"]["coordinates"][0], 116.06);
  EXPECT_EQ(call("DELETE", "/stations/" + std::to_string(id)).status, 204);
  expect_error(call("GET", "/stations/" + std::to_string(id)), 404, "station_not_found", "id");
}

}  // namespace
}  // namespace gridd::api
