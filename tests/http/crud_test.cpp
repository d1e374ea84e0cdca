// CRUD of grids and stations over real HTTP: create (one Feature and an
// all-or-nothing FeatureCollection), read, replace, delete, and listings
// with bbox / level / parent / kind filters and cursor paging.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

class CrudTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_server = std::make_unique<ServerProcess>(m_dir.file("store.gpkg"));
    m_client = std::make_unique<HttpClient>(m_server->port());
  }
  void TearDown() override {
    if (m_server) {
      EXPECT_TRUE(m_server->alive());
    }
  }

  /// The codes of all grids, read with GET /grids.
  std::multiset<std::string> grid_codes(const std::string& query = "") {
    std::multiset<std::string> out;
    for (const Json& f : list_all(*m_client, "/grids" + query, 10000)) out.insert(f["properties"]["code"].get<std::string>());
    return out;
  }
  std::multiset<std::string> station_names(const std::string& query = "") {
    std::multiset<std::string> out;
    for (const Json& f : list_all(*m_client, "/stations" + query, 10000)) {
      out.insert(f["properties"]["name"].get<std::string>());
    }
    return out;
  }

  TempDir m_dir;
  std::unique_ptr<ServerProcess> m_server;
  std::unique_ptr<HttpClient> m_client;
};

constexpr double X0 = 116.0;
constexpr double Y0 = 35.0;

Json district() { return grid_feature("370811", "district", "", X0, Y0, X0 + 0.6, Y0 + 0.3, "Test district"); }

// ---------------------------------------------------------------------------
// Create and read
// ---------------------------------------------------------------------------

