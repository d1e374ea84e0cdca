#pragma once
/// @file sql_runner.hpp
/// Statements run the same way on either store, so a table that is not
/// incident-specific (idempotency keys, ...) is written once: a store built
/// on SqlRunner composes statements with SqlBuilder in the runner's dialect
/// and reads rows through SqlRow. The GeoPackage runner uses the SQLite
/// wrapper, the PostgreSQL one the connection pool. Private to the storage
/// layer.

#include <cstdint>
#include <array>
#include <functional>
#include <string_view>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "incident_rows.hpp"

namespace gridd::storage {

namespace pg {
class Pool;
class Connection;
class Result;
}  // namespace pg

/// Placeholders of a statement in a dialect: "?N" for SQLite, "$N::type"
/// for PostgreSQL; parameters are numbered in the order they are added.
class SqlBuilder {
 public:
  explicit SqlBuilder(rows::Dialect d) : m_dialect(d) {}
  [[nodiscard]] rows::Dialect dialect() const noexcept { return m_dialect; }
  std::string param(SqlValue v, rows::SqlType t);
  std::string text(const std::string& v) { return param(v, rows::SqlType::text); }
  std::string i64(std::int64_t v) { return param(v, rows::SqlType::bigint); }
  std::string dbl(double v) { return param(v, rows::SqlType::real); }
  /// A point geometry value (EPSG:4326).
  std::string point(double lon, double lat);
  /// The stored point's coordinates.
  [[nodiscard]] std::string x(std::string_view prefix = "") const;
  [[nodiscard]] std::string y(std::string_view prefix = "") const;
  /// Rows of `table` whose point lies in the box, edges included: the
  /// spatial index narrows the search, the stored point decides.
  std::string in_box(const std::string& table, const std::array<double, 4>& box);
  rows::Statement done(std::string sql) { return rows::Statement{std::move(sql), std::move(m_values)}; }

 private:
  rows::Dialect m_dialect;
  std::vector<SqlValue> m_values;
};

/// A row of a result, by 0-based column.
class SqlRow {
 public:
  virtual ~SqlRow() = default;
  [[nodiscard]] virtual bool null(int c) const = 0;
  [[nodiscard]] virtual std::int64_t i64(int c) const = 0;
  [[nodiscard]] virtual double dbl(int c) const = 0;
  [[nodiscard]] virtual bool boolean(int c) const = 0;
  /// Empty for NULL.
  [[nodiscard]] virtual std::string text(int c) const = 0;
  [[nodiscard]] virtual std::string blob(int c) const = 0;
};
using RowVisitor = std::function<void(const SqlRow&)>;

/// The statements of one transaction.
class SqlTx {
 public:
  virtual ~SqlTx() = default;
  /// Run a statement; the number of rows it changed.
  virtual std::int64_t run(const rows::Statement& s) = 0;
  virtual void read(const rows::Statement& s, const RowVisitor& row) = 0;
};

class SqlRunner {
 public:
  virtual ~SqlRunner() = default;
  [[nodiscard]] virtual rows::Dialect dialect() const noexcept = 0;
  /// Run a query outside any transaction.
  virtual void read(const rows::Statement& s, const RowVisitor& row) = 0;
  /// Run `work` in one transaction, on disk when this returns; nothing of
  /// it is written when it throws.
  virtual void write(const std::function<void(SqlTx&)>& work) = 0;
};

/// Run a statement on a PostgreSQL connection (values sent as text, cast in the SQL).
pg::Result run_statement(pg::Connection& conn, const rows::Statement& s);

/// Statements on the GeoPackage at `path`; `write_mutex` serialises its
/// writes with the other writers of the file in this process.
std::unique_ptr<SqlRunner> gpkg_runner(const std::string& path, std::mutex& write_mutex);
/// Statements on the pool's PostgreSQL database.
std::unique_ptr<SqlRunner> pg_runner(pg::Pool& pool);

}  // namespace gridd::storage
