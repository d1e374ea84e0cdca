#include <chrono>

#include "gridd/core/error.hpp"
#include "gridd/core/time.hpp"
#include "gridd/storage/pg_store.hpp"

namespace gridd::storage {

NewToken PgAuthStore::create_token(Role role, const std::string& scope_code, const std::string& name,
                                   const std::string& phone) {
  NewToken t = make_token(role, scope_code, name, phone);
  auto c = m_pool.lease();
  const pg::Result r = c->query(
      "INSERT INTO api_tokens (name, role, scope_code, token_hash, created_at, phone) VALUES ($1, $2, $3, $4, $5, $6) "
      "RETURNING id",
      pg::Params()
          .text(name)
          .text(std::string(to_string(role)))
          .opt_text(scope_code)
          .text(t.record.hash)
          .text(t.record.created_at)
          .opt_text(phone));
  t.record.id = r.i64(0, 0);
  return t;
}

std::vector<TokenRecord> PgAuthStore::tokens() {
  auto c = m_pool.lease();
  const pg::Result r =
      c->query("SELECT id, name, role, scope_code, token_hash, created_at, revoked_at, phone FROM api_tokens ORDER BY id");
  std::vector<TokenRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    TokenRecord t;
    t.id = r.i64(i, 0);
    t.name = r.text(i, 1);
    t.role = try_parse_role(r.text(i, 2)).value_or(Role::viewer);
    t.scope_code = r.text(i, 3);
    t.hash = r.text(i, 4);
    t.created_at = r.text(i, 5);
    t.revoked_at = r.text(i, 6);
    t.phone = r.text(i, 7);
    out.push_back(std::move(t));
  }
  return out;
}

bool PgAuthStore::revoke_token(std::int64_t id) {
  auto c = m_pool.lease();
  return c->query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2::bigint AND revoked_at IS NULL",
                  pg::Params().text(format_iso8601(std::chrono::system_clock::now())).i64(id))
             .affected() > 0;
}

std::int64_t PgAuthStore::append_audit(const AuditEntry& e) {
  auto c = m_pool.lease();
  // before/after are JSON texts; kept as jsonb (queryable), NULL when empty.
  const pg::Result r = c->query(
      "INSERT INTO audit_log (at, principal_id, principal_name, principal_role, method, path, target_kind, "
      "target_id, status, before, after, request_id) VALUES ($1, $2::bigint, $3, $4, $5, $6, $7, $8, $9::integer, "
      "$10::jsonb, $11::jsonb, $12) RETURNING id",
      pg::Params()
          .text(e.at.empty() ? format_iso8601(std::chrono::system_clock::now()) : e.at)
          .i64(e.principal_id)
          .opt_text(e.principal_name)
          .opt_text(e.principal_role)
          .text(e.method)
          .text(e.path)
          .opt_text(e.target_kind)
          .opt_text(e.target_id)
          .i64(e.status)
          .opt_text(e.before)
          .opt_text(e.after)
          .opt_text(e.request_id));
  return r.i64(0, 0);
}

std::vector<AuditEntry> PgAuthStore::audit(std::int64_t after, std::size_t limit) {
  auto c = m_pool.lease();
  const pg::Result r = c->query(
      "SELECT id, at, principal_id, principal_name, principal_role, method, path, target_kind, target_id, status, "
      "before::text, after::text, request_id FROM audit_log WHERE id > $1::bigint ORDER BY id LIMIT $2::bigint",
      pg::Params().i64(after).i64(static_cast<std::int64_t>(limit)));
  std::vector<AuditEntry> out;
  for (int i = 0; i < r.rows(); ++i) {
    AuditEntry e;
    e.id = r.i64(i, 0);
    e.at = r.text(i, 1);
    e.principal_id = r.i64(i, 2);
    e.principal_name = r.text(i, 3);
    e.principal_role = r.text(i, 4);
    e.method = r.text(i, 5);
    e.path = r.text(i, 6);
    e.target_kind = r.text(i, 7);
    e.target_id = r.text(i, 8);
    e.status = static_cast<int>(r.i64(i, 9));
    e.before = r.text(i, 10);
    e.after = r.text(i, 11);
    e.request_id = r.text(i, 12);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace gridd::storage