TEST_F(CrudTest, PostOneGridFeatureAnswers201WithLocationAndId) {
  const Json feature = district();
  const HttpResponse r = m_client->post("/grids", feature.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const Json j = body_json(r);
  ASSERT_TRUE(j["id"].is_number_integer()) << r.body;
  const std::int64_t id = j["id"].get<std::int64_t>();
  EXPECT_GT(id, 0);
  EXPECT_EQ(r.header("Location"), "/grids/" + std::to_string(id));
  EXPECT_EQ(j["type"], "Feature");
  EXPECT_EQ(j["properties"]["id"], id);
  EXPECT_EQ(j["properties"]["code"], "370811");
  EXPECT_EQ(j["properties"]["level"], "district");
  EXPECT_TRUE(j["properties"]["parent"].is_null());
  EXPECT_GT(j["properties"]["area_m2"].get<double>(), 1e8);  // 0.6 x 0.3 degrees is ~1.8e9 m2

  // GET the Location: the same grid, with its geometry.
  const HttpResponse g = m_client->get(r.header("Location"));
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_NE(g.content_type.find("json"), std::string::npos);
  const Json gj = body_json(g);
  EXPECT_EQ(gj["id"], id);
  EXPECT_EQ(gj["properties"]["code"], "370811");
  EXPECT_EQ(gj["properties"]["name"], "Test district");
  // A Polygon is stored and answered as a one-part MultiPolygon (the layer's type).
  EXPECT_EQ(gj["geometry"]["type"], "MultiPolygon");
  EXPECT_EQ(gj["geometry"]["coordinates"], Json::array({feature["geometry"]["coordinates"]}));
  // geometry=false leaves the geometry out.
  const Json nogeom = body_json(m_client->get(r.header("Location") + "?geometry=false"));
  EXPECT_TRUE(nogeom["geometry"].is_null());
  EXPECT_EQ(health_counts(m_server->port()).first, 1u);
}

TEST_F(CrudTest, PostFeatureCollectionCreatesAllWithParentsInTheBatch) {
  // Children before their parent in the same batch are allowed.
  const Json fc = collection({grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3),
                              district(),
                              grid_feature("370811002", "street", "370811", X0 + 0.3, Y0, X0 + 0.6, Y0 + 0.3)});
  const HttpResponse r = m_client->post("/grids", fc.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const Json j = body_json(r);
  ASSERT_EQ(j["features"].size(), 3u);
  std::set<std::int64_t> ids;
  for (const auto& f : j["features"]) ids.insert(f["id"].get<std::int64_t>());
  EXPECT_EQ(ids.size(), 3u);
  // In input order.
  EXPECT_EQ(j["features"][0]["properties"]["code"], "370811001");
  EXPECT_EQ(j["features"][1]["properties"]["code"], "370811");
  EXPECT_EQ(grid_codes(), (std::multiset<std::string>{"370811", "370811001", "370811002"}));

  const std::int64_t district_id = j["features"][1]["id"];
  const Json d = body_json(m_client->get("/grids/" + std::to_string(district_id)));
  EXPECT_EQ(d["properties"]["children"], 2);
  const Json s = body_json(m_client->get("/grids/" + std::to_string(j["features"][0]["id"].get<std::int64_t>())));
  EXPECT_EQ(s["properties"]["parent"], "370811");
  EXPECT_EQ(s["properties"]["parent_id"], district_id);
}

TEST_F(CrudTest, FeatureCollectionWithOneBadFeatureCreatesNothing) {
  post_created(*m_client, "/grids", district());
  const std::multiset<std::string> before = grid_codes();
  ASSERT_EQ(before.size(), 1u);

  // 1) the last feature has a self-intersecting ring.
  Json bowtie = grid_feature("370811003", "street", "370811", X0, Y0, X0 + 0.1, Y0 + 0.1);
  bowtie["geometry"]["coordinates"] =
      Json::parse("[[[116.0,35.0],[116.1,35.1],[116.1,35.0],[116.0,35.1],[116.0,35.0]]]");
  {
    const Json fc = collection({grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3),
                                grid_feature("370811002", "street", "370811", X0 + 0.3, Y0, X0 + 0.6, Y0 + 0.3),
                                bowtie});
    const HttpResponse r = m_client->post("/grids", fc.dump());
    expect_error(r, 400, "invalid_geometry", "features/2");
    EXPECT_EQ(grid_codes(), before);
  }
  // 2) the second feature duplicates an existing code.
  {
    post_created(*m_client, "/grids", grid_feature("370811009", "street", "370811", X0, Y0, X0 + 0.1, Y0 + 0.1));
    const Json fc = collection({grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3),
                                grid_feature("370811009", "street", "370811", X0 + 0.3, Y0, X0 + 0.6, Y0 + 0.3),
                                grid_feature("370811002", "street", "370811", X0 + 0.3, Y0, X0 + 0.6, Y0 + 0.3)});
    const HttpResponse r = m_client->post("/grids", fc.dump());
    expect_error(r, 409, "duplicate_code", "features/1");
    const auto extra = list_all(*m_client, "/grids?code=370811009", 10);
    ASSERT_EQ(extra.size(), 1u);
    ASSERT_EQ(m_client->del("/grids/" + std::to_string(extra[0]["id"].get<std::int64_t>())).status, 204);
    EXPECT_EQ(grid_codes(), before);
  }
  // 3) the third feature names a parent that does not exist.
  {
    const Json fc = collection({grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3),
                                grid_feature("370811002", "street", "370811", X0 + 0.3, Y0, X0 + 0.6, Y0 + 0.3),
                                grid_feature("370811001001", "community", "370811999", X0, Y0, X0 + 0.1, Y0 + 0.1)});
    const HttpResponse r = m_client->post("/grids", fc.dump());
    expect_error(r, 400, "unknown_parent", "features/2/properties/parent");
    EXPECT_EQ(grid_codes(), before);
  }
  // 4) the same code twice within the batch.
  {
    const Json fc = collection({grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3),
                                grid_feature("370811001", "street", "370811", X0 + 0.3, Y0, X0 + 0.6, Y0 + 0.3)});
    const HttpResponse r = m_client->post("/grids", fc.dump());
    expect_error(r, 409, "duplicate_code", "features/1");
    EXPECT_EQ(grid_codes(), before);
  }
  // 5) one feature is not a Feature at all.
  {
    Json fc = collection({grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3)});
    fc["features"].push_back(Json{{"type", "Point"}, {"coordinates", {116.1, 35.1}}});
    const HttpResponse r = m_client->post("/grids", fc.dump());
    expect_error(r, 400, "invalid_geojson", "features/1");
    EXPECT_EQ(grid_codes(), before);
  }
  EXPECT_EQ(health_counts(m_server->port()).first, 1u);
  // And a good batch after all the failures still works.
  post_created(*m_client, "/grids",
               collection({grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3)}));
  EXPECT_EQ(grid_codes(), (std::multiset<std::string>{"370811", "370811001"}));
}

TEST_F(CrudTest, DuplicateOfAnExistingCodeIsReportedEvenWhenAnotherFeatureNamesItAsParent) {
  post_created(*m_client, "/grids", district());
  const Json fc = collection({grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3),
                              grid_feature("370811", "street", "", X0 + 0.3, Y0, X0 + 0.6, Y0 + 0.3)});
  expect_error(m_client->post("/grids", fc.dump()), 409, "duplicate_code", "features/1/properties/code");
  EXPECT_EQ(grid_codes(), (std::multiset<std::string>{"370811"}));
}

