#include "gridd/storage/idempotency_store.hpp"

#include "gridd/core/json.hpp"
#include "gridd/core/time.hpp"
#include "sql_runner.hpp"

namespace gridd::storage {

using rows::SqlType;

IdempotencyStore::IdempotencyStore(std::unique_ptr<SqlRunner> runner, std::chrono::seconds retention)
    : m_runner(std::move(runner)), m_retention(retention) {}

IdempotencyStore::~IdempotencyStore() = default;

IdempotencyClaim IdempotencyStore::claim(const std::string& key, const std::string& fingerprint,
                                         std::chrono::system_clock::time_point now) {
  const rows::Dialect d = m_runner->dialect();
  const std::string created = format_iso8601(now);
  const std::string cutoff = format_iso8601(now - m_retention);
  IdempotencyClaim out;
  m_runner->write([&](SqlTx& tx) {
    SqlBuilder expire(d);
    tx.run(expire.done("DELETE FROM idempotency_keys WHERE created_at < " + expire.text(cutoff)));
    SqlBuilder insert(d);
    const std::string k = insert.text(key), f = insert.text(fingerprint), c = insert.text(created);
    if (tx.run(insert.done("INSERT INTO idempotency_keys (key, fingerprint, created_at) VALUES (" + k + ", " + f +
                           ", " + c + ") ON CONFLICT (key) DO NOTHING")) == 1) {
      out.state = IdempotencyClaim::State::claimed;
      return;
    }
    SqlBuilder select(d);
    const std::string sk = select.text(key);
    tx.read(select.done("SELECT fingerprint, status, content_type, body, headers FROM idempotency_keys WHERE key = " +
                        sk),
            [&](const SqlRow& r) {
              if (r.text(0) != fingerprint) {
                out.state = IdempotencyClaim::State::mismatch;
              } else if (r.null(1)) {
                out.state = IdempotencyClaim::State::in_progress;
              } else {
                out.state = IdempotencyClaim::State::replay;
                out.response.status = static_cast<int>(r.i64(1));
                out.response.content_type = r.text(2);
                out.response.body = r.blob(3);
                const Json headers = parse_json_or(r.text(4), Json::array());
                for (const auto& h : headers) {
                  if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
                    out.response.headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
                  }
                }
              }
            });
  });
  return out;
}

void IdempotencyStore::complete(const std::string& key, const IdempotentResponse& response) {
  Json headers = Json::array();
  for (const auto& [name, value] : response.headers) headers.push_back(Json::array({name, value}));
  m_runner->write([&](SqlTx& tx) {
    SqlBuilder b(m_runner->dialect());
    const std::string status = b.param(std::int64_t{response.status}, SqlType::integer);
    const std::string type = b.text(response.content_type);
    const std::string body = b.param(Blob{response.body}, SqlType::bytes);
    const std::string h = b.text(headers.dump());
    const std::string k = b.text(key);
    tx.run(b.done("UPDATE idempotency_keys SET status = " + status + ", content_type = " + type + ", body = " + body +
                  ", headers = " + h + " WHERE key = " + k));
  });
}

void IdempotencyStore::release(const std::string& key) {
  m_runner->write([&](SqlTx& tx) {
    SqlBuilder b(m_runner->dialect());
    const std::string k = b.text(key);
    tx.run(b.done("DELETE FROM idempotency_keys WHERE key = " + k + " AND status IS NULL"));
  });
}

}  // namespace gridd::storage
