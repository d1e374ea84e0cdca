// Access control against the real server: bearer tokens created with the
// CLI (`gridd token ...`) while the server runs, 401/403, roles, community
// scopes, revocation, anonymous access without personal data, and the audit
// log.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "http/city_auth.hpp"
#include "http/http_test_util.hpp"
#include "http/mvt_decode.hpp"

namespace gridd::http_test {
namespace {

class AuthTest : public ::testing::Test {
 protected:
  TempDir dir;
  std::string store = dir.file("city.gpkg");
};

TEST_F(AuthTest, WithoutTokensEverythingIsOpen) {
  ServerProcess server(store);
  make_city(server.port());
  const std::int64_t id = report(server.port(), 1);
  EXPECT_EQ(send(server.port(), "POST", "/incidents/" + std::to_string(id) + "/transitions", "",
                 Json{{"action", "register"}}.dump()).status, 200);
  const HttpResponse g = send(server.port(), "GET", "/grids?code=GA");
  EXPECT_NE(g.body.find(k_worker_phone), std::string::npos);  // no tokens: personal data as before
  const HttpResponse i = send(server.port(), "GET", "/incidents/" + std::to_string(id));
  EXPECT_NE(i.body.find(k_reporter_phone), std::string::npos);
}

TEST_F(AuthTest, TokensRolesAndRevocation) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  const std::int64_t id = report(port, 1);
  const std::string viewer = create_token(store, "viewer", "--name viewer-1");
  const std::string planner = create_token(store, "planner", "--name planner-1");
  const std::string dispatcher = create_token(store, "dispatcher", "--name dispatcher-1");
  wait_for_reload();

  // anonymous write: 401 with WWW-Authenticate
  const HttpResponse anon = send(port, "POST", "/incidents", "", incident_body(1).dump());
  expect_error(anon, 401, "unauthorized");
  EXPECT_NE(anon.header("WWW-Authenticate").find("Bearer"), std::string::npos);
  expect_error(send(port, "DELETE", "/grids/1"), 401, "unauthorized");
  // anonymous read: allowed
  EXPECT_EQ(send(port, "GET", "/grids").status, 200);
  // a bad token: 401 even for a read
  expect_error(send(port, "GET", "/grids", "gridd_not-a-token"), 401, "unauthorized");

  // viewer write: 403
  expect_error(send(port, "PUT", "/grids/5", viewer, rect("GA", "grid", "CA", 0, 0, 2, 2, "1").dump()), 403,
               "forbidden");
  // planner grid edit: 200; dispatcher grid edit: 403
  const HttpResponse g = send(port, "GET", "/grids?code=GA", planner);
  const std::int64_t ga = body_json(g)["features"][0]["id"].get<std::int64_t>();
  Json edit = rect("GA", "grid", "CA", 0, 0, 2, 2, k_worker_phone);
  edit["properties"]["name"] = "grid A renamed";
  EXPECT_EQ(send(port, "PUT", "/grids/" + std::to_string(ga), planner, edit.dump()).status, 200);
  expect_error(send(port, "PUT", "/grids/" + std::to_string(ga), dispatcher, edit.dump()), 403, "forbidden");
  // dispatcher transition: 200; planner transition: 403
  const std::string tr = "/incidents/" + std::to_string(id) + "/transitions";
  expect_error(send(port, "POST", tr, planner, Json{{"action", "register"}}.dump()), 403, "forbidden");
  EXPECT_EQ(send(port, "POST", tr, dispatcher, Json{{"action", "register"}}.dump()).status, 200);
  EXPECT_EQ(send(port, "POST", "/incidents", dispatcher, incident_body(3).dump()).status, 201);

