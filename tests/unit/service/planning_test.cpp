// The planner's edits through the Catalog: topology refusal and drafts,
// split, merge, snap, the version history, restore and time travel.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "gridd/service/editing.hpp"
#include "gridd/service/locate.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

using test::CatalogFixture;
using test::expect_error;
using test::grid_in;
using test::grids;

// A street (116.0..116.2 x 35.0..35.1) divided into two communities.
std::vector<std::int64_t> street(CatalogFixture& f) {
  return f.catalog->create_grids(grids(grid_in("370811001", Level::street, "", 116.0, 35.0, 116.2, 35.1),
                                       grid_in("370811001001", Level::community, "370811001", 116.0, 35.0, 116.1, 35.1),
                                       grid_in("370811001002", Level::community, "370811001", 116.1, 35.0, 116.2, 35.1)));
}

double area_of(const Grid& g) {
  auto geom = spatial::from_wkb(g.wkb);
  return spatial::geodesic_area_m2(geom.get());
}

double area_of(const GridEntry* e) { return e->area_m2; }

EditOptions as(const std::string& editor, const std::string& reason, bool draft = false) {
  EditOptions o;
  o.editor = editor;
  o.reason = reason;
  o.draft = draft;
  return o;
}

TEST(Planning, AnOverlappingGridIsRefusedWithTheDefectAndSavedAsADraft) {
  CatalogFixture f;
  street(f);
  auto overlapping = [] {
    return grids(grid_in("370811001003", Level::community, "370811001", 116.15, 35.0, 116.2, 35.05));
  };
  try {
    f.catalog->create_grids(overlapping());
    ADD_FAILURE() << "an overlapping grid was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "topology_defects");
    const Json details = Json::parse(e.details());
    ASSERT_EQ(details["features"].size(), 1u) << details.dump();
    const Json& p = details["features"][0]["properties"];
    EXPECT_EQ(p["type"], "overlap");
    EXPECT_EQ(p["codes"], Json::array({"370811001002", "370811001003"}));
    EXPECT_GT(p["area_m2"].get<double>(), 2.0e7);
  }
  EXPECT_EQ(f.catalog->snapshot()->grid_by_code("370811001003"), nullptr);
  const auto ids = f.catalog->create_grids(overlapping(), as("planner", "to be fixed", true));
  const auto history = f.catalog->history(ids[0]);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_TRUE(history[0].draft);
  EXPECT_EQ(history[0].editor, "planner");
}

TEST(Planning, ShrinkingAGridThatLeavesAGapIsRefused) {
  CatalogFixture f;
  const auto ids = street(f);
  const std::string msg = expect_error(
      [&] { f.catalog->update_grid(ids[2], grid_in("370811001002", Level::community, "370811001", 116.1, 35.0, 116.19, 35.1)); },
      ErrorKind::conflict, "topology_defects", "geometry");
  EXPECT_NE(msg.find("gap"), std::string::npos) << msg;
  // Growing the neighbour into the same space keeps the street covered.
  f.catalog->update_grid(ids[2], grid_in("370811001002", Level::community, "370811001", 116.1, 35.0, 116.2, 35.1),
                         as("planner", "no change"));
}

TEST(Planning, DividingAParentStepByStepIsNotRefused) {
  CatalogFixture f;
  const auto ids = f.catalog->create_grids(grids(grid_in("P", Level::street, "", 116.0, 35.0, 116.2, 35.1)));
  f.catalog->create_grids(grids(grid_in("P1", Level::community, "P", 116.0, 35.0, 116.05, 35.1)));
  f.catalog->create_grids(grids(grid_in("P2", Level::community, "P", 116.05, 35.0, 116.1, 35.1)));
  EXPECT_EQ(f.catalog->snapshot()->children_of("P").size(), 2u);
  (void)ids;
}

