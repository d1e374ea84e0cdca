#pragma once
/// @file geojson.hpp
/// GeoJSON (RFC 7946) geometry objects <-> GEOS geometries, with errors that
/// point at the offending member ("geometry/coordinates/0/3").

#include <string_view>

#include "gridd/core/model.hpp"
#include "gridd/spatial/geos.hpp"

namespace gridd::spatial {

/// Build a GEOS geometry from a GeoJSON geometry object. Checks structure,
/// numbers, ring closure and minimum sizes, not OGC validity.
/// @throws Error(invalid_input) naming the member at `where`.
GeomPtr geometry_from_geojson(const Json& geometry, std::string_view where = "geometry");

/// GeoJSON geometry object of g. `decimals` < 0 keeps full precision.
Json geometry_to_geojson(const GEOSGeometry* g, int decimals = -1);

/// Apply a check to every coordinate (e.g. the lon/lat range).
void for_each_xy(const GEOSGeometry* g, const std::function<void(double, double)>& f);

}  // namespace gridd::spatial