  // the CLI lists without secrets and revokes
  const auto [rc, listing] = run_cli("token list --store '" + backend_store(store) + "'");
  EXPECT_EQ(rc, 0) << listing;
  EXPECT_NE(listing.find("planner-1"), std::string::npos);
  EXPECT_EQ(listing.find(planner), std::string::npos);
  EXPECT_EQ(listing.find(planner.substr(6, 20)), std::string::npos);
  const auto [rc2, out2] = run_cli("token revoke 2 --store '" + backend_store(store) + "'");
  EXPECT_EQ(rc2, 0) << out2;
  wait_for_reload();
  expect_error(send(port, "PUT", "/grids/" + std::to_string(ga), planner, edit.dump()), 401, "unauthorized");
  expect_error(send(port, "GET", "/grids", planner), 401, "unauthorized");
  const auto [rc3, out3] = run_cli("token revoke 2 --store '" + backend_store(store) + "'");
  EXPECT_NE(rc3, 0) << out3;
  const auto [rc4, out4] = run_cli("token create --role root --store '" + backend_store(store) + "'");
  EXPECT_NE(rc4, 0) << out4;
}

TEST_F(AuthTest, AnonymousNoneRefusesReads) {
  {
    ServerProcess setup(store);
    make_city(setup.port());
  }
  create_token(store, "admin");
  ServerProcess server(store, {"--anonymous", "none"});
  expect_error(send(server.port(), "GET", "/grids"), 401, "unauthorized");
  expect_error(send(server.port(), "GET", "/locate?lon=116.51&lat=35.41"), 401, "unauthorized");
  EXPECT_EQ(send(server.port(), "GET", "/healthz").status, 200);
}

TEST_F(AuthTest, AnonymousReportMayReportIncidents) {
  {
    ServerProcess setup(store);
    make_city(setup.port());
  }
  const std::string dispatcher = create_token(store, "dispatcher");
  ServerProcess server(store, {"--anonymous", "report"});
  const std::int64_t id = report(server.port(), 1);
  expect_error(send(server.port(), "POST", "/incidents/" + std::to_string(id) + "/transitions", "",
                    Json{{"action", "register"}}.dump()),
               401, "unauthorized");
}

TEST_F(AuthTest, AnonymousReadsCarryNoPersonalData) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  const std::int64_t id = report(port, 1);
  const std::string viewer = create_token(store, "viewer");
  wait_for_reload();
  const std::string inc = "/incidents/" + std::to_string(id);
  for (const std::string target : {std::string("/grids?code=GA"), std::string("/grids"), std::string("/locate?lon=116.51&lat=35.41"),
                                   inc, std::string("/incidents"), "/grids/" + std::to_string(5) + "/history",
                                   std::string("/collections/grids/items")}) {
    SCOPED_TRACE(target);
    const HttpResponse anon = send(port, "GET", target);
    EXPECT_EQ(anon.status, 200) << anon.body;
    EXPECT_EQ(anon.body.find(k_worker_phone), std::string::npos);
    EXPECT_EQ(anon.body.find(k_reporter_phone), std::string::npos);
    EXPECT_EQ(anon.body.find("resident Zhao"), std::string::npos);
  }
  // an authenticated viewer sees them
  EXPECT_NE(send(port, "GET", "/grids?code=GA", viewer).body.find(k_worker_phone), std::string::npos);
  EXPECT_NE(send(port, "GET", "/locate?lon=116.51&lat=35.41", viewer).body.find(k_worker_phone), std::string::npos);
  EXPECT_NE(send(port, "GET", inc, viewer).body.find(k_reporter_phone), std::string::npos);
  // and the anonymous locate stays phone-free after the viewer's (separately cached) answer
  EXPECT_EQ(send(port, "GET", "/locate?lon=116.51&lat=35.41").body.find(k_worker_phone), std::string::npos);
}

