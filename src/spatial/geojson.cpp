#include "gridd/spatial/geojson.hpp"

#include <cmath>
#include <vector>

#include "gridd/core/error.hpp"

namespace gridd::spatial {

namespace {

struct SeqDeleter {
  void operator()(GEOSCoordSequence* s) const noexcept {
    if (s) GEOSCoordSeq_destroy_r(geos(), s);
  }
};
using SeqPtr = std::unique_ptr<GEOSCoordSequence, SeqDeleter>;

std::string at(std::string_view where, std::size_t i) {
  return std::string(where) + "/" + std::to_string(i);
}

const Json& member(const Json& obj, const char* key, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    throw_invalid("invalid_geometry", std::string("geometry lacks '") + key + "'", std::string(where));
  }
  return *it;
}

void position(const Json& p, std::string_view where, double& x, double& y) {
  if (!p.is_array() || p.size() < 2 || p.size() > 4) {
    throw_invalid("invalid_geometry", "a position must be an array of 2 to 4 numbers",
                  std::string(where));
  }
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (!p[i].is_number()) {
      throw_invalid("invalid_geometry", "a coordinate must be a number", at(where, i));
    }
  }
  x = p[0].get<double>();
  y = p[1].get<double>();
  if (!std::isfinite(x) || !std::isfinite(y)) {
    throw_invalid("coordinate_out_of_range", "a coordinate is not a finite number", std::string(where));
  }
}

SeqPtr sequence(const Json& arr, std::string_view where, std::size_t min_size) {
  if (!arr.is_array()) throw_invalid("invalid_geometry", "expected an array of positions", std::string(where));
  if (arr.size() < min_size) {
    throw_invalid("invalid_geometry",
                  "expected at least " + std::to_string(min_size) + " positions, got " +
                      std::to_string(arr.size()),
                  std::string(where));
  }
  SeqPtr seq(GEOSCoordSeq_create_r(geos(), static_cast<unsigned>(arr.size()), 2));
  for (std::size_t i = 0; i < arr.size(); ++i) {
    double x = 0, y = 0;
    position(arr[i], at(where, i), x, y);
    GEOSCoordSeq_setXY_r(geos(), seq.get(), static_cast<unsigned>(i), x, y);
  }
  return seq;
}

GeomPtr point(const Json& coords, std::string_view where) {
  double x = 0, y = 0;
  position(coords, where, x, y);
  return make_point(x, y);
}

GeomPtr line(const Json& coords, std::string_view where) {
  SeqPtr seq = sequence(coords, where, 2);
  return checked(GEOSGeom_createLineString_r(geos(), seq.release()), "linestring");
}

GeomPtr ring(const Json& coords, std::string_view where) {
  SeqPtr seq = sequence(coords, where, 4);
  unsigned n = 0;
  GEOSCoordSeq_getSize_r(geos(), seq.get(), &n);
  double x0 = 0, y0 = 0, xn = 0, yn = 0;
  GEOSCoordSeq_getXY_r(geos(), seq.get(), 0, &x0, &y0);
  GEOSCoordSeq_getXY_r(geos(), seq.get(), n - 1, &xn, &yn);
  if (x0 != xn || y0 != yn) {
    throw_invalid("ring_not_closed", "a polygon ring must end at its first position",
                  std::string(where));
  }
  return checked(GEOSGeom_createLinearRing_r(geos(), seq.release()), "ring");
}

GeomPtr polygon(const Json& coords, std::string_view where) {
  if (!coords.is_array() || coords.empty()) {
    throw_invalid("invalid_geometry", "a polygon needs at least one ring", std::string(where));
  }
  GeomPtr shell = ring(coords[0], at(where, 0));
  std::vector<GeomPtr> holes;
  for (std::size_t i = 1; i < coords.size(); ++i) holes.push_back(ring(coords[i], at(where, i)));
  std::vector<GEOSGeometry*> raw;
  for (auto& h : holes) raw.push_back(h.release());
  return checked(GEOSGeom_createPolygon_r(geos(), shell.release(), raw.data(),
                                          static_cast<unsigned>(raw.size())),
                 "polygon");
}

GeomPtr collection(int type, std::vector<GeomPtr> parts) {
  std::vector<GEOSGeometry*> raw;
  for (auto& p : parts) raw.push_back(p.release());
  return checked(GEOSGeom_createCollection_r(geos(), type, raw.data(), static_cast<unsigned>(raw.size())),
                 "collection");
}

template <class Part>
GeomPtr multi(const Json& coords, std::string_view where, int type, Part part) {
  if (!coords.is_array()) throw_invalid("invalid_geometry", "expected an array", std::string(where));
  std::vector<GeomPtr> parts;
  for (std::size_t i = 0; i < coords.size(); ++i) parts.push_back(part(coords[i], at(where, i)));
  return collection(type, std::move(parts));
}

Json coords_of_seq(const GEOSCoordSequence* seq, int decimals) {
  unsigned n = 0;
  GEOSCoordSeq_getSize_r(geos(), seq, &n);
  Json out = Json::array();
  const double scale = decimals >= 0 ? std::pow(10.0, decimals) : 0;
  for (unsigned i = 0; i < n; ++i) {
    double x = 0, y = 0;
    GEOSCoordSeq_getXY_r(geos(), seq, i, &x, &y);
    if (decimals >= 0) {
      x = std::round(x * scale) / scale;
      y = std::round(y * scale) / scale;
    }
    out.push_back(Json::array({x, y}));
  }
  return out;
}

