// Unit tests for gridd/service/catalog.hpp over a real GeoPackage store.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "gridd/service/catalog.hpp"
#include "gridd/service/locate.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {


using test::CatalogFixture;
using test::expect_error;
using test::grid_in;
using test::grids;
using test::station_in;

// A small city: district D (116.0..116.2 x 39.9..40.1), two streets side by side.
std::vector<GridInput> small_city() {
  return grids(grid_in("110101", Level::district, "", 116.0, 39.9, 116.2, 40.1),
               grid_in("110101001", Level::street, "110101", 116.0, 39.9, 116.1, 40.1),
               grid_in("110101002", Level::street, "110101", 116.1, 39.9, 116.2, 40.1));
}

TEST(Catalog, CreatesGridsAndPublishesThem) {
  CatalogFixture f;
  const auto before = f.catalog->snapshot();
  const auto ids = f.catalog->create_grids(small_city());
  ASSERT_EQ(ids.size(), 3u);
  const auto snap = f.catalog->snapshot();
  EXPECT_EQ(snap->version(), before->version() + 1);
  ASSERT_EQ(snap->grids().size(), 3u);
  const GridEntry* d = snap->grid_by_code("110101");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->grid.id, ids[0]);
  EXPECT_EQ(snap->grid_by_id(ids[1])->grid.code, "110101001");
  EXPECT_FALSE(d->grid.created_at.empty());
  EXPECT_EQ(d->grid.created_at, d->grid.updated_at);
  EXPECT_GT(d->area_m2, 3.0e8);  // about 17 km x 22 km
  EXPECT_EQ(snap->children_of("110101").size(), 2u);
  EXPECT_FALSE(snap->is_leaf(snap->position_of(d)));
  EXPECT_TRUE(snap->is_leaf(snap->position_of(snap->grid_by_code("110101002"))));
  // And they are in the store: a new Catalog on the same file sees them.
  const auto reopened = f.reopen();
  EXPECT_EQ(reopened->snapshot()->grids().size(), 3u);
  EXPECT_EQ(reopened->snapshot()->grid_by_code("110101002")->grid.parent_code, "110101");
}

TEST(Catalog, UnknownParentIsRejected) {
  CatalogFixture f;
  expect_error([&] { f.catalog->create_grids(grids(grid_in("S", Level::street, "NOPE", 116, 39, 116.1, 39.1))); },
               ErrorKind::invalid_input, "unknown_parent", "properties/parent");
  expect_error(
      [&] {
        f.catalog->create_grids(grids(grid_in("A", Level::district, "", 116, 39, 116.1, 39.1, "features/0"),
                                      grid_in("S", Level::street, "NOPE", 116, 39, 116.1, 39.1, "features/1")));
      },
      ErrorKind::invalid_input, "unknown_parent", "features/1/properties/parent");
  EXPECT_TRUE(f.catalog->snapshot()->grids().empty());
}

TEST(Catalog, ParentMayComeAnywhereInTheSameBatch) {
  CatalogFixture f;
  // Children first, parent last.
  const auto ids = f.catalog->create_grids(
      grids(grid_in("C1", Level::community, "S1", 116.0, 39.9, 116.05, 40.0),
            grid_in("S1", Level::street, "D", 116.0, 39.9, 116.1, 40.0),
            grid_in("D", Level::district, "", 116.0, 39.9, 116.2, 40.1)));
  ASSERT_EQ(ids.size(), 3u);
  const auto snap = f.catalog->snapshot();
  EXPECT_EQ(snap->grid_by_id(ids[0])->grid.code, "C1");
  EXPECT_EQ(snap->grid_by_id(ids[2])->grid.code, "D");
  EXPECT_EQ(snap->children_of("S1").size(), 1u);
}

TEST(Catalog, ParentMustBeCoarser) {
  CatalogFixture f;
  f.catalog->create_grids(grids(grid_in("S1", Level::street, "", 116.0, 39.9, 116.1, 40.0)));
  for (const Level level : {Level::street, Level::district}) {
    const std::string msg = expect_error(
        [&] { f.catalog->create_grids(grids(grid_in("X", level, "S1", 116.0, 39.9, 116.05, 40.0))); },
        ErrorKind::invalid_input, "invalid_parent", "properties/parent");
    EXPECT_NE(msg.find("street"), std::string::npos) << msg;
  }
  // Within one batch too.
  expect_error(
      [&] {
        f.catalog->create_grids(grids(grid_in("G", Level::grid, "", 116.0, 39.9, 116.1, 40.0),
                                      grid_in("C", Level::community, "G", 116.0, 39.9, 116.05, 40.0)));
      },
      ErrorKind::invalid_input, "invalid_parent");
  expect_error([&] { f.catalog->create_grids(grids(grid_in("Z", Level::grid, "Z", 116.0, 39.9, 116.1, 40.0))); },
               ErrorKind::invalid_input, "invalid_parent", "properties/parent");
  EXPECT_EQ(f.catalog->snapshot()->grids().size(), 1u);
}

