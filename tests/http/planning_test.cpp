// The planner's API over real HTTP: topology checks of a subtree and of a
// proposed edit, refusal of overlapping and gap-making edits (and drafts),
// split and merge with preview then commit (split dividing the households,
// merge keeping every person and summing them), the version history with
// editor and reason, time-travel locate across an edit, incidents keeping
// the grid version they were assigned under, make-valid, and bad input.

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

class PlanningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server = std::make_unique<ServerProcess>(dir.file("plan.gpkg"));
    client = std::make_unique<HttpClient>(server->port());
    // A street divided into two communities side by side.
    const Json city{{"type", "FeatureCollection"},
                    {"features", Json::array({grid_feature("370811001", "street", "", 116.0, 35.0, 116.2, 35.1),
                                              grid_feature("370811001001", "community", "370811001", 116.0, 35.0, 116.1, 35.1),
                                              grid_feature("370811001002", "community", "370811001", 116.1, 35.0, 116.2, 35.1)})}};
    const HttpResponse r = client->post("/grids?editor=setup&reason=city", city.dump());
    ASSERT_EQ(r.status, 201) << r.body;
    const Json created = body_json(r);
    for (const auto& f : created["features"]) ids.push_back(f["id"].get<std::int64_t>());
    ASSERT_EQ(ids.size(), 3u);
  }

  std::string owner_at(double lon, double lat, const std::string& at = "") {
    const HttpResponse r = client->get("/locate?lon=" + std::to_string(lon) + "&lat=" + std::to_string(lat) +
                                       (at.empty() ? "" : "&at=" + at));
    EXPECT_EQ(r.status, 200) << r.body;
    const Json j = body_json(r);
    return j["owner"].is_null() ? "" : j["owner"]["code"].get<std::string>();
  }

  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<HttpClient> client;
  std::vector<std::int64_t> ids;
};

