// The demo city (geodata/renchen) over real HTTP: --demo imports it once,
// and /locate agrees with an independent brute force (GEOS on every polygon,
// PROJ geodesic to every station) on >= 10,000 random points plus >= 500
// points exactly on shared boundaries. Also /locate in GCJ-02, BD-09 and
// EPSG:3857.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "http/brute_force.hpp"
#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

const std::string k_manifest = std::string(GRIDD_GEODATA_DIR) + "/renchen/demo.json";

bool demo_available() { return std::filesystem::exists(k_manifest); }

std::vector<Json> fetch_all(HttpClient& c, const std::string& what) {
  const HttpResponse r = c.get("/" + what + "?limit=10000");
  EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);
  const Json j = body_json(r);
  EXPECT_TRUE(j["next_cursor"].is_null()) << "more than 10000 " << what;
  return j["features"].get<std::vector<Json>>();
}

class DemoCityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!demo_available()) return;
    s_dir = new TempDir();
    s_server = new ServerProcess(s_dir->file("demo.gpkg"), {"--demo"});
    HttpClient c(s_server->port());
    s_reference = new Reference(fetch_all(c, "grids"), fetch_all(c, "stations"));
  }
  static void TearDownTestSuite() {
    delete s_reference;
    s_reference = nullptr;
    delete s_server;
    s_server = nullptr;
    delete s_dir;
    s_dir = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(demo_available()) << "the demo city " << k_manifest << " is missing";
    ASSERT_NE(s_reference, nullptr);
  }
  void TearDown() override {
    if (s_server) expect_healthy(*s_server);
  }

  static const Reference& ref() { return *s_reference; }

  static TempDir* s_dir;
  static ServerProcess* s_server;
  static Reference* s_reference;
};

TempDir* DemoCityTest::s_dir = nullptr;
ServerProcess* DemoCityTest::s_server = nullptr;
Reference* DemoCityTest::s_reference = nullptr;

std::size_t feature_count(const std::string& file) {
  std::ifstream in(file);
  return Json::parse(in)["features"].size();
}

TEST_F(DemoCityTest, DemoIsImportedOnceAndNotAgainOnRestart) {
  TempDir dir;
  const std::string store = dir.file("demo.gpkg");
  std::pair<std::size_t, std::size_t> first;
  std::map<std::string, std::int64_t> ids;
  {
    ServerProcess server(store, {"--demo"});
    first = health_counts(server.port());
    EXPECT_GT(first.first, 0u);
    EXPECT_GT(first.second, 0u);
    const std::string dir_path = std::filesystem::path(k_manifest).parent_path().string();
    std::ifstream in(k_manifest);
    const Json manifest = Json::parse(in);
    EXPECT_EQ(first.first, feature_count(dir_path + "/" + manifest["grids"].get<std::string>()));
    EXPECT_EQ(first.second, feature_count(dir_path + "/" + manifest["stations"].get<std::string>()));
    HttpClient c(server.port());
    for (const Json& f : list_all(c, "/grids?geometry=false", 10000)) {
      ids[f["properties"]["code"].get<std::string>()] = f["id"].get<std::int64_t>();
    }
  }
  {
    ServerProcess again(store, {"--demo"});
    EXPECT_EQ(health_counts(again.port()), first);
    HttpClient c(again.port());
    std::map<std::string, std::int64_t> ids2;
    for (const Json& f : list_all(c, "/grids?geometry=false", 10000)) {
      ids2[f["properties"]["code"].get<std::string>()] = f["id"].get<std::int64_t>();
    }
    EXPECT_EQ(ids2, ids);
    // Without --demo the store still holds the city.
  }
  {
    ServerProcess plain(store);
    EXPECT_EQ(health_counts(plain.port()), first);
  }
}

