// Durability over real HTTP: a write answered 201/200/204 survives an
// immediate kill -9 of the server.

#include <gtest/gtest.h>

#include <map>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

/// A small irregular polygon (not a rectangle) with coordinates that need
/// full double precision.
Json odd_polygon(int i) {
  const double x = 116.3 + 0.01 * (i % 10) + 1e-9 * i;
  const double y = 35.3 + 0.01 * (i / 10) + 3e-10 * i;
  return Json{{"type", "Polygon"},
              {"coordinates",
               Json::array({Json::array({Json::array({x, y}), Json::array({x + 0.0071234567891, y + 0.0004321}),
                                         Json::array({x + 0.0083333333333, y + 0.0066666666667}),
                                         Json::array({x + 0.0011111111111, y + 0.0091234567}), Json::array({x, y})})})}};
}

/// The polygons of a Polygon or MultiPolygon: the same list for a Polygon and
/// a MultiPolygon of that one polygon (the store keeps grids as MultiPolygons).
Json polygons_of(const Json& geometry) {
  if (geometry.value("type", "") == "Polygon") return Json::array({geometry["coordinates"]});
  if (geometry.value("type", "") == "MultiPolygon") return geometry["coordinates"];
  ADD_FAILURE() << "not a polygon: " << geometry.dump();
  return Json();
}

Json grid_with(const std::string& code, const Json& geometry) {
  return Json{{"type", "Feature"},
              {"geometry", geometry},
              {"properties", {{"code", code}, {"name", "grid " + code}, {"level", "grid"}, {"households", 42}}}};
}

TEST(Durability, A201GridSurvivesKill9) {
  TempDir dir;
  const std::string store = dir.file("store.gpkg");
  const Json geometry = odd_polygon(7);
  std::int64_t id = 0;
  {
    ServerProcess server(store);
    HttpClient c(server.port());
    const HttpResponse r = c.post("/grids", grid_with("G-DURABLE", geometry).dump());
    ASSERT_EQ(r.status, 201) << r.body;
    id = body_json(r)["id"].get<std::int64_t>();
    server.kill9();  // immediately after the 201
    EXPECT_FALSE(server.alive());
  }
  ServerProcess again(store);
  HttpClient c(again.port());
  const HttpResponse g = c.get("/grids/" + std::to_string(id));
  ASSERT_EQ(g.status, 200) << g.body;
  const Json j = body_json(g);
  EXPECT_EQ(j["properties"]["code"], "G-DURABLE");
  EXPECT_EQ(j["properties"]["households"], 42);
  EXPECT_EQ(polygons_of(j["geometry"]), polygons_of(geometry));  // bit-exact coordinates
  EXPECT_EQ(health_counts(again.port()).first, 1u);
}

TEST(Durability, FiftyPostsAllSurviveKill9AfterTheLast201) {
  TempDir dir;
  const std::string store = dir.file("store.gpkg");
  std::map<std::string, Json> sent;
  {
    ServerProcess server(store);
    HttpClient c(server.port());
    for (int i = 0; i < 50; ++i) {
      const std::string code = "G" + std::to_string(1000 + i);
      const Json geometry = odd_polygon(i);
      const HttpResponse r = c.post("/grids", grid_with(code, geometry).dump());
      ASSERT_EQ(r.status, 201) << code << ": " << r.body;
      sent[code] = geometry;
    }
    server.kill9();
  }
  ServerProcess again(store);
  HttpClient c(again.port());
  const std::vector<Json> all = list_all(c, "/grids", 10000);
  ASSERT_EQ(all.size(), 50u);
  std::map<std::string, Json> got;
  for (const Json& f : all) got[f["properties"]["code"].get<std::string>()] = f["geometry"];
  ASSERT_EQ(got.size(), 50u);
  for (const auto& [code, geometry] : sent) {
    ASSERT_TRUE(got.count(code)) << code << " lost";
    EXPECT_EQ(polygons_of(got[code]), polygons_of(geometry)) << code;
  }
}

TEST(Durability, ReplaceAndDeleteSurviveKill9) {
  TempDir dir;
  const std::string store = dir.file("store.gpkg");
  std::int64_t kept = 0, removed = 0, station = 0;
  {
    ServerProcess server(store);
    HttpClient c(server.port());
    kept = post_created(c, "/grids", grid_with("G-KEEP", odd_polygon(1)))["id"].get<std::int64_t>();
    removed = post_created(c, "/grids", grid_with("G-GONE", odd_polygon(2)))["id"].get<std::int64_t>();
    station = post_created(c, "/stations", station_feature("st", "grid_station", 116.31, 35.31, "ST-1"))["id"]
                  .get<std::int64_t>();
    Json replaced = grid_with("G-KEEP", odd_polygon(3));
    replaced["properties"]["name"] = "replaced";
    ASSERT_EQ(c.put("/grids/" + std::to_string(kept), replaced.dump()).status, 200);
    ASSERT_EQ(c.put("/stations/" + std::to_string(station),
                    station_feature("moved", "service_center", 116.32, 35.32, "ST-1").dump())
                  .status,
              200);
    ASSERT_EQ(c.del("/grids/" + std::to_string(removed)).status, 204);
    server.kill9();
  }
  ServerProcess again(store);
  HttpClient c(again.port());
  const Json k = body_json(c.get("/grids/" + std::to_string(kept)));
  EXPECT_EQ(k["properties"]["name"], "replaced");
  EXPECT_EQ(polygons_of(k["geometry"]), polygons_of(odd_polygon(3)));
  expect_error(c.get("/grids/" + std::to_string(removed)), 404, "grid_not_found", "id");
  const Json s = body_json(c.get("/stations/" + std::to_string(station)));
  EXPECT_EQ(s["properties"]["name"], "moved");
  EXPECT_EQ(s["properties"]["kind"], "service_center");
  EXPECT_EQ(s["geometry"]["coordinates"], Json::array({116.32, 35.32}));
  EXPECT_EQ(health_counts(again.port()), (std::pair<std::size_t, std::size_t>{1, 1}));
  // Writes keep working after the crash.
  const Json n = post_created(c, "/grids", grid_with("G-NEW", odd_polygon(4)));
  EXPECT_NE(n["id"].get<std::int64_t>(), kept);
}

TEST(Durability, AGridKeepsItsGeometryTypeAcrossARestart) {
  TempDir dir;
  const std::string store = dir.file("store.gpkg");
  std::int64_t id = 0;
  Json before;
  {
    ServerProcess server(store);
    HttpClient c(server.port());
    id = post_created(c, "/grids", grid_with("G-TYPE", odd_polygon(5)))["id"].get<std::int64_t>();
    before = body_json(c.get("/grids/" + std::to_string(id)))["geometry"];
  }
  ServerProcess again(store);
  HttpClient c(again.port());
  const Json after = body_json(c.get("/grids/" + std::to_string(id)))["geometry"];
  EXPECT_EQ(after, before);
}

}  // namespace
}  // namespace gridd::http_test
