// Topology checks on fixtures with known defects and known answers.

#include <gtest/gtest.h>

#include "gridd/service/topology.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "unit/test_util.hpp"

namespace gridd::service {
namespace {

using test::box_geom;

/// Fixtures own their geometries; TopologyGrid borrows them.
struct Family {
  std::vector<spatial::GeomPtr> geoms;
  std::vector<TopologyGrid> grids;
  void add(std::int64_t id, std::string code, Level level, std::string parent, spatial::GeomPtr g) {
    grids.push_back({id, code, "grid " + code, level, parent, g.get()});
    geoms.push_back(std::move(g));
  }
  void box(std::int64_t id, std::string code, Level level, std::string parent, double minx, double miny, double maxx,
           double maxy) {
    add(id, std::move(code), level, std::move(parent), box_geom(minx, miny, maxx, maxy));
  }
};

double box_area(double minx, double miny, double maxx, double maxy) {
  auto g = box_geom(minx, miny, maxx, maxy);
  return spatial::geodesic_area_m2(g.get());
}

std::vector<const Defect*> of_type(const std::vector<Defect>& defects, DefectType type) {
  std::vector<const Defect*> out;
  for (const auto& d : defects) {
    if (d.type == type) out.push_back(&d);
  }
  return out;
}

TEST(Topology, ACleanPartitionHasNoDefects) {
  Family f;
  f.box(1, "370811", Level::district, "", 116.0, 35.0, 116.2, 35.2);
  f.box(2, "370811001", Level::street, "370811", 116.0, 35.0, 116.1, 35.2);
  f.box(3, "370811002", Level::street, "370811", 116.1, 35.0, 116.2, 35.2);
  EXPECT_TRUE(check_topology(f.grids).empty());
}

TEST(Topology, FindsOverlapGapOutsideBowTieSliverAndBadCodes) {
  Family f;
  f.box(1, "370811", Level::district, "", 116.0, 35.0, 116.2, 35.2);
  // Two streets overlapping by 0.01° x 0.2°, leaving a gap at the east edge.
  f.box(2, "370811001", Level::street, "370811", 116.0, 35.0, 116.11, 35.2);
  f.box(3, "370811002", Level::street, "370811", 116.10, 35.0, 116.19, 35.2);
  // A community sticking out of its street by 0.01° x 0.1°.
  f.box(4, "370811001001", Level::community, "370811001", 116.09, 35.0, 116.12, 35.1);
  // A bow tie, a sliver and a code that does not extend its parent's.
  f.add(5, "370811002001", Level::community, "370811002", spatial::geometry_from_geojson(test::bow_tie(116.15, 35.1, 0.01)));
  f.box(6, "370811001002", Level::community, "370811001", 116.0, 35.1, 116.00005, 35.10005);
  f.box(7, "370811999", Level::community, "370811001", 116.0, 35.15, 116.01, 35.16);

  const auto defects = check_topology(f.grids);
  const auto overlaps = of_type(defects, DefectType::overlap);
  ASSERT_GE(overlaps.size(), 1u);
  const Defect* streets = nullptr;
  for (const Defect* d : overlaps) {
    if (d->codes == std::vector<std::string>{"370811001", "370811002"}) streets = d;
  }
  ASSERT_NE(streets, nullptr);
  EXPECT_NEAR(streets->area_m2, box_area(116.10, 35.0, 116.11, 35.2), 1.0);
  EXPECT_GT(streets->x, 116.10);
  EXPECT_LT(streets->x, 116.11);

  const auto gaps = of_type(defects, DefectType::gap);
  bool east_gap = false;
  for (const Defect* d : gaps) {
    if (d->codes == std::vector<std::string>{"370811"}) {
      EXPECT_NEAR(d->area_m2, box_area(116.19, 35.0, 116.2, 35.2), 1.0);
      east_gap = true;
    }
  }
  EXPECT_TRUE(east_gap);

  const auto outside = of_type(defects, DefectType::outside_parent);
  ASSERT_EQ(outside.size(), 1u);
  EXPECT_EQ(outside[0]->codes, std::vector<std::string>{"370811001001"});
  EXPECT_NEAR(outside[0]->area_m2, box_area(116.11, 35.0, 116.12, 35.1), 1.0);

  const auto invalid = of_type(defects, DefectType::invalid_geometry);
  ASSERT_EQ(invalid.size(), 1u);
  EXPECT_EQ(invalid[0]->codes, std::vector<std::string>{"370811002001"});
  EXPECT_NEAR(invalid[0]->x, 116.15, 1e-9);  // the crossing
  EXPECT_NEAR(invalid[0]->y, 35.1, 1e-9);
  EXPECT_NE(invalid[0]->message.find("Self-intersection"), std::string::npos) << invalid[0]->message;

  const auto slivers = of_type(defects, DefectType::sliver);
  ASSERT_EQ(slivers.size(), 1u);
  EXPECT_EQ(slivers[0]->codes, std::vector<std::string>{"370811001002"});
  EXPECT_LT(slivers[0]->area_m2, 100);

  const auto codes = of_type(defects, DefectType::malformed_code);
  ASSERT_EQ(codes.size(), 1u);
  EXPECT_EQ(codes[0]->codes, std::vector<std::string>{"370811999"});

  // As GeoJSON: one feature per defect, with the summary.
  const Json fc = defects_collection(defects);
  EXPECT_EQ(fc["features"].size(), defects.size());
  EXPECT_EQ(fc["summary"]["outside_parent"], 1);
  EXPECT_EQ(fc["features"][0]["properties"]["type"], "invalid_geometry");
}

TEST(Topology, DefectsBelowTheToleranceAreNoise) {
  Family f;
  f.box(1, "P", Level::street, "", 116.0, 35.0, 116.2, 35.001);
  // Overlapping by 1e-6° x 0.001° (0.09 m x 111 m, about 10 m²) and leaving a gap as thin.
  f.box(2, "A", Level::community, "P", 116.0, 35.0, 116.100001, 35.001);
  f.box(3, "B", Level::community, "P", 116.1, 35.0, 116.199999, 35.001);
  const auto strict = check_topology(f.grids, {0.5, 0});
  ASSERT_EQ(of_type(strict, DefectType::overlap).size(), 1u);
  EXPECT_NEAR(of_type(strict, DefectType::overlap)[0]->area_m2, box_area(116.1, 35.0, 116.100001, 35.001), 0.01);
  EXPECT_EQ(of_type(strict, DefectType::gap).size(), 1u);
  const auto lenient = check_topology(f.grids, {50.0, 0});
  EXPECT_TRUE(lenient.empty());
}

TEST(Topology, DuplicateCodesAreReported) {
  Family f;
  f.box(0, "A", Level::grid, "", 116.0, 35.0, 116.1, 35.1);
  f.box(0, "A", Level::grid, "", 116.1, 35.0, 116.2, 35.1);
  const auto d = check_topology(f.grids);
  ASSERT_EQ(of_type(d, DefectType::duplicate_code).size(), 1u);
}

TEST(Topology, NewDefectsAreOnlyWhatAnEditAdds) {
  Family before;
  before.box(1, "P", Level::street, "", 116.0, 35.0, 116.2, 35.2);
  before.box(2, "A", Level::community, "P", 116.0, 35.0, 116.1, 35.2);
  before.box(3, "B", Level::community, "P", 116.1, 35.0, 116.18, 35.2);  // an existing gap
  Family after;
  after.box(1, "P", Level::street, "", 116.0, 35.0, 116.2, 35.2);
  after.box(2, "A", Level::community, "P", 116.0, 35.0, 116.1, 35.2);
  after.box(3, "B", Level::community, "P", 116.1, 35.0, 116.17, 35.2);  // shrunk: the gap grows
  const auto added = new_defects(check_topology(before.grids), check_topology(after.grids));
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0].type, DefectType::gap);
  EXPECT_NEAR(added[0].area_m2, box_area(116.17, 35.0, 116.18, 35.2), 1.0);
  // The same state again adds nothing.
  EXPECT_TRUE(new_defects(check_topology(after.grids), check_topology(after.grids)).empty());
}

}  // namespace
}  // namespace gridd::service