TEST_F(DemoCityTest, LocateAgreesWithBruteForceOnRandomAndBoundaryPoints) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& grids = ref().grids();
  ASSERT_GT(grids.size(), 10u);
  ASSERT_GT(ref().stations().size(), 3u);

  // The extent of the city plus a 10% margin on each side.
  double minx = 1e9, miny = 1e9, maxx = -1e9, maxy = -1e9;
  for (const auto& g : grids) {
    minx = std::min(minx, g.minx);
    miny = std::min(miny, g.miny);
    maxx = std::max(maxx, g.maxx);
    maxy = std::max(maxy, g.maxy);
  }
  const double mx = 0.1 * (maxx - minx), my = 0.1 * (maxy - miny);
  std::mt19937_64 rng(370811);
  std::uniform_real_distribution<double> ux(minx - mx, maxx + mx), uy(miny - my, maxy + my);
  std::vector<std::pair<double, double>> points;
  constexpr std::size_t k_random = 10000;
  for (std::size_t i = 0; i < k_random; ++i) points.emplace_back(ux(rng), uy(rng));

  // Vertices shared by at least two leaves, chosen with a fixed seed.
  std::map<std::pair<double, double>, std::set<std::size_t>> owners;
  for (std::size_t i = 0; i < grids.size(); ++i) {
    if (!grids[i].leaf) continue;
    for (const auto& ring : grids[i].rings) {
      for (const auto& v : ring) owners[v].insert(i);
    }
  }
  std::vector<std::pair<double, double>> shared;
  for (const auto& [v, who] : owners) {
    if (who.size() >= 2) shared.push_back(v);
  }
  ASSERT_GE(shared.size(), 600u) << "the demo city has too few shared vertices";
  std::shuffle(shared.begin(), shared.end(), rng);
  shared.resize(600);
  for (const auto& v : shared) points.push_back(v);

  // Ask the server in batches of up to 10,000.
  std::vector<Json> results;
  HttpClient c(s_server->port());
  for (std::size_t start = 0; start < points.size(); start += 10000) {
    Json batch = Json::array();
    for (std::size_t i = start; i < std::min(points.size(), start + 10000); ++i) {
      batch.push_back(Json::array({points[i].first, points[i].second}));
    }
    const HttpResponse r = c.post("/locate", Json{{"points", batch}, {"k", 3}}.dump());
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
    const Json j = body_json(r);
    ASSERT_EQ(j["results"].size(), batch.size());
    for (const auto& res : j["results"]) results.push_back(res);
  }
  ASSERT_EQ(results.size(), points.size());

  std::size_t covered_count = 0, uncovered_count = 0, multi_cover_boundary = 0, sibling_choices = 0;
  std::size_t owner_near_ties = 0, station_checks = 0;
  double worst_owner_ratio = 1.0, worst_reported_ratio = 1.0;
  int after_failure = 0;  // points checked after the first failure (bounds the output)
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto [lon, lat] = points[i];
    const Json& res = results[i];
    const bool on_boundary = i >= k_random;
    SCOPED_TRACE("point " + std::to_string(i) + (on_boundary ? " (shared vertex)" : "") + " lon=" +
                 std::to_string(lon) + " lat=" + std::to_string(lat));

    // Position echoed in WGS84.
    EXPECT_DOUBLE_EQ(res["position"]["lon"].get<double>(), lon);
    EXPECT_DOUBLE_EQ(res["position"]["lat"].get<double>(), lat);

    const std::vector<std::size_t> covering = ref().covering(lon, lat);
    std::set<std::string> covering_codes;
    std::set<int> covering_ranks;
    std::map<int, int> per_rank;
    bool leaf_covers = false;
    for (std::size_t gi : covering) {
      covering_codes.insert(grids[gi].code);
      covering_ranks.insert(grids[gi].rank);
      ++per_rank[grids[gi].rank];
      leaf_covers = leaf_covers || grids[gi].leaf;
    }
    if (on_boundary) {
      EXPECT_TRUE(leaf_covers) << "a shared vertex of two leaves must be covered";
      bool multi = false;
      for (const auto& [rank, n] : per_rank) multi = multi || n >= 2;
      multi_cover_boundary += multi ? 1 : 0;
    }

    // covered == some leaf covers the point.
    EXPECT_EQ(res["covered"].get<bool>(), leaf_covers);
    leaf_covers ? ++covered_count : ++uncovered_count;

    // The chain: each grid covers the point; one per level present, coarsest first;
    // at each level the documented rule (child of the chosen parent, then smallest code).
    const Json& chain = res["grids"];
    std::vector<int> chain_ranks;
    std::vector<std::string> chain_codes;
    for (const auto& g : chain) {
      const std::string code = g["code"].get<std::string>();
      chain_codes.push_back(code);
      EXPECT_TRUE(covering_codes.count(code)) << code << " in the chain does not cover the point";
      chain_ranks.push_back(level_rank(g["level"].get<std::string>()));
    }
    EXPECT_EQ(std::vector<int>(covering_ranks.begin(), covering_ranks.end()), chain_ranks);
    std::vector<std::string> expected_codes;
    for (std::size_t gi : ref().expected_chain(covering)) expected_codes.push_back(grids[gi].code);
    EXPECT_EQ(chain_codes, expected_codes);
    for (const auto& [rank, n] : per_rank) sibling_choices += n >= 2 ? 1 : 0;

    // The owner.
    if (leaf_covers) {
      ASSERT_TRUE(res["owner"].is_object()) << res.dump();
      const std::string owner = res["owner"]["code"].get<std::string>();
      const RefGrid* og = ref().by_code(owner);
      ASSERT_NE(og, nullptr) << owner;
      EXPECT_TRUE(og->leaf) << owner << " is not a leaf";
      EXPECT_TRUE(covering_codes.count(owner)) << owner << " does not cover the point";
      EXPECT_EQ(owner, chain_codes.empty() ? "" : chain_codes.back()) << "the owner is the finest grid of the chain";
      EXPECT_EQ(res["owner"]["distance_m"].get<double>(), 0.0);
      EXPECT_FALSE(res.contains("nearest_grid"));
    } else {
      ASSERT_TRUE(res["owner"].is_object()) << "an uncovered point gets the nearest leaf: " << res.dump();
      const auto [best, best_d] = ref().nearest_leaf(lon, lat);
      ASSERT_NE(best, static_cast<std::size_t>(-1));
      const std::string owner = res["owner"]["code"].get<std::string>();
      const RefGrid* og = ref().by_code(owner);
      ASSERT_NE(og, nullptr) << owner;
      EXPECT_TRUE(og->leaf) << owner;
      const double owner_d = ref().distance_m(*og, lon, lat);
      const double reported = res["owner"]["distance_m"].get<double>();
      EXPECT_NEAR(reported, owner_d, 0.01 * owner_d + 0.02) << owner;
      if (owner_d > 1) worst_reported_ratio = std::max(worst_reported_ratio, std::max(reported / owner_d, owner_d / reported));
      if (best_d > 1) worst_owner_ratio = std::max(worst_owner_ratio, owner_d / best_d);
      if (owner != grids[best].code) {
        ++owner_near_ties;
        EXPECT_LE(owner_d, best_d * 1.01 + 0.02)
            << "owner " << owner << " at " << owner_d << " m, but " << grids[best].code << " is at " << best_d << " m";
      }
      ASSERT_TRUE(res.contains("nearest_grid"));
      EXPECT_EQ(res["nearest_grid"]["code"], res["owner"]["code"]);
    }

    // k = 3 nearest stations against the geodesic distance to every station.
    const auto brute = ref().stations_by_distance(lon, lat);
    const Json& st = res["stations"];
    ASSERT_EQ(st.size(), std::min<std::size_t>(3, brute.size()));
    std::set<std::int64_t> seen;
    for (std::size_t k = 0; k < st.size(); ++k) {
      const std::int64_t id = st[k]["id"].get<std::int64_t>();
      EXPECT_TRUE(seen.insert(id).second) << "station " << id << " twice";
      const double d = st[k]["distance_m"].get<double>();
      const double want = brute[k].first;
      EXPECT_NEAR(d, want, 0.001 * want + 0.01) << "rank " << k;
      // The station at rank k is at the k-th distance (ties allowed).
      double true_d = -1;
      for (const auto& [dist, si] : brute) {
        if (ref().stations()[si].id == id) true_d = dist;
      }
      ASSERT_GE(true_d, 0) << "unknown station " << id;
      EXPECT_NEAR(true_d, want, 0.001 * want + 0.01) << "station " << id << " at rank " << k;
      ++station_checks;
    }
    if (::testing::Test::HasFailure() && ++after_failure > 20) break;
  }
  // The sample exercises what it claims to.
  EXPECT_GT(covered_count, 1000u);
  EXPECT_GT(uncovered_count, 500u);
  EXPECT_GE(multi_cover_boundary, 500u);
  EXPECT_GT(sibling_choices, 500u);
  RecordProperty("covered", static_cast<int>(covered_count));
  RecordProperty("uncovered", static_cast<int>(uncovered_count));
  RecordProperty("boundary_multi_cover", static_cast<int>(multi_cover_boundary));
  RecordProperty("owner_near_ties", static_cast<int>(owner_near_ties));
  RecordProperty("station_checks", static_cast<int>(station_checks));
  std::cerr << "brute force: " << points.size() << " points, " << covered_count << " covered, " << uncovered_count
            << " uncovered, " << multi_cover_boundary << " boundary points with sibling choices, " << owner_near_ties
            << " near-tie owners (worst owner/nearest distance ratio " << worst_owner_ratio
            << ", worst reported/reference ratio " << worst_reported_ratio << "), "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
}

