// gridd_incident_bench: in-process incident benchmarks (Google Benchmark).
//
// service::IncidentService over a Catalog and a GpkgStore in GeoPackage files ON DISK (the
// directory $GRIDD_BENCH_DIR, default the build directory of this program: never /dev/shm,
// because durable intake is what is measured), with the demo city (geodata/renchen, the same
// one `gridd serve --demo` loads) or a synthetic city (synthetic_city.hpp).
//
// Families:
//   BM_IntakeSingle/threads:N  (N = 1, 2) one report() of one incident per iteration: one durable
//                              transaction (WAL, synchronous=FULL, fsync at COMMIT), routing
//                              included. Counters: items_per_second, p50_us, p99_us (per report)
//   BM_IntakeBatch/100         one report() of 100 incidents per iteration (one transaction).
//                              items_per_second = incidents per second; p50_us/p99_us per batch
//   BM_ListBbox                IncidentService::list(), newest first, limit 100, filter: a random
//                              square of GRIDD_BENCH_BBOX_M metres (default 1000) centred on a
//                              random point of the city; over N stored incidents
//   BM_ListSubtree             the same with the filter "chain holds a random community"
//   BM_ApiListBbox, BM_ApiListSubtree
//                              the same two through the real GET /incidents handler (query
//                              parsing, listing, GeoJSON rendering of 100 features), no HTTP
//   BM_ClustersSql, BM_ClustersIndex
//                              the open incidents of the whole city counted on 16 x 16 cells
//                              with their colours (a low-zoom incidents tile): the store's SQL
//                              over its R-tree, and the service's in-memory index of open
//                              incidents (what tiles use). open_index_MiB: the index's memory
// List counters: p50_us, p99_us (latency of one call, from every iteration), returned (items
// per call), stored (incidents in the store).
//
// Environment:
//   GRIDD_BENCH_INCIDENTS  N incidents in the listing store [100000]
//   GRIDD_BENCH_DIR        where the stores live [the build directory]
//   GRIDD_BENCH_CITY       demo, 20k or COLSxROWS (synthetic) [demo]
//   GRIDD_BENCH_BBOX_M     side of the listing bbox in metres [1000]
// The listing store is $GRIDD_BENCH_DIR/gridd_incident_bench_<city>_<N>.gpkg. When it exists
// it is reused (topped up to N when it holds fewer); delete it to start over. It is populated
// through report() in batches of 10,000 (one transaction each). The intake benchmarks write into
// a fresh store of their own (gridd_incident_bench_intake_<pid>.gpkg), deleted at exit, so the
// listing store keeps exactly N incidents and intake always starts from an empty table.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "gridd/api/handlers.hpp"
#include "gridd/core/incident.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/ogr_io.hpp"
#include "gridd/spatial/geos.hpp"
#include "gridd/storage/store.hpp"
#include "synthetic_city.hpp"

#ifndef GRIDD_GEODATA_DIR
#define GRIDD_GEODATA_DIR "geodata"
#endif
#ifndef GRIDD_BENCH_DEFAULT_DIR
#define GRIDD_BENCH_DEFAULT_DIR "."
#endif

namespace {

namespace service = gridd::service;
namespace spatial = gridd::spatial;
namespace storage = gridd::storage;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::size_t k_points = 1 << 16;  // random positions inside the city (power of two)
constexpr std::size_t k_populate_batch = 10000;
constexpr std::size_t k_limit = 100;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);  // accepts 1e6
  if (end == v || d < 1) {
    std::fprintf(stderr, "%s must be a positive number, not '%s'\n", name, v);
    std::exit(2);
  }
  return static_cast<std::size_t>(d);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void remove_store(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path + suffix, ec);
}

// --------------------------------------------------------------------------- the city

spatial::GeomPtr polygon_of(const gridd_bench::CityGrid& g) {
  GEOSContextHandle_t ctx = spatial::geos();
  GEOSCoordSequence* seq = GEOSCoordSeq_copyFromBuffer_r(ctx, g.ring.front().data(), g.ring.size(), 0, 0);
  GEOSGeometry* shell = GEOSGeom_createLinearRing_r(ctx, seq);
  return spatial::checked(GEOSGeom_createPolygon_r(ctx, shell, nullptr, 0), "polygon");
}