Json polygon_coords(const GEOSGeometry* g, int decimals) {
  Json rings = Json::array();
  rings.push_back(coords_of_seq(GEOSGeom_getCoordSeq_r(geos(), GEOSGetExteriorRing_r(geos(), g)), decimals));
  const int holes = GEOSGetNumInteriorRings_r(geos(), g);
  for (int i = 0; i < holes; ++i) {
    rings.push_back(coords_of_seq(GEOSGeom_getCoordSeq_r(geos(), GEOSGetInteriorRingN_r(geos(), g, i)), decimals));
  }
  return rings;
}

Json coordinates(const GEOSGeometry* g, int decimals) {
  switch (type_id(g)) {
    case GEOS_POINT: return coords_of_seq(GEOSGeom_getCoordSeq_r(geos(), g), decimals).at(0);
    case GEOS_LINESTRING:
    case GEOS_LINEARRING: return coords_of_seq(GEOSGeom_getCoordSeq_r(geos(), g), decimals);
    case GEOS_POLYGON: return polygon_coords(g, decimals);
    default: {
      Json parts = Json::array();
      const int n = GEOSGetNumGeometries_r(geos(), g);
      for (int i = 0; i < n; ++i) parts.push_back(coordinates(GEOSGetGeometryN_r(geos(), g, i), decimals));
      return parts;
    }
  }
}

}  // namespace

GeomPtr geometry_from_geojson(const Json& geometry, std::string_view where) {
  if (!geometry.is_object()) {
    throw_invalid("invalid_geometry", "geometry must be a GeoJSON geometry object", std::string(where));
  }
  const Json& type = member(geometry, "type", where);
  if (!type.is_string()) throw_invalid("invalid_geometry", "geometry type must be a string", std::string(where) + "/type");
  const std::string t = type.get<std::string>();
  if (t == "GeometryCollection") {
    const Json& geoms = member(geometry, "geometries", where);
    if (!geoms.is_array()) throw_invalid("invalid_geometry", "geometries must be an array", std::string(where) + "/geometries");
    std::vector<GeomPtr> parts;
    for (std::size_t i = 0; i < geoms.size(); ++i) {
      parts.push_back(geometry_from_geojson(geoms[i], at(std::string(where) + "/geometries", i)));
    }
    return collection(GEOS_GEOMETRYCOLLECTION, std::move(parts));
  }
  const Json& coords = member(geometry, "coordinates", where);
  const std::string cw = std::string(where) + "/coordinates";
  if (t == "Point") return point(coords, cw);
  if (t == "LineString") return line(coords, cw);
  if (t == "Polygon") return polygon(coords, cw);
  if (t == "MultiPoint") return multi(coords, cw, GEOS_MULTIPOINT, point);
  if (t == "MultiLineString") return multi(coords, cw, GEOS_MULTILINESTRING, line);
  if (t == "MultiPolygon") return multi(coords, cw, GEOS_MULTIPOLYGON, polygon);
  throw_invalid("invalid_geometry", "unknown geometry type '" + t + "'", std::string(where) + "/type");
}

Json geometry_to_geojson(const GEOSGeometry* g, int decimals) {
  static const char* names[] = {"Point",           "LineString",   "LineString", "Polygon",
                                "MultiPoint",      "MultiLineString", "MultiPolygon",
                                "GeometryCollection"};
  const int t = type_id(g);
  if (t == GEOS_GEOMETRYCOLLECTION) {
    Json geoms = Json::array();
    const int n = GEOSGetNumGeometries_r(geos(), g);
    for (int i = 0; i < n; ++i) geoms.push_back(geometry_to_geojson(GEOSGetGeometryN_r(geos(), g, i), decimals));
    return Json{{"type", "GeometryCollection"}, {"geometries", geoms}};
  }
  return Json{{"type", names[t]}, {"coordinates", coordinates(g, decimals)}};
}

void for_each_xy(const GEOSGeometry* g, const std::function<void(double, double)>& f) {
  const int t = type_id(g);
  if (t == GEOS_POINT || t == GEOS_LINESTRING || t == GEOS_LINEARRING) {
    const GEOSCoordSequence* seq = GEOSGeom_getCoordSeq_r(geos(), g);
    unsigned n = 0;
    GEOSCoordSeq_getSize_r(geos(), seq, &n);
    for (unsigned i = 0; i < n; ++i) {
      double x = 0, y = 0;
      GEOSCoordSeq_getXY_r(geos(), seq, i, &x, &y);
      f(x, y);
    }
  } else if (t == GEOS_POLYGON) {
    for_each_xy(GEOSGetExteriorRing_r(geos(), g), f);
    const int holes = GEOSGetNumInteriorRings_r(geos(), g);
    for (int i = 0; i < holes; ++i) for_each_xy(GEOSGetInteriorRingN_r(geos(), g, i), f);
  } else {
    const int n = GEOSGetNumGeometries_r(geos(), g);
    for (int i = 0; i < n; ++i) for_each_xy(GEOSGetGeometryN_r(geos(), g, i), f);
  }
}

}  // namespace gridd::spatial
