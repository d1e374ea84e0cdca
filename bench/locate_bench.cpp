// gridd_bench: in-process locate benchmarks (Google Benchmark).
//
// A synthetic city (synthetic_city.hpp) is built in memory through the real
// service layer (service::GridEntry -> service::Snapshot, exactly what the
// Catalog publishes), then service::locate_wgs84 is timed with random
// points from a fixed seed.
//
// Families (city = 20k by default; GRIDD_BENCH_CITIES=20k,1m adds the
// 1,000,000-grid city, which needs a few GB of memory and a minute to build):
//   BM_Locate/<city>/threads:N         points inside the city (the usual case)
//   BM_LocateOutside/<city>            points 1..10 cells outside (nearest-grid fallback)
//   BM_Covering/<city>                 only the containing-grid lookup (cell lattice, then GEOS)
//   BM_CoveringGeos/<city>             the same lookup from the STRtree and GEOS alone;
//                                      counters lattice_cells and pure_cells (the fraction of
//                                      cells answered without a geometry test)
//   BM_NearestStations/<city>          only the 3 nearest stations
//   BM_ApiLocate/<city>/threads:N      the GET /locate handler in process (query parsing,
//                                      locate, JSON rendering) over a Catalog loaded from a
//                                      temporary GeoPackage; HTTP excluded
//                                      (no DOM): a sketch measuring what rendering could cost
// Counters: items_per_second (all threads), per_thread (locates/s per thread,
// i.e. per core when threads <= cores), bytes_per_grid (RSS growth while
// building the snapshot divided by the polygons of all levels),
// bytes_per_leaf (the same divided by leaf grids), grids, stations,
// build_s, chain (grids per answer), covered (fraction answered by a leaf).

#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gridd/api/handlers.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/locate.hpp"
#include "gridd/service/snapshot.hpp"
#include "gridd/spatial/geos.hpp"
#include "gridd/storage/store.hpp"
#include "synthetic_city.hpp"

namespace {

using gridd_bench::City;
using gridd_bench::CityGrid;
using gridd_bench::CityParams;
using gridd_bench::CityStation;
namespace service = gridd::service;
namespace spatial = gridd::spatial;

constexpr std::size_t k_points = 1 << 16;  // random query points per city (power of two)
constexpr std::uint64_t k_point_seed = 42;

std::size_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

spatial::GeomPtr polygon_of(const CityGrid& g) {
  GEOSContextHandle_t ctx = spatial::geos();
  GEOSCoordSequence* seq = GEOSCoordSeq_copyFromBuffer_r(ctx, g.ring.front().data(), g.ring.size(), 0, 0);
  GEOSGeometry* shell = GEOSGeom_createLinearRing_r(ctx, seq);
  return spatial::checked(GEOSGeom_createPolygon_r(ctx, shell, nullptr, 0), "polygon");
}

gridd::Grid grid_of(const CityGrid& c, const std::string& now) {
  gridd::Grid g;
  g.id = c.id;
  g.code = c.code;
  g.name = c.name;
  g.level = static_cast<gridd::Level>(c.level);
  g.parent_code = c.parent;
  for (const auto& p : c.people) g.people.push_back({p.name, p.role, p.phone});
  if (c.households >= 0) g.households = c.households;
  g.attributes = gridd::Json{{"synthetic", true}};
  g.created_at = now;
  g.updated_at = now;
  return g;
}

gridd::Station station_of(const CityStation& c, const std::string& now) {
  gridd::Station s;
  s.id = c.id;
  s.code = c.code;
  s.name = c.name;
  s.kind = c.kind;
  s.lon = c.lon;
  s.lat = c.lat;
  s.address = c.address;
  s.contact = c.contact;
  s.hours = c.hours;
  s.attributes = gridd::Json{{"synthetic", true}};
  s.created_at = now;
  s.updated_at = now;
  return s;
}

struct CityFixture {
  explicit CityFixture(const std::string& name) : city(CityParams::by_name(name)) {
    std::mt19937_64 rng(k_point_seed);
    inside.reserve(k_points);
    outside.reserve(k_points);
    for (std::size_t i = 0; i < k_points; ++i) inside.push_back(city.random_inside(rng));
    for (std::size_t i = 0; i < k_points; ++i) outside.push_back(city.random_outside(rng));

    malloc_trim(0);
    const std::size_t before = rss_bytes();
    const auto t0 = std::chrono::steady_clock::now();
    const std::string now = gridd::now_iso8601();
    std::vector<std::shared_ptr<const service::GridEntry>> grids;
    grids.reserve(city.grid_count());
    city.for_each_grid([&](const CityGrid& g) {
      grids.push_back(std::make_shared<const service::GridEntry>(grid_of(g, now), polygon_of(g)));
    });
    std::vector<std::shared_ptr<const service::StationEntry>> stations;
    city.for_each_station([&](const CityStation& s) {
      stations.push_back(std::make_shared<const service::StationEntry>(station_of(s, now)));
    });
    grid_count = grids.size();
    station_count = stations.size();
    snapshot = std::make_shared<const service::Snapshot>(1, std::move(grids), std::move(stations));
    build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    malloc_trim(0);
    const std::size_t after = rss_bytes();
    snapshot_bytes = after > before ? static_cast<double>(after - before) : 0;
    // The cell lattice's share of the build: the same lattice again, alone.
    std::vector<const spatial::Shape*> shapes;
    for (const auto& g : snapshot->grids()) shapes.push_back(&g->shape);
    const auto t1 = std::chrono::steady_clock::now();
    const spatial::CoverCells cells(shapes);
    lattice_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    std::fprintf(stderr,
                 "[gridd_bench] city %s: %zu grids (%zu leaves), %zu stations, built in %.1f s (cell lattice %.2f s: "
                 "%zu cells, %.0f%% without a boundary), RSS +%.1f MB\n",
                 name.c_str(), grid_count, city.leaf_count(), station_count, build_seconds, lattice_seconds,
                 cells.cell_count(),
                 cells.cell_count() ? 100.0 * static_cast<double>(cells.pure_cells()) / static_cast<double>(cells.cell_count()) : 0.0,
                 snapshot_bytes / 1e6);
  }

