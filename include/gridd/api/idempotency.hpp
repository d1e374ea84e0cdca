#pragma once
/// @file idempotency.hpp
/// The Idempotency-Key header on every POST that creates something or takes
/// a step: a client that may send a request twice (the field app's offline
/// queue, a retry after a lost answer) names it with a key of its own; the
/// first request with the key runs, and the same key again answers that
/// first answer (with `Idempotent-Replayed: true`) and runs nothing. Keys
/// belong to the token that sent them (anonymous callers share one space)
/// and are kept in the store for its retention period (24 h). While the
/// first request runs, the same key answers 409 idempotency_in_progress
/// with Retry-After; a key sent again with another method, path, query or
/// body answers 422 idempotency_key_reused. A request that failed with a
/// 5xx keeps no answer, so its retry runs.

#include <chrono>
#include <functional>

#include "gridd/api/router.hpp"
#include "gridd/storage/idempotency_store.hpp"

namespace gridd::api {

/// Handle Idempotency-Key on the router's POST writes, over `store`.
void add_idempotency(Router& router, storage::IdempotencyStore& store,
                     std::function<std::chrono::system_clock::time_point()> clock);

}  // namespace gridd::api