/// Store the city in an empty catalog: the demo (as `gridd serve --demo`) or a synthetic one.
void load_city(service::Catalog& catalog, const std::string& city) {
  if (!catalog.snapshot()->grids().empty()) return;
  if (city == "demo") {
    service::load_demo(catalog, std::string(GRIDD_GEODATA_DIR) + "/renchen/demo.json");
    return;
  }
  const gridd_bench::City c(gridd_bench::CityParams::by_name(city));
  std::vector<service::GridInput> grids;
  c.for_each_grid([&](const gridd_bench::CityGrid& g) {
    service::GridInput in;
    in.grid.code = g.code;
    in.grid.name = g.name;
    in.grid.level = static_cast<gridd::Level>(g.level);
    in.grid.parent_code = g.parent;
    for (const auto& p : g.people) in.grid.people.push_back({p.name, p.role, p.phone});
    if (g.households >= 0) in.grid.households = g.households;
    in.geometry = polygon_of(g);
    in.where = g.code;
    grids.push_back(std::move(in));
  });
  catalog.upsert_grids(std::move(grids));
  std::vector<service::StationInput> stations;
  c.for_each_station([&](const gridd_bench::CityStation& s) {
    service::StationInput in;
    in.station.code = s.code;
    in.station.name = s.name;
    in.station.kind = s.kind;
    in.station.lon = s.lon;
    in.station.lat = s.lat;
    in.where = s.code;
    stations.push_back(std::move(in));
  });
  catalog.upsert_stations(std::move(stations));
}

/// One store with its catalog and incident service.
struct World {
  World(std::string p, const std::string& city, std::size_t max_batch) : path(std::move(p)) {
    auto store = storage::open_store(path);
    storage::IncidentStore& incident_store = store->incidents();
    incident_sql = &incident_store;
    catalog = std::make_unique<service::Catalog>(std::move(store));
    load_city(*catalog, city);
    service::IncidentOptions options;
    options.max_batch = max_batch;
    incidents = std::make_unique<service::IncidentService>(
        *catalog, incident_store, gridd::CategoryCatalogue::load(std::string(GRIDD_GEODATA_DIR) + "/categories.json"),
        service::Clock{}, options);
    api = std::make_unique<gridd::api::Api>(*catalog, gridd::api::ApiOptions{},
                                            gridd::api::ApiServices{.incidents = incidents.get()});
  }
  ~World() {
    api.reset();
    incidents.reset();
    catalog.reset();
  }
  std::string path;
  storage::IncidentStore* incident_sql = nullptr;  ///< the store itself (its SQL aggregation)
  std::unique_ptr<service::Catalog> catalog;
  std::unique_ptr<service::IncidentService> incidents;
  std::unique_ptr<gridd::api::Api> api;
};

/// Random positions inside the city (covered by some grid), communities, categories.
struct Sample {
  explicit Sample(const service::Snapshot& snap) {
    const auto& ext = snap.grid_index().extent();
    city = {ext.minx, ext.miny, ext.maxx, ext.maxy};
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> ux(ext.minx, ext.maxx), uy(ext.miny, ext.maxy);
    points.reserve(k_points);
    while (points.size() < k_points) {
      const double x = ux(rng), y = uy(rng);
      if (!snap.grid_index().covering(x, y).empty()) points.push_back({std::round(x * 1e7) / 1e7, std::round(y * 1e7) / 1e7});
    }
    for (const auto& g : snap.grids()) {
      if (g->grid.level == gridd::Level::community) communities.push_back(g->grid.id);
    }
    if (communities.empty()) {  // a city without communities: use the coarsest level below the top
      for (const auto& g : snap.grids()) {
        if (g->grid.level != gridd::Level::district) communities.push_back(g->grid.id);
      }
    }
    community_codes.reserve(communities.size());
    for (auto id : communities) community_codes.push_back(snap.grid_by_id(id)->grid.code);
  }
  std::vector<std::array<double, 2>> points;
  std::array<double, 4> city{};  ///< the city's extent
  std::vector<std::int64_t> communities;
  std::vector<std::string> community_codes;
};

const std::vector<std::string>& category_codes(const service::IncidentService& svc) {
  static std::vector<std::string> codes = [&] {
    std::vector<std::string> out;
    for (const auto& c : svc.categories().all()) out.push_back(c.code);
    return out;
  }();
  return codes;
}

