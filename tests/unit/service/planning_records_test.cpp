// What split and merge do to a grid's records besides its shape: split
// divides the households by area (or as the planner gives them, summing to
// the original), merge keeps every person of both grids and sums the
// households, saying which counts were unknown.

#include <gtest/gtest.h>

#include <numeric>

#include "gridd/service/catalog.hpp"
#include "gridd/spatial/geojson.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

using test::CatalogFixture;
using test::expect_error;
using test::grid_in;
using test::grids;

GridInput with(GridInput in, std::optional<std::int64_t> households, std::vector<Person> people = {}) {
  in.grid.households = households;
  in.grid.people = std::move(people);
  return in;
}

/// A street (116.0..116.2 x 35.0..35.1) with two communities; the eastern
/// one (116.1..116.2) has `east` households, the western one `west`.
std::vector<std::int64_t> street(CatalogFixture& f, std::optional<std::int64_t> west, std::optional<std::int64_t> east,
                                 std::vector<Person> west_people = {}, std::vector<Person> east_people = {}) {
  return f.catalog->create_grids(
      grids(grid_in("370811001", Level::street, "", 116.0, 35.0, 116.2, 35.1),
            with(grid_in("370811001001", Level::community, "370811001", 116.0, 35.0, 116.1, 35.1), west, west_people),
            with(grid_in("370811001002", Level::community, "370811001", 116.1, 35.0, 116.2, 35.1), east, east_people)));
}

/// A north-south line at longitude x, overshooting the street.
spatial::GeomPtr line_at(double x) {
  return spatial::geometry_from_geojson(
      Json{{"type", "LineString"}, {"coordinates", Json::array({Json::array({x, 34.99}), Json::array({x, 35.11})})}});
}

EditOptions as(const std::string& editor, const std::string& reason) {
  EditOptions o;
  o.editor = editor;
  o.reason = reason;
  return o;
}

std::int64_t sum(const std::vector<std::int64_t>& v) { return std::accumulate(v.begin(), v.end(), std::int64_t{0}); }

