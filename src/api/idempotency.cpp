#include "gridd/api/idempotency.hpp"

#include <algorithm>
#include <iostream>
#include <string>

#include "gridd/core/error.hpp"
#include "gridd/storage/auth_store.hpp"

namespace gridd::api {

namespace {

constexpr std::size_t k_max_key = 255;

/// What makes two requests the same: method, path, query and body.
std::string fingerprint(const Request& r) {
  std::string text = r.method + " " + r.path + "?";
  for (const auto& [k, v] : r.query) text.append(k).append("=").append(v).append("&");
  return r.method + " " + r.path + " " + storage::hash_token(text + "\n" + r.body);
}

/// The headers of an answer worth replaying.
bool kept_header(const std::string& name) {
  return name == "Location" || name == "ETag" || name == "Content-Location";
}

}  // namespace

void add_idempotency(Router& router, storage::IdempotencyStore& store,
                     std::function<std::chrono::system_clock::time_point()> clock) {
  router.set_post_wrapper([&store, clock = std::move(clock)](const Request& r, const std::function<Response()>& run) {
    const std::string* header = r.header("idempotency-key");
    if (!header) return run();
    const std::string& key = *header;
    if (key.empty() || key.size() > k_max_key ||
        !std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
      throw_invalid("invalid_idempotency_key",
                    "an Idempotency-Key is 1 to 255 visible ASCII characters (a UUID, say)", "Idempotency-Key");
    }
    const std::string scoped = std::to_string(r.principal.token_id) + ":" + key;
    const auto claim = store.claim(scoped, fingerprint(r), clock());
    switch (claim.state) {
      case storage::IdempotencyClaim::State::replay: {
        Response res;
        res.status = claim.response.status;
        res.content_type = claim.response.content_type;
        res.body = claim.response.body;
        res.headers = claim.response.headers;
        res.headers.emplace_back("Idempotent-Replayed", "true");
        return res;
      }
      case storage::IdempotencyClaim::State::in_progress: {
        Response res = error_response(409, "idempotency_in_progress",
                                      "a request with this Idempotency-Key is still running; retry shortly",
                                      "Idempotency-Key");
        res.headers.emplace_back("Retry-After", "1");
        return res;
      }
      case storage::IdempotencyClaim::State::mismatch:
        return error_response(422, "idempotency_key_reused",
                              "this Idempotency-Key was used for another request (method, path, query or body); "
                              "use a new key for a new request",
                              "Idempotency-Key");
      case storage::IdempotencyClaim::State::claimed: break;
    }
    Response res;
    try {
      res = run();
    } catch (...) {
      store.release(scoped);
      throw;
    }
    try {
      if (res.status >= 500) {
        store.release(scoped);  // nothing was done: the retry runs
      } else {
        storage::IdempotentResponse kept;
        kept.status = res.status;
        kept.content_type = res.content_type;
        kept.body = res.body;
        for (const auto& [name, value] : res.headers) {
          if (kept_header(name)) kept.headers.emplace_back(name, value);
        }
        store.complete(scoped, kept);
      }
    } catch (const std::exception& e) {
      // The request ran and its answer goes out; a retry of it would find
      // the key still claimed (409) until the retention ends.
      std::cerr << "request " << r.request_id << ": keeping its Idempotency-Key answer failed: " << e.what()
                << std::endl;
    }
    return res;
  });
}

}  // namespace gridd::api
