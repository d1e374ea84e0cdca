// Concurrency sanity over real HTTP: 4 threads x 500 GET /locate while
// another thread POSTs and DELETEs stations. No errors, no 5xx, and every
// answer is consistent with some committed state: the grids never change,
// and the stations are the k nearest of (stable stations + whichever
// temporary ones existed at that moment).

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

struct Baseline {
  double lon = 0, lat = 0;
  Json grids;                           // the chain
  Json owner;                           // code of the owner, or null
  bool covered = false;
  std::vector<std::int64_t> stable_ids;  // nearest stable stations, nearest first
};

TEST(Concurrency, LocateStaysConsistentWhileStationsAreWritten) {
  TempDir dir;
  ServerProcess server(dir.file("store.gpkg"));
  HttpClient setup(server.port());

  // A small city: district, 3 streets, 12 communities, 24 grids.
  std::vector<Json> grids;
  grids.push_back(grid_feature("D", "district", "", 116.0, 35.0, 116.6, 35.3));
  for (int s = 0; s < 3; ++s) {
    const std::string sc = "S" + std::to_string(s);
    const double sx = 116.0 + 0.2 * s;
    grids.push_back(grid_feature(sc, "street", "D", sx, 35.0, sx + 0.2, 35.3));
    for (int c = 0; c < 4; ++c) {
      const std::string cc = sc + "C" + std::to_string(c);
      const double cx = sx + 0.1 * (c % 2), cy = 35.0 + 0.15 * (c / 2);
      grids.push_back(grid_feature(cc, "community", sc, cx, cy, cx + 0.1, cy + 0.15));
      for (int g = 0; g < 2; ++g) {
        grids.push_back(grid_feature(cc + "G" + std::to_string(g), "grid", cc, cx, cy + 0.075 * g, cx + 0.1,
                                     cy + 0.075 * (g + 1)));
      }
    }
  }
  post_created(setup, "/grids", collection(grids));

  std::mt19937_64 rng(424242);
  std::uniform_real_distribution<double> ux(115.95, 116.65), uy(34.95, 35.35);
  const std::vector<std::string> kinds = {"grid_station", "service_center", "mediation_room"};
  std::vector<Json> stations;
  for (int i = 0; i < 30; ++i) {
    stations.push_back(station_feature("stable" + std::to_string(i), kinds[i % 3], ux(rng), uy(rng), "stable-" + std::to_string(i)));
  }
  post_created(setup, "/stations", collection(stations));

  std::vector<Baseline> base;
  for (int i = 0; i < 25; ++i) {
    Baseline b;
    b.lon = ux(rng);
    b.lat = uy(rng);
    char q[200];
    std::snprintf(q, sizeof q, "/locate?lon=%.12f&lat=%.12f&k=3", b.lon, b.lat);
    const HttpResponse r = setup.get(q);
    ASSERT_EQ(r.status, 200) << r.body;
    const Json j = body_json(r);
    b.grids = j["grids"];
    b.owner = j["owner"].is_null() ? Json() : j["owner"]["code"];
    b.covered = j["covered"].get<bool>();
    for (const auto& s : j["stations"]) b.stable_ids.push_back(s["id"].get<std::int64_t>());
    ASSERT_EQ(b.stable_ids.size(), 3u);
    base.push_back(std::move(b));
  }

  std::atomic<bool> done{false};
  std::atomic<int> writes{0}, seen_temporary{0}, answers{0};
  std::mutex errors_mutex;
  std::vector<std::string> errors;
  auto error = [&](const std::string& e) {
    std::lock_guard lock(errors_mutex);
    if (errors.size() < 50) errors.push_back(e);
  };

  std::thread writer([&] {
    try {
      HttpClient c(server.port());
      std::mt19937_64 wrng(99);
      std::uniform_int_distribution<std::size_t> pick(0, base.size() - 1);
      std::uniform_real_distribution<double> off(-0.0005, 0.0005);
      int n = 0;
      while (!done.load()) {
        const Baseline& b = base[pick(wrng)];
        const std::string code = "tmp-" + std::to_string(n++);
        const HttpResponse r =
            c.post("/stations", station_feature("temporary", kinds[n % 3], b.lon + off(wrng), b.lat + off(wrng), code).dump());
        if (r.status != 201) {
          error("POST /stations: " + std::to_string(r.status) + " " + r.body);
          continue;
        }
        const std::string loc = r.header("Location");
        const HttpResponse d = c.del(loc);
        if (d.status != 204) error("DELETE " + loc + ": " + std::to_string(d.status) + " " + d.body);
        writes += 2;
      }
    } catch (const std::exception& e) {
      error(std::string("writer: ") + e.what());
    }
  });

  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      try {
        HttpClient c(server.port());
        for (int i = 0; i < 500; ++i) {
          const Baseline& b = base[(i * 7 + t) % base.size()];
          char q[200];
          std::snprintf(q, sizeof q, "/locate?lon=%.12f&lat=%.12f&k=3", b.lon, b.lat);
          const HttpResponse r = c.get(q);
          if (r.status != 200) {
            error(std::string(q) + ": " + std::to_string(r.status) + " " + r.body);
            continue;
          }
          const Json j = Json::parse(r.body, nullptr, false);
          if (j.is_discarded()) {
            error(std::string(q) + ": not JSON");
            continue;
          }
          ++answers;
          if (j["grids"] != b.grids) error(std::string(q) + ": grids changed: " + j["grids"].dump());
          const Json owner = j["owner"].is_null() ? Json() : j["owner"]["code"];
          if (owner != b.owner) error(std::string(q) + ": owner changed: " + owner.dump());
          if (j["covered"].get<bool>() != b.covered) error(std::string(q) + ": covered changed");
          const Json& st = j["stations"];
          if (st.size() != 3) {
            error(std::string(q) + ": " + std::to_string(st.size()) + " stations");
            continue;
          }
          // Sorted by distance; the stable ones are exactly the nearest stable ones.
          std::vector<std::int64_t> stable;
          double last = -1;
          for (const auto& s : st) {
            const double d = s["distance_m"].get<double>();
            if (d < last) error(std::string(q) + ": stations not sorted: " + st.dump());
            last = d;
            const std::string code = s["code"].is_string() ? s["code"].get<std::string>() : "";
            if (code.rfind("tmp-", 0) == 0) {
              ++seen_temporary;
            } else if (code.rfind("stable-", 0) == 0) {
              stable.push_back(s["id"].get<std::int64_t>());
            } else {
              error(std::string(q) + ": unexpected station " + s.dump());
            }
          }
          const std::vector<std::int64_t> expected(b.stable_ids.begin(), b.stable_ids.begin() + stable.size());
          if (stable != expected) error(std::string(q) + ": stable stations " + st.dump());
        }
      } catch (const std::exception& e) {
        error("reader " + std::to_string(t) + ": " + e.what());
      }
    });
  }
  for (auto& r : readers) r.join();
  done = true;
  writer.join();

  for (const auto& e : errors) ADD_FAILURE() << e;
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(answers.load(), 2000);
  EXPECT_GT(writes.load(), 10) << "the writer barely ran";
  EXPECT_GT(seen_temporary.load(), 0) << "no reader ever saw a temporary station";
  expect_healthy(server);
  EXPECT_EQ(health_counts(server.port()), (std::pair<std::size_t, std::size_t>{grids.size(), 30}));
  std::cerr << "concurrency: " << answers.load() << " locates, " << writes.load() << " writes, "
            << seen_temporary.load() << " answers with a temporary station\n";
}

}  // namespace
}  // namespace gridd::http_test
