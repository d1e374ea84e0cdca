#include "gridd/storage/auth_store.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <chrono>

#include "gridd/core/error.hpp"
#include "gridd/core/time.hpp"
#include "sqlite.hpp"

namespace gridd::storage {

namespace {

using sqlite::Stmt;

std::string now_iso() { return format_iso8601(std::chrono::system_clock::now()); }

}  // namespace

std::string generate_token() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw Error(ErrorKind::internal, "random_failure", "RAND_bytes failed");
  static constexpr char k_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "gridd_";
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += k_alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += k_alphabet[(acc << (6 - bits)) & 63];
  return out;
}

std::string hash_token(std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(token.data(), token.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorKind::internal, "hash_failure", "SHA-256 failed");
  }
  static constexpr char k_hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += k_hex[digest[i] >> 4];
    out += k_hex[digest[i] & 15];
  }
  return out;
}

GpkgAuthStore::GpkgAuthStore(const std::string& path) {
  // NORMAL in WAL mode: a commit is in the log (OS page cache) before this
  // returns, so it survives a process crash; only power loss may drop the
  // last entries. Cheap enough to audit every write without batching.
  m_db = sqlite::open(path, sqlite::Sync::normal).release();
}

GpkgAuthStore::~GpkgAuthStore() { sqlite3_close_v2(m_db); }

NewToken make_token(Role role, const std::string& scope_code, const std::string& name, const std::string& phone) {
  NewToken t;
  t.secret = generate_token();
  t.record.name = name;
  t.record.role = role;
  t.record.scope_code = scope_code;
  t.record.phone = phone;
  t.record.hash = hash_token(t.secret);
  t.record.created_at = now_iso();
  return t;
}

NewToken GpkgAuthStore::create_token(Role role, const std::string& scope_code, const std::string& name,
                                     const std::string& phone) {
  NewToken t = make_token(role, scope_code, name, phone);
  std::lock_guard lock(m_mutex);
  Stmt(m_db, "INSERT INTO api_tokens (name, role, scope_code, token_hash, created_at, phone) VALUES (?,?,?,?,?,?)",
       {name, std::string(to_string(role)), opt_text(scope_code), t.record.hash, t.record.created_at, opt_text(phone)})
      .run();
  t.record.id = sqlite3_last_insert_rowid(m_db);
  return t;
}

std::vector<TokenRecord> GpkgAuthStore::tokens() {
  std::lock_guard lock(m_mutex);
  Stmt s(m_db,
         "SELECT id, name, role, scope_code, token_hash, created_at, revoked_at, phone FROM api_tokens ORDER BY id");
  std::vector<TokenRecord> out;
  while (s.step()) {
    TokenRecord r;
    r.id = s.i64(0);
    r.name = s.text(1);
    r.role = try_parse_role(s.text(2)).value_or(Role::viewer);
    r.scope_code = s.text(3);
    r.hash = s.text(4);
    r.created_at = s.text(5);
    r.revoked_at = s.text(6);
    r.phone = s.text(7);
    out.push_back(std::move(r));
  }
  return out;
}

bool GpkgAuthStore::revoke_token(std::int64_t id) {
  std::lock_guard lock(m_mutex);
  Stmt(m_db, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", {now_iso(), id}).run();
  return sqlite3_changes(m_db) > 0;
}

std::int64_t GpkgAuthStore::append_audit(const AuditEntry& e) {
  std::lock_guard lock(m_mutex);
  Stmt(m_db,
       "INSERT INTO audit_log (at, principal_id, principal_name, principal_role, method, path, target_kind, "
       "target_id, status, before, after, request_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
       {e.at.empty() ? now_iso() : e.at, e.principal_id, opt_text(e.principal_name), opt_text(e.principal_role),
        e.method, e.path, opt_text(e.target_kind), opt_text(e.target_id), std::int64_t{e.status}, opt_text(e.before),
        opt_text(e.after), opt_text(e.request_id)})
      .run();
  return sqlite3_last_insert_rowid(m_db);
}

std::vector<AuditEntry> GpkgAuthStore::audit(std::int64_t after, std::size_t limit) {
  std::lock_guard lock(m_mutex);
  Stmt s(m_db,
         "SELECT id, at, principal_id, principal_name, principal_role, method, path, target_kind, target_id, status, "
         "before, after, request_id FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
         {after, static_cast<std::int64_t>(limit)});
  std::vector<AuditEntry> out;
  while (s.step()) {
    AuditEntry e;
    e.id = s.i64(0);
    e.at = s.text(1);
    e.principal_id = s.i64(2);
    e.principal_name = s.text(3);
    e.principal_role = s.text(4);
    e.method = s.text(5);
    e.path = s.text(6);
    e.target_kind = s.text(7);
    e.target_id = s.text(8);
    e.status = static_cast<int>(s.i64(9));
    e.before = s.text(10);
    e.after = s.text(11);
    e.request_id = s.text(12);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace gridd::storage
