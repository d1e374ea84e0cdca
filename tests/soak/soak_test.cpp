// Soak: the demo city under a mixed load (locates, vector and raster tiles,
// incident reports and transitions, listings) for a bounded time over
// loopback. No request may fail; the server's resident memory and the
// latencies must stay flat (compared between windows of the same run, so a
// noisy machine moves both sides).
// GRIDD_SOAK_SECONDS sets the length (default 120).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

using Clock = std::chrono::steady_clock;

/// The server's resident set size in KiB (VmRSS).
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

/// Latencies (ms) of one kind of request in one time window.
struct Window {
  std::vector<double> locate, tile, write;
  long rss = 0;
};

int tile_x(double lon, int z) { return static_cast<int>(std::floor((lon + 180.0) / 360.0 * std::ldexp(1.0, z))); }
int tile_y(double lat, int z) {
  const double r = lat * M_PI / 180.0;
  return static_cast<int>(std::floor((1.0 - std::asinh(std::tan(r)) / M_PI) / 2.0 * std::ldexp(1.0, z)));
}

TEST(Soak, MixedLoadKeepsMemoryAndLatencyFlatWithoutAFailure) {
  const char* env = std::getenv("GRIDD_SOAK_SECONDS");
  const int seconds = std::max(20, env ? std::atoi(env) : 120);
  constexpr int k_windows = 6;
  TempDir dir;
  ServerProcess server(dir.file("demo.gpkg"), {"--demo"});
  const unsigned short port = server.port();
  HttpClient setup(port);
  const Json tilejson = body_json(setup.get("/tiles/gridd.json"));
  const std::vector<double> b = tilejson["bounds"].get<std::vector<double>>();
  std::string raster;
  for (const auto& s : body_json(setup.get("/tiles"))["sources"]) {
    if (s.value("kind", "") == "raster" && s.value("healthy", false)) raster = s["name"].get<std::string>();
  }

  std::mutex mutex;
  std::vector<Window> windows(k_windows);
  std::atomic<int> failures{0};
  std::atomic<long> requests{0};
  std::string first_failure;
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  auto window_of = [&](Clock::time_point t) {
    const auto i = std::chrono::duration<double>(t - start).count() / seconds * k_windows;
    return std::clamp(static_cast<int>(i), 0, k_windows - 1);
  };
  auto timed = [&](HttpClient& c, const std::string& method, const std::string& target, const std::string& body,
                   std::vector<double> Window::*kind, std::initializer_list<int> ok) {
    const auto t0 = Clock::now();
    HttpResponse r;
    try {
      r = c.request(method, target, body);
    } catch (const std::exception& e) {
      r.status = 0;
      r.body = e.what();
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    ++requests;
    std::lock_guard lock(mutex);
    if (std::find(ok.begin(), ok.end(), r.status) == ok.end()) {
      if (failures++ == 0) first_failure = method + " " + target + " -> " + std::to_string(r.status) + " " + r.body.substr(0, 300);
    }
    (windows[static_cast<std::size_t>(window_of(t0))].*kind).push_back(ms);
    return r;
  };

  std::vector<std::thread> threads;
  // Two locating clients (dispatch consoles).
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      HttpClient c(port);
      std::mt19937 rng(17 + w);
      std::uniform_real_distribution<double> lon(b[0], b[2]), lat(b[1], b[3]);
      while (Clock::now() < end) {
        char target[128];
        std::snprintf(target, sizeof target, "/locate?lon=%.6f&lat=%.6f", lon(rng), lat(rng));
        timed(c, "GET", target, {}, &Window::locate, {200});
      }
    });
  }
  // A map client panning over vector and raster tiles.
  threads.emplace_back([&] {
    HttpClient c(port);
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> lon(b[0], b[2]), lat(b[1], b[3]);
    std::uniform_int_distribution<int> zoom(11, 16);
    for (int i = 0; Clock::now() < end; ++i) {
      const int z = zoom(rng);
      const double x = lon(rng), y = lat(rng);
      const std::string xyz = std::to_string(z) + "/" + std::to_string(tile_x(x, z)) + "/" + std::to_string(tile_y(y, z));
      timed(c, "GET", "/tiles/gridd/" + xyz + ".mvt", {}, &Window::tile, {200});
      if (!raster.empty() && i % 4 == 0) timed(c, "GET", "/tiles/" + raster + "/" + xyz + ".png", {}, &Window::tile, {200});
    }
  });
  // Residents reporting, a dispatcher registering, someone reading lists.
  threads.emplace_back([&] {
    HttpClient c(port);
    std::mt19937 rng(9);
    std::uniform_real_distribution<double> lon(b[0], b[2]), lat(b[1], b[3]);
    while (Clock::now() < end) {
      const Json body{{"category", "property_dispute"}, {"description", "soak"}, {"lon", lon(rng)}, {"lat", lat(rng)},
                      {"channel", "hotline"}};
      const HttpResponse r = timed(c, "POST", "/incidents", body.dump(), &Window::write, {201});
      if (r.status == 201) {
        const auto id = body_json(r)["id"].get<std::int64_t>();
        timed(c, "POST", "/incidents/" + std::to_string(id) + "/transitions", Json{{"action", "register"}}.dump(),
              &Window::write, {200});
      }
      timed(c, "GET", "/incidents?status=open&sort=urgency&limit=50", {}, &Window::write, {200});
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  // Memory samples once a second; each window keeps its largest.
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const long rss = rss_kib(server.pid());
    std::lock_guard lock(mutex);
    auto& w = windows[static_cast<std::size_t>(window_of(Clock::now() - std::chrono::milliseconds(500)))];
    w.rss = std::max(w.rss, rss);
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(failures.load(), 0) << "first failure: " << first_failure;
  for (int i = 0; i < k_windows; ++i) {
    const Window& w = windows[static_cast<std::size_t>(i)];
    std::cout << "window " << i << ": rss " << w.rss / 1024 << " MiB; locate n=" << w.locate.size()
              << " p50 " << percentile(w.locate, 0.5) << " p99 " << percentile(w.locate, 0.99) << " ms; tiles n="
              << w.tile.size() << " p50 " << percentile(w.tile, 0.5) << " p99 " << percentile(w.tile, 0.99)
              << " ms; writes n=" << w.write.size() << " p50 " << percentile(w.write, 0.5) << " p99 "
              << percentile(w.write, 0.99) << " ms\n";
  }
  std::cout << requests.load() << " requests in " << seconds << " s\n";
  // The first window warms caches and indexes; from the second on, memory
  // may not keep growing: the last window within 10% (+32 MiB for the
  // bounded caches filling) of the second.
  const Window& early = windows[1];
  const Window& late = windows[k_windows - 1];
  ASSERT_GT(early.rss, 0);
  EXPECT_LE(late.rss, early.rss * 11 / 10 + 32 * 1024) << "memory grew from " << early.rss << " KiB to " << late.rss;
  // Latency stays flat: the last window's median within 3x (+5 ms) of the second's.
  for (auto kind : {&Window::locate, &Window::tile, &Window::write}) {
    ASSERT_FALSE((early.*kind).empty());
    ASSERT_FALSE((late.*kind).empty());
    EXPECT_LE(percentile(late.*kind, 0.5), 3 * percentile(early.*kind, 0.5) + 5.0);
  }
  expect_healthy(server);
}

}  // namespace
}  // namespace gridd::http_test