TEST_F(DemoCityTest, LocateAStationKindMatchesBruteForce) {
  HttpClient c(s_server->port());
  std::mt19937_64 rng(7);
  const auto& grids = ref().grids();
  std::uniform_int_distribution<std::size_t> pick(0, grids.size() - 1);
  for (const std::string kind : {"grid_station", "mediation_room", "veterans_station"}) {
    for (int n = 0; n < 20; ++n) {
      const RefGrid& g = grids[pick(rng)];
      const double lon = (g.minx + g.maxx) / 2, lat = (g.miny + g.maxy) / 2;
      char q[200];
      std::snprintf(q, sizeof q, "/locate?lon=%.9f&lat=%.9f&k=5&kind=%s", lon, lat, kind.c_str());
      const HttpResponse r = c.get(q);
      ASSERT_EQ(r.status, 200) << r.body;
      const Json j = body_json(r);
      const auto brute = ref().stations_by_distance(j["position"]["lon"].get<double>(),
                                                    j["position"]["lat"].get<double>(), kind);
      ASSERT_EQ(j["stations"].size(), std::min<std::size_t>(5, brute.size())) << q;
      for (std::size_t k = 0; k < j["stations"].size(); ++k) {
        EXPECT_EQ(j["stations"][k]["kind"], kind);
        EXPECT_NEAR(j["stations"][k]["distance_m"].get<double>(), brute[k].first, 0.001 * brute[k].first + 0.01);
      }
    }
  }
  // k=0: no stations.
  const HttpResponse r = c.get("/locate?lon=116.58&lat=35.41&k=0");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(body_json(r)["stations"].empty());
}

