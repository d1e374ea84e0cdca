// The field app's server side against the real server: the worker role (a
// grid worker's token names its person), Idempotency-Key on every POST, and
// door-to-door visits.

#include <thread>

#include "http/city_auth.hpp"
#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

class FieldTest : public ::testing::Test {
 protected:
  TempDir dir;
  std::string store = dir.file("city.gpkg");
};

// ---------------------------------------------------------------------------
// The worker role: a grid worker's token names its person
// ---------------------------------------------------------------------------

TEST_F(FieldTest, AWorkerHandlesOnlyWhatIsAssignedToThemAndReportsInTheirScope) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  const std::int64_t in_ga = report(port, 1);  // routed to GA's worker (k_worker_phone)
  const std::int64_t in_gb = report(port, 3);  // routed to GB's worker
  // The worker of GA, scoped to community CA, named by phone; a colleague
  // with the same name but another phone; a dispatcher.
  const std::string worker = create_token(store, "worker", std::string("--scope CA --name 'worker GA' --phone ") +
                                                               k_worker_phone);
  const std::string namesake = create_token(store, "worker", "--scope CA --name 'worker GA' --phone 13900009999");
  const std::string dispatcher = create_token(store, "dispatcher", "--name desk");
  const auto [rc, out] = run_cli("token create --role worker --store '" + backend_store(store) + "'");
  EXPECT_NE(rc, 0) << "a worker token must name its person: " << out;
  wait_for_reload();

  // The dispatch centre registers and dispatches both to their grids' workers.
  for (const std::int64_t id : {in_ga, in_gb}) {
    const std::string tr = "/incidents/" + std::to_string(id) + "/transitions";
    ASSERT_EQ(send(port, "POST", tr, dispatcher, Json{{"action", "register"}}.dump()).status, 200);
    ASSERT_EQ(send(port, "POST", tr, dispatcher, Json{{"action", "dispatch"}}.dump()).status, 200);
  }
  // My tasks: assigned to my phone, within my scope.
  const HttpResponse mine = send(port, "GET", "/incidents?assignee=me", worker);
  ASSERT_EQ(mine.status, 200) << mine.body;
  const Json mine_json = body_json(mine);
  ASSERT_EQ(mine_json["features"].size(), 1u) << mine.body;
  EXPECT_EQ(mine_json["features"][0]["id"], in_ga);
  EXPECT_EQ(body_json(send(port, "GET", "/incidents?assignee=me", namesake))["features"].size(), 0u);
  expect_error(send(port, "GET", "/incidents?assignee=me"), 400, "invalid_assignee", "assignee");
  // Who am I: the role and the person.
  const Json who = body_json(send(port, "GET", "/whoami", worker));
  EXPECT_EQ(who["role"], "worker");
  EXPECT_EQ(who["name"], "worker GA");

  const std::string tr_ga = "/incidents/" + std::to_string(in_ga) + "/transitions";
  // Not the dispatch centre's steps, not a colleague's incident, not another's scope.
  expect_error(send(port, "POST", tr_ga, worker, Json{{"action", "escalate"}, {"reason", "x"}}.dump()), 403,
               "forbidden", "action");
  expect_error(send(port, "POST", tr_ga, namesake, Json{{"action", "accept"}}.dump()), 403, "not_assigned", "id");
  expect_error(send(port, "POST", "/incidents/" + std::to_string(in_gb) + "/transitions", worker,
                    Json{{"action", "accept"}}.dump()),
               404, "incident_not_found");
  // The handler's steps on their own incident, recorded as theirs.
  ASSERT_EQ(send(port, "POST", tr_ga, worker, Json{{"action", "accept"}, {"actor", "someone else"}}.dump()).status,
            200);
  EXPECT_EQ(send(port, "POST", "/incidents/" + std::to_string(in_ga) + "/attachments?filename=after.png", worker,
                 k_tiny_png, "image/png")
                .status,
            201);
  const HttpResponse resolved =
      send(port, "POST", tr_ga, worker, Json{{"action", "resolve"}, {"note", "fixed"}}.dump());
  ASSERT_EQ(resolved.status, 200) << resolved.body;
  EXPECT_EQ(body_json(resolved)["properties"]["status"], "resolved");
  const Json history = body_json(send(port, "GET", "/incidents/" + std::to_string(in_ga) + "/history", dispatcher));
  EXPECT_EQ(history["events"].back()["actor"], "worker GA");
  EXPECT_EQ(history["events"][history["events"].size() - 2]["actor"], "worker GA");
  expect_error(send(port, "POST", tr_ga, worker, Json{{"action", "verify"}}.dump()), 403, "forbidden", "action");
  // No grid edits, no audit log.
  expect_error(send(port, "DELETE", "/grids/1", worker), 403, "forbidden");
  expect_error(send(port, "GET", "/audit", worker), 403, "forbidden");

  // Reports inside the scope go through and are theirs; outside it are refused.
  const HttpResponse own = send(port, "POST", "/incidents", worker, incident_body(1.5).dump());
  ASSERT_EQ(own.status, 201) << own.body;
  const std::string own_id = std::to_string(body_json(own)["id"].get<std::int64_t>());
  EXPECT_EQ(body_json(send(port, "GET", "/incidents/" + own_id + "/history", dispatcher))["events"][0]["actor"],
            "worker GA");
  EXPECT_EQ(send(port, "POST", "/incidents/" + own_id + "/attachments?filename=before.png", worker, k_tiny_png,
                 "image/png")
                .status,
            201);
  const HttpResponse outside = send(port, "POST", "/incidents", worker, incident_body(3).dump());
  expect_error(outside, 403, "outside_scope", "position");
  const Json batch = Json{{"type", "FeatureCollection"},
                          {"features", Json::array({Json{{"type", "Feature"},
                                                         {"geometry", {{"type", "Point"}, {"coordinates", {X0 + 1 * U, Y0 + U}}}},
                                                         {"properties", {{"category", "property_dispute"}}}},
                                                    Json{{"type", "Feature"},
                                                         {"geometry", {{"type", "Point"}, {"coordinates", {X0 + 3 * U, Y0 + U}}}},
                                                         {"properties", {{"category", "property_dispute"}}}}})}};
  expect_error(send(port, "POST", "/incidents", worker, batch.dump()), 403, "outside_scope", "features/1/position");
  // Nothing of the refused batch was written: GA holds the two reported there.
  EXPECT_EQ(body_json(send(port, "GET", "/incidents?grid=GA", dispatcher))["features"].size(), 2u);
}