// ---------------------------------------------------------------------------
// Replace and delete
// ---------------------------------------------------------------------------

TEST_F(CrudTest, PutReplacesAGrid) {
  const Json created = post_created(*m_client, "/grids", district());
  const Json street = post_created(*m_client, "/grids", grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3));
  const std::string loc = "/grids/" + std::to_string(street["id"].get<std::int64_t>());

  Json replacement = grid_feature("370811001", "street", "370811", X0 + 0.05, Y0 + 0.05, X0 + 0.25, Y0 + 0.2,
                                  "Renamed street");
  replacement["properties"]["households"] = 1234;
  replacement["properties"]["people"] = Json::array({Json{{"name", "Li Lei"}, {"role", "grid_worker"}, {"phone", "13800000000"}}});
  replacement["properties"]["custom_tag"] = "x";  // unknown properties go to attributes
  // The smaller street uncovers more of its district: refused, then saved as a draft.
  const HttpResponse refused = m_client->put(loc, replacement.dump());
  expect_error(refused, 409, "topology_defects", "geometry");
  const HttpResponse r = m_client->put(loc + "?draft=true", replacement.dump());
  ASSERT_EQ(r.status, 200) << r.body;

  const Json g = body_json(m_client->get(loc));
  EXPECT_EQ(g["id"], street["id"]);
  EXPECT_EQ(g["properties"]["name"], "Renamed street");
  EXPECT_EQ(g["properties"]["households"], 1234);
  EXPECT_EQ(g["properties"]["people"][0]["name"], "Li Lei");
  EXPECT_EQ(g["properties"]["attributes"]["custom_tag"], "x");
  EXPECT_EQ(g["geometry"]["coordinates"], Json::array({replacement["geometry"]["coordinates"]}));
  EXPECT_EQ(g["properties"]["created_at"], street["properties"]["created_at"]);
  EXPECT_GE(g["properties"]["updated_at"].get<std::string>(), street["properties"]["updated_at"].get<std::string>());
  EXPECT_EQ(grid_codes(), (std::multiset<std::string>{"370811", "370811001"}));

  // A fetched feature can be PUT back unchanged (read-only properties ignored).
  const HttpResponse back = m_client->put(loc, g.dump());
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(body_json(m_client->get(loc))["properties"]["name"], "Renamed street");

  // A code change of the parent: the children follow.
  const std::string dloc = "/grids/" + std::to_string(created["id"].get<std::int64_t>());
  Json d2 = district();
  d2["properties"]["code"] = "370812";
  ASSERT_EQ(m_client->put(dloc, d2.dump()).status, 200);
  EXPECT_EQ(body_json(m_client->get(loc))["properties"]["parent"], "370812");
  EXPECT_EQ(grid_codes("?parent=370812"), (std::multiset<std::string>{"370811001"}));

  // PUT to a grid that does not exist.
  expect_error(m_client->put("/grids/999999", replacement.dump()), 404, "grid_not_found", "id");
  // PUT with a bad geometry leaves the grid unchanged.
  Json bad = replacement;
  bad["geometry"]["coordinates"][0][2] = Json::array({200.0, 35.1});
  expect_error(m_client->put(loc, bad.dump()), 400, "coordinate_out_of_range", "geometry");
  EXPECT_EQ(body_json(m_client->get(loc))["geometry"]["coordinates"], Json::array({replacement["geometry"]["coordinates"]}));
}

TEST_F(CrudTest, DeleteAnswers204ThenTheGridIsGone) {
  const Json d = post_created(*m_client, "/grids", district());
  const Json s = post_created(*m_client, "/grids", grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.3, Y0 + 0.3));
  const std::string dloc = "/grids/" + std::to_string(d["id"].get<std::int64_t>());
  const std::string sloc = "/grids/" + std::to_string(s["id"].get<std::int64_t>());

  // A grid with children cannot be deleted.
  expect_error(m_client->del(dloc), 409, "has_children", "id");
  EXPECT_EQ(m_client->get(dloc).status, 200);

  const HttpResponse r = m_client->del(sloc);
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  expect_error(m_client->get(sloc), 404, "grid_not_found", "id");
  expect_error(m_client->del(sloc), 404, "grid_not_found", "id");
  EXPECT_EQ(body_json(m_client->get(dloc))["properties"]["children"], 0);
  EXPECT_EQ(m_client->del(dloc).status, 204);
  EXPECT_TRUE(grid_codes().empty());
  EXPECT_EQ(health_counts(m_server->port()).first, 0u);
}

