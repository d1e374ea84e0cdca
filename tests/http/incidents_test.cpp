// Incidents end to end over real HTTP: intake and routing, the whole loop
// and its side paths, colours at a chosen instant, paging while incidents
// arrive, the live feed (Server-Sent Events), Open311, attachments,
// statistics and bad input.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "gridd/core/time.hpp"
#include "http/brute_force.hpp"
#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {


Json with_people(Json feature, const std::string& worker, const std::string& phone) {
  feature["properties"]["people"] = Json::array({Json{{"name", worker}, {"role", "grid_worker"}, {"phone", phone}},
                                                 Json{{"name", "head of " + worker}, {"role", "grid_head"}, {"phone", "100"}}});
  return feature;
}

/// A small city: district D(0..4 x 0..2) > street S > community C1 (0..2)
/// with grids G1 (0..1) and G2 (1..2), community C2 (2..4) with grid G3.
/// Coordinates are offsets from (116.50, 35.40) in hundredths of a degree.
constexpr double X0 = 116.50, Y0 = 35.40, U = 0.01;

void make_city(HttpClient& c) {
  auto rect = [](const std::string& code, const std::string& level, const std::string& parent, double a, double b,
                 double cc, double d) { return grid_feature(code, level, parent, X0 + a * U, Y0 + b * U, X0 + cc * U, Y0 + d * U); };
  post_created(c, "/grids",
               collection({rect("370811", "district", "", 0, 0, 4, 2), rect("370811001", "street", "370811", 0, 0, 4, 2),
                           with_people(rect("370811001001", "community", "370811001", 0, 0, 2, 2), "secretary C1", "200"),
                           with_people(rect("370811001002", "community", "370811001", 2, 0, 4, 2), "secretary C2", "300"),
                           with_people(rect("370811001001001", "grid", "370811001001", 0, 0, 1, 2), "worker G1", "201"),
                           with_people(rect("370811001001002", "grid", "370811001001", 1, 0, 2, 2), "worker G2", "202"),
                           with_people(rect("370811001002001", "grid", "370811001002", 2, 0, 4, 2), "worker G3", "301")}));
}

Json report(HttpClient& c, double dx, double dy, const std::string& category = "property_dispute",
            const Json& extra = Json::object()) {
  Json body{{"category", category}, {"description", "case at " + std::to_string(dx) + "," + std::to_string(dy)},
            {"lon", X0 + dx * U}, {"lat", Y0 + dy * U}, {"channel", "hotline"},
            {"reporter", {{"name", "resident"}, {"phone", "13800000000"}}}};
  for (const auto& [k, v] : extra.items()) body[k] = v;
  const HttpResponse r = c.post("/incidents", body.dump());
  EXPECT_EQ(r.status, 201) << r.body;
  return body_json(r);
}

HttpResponse act(HttpClient& c, std::int64_t id, const Json& body) {
  return c.post("/incidents/" + std::to_string(id) + "/transitions", body.dump());
}

Json act_ok(HttpClient& c, std::int64_t id, const Json& body) {
  const HttpResponse r = act(c, id, body);
  EXPECT_EQ(r.status, 200) << body.dump() << " -> " << r.body;
  return body_json(r);
}

std::string prop(const Json& f, const char* key) { return f["properties"].value(key, std::string()); }

std::string at_param(TimePoint t) { return format_iso8601(t); }

class Incidents : public ::testing::Test {
 protected:
  void SetUp() override {
    server = std::make_unique<ServerProcess>(dir.file("city.gpkg"));
    client = std::make_unique<HttpClient>(server->port());
    make_city(*client);
  }
  TempDir dir;
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<HttpClient> client;
};

// ---------------------------------------------------------------------------
// Intake and routing
// ---------------------------------------------------------------------------

TEST_F(Incidents, IntakeRoutesToTheFinestGridAndItsWorker) {
  const Json f = report(*client, 1.5, 1.0);
  const Json& p = f["properties"];
  EXPECT_EQ(p["status"], "reported");
  EXPECT_EQ(p["version"], 1);
  EXPECT_EQ(p["assignment"]["grid"]["code"], "370811001001002");
  EXPECT_EQ(p["assignment"]["assignee"]["name"], "worker G2");
  EXPECT_EQ(p["assignment"]["assignee"]["phone"], "202");
  EXPECT_EQ(p["assignment"]["covered"], true);
  EXPECT_EQ(p["flagged"], false);
  EXPECT_EQ(p["assignment"]["handler"], "housing_authority");
  ASSERT_EQ(p["assignment"]["chain"].size(), 4u);
  EXPECT_EQ(p["assignment"]["chain"][0]["level"], "district");
  EXPECT_EQ(p["assignment"]["chain"][3]["level"], "grid");
  EXPECT_EQ(p["colour"], "none");  // the clock starts at dispatch
  EXPECT_EQ(p["allowed_actions"], Json::array({"register", "reject"}));
  EXPECT_EQ(p["reporter"]["phone"], "13800000000");

  // The same point read back.
  const HttpResponse g = client->get("/incidents/" + std::to_string(f["id"].get<std::int64_t>()));
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(body_json(g)["properties"]["assignment"], p["assignment"]);
  EXPECT_FALSE(g.header("ETag").empty());
}