// ---------------------------------------------------------------------------
// Idempotency-Key: a request sent twice runs once
// ---------------------------------------------------------------------------

TEST_F(FieldTest, AnIdempotencyKeyRunsAPostOnceAndReplaysItsAnswer) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  using Headers = std::vector<std::pair<std::string, std::string>>;
  const Headers k1{{"Idempotency-Key", "4f1c7a52-0d5e-4c1b-9a57-1b2e0f6a8c01"}};
  const std::string body = incident_body(1).dump();
  const HttpResponse first = send(port, "POST", "/incidents", "", body, "application/json", k1);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.header("Idempotent-Replayed"), "");
  const HttpResponse again = send(port, "POST", "/incidents", "", body, "application/json", k1);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("Location"), first.header("Location"));
  EXPECT_EQ(again.header("ETag"), first.header("ETag"));
  EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(body_json(send(port, "GET", "/incidents"))["features"].size(), 1u) << "one incident, not two";
  // The same key for another request is refused; a new key runs.
  expect_error(send(port, "POST", "/incidents", "", incident_body(3).dump(), "application/json", k1), 422,
               "idempotency_key_reused", "Idempotency-Key");
  expect_error(send(port, "POST", "/incidents", "", body, "application/json", {{"Idempotency-Key", ""}}), 400,
               "invalid_idempotency_key", "Idempotency-Key");
  expect_error(send(port, "POST", "/incidents", "", body, "application/json",
                    {{"Idempotency-Key", std::string(256, 'k')}}),
               400, "invalid_idempotency_key");
  // Steps too: the second accept with the key is the first's answer, not a 409 illegal transition.
  const std::string tr = first.header("Location") + "/transitions";
  const Headers k2{{"Idempotency-Key", "step-register-1"}};
  const HttpResponse reg = send(port, "POST", tr, "", Json{{"action", "register"}}.dump(), "application/json", k2);
  ASSERT_EQ(reg.status, 200) << reg.body;
  const HttpResponse reg2 = send(port, "POST", tr, "", Json{{"action", "register"}}.dump(), "application/json", k2);
  EXPECT_EQ(reg2.status, 200) << reg2.body;
  EXPECT_EQ(reg2.body, reg.body);
  EXPECT_EQ(body_json(send(port, "GET", first.header("Location") + "/history"))["events"].size(), 2u);
  // A 4xx answer is kept too (the request was wrong, sending it again is as wrong).
  const Headers k3{{"Idempotency-Key", "bad-1"}};
  expect_error(send(port, "POST", "/incidents", "", "{}", "application/json", k3), 400, "missing_position");
  const HttpResponse bad2 = send(port, "POST", "/incidents", "", "{}", "application/json", k3);
  EXPECT_EQ(bad2.status, 400);
  EXPECT_EQ(bad2.header("Idempotent-Replayed"), "true");

  // Kept across a restart.
  server.stop();
  ServerProcess restarted(store);
  const HttpResponse after = send(restarted.port(), "POST", "/incidents", "", body, "application/json", k1);
  EXPECT_EQ(after.status, 201);
  EXPECT_EQ(after.body, first.body);
  EXPECT_EQ(body_json(send(restarted.port(), "GET", "/incidents"))["features"].size(), 1u);
}

