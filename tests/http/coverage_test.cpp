// Station coverage and workload end to end over real HTTP: GET /coverage in
// straight-line and network mode (the server started with --roads on the
// synthetic road fixture), as JSON and as GeoJSON, GET /workload with
// incidents reported over HTTP, and bad input answered 4xx naming the field.

#include <gtest/gtest.h>

#include <cmath>

#include "gridd/spatial/geodesic.hpp"
#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

/// Metres east/north of (116.5, 35.4), as in tests/data/coverage_roads.geojson.
struct Frame {
  double lon0 = 116.5, lat0 = 35.4, kx = 0, ky = 0;
  Frame() { spatial::metres_per_degree(lat0, kx, ky); }
  [[nodiscard]] double lon(double x) const { return lon0 + x / kx; }
  [[nodiscard]] double lat(double y) const { return lat0 + y / ky; }
};
const Frame k_frame;

Json grid_m(const std::string& code, const std::string& level, const std::string& parent, double x0, double y0,
            double x1, double y1, std::optional<int> households = std::nullopt, const std::string& worker = "") {
  Json f = grid_feature(code, level, parent, k_frame.lon(x0), k_frame.lat(y0), k_frame.lon(x1), k_frame.lat(y1));
  if (households) f["properties"]["households"] = *households;
  if (!worker.empty()) {
    f["properties"]["people"] = Json::array({Json{{"name", worker}, {"role", "grid_worker"}, {"phone", "100"}}});
  }
  return f;
}

/// A row of three 2 km x 1 km grids along road A and B of the fixture (each
/// level tiles its parent), a grid station on road A at x = 2500 m and a
/// mediation room at x = 5000 m.
void make_city(HttpClient& c) {
  post_created(c, "/grids",
               collection({grid_m("370811", "district", "", 0, -500, 6000, 500),
                           grid_m("370811001", "street", "370811", 0, -500, 6000, 500),
                           grid_m("370811001001", "community", "370811001", 0, -500, 6000, 500),
                           grid_m("370811001001001", "grid", "370811001001", 0, -500, 2000, 500, 300, "worker A"),
                           grid_m("370811001001002", "grid", "370811001001", 2000, -500, 4000, 500, 200, "worker B"),
                           grid_m("370811001001003", "grid", "370811001001", 4000, -500, 6000, 500, std::nullopt,
                                  "worker C")}));
  post_created(c, "/stations",
               collection({station_feature("station on road A", "grid_station", k_frame.lon(2500), k_frame.lat(0)),
                           station_feature("mediation", "mediation_room", k_frame.lon(5000), k_frame.lat(0))}));
}

const Json& row(const Json& grids, const std::string& code) {
  for (const auto& g : grids) {
    if (g.value("code", "") == code) return g;
  }
  static const Json none;
  ADD_FAILURE() << "no row for " << code;
  return none;
}

class Coverage : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}) {
    server = std::make_unique<ServerProcess>(dir.file("city.gpkg"), std::move(args));
    client = std::make_unique<HttpClient>(server->port());
    make_city(*client);
  }
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<HttpClient> client;
};