TEST_F(AuthTest, AStationsContactIsPublicUnlessTheServerKeepsItPrivate) {
  // A station's contact is its public desk phone (printed on its poster) by
  // default; --private-station-contacts keeps it for token holders.
  for (const bool hidden : {false, true}) {
    SCOPED_TRACE(hidden ? "--private-station-contacts" : "default");
    TempDir d;
    const std::string s = d.file("city.gpkg");
    std::vector<std::string> args;
    if (hidden) args.push_back("--private-station-contacts");
    ServerProcess server(s, args);
    const unsigned short port = server.port();
    make_city(port);
    const Json st{{"type", "Feature"},
                  {"geometry", {{"type", "Point"}, {"coordinates", {X0 + 1 * U, Y0 + 1 * U}}}},
                  {"properties", {{"name", "station A"}, {"kind", "grid_station"}, {"contact", "0539-1234567"}}}};
    const HttpResponse made = send(port, "POST", "/stations", "", st.dump());
    ASSERT_EQ(made.status, 201) << made.body;
    const std::string id = std::to_string(body_json(made)["id"].get<std::int64_t>());
    const std::string viewer = create_token(s, "viewer", "--name desk");
    wait_for_reload();
    char locate[128];
    std::snprintf(locate, sizeof locate, "/locate?lon=%.6f&lat=%.6f&k=1", X0 + 1 * U, Y0 + 1 * U);
    const Json anonymous[] = {body_json(send(port, "GET", "/stations"))["features"][0]["properties"],
                              body_json(send(port, "GET", "/stations/" + id))["properties"],
                              body_json(send(port, "GET", "/collections/stations/items"))["features"][0]["properties"],
                              body_json(send(port, "GET", "/collections/stations/items/" + id))["properties"],
                              body_json(send(port, "GET", locate))["stations"][0]};
    for (const Json& p : anonymous) {
      if (hidden) {
        EXPECT_TRUE(p["contact"].is_null()) << p.dump();
      } else {
        EXPECT_EQ(p["contact"], "0539-1234567") << p.dump();
      }
    }
    EXPECT_EQ(body_json(send(port, "GET", "/stations/" + id, viewer))["properties"]["contact"], "0539-1234567");
    EXPECT_EQ(body_json(send(port, "GET", locate, viewer))["stations"][0]["contact"], "0539-1234567");
  }
}

