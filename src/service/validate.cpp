#include <cmath>
#include <sstream>

#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geojson.hpp"

namespace gridd::service {

namespace {

/// Vertices of one grid at most: real boundaries reach a few hundred thousand.
constexpr int k_max_vertices = 500000;
/// Free attributes of a grid or station, as JSON text, at most.
constexpr std::size_t k_max_attributes = 64 * 1024;

void check_attributes(const Json& attributes, const std::string& field) {
  if (attributes.dump().size() > k_max_attributes) {
    throw Error(ErrorKind::too_large, "text_too_long",
                "attributes are larger than " + std::to_string(k_max_attributes) + " bytes as JSON", field);
  }
}

}  // namespace

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
  const int vertices = GEOSGetNumCoordinates_r(spatial::geos(), geometry);
  if (vertices > k_max_vertices) {
    throw Error(ErrorKind::too_large, "too_many_vertices",
                std::to_string(vertices) + " vertices; a grid has at most " + std::to_string(k_max_vertices), field);
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
  check_line(s.name, 200, w + "properties/name");
  check_line(s.address, 1000, w + "properties/address");
  check_line(s.contact, 200, w + "properties/contact");
  check_line(s.hours, 200, w + "properties/hours");
  check_attributes(s.attributes, w + "properties/attributes");
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
  check_line(g.name, 200, prefix + "name");
  if (g.people.size() > 100) {
    throw Error(ErrorKind::too_large, "too_many_people", "a grid names 100 people at most", prefix + "people");
  }
  for (std::size_t k = 0; k < g.people.size(); ++k) {
    const std::string at = prefix + "people/" + std::to_string(k) + "/";
    check_line(g.people[k].name, 200, at + "name");
    check_line(g.people[k].role, 64, at + "role");
    check_line(g.people[k].phone, 64, at + "phone");
  }
  check_attributes(g.attributes, prefix + "attributes");
  validate_grid_geometry(input.geometry.get(), input.where);
}

}  // namespace gridd::service
