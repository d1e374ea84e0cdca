#include "sql_builder.hpp"

#include "sqlite.hpp"

namespace gridd::storage {

std::string SqlBuilder::param(SqlValue v, rows::SqlType t) {
  m_values.push_back(std::move(v));
  const std::string n = std::to_string(m_values.size());
  if (m_dialect == rows::Dialect::sqlite) return "?" + n;
  const char* cast = "::text";
  switch (t) {
    case rows::SqlType::text:
    case rows::SqlType::instant: break;
    case rows::SqlType::bigint: cast = "::bigint"; break;
    case rows::SqlType::integer: cast = "::integer"; break;
    case rows::SqlType::real: cast = "::double precision"; break;
    case rows::SqlType::boolean: cast = "::boolean"; break;
    case rows::SqlType::json: cast = "::jsonb"; break;
    case rows::SqlType::bytes: cast = "::bytea"; break;
  }
  return "$" + n + cast;
}

std::string SqlBuilder::point(double lon, double lat) {
  if (m_dialect == rows::Dialect::sqlite) return param(Blob{sqlite::point_blob(lon, lat)}, rows::SqlType::bytes);
  const std::string x = dbl(lon);
  const std::string y = dbl(lat);
  return "ST_SetSRID(ST_MakePoint(" + x + ", " + y + "), 4326)";
}

std::string SqlBuilder::x(std::string_view p) const {
  return std::string(m_dialect == rows::Dialect::sqlite ? "ST_MinX(" : "ST_X(").append(p).append("geom)");
}

std::string SqlBuilder::y(std::string_view p) const {
  return std::string(m_dialect == rows::Dialect::sqlite ? "ST_MinY(" : "ST_Y(").append(p).append("geom)");
}

std::string SqlBuilder::index_box(const std::string& table, const std::string& minx, const std::string& miny,
                                  const std::string& maxx, const std::string& maxy) const {
  if (m_dialect == rows::Dialect::sqlite) {
    return "id IN (SELECT id FROM rtree_" + table + "_geom WHERE maxx >= " + minx + " AND minx <= " + maxx +
           " AND maxy >= " + miny + " AND miny <= " + maxy + ")";
  }
  return "geom && ST_MakeEnvelope(" + minx + ", " + miny + ", " + maxx + ", " + maxy + ", 4326)";
}

std::string SqlBuilder::in_box(const std::string& table, const std::array<double, 4>& b) {
  const std::string minx = dbl(b[0]), miny = dbl(b[1]), maxx = dbl(b[2]), maxy = dbl(b[3]);
  return index_box(table, minx, miny, maxx, maxy) + " AND " + x() + " BETWEEN " + minx + " AND " + maxx + " AND " +
         y() + " BETWEEN " + miny + " AND " + maxy;
}

}  // namespace gridd::storage
