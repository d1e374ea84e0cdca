#include <cmath>
#include <sstream>

#include "gridd/core/error.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geojson.hpp"

namespace gridd::service {

void validate_grid_geometry(const GEOSGeometry* geometry, const std::string& where) {
  const std::string field = where.empty() ? "geometry" : where + "/geometry";
  if (!geometry) throw_invalid("missing_geometry", "a grid needs a Polygon or MultiPolygon geometry", field);
  const int t = spatial::type_id(geometry);
  if (t != GEOS_POLYGON && t != GEOS_MULTIPOLYGON) {
    throw_invalid("invalid_geometry_type", "a grid geometry must be a Polygon or MultiPolygon", field);
  }
  if (GEOSisEmpty_r(spatial::geos(), geometry) == 1) {
    throw_invalid("empty_geometry", "the grid geometry is empty", field);
  }
  spatial::for_each_xy(geometry, [&](double x, double y) { spatial::check_lon_lat(x, y, field); });
  const spatial::Validity v = spatial::check_validity(geometry);
  if (!v.valid) {
    std::ostringstream msg;
    msg.precision(10);
    msg << "invalid polygon: " << v.reason << " at (" << v.x << " " << v.y << ")";
    throw Error(ErrorKind::invalid_input, "invalid_geometry", msg.str(), field);
  }
}

void Catalog::validate_station(const StationInput& input) const {
  const Station& s = input.station;
  const std::string w = input.where.empty() ? "" : input.where + "/";
  if (s.name.empty()) throw_invalid("missing_name", "a station needs a name", w + "properties/name");
  if (s.kind.empty()) throw_invalid("missing_kind", "a station needs a kind", w + "properties/kind");
  const auto& kinds = m_options.station_kinds;
  if (std::find(kinds.begin(), kinds.end(), s.kind) == kinds.end()) {
    std::string known;
    for (const auto& k : kinds) known += (known.empty() ? "" : ", ") + k;
    throw_invalid("unknown_kind", "unknown station kind '" + s.kind + "' (known: " + known + ")",
                  w + "properties/kind");
  }
  if (!s.code.empty() && !is_valid_code(s.code)) {
    throw_invalid("invalid_code", "a code is 1..64 characters of [0-9A-Za-z_.-]", w + "properties/code");
  }
  spatial::check_lon_lat(s.lon, s.lat, w + "geometry");
}

}  // namespace gridd::service

namespace gridd::service {

void validate_grid_input(const GridInput& input) {
  const Grid& g = input.grid;
  const std::string prefix = input.where.empty() ? "properties/" : input.where + "/properties/";
  if (g.code.empty()) throw_invalid("missing_code", "a grid needs a code", prefix + "code");
  if (!is_valid_code(g.code)) {
    throw_invalid("invalid_code", "code '" + g.code + "' is not 1..64 characters of [0-9A-Za-z_.-]", prefix + "code");
  }
  if (g.name.empty()) throw_invalid("missing_name", "a grid needs a name", prefix + "name");
  validate_grid_geometry(input.geometry.get(), input.where);
}

}  // namespace gridd::service
