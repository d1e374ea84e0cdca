#pragma once
/// @file topology.hpp
/// Topology checks of the grid hierarchy, for planners: overlaps between
/// siblings, gaps where children do not cover their parent, children
/// outside their parent, invalid geometries, slivers and malformed or
/// duplicate codes. Areas are geodesic (m²); overlaps, gaps and parts
/// outside the parent below the tolerance are digitising noise, not defects.

#include <cstdint>
#include <string>
#include <vector>

#include "gridd/core/model.hpp"
#include "gridd/spatial/geos.hpp"

namespace gridd::service {

class Snapshot;

/// One grid as the checks see it (a borrowed geometry, WGS84 lon/lat).
struct TopologyGrid {
  std::int64_t id = 0;  ///< 0 for a proposed grid not yet stored
  std::string code;
  std::string name;
  Level level = Level::grid;
  std::string parent_code;
  const GEOSGeometry* geometry = nullptr;
};

struct TopologyOptions {
  double tolerance_m2 = 1.0;  ///< overlaps, gaps and overhangs below this are noise
  double sliver_m2 = 100.0;   ///< polygon parts smaller than this are slivers
};

/// The kinds of defect, in the order they are reported.
enum class DefectType { invalid_geometry, overlap, gap, outside_parent, sliver, duplicate_code, malformed_code };

std::string_view to_string(DefectType type) noexcept;

/// True for the defects that refuse an edit (overlap, gap, outside_parent,
/// invalid_geometry); the others are warnings.
bool refuses_edit(DefectType type) noexcept;

struct Defect {
  DefectType type = DefectType::overlap;
  std::vector<std::string> codes;  ///< the grids involved (for a gap: the parent)
  std::vector<std::int64_t> ids;
  std::string parent_code;  ///< the family it was found in
  double area_m2 = 0;       ///< 0 for defects without an area
  double x = 0, y = 0;      ///< a location inside the defect (lon/lat)
  spatial::GeomPtr geometry;  ///< the defect's area or point; may be null
  std::string message;
};

/// Check a set of grids as families: every grid of the set whose children
/// are also in the set is checked against them, and siblings against each
/// other. Defects come sorted by type, then by codes.
std::vector<Defect> check_topology(const std::vector<TopologyGrid>& grids, const TopologyOptions& options = {});

/// The grids of a snapshot under `root_code` (the root and every
/// descendant), or all grids when `root_code` is empty.
/// @throws Error(not_found) for an unknown root.
std::vector<TopologyGrid> topology_grids(const Snapshot& snapshot, const std::string& root_code = {});

/// The defects of `after` that `before` did not have: for a defect with an
/// area, only the part that is new (at least the tolerance); for the others,
/// those whose type and codes are new.
std::vector<Defect> new_defects(const std::vector<Defect>& before, const std::vector<Defect>& after,
                                const TopologyOptions& options = {});

/// The defects an edit would create, with refusal in mind: the families
/// (a parent and its children, or the roots) that `changed` (id 0: a new
/// grid; else it replaces that grid) and `deleted` touch are checked before
/// and after. A gap counts only where the parent had children before and
/// has them after, so dividing a parent step by step is not refused, but
/// uncovering part of a divided one is.
std::vector<Defect> edit_defects(const Snapshot& snapshot, const std::vector<TopologyGrid>& changed,
                                 const std::vector<std::int64_t>& deleted, const TopologyOptions& options = {});

/// A defect as a GeoJSON Feature (geometry in WGS84, or transformed by the
/// caller), with properties type, codes, ids, parent, area_m2, location,
/// message.
Json defect_feature(const Defect& defect);
/// Defects as a GeoJSON FeatureCollection with a summary per type.
Json defects_collection(const std::vector<Defect>& defects);

}  // namespace gridd::service