TEST_F(FieldTest, TwoRequestsWithOneKeyAtOnceCreateOneIncident) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  const std::string body = incident_body(1).dump();
  for (int round = 0; round < 5; ++round) {
    const std::vector<std::pair<std::string, std::string>> key{{"Idempotency-Key", "race-" + std::to_string(round)}};
    HttpResponse a, b;
    std::thread ta([&] { a = send(port, "POST", "/incidents", "", body, "application/json", key); });
    std::thread tb([&] { b = send(port, "POST", "/incidents", "", body, "application/json", key); });
    ta.join();
    tb.join();
    // One ran; the other got its answer or was told it is running.
    const int created = (a.status == 201 && a.header("Idempotent-Replayed").empty()) +
                        (b.status == 201 && b.header("Idempotent-Replayed").empty());
    EXPECT_EQ(created, 1) << a.status << " " << a.body << " / " << b.status << " " << b.body;
    for (const auto* r : {&a, &b}) {
      EXPECT_TRUE(r->status == 201 || r->status == 409) << r->status << " " << r->body;
      if (r->status == 409) {
        expect_error(*r, 409, "idempotency_in_progress", "Idempotency-Key");
        EXPECT_EQ(r->header("Retry-After"), "1");
      }
    }
  }
  EXPECT_EQ(body_json(send(port, "GET", "/incidents"))["features"].size(), 5u);
}

// ---------------------------------------------------------------------------
// Visits (走访)
// ---------------------------------------------------------------------------

Json visit_body(double dx, const std::string& visited_at, const std::string& subject) {
  return Json{{"lon", X0 + dx * U}, {"lat", Y0 + 1 * U}, {"kind", "household"}, {"subject", subject},
              {"note", "独居老人, 一切安好"}, {"visited_at", visited_at}};
}

