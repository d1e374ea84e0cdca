// Unit tests for gridd/service/workload.hpp: per grid and per worker open,
// overdue, received-in-period and per-1,000-households numbers with known
// counts (incidents reported through IncidentService into a GeoPackage
// store in a temp dir), sorting, percentiles and the split/merge flags.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/workload.hpp"
#include "gridd/storage/gpkg_store.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

using test::expect_error;
using namespace std::chrono;
using A = IncidentAction;

TimePoint utc(int y, unsigned mo, unsigned d, int h = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours(h);
}

const std::string k_c = "110101001001";
std::string grid_code(int i) { return k_c + "00" + std::to_string(i); }
double grid_lon(int i) { return 116.0 + 0.05 * i + 0.025; }
constexpr double k_lat = 39.95;

/// Ten grids G0..G9 in a row under one community. G_i has 100 (i + 1)
/// households (G5: unknown) and the worker "worker i"; G8 and G9 share
/// "Zhao Lei"; G1 has nobody. G_i receives i incidents a day before `now`;
/// G2 also has 3 open ones from 40 days ago; 4 of G9's are open burning
/// (4 h deadline) dispatched a day ago, so overdue; one of G4's is closed.
struct Fixture {
  test::TempDir dir;
  storage::IncidentStore* store = nullptr;
  std::unique_ptr<Catalog> catalog;
  TimePoint now = utc(2026, 11, 22, 1);
  std::unique_ptr<IncidentService> svc;

  Fixture() {
    auto gpkg = test::open_test_store(dir.file("store.gpkg"));
    store = &gpkg->incidents();
    catalog = std::make_unique<Catalog>(std::move(gpkg));
    std::vector<GridInput> grids;
    grids.push_back(test::grid_in("110101", Level::district, "", 116.0, 39.9, 116.5, 40.0));
    grids.push_back(test::grid_in("110101001", Level::street, "110101", 116.0, 39.9, 116.5, 40.0));
    grids.push_back(test::grid_in(k_c, Level::community, "110101001", 116.0, 39.9, 116.5, 40.0));
    for (int i = 0; i < 10; ++i) {
      auto g = test::grid_in(grid_code(i), Level::grid, k_c, 116.0 + 0.05 * i, 39.9, 116.05 + 0.05 * i, 40.0);
      if (i != 5) g.grid.households = 100 * (i + 1);
      if (i == 8 || i == 9) {
        g.grid.people = {{"Zhao Lei", "grid_worker", "13800000089"}, {"Qian", "grid_head", "1"}};
      } else if (i != 1) {
        g.grid.people = {{"worker " + std::to_string(i), "grid_worker", "1380000000" + std::to_string(i)}};
      }
      grids.push_back(std::move(g));
    }
    catalog->create_grids(std::move(grids));
    svc = std::make_unique<IncidentService>(
        *catalog, *store, CategoryCatalogue::load(std::string(GRIDD_GEODATA_DIR) + "/categories.json"),
        [this] { return now; });

    const TimePoint real_now = now;
    now = real_now - days(40);
    for (int k = 0; k < 3; ++k) report(2);
    now = real_now - days(1);
    for (int i = 0; i < 10; ++i) {
      for (int k = 0; k < i; ++k) {
        const bool burning = i == 9 && k < 4;
        const Incident inc = report(i, burning ? "open_burning" : "unauthorized_structure");
        if (burning) {
          step(inc.id, A::register_);
          step(inc.id, A::dispatch);
        }
        if (i == 4 && k == 0) {
          for (A a : {A::register_, A::dispatch, A::accept, A::resolve, A::verify, A::close}) step(inc.id, a);
        }
      }
    }
    now = real_now;
  }

  Incident report(int grid, const std::string& category = "unauthorized_structure") {
    IntakeInput in;
    in.category = category;
    in.description = "case in G" + std::to_string(grid);
    in.position = Position{grid_lon(grid), k_lat, ""};
    in.actor = "hotline";
    return svc->report({in}).at(0);
  }

  void step(std::int64_t id, A action) {
    TransitionInput t;
    t.action = action;
    t.actor = "tester";
    if (action == A::resolve) t.note = "done";
    (void)svc->transition(id, t);
  }
};

const GridWorkload& grid_of(const WorkloadResult& r, int i) {
  for (const auto& g : r.grids) {
    if (g.grid->grid.code == grid_code(i)) return g;
  }
  throw std::runtime_error("no grid G" + std::to_string(i));
}

const WorkerWorkload& worker_of(const WorkloadResult& r, const std::string& name) {
  for (const auto& w : r.workers) {
    if (w.name == name) return w;
  }
  throw std::runtime_error("no worker " + name);
}