TEST_F(Incidents, APhoneReportInGcj02IsRoutedByItsTrueWgs84Position) {
  // A WGS84 point well inside G3, sent as GCJ-02 the way a phone map gives it.
  // Close to G3's west edge: the GCJ-02 coordinates (offset by a few hundred
  // metres) lie in G3 too, but the true position lies in G2... choose it so:
  // the WGS84 point is in G2 (x < 2U from X0) while its GCJ-02 form is east
  // of the G2/G3 boundary.
  double glon = 0, glat = 0;
  wgs84_to_gcj02(X0 + 1.9 * U, Y0 + 1.0 * U, glon, glat);
  ASSERT_GT(glon, X0 + 2.0 * U) << "the GCJ-02 offset here should push the point across the boundary";
  const double lon = X0 + 1.9 * U;
  const Json body{{"category", "roof_leak"}, {"x", glon}, {"y", glat}, {"crs", "gcj02"}};
  const HttpResponse r = client->post("/incidents", body.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const Json j = body_json(r);
  EXPECT_EQ(j["properties"]["reported_position"]["crs"], "gcj02");
  const double wlon = j["geometry"]["coordinates"][0].get<double>();
  EXPECT_NEAR(wlon, lon, 1e-6);  // the GCJ offset was removed exactly
  EXPECT_EQ(j["properties"]["assignment"]["grid"]["code"], "370811001001002");
}

TEST_F(Incidents, APointOutsideEveryGridGoesToTheNearestAndIsFlagged) {
  const Json f = report(*client, 4.5, 1.0);  // 0.005 deg east of G3
  const Json& p = f["properties"];
  EXPECT_EQ(p["assignment"]["covered"], false);
  EXPECT_EQ(p["flagged"], true);
  EXPECT_EQ(p["assignment"]["grid"]["code"], "370811001002001");
  const double d = p["assignment"]["distance_m"].get<double>();
  EXPECT_GT(d, 400);
  EXPECT_LT(d, 500);  // 0.005 deg of longitude at 35.41 N is about 454 m
  // The flagged ones can be listed.
  const HttpResponse l = client->get("/incidents?covered=false");
  ASSERT_EQ(l.status, 200);
  EXPECT_EQ(body_json(l)["features"].size(), 1u);
}

TEST_F(Incidents, ABatchIsAllOrNothing) {
  const Json good{{"category", "roof_leak"}, {"lon", X0 + 0.5 * U}, {"lat", Y0 + 0.5 * U}};
  const Json bad{{"category", "no_such_category"}, {"lon", X0 + 0.5 * U}, {"lat", Y0 + 0.5 * U}};
  expect_error(client->post("/incidents", Json{{"items", Json::array({good, bad})}}.dump()), 400, "unknown_category",
               "items/1/category");
  EXPECT_EQ(body_json(client->get("/incidents"))["features"].size(), 0u);
  const HttpResponse ok = client->post("/incidents", Json{{"items", Json::array({good, good, good})}}.dump());
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(body_json(ok)["features"].size(), 3u);
  EXPECT_EQ(body_json(client->get("/incidents"))["features"].size(), 3u);
}

// ---------------------------------------------------------------------------
// The loop, side paths, colours
// ---------------------------------------------------------------------------

TEST_F(Incidents, TheWholeLoopWithHistoryDeadlineAndFollowUp) {
  const auto id = report(*client, 0.5, 0.5)["id"].get<std::int64_t>();
  EXPECT_EQ(prop(act_ok(*client, id, {{"action", "register"}, {"actor", "hotline-7"}}), "status"), "registered");
  const Json d = act_ok(*client, id, {{"action", "dispatch"}, {"actor", "dispatcher"}});
  EXPECT_EQ(prop(d, "status"), "dispatched");
  EXPECT_EQ(prop(d, "colour"), "on_track");
  const TimePoint dispatched = parse_time(prop(d, "dispatched_at"), "dispatched_at");
  const TimePoint due = parse_time(prop(d, "due_at"), "due_at");
  EXPECT_EQ(due - dispatched, std::chrono::hours(168));  // property_dispute: 168 h

  EXPECT_EQ(prop(act_ok(*client, id, {{"action", "accept"}, {"actor", "worker G1"}}), "status"), "accepted");
  // Resolving needs the handler's feedback.
  expect_error(act(*client, id, {{"action", "resolve"}}), 400, "missing_note", "note");
  const Json r = act_ok(*client, id, {{"action", "resolve"}, {"note", "mediated, both sides signed"}});
  EXPECT_EQ(prop(r, "status"), "resolved");
  EXPECT_EQ(prop(r, "colour"), "none");  // the clock stopped
  EXPECT_FALSE(r["properties"]["resolved_at"].is_null());
  EXPECT_EQ(prop(act_ok(*client, id, {{"action", "verify"}}), "status"), "verified");
  const Json closed = act_ok(*client, id, {{"action", "close"}, {"satisfaction", 4}});
  EXPECT_EQ(prop(closed, "status"), "closed");
  EXPECT_EQ(closed["properties"]["open"], false);
  const Json fu = act_ok(*client, id, {{"action", "follow_up"}, {"satisfaction", 5}, {"note", "visited"}});
  EXPECT_EQ(prop(fu, "status"), "closed");
  EXPECT_EQ(fu["properties"]["satisfaction"], 5);
  EXPECT_EQ(fu["properties"]["version"], 8);

  const HttpResponse h = client->get("/incidents/" + std::to_string(id) + "/history");
  ASSERT_EQ(h.status, 200) << h.body;
  const Json events = body_json(h)["events"];
  ASSERT_EQ(events.size(), 8u);
  const std::vector<std::string> actions = {"report", "register", "dispatch", "accept", "resolve", "verify", "close", "follow_up"};
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["action"], actions[i]);
    EXPECT_EQ(events[i]["version"], static_cast<int>(i + 1));
    if (i) {
      EXPECT_GT(events[i]["id"].get<std::int64_t>(), events[i - 1]["id"].get<std::int64_t>());
    }
  }
  EXPECT_EQ(events[1]["actor"], "hotline-7");
  EXPECT_EQ(events[4]["note"], "mediated, both sides signed");
  EXPECT_EQ(events[6]["data"]["satisfaction"], 4);
  EXPECT_EQ(events[0]["from"], nullptr);
  EXPECT_EQ(events[2]["from"], "registered");
  EXPECT_EQ(events[2]["to"], "dispatched");
}

