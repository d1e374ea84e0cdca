#pragma once
/// @file pg.hpp
/// RAII wrappers over libpq for the PostgreSQL/PostGIS store: a connection
/// that prepares every statement once (named by its text) and runs it with
/// bound parameters only, query results, transactions and a bounded pool
/// that drops broken connections and reconnects on demand. Failures become
/// gridd Errors: a lost or unreachable server is `unavailable` (HTTP 503),
/// a unique violation `conflict`, anything else `internal`.

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct pg_conn;
struct pg_result;

namespace gridd::storage::pg {

/// Bound parameters, all sent as text (PostgreSQL casts them to the
/// parameter types it inferred when preparing).
class Params {
 public:
  Params& null();
  Params& text(std::string value);
  /// NULL for an empty string.
  Params& opt_text(const std::string& value);
  Params& i64(std::int64_t value);
  /// NULL for 0 (an absent id).
  Params& opt_id(std::int64_t value);
  Params& dbl(double value);
  /// NULL when empty.
  Params& null_or(const std::optional<std::int64_t>& value) { return value ? i64(*value) : null(); }
  Params& boolean(bool value);
  /// Bytes for a bytea parameter (sent in PostgreSQL's hex form).
  Params& bytes(std::string_view value);

  [[nodiscard]] std::size_t size() const noexcept { return m_values.size(); }
  [[nodiscard]] const std::vector<std::optional<std::string>>& values() const noexcept { return m_values; }

 private:
  std::vector<std::optional<std::string>> m_values;
};

/// A query result; rows and columns are 0-based.
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* res) noexcept : m_res(res) {}
  ~Result();
  Result(Result&& other) noexcept : m_res(other.m_res) { other.m_res = nullptr; }
  Result& operator=(Result&& other) noexcept;
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;

  [[nodiscard]] int rows() const noexcept;
  /// Rows an INSERT/UPDATE/DELETE touched.
  [[nodiscard]] std::int64_t affected() const noexcept;
  [[nodiscard]] bool null(int row, int col) const noexcept;
  /// Empty for NULL.
  [[nodiscard]] std::string text(int row, int col) const;
  [[nodiscard]] std::string_view view(int row, int col) const noexcept;
  /// 0 for NULL.
  [[nodiscard]] std::int64_t i64(int row, int col) const;
  [[nodiscard]] double dbl(int row, int col) const;
  /// A boolean column ('t'/'f').
  [[nodiscard]] bool boolean(int row, int col) const noexcept;
  /// A bytea column (hex output) decoded to bytes.
  [[nodiscard]] std::string bytes(int row, int col) const;

 private:
  pg_result* m_res = nullptr;
};

/// One connection to the server. Not thread-safe: one user at a time (the
/// pool hands it out).
class Connection {
 public:
  /// Connect with a libpq URI or key=value string.
  /// @throws Error(unavailable, "store_unavailable") when the server cannot be reached.
  explicit Connection(const std::string& conninfo);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Run `sql` as a prepared statement (prepared on this connection at its
  /// first use) with `params` bound. @throws Error (see the file comment).
  Result query(const std::string& sql, const Params& params = {});
  /// Run a fixed statement without parameters (schema, BEGIN, COMMIT, ...).
  void exec(const std::string& sql);

  /// False once the connection is lost.
  [[nodiscard]] bool ok() const noexcept;
  [[nodiscard]] pg_conn* raw() const noexcept { return m_conn; }
  /// The server process id of this session.
  [[nodiscard]] int backend_pid() const noexcept;

 private:
  Result run_prepared(const std::string& sql, const Params& params);
  /// After a failed statement: when the session was lost while no
  /// transaction was open, reconnect; true when the statement may be retried.
  bool reconnect_after_loss(bool was_idle);

  pg_conn* m_conn = nullptr;
  std::unordered_map<std::string, std::string> m_prepared;  // sql -> statement name
};

/// BEGIN on construction; ROLLBACK unless commit() ran.
class Transaction {
 public:
  explicit Transaction(Connection& conn);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& m_conn;
  bool m_done = false;
};

/// A bounded set of connections shared by threads. A connection that broke
/// while leased is dropped when it comes back; the next lease connects anew,
/// so gridd reconnects by itself once the server is back.
class Pool {
 public:
  Pool(std::string conninfo, std::size_t max_size);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Connection> conn) : m_pool(&pool), m_conn(std::move(conn)) {}
    ~Lease();
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Connection& operator*() const noexcept { return *m_conn; }
    Connection* operator->() const noexcept { return m_conn.get(); }

   private:
    Pool* m_pool;
    std::unique_ptr<Connection> m_conn;
  };

  /// A connection (waits while all are leased).
  /// @throws Error(unavailable) when a new connection cannot be made.
  Lease lease();
  [[nodiscard]] const std::string& conninfo() const noexcept { return m_conninfo; }
  /// Close the idle connections (after an outage they are likely dead).
  void drop_idle();

 private:
  void give_back(std::unique_ptr<Connection> conn);

  std::string m_conninfo;
  std::size_t m_max;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<std::unique_ptr<Connection>> m_idle;
  std::size_t m_leased = 0;
};

/// True for a postgresql:// or postgres:// URI or a "PG:" connection string.
bool is_postgres_uri(std::string_view uri) noexcept;
/// The libpq connection string of such a URI ("PG:" removed).
std::string conninfo_of(std::string_view uri);
/// The URI with its password replaced by "***" (for logs and describe()).
std::string redacted(std::string_view uri);

/// Lower-case hex of bytes, and back (for WKB and bytea).
std::string to_hex(std::string_view bytes);
std::string from_hex(std::string_view hex);

}  // namespace gridd::storage::pg