TEST(Catalog, DuplicateCodesConflict) {
  CatalogFixture f;
  f.catalog->create_grids(small_city());
  const auto v = f.catalog->snapshot()->version();
  expect_error([&] { f.catalog->create_grids(grids(grid_in("110101001", Level::street, "110101", 116, 39.9, 116.1, 40))); },
               ErrorKind::conflict, "duplicate_code", "properties/code");
  expect_error(
      [&] {
        f.catalog->create_grids(grids(grid_in("N1", Level::district, "", 117, 39, 117.1, 39.1, "features/0"),
                                      grid_in("N1", Level::district, "", 118, 39, 118.1, 39.1, "features/1")));
      },
      ErrorKind::conflict, "duplicate_code", "features/1/properties/code");
  const auto snap = f.catalog->snapshot();
  EXPECT_EQ(snap->version(), v);  // failed writes publish nothing
  EXPECT_EQ(snap->grids().size(), 3u);
  EXPECT_EQ(snap->grid_by_code("N1"), nullptr);
  EXPECT_EQ(f.reopen()->snapshot()->grids().size(), 3u);
}

TEST(Catalog, MissingOrMalformedFieldsAreNamed) {
  CatalogFixture f;
  auto no_code = grid_in("", Level::district, "", 116, 39, 116.1, 39.1, "features/2");
  expect_error([&] { f.catalog->create_grids(grids(std::move(no_code))); }, ErrorKind::invalid_input, "missing_code",
               "features/2/properties/code");
  expect_error([&] { f.catalog->create_grids(grids(grid_in("bad code", Level::district, "", 116, 39, 116.1, 39.1))); },
               ErrorKind::invalid_input, "invalid_code", "properties/code");
  auto no_name = grid_in("A", Level::district, "", 116, 39, 116.1, 39.1);
  no_name.grid.name.clear();
  expect_error([&] { f.catalog->create_grids(grids(std::move(no_name))); }, ErrorKind::invalid_input, "missing_name",
               "properties/name");
  auto no_geom = grid_in("A", Level::district, "", 116, 39, 116.1, 39.1);
  no_geom.geometry.reset();
  expect_error([&] { f.catalog->create_grids(grids(std::move(no_geom))); }, ErrorKind::invalid_input,
               "missing_geometry", "geometry");
  auto point = grid_in("A", Level::district, "", 116, 39, 116.1, 39.1, "features/0");
  point.geometry = spatial::make_point(116, 39);
  expect_error([&] { f.catalog->create_grids(grids(std::move(point))); }, ErrorKind::invalid_input,
               "invalid_geometry_type", "features/0/geometry");
}

