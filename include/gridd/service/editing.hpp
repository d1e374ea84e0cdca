#pragma once
/// @file editing.hpp
/// The geometry operations of the planner's editor, on WGS84 lon/lat
/// (Multi)Polygons with GEOS: split by a line, merge (dissolve), snap to
/// neighbours, make valid. Pure functions; the Catalog turns their results
/// into edit plans that are reviewed before they are committed.

#include <vector>

#include "gridd/spatial/geos.hpp"

namespace gridd::service {

/// The faces of `polygon` cut by `line` (a LineString or MultiLineString),
/// largest first, each a MultiPolygon. Parts of a MultiPolygon that the line
/// does not cross are faces of their own.
/// @throws Error(invalid_input, "line_does_not_split") when fewer than two faces result.
std::vector<spatial::GeomPtr> split_by_line(const GEOSGeometry* polygon, const GEOSGeometry* line);

/// The union of the polygons, shared boundaries dissolved, as a MultiPolygon.
spatial::GeomPtr dissolve(const std::vector<const GEOSGeometry*>& polygons);

/// `geometry` with its vertices snapped to the vertices and segments of
/// `reference` within `tolerance_deg`, made valid, as a MultiPolygon.
spatial::GeomPtr snap_to(const GEOSGeometry* geometry, const GEOSGeometry* reference, double tolerance_deg);

/// GEOS's MakeValid keeping only the polygonal parts, as a MultiPolygon;
/// null when nothing polygonal remains (a collapsed ring).
spatial::GeomPtr make_valid_polygonal(const GEOSGeometry* geometry);

/// The number of polygons of a (Multi)Polygon.
int polygon_count(const GEOSGeometry* geometry);

/// Degrees that span at least `metres` at latitude `lat` in both axes.
double metres_to_degrees(double metres, double lat);

}  // namespace gridd::service
