#include "gridd/storage/pg.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdio>
#include <cstring>

#include "gridd/core/error.hpp"

namespace gridd::storage::pg {

namespace {

/// SQLSTATE classes that mean "the server is not there right now": retry later.
bool transient(std::string_view state) {
  return (state.rfind("08", 0) == 0 && state != "08P01") ||  // connection exceptions (not a protocol violation)
         state.rfind("57P", 0) == 0 ||  // admin shutdown, crash shutdown, cannot connect now
         state.rfind("53", 0) == 0 ||   // insufficient resources
         state == "40001" || state == "40P01";  // serialization failure, deadlock
}

[[noreturn]] void fail(pg_conn* conn, const PGresult* res, const std::string& what) {
  const char* state_c = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = state_c ? state_c : "";
  std::string msg = res ? PQresultErrorMessage(res) : "";
  if (msg.empty() && conn) msg = PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (state == "23505") {
    throw_conflict("duplicate_code", "the code is already in use (" + msg + ")", "code");
  }
  if (transient(state) || !conn || PQstatus(conn) != CONNECTION_OK) {
    throw Error(ErrorKind::unavailable, "store_unavailable",
                what + ": the database cannot be reached now (" + msg + "); try again shortly");
  }
  throw Error(ErrorKind::internal, "store_failure", what + ": " + msg + (state.empty() ? "" : " [" + state + "]"));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// --- Params -------------------------------------------------------------

Params& Params::null() {
  m_values.emplace_back(std::nullopt);
  return *this;
}
Params& Params::text(std::string value) {
  m_values.emplace_back(std::move(value));
  return *this;
}
Params& Params::opt_text(const std::string& value) { return value.empty() ? null() : text(value); }
Params& Params::i64(std::int64_t value) { return text(std::to_string(value)); }
Params& Params::opt_id(std::int64_t value) { return value == 0 ? null() : i64(value); }
Params& Params::dbl(double value) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);  // shortest round-trip form
  return text(std::string(buf, r.ptr));
}
Params& Params::boolean(bool value) { return text(value ? "true" : "false"); }
Params& Params::bytes(std::string_view value) { return text("\\x" + to_hex(value)); }

// --- Result -------------------------------------------------------------

Result::~Result() {
  if (m_res) PQclear(m_res);
}
Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (m_res) PQclear(m_res);
    m_res = other.m_res;
    other.m_res = nullptr;
  }
  return *this;
}
int Result::rows() const noexcept { return m_res ? PQntuples(m_res) : 0; }
std::int64_t Result::affected() const noexcept {
  if (!m_res) return 0;
  const char* n = PQcmdTuples(m_res);
  return n && *n ? std::strtoll(n, nullptr, 10) : 0;
}
bool Result::null(int row, int col) const noexcept { return PQgetisnull(m_res, row, col) != 0; }
std::string_view Result::view(int row, int col) const noexcept {
  if (PQgetisnull(m_res, row, col)) return {};
  return {PQgetvalue(m_res, row, col), static_cast<std::size_t>(PQgetlength(m_res, row, col))};
}
std::string Result::text(int row, int col) const { return std::string(view(row, col)); }
std::int64_t Result::i64(int row, int col) const {
  const auto v = view(row, col);
  std::int64_t out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}
double Result::dbl(int row, int col) const {
  if (null(row, col)) return 0;
  return std::strtod(PQgetvalue(m_res, row, col), nullptr);
}
bool Result::boolean(int row, int col) const noexcept {
  const auto v = view(row, col);
  return !v.empty() && v.front() == 't';
}
std::string Result::bytes(int row, int col) const {
  auto v = view(row, col);
  if (v.size() >= 2 && v[0] == '\\' && v[1] == 'x') v.remove_prefix(2);
  return from_hex(v);
}

// --- Connection ---------------------------------------------------------

Connection::Connection(const std::string& conninfo) {
  // Defaults first: what the caller's string says overrides them.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "gridd", conninfo.c_str(), nullptr};
  m_conn = PQconnectdbParams(keys, values, 1);
  if (!m_conn || PQstatus(m_conn) != CONNECTION_OK) {
    std::string msg = m_conn ? PQerrorMessage(m_conn) : "out of memory";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (m_conn) PQfinish(m_conn);
    m_conn = nullptr;
    throw Error(ErrorKind::unavailable, "store_unavailable", "cannot connect to the database: " + msg);
  }
  // Quiet NOTICEs (CREATE ... IF NOT EXISTS and the like).
  PQsetNoticeProcessor(m_conn, [](void*, const char*) {}, nullptr);
}

Connection::~Connection() {
  if (m_conn) PQfinish(m_conn);
}

bool Connection::ok() const noexcept { return m_conn && PQstatus(m_conn) == CONNECTION_OK; }
int Connection::backend_pid() const noexcept { return m_conn ? PQbackendPID(m_conn) : 0; }

