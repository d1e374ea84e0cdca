#include "sql_runner.hpp"

#include <variant>

#include "gridd/storage/pg.hpp"
#include "sqlite.hpp"

namespace gridd::storage {

namespace {

// --- SQLite ----------------------------------------------------------------

class SqliteRow final : public SqlRow {
 public:
  explicit SqliteRow(const sqlite::Stmt& st) : m_st(st) {}
  bool null(int c) const override { return m_st.null(c); }
  std::int64_t i64(int c) const override { return m_st.i64(c); }
  double dbl(int c) const override { return m_st.dbl(c); }
  bool boolean(int c) const override { return m_st.boolean(c); }
  std::string text(int c) const override { return m_st.text(c); }
  std::string blob(int c) const override { return m_st.blob(c); }

 private:
  const sqlite::Stmt& m_st;
};

void sqlite_read(sqlite3* db, const rows::Statement& s, const RowVisitor& row) {
  sqlite::Stmt st(db, s.sql, s.values);
  const SqliteRow r(st);
  while (st.step()) row(r);
}

class SqliteTx final : public SqlTx {
 public:
  explicit SqliteTx(sqlite3* db) : m_db(db) {}
  std::int64_t run(const rows::Statement& s) override {
    sqlite::Stmt(m_db, s.sql, s.values).run();
    return sqlite3_changes(m_db);
  }
  void read(const rows::Statement& s, const RowVisitor& row) override { sqlite_read(m_db, s, row); }

 private:
  sqlite3* m_db;
};

class GpkgRunner final : public SqlRunner {
 public:
  GpkgRunner(const std::string& path, std::mutex& write_mutex)
      : m_write_mutex(write_mutex), m_db(sqlite::open(path, sqlite::Sync::full)) {}
  rows::Dialect dialect() const noexcept override { return rows::Dialect::sqlite; }
  void read(const rows::Statement& s, const RowVisitor& row) override {
    std::lock_guard lock(m_mutex);
    sqlite_read(m_db.get(), s, row);
  }
  void write(const std::function<void(SqlTx&)>& work) override {
    std::lock_guard file_lock(m_write_mutex);
    std::lock_guard lock(m_mutex);
    sqlite::Transaction tx(m_db.get());
    SqliteTx t(m_db.get());
    work(t);
    tx.commit();
  }

 private:
  std::mutex& m_write_mutex;
  std::mutex m_mutex;  // one user of the connection at a time
  sqlite::Connection m_db;
};

// --- PostgreSQL ------------------------------------------------------------


}  // namespace

bool PgRow::null(int c) const { return m_r.null(m_row, c); }
std::int64_t PgRow::i64(int c) const { return m_r.i64(m_row, c); }
double PgRow::dbl(int c) const { return m_r.dbl(m_row, c); }
bool PgRow::boolean(int c) const { return m_r.boolean(m_row, c); }
std::string PgRow::text(int c) const { return m_r.text(m_row, c); }
std::string PgRow::blob(int c) const { return m_r.bytes(m_row, c); }

pg::Result run_statement(pg::Connection& conn, const rows::Statement& s) {
  pg::Params p;
  for (const auto& v : s.values) {
    if (std::holds_alternative<std::nullptr_t>(v)) {
      p.null();
    } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
      p.i64(*n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      p.dbl(*d);
    } else if (const auto* b = std::get_if<Blob>(&v)) {
      p.bytes(b->bytes);
    } else {
      p.text(std::get<std::string>(v));
    }
  }
  return conn.query(s.sql, p);
}

namespace {

void pg_read(pg::Connection& conn, const rows::Statement& s, const RowVisitor& row) {
  const pg::Result r = run_statement(conn, s);
  for (int i = 0; i < r.rows(); ++i) row(PgRow(r, i));
}

class PgTx final : public SqlTx {
 public:
  explicit PgTx(pg::Connection& conn) : m_conn(conn) {}
  std::int64_t run(const rows::Statement& s) override { return run_statement(m_conn, s).affected(); }
  void read(const rows::Statement& s, const RowVisitor& row) override { pg_read(m_conn, s, row); }

 private:
  pg::Connection& m_conn;
};

class PgRunner final : public SqlRunner {
 public:
  explicit PgRunner(pg::Pool& pool) : m_pool(pool) {}
  rows::Dialect dialect() const noexcept override { return rows::Dialect::postgres; }
  void read(const rows::Statement& s, const RowVisitor& row) override {
    auto conn = m_pool.lease();
    pg_read(*conn, s, row);
  }
  void write(const std::function<void(SqlTx&)>& work) override {
    auto conn = m_pool.lease();
    pg::Transaction tx(*conn);
    PgTx t(*conn);
    work(t);
    tx.commit();
  }

 private:
  pg::Pool& m_pool;
};

}  // namespace


std::unique_ptr<SqlRunner> gpkg_runner(const std::string& path, std::mutex& write_mutex) {
  return std::make_unique<GpkgRunner>(path, write_mutex);
}

std::unique_ptr<SqlRunner> pg_runner(pg::Pool& pool) { return std::make_unique<PgRunner>(pool); }

}  // namespace gridd::storage