TEST(Workload, PerGridNumbersWithKnownCounts) {
  Fixture f;
  WorkloadQuery q;
  const WorkloadResult r = workload(*f.svc, q);
  EXPECT_EQ(r.selection.level, Level::grid);
  ASSERT_EQ(r.grids.size(), 10u);
  EXPECT_EQ(r.to, f.now);
  EXPECT_EQ(r.from, f.now - days(30));
  const std::map<int, std::int64_t> open = {{0, 0}, {1, 1}, {2, 5}, {3, 3}, {4, 3},
                                            {5, 5}, {6, 6}, {7, 7}, {8, 8}, {9, 9}};
  for (const auto& [i, n] : open) {
    const auto& g = grid_of(r, i);
    SCOPED_TRACE("G" + std::to_string(i));
    EXPECT_EQ(g.numbers.open, n);
    EXPECT_EQ(g.numbers.received, i);
    EXPECT_EQ(g.numbers.overdue, i == 9 ? 4 : 0);
    if (i == 5) {
      EXPECT_FALSE(g.numbers.households);
      EXPECT_FALSE(g.numbers.per_1000_households);
    } else {
      ASSERT_TRUE(g.numbers.per_1000_households);
      EXPECT_NEAR(*g.numbers.per_1000_households, 1000.0 * i / (100.0 * (i + 1)), 1e-9);
    }
    if (n == 0) {
      EXPECT_FALSE(g.numbers.overdue_share);
    } else {
      ASSERT_TRUE(g.numbers.overdue_share);
      EXPECT_NEAR(*g.numbers.overdue_share, i == 9 ? 4.0 / 9 : 0.0, 1e-12);
    }
    EXPECT_NEAR(g.numbers.area_km2, g.grid->area_m2 / 1e6, 1e-9);
  }
  EXPECT_TRUE(grid_of(r, 1).workers.empty());
  ASSERT_EQ(grid_of(r, 8).workers.size(), 1u);
  EXPECT_EQ(grid_of(r, 8).workers[0].name, "Zhao Lei");

  // Sorted by open, descending; ties by code (G3 before G4, G2 before G5).
  std::vector<std::string> order;
  for (const auto& g : r.grids) order.push_back(g.grid->grid.code);
  EXPECT_EQ(order, (std::vector<std::string>{grid_code(9), grid_code(8), grid_code(7), grid_code(6), grid_code(2),
                                             grid_code(5), grid_code(3), grid_code(4), grid_code(1), grid_code(0)}));

  // Totals.
  EXPECT_EQ(r.totals.open, 47);
  EXPECT_EQ(r.totals.received, 45);
  EXPECT_EQ(r.totals.overdue, 4);
  ASSERT_TRUE(r.totals.households);
  EXPECT_EQ(*r.totals.households, 4900);
  ASSERT_TRUE(r.totals.per_1000_households);
  EXPECT_NEAR(*r.totals.per_1000_households, 1000.0 * 40 / 4900, 1e-9);  // G5's 5 have no households
}

TEST(Workload, FlagsSplitAndMergeCandidatesByPercentile) {
  Fixture f;
  WorkloadQuery q;
  WorkloadResult r = workload(*f.svc, q);
  // open: 0 1 3 3 5 5 6 7 8 9 -> P90 = 8.1, median 5, P10 = 0.9.
  ASSERT_TRUE(r.p_split && r.median && r.p_merge);
  EXPECT_NEAR(*r.p_split, 8.1, 1e-9);
  EXPECT_NEAR(*r.median, 5, 1e-9);
  EXPECT_NEAR(*r.p_merge, 0.9, 1e-9);
  EXPECT_EQ(r.split_candidates, 1u);
  EXPECT_EQ(r.merge_candidates, 1u);
  EXPECT_EQ(grid_of(r, 9).flag, WorkloadFlag::split);
  EXPECT_EQ(grid_of(r, 0).flag, WorkloadFlag::merge);
  EXPECT_EQ(grid_of(r, 5).flag, WorkloadFlag::none);
  EXPECT_NE(r.rule.find("90th percentile"), std::string::npos) << r.rule;
  EXPECT_NE(r.rule.find("10th percentile"), std::string::npos) << r.rule;

  // By incidents per 1,000 households: G5 (unknown) is last and never flagged.
  q.sort = WorkloadKey::per_1000_households;
  r = workload(*f.svc, q);
  EXPECT_EQ(r.grids.front().grid->grid.code, grid_code(9));
  EXPECT_EQ(r.grids.back().grid->grid.code, grid_code(5));
  EXPECT_EQ(grid_of(r, 5).flag, WorkloadFlag::none);
  EXPECT_EQ(grid_of(r, 0).flag, WorkloadFlag::merge);
  EXPECT_EQ(grid_of(r, 9).flag, WorkloadFlag::split);

  // Too few grids to compare: no flags.
  q.sort = WorkloadKey::open;
  q.min_grids_for_flags = 11;
  r = workload(*f.svc, q);
  EXPECT_EQ(r.split_candidates + r.merge_candidates, 0u);

  // Percentile helper (R type 7).
  EXPECT_FALSE(percentile({}, 50));
  EXPECT_EQ(*percentile({3}, 90), 3);
  EXPECT_NEAR(*percentile({1, 2, 3, 4}, 50), 2.5, 1e-12);
  EXPECT_NEAR(*percentile({1, 2, 3, 4}, 100), 4, 1e-12);
}