TEST_F(Coverage, StraightLineJsonAndGeoJson) {
  start();
  const HttpResponse r = client->get("/coverage?kind=grid_station");
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = body_json(r);
  EXPECT_EQ(j["query"]["kind"], "grid_station");
  EXPECT_EQ(j["query"]["distance_m"], 1200);
  EXPECT_EQ(j["query"]["mode"], "straight");
  EXPECT_EQ(j["query"]["level"], "grid");
  EXPECT_EQ(j["query"]["stations"], 1);
  ASSERT_EQ(j["grids"].size(), 3u);
  EXPECT_EQ(j["summary"]["grids"], 3);
  EXPECT_EQ(j["summary"]["uncovered"], 1);  // the third grid: 1500 m and more away
  EXPECT_EQ(j["summary"]["partly_covered"], 2);
  EXPECT_EQ(j["summary"]["households"], 500);
  EXPECT_EQ(j["summary"]["grids_without_households"], 1);
  EXPECT_NE(j["note"].get<std::string>().find("estimate"), std::string::npos);
  const Json& g3 = row(j["grids"], "370811001001003");
  EXPECT_EQ(g3["uncovered_share"], 1.0);
  EXPECT_TRUE(g3["households"].is_null());
  EXPECT_TRUE(g3["uncovered_households"].is_null());
  EXPECT_EQ(g3["nearest_station"]["name"], "station on road A");
  EXPECT_NEAR(g3["nearest_station"]["distance_m"].get<double>(), 2500, 1);
  const Json& g1 = row(j["grids"], "370811001001001");
  const double share1 = g1["uncovered_share"].get<double>();
  EXPECT_GT(share1, 0);
  EXPECT_LT(share1, 1);
  EXPECT_NEAR(g1["uncovered_households"].get<double>(), 300 * share1, 0.1);
  EXPECT_FALSE(g1.contains("geometry"));

  // Sorted by uncovered area, the whole third grid first.
  const Json sorted = body_json(client->get("/coverage?kind=grid_station&sort=uncovered_area"));
  EXPECT_EQ(sorted["grids"][0]["code"], "370811001001003");

  // Every kind: the mediation room covers most of the third grid.
  const Json all = body_json(client->get("/coverage?kind=all&distance=1500"));
  EXPECT_EQ(all["query"]["kind"], "all");
  EXPECT_EQ(all["query"]["stations"], 2);
  EXPECT_LT(row(all["grids"], "370811001001003")["uncovered_share"].get<double>(), 0.2);

  // GeoJSON: the uncovered parts with the per-grid numbers, and the summary.
  const HttpResponse gj = client->get("/coverage?kind=grid_station&format=geojson");
  ASSERT_EQ(gj.status, 200) << gj.body;
  EXPECT_NE(gj.content_type.find("geo+json"), std::string::npos);
  const Json fc = body_json(gj);
  EXPECT_EQ(fc["type"], "FeatureCollection");
  ASSERT_EQ(fc["features"].size(), 3u);
  for (const auto& f : fc["features"]) {
    EXPECT_EQ(f["geometry"]["type"], "MultiPolygon");
    EXPECT_TRUE(f["properties"].contains("uncovered_area_m2"));
  }
  EXPECT_EQ(fc["summary"], j["summary"]);
  // Under a root, cached the second time.
  const Json again = body_json(client->get("/coverage?kind=grid_station&root=370811001001&level=grid"));
  EXPECT_EQ(again["query"]["root"]["code"], "370811001001");
  EXPECT_EQ(again["query"]["cache"], "hit");
  EXPECT_EQ(again["summary"], j["summary"]);
}

TEST_F(Coverage, NetworkModeWithRoads) {
  start({"--roads", std::string(GRIDD_TEST_DATA_DIR) + "/coverage_roads.geojson"});
  const Json straight = body_json(client->get("/coverage?kind=grid_station"));
  const HttpResponse r = client->get("/coverage?kind=grid_station&mode=network");
  ASSERT_EQ(r.status, 200) << r.body;
  const Json net = body_json(r);
  EXPECT_EQ(net["query"]["mode"], "network");
  EXPECT_EQ(net["query"]["access_width_m"], 100);
  // Along the road only a 200 m wide strip is within reach: more is uncovered.
  const double s2 = row(straight["grids"], "370811001001002")["uncovered_area_m2"].get<double>();
  const double n2 = row(net["grids"], "370811001001002")["uncovered_area_m2"].get<double>();
  EXPECT_GT(n2, s2);
  // The grid's reachable part: road A from 2000 to 3000 m, 200 m wide (+ the round end beyond 3000).
  const double area2 = row(net["grids"], "370811001001002")["area_m2"].get<double>();
  const double strip = 1000 * 200 + 3.14159265 * 100 * 100 / 2;
  EXPECT_NEAR(area2 - n2, strip, strip * 0.01);
  // Network distance from the first grid's centre (1000, 0): 1500 m along road A.
  const Json& g1 = row(net["grids"], "370811001001001");
  EXPECT_EQ(g1["nearest_station"]["measured"], "network");
  EXPECT_NEAR(g1["nearest_station"]["distance_m"].get<double>(), 1500, 0.5);
  // Road B is not joined to road A: nothing of the third grid is reachable.
  const Json& g3 = row(net["grids"], "370811001001003");
  EXPECT_EQ(g3["uncovered_share"], 1.0);
  EXPECT_TRUE(g3["nearest_station"].is_null());
  // A wider access strip covers more.
  const Json wide = body_json(client->get("/coverage?kind=grid_station&mode=network&access_width=300"));
  EXPECT_LT(row(wide["grids"], "370811001001002")["uncovered_area_m2"].get<double>(), n2);
  expect_error(client->get("/coverage?kind=grid_station&mode=network&access_width=2"), 400,
               "access_width_out_of_range", "access_width");
}

