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

class PgRow final : public SqlRow {
 public:
  PgRow(const pg::Result& r, int row) : m_r(r), m_row(row) {}
  bool null(int c) const override { return m_r.null(m_row, c); }
  std::int64_t i64(int c) const override { return m_r.i64(m_row, c); }
  double dbl(int c) const override { return m_r.dbl(m_row, c); }
  bool boolean(int c) const override { return m_r.boolean(m_row, c); }
  std::string text(int c) const override { return m_r.text(m_row, c); }
  std::string blob(int c) const override { return m_r.bytes(m_row, c); }

 private:
  const pg::Result& m_r;
  int m_row;
};

}  // namespace

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

std::string SqlBuilder::in_box(const std::string& table, const std::array<double, 4>& b) {
  const std::string minx = dbl(b[0]), miny = dbl(b[1]), maxx = dbl(b[2]), maxy = dbl(b[3]);
  const std::string index =
      m_dialect == rows::Dialect::sqlite
          ? "id IN (SELECT id FROM rtree_" + table + "_geom WHERE maxx >= " + minx + " AND minx <= " + maxx +
                " AND maxy >= " + miny + " AND miny <= " + maxy + ")"
          : "geom && ST_MakeEnvelope(" + minx + ", " + miny + ", " + maxx + ", " + maxy + ", 4326)";
  return index + " AND " + x() + " BETWEEN " + minx + " AND " + maxx + " AND " + y() + " BETWEEN " + miny + " AND " +
         maxy;
}

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

std::string SqlBuilder::param(SqlValue v, rows::SqlType t) {
  m_values.push_back(std::move(v));
  return rows::placeholder(m_dialect, m_values.size(), t);
}

std::unique_ptr<SqlRunner> gpkg_runner(const std::string& path, std::mutex& write_mutex) {
  return std::make_unique<GpkgRunner>(path, write_mutex);
}

std::unique_ptr<SqlRunner> pg_runner(pg::Pool& pool) { return std::make_unique<PgRunner>(pool); }

}  // namespace gridd::storage
