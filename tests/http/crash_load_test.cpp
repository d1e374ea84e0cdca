// Crash safety under load: writers keep reporting incidents, moving them
// through the workflow, adding stations and renaming a grid while the server
// is killed with SIGKILL in the middle of it all. After a restart every
// acknowledged write is there, each incident's state agrees with its last
// event, and SQLite finds the store intact.

#include <gtest/gtest.h>

#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

constexpr double X0 = 116.50, Y0 = 35.40, U = 0.01;

/// What the writers were told succeeded (and what they attempted).
struct Acked {
  std::mutex mutex;
  std::set<std::int64_t> incidents;                  // 201
  std::map<std::int64_t, std::string> registered;    // incident -> "registered" (200 on register)
  std::set<std::string> stations;                    // names answered 201
  std::string grid_name;                             // last rename answered 200
  std::set<std::string> grid_names_attempted;        // every rename sent
};

/// Run `body(client, i)` until `stop`; a connection error (the server died)
/// ends the writer.
template <class Body>
void writer(unsigned short port, const std::atomic<bool>& stop, Body body) {
  try {
    HttpClient client(port);
    for (int i = 0; !stop.load(); ++i) body(client, i);
  } catch (const std::exception&) {
    // the server is gone: whatever was not answered was not acknowledged
  }
}