TEST_F(AuthTest, CommunityScopedDispatcher) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  const std::int64_t in_a = report(port, 1);  // community CA
  const std::int64_t in_b = report(port, 3);  // community CB
  const std::string scoped = create_token(store, "dispatcher", "--scope CA --name ca-dispatcher");
  const std::string planner_a = create_token(store, "planner", "--scope CA");
  const auto [rc, out] = run_cli("token create --role dispatcher --scope NOPE --store '" + backend_store(store) + "'");
  EXPECT_NE(rc, 0) << out;
  wait_for_reload();
  const Json list = body_json(send(port, "GET", "/incidents", scoped));
  ASSERT_EQ(list["features"].size(), 1u) << list.dump();
  EXPECT_EQ(list["features"][0]["id"], in_a);
  EXPECT_EQ(send(port, "GET", "/incidents/" + std::to_string(in_a), scoped).status, 200);
  expect_error(send(port, "GET", "/incidents/" + std::to_string(in_b), scoped), 404, "incident_not_found");
  expect_error(send(port, "POST", "/incidents/" + std::to_string(in_b) + "/transitions", scoped,
                    Json{{"action", "register"}}.dump()),
               404, "incident_not_found");
  EXPECT_EQ(send(port, "POST", "/incidents/" + std::to_string(in_a) + "/transitions", scoped,
                 Json{{"action", "register"}}.dump()).status, 200);
  expect_error(send(port, "GET", "/incidents?grid=CB", scoped), 403, "forbidden");
  // It dispatches inside its subtree only, by code or id; the history names
  // the token's person, whatever the body says.
  const std::string tr_a = "/incidents/" + std::to_string(in_a) + "/transitions";
  const std::int64_t gb_id = body_json(send(port, "GET", "/grids?code=GB"))["features"][0]["id"];
  expect_error(send(port, "POST", tr_a, scoped, Json{{"action", "dispatch"}, {"grid", "GB"}}.dump()), 403,
               "outside_scope", "grid");
  expect_error(send(port, "POST", tr_a, scoped, Json{{"action", "dispatch"}, {"grid", gb_id}}.dump()), 403,
               "outside_scope", "grid");
  const HttpResponse dispatched =
      send(port, "POST", tr_a, scoped, Json{{"action", "dispatch"}, {"grid", "GA"}, {"actor", "someone else"}}.dump());
  ASSERT_EQ(dispatched.status, 200) << dispatched.body;
  EXPECT_EQ(body_json(dispatched)["properties"]["assignment"]["grid"]["code"], "GA");
  const Json steps = body_json(send(port, "GET", "/incidents/" + std::to_string(in_a) + "/history", scoped))["events"];
  EXPECT_EQ(steps.back()["actor"], "ca-dispatcher");
  // The workload of its own subtree only.
  const Json load = body_json(send(port, "GET", "/workload", scoped));
  ASSERT_FALSE(load["grids"].empty()) << load.dump();
  for (const auto& g : load["grids"]) {
    EXPECT_TRUE(g["code"] == "CA" || g["code"] == "GA") << g.dump();
  }
  expect_error(send(port, "GET", "/workload?root=CB", scoped), 403, "forbidden");
  // A scoped admin's audit log: the writes on its subtree only.
  const std::string admin_a = create_token(store, "admin", "--scope CA --name ca-admin");
  for (int k = 0; k < 100 && send(port, "GET", "/audit?limit=1", admin_a).status != 200; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(send(port, "POST", "/incidents/" + std::to_string(in_b) + "/transitions", "",
                 Json{{"action", "register"}}.dump()).status,
            401) << "writes need a token now";
  const Json audit = body_json(send(port, "GET", "/audit?limit=1000", admin_a));
  ASSERT_FALSE(audit["entries"].empty());
  std::size_t on_a = 0;
  for (const auto& e : audit["entries"]) {
    EXPECT_EQ(e["target"]["kind"], "incident") << "no grid or station writes of the city: " << e.dump();
    EXPECT_NE(e["target"]["id"], std::to_string(in_b)) << e.dump();
    if (e["target"]["id"] == std::to_string(in_a)) ++on_a;
  }
  EXPECT_GE(on_a, 3u) << "its report, registration and dispatch: " << audit.dump();
  const std::string root = create_token(store, "admin", "--name root");
  for (int k = 0; k < 100 && send(port, "GET", "/audit?limit=1", root).status != 200; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the server sees new tokens within about a second
  }
  bool sees_b = false;
  const Json all = body_json(send(port, "GET", "/audit?limit=1000", root));
  for (const auto& e : all["entries"]) {
    sees_b = sees_b || e["target"]["id"] == std::to_string(in_b);
  }
  EXPECT_TRUE(sees_b) << "the city's admin sees every write: " << all.dump().substr(0, 3000);
  // a scoped planner edits inside its subtree only
  const Json ga = body_json(send(port, "GET", "/grids?code=GA", planner_a))["features"][0];
  const Json gb = body_json(send(port, "GET", "/grids?code=GB", planner_a))["features"][0];
  EXPECT_EQ(send(port, "PUT", "/grids/" + ga["id"].dump(), planner_a, rect("GA", "grid", "CA", 0, 0, 2, 2, "1").dump())
                .status, 200);
  expect_error(send(port, "PUT", "/grids/" + gb["id"].dump(), planner_a, rect("GB", "grid", "CB", 2, 0, 4, 2, "1").dump()),
               403, "forbidden");
  // ... and may not move a grid out of it, draft or not (its incidents would route outside).
  for (const char* target : {"?draft=true", ""}) {
    expect_error(send(port, "PUT", "/grids/" + ga["id"].dump() + target, planner_a,
                      rect("GA", "grid", "CB", 0, 0, 2, 2, "1").dump()),
                 403, "forbidden");
    expect_error(send(port, "PUT", "/grids/" + ga["id"].dump() + target, planner_a,
                      rect("GA", "grid", "", 0, 0, 2, 2, "1").dump()),
                 403, "forbidden");
  }
  EXPECT_EQ(body_json(send(port, "GET", "/grids?code=GA", planner_a))["features"][0]["properties"]["parent"], "CA");
  // Its own root keeps the parent it has (outside the scope) when edited.
  const Json ca = body_json(send(port, "GET", "/grids?code=CA", planner_a))["features"][0];
  EXPECT_EQ(send(port, "PUT", "/grids/" + ca["id"].dump(), planner_a, rect("CA", "community", "S1", 0, 0, 2, 2, "1").dump())
                .status,
            200);
}

