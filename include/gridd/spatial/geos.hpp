#pragma once
/// @file geos.hpp
/// RAII around the GEOS C API (reentrant `_r` functions). Each thread owns
/// one GEOS context; geometries are plain data and may be read from any
/// thread once built.

#include <geos_c.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <string_view>

namespace gridd::spatial {

/// The calling thread's GEOS context (created on first use, freed at thread exit).
GEOSContextHandle_t geos();

/// The last error or notice GEOS reported on this thread.
const std::string& geos_last_error();

struct GeomDeleter {
  void operator()(GEOSGeometry* g) const noexcept;
};
struct PreparedDeleter {
  void operator()(const GEOSPreparedGeometry* g) const noexcept;
};
struct WkbDeleter {
  void operator()(unsigned char* p) const noexcept;
};
using GeomPtr = std::unique_ptr<GEOSGeometry, GeomDeleter>;
using PreparedPtr = std::unique_ptr<const GEOSPreparedGeometry, PreparedDeleter>;

/// Axis-aligned bounding box.
struct Envelope {
  double minx = 0, miny = 0, maxx = 0, maxy = 0;
  [[nodiscard]] bool contains(double x, double y) const noexcept {
    return x >= minx && x <= maxx && y >= miny && y <= maxy;
  }
  [[nodiscard]] bool intersects(const Envelope& o) const noexcept {
    return !(o.minx > maxx || o.maxx < minx || o.miny > maxy || o.maxy < miny);
  }
};

/// Wrap a raw result; throws Error(internal) with GEOS's message when null.
GeomPtr checked(GEOSGeometry* g, const char* what);

GeomPtr from_wkb(std::string_view wkb);
std::string to_wkb(const GEOSGeometry* g);
GeomPtr make_point(double x, double y);
GeomPtr make_box(const Envelope& env);
Envelope envelope_of(const GEOSGeometry* g);
GeomPtr clone(const GEOSGeometry* g);

/// A Polygon wrapped as a one-part MultiPolygon; anything else unchanged.
GeomPtr as_multi_polygon(GeomPtr g);

/// The non-empty polygons of any geometry (an overlay result may mix in
/// lines and points, which have no area) as one MultiPolygon; null when none.
GeomPtr polygonal_parts(const GEOSGeometry* g);

/// The union of the geometries (shared boundaries dissolved).
GeomPtr union_all(const std::vector<const GEOSGeometry*>& geoms);

/// GEOS type id (GEOS_POINT, GEOS_POLYGON, ...).
int type_id(const GEOSGeometry* g);

/// Validity with GEOS's reason and the location of the defect.
struct Validity {
  bool valid = true;
  std::string reason;
  double x = 0, y = 0;
};
Validity check_validity(const GEOSGeometry* g);

/// Apply f to every (x, y) of g; f may throw. Returns a new geometry.
GeomPtr transform_xy(const GEOSGeometry* g, const std::function<void(double&, double&)>& f);

}  // namespace gridd::spatial