TEST(Workload, PerWorkerAndUnassigned) {
  Fixture f;
  const WorkloadResult r = workload(*f.svc, WorkloadQuery{});
  const WorkerWorkload& zhao = worker_of(r, "Zhao Lei");
  EXPECT_EQ(zhao.numbers.open, 17);
  EXPECT_EQ(zhao.numbers.received, 17);
  EXPECT_EQ(zhao.numbers.overdue, 4);
  ASSERT_TRUE(zhao.numbers.households);
  EXPECT_EQ(*zhao.numbers.households, 1900);
  ASSERT_TRUE(zhao.numbers.per_1000_households);
  EXPECT_NEAR(*zhao.numbers.per_1000_households, 17000.0 / 1900, 1e-9);
  EXPECT_EQ(zhao.grids, (std::vector<std::string>{grid_code(8), grid_code(9)}));
  EXPECT_EQ(r.workers.front().name, "Zhao Lei");  // the most open incidents
  const WorkerWorkload& w0 = worker_of(r, "worker 0");  // responsible for G0, no incidents
  EXPECT_EQ(w0.numbers.open, 0);
  EXPECT_EQ(w0.numbers.households, 100);
  const WorkerWorkload& w5 = worker_of(r, "worker 5");
  EXPECT_EQ(w5.numbers.open, 5);
  EXPECT_FALSE(w5.numbers.households);
  EXPECT_EQ(r.worker_count, 8u);  // workers 0, 2..7 and Zhao Lei
  // G1 has nobody: its incident is unassigned.
  EXPECT_EQ(r.unassigned.open, 1);
  EXPECT_EQ(r.unassigned.received, 1);
}

TEST(Workload, PeriodRootLevelLimitAndBadInput) {
  Fixture f;
  WorkloadQuery q;
  q.from = f.now - days(50);
  WorkloadResult r = workload(*f.svc, q);
  EXPECT_EQ(grid_of(r, 2).numbers.received, 5);  // the old three count now
  q.from = f.now - hours(2);
  r = workload(*f.svc, q);
  EXPECT_EQ(r.totals.received, 0);
  EXPECT_EQ(r.totals.open, 47);  // open does not depend on the period

  // The community as root, at its default (finest) level and at grid level.
  q = WorkloadQuery{};
  q.root = k_c;
  r = workload(*f.svc, q);
  EXPECT_EQ(r.grids.size(), 10u);
  ASSERT_NE(r.selection.root, nullptr);
  // The street as root at community level: one row with everything.
  q.root = "110101001";
  q.level = Level::community;
  r = workload(*f.svc, q);
  ASSERT_EQ(r.grids.size(), 1u);
  EXPECT_EQ(r.grids[0].numbers.open, 47);
  EXPECT_FALSE(r.grids[0].numbers.households);  // a community without its own households

  q = WorkloadQuery{};
  q.limit = 3;
  r = workload(*f.svc, q);
  EXPECT_EQ(r.grids.size(), 3u);
  EXPECT_EQ(r.workers.size(), 3u);
  EXPECT_EQ(r.grid_count, 10u);
  EXPECT_EQ(r.totals.open, 47);  // totals before the limit

  q = WorkloadQuery{};
  q.from = f.now;
  q.to = f.now - days(1);
  expect_error([&] { (void)workload(*f.svc, q); }, ErrorKind::invalid_input, "invalid_period", "from");
  q = WorkloadQuery{};
  q.root = "nowhere";
  expect_error([&] { (void)workload(*f.svc, q); }, ErrorKind::not_found, "grid_not_found", "root");
  q = WorkloadQuery{};
  q.root = grid_code(3);
  q.level = Level::community;
  expect_error([&] { (void)workload(*f.svc, q); }, ErrorKind::invalid_input, "invalid_level", "level");
  expect_error([] { (void)parse_workload_key("busiest"); }, ErrorKind::invalid_input, "invalid_sort", "sort");
  EXPECT_EQ(parse_workload_key("overdue_share"), WorkloadKey::overdue_share);
}

}  // namespace
}  // namespace gridd::service
