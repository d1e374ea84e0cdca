#include "gridd/spatial/geos.hpp"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <exception>
#include <functional>

#include "gridd/core/error.hpp"

namespace gridd::spatial {

namespace {

thread_local std::string t_last_error;

void on_message(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  t_last_error = buf;
}

struct ContextHolder {
  GEOSContextHandle_t handle;
  ContextHolder() : handle(GEOS_init_r()) {
    GEOSContext_setErrorHandler_r(handle, on_message);
    GEOSContext_setNoticeHandler_r(handle, on_message);
  }
  ~ContextHolder() { GEOS_finish_r(handle); }
  ContextHolder(const ContextHolder&) = delete;
  ContextHolder& operator=(const ContextHolder&) = delete;
};

}  // namespace

GEOSContextHandle_t geos() {
  thread_local ContextHolder holder;
  return holder.handle;
}

const std::string& geos_last_error() { return t_last_error; }

void GeomDeleter::operator()(GEOSGeometry* g) const noexcept {
  if (g) GEOSGeom_destroy_r(geos(), g);
}
void PreparedDeleter::operator()(const GEOSPreparedGeometry* g) const noexcept {
  if (g) GEOSPreparedGeom_destroy_r(geos(), g);
}
void WkbDeleter::operator()(unsigned char* p) const noexcept {
  if (p) GEOSFree_r(geos(), p);
}

GeomPtr checked(GEOSGeometry* g, const char* what) {
  if (!g) {
    throw Error(ErrorKind::internal, "geos_failure", std::string(what) + ": " + t_last_error);
  }
  return GeomPtr(g);
}

GeomPtr from_wkb(std::string_view wkb) {
  auto* g = GEOSGeomFromWKB_buf_r(geos(), reinterpret_cast<const unsigned char*>(wkb.data()),
                                  wkb.size());
  if (!g) throw_invalid("invalid_geometry", "unreadable WKB geometry: " + t_last_error, "geometry");
  return GeomPtr(g);
}

std::string to_wkb(const GEOSGeometry* g) {
  GEOSWKBWriter* w = GEOSWKBWriter_create_r(geos());
  GEOSWKBWriter_setByteOrder_r(geos(), w, GEOS_WKB_NDR);
  std::size_t size = 0;
  std::unique_ptr<unsigned char, WkbDeleter> buf(GEOSWKBWriter_write_r(geos(), w, g, &size));
  GEOSWKBWriter_destroy_r(geos(), w);
  if (!buf) throw Error(ErrorKind::internal, "geos_failure", "WKB write failed: " + t_last_error);
  return std::string(reinterpret_cast<const char*>(buf.get()), size);
}

GeomPtr make_point(double x, double y) {
  return checked(GEOSGeom_createPointFromXY_r(geos(), x, y), "point");
}

GeomPtr make_box(const Envelope& e) {
  return checked(GEOSGeom_createRectangle_r(geos(), e.minx, e.miny, e.maxx, e.maxy), "box");
}

Envelope envelope_of(const GEOSGeometry* g) {
  Envelope e;
  if (GEOSisEmpty_r(geos(), g) == 1) return e;
  GEOSGeom_getXMin_r(geos(), g, &e.minx);
  GEOSGeom_getYMin_r(geos(), g, &e.miny);
  GEOSGeom_getXMax_r(geos(), g, &e.maxx);
  GEOSGeom_getYMax_r(geos(), g, &e.maxy);
  return e;
}

GeomPtr clone(const GEOSGeometry* g) { return checked(GEOSGeom_clone_r(geos(), g), "clone"); }

GeomPtr as_multi_polygon(GeomPtr g) {
  if (!g || type_id(g.get()) != GEOS_POLYGON) return g;
  GEOSGeometry* parts[] = {g.release()};
  return checked(GEOSGeom_createCollection_r(geos(), GEOS_MULTIPOLYGON, parts, 1), "multipolygon");
}

GeomPtr polygonal_parts(const GEOSGeometry* g) {
  std::vector<GEOSGeometry*> parts;
  const std::function<void(const GEOSGeometry*)> collect = [&](const GEOSGeometry* x) {
    const int t = GEOSGeomTypeId_r(geos(), x);
    if (t == GEOS_POLYGON) {
      if (GEOSisEmpty_r(geos(), x) != 1) parts.push_back(GEOSGeom_clone_r(geos(), x));
    } else if (t == GEOS_MULTIPOLYGON || t == GEOS_GEOMETRYCOLLECTION) {
      for (int i = 0, n = GEOSGetNumGeometries_r(geos(), x); i < n; ++i) collect(GEOSGetGeometryN_r(geos(), x, i));
    }
  };
  collect(g);
  if (parts.empty()) return nullptr;
  return checked(
      GEOSGeom_createCollection_r(geos(), GEOS_MULTIPOLYGON, parts.data(), static_cast<unsigned>(parts.size())),
      "collect polygons");
}

GeomPtr union_all(const std::vector<const GEOSGeometry*>& geoms) {
  std::vector<GEOSGeometry*> copies;
  copies.reserve(geoms.size());
  for (const auto* g : geoms) copies.push_back(GEOSGeom_clone_r(geos(), g));
  GeomPtr collection = checked(
      GEOSGeom_createCollection_r(geos(), GEOS_GEOMETRYCOLLECTION, copies.data(), static_cast<unsigned>(copies.size())),
      "collect");
  return checked(GEOSUnaryUnion_r(geos(), collection.get()), "union");
}

int type_id(const GEOSGeometry* g) { return GEOSGeomTypeId_r(geos(), g); }

Validity check_validity(const GEOSGeometry* g) {
  Validity v;
  char* reason = nullptr;
  GEOSGeometry* location = nullptr;
  const char rc = GEOSisValidDetail_r(geos(), g, 0, &reason, &location);
  if (rc == 1) return v;
  v.valid = false;
  v.reason = reason ? reason : t_last_error;
  if (location) {
    GEOSGeomGetX_r(geos(), location, &v.x);
    GEOSGeomGetY_r(geos(), location, &v.y);
    GEOSGeom_destroy_r(geos(), location);
  }
  if (reason) GEOSFree_r(geos(), reason);
  return v;
}

namespace {
struct TransformData {
  const std::function<void(double&, double&)>* f;
  std::exception_ptr error;
};
int transform_cb(double* x, double* y, void* userdata) {
  auto* d = static_cast<TransformData*>(userdata);
  try {
    (*d->f)(*x, *y);
    return 1;
  } catch (...) {
    d->error = std::current_exception();
    return 0;
  }
}
}  // namespace

GeomPtr transform_xy(const GEOSGeometry* g, const std::function<void(double&, double&)>& f) {
  TransformData data{&f, nullptr};
  GEOSGeometry* out = GEOSGeom_transformXY_r(geos(), g, transform_cb, &data);
  if (data.error) {
    if (out) GEOSGeom_destroy_r(geos(), out);
    std::rethrow_exception(data.error);
  }
  return checked(out, "transform");
}

}  // namespace gridd::spatial