  City city;
  std::shared_ptr<const service::Snapshot> snapshot;
  std::vector<std::array<double, 2>> inside, outside;
  std::size_t grid_count = 0, station_count = 0;
  double build_seconds = 0, snapshot_bytes = 0, lattice_seconds = 0;
};

/// Fixtures are built once, on first use, and kept until exit.
const CityFixture& city_fixture(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<CityFixture>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[name];
  if (!slot) slot = std::make_unique<CityFixture>(name);
  return *slot;
}

/// The same city stored in a temporary GeoPackage, loaded by a Catalog, behind api::Api.
struct ApiFixture {
  explicit ApiFixture(const std::string& name) {
    const CityFixture& fx = city_fixture(name);
    path = (std::filesystem::temp_directory_path() /
            ("gridd_bench_" + name + "_" + std::to_string(getpid()) + ".gpkg"))
               .string();
    std::filesystem::remove(path);
    const auto t0 = std::chrono::steady_clock::now();
    catalog = std::make_unique<service::Catalog>(gridd::storage::open_store(path));
    std::vector<service::GridInput> grids;
    fx.city.for_each_grid([&](const CityGrid& g) {
      service::GridInput in;
      in.grid = grid_of(g, "");
      in.grid.id = 0;
      in.geometry = polygon_of(g);
      in.where = g.code;
      grids.push_back(std::move(in));
    });
    catalog->upsert_grids(std::move(grids));
    std::vector<service::StationInput> stations;
    fx.city.for_each_station([&](const CityStation& s) {
      service::StationInput in;
      in.station = station_of(s, "");
      in.station.id = 0;
      in.where = s.code;
      stations.push_back(std::move(in));
    });
    catalog->upsert_stations(std::move(stations));
    api = std::make_unique<gridd::api::Api>(*catalog);
    std::fprintf(stderr, "[gridd_bench] api %s: stored and loaded through %s in %.1f s\n", name.c_str(),
                 path.c_str(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  ~ApiFixture() {
    api.reset();
    catalog.reset();
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  std::string path;
  std::unique_ptr<service::Catalog> catalog;
  std::unique_ptr<gridd::api::Api> api;
};

const ApiFixture& api_fixture(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<ApiFixture>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[name];
  if (!slot) slot = std::make_unique<ApiFixture>(name);
  return *slot;
}

void city_counters(benchmark::State& state, const CityFixture& fx) {
  using C = benchmark::Counter;
  state.SetItemsProcessed(state.iterations());
  state.counters["per_thread"] = C(static_cast<double>(state.iterations()), C::kIsRate | C::kAvgThreads);
  state.counters["grids"] = C(static_cast<double>(fx.grid_count), C::kAvgThreads);
  state.counters["stations"] = C(static_cast<double>(fx.station_count), C::kAvgThreads);
  state.counters["bytes_per_grid"] = C(fx.snapshot_bytes / static_cast<double>(fx.grid_count), C::kAvgThreads);
  state.counters["bytes_per_leaf"] = C(fx.snapshot_bytes / static_cast<double>(fx.city.leaf_count()), C::kAvgThreads);
  state.counters["build_s"] = C(fx.build_seconds, C::kAvgThreads);
}

std::size_t start_index(const benchmark::State& state) {
  return static_cast<std::size_t>(state.thread_index()) * (k_points / 2 + 7919);
}

void BM_Locate(benchmark::State& state, const std::string& city, bool outside) {
  const CityFixture& fx = city_fixture(city);
  const auto& points = outside ? fx.outside : fx.inside;
  const service::Snapshot& snap = *fx.snapshot;
  service::LocateOptions options;
  options.k = 3;
  std::size_t i = start_index(state), chain = 0, covered = 0;
  for (auto _ : state) {
    const auto& p = points[i++ & (k_points - 1)];
    service::LocateResult r = service::locate_wgs84(snap, p[0], p[1], options);
    chain += r.chain.size();
    covered += r.covered ? 1 : 0;
    benchmark::DoNotOptimize(r);
  }
  city_counters(state, fx);
  const double n = std::max<double>(1, static_cast<double>(state.iterations()));
  state.counters["chain"] = benchmark::Counter(static_cast<double>(chain) / n, benchmark::Counter::kAvgThreads);
  state.counters["covered"] = benchmark::Counter(static_cast<double>(covered) / n, benchmark::Counter::kAvgThreads);
}

void BM_Covering(benchmark::State& state, const std::string& city, bool geos_only) {
  const CityFixture& fx = city_fixture(city);
  const spatial::ShapeIndex& index = fx.snapshot->grid_index();
  std::size_t i = start_index(state);
  for (auto _ : state) {
    const auto& p = fx.inside[i++ & (k_points - 1)];
    auto hits = geos_only ? index.covering_geos(p[0], p[1]) : index.covering(p[0], p[1]);
    benchmark::DoNotOptimize(hits);
  }
  city_counters(state, fx);
  const auto& cells = index.cells();
  state.counters["lattice_cells"] = static_cast<double>(cells.cell_count());
  state.counters["pure_cells"] =
      cells.cell_count() ? static_cast<double>(cells.pure_cells()) / static_cast<double>(cells.cell_count()) : 0.0;
}

void BM_NearestStations(benchmark::State& state, const std::string& city) {
  const CityFixture& fx = city_fixture(city);
  std::size_t i = start_index(state);
  const std::string any_kind;
  for (auto _ : state) {
    const auto& p = fx.inside[i++ & (k_points - 1)];
    auto near = fx.snapshot->nearest_stations(p[0], p[1], 3, any_kind);
    benchmark::DoNotOptimize(near);
  }
  city_counters(state, fx);
}

void BM_ApiLocate(benchmark::State& state, const std::string& city) {
  const CityFixture& fx = city_fixture(city);
  const ApiFixture& afx = api_fixture(city);
  std::size_t i = start_index(state), bytes = 0, errors = 0;
  char query[96];
  for (auto _ : state) {
    const auto& p = fx.inside[i++ & (k_points - 1)];
    gridd::api::Request req;
    req.method = "GET";
    req.path = "/locate";
    std::snprintf(query, sizeof query, "lon=%.7f&lat=%.7f&k=3", p[0], p[1]);
    req.query = gridd::api::parse_query(query);
    gridd::api::Response res = afx.api->handle(req);
    bytes += res.body.size();
    errors += res.status != 200 ? 1 : 0;
    benchmark::DoNotOptimize(res);
  }
  city_counters(state, fx);
  const double n = std::max<double>(1, static_cast<double>(state.iterations()));
  state.counters["body_bytes"] = benchmark::Counter(static_cast<double>(bytes) / n, benchmark::Counter::kAvgThreads);
  state.counters["errors"] = benchmark::Counter(static_cast<double>(errors), benchmark::Counter::kAvgThreads);
}

std::vector<std::string> cities_from_env() {
  const char* env = std::getenv("GRIDD_BENCH_CITIES");
  std::string text = env && *env ? env : "20k";
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  for (const std::string& city : cities_from_env()) {
    try {
      (void)City(CityParams::by_name(city));  // fail early on a bad name or size
    } catch (const std::exception& e) {
      std::fprintf(stderr, "GRIDD_BENCH_CITIES: %s\n", e.what());
      return 2;
    }
    const bool big = city == "1m";
    auto* b = benchmark::RegisterBenchmark(("BM_Locate/" + city).c_str(), BM_Locate, city, false);
    b->Threads(1)->Threads(2)->UseRealTime();
    if (big) b->MinTime(2.0);
    benchmark::RegisterBenchmark(("BM_LocateOutside/" + city).c_str(), BM_Locate, city, true)->UseRealTime();
    benchmark::RegisterBenchmark(("BM_Covering/" + city).c_str(), BM_Covering, city, false)->UseRealTime();
    benchmark::RegisterBenchmark(("BM_CoveringGeos/" + city).c_str(), BM_Covering, city, true)->UseRealTime();
    benchmark::RegisterBenchmark(("BM_NearestStations/" + city).c_str(), BM_NearestStations, city)->UseRealTime();
    if (!big) {  // storing 1M grids in a GeoPackage takes too long for a benchmark run
      benchmark::RegisterBenchmark(("BM_ApiLocate/" + city).c_str(), BM_ApiLocate, city)
          ->Threads(1)
          ->Threads(2)
          ->UseRealTime();
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