TEST_F(FieldTest, VisitsArePlacedInTheirGridListedAndCountedPerWorkerAndWeek) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  const std::string worker = create_token(store, "worker", std::string("--scope CA --name 'worker GA' --phone ") +
                                                               k_worker_phone);
  const std::string dispatcher = create_token(store, "dispatcher", "--name desk");
  wait_for_reload();

  // Monday 3 and Wednesday 5 March 2025 (China time), then Monday 10 March.
  const HttpResponse first = send(port, "POST", "/visits", worker, visit_body(1, "2025-03-03T09:30:00+08:00", "3-2-101").dump());
  ASSERT_EQ(first.status, 201) << first.body;
  const Json v = body_json(first);
  EXPECT_EQ(v["properties"]["grid"]["code"], "GA");
  EXPECT_EQ(v["properties"]["worker"]["name"], "worker GA");
  EXPECT_EQ(v["properties"]["worker"]["phone"], k_worker_phone);
  EXPECT_EQ(v["properties"]["kind"], "household");
  EXPECT_EQ(v["properties"]["visited_at"], "2025-03-03T01:30:00.000Z");
  EXPECT_EQ(first.header("Location"), "/visits/" + std::to_string(v["id"].get<std::int64_t>()));
  ASSERT_EQ(send(port, "POST", "/visits", worker, visit_body(1.2, "2025-03-05T16:00:00+08:00", "3-2-102").dump()).status,
            201);
  // Sent twice by a phone that lost the answer: one visit.
  const std::vector<std::pair<std::string, std::string>> key{{"Idempotency-Key", "visit-2025-03-10-a"}};
  const std::string third = visit_body(1.4, "2025-03-10T08:00:00+08:00", "5号楼").dump();
  ASSERT_EQ(send(port, "POST", "/visits", worker, third, "application/json", key).status, 201);
  EXPECT_EQ(send(port, "POST", "/visits", worker, third, "application/json", key).header("Idempotent-Replayed"), "true");

  // Refused: outside the scope, in the future, a bad kind, no position, no token.
  expect_error(send(port, "POST", "/visits", worker, visit_body(3, "2025-03-05T10:00:00+08:00", "x").dump()), 403,
               "outside_scope", "position");
  expect_error(send(port, "POST", "/visits", worker, visit_body(1, "2099-01-01T00:00:00Z", "x").dump()), 400,
               "invalid_time", "visited_at");
  Json bad_kind = visit_body(1, "2025-03-05T10:00:00+08:00", "x");
  bad_kind["kind"] = "Household!";
  expect_error(send(port, "POST", "/visits", worker, bad_kind.dump()), 400, "invalid_kind", "kind");
  expect_error(send(port, "POST", "/visits", worker, Json{{"kind", "household"}}.dump()), 400, "missing_position",
               "position");
  expect_error(send(port, "POST", "/visits", "", visit_body(1, "2025-03-05T10:00:00+08:00", "x").dump()), 401,
               "unauthorized");

  // Listed per grid and per worker, newest first, with paging.
  const Json in_ga = body_json(send(port, "GET", "/visits?grid=GA", dispatcher));
  ASSERT_EQ(in_ga["features"].size(), 3u) << in_ga.dump();
  EXPECT_EQ(in_ga["features"][0]["properties"]["subject"], "5号楼");
  EXPECT_EQ(in_ga["features"][2]["properties"]["subject"], "3-2-101");
  EXPECT_EQ(body_json(send(port, "GET", "/visits?grid=GB", dispatcher))["features"].size(), 0u);
  EXPECT_EQ(body_json(send(port, "GET", "/visits?worker=me", worker))["features"].size(), 3u);
  EXPECT_EQ(body_json(send(port, "GET", "/visits?worker=me", dispatcher))["features"].size(), 0u);
  EXPECT_EQ(body_json(send(port, "GET", "/visits?worker=worker%20GA&from=2025-03-04T00:00:00&to=2025-03-10T00:00:00", dispatcher))
                ["features"].size(),
            1u);
  const Json page1 = body_json(send(port, "GET", "/visits?limit=2", dispatcher));
  ASSERT_EQ(page1["features"].size(), 2u);
  const std::string next = page1["links"][0]["href"];
  ASSERT_NE(next.find("before="), std::string::npos) << next;
  const Json page2 = body_json(send(port, "GET", next.substr(next.find("/visits")), dispatcher));
  ASSERT_EQ(page2["features"].size(), 1u);
  EXPECT_EQ(page2["features"][0]["properties"]["subject"], "3-2-101");
  // Anonymous readers see no phones.
  EXPECT_TRUE(body_json(send(port, "GET", "/visits"))["features"][0]["properties"]["worker"]["phone"].is_null());

  // Counted per worker and week (weeks start on Monday, China time).
  const Json weekly = body_json(send(port, "GET", "/visits/weekly?grid=CA", dispatcher));
  ASSERT_EQ(weekly["weeks"].size(), 2u) << weekly.dump();
  EXPECT_EQ(weekly["weeks"][0]["week"], "2025-03-03");
  EXPECT_EQ(weekly["weeks"][0]["visits"], 2);
  EXPECT_EQ(weekly["weeks"][0]["worker"]["name"], "worker GA");
  EXPECT_EQ(weekly["weeks"][1]["week"], "2025-03-10");
  EXPECT_EQ(weekly["weeks"][1]["visits"], 1);

  // Kept across a restart.
  server.stop();
  ServerProcess restarted(store);
  EXPECT_EQ(body_json(send(restarted.port(), "GET", "/visits?grid=GA", dispatcher))["features"].size(), 3u);
}