TEST_F(AuthTest, EveryWriteIsAudited) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  const std::string admin = create_token(store, "admin", "--name auditor");
  const std::string planner = create_token(store, "planner", "--name planner-1");
  const std::string viewer = create_token(store, "viewer");
  wait_for_reload();
  const Json ga = body_json(send(port, "GET", "/grids?code=GA", planner))["features"][0];
  Json edit = rect("GA", "grid", "CA", 0, 0, 2, 2, k_worker_phone);
  edit["properties"]["name"] = "renamed by planner";
  ASSERT_EQ(send(port, "PUT", "/grids/" + ga["id"].dump(), planner, edit.dump()).status, 200);
  const std::int64_t id = report(port, 1, admin);
  EXPECT_EQ(send(port, "POST", "/incidents/999999/transitions", admin, Json{{"action", "register"}}.dump()).status, 404);
  expect_error(send(port, "GET", "/audit", viewer), 403, "forbidden");
  expect_error(send(port, "GET", "/audit"), 401, "unauthorized");
  const HttpResponse r = send(port, "GET", "/audit?limit=1000", admin);
  ASSERT_EQ(r.status, 200) << r.body;
  const Json entries = body_json(r)["entries"];
  // the city (before tokens, anonymous), the grid edit, the report, the failed transition
  ASSERT_EQ(entries.size(), 4u) << entries.dump(1);
  EXPECT_EQ(entries[0]["method"], "POST");
  EXPECT_EQ(entries[0]["path"], "/grids");
  EXPECT_EQ(entries[0]["status"], 201);
  const Json& put = entries[1];
  EXPECT_EQ(put["principal"]["name"], "planner-1");
  EXPECT_EQ(put["principal"]["role"], "planner");
  EXPECT_EQ(put["target"]["kind"], "grid");
  EXPECT_EQ(put["target"]["id"], ga["id"].dump());
  EXPECT_EQ(put["status"], 200);
  EXPECT_EQ(put["before"]["properties"]["name"], ga["properties"]["name"]);
  EXPECT_EQ(put["after"]["properties"]["name"], "renamed by planner");
  EXPECT_FALSE(put["at"].get<std::string>().empty());
  EXPECT_EQ(entries[2]["target"]["kind"], "incident");
  EXPECT_EQ(entries[2]["target"]["id"], std::to_string(id));
  EXPECT_EQ(entries[2]["after"]["id"], id);
  EXPECT_EQ(entries[3]["status"], 404);
  // paging
  const Json page = body_json(send(port, "GET", "/audit?after=" + entries[1]["id"].dump() + "&limit=1", admin));
  ASSERT_EQ(page["entries"].size(), 1u);
  EXPECT_EQ(page["entries"][0]["id"], entries[2]["id"]);
  // durable: survives kill -9
  server.kill9();
  ServerProcess again(store);
  const Json after_crash = body_json(send(again.port(), "GET", "/audit?limit=1000", admin))["entries"];
  EXPECT_EQ(after_crash.size(), 4u) << after_crash.dump(1);
}

/// The tile at zoom z holding a lon/lat position.
spatial::TileId tile_at(int z, double lon, double lat) {
  const double n = std::ldexp(1.0, z);
  const double rad = lat * M_PI / 180.0;
  return spatial::TileId{z, static_cast<int>(std::floor((lon + 180.0) / 360.0 * n)),
                         static_cast<int>(std::floor((1.0 - std::asinh(std::tan(rad)) / M_PI) / 2.0 * n))};
}

