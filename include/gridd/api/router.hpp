#pragma once
/// @file router.hpp
/// Method + path-pattern routing ("/grids/{id}"), with 404 for an unknown
/// path and 405 (and an Allow header) for a known path with another method.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridd/api/types.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/metrics.hpp"
#include "gridd/core/model.hpp"

namespace gridd::api {

using PathParams = std::map<std::string, std::string>;
using Handler = std::function<Response(const Request&, const PathParams&)>;

/// Resolves a request's principal for a route needing `permission`.
/// @throws Error(unauthorized | forbidden)
using Authorizer = std::function<Principal(const Request&, Permission)>;

/// What the router tells the audit hook about a write that reached its handler.
struct RouteCall {
  const Request& request;         ///< with the resolved principal
  const std::string& pattern;     ///< "/grids/{id}"
  const PathParams& params;
  Permission permission;
};
/// Called before the handler of a write; returns an opaque state (the
/// object's JSON before the write) handed to the after hook.
using AuditBefore = std::function<std::string(const RouteCall&)>;
/// Called after the handler of a write, whatever the status.
using AuditAfter = std::function<void(const RouteCall&, const Response&, std::string before)>;
/// Runs a POST write (`run`: its scope check, handler and audit) for the
/// request, or answers without running it (Idempotency-Key replays).
using WriteWrapper = std::function<Response(const Request&, const std::function<Response()>& run)>;

class Router {
 public:
  /// `permission`: what the route needs; by default read for GET and admin
  /// for any other method (fail closed: a write route must say what it needs).
  void add(std::string method, std::string pattern, Handler handler,
           std::optional<Permission> permission = std::nullopt);
  /// Resolve principals and check permissions before every handler.
  void set_authorizer(Authorizer authorizer) { m_authorize = std::move(authorizer); }
  /// Record every call of a write route (not GET, needing more than read).
  void set_audit(AuditBefore before, AuditAfter after) {
    m_audit_before = std::move(before);
    m_audit_after = std::move(after);
  }
  /// Wrap every POST that needs more than read (creations and steps).
  void set_post_wrapper(WriteWrapper wrapper) { m_post_wrapper = std::move(wrapper); }
  /// Route and run; gridd::Error and unexpected exceptions become JSON errors.
  /// Counts the request and its latency under its route (the answer's
  /// `route` names it).
  [[nodiscard]] Response handle(const Request& request) const;

  /// Requests and latency histograms per route, in Prometheus text format.
  void write_metrics(std::string& out) const;

  /// Every route as (method, pattern), in the order added.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct RouteStats {
    Histogram latency;
    std::array<std::atomic<std::uint64_t>, 6> by_class{};  ///< by status / 100 (1xx..5xx; 0: other)
    void record(int status, double seconds) noexcept;
  };
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
    Permission permission = Permission::read;
    std::string pattern;
    std::unique_ptr<RouteStats> stats = std::make_unique<RouteStats>();
  };
  Response dispatch(const Request& request, const Route*& matched, std::string_view& role) const;
  /// A write route's scope check, handler and audit entry.
  Response run_write(const Route& route, const Request& request, const PathParams& params) const;

  std::vector<Route> m_routes;
  std::unique_ptr<RouteStats> m_unmatched = std::make_unique<RouteStats>();  ///< 404 and 405
  Authorizer m_authorize;
  AuditBefore m_audit_before;
  AuditAfter m_audit_after;
  WriteWrapper m_post_wrapper;
};

/// The OpenAPI 3 document of the whole HTTP API (src/api/openapi.json).
std::string_view openapi_json();

/// A JSON body (invalid UTF-8 replaced) with a status and a content type.
Response json_response(const Json& body, int status = 200, const char* content_type = "application/json");

/// The JSON error body {code, message, field} with the status of the kind.
Response error_response(int status, const std::string& code, const std::string& message,
                        const std::string& field = {});

/// The answer to a gridd::Error (the single mapping; 401 carries
/// WWW-Authenticate: Bearer).
Response error_response_for(const Error& error, const Request& request);

}  // namespace gridd::api
