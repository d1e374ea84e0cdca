// Several gridd instances on one PostgreSQL/PostGIS database, over real HTTP:
// what one instance commits reaches the in-memory indexes of the other within
// a second (LISTEN/NOTIFY), and a database outage keeps locate up, answers
// writes 503 with Retry-After, loses nothing acknowledged and heals by itself.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <thread>

#include "common/pg_test_db.hpp"
#include "http/http_fixture.hpp"
#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr double X0 = 116.50, Y0 = 35.40;

/// Poll `check` every 10 ms until it holds; the time it took, or -1 ms when
/// it did not hold within `limit`.
std::chrono::milliseconds until(const std::function<bool()>& check,
                                std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < limit) {
    if (check()) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::chrono::milliseconds(-1);
}

Json locate(HttpClient& c, double lon, double lat) {
  char q[160];
  std::snprintf(q, sizeof q, "/locate?lon=%.17g&lat=%.17g&k=1", lon, lat);
  const HttpResponse r = c.get(q);
  EXPECT_EQ(r.status, 200) << r.body;
  return body_json(r);
}

std::string finest_name(const Json& located) {
  if (!located.value("covered", false) || located["grids"].empty()) return "";
  return located["grids"].back().value("name", "");
}

/// The value of an unlabelled Prometheus gauge in /metrics.
double gauge(HttpClient& c, const std::string& name) {
  const std::string text = c.get("/metrics").body;
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

void make_city(HttpClient& c) {
  post_created(c, "/grids",
               collection({grid_feature("370811", "district", "", X0, Y0, X0 + 0.04, Y0 + 0.02, "district"),
                           grid_feature("370811001", "street", "370811", X0, Y0, X0 + 0.04, Y0 + 0.02, "street")}));
}

Json report_body(double lon, double lat) {
  return Json{{"category", "property_dispute"}, {"description", "leaking roof"}, {"lon", lon}, {"lat", lat},
              {"channel", "hotline"}, {"reporter", {{"name", "resident"}, {"phone", "13800000000"}}}};
}

TEST(MultiInstance, WhatOneInstanceCommitsReachesTheOtherWithinASecond) {
  test::PgDatabase db;
  ServerProcess a(db.uri());
  ServerProcess b(db.uri());
  HttpClient ca(a.port()), cb(b.port());
  const double lon = X0 + 0.01, lat = Y0 + 0.01;
  EXPECT_FALSE(locate(cb, lon, lat).value("covered", true));

  // Grids written through A: B locates in them.
  make_city(ca);
  auto delay = until([&] { return finest_name(locate(cb, lon, lat)) == "street"; });
  EXPECT_GE(delay.count(), 0) << "B never saw A's grids";
  EXPECT_LT(delay.count(), 1000);

  // A's vector tile over the street, cached by A before the change below.
  const int z = 14;
  const int tx = static_cast<int>((lon + 180.0) / 360.0 * (1 << z));
  const double rad = lat * 3.14159265358979323846 / 180.0;
  const int ty = static_cast<int>((1.0 - std::asinh(std::tan(rad)) / 3.14159265358979323846) / 2.0 * (1 << z));
  const std::string tile = "/tiles/gridd/" + std::to_string(z) + "/" + std::to_string(tx) + "/" + std::to_string(ty) +
                           ".mvt";
  const HttpResponse tile_before = ca.get(tile);
  ASSERT_EQ(tile_before.status, 200);
  ASSERT_EQ(ca.get(tile).body, tile_before.body);
  ASSERT_NE(tile_before.body.find("street"), std::string::npos);

  // A change through B: A sees it (both directions work).
  const Json listed = body_json(cb.get("/grids?level=street"));
  ASSERT_EQ(listed["features"].size(), 1u) << listed.dump();
  Json street = listed["features"][0];
  street["properties"]["name"] = "renamed through B";
  const HttpResponse put = cb.put("/grids/" + std::to_string(street["id"].get<std::int64_t>()), street.dump());
  ASSERT_EQ(put.status, 200) << put.body;
  delay = until([&] { return finest_name(locate(ca, lon, lat)) == "renamed through B"; });
  EXPECT_GE(delay.count(), 0) << "A never saw B's rename";
  EXPECT_LT(delay.count(), 1000);
  // ... and A's tile cache dropped the tile: it now carries the new name.
  const HttpResponse tile_after = ca.get(tile);
  ASSERT_EQ(tile_after.status, 200);
  EXPECT_NE(tile_after.body.find("renamed through B"), std::string::npos) << "A served its stale cached tile";

  // A station through A: B's nearest-station answer has it.
  post_created(ca, "/stations", station_feature("east station", "grid_station", lon + 0.001, lat));
  delay = until([&] {
    const Json j = locate(cb, lon, lat);
    return !j["stations"].empty() && j["stations"][0].value("name", "") == "east station";
  });
  EXPECT_GE(delay.count(), 0) << "B never saw A's station";
  EXPECT_LT(delay.count(), 1000);

  // An incident through A: B's open-incident index (in memory) counts it,
  // and B reads it from the database.
  const double open_before = gauge(cb, "gridd_incidents_open");
  const Json incident = post_created(ca, "/incidents", report_body(lon, lat));
  const std::int64_t id = incident["id"].get<std::int64_t>();
  delay = until([&] { return gauge(cb, "gridd_incidents_open") == open_before + 1; });
  EXPECT_GE(delay.count(), 0) << "B's open-incident index never counted A's report";
  EXPECT_LT(delay.count(), 1000);
  const HttpResponse got = cb.get("/incidents/" + std::to_string(id));
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(body_json(got)["properties"].value("description", ""), "leaking roof");

  // Optimistic versions hold across instances: a step through B with A's
  // stale version is refused.
  const Json fresh = body_json(cb.get("/incidents/" + std::to_string(id)));
  const std::int64_t version = fresh["properties"]["version"].get<std::int64_t>();
  const HttpResponse first = ca.post("/incidents/" + std::to_string(id) + "/transitions",
                                     Json{{"action", "reject"}, {"reason", "duplicate"}, {"version", version}}.dump());
  ASSERT_EQ(first.status, 200) << first.body;
  const HttpResponse stale = cb.post("/incidents/" + std::to_string(id) + "/transitions",
                                     Json{{"action", "reject"}, {"reason", "again"}, {"version", version}}.dump());
  EXPECT_EQ(stale.status, 409) << stale.body;
  delay = until([&] { return gauge(cb, "gridd_incidents_open") == open_before; });
  EXPECT_GE(delay.count(), 0) << "B's index never dropped the rejected incident";
}

TEST(MultiInstance, AnIdempotencyKeyRunsOnceWhicheverInstanceItReaches) {
  test::PgDatabase db;
  ServerProcess a(db.uri());
  ServerProcess b(db.uri());
  HttpClient ca(a.port()), cb(b.port());
  make_city(ca);
  const std::string body = report_body(X0 + 0.01, Y0 + 0.01).dump();
  auto with_key = [](const std::string& key) {
    return std::vector<std::pair<std::string, std::string>>{{"Idempotency-Key", key}};
  };
  auto count = [&] { return body_json(ca.get("/incidents?limit=1000"))["features"].size(); };

  // A phone sends through A, loses the answer, and its retry lands on B: B
  // answers A's answer and creates nothing.
  const HttpResponse first = ca.request("POST", "/incidents", body, "application/json", with_key("phone-1"));
  ASSERT_EQ(first.status, 201) << first.body;
  const HttpResponse retry = cb.request("POST", "/incidents", body, "application/json", with_key("phone-1"));
  EXPECT_EQ(retry.status, 201) << retry.body;
  EXPECT_EQ(retry.header("Idempotent-Replayed"), "true");
  EXPECT_EQ(body_json(retry)["id"], body_json(first)["id"]);
  EXPECT_EQ(count(), 1u);

  // The same key on both instances at the same moment, eight times over:
  // one incident per key; the other request replays it or is told to retry
  // (409 idempotency_in_progress), and its retry replays it.
  for (int round = 0; round < 8; ++round) {
    const std::string key = "race-" + std::to_string(round);
    HttpResponse ra, rb;
    std::thread ta([&] { ra = HttpClient(a.port()).request("POST", "/incidents", body, "application/json", with_key(key)); });
    std::thread tb([&] { rb = HttpClient(b.port()).request("POST", "/incidents", body, "application/json", with_key(key)); });
    ta.join();
    tb.join();
    for (HttpResponse* r : {&ra, &rb}) {
      ASSERT_TRUE(r->status == 201 || (r->status == 409 && body_json(*r)["code"] == "idempotency_in_progress"))
          << r->status << " " << r->body;
    }
    EXPECT_TRUE(ra.status == 201 || rb.status == 201) << "one of them ran";
    HttpResponse again;
    for (int k = 0; k < 50; ++k) {
      again = cb.request("POST", "/incidents", body, "application/json", with_key(key));
      if (again.status != 409) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(again.status, 201) << again.body;
    EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
  }
  EXPECT_EQ(count(), 9u) << "one incident per key";
}

TEST(MultiInstance, ADatabaseOutageKeepsLocateUpRefusesWritesAndHealsByItself) {
  test::PgCluster cluster;
  const std::string uri = cluster.database("outage");
  ServerProcess server(uri);
  HttpClient c(server.port());
  make_city(c);
  const double lon = X0 + 0.01, lat = Y0 + 0.01;
  const Json before = post_created(c, "/incidents", report_body(lon, lat));

  cluster.halt();
  // Reads the in-memory indexes answer keep working.
  EXPECT_EQ(finest_name(locate(c, lon, lat)), "street");
  EXPECT_EQ(c.get("/grids?level=street").status, 200);
  // Writes are refused for now, with a retry hint, and nothing is half-done.
  const auto expect_unavailable = [](const HttpResponse& r) {
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_FALSE(r.header("Retry-After").empty());
    const Json j = body_json(r);
    EXPECT_EQ(j.value("code", ""), "store_unavailable") << r.body;
    EXPECT_NE(j.value("message", "").find("database"), std::string::npos) << r.body;
  };
  expect_unavailable(c.post("/incidents", report_body(lon, lat).dump()));
  expect_unavailable(c.post("/grids", grid_feature("370811001001", "community", "370811001", X0, Y0, X0 + 0.04,
                                                   Y0 + 0.02).dump()));
  expect_unavailable(c.get("/incidents/" + std::to_string(before["id"].get<std::int64_t>())));
  ASSERT_TRUE(server.alive());

  cluster.resume();
  // Back by itself: no restart of gridd.
  const auto healed = until([&] { return c.post("/incidents", report_body(lon, lat).dump()).status == 201; },
                            std::chrono::milliseconds(20000));
  EXPECT_GE(healed.count(), 0) << "writes did not come back after the database did";
  const HttpResponse old = c.get("/incidents/" + std::to_string(before["id"].get<std::int64_t>()));
  EXPECT_EQ(old.status, 200) << old.body;
  // Exactly the acknowledged reports exist: the one before and the one after.
  const Json all = body_json(c.get("/incidents?limit=100"));
  EXPECT_EQ(all["features"].size(), 2u) << all.dump();
  const Json grids = body_json(c.get("/grids"));
  EXPECT_EQ(grids["features"].size(), 2u);  // the refused community is not there
}

}  // namespace
}  // namespace gridd::http_test