TEST_F(Incidents, ColoursFollowTheClockAndFilterTheList) {
  // property_dispute: 168 h. Dispatch now; ask for the colours at chosen instants.
  const auto a = report(*client, 0.5, 0.5)["id"].get<std::int64_t>();
  const auto b = report(*client, 1.5, 0.5, "lost_person")["id"].get<std::int64_t>();  // 2 h
  const auto c = report(*client, 3.0, 0.5)["id"].get<std::int64_t>();                 // never dispatched
  for (auto id : {a, b}) {
    act_ok(*client, id, {{"action", "register"}});
    act_ok(*client, id, {{"action", "dispatch"}});
  }
  const Json fa = body_json(client->get("/incidents/" + std::to_string(a)));
  const TimePoint d = parse_time(prop(fa, "dispatched_at"), "d");
  const TimePoint due = parse_time(prop(fa, "due_at"), "due");

  auto colour_at = [&](std::int64_t id, TimePoint t) {
    const HttpResponse r = client->get("/incidents/" + std::to_string(id) + "?at=" + at_param(t));
    EXPECT_EQ(r.status, 200) << r.body;
    return prop(body_json(r), "colour");
  };
  EXPECT_EQ(colour_at(a, d + std::chrono::hours(1)), "on_track");
  EXPECT_EQ(colour_at(a, d + std::chrono::hours(127)), "near_due");  // past 3/4 of 168 h, due days later
  // Shortly before the deadline, on the deadline's own local day (China
  // time): a minute before, or half the time since local midnight when the
  // test runs in the first minute after it (then due - 1 min is yesterday and
  // rightly not "due today").
  const auto since_midnight = std::chrono::duration_cast<std::chrono::milliseconds>(
      (due + std::chrono::hours(8)).time_since_epoch() % std::chrono::hours(24));
  if (since_midnight.count() > 0) {
    const auto before = std::min<std::chrono::milliseconds>(std::chrono::minutes(1), since_midnight / 2);
    EXPECT_EQ(colour_at(a, due - before), "due_today");
  } else {  // a deadline at exactly 00:00:00.000 falls due at the end of the day before
    EXPECT_EQ(colour_at(a, due - std::chrono::minutes(1)), "near_due");
  }
  EXPECT_EQ(colour_at(a, due + std::chrono::minutes(1)), "overdue");
  EXPECT_EQ(colour_at(c, due + std::chrono::hours(1000)), "none");

  // At d + 3 h: b (2 h) is overdue, a on track, c none.
  const std::string at = at_param(d + std::chrono::hours(3));
  auto ids_of = [&](const std::string& query) {
    const HttpResponse r = client->get("/incidents?" + query + "&at=" + at);
    EXPECT_EQ(r.status, 200) << r.body;
    std::set<std::int64_t> ids;
    const Json j = body_json(r);  // keep the document alive while iterating
    for (const auto& f : j["features"]) ids.insert(f["id"].get<std::int64_t>());
    return ids;
  };
  EXPECT_EQ(ids_of("colour=overdue"), (std::set<std::int64_t>{b}));
  EXPECT_EQ(ids_of("colour=on_track"), (std::set<std::int64_t>{a}));
  EXPECT_EQ(ids_of("colour=none"), (std::set<std::int64_t>{c}));
  EXPECT_EQ(ids_of("colour=overdue,on_track"), (std::set<std::int64_t>{a, b}));
  // Sorted by urgency: overdue first, then on track, then none.
  const Json sorted = body_json(client->get("/incidents?sort=urgency&at=" + at))["features"];
  ASSERT_EQ(sorted.size(), 3u);
  EXPECT_EQ(sorted[0]["id"], b);
  EXPECT_EQ(sorted[1]["id"], a);
  EXPECT_EQ(sorted[2]["id"], c);
  EXPECT_EQ(sorted[0]["properties"]["colour"], "overdue");
}