TEST_F(FieldTest, AVisitTakesUpToThreePhotosFromTheWorkerWhoRecordedIt) {
  ServerProcess server(store);
  const unsigned short port = server.port();
  make_city(port);
  const std::string worker = create_token(store, "worker", std::string("--scope CA --name 'worker GA' --phone ") +
                                                               k_worker_phone);
  const std::string colleague = create_token(store, "worker", "--scope CA --name 'worker GA2' --phone 13900000077");
  const std::string other_scope = create_token(store, "worker", "--scope CB --name 'worker GB' --phone 13912345602");
  const std::string dispatcher = create_token(store, "dispatcher", "--name desk");
  wait_for_reload();
  const HttpResponse made = send(port, "POST", "/visits", worker, visit_body(1, "2025-03-03T09:30:00+08:00", "3-2-101").dump());
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string visit = "/visits/" + std::to_string(body_json(made)["id"].get<std::int64_t>());
  EXPECT_EQ(body_json(made)["properties"]["photos"], 0);

  // The worker's photo, sent twice with one key (a phone retrying): one photo.
  const std::vector<std::pair<std::string, std::string>> key{{"Idempotency-Key", "visit-photo-1"}};
  const HttpResponse added = send(port, "POST", visit + "/attachments?filename=door.png", worker, k_tiny_png, "image/png", key);
  ASSERT_EQ(added.status, 201) << added.body;
  EXPECT_EQ(send(port, "POST", visit + "/attachments?filename=door.png", worker, k_tiny_png, "image/png", key)
                .header("Idempotent-Replayed"),
            "true");
  const Json photo = body_json(added);
  EXPECT_EQ(photo["media_type"], "image/png");
  EXPECT_EQ(photo["filename"], "door.png");
  // Not a colleague's visit, not an image, nor beyond three.
  expect_error(send(port, "POST", visit + "/attachments", colleague, k_tiny_png, "image/png"), 403, "not_your_visit", "id");
  expect_error(send(port, "POST", visit + "/attachments", worker, "GIF89a but not really", "image/gif"), 400,
               "not_an_image", "body");
  ASSERT_EQ(send(port, "POST", visit + "/attachments", worker, k_tiny_png, "image/png").status, 201);
  ASSERT_EQ(send(port, "POST", visit + "/attachments", dispatcher, k_tiny_png, "image/png").status, 201);
  expect_error(send(port, "POST", visit + "/attachments", worker, k_tiny_png, "image/png"), 413, "too_many_photos", "body");

  // The visit lists its photos; their bytes come back as sent.
  const Json got = body_json(send(port, "GET", visit, dispatcher));
  EXPECT_EQ(got["properties"]["photos"], 3);
  ASSERT_EQ(got["properties"]["attachments"].size(), 3u) << got.dump();
  const std::string url = got["properties"]["attachments"][0]["url"];
  EXPECT_EQ(url, visit + "/attachments/" + std::to_string(photo["id"].get<std::int64_t>()));
  const HttpResponse bytes = send(port, "GET", url, worker);
  ASSERT_EQ(bytes.status, 200);
  EXPECT_EQ(bytes.body, k_tiny_png);
  EXPECT_EQ(bytes.content_type, "image/png");
  EXPECT_EQ(body_json(send(port, "GET", "/visits?worker=me", worker))["features"][0]["properties"]["photos"], 3);
  EXPECT_EQ(body_json(send(port, "GET", visit + "/attachments", worker))["attachments"].size(), 3u);
  // Outside the reader's scope, or unknown: not found.
  expect_error(send(port, "GET", visit, other_scope), 404, "visit_not_found", "id");
  expect_error(send(port, "GET", url, other_scope), 404, "visit_not_found", "id");
  expect_error(send(port, "GET", "/visits/999999", dispatcher), 404, "visit_not_found", "id");
  expect_error(send(port, "GET", visit + "/attachments/999999", dispatcher), 404, "attachment_not_found", "photo");

  // Kept across a restart.
  server.stop();
  ServerProcess restarted(store);
  EXPECT_EQ(send(restarted.port(), "GET", url, dispatcher).body, k_tiny_png);
}

}  // namespace
}  // namespace gridd::http_test