TEST(Planning, SplitByALineKeepsTheAreaAndMovesChildren) {
  CatalogFixture f;
  const auto ids = street(f);
  // A grid under the eastern community, to follow the split.
  f.catalog->create_grids(grids(grid_in("370811001002001", Level::grid, "370811001002", 116.15, 35.0, 116.2, 35.1)));
  const GridEntry* east = f.catalog->snapshot()->grid_by_id(ids[2]);
  const double before = area_of(east);
  // A north-south line through x = 116.15, overshooting both edges.
  auto line = spatial::geometry_from_geojson(
      Json{{"type", "LineString"}, {"coordinates", Json::array({Json::array({116.15, 34.99}), Json::array({116.15, 35.11})})}});
  EditPlan plan = f.catalog->plan_split(ids[2], line.get());
  const EditOutcome preview = f.catalog->preview(plan);
  EXPECT_FALSE(preview.committed);
  ASSERT_EQ(preview.grids.size(), 3u);  // the kept part, the child moved, the new part
  // No overlap or gap; the child moved under the new code is only warned about.
  for (const Defect& d : preview.defects) {
    EXPECT_FALSE(refuses_edit(d.type)) << d.message;
    EXPECT_EQ(d.type, DefectType::malformed_code) << d.message;
  }
  const Grid& kept = preview.grids[0];
  const Grid& added = preview.grids.back();
  EXPECT_EQ(kept.id, ids[2]);
  EXPECT_EQ(added.code, "370811001003");  // continues the siblings' numbering
  EXPECT_NEAR(area_of(kept) + area_of(added), before, 1.0);
  EXPECT_NEAR(area_of(kept), before / 2, before * 0.01);
  // Nothing written by a preview.
  EXPECT_EQ(f.catalog->snapshot()->grid_by_code("370811001003"), nullptr);

  const EditOutcome done = f.catalog->apply(std::move(plan), as("planner", "split along the canal"));
  EXPECT_TRUE(done.committed);
  const auto snap = f.catalog->snapshot();
  const GridEntry* part = snap->grid_by_code("370811001003");
  ASSERT_NE(part, nullptr);
  EXPECT_EQ(done.grids.back().id, part->grid.id);
  const GridEntry* child = snap->grid_by_code("370811001002001");
  // The child lies east of the line: it moved to whichever part holds it.
  const GridEntry* holder = snap->grid_by_code(child->grid.parent_code);
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(GEOSContains_r(spatial::geos(), holder->shape.geometry(), child->shape.geometry()), 1);
  // The parts do not overlap and the street is still covered.
  for (const Defect& d : check_topology(topology_grids(*snap, "370811001"), {1.0, 0})) {
    EXPECT_FALSE(refuses_edit(d.type)) << d.message;
  }
  const auto h = f.catalog->history(ids[2]);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[1].operation, "split");
  EXPECT_EQ(h[1].reason, "split along the canal");
  EXPECT_EQ(h[0].valid_to, h[1].valid_from);
}

TEST(Planning, ALineThatDoesNotCrossIsRefused) {
  CatalogFixture f;
  const auto ids = street(f);
  auto line = spatial::geometry_from_geojson(
      Json{{"type", "LineString"}, {"coordinates", Json::array({Json::array({116.15, 35.02}), Json::array({116.15, 35.05})})}});
  expect_error([&] { (void)f.catalog->plan_split(ids[2], line.get()); }, ErrorKind::invalid_input, "line_does_not_split",
               "line");
}

TEST(Planning, MergeDissolvesNeighboursAndRecordsTheDeletion) {
  CatalogFixture f;
  const auto ids = street(f);
  f.catalog->create_grids(grids(grid_in("370811001002001", Level::grid, "370811001002", 116.15, 35.0, 116.2, 35.1)));
  const double total = area_of(f.catalog->snapshot()->grid_by_id(ids[1])) + area_of(f.catalog->snapshot()->grid_by_id(ids[2]));
  EditPlan plan = f.catalog->plan_merge({ids[1], ids[2]});
  const EditOutcome done = f.catalog->apply(std::move(plan), as("planner", "one community"));
  EXPECT_EQ(done.deleted, std::vector<std::int64_t>{ids[2]});
  const auto snap = f.catalog->snapshot();
  const GridEntry* merged = snap->grid_by_id(ids[1]);
  EXPECT_NEAR(area_of(merged), total, 1.0);
  EXPECT_EQ(polygon_count(merged->shape.geometry()), 1);  // the shared boundary is gone
  EXPECT_EQ(snap->grid_by_id(ids[2]), nullptr);
  EXPECT_EQ(snap->grid_by_code("370811001002001")->grid.parent_code, "370811001001");
  const auto gone = f.catalog->history(ids[2]);
  ASSERT_EQ(gone.size(), 2u);
  EXPECT_EQ(gone.back().operation, "merge");
  EXPECT_TRUE(gone.back().grid.wkb.empty());
  // Grids that do not touch are not merged by accident.
  const auto far = f.catalog->create_grids(
      grids(grid_in("X", Level::street, "", 117.0, 35.0, 117.1, 35.1), grid_in("Y", Level::street, "", 117.2, 35.0, 117.3, 35.1)));
  expect_error([&] { (void)f.catalog->plan_merge(far); }, ErrorKind::invalid_input, "not_adjacent", "ids");
  expect_error([&] { (void)f.catalog->plan_merge({ids[1], far[0]}); }, ErrorKind::invalid_input, "not_siblings", "ids");
}

TEST(Planning, SnapClosesASliverGapBetweenNeighbours) {
  CatalogFixture f;
  const auto ids = f.catalog->create_grids(
      grids(grid_in("P", Level::street, "", 116.0, 35.0, 116.2, 35.1), grid_in("A", Level::community, "P", 116.0, 35.0, 116.1, 35.1),
            grid_in("B", Level::community, "P", 116.1, 35.0, 116.2, 35.1)));
  // Digitised 2 m short of its neighbour (a gap of about 2 m x 11 km).
  f.catalog->update_grid(ids[1], grid_in("A", Level::community, "P", 116.0, 35.0, 116.09998, 35.1), as("p", "", true));
  ASSERT_FALSE(check_topology(topology_grids(*f.catalog->snapshot(), "P")).empty());
  EditPlan plan = f.catalog->plan_snap(ids[1], 5.0, true, true);
  f.catalog->apply(std::move(plan), as("planner", "snap"));
  EXPECT_TRUE(check_topology(topology_grids(*f.catalog->snapshot(), "P")).empty());
  expect_error([&] { (void)f.catalog->plan_snap(ids[1], 0, true, true); }, ErrorKind::invalid_input, "invalid_tolerance",
               "tolerance_m");
}

