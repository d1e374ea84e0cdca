#include "sqlite.hpp"

#include <cstring>

#include "gridd/core/error.hpp"

namespace gridd::storage::sqlite {

namespace {

constexpr int k_busy_timeout_ms = 30000;

/// The envelope of a GeoPackage blob: from its header when present, else
/// from a WKB point. False for anything else.
bool blob_envelope(const unsigned char* p, int n, double env[4], bool& empty) {
  empty = false;
  if (!p || n < 8 || p[0] != 'G' || p[1] != 'P') return false;
  const unsigned flags = p[3];
  empty = (flags >> 4) & 1u;
  const unsigned env_kind = (flags >> 1) & 7u;
  static const int env_doubles[] = {0, 4, 6, 6, 8};
  if (env_kind > 4) return false;
  const int header = 8 + 8 * env_doubles[env_kind];
  if (n < header) return false;
  const bool le = flags & 1u;
  if (env_kind != 0 && le) {
    std::memcpy(&env[0], p + 8, 8);   // minx
    std::memcpy(&env[1], p + 16, 8);  // maxx
    std::memcpy(&env[2], p + 24, 8);  // miny
    std::memcpy(&env[3], p + 32, 8);  // maxy
    return true;
  }
  const unsigned char* w = p + header;
  if (n - header < 21 || w[0] != 1) return false;  // little-endian WKB only
  std::uint32_t type = 0;
  std::memcpy(&type, w + 1, 4);
  if (type != 1) return false;
  double x = 0, y = 0;
  std::memcpy(&x, w + 5, 8);
  std::memcpy(&y, w + 13, 8);
  env[0] = env[1] = x;
  env[2] = env[3] = y;
  return true;
}

// The SQL functions the GeoPackage R-tree triggers call (GDAL registers the
// same on its own connections).
template <int Index>
void st_bound(sqlite3_context* ctx, int, sqlite3_value** argv) {
  double env[4];
  bool empty = false;
  const auto* p = static_cast<const unsigned char*>(sqlite3_value_blob(argv[0]));
  if (!blob_envelope(p, sqlite3_value_bytes(argv[0]), env, empty) || empty) {
    sqlite3_result_null(ctx);
    return;
  }
  sqlite3_result_double(ctx, env[Index]);
}

void st_is_empty(sqlite3_context* ctx, int, sqlite3_value** argv) {
  double env[4];
  bool empty = false;
  const auto* p = static_cast<const unsigned char*>(sqlite3_value_blob(argv[0]));
  const bool ok = blob_envelope(p, sqlite3_value_bytes(argv[0]), env, empty);
  sqlite3_result_int(ctx, ok ? (empty ? 1 : 0) : (p && sqlite3_value_bytes(argv[0]) >= 4 && ((p[3] >> 4) & 1)));
}

}  // namespace

void fail(sqlite3* db, const std::string& what) {
  const int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  const std::string msg = db ? sqlite3_errmsg(db) : "no connection";
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) {
    throw Error(ErrorKind::unavailable, "store_busy", what + ": the store is busy (" + msg + ")");
  }
  if ((code & 0xff) == SQLITE_FULL) {
    throw Error(ErrorKind::unavailable, "store_full", what + ": the disk is full");
  }
  throw Error(ErrorKind::internal, "store_failure", what + ": " + msg);
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "";
    sqlite3_free(err);
    fail(db, std::string("'") + sql + "' failed (" + msg + ")");
  }
}

Connection open(const std::string& path, Sync sync) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK) fail(raw, "cannot open '" + path + "'");
  sqlite3_busy_timeout(db.get(), k_busy_timeout_ms);
  exec(db.get(), "PRAGMA journal_mode=WAL");
  exec(db.get(), sync == Sync::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC;
  sqlite3_create_function_v2(db.get(), "ST_MinX", 1, flags, nullptr, st_bound<0>, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db.get(), "ST_MaxX", 1, flags, nullptr, st_bound<1>, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db.get(), "ST_MinY", 1, flags, nullptr, st_bound<2>, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db.get(), "ST_MaxY", 1, flags, nullptr, st_bound<3>, nullptr, nullptr, nullptr);
  sqlite3_create_function_v2(db.get(), "ST_IsEmpty", 1, flags, nullptr, st_is_empty, nullptr, nullptr, nullptr);
  return db;
}

Stmt::Stmt(sqlite3* db, const std::string& sql) : m_db(db) {
  if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &m_stmt, nullptr) != SQLITE_OK) {
    fail(db, "cannot prepare a statement");
  }
}

Stmt& Stmt::bind(int i, const Value& v) {
  int rc = SQLITE_OK;
  if (std::holds_alternative<std::nullptr_t>(v)) {
    rc = sqlite3_bind_null(m_stmt, i);
  } else if (const auto* n = std::get_if<std::int64_t>(&v)) {
    rc = sqlite3_bind_int64(m_stmt, i, *n);
  } else if (const auto* d = std::get_if<double>(&v)) {
    rc = sqlite3_bind_double(m_stmt, i, *d);
  } else if (const auto* b = std::get_if<Blob>(&v)) {
    rc = sqlite3_bind_blob(m_stmt, i, b->bytes.data(), static_cast<int>(b->bytes.size()), SQLITE_TRANSIENT);
  } else {
    const auto& s = std::get<std::string>(v);
    rc = sqlite3_bind_text(m_stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  if (rc != SQLITE_OK) fail(m_db, "cannot bind a parameter");
  return *this;
}

Stmt& Stmt::bind_all(const std::vector<Value>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) bind(static_cast<int>(i + 1), values[i]);
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(m_stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(m_db, "a statement failed");
}

void Stmt::run() {
  while (step()) {
  }
}

void Stmt::reset() noexcept {
  sqlite3_reset(m_stmt);
  sqlite3_clear_bindings(m_stmt);
}

std::string Stmt::text(int c) const {
  const auto* p = sqlite3_column_text(m_stmt, c);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, c)))
           : std::string();
}

std::string Stmt::blob(int c) const {
  const void* p = sqlite3_column_blob(m_stmt, c);
  return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, c)))
           : std::string();
}

std::string point_blob(double x, double y) {
  std::string b(8 + 21, '\0');
  b[0] = 'G';
  b[1] = 'P';
  b[2] = 0;     // version 1
  b[3] = 0x01;  // little endian, no envelope, not empty
  const std::int32_t srs = 4326;
  std::memcpy(&b[4], &srs, 4);
  b[8] = 1;  // WKB little endian
  const std::uint32_t type = 1;  // Point
  std::memcpy(&b[9], &type, 4);
  std::memcpy(&b[13], &x, 8);
  std::memcpy(&b[21], &y, 8);
  return b;
}

}  // namespace gridd::storage::sqlite