/// Points well inside leaves (GEOS point on surface, at least 5 m from the edge).
std::vector<std::pair<std::size_t, std::pair<double, double>>> interior_points(const Reference& ref, std::size_t n) {
  std::vector<std::pair<std::size_t, std::pair<double, double>>> out;
  const auto& grids = ref.grids();
  const GEOSContextHandle_t ctx = ref.geos().ctx();
  for (std::size_t i = 0; i < grids.size() && out.size() < n; i += std::max<std::size_t>(1, grids.size() / n)) {
    if (!grids[i].leaf) continue;
    GEOSGeometry* p = GEOSPointOnSurface_r(ctx, grids[i].geom);
    double x = 0, y = 0;
    GEOSGeomGetX_r(ctx, p, &x);
    GEOSGeomGetY_r(ctx, p, &y);
    GEOSGeometry* boundary = GEOSBoundary_r(ctx, grids[i].geom);
    double d = 0;
    GEOSDistance_r(ctx, boundary, p, &d);
    GEOSGeom_destroy_r(ctx, boundary);
    GEOSGeom_destroy_r(ctx, p);
    if (d * 90000 < 5) continue;  // under ~5 m from the edge
    out.push_back({i, {x, y}});
  }
  return out;
}

TEST_F(DemoCityTest, LocateInGcj02Bd09AndWebMercator) {
  HttpClient c(s_server->port());
  const auto points = interior_points(ref(), 12);
  ASSERT_GE(points.size(), 5u);
  for (const auto& [gi, p] : points) {
    const auto [lon, lat] = p;
    const std::string owner = ref().grids()[gi].code;
    SCOPED_TRACE(owner);
    double glon = 0, glat = 0, blon = 0, blat = 0, mx = 0, my = 0;
    wgs84_to_gcj02(lon, lat, glon, glat);
    gcj02_to_bd09(glon, glat, blon, blat);
    wgs84_to_web_mercator(lon, lat, mx, my);
    // The GCJ-02 shift in Jining is some hundreds of metres; the test would be void otherwise.
    EXPECT_GT(geodesic_m(lon, lat, glon, glat), 100.0);
    EXPECT_GT(geodesic_m(glon, glat, blon, blat), 100.0);

    struct Case {
      std::string crs;
      double x, y;
      double tolerance_deg;
    };
    const std::vector<Case> cases = {{"", lon, lat, 0.0},
                                     {"gcj02", glon, glat, 1e-8},
                                     {"bd09", blon, blat, 1e-8},
                                     {"EPSG:3857", mx, my, 1e-8}};
    for (const Case& cs : cases) {
      SCOPED_TRACE("crs=" + cs.crs);
      char q[300];
      std::snprintf(q, sizeof q, "/locate?x=%.17g&y=%.17g%s%s", cs.x, cs.y, cs.crs.empty() ? "" : "&crs=",
                    cs.crs.c_str());
      const HttpResponse r = c.get(q);
      ASSERT_EQ(r.status, 200) << q << ": " << r.body;
      const Json j = body_json(r);
      EXPECT_NEAR(j["position"]["lon"].get<double>(), lon, cs.tolerance_deg + 1e-12);
      EXPECT_NEAR(j["position"]["lat"].get<double>(), lat, cs.tolerance_deg + 1e-12);
      EXPECT_TRUE(j["covered"].get<bool>());
      EXPECT_EQ(j["owner"]["code"], owner);
      // lon/lat names work as well as x/y.
      std::snprintf(q, sizeof q, "/locate?lon=%.17g&lat=%.17g%s%s", cs.x, cs.y, cs.crs.empty() ? "" : "&crs=",
                    cs.crs.c_str());
      const Json j2 = body_json(c.get(q));
      EXPECT_EQ(j2["position"], j["position"]);
    }
    // A batch in GCJ-02 gives the same positions.
    const HttpResponse b =
        c.post("/locate", Json{{"crs", "gcj02"}, {"points", Json::array({Json::array({glon, glat}),
                                                                         Json{{"lon", glon}, {"lat", glat}}})}}
                              .dump());
    ASSERT_EQ(b.status, 200) << b.body;
    const Json batch = body_json(b);  // keep the document alive while iterating
    for (const auto& res : batch["results"]) {
      EXPECT_NEAR(res["position"]["lon"].get<double>(), lon, 1e-8);
      EXPECT_NEAR(res["position"]["lat"].get<double>(), lat, 1e-8);
      EXPECT_EQ(res["owner"]["code"], owner);
    }
  }
}

}  // namespace
}  // namespace gridd::http_test
