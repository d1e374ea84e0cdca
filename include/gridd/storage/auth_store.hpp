#pragma once
/// @file auth_store.hpp
/// API tokens and the audit log, kept in the store's GeoPackage (tables
/// `api_tokens` and `audit_log`, created through GDAL with the other layers).
/// Only a token's SHA-256 is stored; the secret is shown once, at creation.
/// The audit log is append-only and written on its own SQLite connection in
/// WAL mode with synchronous=NORMAL: an acknowledged entry survives kill -9
/// (the WAL is in the OS page cache), at a few microseconds per entry.
/// Thread-safe.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gridd/core/auth.hpp"

struct sqlite3;

namespace gridd::storage {

struct TokenRecord {
  std::int64_t id = 0;
  std::string name;
  Role role = Role::viewer;
  std::string scope_code;   ///< empty: the whole city
  std::string phone;        ///< the person's phone (empty: none)
  std::string hash;         ///< hex SHA-256 of the token
  std::string created_at;   ///< ISO 8601 UTC
  std::string revoked_at;   ///< empty while live
  [[nodiscard]] bool live() const noexcept { return revoked_at.empty(); }
};

/// A token just created: its record and the secret (never stored).
struct NewToken {
  TokenRecord record;
  std::string secret;
};

struct AuditEntry {
  std::int64_t id = 0;          ///< assigned on append
  std::string at;               ///< ISO 8601 UTC
  std::int64_t principal_id = 0;  ///< token id; 0: anonymous
  std::string principal_name;
  std::string principal_role;   ///< empty: anonymous
  std::string method;
  std::string path;
  std::string target_kind;      ///< grid, station, incident, ... (empty: none)
  std::string target_id;
  int status = 0;
  std::string before;           ///< JSON text, empty: none
  std::string after;            ///< JSON text, empty: none
  std::string request_id;
};

/// A fresh token: "gridd_" + 32 random bytes (OpenSSL RAND_bytes) in base64url.
std::string generate_token();
/// Lower-case hex SHA-256 of `token` (OpenSSL EVP).
std::string hash_token(std::string_view token);

/// Tokens and the audit log, whichever store keeps them. Thread-safe.
class AuthStore {
 public:
  virtual ~AuthStore() = default;

  /// Create a token for `name` (a person, with their `phone` when given, or
  /// a system). @throws Error(invalid_input) for an empty role name.
  virtual NewToken create_token(Role role, const std::string& scope_code, const std::string& name,
                                  const std::string& phone = {}) = 0;
  /// Every token (live and revoked), by id.
  virtual std::vector<TokenRecord> tokens() = 0;
  /// Revoke token `id`; false when there is no such live token.
  virtual bool revoke_token(std::int64_t id) = 0;

  /// Append an entry (durable when this returns); returns its id.
  virtual std::int64_t append_audit(const AuditEntry& entry) = 0;
  /// Entries with id > `after`, oldest first, at most `limit`.
  virtual std::vector<AuditEntry> audit(std::int64_t after, std::size_t limit) = 0;
};

/// A new token record (secret, hash, creation time) before it is stored.
NewToken make_token(Role role, const std::string& scope_code, const std::string& name, const std::string& phone = {});

/// The tables in the embedded GeoPackage.
class GpkgAuthStore final : public AuthStore {
 public:
  /// Open the tables of the GeoPackage at `path` (which must have them).
  explicit GpkgAuthStore(const std::string& path);
  ~GpkgAuthStore() override;
  GpkgAuthStore(const GpkgAuthStore&) = delete;
  GpkgAuthStore& operator=(const GpkgAuthStore&) = delete;

  NewToken create_token(Role role, const std::string& scope_code, const std::string& name,
                                  const std::string& phone = {}) override;
  std::vector<TokenRecord> tokens() override;
  bool revoke_token(std::int64_t id) override;
  std::int64_t append_audit(const AuditEntry& entry) override;
  std::vector<AuditEntry> audit(std::int64_t after, std::size_t limit) override;

 private:
  std::mutex m_mutex;
  sqlite3* m_db = nullptr;
};

}  // namespace gridd::storage