// ---------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------

struct Rect {
  std::string code, level, parent;
  double x0, y0, x1, y1;
};

/// district 0.6 x 0.3 deg; 3 streets; 4 communities each; 2 grids each (40 grids).
std::vector<Rect> hierarchy() {
  std::vector<Rect> out;
  out.push_back({"370811", "district", "", X0, Y0, X0 + 0.6, Y0 + 0.3});
  for (int s = 0; s < 3; ++s) {
    const std::string sc = "370811" + std::string("00") + std::to_string(s + 1);
    const double sx = X0 + 0.2 * s;
    out.push_back({sc, "street", "370811", sx, Y0, sx + 0.2, Y0 + 0.3});
    for (int c = 0; c < 4; ++c) {
      const std::string cc = sc + "00" + std::to_string(c + 1);
      const double cx = sx + 0.1 * (c % 2);
      const double cy = Y0 + 0.15 * (c / 2);
      out.push_back({cc, "community", sc, cx, cy, cx + 0.1, cy + 0.15});
      for (int g = 0; g < 2; ++g) {
        const std::string gc = cc + "00" + std::to_string(g + 1);
        out.push_back({gc, "grid", cc, cx, cy + 0.075 * g, cx + 0.1, cy + 0.075 * (g + 1)});
      }
    }
  }
  return out;
}

TEST_F(CrudTest, ListingFiltersByBboxLevelParentAndPagesWithACursor) {
  const std::vector<Rect> rects = hierarchy();
  std::vector<Json> features;
  for (const Rect& r : rects) features.push_back(grid_feature(r.code, r.level, r.parent, r.x0, r.y0, r.x1, r.y1));
  const Json created = post_created(*m_client, "/grids", collection(features));
  ASSERT_EQ(created["features"].size(), rects.size());
  std::set<std::int64_t> all_ids;
  for (const auto& f : created["features"]) all_ids.insert(f["id"].get<std::int64_t>());

  // level
  EXPECT_EQ(grid_codes("?level=street"), (std::multiset<std::string>{"370811001", "370811002", "370811003"}));
  EXPECT_EQ(grid_codes("?level=grid").size(), 24u);
  expect_error(m_client->get("/grids?level=province"), 400, "invalid_level", "level");
  // parent
  EXPECT_EQ(grid_codes("?parent=370811002"),
            (std::multiset<std::string>{"370811002001", "370811002002", "370811002003", "370811002004"}));
  EXPECT_TRUE(grid_codes("?parent=nothing").empty());
  // bbox: brute-force expectation over the rectangles (strict interior boxes avoid touching edges).
  const std::vector<std::array<double, 4>> boxes = {
      {X0 + 0.01, Y0 + 0.01, X0 + 0.04, Y0 + 0.04},     // inside one grid
      {X0 + 0.15, Y0 + 0.10, X0 + 0.27, Y0 + 0.20},     // across streets 1 and 2
      {X0 - 0.5, Y0 - 0.5, X0 - 0.1, Y0 - 0.1},         // outside everything
      {X0 + 0.33, Y0 + 0.08, X0 + 0.58, Y0 + 0.29}};    // right part
  for (const auto& b : boxes) {
    std::multiset<std::string> expected, expected_grids;
    for (const Rect& r : rects) {
      if (r.x0 <= b[2] && r.x1 >= b[0] && r.y0 <= b[3] && r.y1 >= b[1]) {
        expected.insert(r.code);
        if (r.level == "grid") expected_grids.insert(r.code);
      }
    }
    char q[200];
    std::snprintf(q, sizeof q, "?bbox=%.6f,%.6f,%.6f,%.6f", b[0], b[1], b[2], b[3]);
    SCOPED_TRACE(q);
    EXPECT_EQ(grid_codes(q), expected);
    EXPECT_EQ(grid_codes(std::string(q) + "&level=grid"), expected_grids);
    // Paging through a bbox listing gives each item once.
    std::multiset<std::string> paged;
    for (const Json& f : list_all(*m_client, std::string("/grids") + q, 2)) {
      paged.insert(f["properties"]["code"].get<std::string>());
    }
    EXPECT_EQ(paged, expected);
  }
  expect_error(m_client->get("/grids?bbox=1,2,3"), 400, "invalid_bbox", "bbox");
  expect_error(m_client->get("/grids?bbox=10,10,5,5"), 400, "invalid_bbox", "bbox");

  // Paging over everything: each grid exactly once, in id order, the right number of pages.
  for (int limit : {1, 7, 39, 40, 41, 10000}) {
    SCOPED_TRACE("limit=" + std::to_string(limit));
    int pages = 0;
    const std::vector<Json> all = list_all(*m_client, "/grids?geometry=false", limit, &pages);
    std::vector<std::int64_t> ids;
    for (const Json& f : all) {
      ids.push_back(f["id"].get<std::int64_t>());
      EXPECT_TRUE(f["geometry"].is_null());
    }
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    EXPECT_EQ(std::set<std::int64_t>(ids.begin(), ids.end()), all_ids);
    EXPECT_EQ(ids.size(), all_ids.size());
    EXPECT_EQ(pages, static_cast<int>((all_ids.size() + limit - 1) / limit));
  }
  // Paging with a filter.
  {
    const std::vector<Json> grids = list_all(*m_client, "/grids?level=grid", 5);
    std::multiset<std::string> codes;
    for (const Json& f : grids) codes.insert(f["properties"]["code"].get<std::string>());
    EXPECT_EQ(codes, grid_codes("?level=grid"));
    EXPECT_EQ(std::set<std::string>(codes.begin(), codes.end()).size(), 24u);
  }
  expect_error(m_client->get("/grids?limit=0"), 400, "invalid_integer", "limit");
  expect_error(m_client->get("/grids?limit=10001"), 400, "invalid_integer", "limit");
  expect_error(m_client->get("/grids?cursor=-1"), 400, "invalid_integer", "cursor");
  expect_error(m_client->get("/grids?cursor=abc"), 400, "invalid_integer", "cursor");
}

