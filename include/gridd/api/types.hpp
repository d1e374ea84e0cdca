#pragma once
/// @file types.hpp
/// Transport-neutral request and response: the http layer converts Beast
/// messages to and from these, so handlers never see Beast.

#include <map>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "gridd/core/auth.hpp"

namespace gridd::api {

struct Request {
  std::string method;  ///< "GET", "POST", ...
  std::string path;    ///< decoded path without the query
  std::multimap<std::string, std::string> query;  ///< decoded query parameters
  std::string body;
  std::string content_type;
  std::string request_id;
  /// Request headers the handlers use (If-Match, Last-Event-ID, Accept, ...),
  /// names in lower case.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Whom the request runs as, resolved by the router before the handler
  /// runs (Principal::open() on a server without tokens).
  Principal principal;
  /// The client's IP address (the peer, or the proxy's X-Forwarded-For
  /// when serve --behind-proxy); empty when unknown.
  std::string client_address;

  /// The value of header `name` (lower case), if sent.
  [[nodiscard]] const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// The route that answered ("GET /grids/{id}"'s pattern), set by the
  /// router; empty when none matched. For access logs and metrics.
  std::string_view route;
  /// The role of the token that made the request, when one did.
  std::string_view role;
};

/// Add `token` (a request header name) to the response's Vary header.
void add_vary(Response& response, std::string_view token);

/// Split "a=1&b=x%20y" into decoded pairs. Malformed escapes are kept verbatim.
std::multimap<std::string, std::string> parse_query(std::string_view query);
/// Percent-decode (and '+' to space when form is true).
std::string url_decode(std::string_view text, bool form);
/// Percent-encode every byte but RFC 3986's unreserved characters
/// (A-Z a-z 0-9 - . _ ~): safe in a path segment, a query name or a value.
std::string url_encode(std::string_view text);

}  // namespace gridd::api
