#include "gridd/service/auth.hpp"

#include <algorithm>
#include <cctype>

#include "gridd/core/error.hpp"

namespace gridd::service {

namespace {
std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void unauthorized(const std::string& message) {
  throw Error(ErrorKind::unauthorized, "unauthorized", message, "authorization");
}
}  // namespace

AnonymousAccess parse_anonymous_access(std::string_view text) {
  if (text == "none") return AnonymousAccess::none;
  if (text == "read") return AnonymousAccess::read;
  if (text == "report") return AnonymousAccess::report;
  throw_invalid("invalid_anonymous_access", "anonymous access is none, read or report", "anonymous");
}

AuthService::AuthService(storage::AuthStore& store, const Catalog& catalog, AuthOptions options)
    : m_store(store), m_catalog(catalog), m_options(options) {
  reload();
}

void AuthService::reload() {
  auto t = std::make_shared<Table>();
  for (auto& r : m_store.tokens()) {
    if (r.live()) {
      std::string h = r.hash;
      t->live.emplace(std::move(h), std::move(r));
    } else {
      t->revoked.emplace(r.hash, true);
    }
  }
  m_table.store(std::shared_ptr<const Table>(std::move(t)));
  m_last_reload_ns.store(steady_ns(), std::memory_order_relaxed);
}

void AuthService::maybe_reload(bool unknown_token) {
  (void)unknown_token;  // an unknown token and the periodic check share the once-a-second limit
  const std::int64_t now = steady_ns();
  const std::int64_t interval =
      std::chrono::duration_cast<std::chrono::nanoseconds>(m_options.reload_interval).count();
  if (now - m_last_reload_ns.load(std::memory_order_relaxed) < interval) return;
  std::unique_lock lock(m_reload_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return;  // another thread is reloading
  if (steady_ns() - m_last_reload_ns.load(std::memory_order_relaxed) < interval) return;
  try {
    reload();
  } catch (const Error&) {
    m_last_reload_ns.store(now, std::memory_order_relaxed);  // keep the old table; retry later
  }
}

bool AuthService::enforcing() {
  maybe_reload(false);
  return !table()->live.empty();
}

Principal AuthService::authorize(const std::string* authorization, Permission permission) {
  maybe_reload(false);
  auto t = table();
  if (authorization && !authorization->empty()) {
    std::string_view v(*authorization);
    constexpr std::string_view k_bearer = "Bearer ";
    if (v.size() <= k_bearer.size() ||
        !std::equal(k_bearer.begin(), k_bearer.end(), v.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) ==
                                                std::tolower(static_cast<unsigned char>(b)); })) {
      unauthorized("the Authorization header must be 'Bearer <token>'");
    }
    v.remove_prefix(k_bearer.size());
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    const std::string hash = storage::hash_token(v);
    auto it = t->live.find(hash);
    if (it == t->live.end() && !t->revoked.count(hash)) {
      maybe_reload(true);  // created by the CLI a moment ago?
      t = table();
      it = t->live.find(hash);
    }
    if (it == t->live.end()) unauthorized("the token is unknown or revoked");
    const storage::TokenRecord& r = it->second;
    Principal p;
    p.authenticated = true;
    p.token_id = r.id;
    p.name = r.name.empty() ? "token " + std::to_string(r.id) : r.name;
    p.role = r.role;
    p.scope_code = r.scope_code;
    p.phone = r.phone;
    p.personal_data = true;
    if (!p.may(permission)) {
      throw Error(ErrorKind::forbidden, "forbidden",
                  "a " + std::string(to_string(r.role)) + " token may not " +
                      (permission == Permission::read ? std::string("read")
                                                      : "do this (needs " + std::string(to_string(permission)) + ")"),
                  "authorization");
    }
    return p;
  }
  if (t->live.empty()) return Principal::open();
  Principal p;
  p.authenticated = false;
  p.role = Role::viewer;
  p.name = "anonymous";
  p.personal_data = false;
  if (m_options.anonymous == AnonymousAccess::report) p.anonymous_extra = Permission::report_incidents;
  if (m_options.anonymous == AnonymousAccess::none) unauthorized("a bearer token is required");
  if (!p.may(permission)) unauthorized("a bearer token is required for this request");
  return p;
}

std::int64_t AuthService::scope_grid_id(const Principal& p) const {
  if (!p.scoped()) return 0;
  const auto snap = m_catalog.snapshot();
  const GridEntry* e = snap->grid_by_code(p.scope_code);
  return e ? e->grid.id : 0;
}

bool AuthService::grid_code_in_scope(const Principal& p, const std::string& code) const {
  if (!p.scoped()) return true;
  const auto snap = m_catalog.snapshot();
  std::string c = code;
  for (int depth = 0; depth < 16 && !c.empty(); ++depth) {
    if (c == p.scope_code) return true;
    const GridEntry* e = snap->grid_by_code(c);
    if (!e) return false;
    c = e->grid.parent_code;
  }
  return false;
}

bool AuthService::grid_in_scope(const Principal& p, std::int64_t grid_id) const {
  if (!p.scoped()) return true;
  const auto snap = m_catalog.snapshot();
  const GridEntry* e = snap->grid_by_id(grid_id);
  return e && grid_code_in_scope(p, e->grid.code);
}

bool AuthService::incident_in_scope(const Principal& p, const Incident& incident) const {
  if (!p.scoped()) return true;
  const auto snap = m_catalog.snapshot();
  const GridEntry* scope = snap->grid_by_code(p.scope_code);
  if (!scope) return false;
  const auto level = static_cast<std::size_t>(scope->grid.level);
  return level < incident.chain.size() && incident.chain[level] == scope->grid.id;
}

}  // namespace gridd::service