TEST(Planning, HistoryRestoreAndTimeTravel) {
  CatalogFixture f;
  const auto ids = street(f);
  const std::string t0 = now_iso8601();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Move the boundary between the two communities east by 0.05°.
  f.catalog->update_grid(ids[1], grid_in("370811001001", Level::community, "370811001", 116.0, 35.0, 116.15, 35.1),
                         as("planner", "boundary moved", true));
  f.catalog->update_grid(ids[2], grid_in("370811001002", Level::community, "370811001", 116.15, 35.0, 116.2, 35.1),
                         as("planner", "boundary moved"));
  const std::string t1 = now_iso8601();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));

  const auto h = f.catalog->history(ids[1]);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].grid.version, 1);
  EXPECT_EQ(h[1].grid.version, 2);
  EXPECT_EQ(h[1].editor, "planner");
  EXPECT_EQ(h[1].reason, "boundary moved");
  EXPECT_FALSE(h[0].valid_to.empty());
  EXPECT_TRUE(h[1].valid_to.empty());
  EXPECT_EQ(f.catalog->snapshot()->grid_by_id(ids[1])->grid.version, 2);

  // A point at x = 116.12 was in the eastern community before the edit and is in the western one now.
  LocateOptions lo;
  Position pos{116.12, 35.05, ""};
  EXPECT_EQ(locate(*f.catalog->snapshot(), pos, lo).owner->grid.code, "370811001001");
  const auto past = f.catalog->snapshot_at(t0);
  EXPECT_EQ(locate(*past, pos, lo).owner->grid.code, "370811001002");
  EXPECT_EQ(past->grid_by_id(ids[1])->grid.version, 1);
  EXPECT_EQ(f.catalog->snapshot_at(t0).get(), past.get());  // cached
  EXPECT_EQ(f.catalog->snapshot_at(t1).get(), f.catalog->snapshot().get());
  EXPECT_TRUE(f.catalog->snapshot_at("2000-01-01T00:00:00.000Z")->grids().empty());

  // Restoring version 1 is an edit like any other: version 3, the old shape.
  EditPlan back = f.catalog->plan_restore(ids[1], 1);
  f.catalog->apply(std::move(back), as("planner", "undo", true));
  const GridEntry* restored = f.catalog->snapshot()->grid_by_id(ids[1]);
  EXPECT_EQ(restored->grid.version, 3);
  EXPECT_NEAR(restored->shape.envelope().maxx, 116.1, 1e-12);
  EXPECT_EQ(f.catalog->history(ids[1]).back().operation, "restore");

  // History survives a restart; a deleted grid can be brought back with its id.
  auto reopened = f.reopen();
  EXPECT_EQ(reopened->history(ids[1]).size(), 3u);
  EXPECT_EQ(reopened->snapshot_at(t0)->grid_by_id(ids[1])->grid.version, 1);
  expect_error([&] { (void)reopened->history(424242); }, ErrorKind::not_found, "grid_not_found", "id");
}

TEST(Planning, ADeletedGridCanBeRestored) {
  CatalogFixture f;
  const auto ids = street(f);
  f.catalog->delete_grid(ids[2], as("planner", "mistake", true));
  EXPECT_EQ(f.catalog->snapshot()->grid_by_id(ids[2]), nullptr);
  EditPlan back = f.catalog->plan_restore(ids[2], 1);
  f.catalog->apply(std::move(back), as("planner", "undo delete"));
  const GridEntry* e = f.catalog->snapshot()->grid_by_id(ids[2]);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->grid.code, "370811001002");
  EXPECT_EQ(e->grid.version, 3);  // 1 created, 2 deleted, 3 restored
  expect_error([&] { (void)f.catalog->plan_restore(ids[2], 2); }, ErrorKind::invalid_input, "deleted_version", "version");
  expect_error([&] { (void)f.catalog->plan_restore(ids[2], 9); }, ErrorKind::not_found, "version_not_found", "version");
}

TEST(Planning, MakeValidRepairsABowTie) {
  auto bow = spatial::geometry_from_geojson(test::bow_tie(116.0, 35.0, 0.01));
  auto fixed = make_valid_polygonal(bow.get());
  ASSERT_NE(fixed, nullptr);
  EXPECT_EQ(GEOSisValid_r(spatial::geos(), fixed.get()), 1);
  EXPECT_EQ(polygon_count(fixed.get()), 2);  // the two triangles
  double area = 0;
  GEOSArea_r(spatial::geos(), fixed.get(), &area);
  EXPECT_NEAR(area, 2 * 0.01 * 0.01, 1e-12);
}

}  // namespace
}  // namespace gridd::service
