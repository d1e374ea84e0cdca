// /locate rules on small hand-made hierarchies, over real HTTP: the chain
// on shared boundaries (the child of the chosen parent wins over a smaller
// code), the owner of a point outside every leaf (nearest leaf, 属地兜底),
// and CRS edge cases.

#include <gtest/gtest.h>

#include "http/brute_force.hpp"
#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

class LocateRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_server = std::make_unique<ServerProcess>(m_dir.file("store.gpkg"));
    m_client = std::make_unique<HttpClient>(m_server->port());
  }
  void TearDown() override {
    if (m_server) expect_healthy(*m_server);
  }
  Json locate(double lon, double lat, const std::string& extra = "") {
    char q[300];
    std::snprintf(q, sizeof q, "/locate?lon=%.17g&lat=%.17g%s", lon, lat, extra.c_str());
    const HttpResponse r = m_client->get(q);
    EXPECT_EQ(r.status, 200) << q << ": " << r.body;
    return body_json(r);
  }
  static std::vector<std::string> chain_codes(const Json& res) {
    std::vector<std::string> out;
    for (const auto& g : res["grids"]) out.push_back(g["code"].get<std::string>());
    return out;
  }

  TempDir m_dir;
  std::unique_ptr<ServerProcess> m_server;
  std::unique_ptr<HttpClient> m_client;
};

TEST_F(LocateRulesTest, OnASharedBoundaryTheChildOfTheChosenParentWins) {
  // Two streets share the edge x = 116.1; S1 (left) has the smaller code.
  // Their communities touching that edge: Z1 under S1 (left), A2 under S2
  // (right). A2 has the smaller code, but Z1 is the child of the chosen S1.
  post_created(*m_client, "/grids",
               collection({grid_feature("D", "district", "", 116.0, 35.0, 116.2, 35.1),
                           grid_feature("S1", "street", "D", 116.0, 35.0, 116.1, 35.1),
                           grid_feature("S2", "street", "D", 116.1, 35.0, 116.2, 35.1),
                           grid_feature("Z1", "community", "S1", 116.0, 35.0, 116.1, 35.05),
                           grid_feature("Y1", "community", "S1", 116.0, 35.05, 116.1, 35.1),
                           grid_feature("A2", "community", "S2", 116.1, 35.0, 116.2, 35.05),
                           grid_feature("B2", "community", "S2", 116.1, 35.05, 116.2, 35.1)}));
  // On the street edge, in the lower half: S1 (smallest code), then Z1 (child of S1) over A2.
  const Json a = locate(116.1, 35.025);
  EXPECT_EQ(chain_codes(a), (std::vector<std::string>{"D", "S1", "Z1"}));
  EXPECT_TRUE(a["covered"].get<bool>());
  EXPECT_EQ(a["owner"]["code"], "Z1");
  // On the corner shared by all four communities: S1, then among its children Y1 < Z1.
  const Json b = locate(116.1, 35.05);
  EXPECT_EQ(chain_codes(b), (std::vector<std::string>{"D", "S1", "Y1"}));
  EXPECT_EQ(b["owner"]["code"], "Y1");
  // On the edge between A2 and B2, inside S2 only: smallest code A2.
  const Json c = locate(116.15, 35.05);
  EXPECT_EQ(chain_codes(c), (std::vector<std::string>{"D", "S2", "A2"}));
  // Strictly inside B2.
  const Json d = locate(116.15, 35.07);
  EXPECT_EQ(chain_codes(d), (std::vector<std::string>{"D", "S2", "B2"}));
  EXPECT_EQ(d["owner"]["distance_m"], 0.0);
  // On the outer corner of the district.
  const Json e = locate(116.0, 35.0);
  EXPECT_EQ(chain_codes(e), (std::vector<std::string>{"D", "S1", "Z1"}));
}

TEST_F(LocateRulesTest, OutsideEveryLeafTheOwnerIsTheNearestLeaf) {
  // C1 is split into one grid (G1) that covers only its western half; C2 is a leaf.
  post_created(*m_client, "/grids",
               collection({grid_feature("D", "district", "", 116.0, 35.0, 116.2, 35.1),
                           grid_feature("C1", "community", "D", 116.0, 35.0, 116.1, 35.1),
                           grid_feature("C2", "community", "D", 116.1, 35.0, 116.2, 35.1),
                           grid_feature("G1", "grid", "C1", 116.0, 35.0, 116.05, 35.1)}));
  // Inside C1 but outside G1, nearer to C2 (116.1) than to G1 (116.05).
  {
    const Json r = locate(116.09, 35.05);
    EXPECT_FALSE(r["covered"].get<bool>());
    EXPECT_EQ(chain_codes(r), (std::vector<std::string>{"D", "C1"}));
    EXPECT_EQ(r["owner"]["code"], "C2");
    EXPECT_EQ(r["nearest_grid"]["code"], "C2");
    const double want = geodesic_m(116.09, 35.05, 116.1, 35.05);
    EXPECT_NEAR(r["owner"]["distance_m"].get<double>(), want, 0.01 * want);
  }
  // Nearer to G1.
  {
    const Json r = locate(116.06, 35.05);
    EXPECT_FALSE(r["covered"].get<bool>());
    EXPECT_EQ(r["owner"]["code"], "G1");
    const double want = geodesic_m(116.06, 35.05, 116.05, 35.05);
    EXPECT_NEAR(r["owner"]["distance_m"].get<double>(), want, 0.01 * want);
  }
  // Far outside everything, ~30 km south of G1's south-west corner region.
  {
    const Json r = locate(116.02, 34.73);
    EXPECT_FALSE(r["covered"].get<bool>());
    EXPECT_TRUE(r["grids"].empty());
    EXPECT_EQ(r["owner"]["code"], "G1");
    const double want = geodesic_m(116.02, 34.73, 116.02, 35.0);
    EXPECT_NEAR(r["owner"]["distance_m"].get<double>(), want, 0.01 * want);
  }
  // Inside G1.
  const Json in = locate(116.01, 35.01);
  EXPECT_TRUE(in["covered"].get<bool>());
  EXPECT_EQ(chain_codes(in), (std::vector<std::string>{"D", "C1", "G1"}));
  EXPECT_EQ(in["owner"]["code"], "G1");
  // With no grids at all there is no owner.
}

