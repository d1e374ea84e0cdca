#pragma once
/// @file sqlite.hpp
/// The one SQLite wrapper of the GeoPackage stores (incidents, tokens and
/// the audit log): connections, prepared statements, transactions, and the
/// single translation of SQLite failures into gridd Errors (a busy store and
/// a full disk are `unavailable`, HTTP 503, with their own codes; anything
/// else is `internal`). Private to the storage layer.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "sql_value.hpp"

namespace gridd::storage::sqlite {

/// Throws the gridd Error for the last failure on `db`:
/// store_busy (SQLITE_BUSY/LOCKED), store_full (SQLITE_FULL) or store_failure.
[[noreturn]] void fail(sqlite3* db, const std::string& what);

struct Closer {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using Connection = std::unique_ptr<sqlite3, Closer>;

/// How a connection commits.
enum class Sync {
  full,   ///< every commit is on disk when it returns (incidents)
  normal  ///< WAL NORMAL: a commit survives a process crash, not a power loss
};

/// Open an existing database read-write in WAL mode, with a 30 s busy
/// timeout and the SQL functions the GeoPackage R-tree triggers call
/// (ST_MinX, ST_MaxX, ST_MinY, ST_MaxY, ST_IsEmpty).
Connection open(const std::string& path, Sync sync);

/// Run SQL without parameters (PRAGMA, BEGIN, COMMIT, DDL).
void exec(sqlite3* db, const char* sql);

using Value = SqlValue;

/// A prepared statement; finalised by the destructor.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql);
  /// Prepared with `values` bound to parameters 1..n.
  Stmt(sqlite3* db, const std::string& sql, const std::vector<Value>& values) : Stmt(db, sql) { bind_all(values); }
  ~Stmt() { sqlite3_finalize(m_stmt); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  [[nodiscard]] int parameter_count() const noexcept { return sqlite3_bind_parameter_count(m_stmt); }
  /// Bind parameter `i` (1-based).
  Stmt& bind(int i, const Value& v);
  /// Bind values to parameters 1..n.
  Stmt& bind_all(const std::vector<Value>& values);
  /// True while a row is available. @throws Error on failure.
  bool step();
  /// Step to the end.
  void run();
  /// Ready to run again, with no bindings.
  void reset() noexcept;

  [[nodiscard]] bool null(int c) const noexcept { return sqlite3_column_type(m_stmt, c) == SQLITE_NULL; }
  [[nodiscard]] std::int64_t i64(int c) const noexcept { return sqlite3_column_int64(m_stmt, c); }
  [[nodiscard]] double dbl(int c) const noexcept { return sqlite3_column_double(m_stmt, c); }
  [[nodiscard]] bool boolean(int c) const noexcept { return sqlite3_column_int64(m_stmt, c) != 0; }
  /// Empty for NULL.
  [[nodiscard]] std::string text(int c) const;
  [[nodiscard]] std::string blob(int c) const;

 private:
  sqlite3* m_db;
  sqlite3_stmt* m_stmt = nullptr;
};

/// BEGIN IMMEDIATE ... COMMIT, rolled back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : m_db(db) { exec(db, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!m_done) sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    exec(m_db, "COMMIT");
    m_done = true;
  }

 private:
  sqlite3* m_db;
  bool m_done = false;
};

/// A GeoPackage geometry blob of a point in EPSG:4326 (no envelope).
std::string point_blob(double x, double y);

}  // namespace gridd::storage::sqlite
