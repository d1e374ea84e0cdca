#pragma once
/// @file auth.hpp
/// Access control: resolves "Authorization: Bearer <token>" to a Principal
/// (an in-memory table of token hashes, reloaded from the store at most once
/// a second on an unknown token and every second anyway, so tokens created
/// or revoked by `gridd token` while the server runs take effect within about
/// a second), decides 401/403 for a permission, and tells whether a grid or
/// an incident lies inside a principal's subtree.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gridd/core/auth.hpp"
#include "gridd/core/incident.hpp"
#include "gridd/core/published.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/storage/auth_store.hpp"

namespace gridd::service {

/// What callers without a token may do once tokens are in use.
enum class AnonymousAccess {
  none,   ///< nothing (401 for every API request)
  read,   ///< read, without personal data (the default)
  report  ///< read and report incidents (citizen reports, Open311)
};
/// @throws Error(invalid_input) for anything but none, read or report.
AnonymousAccess parse_anonymous_access(std::string_view text);

struct AuthOptions {
  AnonymousAccess anonymous = AnonymousAccess::read;
  std::chrono::milliseconds reload_interval{1000};
};

class AuthService {
 public:
  AuthService(storage::AuthStore& store, const Catalog& catalog, AuthOptions options = {});

  /// True once at least one live token exists (until then everything is open
  /// as before and every request runs as Principal::open()).
  [[nodiscard]] bool enforcing();

  /// The principal of a request with this Authorization header (null: none)
  /// that needs `permission`.
  /// @throws Error(unauthorized) for a bad or revoked token, or no token where
  ///         one is required; Error(forbidden) when the token's role lacks it.
  Principal authorize(const std::string* authorization, Permission permission);

  /// Whether grid `grid_id` is the principal's scope grid or below it
  /// (always true for an unscoped principal).
  [[nodiscard]] bool grid_in_scope(const Principal& p, std::int64_t grid_id) const;
  [[nodiscard]] bool grid_code_in_scope(const Principal& p, const std::string& code) const;
  /// Whether the incident was assigned inside the principal's subtree.
  [[nodiscard]] bool incident_in_scope(const Principal& p, const Incident& incident) const;
  /// The scope grid's id, 0 when unscoped or unknown.
  [[nodiscard]] std::int64_t scope_grid_id(const Principal& p) const;

  [[nodiscard]] storage::AuthStore& store() noexcept { return m_store; }
  [[nodiscard]] const AuthOptions& options() const noexcept { return m_options; }

  /// Reload the token table now.
  void reload();

 private:
  struct Table {
    std::unordered_map<std::string, storage::TokenRecord> live;  // by hash
    std::unordered_map<std::string, bool> revoked;               // hashes of revoked tokens
  };
  void maybe_reload(bool unknown_token);
  std::shared_ptr<const Table> table() const { return m_table.load(); }

  storage::AuthStore& m_store;
  const Catalog& m_catalog;
  AuthOptions m_options;
  Published<Table> m_table;
  std::mutex m_reload_mutex;
  std::atomic<std::int64_t> m_last_reload_ns{0};
};

}  // namespace gridd::service