TEST_F(LocateRulesTest, ABoundaryPointCoveredByALeafIsCovered) {
  post_created(*m_client, "/grids",
               collection({grid_feature("D", "district", "", 116.0, 35.0, 116.2, 35.1),
                           grid_feature("C1", "community", "D", 116.0, 35.0, 116.1, 35.1),
                           grid_feature("C2", "community", "D", 116.1, 35.0, 116.2, 35.1),
                           grid_feature("G1", "grid", "C1", 116.0, 35.0, 116.05, 35.1)}));
  const Json r = locate(116.1, 35.05);  // on the C1/C2 edge, away from G1
  EXPECT_TRUE(r["covered"].get<bool>()) << r.dump();
  EXPECT_EQ(r["owner"]["code"], "C2");
  EXPECT_EQ(r["owner"]["distance_m"], 0.0);
  EXPECT_FALSE(r.contains("nearest_grid"));
  // Every grid of the chain covers the point and the owner is the chain's finest grid.
  EXPECT_EQ(chain_codes(r).back(), "C2");
}

TEST_F(LocateRulesTest, AnEmptyCityHasNoOwner) {
  const Json r = locate(116.0, 35.0);
  EXPECT_FALSE(r["covered"].get<bool>());
  EXPECT_TRUE(r["grids"].empty());
  EXPECT_TRUE(r["owner"].is_null());
  EXPECT_TRUE(r["stations"].empty());
}

TEST_F(LocateRulesTest, ProjectedCoordinatesOutsideTheProjectionAreRejected) {
  expect_error(m_client->get("/locate?x=1e20&y=1e20&crs=EPSG:3857"), 400, "coordinate_out_of_range");
  expect_error(m_client->post("/locate", R"({"crs":"EPSG:3857","points":[[1e20,1e20]]})"), 400,
               "coordinate_out_of_range", "points/0");
}

TEST_F(LocateRulesTest, WebMercatorAndCgcs2000PositionsConvert) {
  post_created(*m_client, "/grids", grid_feature("D", "district", "", 116.0, 35.0, 116.2, 35.1));
  double x = 0, y = 0;
  wgs84_to_web_mercator(116.123456789, 35.0456789, x, y);
  char q[200];
  std::snprintf(q, sizeof q, "&crs=EPSG:3857");
  const Json m = locate(x, y, q);
  EXPECT_NEAR(m["position"]["lon"].get<double>(), 116.123456789, 1e-9);
  EXPECT_NEAR(m["position"]["lat"].get<double>(), 35.0456789, 1e-9);
  EXPECT_EQ(chain_codes(m), (std::vector<std::string>{"D"}));
  // CGCS2000 geographic is taken as WGS84 (same numbers).
  const Json c = locate(116.123456789, 35.0456789, "&crs=EPSG:4490");
  EXPECT_NEAR(c["position"]["lon"].get<double>(), 116.123456789, 1e-9);
  EXPECT_NEAR(c["position"]["lat"].get<double>(), 35.0456789, 1e-9);
  // A grid posted in GCJ-02 lands where its WGS84 twin would.
  double gx0 = 0, gy0 = 0, gx1 = 0, gy1 = 0;
  wgs84_to_gcj02(116.3, 35.3, gx0, gy0);
  wgs84_to_gcj02(116.4, 35.4, gx1, gy1);
  Json f = grid_feature("GCJ", "district", "", 0, 0, 1, 1);
  f["geometry"]["coordinates"] = Json::array({Json::array({Json::array({gx0, gy0}), Json::array({gx1, gy0}),
                                                           Json::array({gx1, gy1}), Json::array({gx0, gy1}),
                                                           Json::array({gx0, gy0})})});
  const Json created = post_created(*m_client, "/grids?crs=gcj02", f);
  ASSERT_EQ(created["geometry"]["type"], "MultiPolygon");  // grids are stored as MultiPolygons
  const Json& ring = created["geometry"]["coordinates"][0][0];
  EXPECT_NEAR(ring[0][0].get<double>(), 116.3, 1e-8);
  EXPECT_NEAR(ring[0][1].get<double>(), 35.3, 1e-8);
  EXPECT_EQ(locate(116.35, 35.35)["owner"]["code"], "GCJ");
}

}  // namespace
}  // namespace gridd::http_test