service::IntakeInput intake(const service::IncidentService& svc, const std::array<double, 2>& p, std::uint64_t n) {
  const auto& cats = category_codes(svc);
  service::IntakeInput in;
  in.category = n % 4 == 0 ? std::string("roof_leak") : cats[n % cats.size()];
  in.description = "基准测试事件 #" + std::to_string(n) + "：屋顶漏水，楼道积水";
  in.position = service::Position{p[0], p[1], ""};
  in.channel = "api";
  return in;
}

struct Config {
  std::string city = env_or("GRIDD_BENCH_CITY", "demo");
  std::string dir = env_or("GRIDD_BENCH_DIR", GRIDD_BENCH_DEFAULT_DIR);
  std::size_t incidents = env_size("GRIDD_BENCH_INCIDENTS", 100000);
  double bbox_m = static_cast<double>(env_size("GRIDD_BENCH_BBOX_M", 1000));
};
const Config& config() {
  static const Config c;
  return c;
}

/// The listing store with N incidents (created, reused or topped up on first use).
struct ListFixture {
  ListFixture() {
    const Config& c = config();
    fs::create_directories(c.dir);
    const std::string path =
        (fs::path(c.dir) / ("gridd_incident_bench_" + c.city + "_" + std::to_string(c.incidents) + ".gpkg")).string();
    const bool existed = fs::exists(path);
    const auto t0 = Clock::now();
    world = std::make_unique<World>(path, c.city, k_populate_batch);
    sample = std::make_unique<Sample>(*world->catalog->snapshot());
    auto& svc = *world->incidents;
    std::size_t have = static_cast<std::size_t>(svc.count({}));
    const std::size_t had = have;
    std::mt19937_64 rng(have + 7);
    while (have < c.incidents) {
      const std::size_t n = std::min(k_populate_batch, c.incidents - have);
      std::vector<service::IntakeInput> batch;
      batch.reserve(n);
      for (std::size_t k = 0; k < n; ++k) batch.push_back(intake(svc, sample->points[rng() & (k_points - 1)], have + k));
      (void)svc.report(std::move(batch));
      have += n;
      if (have % 100000 == 0 || have == c.incidents) {
        std::fprintf(stderr, "[incident_bench] populating %s: %zu / %zu (%.0f s)\n", path.c_str(), have, c.incidents,
                     seconds_since(t0));
      }
    }
    stored = have;
    std::fprintf(stderr, "[incident_bench] listing store %s: %s, %zu incidents (%zu added) in %.1f s; %zu communities\n",
                 path.c_str(), existed ? "reused" : "created", stored, stored - had, seconds_since(t0),
                 sample->communities.size());
  }
  std::unique_ptr<World> world;
  std::unique_ptr<Sample> sample;
  std::size_t stored = 0;
};

ListFixture& list_fixture() {
  static ListFixture fx;
  return fx;
}

/// A fresh store for intake, deleted at exit.
struct IntakeFixture {
  IntakeFixture() {
    const Config& c = config();
    fs::create_directories(c.dir);
    path = (fs::path(c.dir) / ("gridd_incident_bench_intake_" + std::to_string(getpid()) + ".gpkg")).string();
    remove_store(path);
    world = std::make_unique<World>(path, c.city, 1000);
    sample = std::make_unique<Sample>(*world->catalog->snapshot());
    std::fprintf(stderr, "[incident_bench] intake store %s (fresh)\n", path.c_str());
  }
  ~IntakeFixture() {
    world.reset();
    remove_store(path);
  }
  std::string path;
  std::unique_ptr<World> world;
  std::unique_ptr<Sample> sample;
};

IntakeFixture& intake_fixture() {
  static IntakeFixture fx;  // thread-safe first use; destroyed (and deleted) at exit
  return fx;
}

// --------------------------------------------------------------------------- latencies

struct Latencies {
  std::vector<double> us;
  void add(Clock::time_point t0) { us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count()); }
  /// Nearest-rank percentile.
  double pct(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(us.size())));
    return us[std::clamp<std::size_t>(rank, 1, us.size()) - 1];
  }
  void report(benchmark::State& state) {
    using C = benchmark::Counter;
    // With several threads: the mean over threads of each thread's percentile.
    state.counters["p50_us"] = C(pct(50), C::kAvgThreads);
    state.counters["p99_us"] = C(pct(99), C::kAvgThreads);
  }
};