TEST(Catalog, SelfIntersectingGeometryIsRejectedWithItsLocation) {
  CatalogFixture f;
  GridInput bow = grid_in("B", Level::district, "", 0, 0, 1, 1, "features/0");
  bow.geometry = spatial::geometry_from_geojson(test::bow_tie(116.5, 39.5, 0.01));
  const std::string msg = expect_error([&] { f.catalog->create_grids(grids(std::move(bow))); },
                                       ErrorKind::invalid_input, "invalid_geometry", "features/0/geometry");
  EXPECT_NE(msg.find("Self-intersection"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at (116.5 39.5)"), std::string::npos) << msg;
  EXPECT_TRUE(f.catalog->snapshot()->grids().empty());
}

TEST(Catalog, OutOfRangeCoordinatesAreRejected) {
  CatalogFixture f;
  expect_error([&] { f.catalog->create_grids(grids(grid_in("A", Level::district, "", 179.5, 10, 181, 11))); },
               ErrorKind::invalid_input, "coordinate_out_of_range", "geometry");
  // Projected metres passed as if they were degrees.
  expect_error(
      [&] { f.catalog->create_grids(grids(grid_in("A", Level::district, "", 547652, 3453256, 548605, 3454369))); },
      ErrorKind::invalid_input, "coordinate_out_of_range", "geometry");
}

TEST(Catalog, DeleteRefusesGridsWithChildren) {
  CatalogFixture f;
  const auto ids = f.catalog->create_grids(small_city());
  const std::string msg =
      expect_error([&] { f.catalog->delete_grid(ids[0]); }, ErrorKind::conflict, "has_children", "id");
  EXPECT_NE(msg.find("2 children"), std::string::npos) << msg;
  // Deleting one street uncovers half of the district: refused unless a draft.
  expect_error([&] { f.catalog->delete_grid(ids[1]); }, ErrorKind::conflict, "topology_defects", "geometry");
  EditOptions draft;
  draft.draft = true;
  f.catalog->delete_grid(ids[1], draft);
  f.catalog->delete_grid(ids[2]);  // the last child: the district is simply undivided again
  f.catalog->delete_grid(ids[0]);  // now childless
  EXPECT_TRUE(f.catalog->snapshot()->grids().empty());
  EXPECT_TRUE(f.reopen()->snapshot()->grids().empty());
  expect_error([&] { f.catalog->delete_grid(ids[0]); }, ErrorKind::not_found, "grid_not_found", "id");
}

TEST(Catalog, CodeChangeCascadesToChildren) {
  CatalogFixture f;
  const auto ids = f.catalog->create_grids(small_city());
  GridInput renamed = grid_in("110199", Level::district, "", 116.0, 39.9, 116.2, 40.1);
  f.catalog->update_grid(ids[0], std::move(renamed));
  const auto snap = f.catalog->snapshot();
  EXPECT_EQ(snap->grid_by_code("110101"), nullptr);
  ASSERT_NE(snap->grid_by_code("110199"), nullptr);
  EXPECT_EQ(snap->grid_by_code("110199")->grid.id, ids[0]);
  EXPECT_EQ(snap->grid_by_id(ids[1])->grid.parent_code, "110199");
  EXPECT_EQ(snap->grid_by_id(ids[2])->grid.parent_code, "110199");
  EXPECT_EQ(snap->children_of("110199").size(), 2u);
  // Children keep their geometry.
  EXPECT_EQ(spatial::envelope_of(snap->grid_by_id(ids[2])->shape.geometry()).minx, 116.1);
  // Persisted.
  const auto reopened = f.reopen()->snapshot();
  EXPECT_EQ(reopened->grid_by_id(ids[1])->grid.parent_code, "110199");
  EXPECT_EQ(reopened->grid_by_id(ids[2])->grid.parent_code, "110199");
  EXPECT_EQ(reopened->grid_by_id(ids[0])->grid.code, "110199");
}

TEST(Catalog, UpdateValidatesAgainstTheHierarchy) {
  CatalogFixture f;
  const auto ids = f.catalog->create_grids(small_city());
  // Making the district finer than its streets is refused.
  expect_error([&] { f.catalog->update_grid(ids[0], grid_in("110101", Level::community, "", 116.0, 39.9, 116.2, 40.1)); },
               ErrorKind::conflict, "invalid_level", "properties/level");
  // Taking another grid's code is refused.
  expect_error([&] { f.catalog->update_grid(ids[1], grid_in("110101002", Level::street, "110101", 116.0, 39.9, 116.1, 40.1)); },
               ErrorKind::conflict, "duplicate_code", "properties/code");
  // Being one's own parent is refused.
  expect_error([&] { f.catalog->update_grid(ids[1], grid_in("110101001", Level::street, "110101001", 116.0, 39.9, 116.1, 40.1)); },
               ErrorKind::invalid_input, "invalid_parent", "properties/parent");
  expect_error([&] { f.catalog->update_grid(424242, grid_in("Q", Level::street, "", 116.0, 39.9, 116.1, 40.1)); },
               ErrorKind::not_found, "grid_not_found", "id");
  // An empty code keeps the current one.
  GridInput keep = grid_in("", Level::street, "110101", 116.0, 39.9, 116.1, 40.1);
  keep.grid.name = "new name";
  f.catalog->update_grid(ids[1], std::move(keep));
  const auto snap = f.catalog->snapshot();
  EXPECT_EQ(snap->grid_by_id(ids[1])->grid.code, "110101001");
  EXPECT_EQ(snap->grid_by_id(ids[1])->grid.name, "new name");
  EXPECT_EQ(snap->grid_by_id(ids[1])->grid.created_at, snap->grid_by_id(ids[0])->grid.created_at);
}

TEST(Catalog, OldSnapshotsStayUsableWhileNewOnesArePublished) {
  CatalogFixture f;
  f.catalog->create_grids(small_city());
  const auto old = f.catalog->snapshot();  // a reader holds it
  const auto v = old->version();
  const GridEntry* old_street = old->grid_by_code("110101002");
  ASSERT_NE(old_street, nullptr);
  EditOptions draft;
  draft.draft = true;
  f.catalog->delete_grid(old_street->grid.id, draft);
  f.catalog->create_grids(grids(grid_in("X1", Level::district, "", 120, 30, 120.1, 30.1)));
  const auto now = f.catalog->snapshot();
  EXPECT_EQ(now->version(), v + 2);
  EXPECT_EQ(now->grid_by_code("110101002"), nullptr);
  // The held snapshot is unchanged and still answers queries.
  EXPECT_EQ(old->version(), v);
  EXPECT_EQ(old->grids().size(), 3u);
  EXPECT_EQ(old_street->grid.code, "110101002");
  const LocateResult r = locate_wgs84(*old, 116.15, 40.0, {});
  ASSERT_NE(r.owner, nullptr);
  EXPECT_EQ(r.owner->grid.code, "110101002");
  // In the new one the point is in the district only (which still has a
  // child, so is no leaf): the owner is the nearest leaf, the west street.
  const LocateResult r2 = locate_wgs84(*now, 116.15, 40.0, {});
  EXPECT_FALSE(r2.covered);
  ASSERT_NE(r2.owner, nullptr);
  EXPECT_EQ(r2.owner->grid.code, "110101001");
  EXPECT_GT(r2.owner_distance_m, 4000);
}

TEST(Catalog, ReadersSeeWholeSnapshotsWhileAWriterPublishes) {
  CatalogFixture f;
  f.catalog->create_grids(grids(grid_in("D", Level::district, "", 116.0, 39.9, 116.2, 40.1)));
  const std::uint64_t base = f.catalog->snapshot()->version();
  constexpr int k_writes = 12;
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  std::atomic<std::uint64_t> max_seen{0};
  auto reader = [&] {
    while (!done.load()) {
      const auto snap = f.catalog->snapshot();
      // Each write adds exactly one (leaf) district: size and version must agree.
      if (snap->grids().size() != 1 + (snap->version() - base)) ++bad;
      const LocateResult r = locate_wgs84(*snap, 116.1, 40.0, {});
      if (!r.covered || r.owner == nullptr || r.owner->grid.code != "D") ++bad;
      std::uint64_t v = max_seen.load();
      while (snap->version() > v && !max_seen.compare_exchange_weak(v, snap->version())) {
      }
      ++reads;
    }
  };
  std::thread r1(reader), r2(reader);
  for (int i = 0; i < k_writes; ++i) {
    // Let the readers run on the current snapshot before publishing the next.
    const int before = reads.load();
    for (int spin = 0; spin < 20000 && reads.load() < before + 2; ++spin) std::this_thread::yield();
    const double x = 117.0 + 0.1 * i;
    f.catalog->create_grids(grids(grid_in("X" + std::to_string(i), Level::district, "", x, 39.9, x + 0.05, 40.1)));
  }
  const int before = reads.load();
  for (int spin = 0; spin < 20000 && reads.load() < before + 2; ++spin) std::this_thread::yield();
  done = true;
  r1.join();
  r2.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 2 * k_writes);
  EXPECT_EQ(max_seen.load(), base + k_writes);  // readers saw the writes as they came
  EXPECT_EQ(f.catalog->snapshot()->grids().size(), 1u + k_writes);
}

TEST(Catalog, UpsertCreatesOrUpdatesByCode) {
  CatalogFixture f;
  const auto ids = f.catalog->create_grids(small_city());
  const std::string created_at = f.catalog->snapshot()->grid_by_id(ids[1])->grid.created_at;
  auto changed = grid_in("110101001", Level::street, "110101", 116.0, 39.9, 116.1, 40.0);
  changed.grid.name = "upserted";
  changed.grid.households = 77;
  const auto [created, updated] = f.catalog->upsert_grids(
      grids(std::move(changed), grid_in("110101003", Level::street, "110101", 116.0, 40.0, 116.1, 40.1)));
  EXPECT_EQ(created, 1u);
  EXPECT_EQ(updated, 1u);
  const auto snap = f.catalog->snapshot();
  EXPECT_EQ(snap->grids().size(), 4u);
  const GridEntry* g = snap->grid_by_code("110101001");
  EXPECT_EQ(g->grid.id, ids[1]);  // same object, same id
  EXPECT_EQ(g->grid.name, "upserted");
  EXPECT_EQ(g->grid.households, 77);
  EXPECT_EQ(g->grid.created_at, created_at);
  EXPECT_EQ(spatial::envelope_of(g->shape.geometry()).maxy, 40.0);
  const auto reopened = f.reopen()->snapshot();
  EXPECT_EQ(reopened->grid_by_code("110101001")->grid.name, "upserted");
  EXPECT_NE(reopened->grid_by_code("110101003"), nullptr);
}

TEST(Catalog, UpsertMustNotBreakTheHierarchyOfExistingChildren) {
  CatalogFixture f;
  f.catalog->create_grids(small_city());
  // Re-importing the district as a community would put it below its two streets.
  expect_error(
      [&] {
        (void)f.catalog->upsert_grids(grids(grid_in("110101", Level::community, "", 116.0, 39.9, 116.2, 40.1)));
      },
      ErrorKind::conflict, "invalid_level");
  EXPECT_EQ(f.catalog->snapshot()->grid_by_code("110101")->grid.level, Level::district);
}

TEST(Catalog, StationsAreValidatedAndUpserted) {
  CatalogFixture f;
  const auto ids = f.catalog->create_stations({station_in("ST1", "grid_station", 116.05, 39.95),
                                               station_in("", "mediation_room", 116.06, 39.96)});
  ASSERT_EQ(ids.size(), 2u);
  expect_error([&] { f.catalog->create_stations({station_in("X", "karaoke", 116, 39, "features/0")}); },
               ErrorKind::invalid_input, "unknown_kind", "features/0/properties/kind");
  expect_error([&] { f.catalog->create_stations({station_in("X", "", 116, 39)}); }, ErrorKind::invalid_input,
               "missing_kind", "properties/kind");
  auto nameless = station_in("X", "grid_station", 116, 39);
  nameless.station.name.clear();
  expect_error([&] { f.catalog->create_stations({nameless}); }, ErrorKind::invalid_input, "missing_name",
               "properties/name");
  expect_error([&] { f.catalog->create_stations({station_in("X", "grid_station", 116, 95, "features/3")}); },
               ErrorKind::invalid_input, "coordinate_out_of_range", "features/3/geometry");
  expect_error([&] { f.catalog->create_stations({station_in("a b", "grid_station", 116, 39)}); },
               ErrorKind::invalid_input, "invalid_code", "properties/code");
  expect_error([&] { f.catalog->create_stations({station_in("ST1", "grid_station", 116, 39)}); }, ErrorKind::conflict,
               "duplicate_code", "properties/code");
  expect_error(
      [&] {
        f.catalog->create_stations({station_in("Q", "grid_station", 116, 39, "features/0"),
                                    station_in("Q", "grid_station", 116, 39, "features/1")});
      },
      ErrorKind::conflict, "duplicate_code", "features/1/properties/code");
  EXPECT_EQ(f.catalog->snapshot()->stations().size(), 2u);

  auto moved = station_in("ST1", "service_center", 116.07, 39.97);
  const auto [created, updated] =
      f.catalog->upsert_stations({moved, station_in("", "grid_station", 116.08, 39.98)});
  EXPECT_EQ(created, 1u);
  EXPECT_EQ(updated, 1u);
  const auto snap = f.catalog->snapshot();
  EXPECT_EQ(snap->stations().size(), 3u);
  const StationEntry* st = snap->station_by_code("ST1");
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(st->id, ids[0]);
  EXPECT_EQ(st->kind, "service_center");
  EXPECT_EQ(st->lon, 116.07);

  f.catalog->update_station(ids[1], station_in("ST2", "opinion_point", 116.5, 39.5));
  EXPECT_EQ(f.catalog->snapshot()->station_by_id(ids[1])->code, "ST2");
  expect_error([&] { f.catalog->update_station(ids[1], station_in("ST1", "opinion_point", 116.5, 39.5)); },
               ErrorKind::conflict, "duplicate_code");
  f.catalog->delete_station(ids[1]);
  expect_error([&] { f.catalog->delete_station(ids[1]); }, ErrorKind::not_found, "station_not_found", "id");
  EXPECT_EQ(f.reopen()->snapshot()->stations().size(), 2u);
}

TEST(Catalog, OperatorMayConfigureStationKinds) {
  CatalogOptions options;
  options.station_kinds = {"clinic"};
  CatalogFixture f(options);
  EXPECT_EQ(f.catalog->create_stations({station_in("", "clinic", 116, 39)}).size(), 1u);
  expect_error([&] { f.catalog->create_stations({station_in("", "grid_station", 116, 39)}); },
               ErrorKind::invalid_input, "unknown_kind");
}

}  // namespace
}  // namespace gridd::service

