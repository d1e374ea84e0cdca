#pragma once
/// @file router.hpp
/// Method + path-pattern routing ("/grids/{id}"), with 404 for an unknown
/// path and 405 (and an Allow header) for a known path with another method.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "gridd/api/types.hpp"
#include "gridd/core/model.hpp"

namespace gridd::api {

using PathParams = std::map<std::string, std::string>;
using Handler = std::function<Response(const Request&, const PathParams&)>;

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler);
  /// Route and run; gridd::Error and unexpected exceptions become JSON errors.
  [[nodiscard]] Response handle(const Request& request) const;

  /// Every route as (method, pattern), in the order added.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> m_routes;
};

/// The OpenAPI 3 document of the whole HTTP API (src/api/openapi.json).
std::string_view openapi_json();

/// A JSON body (invalid UTF-8 replaced) with a status and a content type.
Response json_response(const Json& body, int status = 200, const char* content_type = "application/json");

/// The JSON error body {code, message, field} with the status of the kind.
Response error_response(int status, const std::string& code, const std::string& message,
                        const std::string& field = {});

}  // namespace gridd::api