bool Connection::reconnect_after_loss(bool was_idle) {
  // Only outside a transaction: inside one, the work done so far is gone and
  // the caller must see the failure.
  if (!was_idle || PQstatus(m_conn) == CONNECTION_OK) return false;
  PQreset(m_conn);
  if (PQstatus(m_conn) != CONNECTION_OK) return false;
  m_prepared.clear();  // prepared statements died with the old session
  return true;
}

void Connection::exec(const std::string& sql) {
  for (int attempt = 0;; ++attempt) {
    const bool idle = PQtransactionStatus(m_conn) == PQTRANS_IDLE;
    PGresult* res = PQexec(m_conn, sql.c_str());
    const auto status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    Result guard(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return;
    if (attempt == 0 && reconnect_after_loss(idle)) continue;
    fail(m_conn, res, "a database statement failed");
  }
}

Result Connection::query(const std::string& sql, const Params& params) {
  for (int attempt = 0;; ++attempt) {
    const bool idle = PQtransactionStatus(m_conn) == PQTRANS_IDLE;
    try {
      return run_prepared(sql, params);
    } catch (const Error&) {
      if (attempt == 0 && reconnect_after_loss(idle)) continue;
      throw;
    }
  }
}

Result Connection::run_prepared(const std::string& sql, const Params& params) {
  auto it = m_prepared.find(sql);
  if (it == m_prepared.end()) {
    const std::string name = "gridd_" + std::to_string(m_prepared.size() + 1);
    PGresult* prep = PQprepare(m_conn, name.c_str(), sql.c_str(), 0, nullptr);
    const bool good = prep && PQresultStatus(prep) == PGRES_COMMAND_OK;
    if (!good) {
      Result guard(prep);
      fail(m_conn, prep, "cannot prepare a statement");
    }
    PQclear(prep);
    it = m_prepared.emplace(sql, name).first;
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& v : params.values()) values.push_back(v ? v->c_str() : nullptr);
  PGresult* res = PQexecPrepared(m_conn, it->second.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                                 nullptr, 0);
  const auto status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Result guard(res);
    fail(m_conn, res, "a database statement failed");
  }
  return Result(res);
}

// --- Transaction ----------------------------------------------------------

Transaction::Transaction(Connection& conn) : m_conn(conn) { m_conn.exec("BEGIN"); }
Transaction::~Transaction() {
  if (!m_done && m_conn.ok()) {
    PGresult* r = PQexec(m_conn.raw(), "ROLLBACK");
    if (r) PQclear(r);
  }
}
void Transaction::commit() {
  m_conn.exec("COMMIT");
  m_done = true;
}

// --- Pool ---------------------------------------------------------------

Pool::Pool(std::string conninfo, std::size_t max_size) : m_conninfo(std::move(conninfo)), m_max(max_size ? max_size : 1) {}

Pool::Lease::~Lease() {
  if (m_conn) m_pool->give_back(std::move(m_conn));
}

Pool::Lease Pool::lease() {
  std::unique_lock lock(m_mutex);
  m_cv.wait(lock, [&] { return !m_idle.empty() || m_leased < m_max; });
  if (!m_idle.empty()) {
    auto conn = std::move(m_idle.back());
    m_idle.pop_back();
    ++m_leased;
    return Lease(*this, std::move(conn));
  }
  ++m_leased;
  lock.unlock();
  try {
    return Lease(*this, std::make_unique<Connection>(m_conninfo));
  } catch (...) {
    lock.lock();
    --m_leased;
    m_cv.notify_one();
    throw;
  }
}

void Pool::drop_idle() {
  std::vector<std::unique_ptr<Connection>> dead;
  {
    std::lock_guard lock(m_mutex);
    dead.swap(m_idle);
  }
}

void Pool::give_back(std::unique_ptr<Connection> conn) {
  // A connection that broke, or that is left inside a transaction, is dropped.
  const bool reusable = conn->ok() && PQtransactionStatus(conn->raw()) == PQTRANS_IDLE;
  if (!reusable) conn.reset();
  std::lock_guard lock(m_mutex);
  --m_leased;
  if (conn) m_idle.push_back(std::move(conn));
  m_cv.notify_one();
}

// --- URIs and hex -------------------------------------------------------------

bool is_postgres_uri(std::string_view uri) noexcept {
  return uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0 || uri.rfind("PG:", 0) == 0;
}

std::string conninfo_of(std::string_view uri) {
  if (uri.rfind("PG:", 0) == 0) uri.remove_prefix(3);
  return std::string(uri);
}

std::string redacted(std::string_view uri) {
  std::string out(uri);
  const auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    const auto at = out.find('@', scheme + 3);
    const auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  const auto pw = out.find("password=");
  if (pw != std::string::npos) {
    auto end = out.find(' ', pw);
    if (end == std::string::npos) end = out.size();
    out.replace(pw + 9, end - pw - 9, "***");
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = k_digits[b >> 4];
    out[2 * i + 1] = k_digits[b & 15];
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) throw Error(ErrorKind::internal, "store_failure", "malformed hex from the database");
    out[i / 2] = static_cast<char>((hi << 4) | lo);
  }
  return out;
}

}  // namespace gridd::storage::pg