// --------------------------------------------------------------------------- benchmarks

void BM_IntakeSingle(benchmark::State& state) {
  IntakeFixture& fx = intake_fixture();
  auto& svc = *fx.world->incidents;
  std::mt19937_64 rng(1000 + static_cast<std::uint64_t>(state.thread_index()));
  Latencies lat;
  std::uint64_t n = static_cast<std::uint64_t>(state.thread_index()) << 40;
  for (auto _ : state) {
    std::vector<service::IntakeInput> one;
    one.push_back(intake(svc, fx.sample->points[rng() & (k_points - 1)], n++));
    const auto t0 = Clock::now();
    auto out = svc.report(std::move(one));
    lat.add(t0);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  lat.report(state);
}

void BM_IntakeBatch(benchmark::State& state) {
  IntakeFixture& fx = intake_fixture();
  auto& svc = *fx.world->incidents;
  const auto size = static_cast<std::size_t>(state.range(0));
  std::mt19937_64 rng(2000 + static_cast<std::uint64_t>(state.thread_index()));
  Latencies lat;
  std::uint64_t n = (static_cast<std::uint64_t>(state.thread_index()) << 40) + (1ull << 50);
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<service::IntakeInput> batch;
    batch.reserve(size);
    for (std::size_t k = 0; k < size; ++k) batch.push_back(intake(svc, fx.sample->points[rng() & (k_points - 1)], n++));
    state.ResumeTiming();
    const auto t0 = Clock::now();
    auto out = svc.report(std::move(batch));
    lat.add(t0);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(size));
  lat.report(state);
}

std::array<double, 4> random_bbox(const Sample& s, std::mt19937_64& rng) {
  const auto& p = s.points[rng() & (k_points - 1)];
  constexpr double metres_per_degree = 6371008.8 * 3.14159265358979323846 / 180.0;
  const double hy = config().bbox_m / 2 / metres_per_degree;
  const double hx = hy / std::cos(p[1] * 3.14159265358979323846 / 180.0);
  return {p[0] - hx, p[1] - hy, p[0] + hx, p[1] + hy};
}

void list_counters(benchmark::State& state, Latencies& lat, std::size_t returned, const ListFixture& fx) {
  using C = benchmark::Counter;
  lat.report(state);
  state.SetItemsProcessed(state.iterations());
  const double n = std::max<double>(1, static_cast<double>(state.iterations()));
  state.counters["returned"] = C(static_cast<double>(returned) / n, C::kAvgThreads);
  state.counters["stored"] = C(static_cast<double>(fx.stored), C::kAvgThreads);
}

void BM_ListBbox(benchmark::State& state) {
  ListFixture& fx = list_fixture();
  const auto& svc = *fx.world->incidents;
  std::mt19937_64 rng(3000);
  Latencies lat;
  std::size_t returned = 0;
  for (auto _ : state) {
    storage::IncidentQuery q;
    q.filter.bbox = random_bbox(*fx.sample, rng);
    q.limit = k_limit;
    const auto t0 = Clock::now();
    auto page = svc.list(std::move(q));
    lat.add(t0);
    returned += page.items.size();
    benchmark::DoNotOptimize(page);
  }
  list_counters(state, lat, returned, fx);
}

/// Open incidents aggregated on 16 x 16 cells over the whole city (a
/// low-zoom incidents tile): from the in-memory index (in_memory) or with
/// the store's SQL over the R-tree.
void BM_Clusters(benchmark::State& state, bool in_memory) {
  ListFixture& fx = list_fixture();
  const auto& svc = *fx.world->incidents;
  Latencies lat;
  std::size_t cells = 0;
  for (auto _ : state) {
    const gridd::TimePoint now = svc.now();
    const auto t0 = Clock::now();
    const auto out = in_memory ? svc.clusters(fx.sample->city, 16, 16, now)
                               : fx.world->incident_sql->clusters(
                                     fx.sample->city, 16, 16,
                                     storage::ColourClock{gridd::format_iso8601(now), gridd::format_iso8601(gridd::local_day_end(now))},
                                     std::nullopt);
    lat.add(t0);
    cells += out.size();
    benchmark::DoNotOptimize(out);
  }
  list_counters(state, lat, cells, fx);
  state.counters["open_index_MiB"] = static_cast<double>(svc.open_index().bytes()) / (1024.0 * 1024.0);
}