TEST_F(Coverage, BadInputIsA4xxNamingTheField) {
  start();
  expect_error(client->get("/coverage?kind=grid_station&mode=network"), 409, "network_not_loaded", "mode");
  expect_error(client->get("/coverage"), 400, "missing_parameter", "kind");
  expect_error(client->get("/coverage?kind=bakery"), 400, "invalid_kind", "kind");
  expect_error(client->get("/coverage?kind=grid_station&distance=abc"), 400, "invalid_number", "distance");
  expect_error(client->get("/coverage?kind=grid_station&distance=10"), 400, "distance_out_of_range", "distance");
  expect_error(client->get("/coverage?kind=grid_station&distance=50000"), 400, "distance_out_of_range", "distance");
  expect_error(client->get("/coverage?kind=grid_station&root=nowhere"), 404, "grid_not_found", "root");
  expect_error(client->get("/coverage?kind=grid_station&level=province"), 400, "invalid_level", "level");
  expect_error(client->get("/coverage?kind=grid_station&root=370811001001&level=street"), 400, "invalid_level",
               "level");
  expect_error(client->get("/coverage?kind=grid_station&mode=walking"), 400, "invalid_mode", "mode");
  expect_error(client->get("/coverage?kind=grid_station&format=kml"), 400, "invalid_format", "format");
  expect_error(client->get("/coverage?kind=grid_station&sort=biggest"), 400, "invalid_sort", "sort");
  expect_error(client->get("/coverage?kind=grid_station&access_width=50"), 400, "access_width_without_network",
               "access_width");
  expect_error(client->request("POST", "/coverage", "{}"), 405, "method_not_allowed");
}

TEST_F(Coverage, WorkloadPerGridAndWorker) {
  start();
  for (double x : {500.0, 1500.0, 2500.0, 2600.0, 2700.0}) {
    const Json body{{"category", "corridor_clutter"}, {"lon", k_frame.lon(x)}, {"lat", k_frame.lat(100)}};
    const HttpResponse r = client->post("/incidents", body.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  const HttpResponse r = client->get("/workload");
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = body_json(r);
  EXPECT_EQ(j["level"], "grid");
  EXPECT_EQ(j["sort"], "open");
  EXPECT_EQ(j["summary"]["open"], 5);
  EXPECT_EQ(j["summary"]["received"], 5);
  EXPECT_EQ(j["summary"]["grids"], 3);
  ASSERT_EQ(j["grids"].size(), 3u);
  EXPECT_EQ(j["grids"][0]["code"], "370811001001002");  // three open
  EXPECT_EQ(j["grids"][0]["open"], 3);
  EXPECT_NEAR(j["grids"][0]["per_1000_households"].get<double>(), 15.0, 1e-9);  // 3 per 200 households
  EXPECT_EQ(j["grids"][0]["workers"][0]["name"], "worker B");
  EXPECT_TRUE(row(j["grids"], "370811001001003")["per_1000_households"].is_null());
  EXPECT_EQ(j["workers"][0]["name"], "worker B");
  EXPECT_EQ(j["workers"][0]["open"], 3);
  EXPECT_FALSE(j["rule"].get<std::string>().empty());
  EXPECT_TRUE(j["percentiles"]["split"].contains("value"));

  const Json limited = body_json(client->get("/workload?root=370811001001&sort=per_1000_households&limit=1"));
  ASSERT_EQ(limited["grids"].size(), 1u);
  EXPECT_EQ(limited["grids"][0]["code"], "370811001001002");
  EXPECT_EQ(limited["summary"]["grids"], 3);

  expect_error(client->get("/workload?sort=busiest"), 400, "invalid_sort", "sort");
  expect_error(client->get("/workload?from=yesterday"), 400, "invalid_time", "from");
  expect_error(client->get("/workload?from=2026-02-01&to=2026-01-01"), 400, "invalid_period", "from");
  expect_error(client->get("/workload?limit=0"), 400, "invalid_integer", "limit");
  expect_error(client->get("/workload?root=nowhere"), 404, "grid_not_found", "root");
}

}  // namespace
}  // namespace gridd::http_test
