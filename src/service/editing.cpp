#include "gridd/service/editing.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include "gridd/core/error.hpp"
#include "gridd/spatial/geodesic.hpp"

namespace gridd::service {

namespace {

using spatial::checked;
using spatial::geos;
using spatial::GeomPtr;

double area(const GEOSGeometry* g) {
  double a = 0;
  GEOSArea_r(geos(), g, &a);
  return a;
}

}  // namespace

int polygon_count(const GEOSGeometry* geometry) {
  const int t = GEOSGeomTypeId_r(geos(), geometry);
  if (t == GEOS_POLYGON) return 1;
  if (t == GEOS_MULTIPOLYGON) return GEOSGetNumGeometries_r(geos(), geometry);
  return 0;
}

std::vector<GeomPtr> split_by_line(const GEOSGeometry* polygon, const GEOSGeometry* line) {
  const int lt = GEOSGeomTypeId_r(geos(), line);
  if (lt != GEOS_LINESTRING && lt != GEOS_MULTILINESTRING) {
    throw_invalid("invalid_geometry_type", "the split line must be a LineString or MultiLineString", "line");
  }
  // Node the polygon's rings with the line, then polygonize the linework and
  // keep the faces that lie inside the polygon.
  GeomPtr boundary = checked(GEOSBoundary_r(geos(), polygon), "boundary");
  GeomPtr linework = checked(GEOSUnion_r(geos(), boundary.get(), line), "node");
  const GEOSGeometry* in[] = {linework.get()};
  GeomPtr faces = checked(GEOSPolygonize_r(geos(), in, 1), "polygonize");
  spatial::PreparedPtr prepared(GEOSPrepare_r(geos(), polygon));
  std::vector<GeomPtr> out;
  for (int i = 0, n = GEOSGetNumGeometries_r(geos(), faces.get()); i < n; ++i) {
    const GEOSGeometry* face = GEOSGetGeometryN_r(geos(), faces.get(), i);
    GeomPtr inside(GEOSPointOnSurface_r(geos(), face));
    if (!inside || GEOSPreparedContains_r(geos(), prepared.get(), inside.get()) != 1) continue;
    out.push_back(spatial::as_multi_polygon(spatial::clone(face)));
  }
  if (out.size() < 2) {
    throw_invalid("line_does_not_split",
                  "the line does not cut the grid in two: it must cross the grid's boundary at least twice", "line");
  }
  std::sort(out.begin(), out.end(), [](const GeomPtr& a, const GeomPtr& b) { return area(a.get()) > area(b.get()); });
  return out;
}

GeomPtr dissolve(const std::vector<const GEOSGeometry*>& polygons) {
  GeomPtr merged = spatial::union_all(polygons);
  GeomPtr out = spatial::polygonal_parts(merged.get());
  if (!out) throw_invalid("empty_geometry", "the merge has no area", "ids");
  return out;
}

GeomPtr snap_to(const GEOSGeometry* geometry, const GEOSGeometry* reference, double tolerance_deg) {
  GeomPtr snapped = checked(GEOSSnap_r(geos(), geometry, reference, tolerance_deg), "snap");
  GeomPtr out = make_valid_polygonal(snapped.get());
  if (!out) throw_invalid("empty_geometry", "snapping collapsed the grid; use a smaller tolerance", "tolerance_m");
  return out;
}

GeomPtr make_valid_polygonal(const GEOSGeometry* geometry) {
  GeomPtr valid = checked(GEOSMakeValid_r(geos(), geometry), "make valid");
  GeomPtr out = spatial::polygonal_parts(valid.get());
  if (!out) return nullptr;
  // Touching parts that MakeValid returns separately are merged.
  if (GEOSisValid_r(geos(), out.get()) != 1) {
    GeomPtr merged = checked(GEOSUnaryUnion_r(geos(), out.get()), "union");
    out = spatial::polygonal_parts(merged.get());
  }
  return out;
}

double metres_to_degrees(double metres, double lat) {
  double kx = 0, ky = 0;
  spatial::metres_per_degree(lat, kx, ky);
  return metres / std::min(kx, ky);
}

}  // namespace gridd::service