std::string tile_target(const std::string& source, const spatial::TileId& t) {
  return "/tiles/" + source + "/" + std::to_string(t.z) + "/" + std::to_string(t.x) + "/" + std::to_string(t.y) + ".mvt";
}

/// Incident ids in an incidents tile (individual points) or the sum of the
/// clusters' counts (aggregated tiles).
std::set<std::string> tile_incident_ids(const HttpResponse& r, const spatial::TileId& t) {
  EXPECT_EQ(r.status, 200) << r.body;
  std::set<std::string> ids;
  for (const auto& f : decode_mvt(r.body, t)["incidents"]) {
    if (auto it = f.find("id"); it != f.end()) ids.insert(it->second);
  }
  return ids;
}
std::int64_t tile_cluster_count(const HttpResponse& r, const spatial::TileId& t) {
  EXPECT_EQ(r.status, 200) << r.body;
  std::int64_t n = 0;
  for (const auto& f : decode_mvt(r.body, t)["incidents"]) {
    if (auto it = f.find("count"); it != f.end()) n += std::stoll(it->second);
  }
  return n;
}

TEST_F(AuthTest, ScopeHoldsOnEveryIncidentEndpoint) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  const std::int64_t in_a = report(port, 1);  // community CA
  const std::int64_t in_b = report(port, 3);  // community CB
  const std::string admin = create_token(store, "admin");
  const std::string scoped = create_token(store, "dispatcher", "--scope CA");
  wait_for_reload();
  const std::string a = std::to_string(in_a), b = std::to_string(in_b);

  // an attachment on each incident (uploaded by the admin)
  std::map<std::int64_t, std::string> attachment;
  for (const std::int64_t id : {in_a, in_b}) {
    const HttpResponse up = send(port, "POST", "/incidents/" + std::to_string(id) + "/attachments?filename=p.png", admin,
                                 k_tiny_png, "image/png");
    ASSERT_EQ(up.status, 201) << up.body;
    attachment[id] = "/attachments/" + body_json(up)["id"].dump();
  }
  EXPECT_EQ(send(port, "GET", attachment[in_a], scoped).status, 200);
  expect_error(send(port, "GET", attachment[in_b], scoped), 404, "attachment_not_found");
  EXPECT_EQ(send(port, "GET", attachment[in_b], admin).status, 200);

  // OGC API - Features
  const Json items = body_json(send(port, "GET", "/collections/incidents/items", scoped));
  ASSERT_EQ(items["features"].size(), 1u) << items.dump();
  EXPECT_EQ(items["features"][0]["id"], in_a);
  EXPECT_EQ(items["numberMatched"], 1);
  EXPECT_EQ(body_json(send(port, "GET", "/collections/incidents/items", admin))["features"].size(), 2u);
  EXPECT_EQ(send(port, "GET", "/collections/incidents/items/" + a, scoped).status, 200);
  EXPECT_EQ(send(port, "GET", "/collections/incidents/items/" + b, scoped).status, 404);
  EXPECT_EQ(send(port, "GET", "/collections/incidents/items/" + b, admin).status, 200);
  EXPECT_EQ(send(port, "GET", "/collections/incidents/items?grid=CB", scoped).status, 403);

  // Open311
  const Json requests = body_json(send(port, "GET", "/open311/v2/requests.json", scoped));
  ASSERT_EQ(requests.size(), 1u) << requests.dump();
  EXPECT_EQ(requests[0]["service_request_id"], a);
  EXPECT_EQ(body_json(send(port, "GET", "/open311/v2/requests.json?service_request_id=" + a + "," + b, scoped)).size(), 1u);
  EXPECT_EQ(body_json(send(port, "GET", "/open311/v2/requests.json?service_request_id=" + a + "," + b, admin)).size(), 2u);
  EXPECT_EQ(send(port, "GET", "/open311/v2/requests/" + a + ".json", scoped).status, 200);
  EXPECT_EQ(send(port, "GET", "/open311/v2/requests/" + b + ".json", scoped).status, 404);

  // vector tiles: points at zoom 14, clusters below; a scoped token's tiles are its own
  const spatial::TileId ta = tile_at(14, X0 + 1 * U, Y0 + 1 * U), tb = tile_at(14, X0 + 3 * U, Y0 + 1 * U);
  const HttpResponse open_b = send(port, "GET", tile_target("incidents", tb), admin);
  EXPECT_EQ(tile_incident_ids(open_b, tb).count(b), 1u);
  EXPECT_EQ(tile_incident_ids(send(port, "GET", tile_target("incidents", tb)), tb).count(b), 1u);  // anonymous read
  const HttpResponse scoped_b = send(port, "GET", tile_target("incidents", tb), scoped);
  EXPECT_EQ(tile_incident_ids(scoped_b, tb).count(b), 0u);
  EXPECT_NE(scoped_b.header("Cache-Control").find("private"), std::string::npos);
  EXPECT_EQ(tile_incident_ids(send(port, "GET", tile_target("gridd", ta), scoped), ta).count(a), 1u);
  // and the shared cache still holds the whole city for the others
  EXPECT_EQ(tile_incident_ids(send(port, "GET", tile_target("incidents", tb), admin), tb).count(b), 1u);
  const spatial::TileId low = tile_at(9, X0 + 2 * U, Y0 + 1 * U);
  EXPECT_EQ(tile_cluster_count(send(port, "GET", tile_target("incidents", low), admin), low), 2);
  EXPECT_EQ(tile_cluster_count(send(port, "GET", tile_target("incidents", low), scoped), low), 1);

  // answers depend on the token: caches between are told so
  EXPECT_NE(send(port, "GET", "/grids", admin).header("Vary").find("Authorization"), std::string::npos);
}

