#pragma once
/// @file sql_builder.hpp
/// SQL statements for both stores: the dialect, column types, statements
/// with their bound values, and SqlBuilder, which numbers placeholders in a
/// dialect and writes the few fragments that differ between SQLite (the
/// GeoPackage) and PostgreSQL/PostGIS: points, their coordinates, a box
/// through the spatial index, bytewise text comparison. SQL text comes from
/// fixed fragments only; every value is bound. Private to the storage layer.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sql_value.hpp"

namespace gridd::storage::rows {

enum class Dialect { sqlite, postgres };

/// What a column holds (and so how PostgreSQL casts its parameter and which
/// OGR field type the GeoPackage layer gets).
enum class SqlType { text, instant, bigint, integer, real, boolean, json, bytes };

struct Column {
  std::string_view name;
  SqlType type;
};

/// A statement and its parameters, in order.
struct Statement {
  std::string sql;
  std::vector<SqlValue> values;
};

}  // namespace gridd::storage::rows

namespace gridd::storage {

/// A statement under construction in a dialect: "?N" for SQLite, "$N::type"
/// for PostgreSQL (parameters are sent as text and cast); parameters are
/// numbered in the order they are added.
class SqlBuilder {
 public:
  explicit SqlBuilder(rows::Dialect d) : m_dialect(d) {}
  [[nodiscard]] rows::Dialect dialect() const noexcept { return m_dialect; }
  std::string param(SqlValue v, rows::SqlType t);
  std::string text(const std::string& v) { return param(v, rows::SqlType::text); }
  std::string i64(std::int64_t v) { return param(v, rows::SqlType::bigint); }
  std::string dbl(double v) { return param(v, rows::SqlType::real); }
  /// After a text comparison with a parameter: bytewise, as SQLite compares.
  [[nodiscard]] const char* collate() const noexcept {
    return m_dialect == rows::Dialect::postgres ? " COLLATE \"C\"" : "";
  }
  /// A point geometry value (EPSG:4326).
  std::string point(double lon, double lat);
  /// The stored point's coordinates.
  [[nodiscard]] std::string x(std::string_view prefix = "") const;
  [[nodiscard]] std::string y(std::string_view prefix = "") const;
  /// The spatial index's narrowing to rows of `table` whose point may lie in
  /// the box (its boxes are rounded outwards).
  [[nodiscard]] std::string index_box(const std::string& table, const std::string& minx, const std::string& miny,
                                      const std::string& maxx, const std::string& maxy) const;
  /// Rows of `table` whose point lies in the box, edges included: the
  /// spatial index narrows the search, the stored point decides.
  std::string in_box(const std::string& table, const std::array<double, 4>& box);
  rows::Statement done(std::string sql) { return rows::Statement{std::move(sql), std::move(m_values)}; }

 private:
  rows::Dialect m_dialect;
  std::vector<SqlValue> m_values;
};

}  // namespace gridd::storage