// ---------------------------------------------------------------------------
// Stations
// ---------------------------------------------------------------------------

TEST_F(CrudTest, StationsCreateReadReplaceDelete) {
  const Json s = station_feature("Jiyang service centre", "service_center", 116.59, 35.41, "S-001");
  const HttpResponse r = m_client->post("/stations", s.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const Json j = body_json(r);
  const std::int64_t id = j["id"].get<std::int64_t>();
  EXPECT_EQ(r.header("Location"), "/stations/" + std::to_string(id));
  EXPECT_EQ(j["properties"]["kind"], "service_center");
  EXPECT_EQ(j["geometry"]["coordinates"], Json::array({116.59, 35.41}));

  const Json g = body_json(m_client->get(r.header("Location")));
  EXPECT_EQ(g["properties"]["name"], "Jiyang service centre");
  EXPECT_EQ(g["properties"]["code"], "S-001");

  // Duplicate code: 409.
  expect_error(m_client->post("/stations", station_feature("Other", "grid_station", 116.5, 35.4, "S-001").dump()), 409,
               "duplicate_code", "code");
  // A station geometry must be a Point.
  Json not_point = s;
  not_point["properties"]["code"] = "S-002";
  not_point["geometry"] = polygon(rect_coords(116.0, 35.0, 116.1, 35.1));
  expect_error(m_client->post("/stations", not_point.dump()), 400, "invalid_geometry_type", "geometry");

  // PUT
  Json replacement = station_feature("Moved centre", "grid_station", 116.6, 35.42, "S-001");
  replacement["properties"]["address"] = "1 Test Road";
  replacement["properties"]["hours"] = "Mo-Fr 08:00-17:00";
  ASSERT_EQ(m_client->put(r.header("Location"), replacement.dump()).status, 200);
  const Json g2 = body_json(m_client->get(r.header("Location")));
  EXPECT_EQ(g2["properties"]["name"], "Moved centre");
  EXPECT_EQ(g2["properties"]["kind"], "grid_station");
  EXPECT_EQ(g2["properties"]["address"], "1 Test Road");
  EXPECT_EQ(g2["properties"]["hours"], "Mo-Fr 08:00-17:00");
  EXPECT_EQ(g2["geometry"]["coordinates"], Json::array({116.6, 35.42}));
  EXPECT_EQ(g2["properties"]["created_at"], j["properties"]["created_at"]);
  expect_error(m_client->put("/stations/424242", replacement.dump()), 404, "station_not_found", "id");

  // DELETE
  const HttpResponse del = m_client->del(r.header("Location"));
  EXPECT_EQ(del.status, 204);
  EXPECT_TRUE(del.body.empty());
  expect_error(m_client->get(r.header("Location")), 404, "station_not_found", "id");
  expect_error(m_client->del(r.header("Location")), 404, "station_not_found", "id");
  EXPECT_EQ(health_counts(m_server->port()).second, 0u);
}

TEST_F(CrudTest, StationFeatureCollectionIsAllOrNothing) {
  post_created(*m_client, "/stations", station_feature("keep", "grid_station", 116.1, 35.1));
  const auto before = station_names();
  {
    const Json fc = collection({station_feature("a", "grid_station", 116.2, 35.2),
                                station_feature("b", "mediation_room", 116.3, 35.3),
                                station_feature("c", "no_such_kind", 116.4, 35.4)});
    expect_error(m_client->post("/stations", fc.dump()), 400, "unknown_kind", "features/2/properties/kind");
    EXPECT_EQ(station_names(), before);
  }
  {
    const Json fc = collection({station_feature("a", "grid_station", 116.2, 35.2),
                                station_feature("b", "mediation_room", 200.0, 35.3)});
    expect_error(m_client->post("/stations", fc.dump()), 400, "coordinate_out_of_range", "features/1");
    EXPECT_EQ(station_names(), before);
  }
  {
    const Json fc = collection({station_feature("a", "grid_station", 116.2, 35.2, "X1"),
                                station_feature("b", "mediation_room", 116.3, 35.3, "X1")});
    expect_error(m_client->post("/stations", fc.dump()), 409, "duplicate_code", "features/1");
    EXPECT_EQ(station_names(), before);
  }
  const Json ok = post_created(*m_client, "/stations",
                               collection({station_feature("a", "grid_station", 116.2, 35.2),
                                           station_feature("b", "mediation_room", 116.3, 35.3)}));
  EXPECT_EQ(ok["features"].size(), 2u);
  EXPECT_EQ(station_names(), (std::multiset<std::string>{"keep", "a", "b"}));
}

TEST_F(CrudTest, StationListingFiltersByKindAndBboxAndPages) {
  const std::vector<std::string> kinds = {"grid_station", "service_center", "mediation_room"};
  std::vector<Json> features;
  struct S {
    std::string name, kind;
    double lon, lat;
  };
  std::vector<S> all;
  for (int i = 0; i < 45; ++i) {
    S s{"st" + std::to_string(i), kinds[i % 3], 116.0 + 0.01 * i, 35.0 + 0.005 * (i % 9)};
    all.push_back(s);
    features.push_back(station_feature(s.name, s.kind, s.lon, s.lat));
  }
  post_created(*m_client, "/stations", collection(features));

  for (const auto& kind : kinds) {
    std::multiset<std::string> expected;
    for (const S& s : all) {
      if (s.kind == kind) expected.insert(s.name);
    }
    EXPECT_EQ(station_names("?kind=" + kind), expected) << kind;
  }
  EXPECT_TRUE(station_names("?kind=veterans_station").empty());

  const double b[4] = {116.095, 35.012, 116.305, 35.033};
  std::multiset<std::string> in_box, in_box_kind;
  for (const S& s : all) {
    if (s.lon >= b[0] && s.lon <= b[2] && s.lat >= b[1] && s.lat <= b[3]) {
      in_box.insert(s.name);
      if (s.kind == "mediation_room") in_box_kind.insert(s.name);
    }
  }
  ASSERT_FALSE(in_box.empty());
  const std::string q = "?bbox=116.095,35.012,116.305,35.033";
  EXPECT_EQ(station_names(q), in_box);
  EXPECT_EQ(station_names(q + "&kind=mediation_room"), in_box_kind);

  for (int limit : {1, 4, 45, 46}) {
    int pages = 0;
    const std::vector<Json> got = list_all(*m_client, "/stations", limit, &pages);
    std::multiset<std::string> names;
    std::set<std::int64_t> ids;
    for (const Json& f : got) {
      names.insert(f["properties"]["name"].get<std::string>());
      ids.insert(f["id"].get<std::int64_t>());
    }
    EXPECT_EQ(ids.size(), 45u) << "limit " << limit;
    EXPECT_EQ(names.size(), 45u) << "limit " << limit;
    EXPECT_EQ(pages, (45 + limit - 1) / limit) << "limit " << limit;
  }
  const std::vector<Json> grid_stations = list_all(*m_client, "/stations?kind=grid_station", 4);
  EXPECT_EQ(grid_stations.size(), 15u);
}

}  // namespace
}  // namespace gridd::http_test