TEST_F(PlanningTest, CheckReportsTheDefectsOfASubtree) {
  HttpResponse r = client->get("/grids/check?root=370811001");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r)["features"].size(), 0u) << r.body;
  EXPECT_EQ(body_json(r)["grids_checked"], 3);
  // An overlapping draft shows up as an overlap with its area and location.
  const Json over = grid_feature("370811001003", "community", "370811001", 116.15, 35.0, 116.25, 35.05);
  r = client->post("/grids?draft=true", over.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  r = client->get("/grids/check?root=370811001");
  const Json j = body_json(r);
  EXPECT_EQ(j["summary"]["overlap"], 1) << r.body;
  EXPECT_EQ(j["summary"]["outside_parent"], 1) << r.body;
  ASSERT_TRUE(j["features"].is_array());
  for (const auto& f : j["features"]) {
    const Json& p = f["properties"];
    EXPECT_GT(p["area_m2"].get<double>(), 1e6);
    EXPECT_EQ(f["geometry"]["type"].get<std::string>().find("Polygon") != std::string::npos, true);
  }
  // The command line says the same and fails, for a planner's scripts.
  const std::string out = dir.file("check.txt");
  const std::string cmd = gridd_binary() + " check --store '" + backend_store(dir.file("plan.gpkg")) + "'" +
                          " --root 370811001 > " + out + " 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  std::ifstream in(out);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("overlap"), std::string::npos) << text;
  EXPECT_NE(text.find("370811001002,370811001003"), std::string::npos) << text;
  EXPECT_NE(text.find("checked 4 grids under 370811001"), std::string::npos) << text;
  const int clean = std::system((gridd_binary() + " check --store '" + backend_store(dir.file("plan.gpkg")) + "'" +
                                 " --root 370811001001 > /dev/null 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(clean), 0);
  expect_error(client->get("/grids/check?root=nope"), 404, "grid_not_found", "root");
  expect_error(client->get("/grids/check?tolerance_m2=-1"), 400, "invalid_tolerance", "tolerance_m2");
}

TEST_F(PlanningTest, OverlapsAndGapsAreRefusedWithTheReason) {
  const Json over = grid_feature("370811001003", "community", "370811001", 116.15, 35.0, 116.2, 35.05);
  HttpResponse r = client->post("/grids", over.dump());
  expect_error(r, 409, "topology_defects", "geometry");
  const Json j = body_json(r);
  EXPECT_NE(j["message"].get<std::string>().find("overlap"), std::string::npos) << r.body;
  ASSERT_EQ(j["details"]["features"].size(), 1u);
  EXPECT_EQ(j["details"]["features"][0]["properties"]["codes"], Json::array({"370811001002", "370811001003"}));
  // Nothing was written.
  EXPECT_EQ(body_json(client->get("/grids?code=370811001003"))["features"].size(), 0u);
  // The editor's live check answers the same without writing.
  r = client->post("/grids/check", over.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(body_json(r)["refused"].get<bool>());
  EXPECT_EQ(body_json(r)["defects"]["features"][0]["properties"]["type"], "overlap");
  // Shrinking a community leaves a gap: refused.
  Json shrunk = grid_feature("370811001002", "community", "370811001", 116.1, 35.0, 116.18, 35.1);
  r = client->put("/grids/" + std::to_string(ids[2]), shrunk.dump());
  expect_error(r, 409, "topology_defects", "geometry");
  EXPECT_EQ(body_json(r)["details"]["features"][0]["properties"]["type"], "gap");
  // Checking the same with the neighbour grown to match: no defect.
  Json grown = grid_feature("370811001001", "community", "370811001", 116.0, 35.0, 116.11, 35.1);
  grown["id"] = ids[1];
  Json shrunk2 = grid_feature("370811001002", "community", "370811001", 116.11, 35.0, 116.2, 35.1);
  shrunk2["id"] = ids[2];
  r = client->post("/grids/check", Json{{"type", "FeatureCollection"}, {"features", {grown, shrunk2}}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(body_json(r)["refused"].get<bool>()) << r.body;
}

TEST_F(PlanningTest, SplitPreviewThenCommit) {
  const Json line{{"type", "LineString"}, {"coordinates", {{116.15, 34.99}, {116.15, 35.11}}}};
  HttpResponse r = client->post("/grids/" + std::to_string(ids[2]) + "/split",
                                Json{{"line", line}, {"parts", {{{"code", "370811001003"}, {"name", "东二社区"}}}}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = body_json(r);
  EXPECT_FALSE(j["committed"].get<bool>());
  ASSERT_EQ(j["grids"]["features"].size(), 2u);
  const double a0 = j["grids"]["features"][0]["properties"]["area_m2"];
  const double a1 = j["grids"]["features"][1]["properties"]["area_m2"];
  const Json before = body_json(client->get("/grids/" + std::to_string(ids[2]) + "?geometry=false"));
  EXPECT_NEAR(a0 + a1, before["properties"]["area_m2"].get<double>(), 1.0);
  EXPECT_EQ(j["grids"]["features"][1]["properties"]["name"], "东二社区");
  EXPECT_EQ(body_json(client->get("/grids?code=370811001003"))["features"].size(), 0u);  // a preview writes nothing

  r = client->post("/grids/" + std::to_string(ids[2]) + "/split?commit=true&editor=planner",
                   Json{{"line", line}, {"reason", "new estate"}, {"parts", {{{"code", "370811001003"}, {"name", "东二社区"}}}}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  j = body_json(r);
  EXPECT_TRUE(j["committed"].get<bool>());
  EXPECT_EQ(owner_at(116.17, 35.05).substr(0, 9), "370811001");
  EXPECT_NE(owner_at(116.12, 35.05), owner_at(116.18, 35.05));
  const Json h = body_json(client->get("/grids/" + std::to_string(ids[2]) + "/history"));
  ASSERT_EQ(h["features"].size(), 2u);
  EXPECT_EQ(h["features"][1]["properties"]["operation"], "split");
  EXPECT_EQ(h["features"][1]["properties"]["editor"], "planner");
  EXPECT_EQ(h["features"][1]["properties"]["reason"], "new estate");
  EXPECT_EQ(h["features"][0]["properties"]["editor"], "setup");
  // A line that does not cross the grid.
  const Json stub{{"type", "LineString"}, {"coordinates", {{116.11, 35.02}, {116.12, 35.02}}}};
  expect_error(client->post("/grids/" + std::to_string(ids[1]) + "/split", Json{{"line", stub}}.dump()), 400,
               "line_does_not_split", "line");
  expect_error(client->post("/grids/" + std::to_string(ids[1]) + "/split", "{}"), 400, "missing_line", "line");
}

TEST_F(PlanningTest, SplitDividesTheHouseholdsByAreaOrAsGiven) {
  Json east = grid_feature("370811001002", "community", "370811001", 116.1, 35.0, 116.2, 35.1, "东社区");
  east["properties"]["households"] = 1000;
  ASSERT_EQ(client->put("/grids/" + std::to_string(ids[2]), east.dump()).status, 200);
  const std::string path = "/grids/" + std::to_string(ids[2]) + "/split";
  // x = 116.13 cuts the community 30/70 by area.
  const Json line{{"type", "LineString"}, {"coordinates", {{116.13, 34.99}, {116.13, 35.11}}}};
  HttpResponse r = client->post(path, Json{{"line", line}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = body_json(r);
  EXPECT_EQ(j["split"]["households"], 1000) << r.body;
  EXPECT_EQ(j["split"]["households_by"], "area");
  ASSERT_EQ(j["split"]["parts"].size(), 2u);
  EXPECT_EQ(j["split"]["parts"][0]["households"], 700);
  EXPECT_TRUE(j["split"]["parts"][0]["kept"].get<bool>());
  EXPECT_EQ(j["split"]["parts"][1]["households"], 300);
  EXPECT_EQ(j["grids"]["features"][0]["properties"]["households"], 700);
  EXPECT_EQ(j["grids"]["features"][1]["properties"]["households"], 300);
  // The planner's own counts must sum to the grid's; else 400 naming the field.
  r = client->post(path, Json{{"line", line}, {"households", {640, 300}}}.dump());
  expect_error(r, 400, "invalid_households", "households");
  EXPECT_NE(body_json(r)["message"].get<std::string>().find("940"), std::string::npos) << r.body;
  expect_error(client->post(path, Json{{"line", line}, {"households", {1000}}}.dump()), 400, "invalid_households",
               "households");
  expect_error(client->post(path, Json{{"line", line}, {"households", {"all", 0}}}.dump()), 400, "invalid_households",
               "households/0");
  expect_error(client->post(path, Json{{"line", line}, {"households", 1000}}.dump()), 400, "invalid_households",
               "households");
  // Committed with the planner's division, the parts carry it.
  r = client->post(path + "?commit=true&editor=planner",
                   Json{{"line", line}, {"households", {650, 350}}, {"parts", {{{"code", "370811001003"}, {"name", "东二社区"}}}}}
                       .dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r)["split"]["households_by"], "given");
  const Json kept = body_json(client->get("/grids/" + std::to_string(ids[2]) + "?geometry=false"));
  EXPECT_EQ(kept["properties"]["households"], 650);
  const Json added = body_json(client->get("/grids?code=370811001003&geometry=false"));
  ASSERT_EQ(added["features"].size(), 1u);
  EXPECT_EQ(added["features"][0]["properties"]["households"], 350);
  // Merged back, the households add up to the original again.
  r = client->post("/grids/merge", Json{{"ids", {ids[2], added["features"][0]["id"]}}, {"commit", true}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(client->get("/grids/" + std::to_string(ids[2]) + "?geometry=false"))["properties"]["households"], 1000);
}

TEST_F(PlanningTest, MergeKeepsEveryPersonAndSaysWhatChanges) {
  const Json head{{"name", "叶新"}, {"role", "grid_head"}, {"phone", "13905370011"}};
  Json west = grid_feature("370811001001", "community", "370811001", 116.0, 35.0, 116.1, 35.1, "北门社区第一网格");
  west["properties"]["households"] = 471;
  west["properties"]["people"] = {{{"name", "王雨佳"}, {"role", "grid_worker"}, {"phone", "13905370012"}}, head};
  Json east = grid_feature("370811001002", "community", "370811001", 116.1, 35.0, 116.2, 35.1, "北门社区第二网格");
  east["properties"]["households"] = 597;
  east["properties"]["people"] = {{{"name", "孙丹玲"}, {"role", "grid_worker"}, {"phone", "13905370013"}}, head};
  ASSERT_EQ(client->put("/grids/" + std::to_string(ids[1]), west.dump()).status, 200);
  ASSERT_EQ(client->put("/grids/" + std::to_string(ids[2]), east.dump()).status, 200);

  HttpResponse r = client->post("/grids/merge", Json{{"ids", {ids[1], ids[2]}}, {"keep", ids[1]}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = body_json(r);
  const Json& m = j["merge"];
  ASSERT_EQ(m["people"].size(), 3u) << r.body;  // 叶新 is in both grids, kept once
  EXPECT_EQ(m["people"][0]["name"], "王雨佳");
  EXPECT_EQ(m["people"][1]["name"], "叶新");
  EXPECT_EQ(m["people"][2]["name"], "孙丹玲");
  EXPECT_EQ(m["people"][2]["phone"], "13905370013");
  ASSERT_EQ(m["people_added"].size(), 1u);
  EXPECT_EQ(m["people_added"][0]["name"], "孙丹玲");
  EXPECT_EQ(m["people_duplicates"], 1);
  EXPECT_EQ(m["households"], 1068);
  EXPECT_EQ(m["households_unknown"], Json::array());
  EXPECT_EQ(m["retired"], Json::array({"370811001002"}));
  ASSERT_EQ(m["grids"].size(), 2u);
  EXPECT_TRUE(m["grids"][0]["kept"].get<bool>());
  EXPECT_EQ(m["grids"][1]["households"], 597);
  EXPECT_EQ(j["grids"]["features"][0]["properties"]["households"], 1068);
  EXPECT_EQ(j["grids"]["features"][0]["properties"]["people"].size(), 3u);

  r = client->post("/grids/merge?editor=planner", Json{{"ids", {ids[1], ids[2]}}, {"keep", ids[1]}, {"commit", true}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json merged = body_json(client->get("/grids/" + std::to_string(ids[1]) + "?geometry=false"));
  EXPECT_EQ(merged["properties"]["households"], 1068);
  ASSERT_EQ(merged["properties"]["people"].size(), 3u);
  std::vector<std::string> names;
  for (const auto& p : merged["properties"]["people"]) names.push_back(p["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"王雨佳", "叶新", "孙丹玲"}));
  const Json h = body_json(client->get("/grids/" + std::to_string(ids[1]) + "/history"));
  EXPECT_EQ(h["features"].back()["properties"]["households"], 1068);
  EXPECT_EQ(h["features"].back()["properties"]["people"].size(), 3u);
}

TEST_F(PlanningTest, MergeWithAnUnknownCountSumsTheKnownAndNamesTheUnknown) {
  Json west = grid_feature("370811001001", "community", "370811001", 116.0, 35.0, 116.1, 35.1);
  west["properties"]["households"] = 120;
  ASSERT_EQ(client->put("/grids/" + std::to_string(ids[1]), west.dump()).status, 200);
  HttpResponse r = client->post("/grids/merge", Json{{"ids", {ids[1], ids[2]}}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = body_json(r);
  EXPECT_EQ(j["merge"]["households"], 120);
  EXPECT_EQ(j["merge"]["households_unknown"], Json::array({"370811001002"}));
  EXPECT_EQ(j["grids"]["features"][0]["properties"]["households"], 120);
  // Neither known: null, both named.
  west["properties"]["households"] = nullptr;
  ASSERT_EQ(client->put("/grids/" + std::to_string(ids[1]), west.dump()).status, 200);
  j = body_json(client->post("/grids/merge", Json{{"ids", {ids[1], ids[2]}}}.dump()));
  EXPECT_TRUE(j["merge"]["households"].is_null()) << j.dump();
  EXPECT_EQ(j["merge"]["households_unknown"].size(), 2u);
}

TEST_F(PlanningTest, TimeTravelLocateAcrossAMerge) {
  EXPECT_EQ(owner_at(116.15, 35.05), "370811001002");
  // The server's clock: the time of the last version.
  const Json h0 = body_json(client->get("/grids/" + std::to_string(ids[2]) + "/history"));
  const std::string created = h0["features"][0]["properties"]["valid_from"];
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  HttpResponse r = client->post("/grids/merge", Json{{"ids", {ids[1], ids[2]}}, {"commit", true}, {"reason", "merge"}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r)["deleted"], Json::array({ids[2]}));
  EXPECT_EQ(owner_at(116.15, 35.05), "370811001001");
  // As of the moment the communities were created, the point was in the eastern one.
  EXPECT_EQ(owner_at(116.15, 35.05, created), "370811001002");
  // Naive times are China time (UTC+8); a time before anything existed finds nothing.
  EXPECT_EQ(owner_at(116.15, 35.05, "2001-01-01T08:00:00"), "");
  // Grid listings answer as of a time too, with the version then.
  const Json past = body_json(client->get("/grids?level=community&geometry=false&at=" + created));
  EXPECT_EQ(past["features"].size(), 2u);
  const Json now = body_json(client->get("/grids?level=community&geometry=false"));
  ASSERT_EQ(now["features"].size(), 1u);
  EXPECT_EQ(now["features"][0]["properties"]["version"], 2);
  // The deleted grid's history ends with the merge; restoring it is refused
  // while the merged grid covers its place, and allowed as a draft.
  const Json h = body_json(client->get("/grids/" + std::to_string(ids[2]) + "/history"));
  ASSERT_EQ(h["features"].size(), 2u);
  EXPECT_TRUE(h["features"][1]["geometry"].is_null());
  expect_error(client->post("/grids/" + std::to_string(ids[2]) + "/restore", Json{{"version", 1}}.dump()), 409,
               "topology_defects", "geometry");
  r = client->post("/grids/" + std::to_string(ids[2]) + "/restore", Json{{"version", 1}, {"draft", true}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(client->get("/grids/" + std::to_string(ids[2]) + "?geometry=false"))["properties"]["version"], 3);
  expect_error(client->get("/locate?lon=116.15&lat=35.05&at=yesterday"), 400, "invalid_time", "at");
}

TEST_F(PlanningTest, AnIncidentKeepsTheGridVersionItWasAssignedUnder) {
  HttpResponse r = client->post("/incidents", Json{{"category", "roof_leak"}, {"lon", 116.15}, {"lat", 35.05}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const std::int64_t incident = body_json(r)["id"];
  EXPECT_EQ(body_json(r)["properties"]["assignment"]["grid"]["version"], 1) << r.body;
  Json renamed = grid_feature("370811001002", "community", "370811001", 116.1, 35.0, 116.2, 35.1, "东社区");
  ASSERT_EQ(client->put("/grids/" + std::to_string(ids[2]), renamed.dump()).status, 200);
  r = client->get("/incidents/" + std::to_string(incident));
  EXPECT_EQ(body_json(r)["properties"]["assignment"]["grid"]["version"], 1) << r.body;
  r = client->post("/incidents", Json{{"category", "roof_leak"}, {"lon", 116.15}, {"lat", 35.05}}.dump());
  EXPECT_EQ(body_json(r)["properties"]["assignment"]["grid"]["version"], 2) << r.body;
}

TEST_F(PlanningTest, SnapAndMakeValid) {
  // A community digitised 2 m short of its neighbour, saved as a draft.
  Json short_a = grid_feature("370811001001", "community", "370811001", 116.0, 35.0, 116.09998, 35.1);
  ASSERT_EQ(client->put("/grids/" + std::to_string(ids[1]) + "?draft=true", short_a.dump()).status, 200);
  EXPECT_EQ(body_json(client->get("/grids/check?root=370811001"))["summary"]["gap"], 1);
  HttpResponse r = client->post("/grids/" + std::to_string(ids[1]) + "/snap",
                                Json{{"tolerance_m", 5}, {"to", "both"}, {"commit", true}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(client->get("/grids/check?root=370811001"))["features"].size(), 0u);
  expect_error(client->post("/grids/" + std::to_string(ids[1]) + "/snap", Json{{"to", "moon"}}.dump()), 400,
               "invalid_target", "to");
  // A bow tie comes back as two valid triangles.
  const Json bow{{"type", "Polygon"},
                 {"coordinates", {{{116.0, 35.0}, {116.01, 35.01}, {116.01, 35.0}, {116.0, 35.01}, {116.0, 35.0}}}}};
  r = client->post("/grids/make-valid", Json{{"geometry", bow}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = body_json(r);
  EXPECT_FALSE(j["valid"].get<bool>());
  EXPECT_EQ(j["parts"], 2);
  EXPECT_NEAR(j["location"][0].get<double>(), 116.005, 1e-9);
  expect_error(client->post("/grids/make-valid", "{}"), 400, "missing_geometry", "geometry");
  expect_error(client->post("/grids/merge", Json{{"ids", {ids[1]}}}.dump()), 400, "too_few_grids", "ids");
  expect_error(client->post("/grids/merge", Json{{"ids", {ids[1], 99999}}}.dump()), 404, "grid_not_found", "ids");
  expect_error(client->get("/grids/99999/history"), 404, "grid_not_found", "id");
}

}  // namespace
}  // namespace gridd::http_test
