#include "gridd/storage/auth_store.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <chrono>

#include "gridd/core/error.hpp"
#include "gridd/core/time.hpp"

namespace gridd::storage {

namespace {

[[noreturn]] void fail_db(sqlite3* db, const std::string& what) {
  const int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  const std::string msg = db ? sqlite3_errmsg(db) : "no connection";
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) {
    throw Error(ErrorKind::unavailable, "store_busy", what + ": the store is busy (" + msg + ")");
  }
  throw Error(ErrorKind::internal, "store_failure", what + ": " + msg);
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "";
    sqlite3_free(err);
    fail_db(db, std::string("'") + sql + "' failed (" + msg + ")");
  }
}

/// A prepared statement, finalised by the destructor.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : m_db(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr) != SQLITE_OK) fail_db(db, "cannot prepare a statement");
  }
  ~Stmt() { sqlite3_finalize(m_stmt); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& text(int i, const std::string& s, bool null_if_empty = false) {
    if (null_if_empty && s.empty()) {
      sqlite3_bind_null(m_stmt, i);
    } else {
      sqlite3_bind_text(m_stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    return *this;
  }
  Stmt& integer(int i, std::int64_t v) {
    sqlite3_bind_int64(m_stmt, i, v);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(m_stmt);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail_db(m_db, "a statement failed");
  }
  std::string col_text(int i) const {
    const auto* p = sqlite3_column_text(m_stmt, i);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, i)))
             : std::string();
  }
  std::int64_t col_int(int i) const { return sqlite3_column_int64(m_stmt, i); }

 private:
  sqlite3* m_db;
  sqlite3_stmt* m_stmt = nullptr;
};

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
  const int rc = sqlite3_open_v2(path.c_str(), &m_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = m_db ? sqlite3_errmsg(m_db) : "cannot open";
    sqlite3_close_v2(m_db);
    throw Error(ErrorKind::internal, "store_failure", "cannot open '" + path + "': " + msg);
  }
  sqlite3_busy_timeout(m_db, 30000);
  exec(m_db, "PRAGMA journal_mode=WAL");
  // NORMAL in WAL mode: a commit is in the log (OS page cache) before this
  // returns, so it survives a process crash; only power loss may drop the
  // last entries. Cheap enough to audit every write without batching.
  exec(m_db, "PRAGMA synchronous=NORMAL");
}

GpkgAuthStore::~GpkgAuthStore() { sqlite3_close_v2(m_db); }

NewToken make_token(Role role, const std::string& scope_code, const std::string& name) {
  NewToken t;
  t.secret = generate_token();
  t.record.name = name;
  t.record.role = role;
  t.record.scope_code = scope_code;
  t.record.hash = hash_token(t.secret);
  t.record.created_at = now_iso();
  return t;
}

NewToken GpkgAuthStore::create_token(Role role, const std::string& scope_code, const std::string& name) {
  NewToken t = make_token(role, scope_code, name);
  std::lock_guard lock(m_mutex);
  Stmt s(m_db, "INSERT INTO api_tokens (name, role, scope_code, token_hash, created_at) VALUES (?,?,?,?,?)");
  s.text(1, name).text(2, std::string(to_string(role))).text(3, scope_code, true).text(4, t.record.hash)
      .text(5, t.record.created_at);
  s.step();
  t.record.id = sqlite3_last_insert_rowid(m_db);
  return t;
}

std::vector<TokenRecord> GpkgAuthStore::tokens() {
  std::lock_guard lock(m_mutex);
  Stmt s(m_db, "SELECT id, name, role, scope_code, token_hash, created_at, revoked_at FROM api_tokens ORDER BY id");
  std::vector<TokenRecord> out;
  while (s.step()) {
    TokenRecord r;
    r.id = s.col_int(0);
    r.name = s.col_text(1);
    r.role = try_parse_role(s.col_text(2)).value_or(Role::viewer);
    r.scope_code = s.col_text(3);
    r.hash = s.col_text(4);
    r.created_at = s.col_text(5);
    r.revoked_at = s.col_text(6);
    out.push_back(std::move(r));
  }
  return out;
}

bool GpkgAuthStore::revoke_token(std::int64_t id) {
  std::lock_guard lock(m_mutex);
  Stmt s(m_db, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
  s.text(1, now_iso()).integer(2, id);
  s.step();
  return sqlite3_changes(m_db) > 0;
}

std::int64_t GpkgAuthStore::append_audit(const AuditEntry& e) {
  std::lock_guard lock(m_mutex);
  Stmt s(m_db,
         "INSERT INTO audit_log (at, principal_id, principal_name, principal_role, method, path, target_kind, "
         "target_id, status, before, after, request_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  s.text(1, e.at.empty() ? now_iso() : e.at).integer(2, e.principal_id).text(3, e.principal_name, true)
      .text(4, e.principal_role, true).text(5, e.method).text(6, e.path).text(7, e.target_kind, true)
      .text(8, e.target_id, true).integer(9, e.status).text(10, e.before, true).text(11, e.after, true)
      .text(12, e.request_id, true);
  s.step();
  return sqlite3_last_insert_rowid(m_db);
}

std::vector<AuditEntry> GpkgAuthStore::audit(std::int64_t after, std::size_t limit) {
  std::lock_guard lock(m_mutex);
  Stmt s(m_db,
         "SELECT id, at, principal_id, principal_name, principal_role, method, path, target_kind, target_id, status, "
         "before, after, request_id FROM audit_log WHERE id > ? ORDER BY id LIMIT ?");
  s.integer(1, after).integer(2, static_cast<std::int64_t>(limit));
  std::vector<AuditEntry> out;
  while (s.step()) {
    AuditEntry e;
    e.id = s.col_int(0);
    e.at = s.col_text(1);
    e.principal_id = s.col_int(2);
    e.principal_name = s.col_text(3);
    e.principal_role = s.col_text(4);
    e.method = s.col_text(5);
    e.path = s.col_text(6);
    e.target_kind = s.col_text(7);
    e.target_id = s.col_text(8);
    e.status = static_cast<int>(s.col_int(9));
    e.before = s.col_text(10);
    e.after = s.col_text(11);
    e.request_id = s.col_text(12);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace gridd::storage