TEST(Planning, HouseholdsAreDividedByAreaAndSumExactly) {
  EXPECT_EQ(divide_by_area(1000, {70, 30}), (std::vector<std::int64_t>{700, 300}));
  EXPECT_EQ(divide_by_area(1000, {0.7, 0.3}), (std::vector<std::int64_t>{700, 300}));
  // Odd totals: the shares are 699.3 and 299.7; rounded, they still sum to 999.
  EXPECT_EQ(divide_by_area(999, {70, 30}), (std::vector<std::int64_t>{699, 300}));
  // Three equal parts of 1001: 333.67 each, so two get 334 and one 333.
  const auto three = divide_by_area(1001, {1, 1, 1});
  EXPECT_EQ(sum(three), 1001);
  EXPECT_EQ(three, (std::vector<std::int64_t>{334, 334, 333}));
  // An even split of an odd count: the tie goes to the larger (first) part.
  EXPECT_EQ(divide_by_area(7, {1, 1}), (std::vector<std::int64_t>{4, 3}));
  EXPECT_EQ(divide_by_area(1, {1, 1}), (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(divide_by_area(0, {2, 1}), (std::vector<std::int64_t>{0, 0}));
  // Many uneven parts still sum exactly.
  const std::vector<double> areas{13.7, 2.2, 9.9, 0.4, 31.3, 7.7, 1.1};
  for (std::int64_t total : {1, 17, 120, 999, 1000, 123457}) {
    const auto parts = divide_by_area(total, areas);
    EXPECT_EQ(sum(parts), total) << total;
    const double all = std::accumulate(areas.begin(), areas.end(), 0.0);
    for (std::size_t i = 0; i < parts.size(); ++i) {
      EXPECT_LE(std::abs(static_cast<double>(parts[i]) - total * areas[i] / all), 1.0) << total << " part " << i;
    }
  }
}

TEST(Planning, SplitDividesTheHouseholdsByArea) {
  CatalogFixture f;
  const auto ids = street(f, 500, 1000);
  // x = 116.13 cuts the eastern community 30/70 (strips of equal latitude span: area follows longitude).
  EditPlan plan = f.catalog->plan_split(ids[2], line_at(116.13).get());
  ASSERT_TRUE(plan.split);
  EXPECT_EQ(plan.split->by, "area");
  EXPECT_EQ(plan.split->households, 1000);
  ASSERT_EQ(plan.split->parts.size(), 2u);
  EXPECT_TRUE(plan.split->parts[0].kept);
  EXPECT_EQ(plan.split->parts[0].households, 700);  // the larger part keeps the grid
  EXPECT_EQ(plan.split->parts[1].households, 300);
  EXPECT_NEAR(plan.split->parts[1].area_m2 / (plan.split->parts[0].area_m2 + plan.split->parts[1].area_m2), 0.3, 1e-6);

  // The preview shows the same division on the grids.
  const EditOutcome preview = f.catalog->preview(plan);
  ASSERT_TRUE(preview.split);
  EXPECT_EQ(preview.grids.front().households, 700);
  EXPECT_EQ(preview.grids.back().households, 300);

  const EditOutcome done = f.catalog->apply(std::move(plan), as("planner", "new estate"));
  const auto snap = f.catalog->snapshot();
  EXPECT_EQ(snap->grid_by_id(ids[2])->grid.households, 700);
  EXPECT_EQ(snap->grid_by_id(done.grids.back().id)->grid.households, 300);
  EXPECT_EQ(f.catalog->history(ids[2]).back().grid.households, 700);

  // An odd total still sums exactly: 999 at 70/30 is 699 + 300.
  CatalogFixture g;
  const auto odd = street(g, std::nullopt, 999);
  EditPlan p2 = g.catalog->plan_split(odd[2], line_at(116.13).get());
  EXPECT_EQ(p2.split->parts[0].households, 699);
  EXPECT_EQ(p2.split->parts[1].households, 300);
}

TEST(Planning, SplitTakesThePlannersOwnDivisionWhenItSumsToTheOriginal) {
  CatalogFixture f;
  const auto ids = street(f, 500, 1000);
  const auto line = line_at(116.13);
  EditPlan plan = f.catalog->plan_split(ids[2], line.get(), {}, std::vector<std::int64_t>{640, 360});
  EXPECT_EQ(plan.split->by, "given");
  const EditOutcome done = f.catalog->apply(std::move(plan), as("planner", "counted at the doors"));
  EXPECT_EQ(f.catalog->snapshot()->grid_by_id(ids[2])->grid.households, 640);
  EXPECT_EQ(f.catalog->snapshot()->grid_by_id(done.grids.back().id)->grid.households, 360);

  CatalogFixture g;
  const auto other = street(g, 500, 1000);
  const std::string msg = expect_error(
      [&] { (void)g.catalog->plan_split(other[2], line.get(), {}, std::vector<std::int64_t>{640, 300}); },
      ErrorKind::invalid_input, "invalid_households", "households");
  EXPECT_NE(msg.find("940"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1000"), std::string::npos) << msg;
  expect_error([&] { (void)g.catalog->plan_split(other[2], line.get(), {}, std::vector<std::int64_t>{1000}); },
               ErrorKind::invalid_input, "invalid_households", "households");
  expect_error([&] { (void)g.catalog->plan_split(other[2], line.get(), {}, std::vector<std::int64_t>{1001, -1}); },
               ErrorKind::invalid_input, "invalid_households", "households/1");
  // Nothing written by a refused split.
  EXPECT_EQ(g.catalog->snapshot()->grid_by_code("370811001003"), nullptr);
}

TEST(Planning, SplitOfAGridWithoutACountLeavesThePartsUnknown) {
  CatalogFixture f;
  const auto ids = street(f, std::nullopt, std::nullopt);
  EditPlan plan = f.catalog->plan_split(ids[2], line_at(116.13).get());
  EXPECT_EQ(plan.split->by, "unknown");
  for (const auto& p : plan.split->parts) EXPECT_FALSE(p.households);
  // A count given for the parts of a grid that had none is taken as it is.
  EditPlan given = f.catalog->plan_split(ids[2], line_at(116.13).get(), {}, std::vector<std::int64_t>{80, 40});
  EXPECT_EQ(given.split->parts[0].households, 80);
  EXPECT_EQ(given.split->parts[1].households, 40);
}

TEST(Planning, MergeKeepsEveryPersonAndSumsTheHouseholds) {
  CatalogFixture f;
  const Person head{"叶新", "grid_head", "13905370011"};
  const auto ids = street(f, 471, 597, {{"王雨佳", "grid_worker", "13905370012"}, head},
                          {{"孙丹玲", "grid_worker", "13905370013"}, head});
  EditPlan plan = f.catalog->plan_merge({ids[1], ids[2]}, ids[1]);
  ASSERT_TRUE(plan.merge);
  const MergeSummary& m = *plan.merge;
  ASSERT_EQ(m.people.size(), 3u);  // 叶新 is in both grids, kept once
  EXPECT_EQ(m.people[0].name, "王雨佳");
  EXPECT_EQ(m.people[1].name, "叶新");
  EXPECT_EQ(m.people[2].name, "孙丹玲");
  ASSERT_EQ(m.people_added.size(), 1u);
  EXPECT_EQ(m.people_added[0].name, "孙丹玲");
  EXPECT_EQ(m.duplicates, 1u);
  EXPECT_EQ(m.households, 1068);
  EXPECT_TRUE(m.households_unknown.empty());
  EXPECT_EQ(m.retired, std::vector<std::string>{"370811001002"});

  f.catalog->apply(std::move(plan), as("planner", "one community"));
  const Grid& merged = f.catalog->snapshot()->grid_by_id(ids[1])->grid;
  EXPECT_EQ(merged.households, 1068);
  ASSERT_EQ(merged.people.size(), 3u);
  EXPECT_EQ(merged.people[2], (Person{"孙丹玲", "grid_worker", "13905370013"}));
  EXPECT_EQ(f.catalog->history(ids[1]).back().grid.people.size(), 3u);
  EXPECT_EQ(f.catalog->snapshot()->grid_by_code("370811001002"), nullptr);
}

TEST(Planning, MergeSumsTheKnownHouseholdsAndNamesTheUnknown) {
  CatalogFixture f;
  // The same person in another role is a second entry, not a duplicate.
  const auto ids = street(f, 120, std::nullopt, {{"叶新", "grid_worker", "1"}}, {{"叶新", "grid_head", "1"}});
  EditPlan plan = f.catalog->plan_merge({ids[1], ids[2]});
  EXPECT_EQ(plan.merge->households, 120);
  EXPECT_EQ(plan.merge->households_unknown, std::vector<std::string>{"370811001002"});
  EXPECT_EQ(plan.merge->people.size(), 2u);
  EXPECT_EQ(f.catalog->preview(plan).grids.front().households, 120);

  CatalogFixture g;
  const auto none = street(g, std::nullopt, std::nullopt);
  EditPlan p2 = g.catalog->plan_merge({none[1], none[2]});
  EXPECT_FALSE(p2.merge->households);
  EXPECT_EQ(p2.merge->households_unknown.size(), 2u);
  EXPECT_FALSE(g.catalog->preview(p2).grids.front().households);
}

TEST(Planning, SplitThenMergeGivesBackTheHouseholds) {
  CatalogFixture f;
  const auto ids = street(f, 500, 121);
  const EditOutcome split = f.catalog->apply(f.catalog->plan_split(ids[2], line_at(116.15).get()), as("p", "split"));
  const std::int64_t added = split.grids.back().id;
  const auto snap = f.catalog->snapshot();
  EXPECT_EQ(*snap->grid_by_id(ids[2])->grid.households + *snap->grid_by_id(added)->grid.households, 121);
  f.catalog->apply(f.catalog->plan_merge({ids[2], added}), as("p", "merge back"));
  EXPECT_EQ(f.catalog->snapshot()->grid_by_id(ids[2])->grid.households, 121);
}

}  // namespace
}  // namespace gridd::service