TEST_F(Incidents, OgcItemsTakeTheSameFiltersAsTheListing) {
  // Covered and flagged (outside every grid), on track (dispatched) and without a colour (not dispatched).
  const auto a = report(*client, 0.5, 0.5)["id"].get<std::int64_t>();
  const auto b = report(*client, 3.0, 0.5, "roof_leak")["id"].get<std::int64_t>();
  const auto c = report(*client, 4.5, 1.0)["id"].get<std::int64_t>();
  const auto d = report(*client, 4.6, 1.5, "roof_leak")["id"].get<std::int64_t>();
  for (auto id : {a, c}) {
    act_ok(*client, id, {{"action", "register"}});
    act_ok(*client, id, {{"action", "dispatch"}});
  }
  auto ids_of = [&](const std::string& target) {
    const HttpResponse r = client->get(target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    std::set<std::int64_t> ids;
    const Json j = body_json(r);
    for (const auto& f : j.value("features", Json::array())) ids.insert(f["id"].get<std::int64_t>());
    return ids;
  };
  using Ids = std::set<std::int64_t>;
  EXPECT_EQ(ids_of("/collections/incidents/items?covered=0"), (Ids{c, d}));
  EXPECT_EQ(ids_of("/collections/incidents/items?covered=true"), (Ids{a, b}));
  EXPECT_EQ(ids_of("/collections/incidents/items?colour=on_track"), (Ids{a, c}));
  EXPECT_EQ(ids_of("/collections/incidents/items?color=none&covered=1"), (Ids{b}));
  for (const std::string query : {"covered=0", "covered=false", "covered=1", "covered=true", "colour=on_track",
                                  "color=none", "colour=on_track&covered=0", "channel=hotline", "status=dispatched",
                                  "category=roof_leak&covered=0", "assignee=worker%20G1", "from=2000-01-01"}) {
    EXPECT_EQ(ids_of("/collections/incidents/items?" + query), ids_of("/incidents?" + query)) << query;
  }
  // A bad value is a 400 naming the parameter, on both.
  const std::tuple<const char*, const char*, const char*> bad[] = {
      {"covered=maybe", "invalid_boolean", "covered"}, {"colour=purple", "invalid_colour", "colour"},
      {"color=purple", "invalid_colour", "color"},     {"status=lost", "invalid_status", "status"},
      {"from=yesterday", "invalid_time", "from"},      {"from=2026-02-01&to=2026-01-01", "invalid_time_range", "to"}};
  for (const auto& [query, code, field] : bad) {
    expect_error(client->get(std::string("/incidents?") + query), 400, code, std::string(field));
    expect_error(client->get(std::string("/collections/incidents/items?") + query), 400, code, std::string(field));
  }
}

TEST_F(Incidents, SidePathsRejectReturnRedispatchEscalateSendBackReopen) {
  // Rejected at registration needs a reason and ends the case.
  const auto r1 = report(*client, 0.5, 0.5)["id"].get<std::int64_t>();
  expect_error(act(*client, r1, {{"action", "reject"}}), 400, "missing_reason", "reason");
  const Json rej = act_ok(*client, r1, {{"action", "reject"}, {"reason", "duplicate"}});
  EXPECT_EQ(prop(rej, "status"), "rejected");
  EXPECT_TRUE(rej["properties"]["allowed_actions"].empty());

  // Returned by the handler (wrong grid) and re-dispatched to another grid.
  const auto r2 = report(*client, 0.5, 0.5)["id"].get<std::int64_t>();
  act_ok(*client, r2, {{"action", "register"}});
  act_ok(*client, r2, {{"action", "dispatch"}});
  EXPECT_EQ(prop(act_ok(*client, r2, {{"action", "return"}, {"reason", "wrong_grid"}}), "status"), "returned");
  const Json moved = act_ok(*client, r2, {{"action", "dispatch"}, {"grid", "370811001002001"}});
  EXPECT_EQ(prop(moved, "status"), "dispatched");
  EXPECT_EQ(moved["properties"]["assignment"]["grid"]["code"], "370811001002001");
  EXPECT_EQ(moved["properties"]["assignment"]["assignee"]["name"], "worker G3");
  const Json hist = body_json(client->get("/incidents/" + std::to_string(r2) + "/history"))["events"];
  EXPECT_TRUE(hist.back()["data"].contains("previous_grid_id"));
  // Only dispatch takes a grid; an unknown grid is a 404 naming it.
  expect_error(act(*client, r2, {{"action", "dispatch"}, {"grid", "999"}}), 409, "illegal_transition");
  act_ok(*client, r2, {{"action", "return"}});
  expect_error(act(*client, r2, {{"action", "dispatch"}, {"grid", "nope"}}), 404, "grid_not_found", "grid");

  // Escalated to the parent level: the community takes it.
  const Json esc = act_ok(*client, r2, {{"action", "escalate"}, {"note", "needs the community"}});
  EXPECT_EQ(prop(esc, "status"), "escalated");
  EXPECT_EQ(esc["properties"]["assignment"]["grid"]["code"], "370811001002");
  EXPECT_EQ(esc["properties"]["assignment"]["assignee"]["name"], "secretary C2");
  EXPECT_EQ(esc["properties"]["assignment"]["escalation_level"], 1);
  act_ok(*client, r2, {{"action", "dispatch"}});
  act_ok(*client, r2, {{"action", "accept"}});
  act_ok(*client, r2, {{"action", "resolve"}, {"note", "done"}});
  // Failed verification sends it back to the handler.
  const Json back = act_ok(*client, r2, {{"action", "send_back"}, {"note", "not fixed"}});
  EXPECT_EQ(prop(back, "status"), "accepted");
  EXPECT_TRUE(back["properties"]["resolved_at"].is_null());
  act_ok(*client, r2, {{"action", "resolve"}, {"note", "fixed now"}});
  act_ok(*client, r2, {{"action", "verify"}});
  act_ok(*client, r2, {{"action", "close"}, {"satisfaction", 1}});
  // Unsatisfied follow-up: reopened, then dispatched again.
  const Json re = act_ok(*client, r2, {{"action", "reopen"}, {"note", "still leaking"}});
  EXPECT_EQ(prop(re, "status"), "reopened");
  EXPECT_EQ(re["properties"]["open"], true);
  EXPECT_EQ(prop(act_ok(*client, r2, {{"action", "dispatch"}}), "status"), "dispatched");
}

TEST_F(Incidents, IllegalOrStaleTransitionsAre409AndChangeNothing) {
  const auto id = report(*client, 0.5, 0.5)["id"].get<std::int64_t>();
  act_ok(*client, id, {{"action", "register"}});
  const std::string path = "/incidents/" + std::to_string(id);
  const Json before = body_json(client->get(path));
  expect_error(act(*client, id, {{"action", "close"}}), 409, "illegal_transition", "action");
  expect_error(act(*client, id, {{"action", "dispatch"}, {"expected_status", "reported"}}), 409, "stale_state",
               "expected_status");
  expect_error(act(*client, id, {{"action", "dispatch"}, {"version", 1}}), 409, "stale_version", "version");
  // The ETag in If-Match: stale is refused, current is accepted.
  {
    RawSocket s(server->port());
    const std::string body = Json{{"action", "dispatch"}}.dump();
    ASSERT_TRUE(s.send_all("POST " + path + "/transitions HTTP/1.1\r\nHost: x\r\nIf-Match: \"" + std::to_string(id) +
                           "-1\"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body));
    const std::string res = s.read_all();
    EXPECT_EQ(raw_status(res), 409) << res;
    EXPECT_NE(res.find("stale_version"), std::string::npos) << res;
  }
  expect_error(act(*client, id, {{"action", "fly"}}), 400, "invalid_action", "action");
  expect_error(act(*client, id, {{"note", "no action"}}), 400, "missing_action", "action");
  expect_error(client->post(path + "/transitions", "{not json"), 400, "malformed_json");
  expect_error(act(*client, 999999, {{"action", "register"}}), 404, "incident_not_found");
  const Json after = body_json(client->get(path));
  EXPECT_EQ(after["properties"]["version"], before["properties"]["version"]);
  EXPECT_EQ(after["properties"]["status"], "registered");
  EXPECT_EQ(body_json(client->get(path + "/history"))["events"].size(), 2u);
  {
    RawSocket s(server->port());
    const std::string body = Json{{"action", "dispatch"}}.dump();
    ASSERT_TRUE(s.send_all("POST " + path + "/transitions HTTP/1.1\r\nHost: x\r\nIf-Match: \"" + std::to_string(id) +
                           "-2\"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body));
    EXPECT_EQ(raw_status(s.read_all()), 200);
  }
}

// ---------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------

TEST_F(Incidents, FiltersBySubtreeStatusCategoryBboxAndTime) {
  report(*client, 0.5, 0.5);                  // G1
  report(*client, 1.5, 0.5, "roof_leak");     // G2
  const auto g3 = report(*client, 3.0, 0.5)["id"].get<std::int64_t>();  // G3
  act_ok(*client, g3, {{"action", "register"}});
  auto count = [&](const std::string& q) {
    const HttpResponse r = client->get("/incidents?" + q);
    EXPECT_EQ(r.status, 200) << q << ": " << r.body;
    return body_json(r)["features"].size();
  };
  EXPECT_EQ(count("grid=370811001001"), 2u);  // community C1: G1 and G2
  EXPECT_EQ(count("grid=370811001002001"), 1u);
  EXPECT_EQ(count("grid=370811"), 3u);
  EXPECT_EQ(count("status=registered"), 1u);
  EXPECT_EQ(count("status=open"), 3u);
  EXPECT_EQ(count("category=roof_leak"), 1u);
  EXPECT_EQ(count("category=roof_leak,property_dispute"), 3u);
  EXPECT_EQ(count("channel=hotline"), 3u);
  EXPECT_EQ(count("assignee=worker%20G3"), 1u);
  EXPECT_EQ(count("bbox=" + std::to_string(X0) + "," + std::to_string(Y0) + "," + std::to_string(X0 + 1.0 * U) + "," +
                  std::to_string(Y0 + 2 * U)),
            1u);
  EXPECT_EQ(count("from=2000-01-01&to=2100-01-01"), 3u);
  EXPECT_EQ(count("from=2100-01-01"), 0u);
  const Json counted = body_json(client->get("/incidents?count=true&limit=1"));
  EXPECT_EQ(counted["numberMatched"], 3);
  EXPECT_EQ(counted["features"].size(), 1u);
}

TEST_F(Incidents, PagingStaysCorrectWhileIncidentsArrive) {
  const Json one{{"category", "roof_leak"}, {"lon", X0 + 0.5 * U}, {"lat", Y0 + 0.5 * U}};
  Json batch{{"items", Json::array()}};
  for (int i = 0; i < 90; ++i) batch["items"].push_back(one);
  ASSERT_EQ(client->post("/incidents", batch.dump()).status, 201);
  std::set<std::int64_t> before;
  for (const auto& f : list_all(*client, "/incidents", 1000)) before.insert(f["id"].get<std::int64_t>());
  ASSERT_EQ(before.size(), 90u);

  std::atomic<bool> stop{false};
  std::atomic<int> added{0};
  std::thread writer([&] {
    HttpClient w(server->port());
    while (!stop) {
      if (w.post("/incidents", one.dump()).status == 201) ++added;
    }
  });
  // Newest first: the pages hold exactly the incidents that existed when the
  // walk began (new ones sort before the cursor), each once.
  std::vector<std::int64_t> seen;
  std::string cursor;
  for (int pages = 0; pages < 100; ++pages) {
    const HttpResponse r = client->get("/incidents?limit=7" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    const Json j = body_json(r);
    const auto first_page_newest = seen.empty() && !j["features"].empty();
    for (const auto& f : j["features"]) seen.push_back(f["id"].get<std::int64_t>());
    if (first_page_newest) {
      // The first page may already include a concurrent insert; drop those.
      seen.erase(std::remove_if(seen.begin(), seen.end(), [&](std::int64_t id) { return !before.count(id); }),
                 seen.end());
    }
    if (j["next_cursor"].is_null()) break;
    cursor = j["next_cursor"].get<std::string>();
    // Make sure writes land in the middle of the walk, however busy the machine.
    for (int wait = 0; pages == 0 && added.load() == 0 && wait < 1000; ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  stop = true;
  writer.join();
  EXPECT_GT(added.load(), 0);
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
  EXPECT_EQ(std::set<std::int64_t>(seen.begin(), seen.end()), before);
  EXPECT_EQ(seen.size(), before.size());

  // Oldest first picks up the new ones at the end, each once.
  const auto all = list_all(*client, "/incidents?sort=oldest", 13);
  std::set<std::int64_t> ids;
  for (const auto& f : all) ids.insert(f["id"].get<std::int64_t>());
  EXPECT_EQ(ids.size(), all.size());
  EXPECT_EQ(all.size(), 90u + static_cast<std::size_t>(added.load()));
  // And every order pages without loss.
  for (const char* sort : {"due", "urgency"}) {
    const auto sorted = list_all(*client, std::string("/incidents?sort=") + sort, 11);
    std::set<std::int64_t> s;
    for (const auto& f : sorted) s.insert(f["id"].get<std::int64_t>());
    EXPECT_EQ(s, ids) << sort;
  }
}

// ---------------------------------------------------------------------------
// Live feed
// ---------------------------------------------------------------------------

/// A Server-Sent Events client over a raw socket.
class SseClient {
 public:
  SseClient(unsigned short port, const std::string& target, const std::string& last_event_id = "")
      : m_socket(port) {
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n";
    if (!last_event_id.empty()) req += "Last-Event-ID: " + last_event_id + "\r\n";
    m_socket.send_all(req + "\r\n");
  }
  /// The response head (blocks until it arrived).
  std::string head() {
    while (m_buffer.find("\r\n\r\n") == std::string::npos && fill()) {
    }
    const auto end = m_buffer.find("\r\n\r\n");
    if (end == std::string::npos) return m_buffer;
    std::string h = m_buffer.substr(0, end);
    m_buffer.erase(0, end + 4);
    return h;
  }
  /// The next "incident" event's (id, data), or nullopt after ~5 s of silence.
  std::optional<std::pair<std::int64_t, Json>> next() {
    for (;;) {
      const auto end = m_buffer.find("\n\n");
      if (end == std::string::npos) {
        if (!fill()) return std::nullopt;
        continue;
      }
      const std::string frame = m_buffer.substr(0, end);
      m_buffer.erase(0, end + 2);
      std::int64_t id = -1;
      std::string data;
      std::size_t pos = 0;
      while (pos < frame.size()) {
        std::size_t nl = frame.find('\n', pos);
        if (nl == std::string::npos) nl = frame.size();
        const std::string line = frame.substr(pos, nl - pos);
        if (line.rfind("id: ", 0) == 0) id = std::stoll(line.substr(4));
        if (line.rfind("data: ", 0) == 0) data += line.substr(6);
        pos = nl + 1;
      }
      if (id >= 0 && !data.empty()) return std::make_pair(id, Json::parse(data));
    }
  }

 private:
  bool fill() {
    std::string chunk = m_socket.receive_some();
    if (chunk.empty()) return false;
    m_buffer += chunk;
    return true;
  }
  RawSocket m_socket;
  std::string m_buffer;
};

TEST_F(Incidents, TheLiveFeedDeliversNewAndChangedIncidentsOfItsSubtreeAndResumes) {
  const auto early = report(*client, 0.5, 0.5)["id"].get<std::int64_t>();  // before the feed opens
  SseClient feed(server->port(), "/incidents/feed?grid=370811001001");
  const std::string head = feed.head();
  EXPECT_NE(head.find("200"), std::string::npos) << head;
  EXPECT_NE(head.find("text/event-stream"), std::string::npos) << head;

  const auto in_c1 = report(*client, 1.5, 0.5)["id"].get<std::int64_t>();
  report(*client, 3.0, 0.5);  // C2: filtered out
  act_ok(*client, in_c1, {{"action", "register"}});

  auto e1 = feed.next();
  ASSERT_TRUE(e1) << "no event within the timeout";
  EXPECT_EQ(e1->second["incident"]["id"], in_c1);
  EXPECT_EQ(e1->second["event"]["action"], "report");
  auto e2 = feed.next();
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->second["incident"]["id"], in_c1);
  EXPECT_EQ(e2->second["event"]["action"], "register");
  EXPECT_EQ(e2->second["incident"]["properties"]["status"], "registered");
  EXPECT_GT(e2->first, e1->first);
  (void)early;

  // A console that reconnects with Last-Event-ID misses nothing.
  act_ok(*client, in_c1, {{"action", "dispatch"}});
  SseClient again(server->port(), "/incidents/feed?grid=370811001001", std::to_string(e1->first));
  again.head();
  auto r1 = again.next();
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->first, e2->first);
  auto r2 = again.next();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->second["event"]["action"], "dispatch");

  // From the start with after=0, filtered by category.
  SseClient all(server->port(), "/incidents/feed?after=0&category=property_dispute");
  all.head();
  auto a1 = all.next();
  ASSERT_TRUE(a1);
  EXPECT_EQ(a1->second["incident"]["id"], early);

  // Bad feed requests are plain 4xx.
  expect_error(client->get("/incidents/feed?grid=nope"), 404, "grid_not_found", "grid");
  expect_error(client->get("/incidents/feed?category=nope"), 400, "unknown_category", "category");
}

// ---------------------------------------------------------------------------
// Attachments, statistics, categories
// ---------------------------------------------------------------------------

TEST_F(Incidents, PhotosAreValidatedStoredServedAndAttachedToSteps) {
  const auto id = report(*client, 0.5, 0.5)["id"].get<std::int64_t>();
  const std::string base = "/incidents/" + std::to_string(id);
  const HttpResponse up = client->request("POST", base + "/attachments?filename=roof.png", k_tiny_png, "image/png");
  ASSERT_EQ(up.status, 201) << up.body;
  const Json a = body_json(up);
  EXPECT_EQ(a["media_type"], "image/png");
  EXPECT_EQ(a["width"], 3);
  EXPECT_EQ(a["height"], 2);
  EXPECT_EQ(a["size"], 73);
  const HttpResponse got = client->get(a["url"].get<std::string>());
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.content_type, "image/png");
  EXPECT_EQ(got.body, k_tiny_png);
  // Named by a step, shown in the history.
  act_ok(*client, id, {{"action", "register"}, {"attachments", Json::array({a["id"]})}});
  const Json hist = body_json(client->get(base + "/history"))["events"];
  EXPECT_EQ(hist.back()["attachments"][0]["id"], a["id"]);
  EXPECT_EQ(body_json(client->get(base + "/attachments"))["attachments"].size(), 1u);

  // Not an image, too large, for a missing incident, someone else's attachment.
  expect_error(client->request("POST", base + "/attachments", "GIF89a but not really", "image/gif"), 400, "not_an_image");
  std::string huge = k_tiny_png;
  huge.resize((10u << 20) + 1, '\0');
  expect_error(client->request("POST", base + "/attachments", huge, "image/png"), 413, "attachment_too_large");
  expect_error(client->request("POST", "/incidents/999999/attachments", k_tiny_png, "image/png"), 404, "incident_not_found");
  const auto other = report(*client, 1.5, 0.5)["id"].get<std::int64_t>();
  expect_error(act(*client, other, {{"action", "register"}, {"attachments", Json::array({a["id"]})}}), 400,
               "unknown_attachment", "attachments/0");
  expect_error(client->get("/attachments/999999"), 404, "attachment_not_found");
}

TEST_F(Incidents, StatisticsPerGridCategoryAndDay) {
  // Two in G1 (one closed with satisfaction 4), one in G3.
  const auto a = report(*client, 0.5, 0.5)["id"].get<std::int64_t>();
  report(*client, 0.6, 0.6, "roof_leak");
  report(*client, 3.0, 0.5);
  for (const char* step : {"register", "dispatch", "accept"}) act_ok(*client, a, {{"action", step}});
  act_ok(*client, a, {{"action", "resolve"}, {"note", "ok"}});
  act_ok(*client, a, {{"action", "verify"}});
  act_ok(*client, a, {{"action", "close"}, {"satisfaction", 4}});

  const Json by_grid = body_json(client->get("/incidents/stats?group=grid&level=grid"));
  ASSERT_EQ(by_grid["rows"].size(), 2u) << by_grid.dump();
  const Json& g1 = by_grid["rows"][0]["label"]["code"] == "370811001001001" ? by_grid["rows"][0] : by_grid["rows"][1];
  EXPECT_EQ(g1["received"], 2);
  EXPECT_EQ(g1["open"], 1);
  EXPECT_EQ(g1["closed"], 1);
  EXPECT_EQ(g1["resolved_on_time"], 1);
  EXPECT_EQ(g1["on_time_rate"], 1.0);
  EXPECT_EQ(g1["avg_satisfaction"], 4.0);
  EXPECT_EQ(by_grid["total"]["received"], 3);

  // The children of the street by default: the two communities.
  const Json by_community = body_json(client->get("/incidents/stats?grid=370811001"));
  EXPECT_EQ(by_community["level"], "community");
  EXPECT_EQ(by_community["rows"].size(), 2u);

  const Json by_category = body_json(client->get("/incidents/stats?group=category"));
  ASSERT_EQ(by_category["rows"].size(), 2u);
  EXPECT_EQ(by_category["rows"][0]["key"], "property_dispute");
  EXPECT_EQ(by_category["rows"][0]["received"], 2);
  EXPECT_EQ(by_category["rows"][0]["label"]["name"], "物业纠纷");

  // Per local day (China time): the days the three were created on, read
  // from their created_at with plain arithmetic (they may straddle midnight).
  std::map<std::string, int> expected_days;
  const Json all = body_json(client->get("/incidents?limit=100"));
  ASSERT_EQ(all["features"].size(), 3u);
  for (const auto& f : all["features"]) {
    const std::string utc = f["properties"]["created_at"];  // YYYY-MM-DDTHH:MM:SS.sssZ
    const int y = std::stoi(utc.substr(0, 4)), mo = std::stoi(utc.substr(5, 2)), d = std::stoi(utc.substr(8, 2));
    const int h = std::stoi(utc.substr(11, 2));
    std::chrono::sys_days day{std::chrono::year{y} / mo / d};
    if (h + 8 >= 24) day += std::chrono::days(1);
    const std::chrono::year_month_day local{day};
    char key[16];
    std::snprintf(key, sizeof key, "%04d-%02u-%02u", static_cast<int>(local.year()), static_cast<unsigned>(local.month()),
                  static_cast<unsigned>(local.day()));
    ++expected_days[key];
  }
  const Json by_day = body_json(client->get("/incidents/stats?group=day"));
  ASSERT_EQ(by_day["rows"].size(), expected_days.size()) << by_day.dump();
  for (const auto& row : by_day["rows"]) {
    EXPECT_EQ(row["received"], expected_days[row["key"].get<std::string>()]) << row.dump();
  }
  expect_error(client->get("/incidents/stats?group=weather"), 400, "invalid_group", "group");
}

TEST_F(Incidents, TheCategoryCatalogueIsServed) {
  const Json j = body_json(client->get("/categories"));
  EXPECT_EQ(j["categories"].size(), 31u);
  EXPECT_EQ(j["groups"].size(), 6u);
  bool fire_lane = false;
  for (const auto& c : j["categories"]) fire_lane = fire_lane || c["code"] == "blocked_fire_lane";
  EXPECT_TRUE(fire_lane);
}

TEST_F(Incidents, BadInputIsA4xxNamingTheProblem) {
  auto post = [&](const Json& body) { return client->post("/incidents", body.dump()); };
  expect_error(post({{"lon", X0}, {"lat", Y0}}), 400, "missing_category", "category");
  expect_error(post({{"category", "nope"}, {"lon", X0}, {"lat", Y0}}), 400, "unknown_category", "category");
  expect_error(post({{"category", "roof_leak"}}), 400, "missing_position", "position");
  expect_error(post({{"category", "roof_leak"}, {"lon", X0}}), 400, "missing_position");
  expect_error(post({{"category", "roof_leak"}, {"lon", X0}, {"lat", 95}}), 400, "coordinate_out_of_range", "lat");
  expect_error(post({{"category", "roof_leak"}, {"x", 1}, {"y", 2}, {"crs", "EPSG:999999"}}), 400, "unknown_crs");
  expect_error(post({{"category", "roof_leak"}, {"lon", "east"}, {"lat", Y0}}), 400, "invalid_type", "lon");
  expect_error(post({{"category", "roof_leak"}, {"lon", X0}, {"lat", Y0}, {"priority", "asap"}}), 400,
               "invalid_priority", "priority");
  expect_error(post({{"category", "roof_leak"}, {"lon", X0}, {"lat", Y0}, {"channel", "Bad Channel"}}), 400,
               "invalid_channel", "channel");
  expect_error(post({{"category", "roof_leak"}, {"lon", X0}, {"lat", Y0}, {"description", std::string(5000, 'x')}}),
               413, "text_too_long", "description");
  expect_error(client->post("/incidents", "[1,"), 400, "malformed_json");
  expect_error(client->post("/incidents", "[]"), 400, "empty_batch");
  expect_error(client->get("/incidents/abc"), 400, "invalid_id", "id");
  expect_error(client->get("/incidents/424242"), 404, "incident_not_found");
  expect_error(client->get("/incidents?status=lost"), 400, "invalid_status", "status");
  expect_error(client->get("/incidents?colour=purple"), 400, "invalid_colour", "colour");
  expect_error(client->get("/incidents?sort=random"), 400, "invalid_sort", "sort");
  expect_error(client->get("/incidents?cursor=zz"), 400, "invalid_cursor", "cursor");
  expect_error(client->get("/incidents?limit=0"), 400, "invalid_integer", "limit");
  expect_error(client->get("/incidents?from=yesterday"), 400, "invalid_time", "from");
  expect_error(client->get("/incidents?from=2026-02-01&to=2026-01-01"), 400, "invalid_time_range", "to");
  expect_error(client->get("/incidents?grid=nope"), 404, "grid_not_found", "grid");
  expect_error(client->get("/incidents?bbox=1,2,3"), 400, "invalid_bbox", "bbox");
  expect_healthy(*server);
}

// ---------------------------------------------------------------------------
// Open311
// ---------------------------------------------------------------------------

TEST_F(Incidents, Open311ServicesRequestsAndStatus) {
  const HttpResponse s = client->get("/open311/v2/services.json");
  ASSERT_EQ(s.status, 200);
  const Json services = body_json(s);
  ASSERT_EQ(services.size(), 31u);
  EXPECT_TRUE(services[0].contains("service_code"));
  EXPECT_EQ(services[0]["type"], "realtime");

  const std::string form = "service_code=blocked_fire_lane&lat=" + std::to_string(Y0 + 0.5 * U) +
                           "&long=" + std::to_string(X0 + 0.5 * U) +
                           "&description=cars+in+the+fire+lane&first_name=%E6%98%8E&last_name=%E6%9D%8E&phone=139";
  const HttpResponse p = client->request("POST", "/open311/v2/requests.json", form, "application/x-www-form-urlencoded");
  ASSERT_EQ(p.status, 201) << p.body;
  const Json created = body_json(p);
  ASSERT_TRUE(created.is_array());
  const std::string id = created[0]["service_request_id"].get<std::string>();
  EXPECT_NE(created[0]["service_notice"].get<std::string>().find("grid 370811001001001"), std::string::npos);

  const Json one = body_json(client->get("/open311/v2/requests/" + id + ".json"));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0]["status"], "open");
  EXPECT_EQ(one[0]["service_code"], "blocked_fire_lane");
  EXPECT_EQ(one[0]["description"], "cars in the fire lane");
  EXPECT_EQ(one[0]["agency_responsible"], "fire_brigade");
  // gridd's own view: channel open311, reporter 李明.
  const Json mine = body_json(client->get("/incidents/" + id));
  EXPECT_EQ(mine["properties"]["channel"], "open311");
  EXPECT_EQ(mine["properties"]["reporter"]["name"], "李明");

  // Closing in gridd closes it in Open311, with the last note.
  const auto n = std::stoll(id);
  for (const char* step : {"register", "dispatch", "accept"}) act_ok(*client, n, {{"action", step}});
  act_ok(*client, n, {{"action", "resolve"}, {"note", "cars towed"}});
  act_ok(*client, n, {{"action", "verify"}});
  act_ok(*client, n, {{"action", "close"}});
  const Json closed = body_json(client->get("/open311/v2/requests/" + id + ".json"));
  EXPECT_EQ(closed[0]["status"], "closed");
  EXPECT_EQ(closed[0]["status_notes"], "cars towed");
  EXPECT_FALSE(closed[0]["expected_datetime"].is_null());
  EXPECT_EQ(body_json(client->get("/open311/v2/requests.json?status=closed")).size(), 1u);
  EXPECT_EQ(body_json(client->get("/open311/v2/requests.json?status=open")).size(), 0u);
  EXPECT_EQ(body_json(client->get("/open311/v2/requests.json?service_request_id=" + id)).size(), 1u);

  // Errors in the Open311 shape: [{code, description}].
  const HttpResponse bad = client->request("POST", "/open311/v2/requests.json", "service_code=nope&lat=35.4&long=116.5",
                                           "application/x-www-form-urlencoded");
  EXPECT_EQ(bad.status, 400);
  const Json be = body_json(bad);
  ASSERT_TRUE(be.is_array()) << bad.body;
  EXPECT_EQ(be[0]["code"], 400);
  EXPECT_EQ(be[0]["field"], "service_code");
  const HttpResponse nolat = client->request("POST", "/open311/v2/requests.json", "service_code=roof_leak&long=116.5",
                                             "application/x-www-form-urlencoded");
  EXPECT_EQ(nolat.status, 400);
  EXPECT_EQ(body_json(nolat)[0]["field"], "lat");
  EXPECT_EQ(client->get("/open311/v2/requests/999999.json").status, 404);
  EXPECT_EQ(client->get("/open311/v2/requests/1.xml").status, 404);
}

// ---------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------

TEST(IncidentDurability, AcknowledgedIntakesAndTransitionsSurviveKill9MidBurst) {
  TempDir dir;
  const std::string store = dir.file("burst.gpkg");
  std::map<std::int64_t, std::int64_t> acked;  // id -> acknowledged version
  std::mutex mutex;
  {
    ServerProcess server(store);
    {
      HttpClient c(server.port());
      make_city(c);
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; ++t) {
      writers.emplace_back([&, t] {
        try {
          HttpClient c(server.port());
          for (int i = 0; !stop; ++i) {
            const Json body{{"category", "roof_leak"}, {"lon", X0 + (0.1 + 0.5 * t) * U}, {"lat", Y0 + 0.5 * U}};
            const HttpResponse r = c.post("/incidents", body.dump());
            if (r.status != 201) continue;
            const auto id = body_json(r)["id"].get<std::int64_t>();
            {
              std::lock_guard lock(mutex);
              acked[id] = 1;
            }
            const HttpResponse a = c.post("/incidents/" + std::to_string(id) + "/transitions", R"({"action":"register"})");
            if (a.status == 200) {
              std::lock_guard lock(mutex);
              acked[id] = body_json(a)["properties"]["version"].get<std::int64_t>();
            }
          }
        } catch (const std::exception&) {
          // the server died under us: expected
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    server.kill9();
    stop = true;
    for (auto& w : writers) w.join();
  }
  ASSERT_GT(acked.size(), 5u);
  ServerProcess again(store);
  HttpClient c(again.port());
  for (const auto& [id, version] : acked) {
    const HttpResponse r = c.get("/incidents/" + std::to_string(id));
    ASSERT_EQ(r.status, 200) << "acknowledged incident " << id << " lost";
    const Json j = body_json(r);
    EXPECT_GE(j["properties"]["version"].get<std::int64_t>(), version) << id;
    const Json h = body_json(c.get("/incidents/" + std::to_string(id) + "/history"))["events"];
    EXPECT_EQ(h.size(), static_cast<std::size_t>(j["properties"]["version"].get<std::int64_t>())) << id;
  }
  // The store is consistent: every listed incident has its history.
  const auto all = list_all(c, "/incidents", 500);
  EXPECT_GE(all.size(), acked.size());
}

}  // namespace
}  // namespace gridd::http_test
