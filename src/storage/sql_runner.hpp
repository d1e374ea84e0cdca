#pragma once
/// @file sql_runner.hpp
/// Statements run the same way on either store, so a table that is not
/// incident-specific (idempotency keys, ...) is written once: a store built
/// on SqlRunner composes statements with SqlBuilder in the runner's dialect
/// and reads rows through SqlRow. The GeoPackage runner uses the SQLite
/// wrapper, the PostgreSQL one the connection pool. Private to the storage
/// layer.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sql_builder.hpp"

namespace gridd::storage {

namespace pg {
class Pool;
class Connection;
class Result;
}  // namespace pg

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

/// A row of a PostgreSQL result.
class PgRow final : public SqlRow {
 public:
  PgRow(const pg::Result& r, int row) : m_r(r), m_row(row) {}
  bool null(int c) const override;
  std::int64_t i64(int c) const override;
  double dbl(int c) const override;
  bool boolean(int c) const override;
  std::string text(int c) const override;
  std::string blob(int c) const override;

 private:
  const pg::Result& m_r;
  int m_row;
};

/// Run a statement on a PostgreSQL connection (values sent as text, cast in the SQL).
pg::Result run_statement(pg::Connection& conn, const rows::Statement& s);

/// Statements on the GeoPackage at `path`; `write_mutex` serialises its
/// writes with the other writers of the file in this process.
std::unique_ptr<SqlRunner> gpkg_runner(const std::string& path, std::mutex& write_mutex);
/// Statements on the pool's PostgreSQL database.
std::unique_ptr<SqlRunner> pg_runner(pg::Pool& pool);

}  // namespace gridd::storage
