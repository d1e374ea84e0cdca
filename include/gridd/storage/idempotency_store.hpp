#pragma once
/// @file idempotency_store.hpp
/// Idempotency keys: a client that may send a request twice (a phone that
/// lost its network before the answer came) names the request with a key;
/// the first request with a key runs and its answer is kept, a later one
/// with the same key gets that answer and runs nothing. Kept in the store
/// (table `idempotency_keys`), so a restart or another instance on the same
/// PostgreSQL database knows them too; expired after the retention period.
/// One implementation over both backends. Thread-safe.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gridd::storage {

class SqlRunner;

/// The answer kept for a key.
struct IdempotentResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Location, ETag, ...
};

/// What claim() found.
struct IdempotencyClaim {
  enum class State {
    claimed,      ///< the key is new: run the request, then complete() or release()
    replay,       ///< the request ran: `response` is its answer
    in_progress,  ///< the request with this key is running now
    mismatch      ///< the key was used for another request (method, path or body)
  };
  State state = State::claimed;
  IdempotentResponse response;
};

class IdempotencyStore {
 public:
  /// `retention`: how long a key is kept (at least a day for the field app).
  IdempotencyStore(std::unique_ptr<SqlRunner> runner, std::chrono::seconds retention);
  ~IdempotencyStore();
  IdempotencyStore(const IdempotencyStore&) = delete;
  IdempotencyStore& operator=(const IdempotencyStore&) = delete;

  /// Claim `key` for the request with `fingerprint` at `now` (one
  /// transaction; keys older than the retention are removed first).
  IdempotencyClaim claim(const std::string& key, const std::string& fingerprint,
                         std::chrono::system_clock::time_point now);
  /// Keep the answer of the request that claimed `key`.
  void complete(const std::string& key, const IdempotentResponse& response);
  /// Forget a claim whose request failed (it may be sent again).
  void release(const std::string& key);

  [[nodiscard]] std::chrono::seconds retention() const noexcept { return m_retention; }
  void set_retention(std::chrono::seconds retention) noexcept { m_retention = retention; }

 private:
  std::unique_ptr<SqlRunner> m_runner;
  std::chrono::seconds m_retention;
};

}  // namespace gridd::storage