namespace gridd::service {
namespace {

// Two catalogs on one store stand for two gridd instances on one database:
// what one commits, the other's reload() brings into its indexes, keeping
// the entries that did not change and telling its listeners what did.
TEST(CatalogReload, BringsInWhatAnotherInstanceCommitted) {
  test::CatalogFixture f;
  const auto other = f.reopen();
  std::vector<spatial::Envelope> heard_grids, heard_stations;
  other->add_change_listener([&](const auto& g, const auto& s) {
    heard_grids.insert(heard_grids.end(), g.begin(), g.end());
    heard_stations.insert(heard_stations.end(), s.begin(), s.end());
  });
  EXPECT_EQ(other->reload().grids_changed, 0u);  // nothing yet
  const auto ids = f.catalog->create_grids(small_city());
  f.catalog->create_stations({test::station_in("ST1", "grid_station", 116.05, 40.0)});
  EXPECT_EQ(other->snapshot()->grids().size(), 0u);  // not until it reloads

  auto r = other->reload();
  EXPECT_EQ(r.grids_changed, 3u);
  EXPECT_EQ(r.stations_changed, 1u);
  auto snap = other->snapshot();
  ASSERT_EQ(snap->grids().size(), 3u);
  EXPECT_EQ(snap->grid_by_code("110101002")->grid.id, ids[2]);
  EXPECT_EQ(snap->stations().size(), 1u);
  EXPECT_EQ(heard_grids.size(), 3u);
  EXPECT_EQ(heard_stations.size(), 1u);

  // A rename on the first: one grid changes, the others keep their entries.
  const GridEntry* d_before = snap->grid_by_code("110101");
  GridInput renamed = grid_in("110101002", Level::street, "110101", 116.1, 39.9, 116.2, 40.1);
  renamed.grid.name = "renamed elsewhere";
  f.catalog->update_grid(ids[2], std::move(renamed));
  heard_grids.clear();
  r = other->reload();
  EXPECT_EQ(r.grids_changed, 1u);
  EXPECT_EQ(r.stations_changed, 0u);
  snap = other->snapshot();
  EXPECT_EQ(snap->grid_by_code("110101002")->grid.name, "renamed elsewhere");
  EXPECT_EQ(snap->grid_by_code("110101002")->grid.version, 2);
  EXPECT_EQ(snap->grid_by_code("110101"), d_before);  // the same entry, not rebuilt
  EXPECT_EQ(heard_grids.size(), 2u);  // the old and the new envelope of the one grid

  // A deletion there is a deletion here; a second reload changes nothing.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::string before_delete = now_iso8601();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EditOptions leave_a_gap;
  leave_a_gap.draft = true;
  f.catalog->delete_grid(ids[2], leave_a_gap);
  EXPECT_EQ(other->reload().grids_changed, 1u);
  EXPECT_EQ(other->snapshot()->grid_by_code("110101002"), nullptr);
  EXPECT_EQ(other->snapshot()->grids().size(), 2u);
  const auto version = other->snapshot()->version();
  r = other->reload();
  EXPECT_EQ(r.grids_changed + r.stations_changed, 0u);
  EXPECT_EQ(other->snapshot()->version(), version);
  // Its list of change instants follows too: the past before the deletion
  // still holds the renamed grid.
  const auto past = other->snapshot_at(before_delete);
  ASSERT_NE(past->grid_by_code("110101002"), nullptr);
  EXPECT_EQ(past->grid_by_code("110101002")->grid.name, "renamed elsewhere");
}

}  // namespace
}  // namespace gridd::service