TEST_F(AuthTest, TheFeedTakesTheTokenAsAQueryParameter) {
  {
    ServerProcess setup(store);
    make_city(setup.port());
  }
  const std::string scoped = create_token(store, "dispatcher", "--scope CA");
  ServerProcess server(store, {"--anonymous", "none"});
  const unsigned short port = server.port();
  auto head_of = [](RawSocket& s) {
    std::string got;
    for (int i = 0; i < 20 && got.find("\r\n\r\n") == std::string::npos; ++i) {
      const std::string chunk = s.receive_some();
      if (chunk.empty()) break;
      got += chunk;
    }
    return got;
  };
  {
    RawSocket anon(port);
    ASSERT_TRUE(anon.send_all("GET /incidents/feed HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(raw_status(head_of(anon)), 401);
  }
  {
    RawSocket bad(port);
    ASSERT_TRUE(bad.send_all("GET /incidents/feed?access_token=gridd_wrong HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(raw_status(head_of(bad)), 401);
  }
  RawSocket feed(port);
  ASSERT_TRUE(feed.send_all("GET /incidents/feed?access_token=" + scoped + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string stream = head_of(feed);
  ASSERT_EQ(raw_status(stream), 200) << stream;
  EXPECT_NE(stream.find("text/event-stream"), std::string::npos);
  const std::string admin = create_token(store, "admin", "--name feeder");
  wait_for_reload();
  const std::int64_t b = report(port, 3, admin);  // community CB: not for the scoped feed
  const std::int64_t a = report(port, 1, admin);  // community CA
  const auto event_of = [](std::int64_t id) { return "\"incident_id\":" + std::to_string(id) + ","; };
  for (int i = 0; i < 20 && stream.find(event_of(a)) == std::string::npos; ++i) {
    const std::string chunk = feed.receive_some();
    if (chunk.empty()) break;
    stream += chunk;
  }
  EXPECT_NE(stream.find(event_of(a)), std::string::npos) << stream;
  EXPECT_EQ(stream.find(event_of(b)), std::string::npos) << stream;
}


}  // namespace
}  // namespace gridd::http_test