TEST(CrashUnderLoad, EveryAcknowledgedWriteSurvivesKill9InTheMiddleOfALoad) {
  TempDir dir;
  const std::string store = dir.file("city.gpkg");
  Acked acked;
  std::int64_t grid_id = 0;
  {
    auto server = std::make_unique<ServerProcess>(store);
    const unsigned short port = server->port();
    HttpClient setup(port);
    post_created(setup, "/grids",
                 collection({grid_feature("D", "district", "", X0, Y0, X0 + 4 * U, Y0 + 2 * U),
                             grid_feature("G1", "grid", "D", X0, Y0, X0 + 2 * U, Y0 + 2 * U),
                             grid_feature("G2", "grid", "D", X0 + 2 * U, Y0, X0 + 4 * U, Y0 + 2 * U)}));
    const Json g1 = body_json(setup.get("/grids?code=G1"))["features"][0];
    grid_id = g1["id"].get<std::int64_t>();

    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    // Two reporters.
    for (int w = 0; w < 2; ++w) {
      threads.emplace_back([&, w] {
        writer(port, stop, [&](HttpClient& c, int i) {
          const Json body{{"category", "property_dispute"}, {"description", "load " + std::to_string(w) + "-" + std::to_string(i)},
                          {"lon", X0 + (0.5 + (i % 30) * 0.1) * U}, {"lat", Y0 + (0.5 + w) * U}, {"channel", "hotline"}};
          const HttpResponse r = c.post("/incidents", body.dump());
          if (r.status == 201) {
            std::lock_guard lock(acked.mutex);
            acked.incidents.insert(body_json(r)["id"].get<std::int64_t>());
          }
        });
      });
    }
    // A dispatcher registering what was reported.
    threads.emplace_back([&] {
      writer(port, stop, [&](HttpClient& c, int) {
        std::int64_t next = 0;
        {
          std::lock_guard lock(acked.mutex);
          for (auto id : acked.incidents) {
            if (!acked.registered.count(id)) {
              next = id;
              break;
            }
          }
        }
        if (next == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          return;
        }
        const HttpResponse r =
            c.post("/incidents/" + std::to_string(next) + "/transitions", Json{{"action", "register"}}.dump());
        std::lock_guard lock(acked.mutex);
        if (r.status == 200) acked.registered[next] = "registered";
        else acked.registered[next] = "";  // refused (e.g. a race): not tracked
      });
    });
    // A planner adding stations and renaming a grid.
    threads.emplace_back([&] {
      writer(port, stop, [&](HttpClient& c, int i) {
        const std::string name = "station " + std::to_string(i);
        const HttpResponse s =
            c.post("/stations", station_feature(name, "grid_station", X0 + (i % 40) * 0.001, Y0 + 0.005).dump());
        if (s.status == 201) {
          std::lock_guard lock(acked.mutex);
          acked.stations.insert(name);
        }
        Json edit = grid_feature("G1", "grid", "D", X0, Y0, X0 + 2 * U, Y0 + 2 * U);
        edit["properties"]["name"] = "G1 rename " + std::to_string(i);
        {
          std::lock_guard lock(acked.mutex);
          acked.grid_names_attempted.insert(edit["properties"]["name"].get<std::string>());
        }
        const HttpResponse g = c.put("/grids/" + std::to_string(grid_id), edit.dump());
        if (g.status == 200) {
          std::lock_guard lock(acked.mutex);
          acked.grid_name = edit["properties"]["name"].get<std::string>();
        }
      });
    });

    // Let the load run, then crash the server in the middle of it.
    for (int i = 0; i < 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::lock_guard lock(acked.mutex);
      if (acked.incidents.size() >= 150 && acked.stations.size() >= 20) break;
    }
    server->kill9();
    stop = true;
    for (auto& t : threads) t.join();
  }
  std::lock_guard lock(acked.mutex);
  std::cout << "acknowledged before the kill: " << acked.incidents.size() << " reports, " << acked.registered.size()
            << " registrations tried, " << acked.stations.size() << " stations, grid renamed up to '"
            << acked.grid_name << "'\n";
  ASSERT_GE(acked.incidents.size(), 20u) << "the load never got going";
  ASSERT_FALSE(acked.stations.empty());
  ASSERT_FALSE(acked.grid_name.empty());

  // SQLite's own check of the file as the crash left it (the WAL is replayed
  // on open). On PostgreSQL the server keeps its own integrity: the restart
  // below finding every acknowledged write is the check.
  if (!on_postgis()) {
    GDALAllRegister();
    GDALDatasetUniquePtr ds(GDALDataset::Open(store.c_str(), GDAL_OF_VECTOR | GDAL_OF_UPDATE));
    ASSERT_TRUE(ds);
    OGRLayer* check = ds->ExecuteSQL("PRAGMA integrity_check", nullptr, nullptr);
    ASSERT_NE(check, nullptr);
    OGRFeatureUniquePtr row(check->GetNextFeature());
    ASSERT_TRUE(row);
    EXPECT_STREQ(row->GetFieldAsString(0), "ok");
    ds->ReleaseResultSet(check);
  }

  ServerProcess again(store);
  HttpClient c(again.port());
  const std::vector<Json> incidents = list_all(c, "/incidents?sort=oldest", 1000);
  std::map<std::int64_t, Json> by_id;
  for (const auto& f : incidents) by_id[f["id"].get<std::int64_t>()] = f;
  for (const std::int64_t id : acked.incidents) {
    ASSERT_TRUE(by_id.count(id)) << "acknowledged incident " << id << " is lost";
  }
  std::size_t registered = 0;
  for (const auto& [id, status] : acked.registered) {
    if (status.empty()) continue;
    ++registered;
    EXPECT_EQ(by_id[id]["properties"]["status"], status) << "incident " << id;
  }
  EXPECT_GT(registered, 0u);
  // Each incident (acknowledged or not) agrees with its own history.
  for (const auto& [id, f] : by_id) {
    const Json events = body_json(c.get("/incidents/" + std::to_string(id) + "/history"))["events"];
    ASSERT_FALSE(events.empty()) << "incident " << id << " has no events";
    EXPECT_EQ(events.back()["to"], f["properties"]["status"]) << "incident " << id;
    EXPECT_EQ(events.front()["action"], "report");
  }
  std::set<std::string> stations;
  for (const auto& s : list_all(c, "/stations", 1000)) {
    stations.insert(s["properties"]["name"].get<std::string>());
  }
  for (const auto& name : acked.stations) EXPECT_TRUE(stations.count(name)) << "acknowledged station '" << name << "' is lost";
  // The grid has the last acknowledged name, or one sent after it whose answer the crash cut off.
  const std::string name = body_json(c.get("/grids/" + std::to_string(grid_id)))["properties"]["name"].get<std::string>();
  EXPECT_TRUE(acked.grid_names_attempted.count(name)) << name;
  const auto number = [](const std::string& n) { return std::stoi(n.substr(n.rfind(' ') + 1)); };
  EXPECT_GE(number(name), number(acked.grid_name)) << name << " is older than the acknowledged " << acked.grid_name;
  // The history of versions agrees with the current grid.
  const Json history = body_json(c.get("/grids/" + std::to_string(grid_id) + "/history"))["features"];
  std::size_t current = 0;
  for (const auto& v : history) {
    if (!v["properties"]["valid_to"].is_null()) continue;
    ++current;
    EXPECT_EQ(v["properties"]["name"], name);
    EXPECT_EQ(v["properties"]["version"], body_json(c.get("/grids/" + std::to_string(grid_id)))["properties"]["version"]);
  }
  EXPECT_EQ(current, 1u) << history.dump();
  expect_healthy(again);
}

}  // namespace
}  // namespace gridd::http_test