void BM_ListSubtree(benchmark::State& state) {
  ListFixture& fx = list_fixture();
  const auto& svc = *fx.world->incidents;
  std::mt19937_64 rng(4000);
  Latencies lat;
  std::size_t returned = 0;
  const auto& communities = fx.sample->communities;
  for (auto _ : state) {
    storage::IncidentQuery q;
    q.filter.subtree = std::pair{gridd::Level::community, communities[rng() % communities.size()]};
    q.limit = k_limit;
    const auto t0 = Clock::now();
    auto page = svc.list(std::move(q));
    lat.add(t0);
    returned += page.items.size();
    benchmark::DoNotOptimize(page);
  }
  list_counters(state, lat, returned, fx);
}

void BM_ApiList(benchmark::State& state, bool by_bbox) {
  ListFixture& fx = list_fixture();
  const auto& api = *fx.world->api;
  std::mt19937_64 rng(by_bbox ? 5000 : 6000);
  Latencies lat;
  std::size_t returned = 0, bytes = 0, errors = 0;
  char query[160];
  const auto& codes = fx.sample->community_codes;
  for (auto _ : state) {
    gridd::api::Request req;
    req.method = "GET";
    req.path = "/incidents";
    if (by_bbox) {
      const auto b = random_bbox(*fx.sample, rng);
      std::snprintf(query, sizeof query, "bbox=%.7f,%.7f,%.7f,%.7f&limit=%zu", b[0], b[1], b[2], b[3], k_limit);
    } else {
      std::snprintf(query, sizeof query, "grid=%s&limit=%zu", codes[rng() % codes.size()].c_str(), k_limit);
    }
    const auto t0 = Clock::now();
    req.query = gridd::api::parse_query(query);
    gridd::api::Response res = api.handle(req);
    lat.add(t0);
    bytes += res.body.size();
    errors += res.status != 200 ? 1 : 0;
    // "numberReturned":N
    if (const auto at = res.body.find("\"numberReturned\":"); at != std::string::npos) {
      returned += static_cast<std::size_t>(std::strtoul(res.body.c_str() + at + 17, nullptr, 10));
    }
    benchmark::DoNotOptimize(res);
  }
  list_counters(state, lat, returned, fx);
  using C = benchmark::Counter;
  const double n = std::max<double>(1, static_cast<double>(state.iterations()));
  state.counters["body_bytes"] = C(static_cast<double>(bytes) / n, C::kAvgThreads);
  state.counters["errors"] = C(static_cast<double>(errors), C::kAvgThreads);
}

}  // namespace

int main(int argc, char** argv) {
  const Config& c = config();
  try {
    if (c.city != "demo") (void)gridd_bench::City(gridd_bench::CityParams::by_name(c.city));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "GRIDD_BENCH_CITY: %s (demo, 20k or COLSxROWS)\n", e.what());
    return 2;
  }
  std::fprintf(stderr, "[incident_bench] city %s, %zu incidents, bbox %.0f m, stores in %s\n", c.city.c_str(),
               c.incidents, c.bbox_m, c.dir.c_str());
  benchmark::RegisterBenchmark("BM_IntakeSingle", BM_IntakeSingle)->Threads(1)->Threads(2)->UseRealTime();
  benchmark::RegisterBenchmark("BM_IntakeBatch", BM_IntakeBatch)->Arg(100)->UseRealTime();
  benchmark::RegisterBenchmark("BM_ListBbox", BM_ListBbox)->UseRealTime();
  benchmark::RegisterBenchmark("BM_ListSubtree", BM_ListSubtree)->UseRealTime();
  benchmark::RegisterBenchmark("BM_ClustersSql", BM_Clusters, false)->UseRealTime();
  benchmark::RegisterBenchmark("BM_ClustersIndex", BM_Clusters, true)->UseRealTime();
  benchmark::RegisterBenchmark("BM_ApiListBbox", BM_ApiList, true)->UseRealTime();
  benchmark::RegisterBenchmark("BM_ApiListSubtree", BM_ApiList, false)->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
