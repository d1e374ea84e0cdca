#include "gridd/api/router.hpp"

#include <cctype>
#include <chrono>
#include <iostream>
#include <set>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/core/model.hpp"
#include "gridd/core/text.hpp"

namespace gridd::api {

namespace {
std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

void add_vary(Response& res, std::string_view token) {
  for (auto& [k, v] : res.headers) {
    if (iequals(k, "vary")) {
      if (ifind(v, token) == std::string_view::npos) {
        v += ", ";
        v += token;
      }
      return;
    }
  }
  res.headers.emplace_back("Vary", std::string(token));
}

std::string url_decode(std::string_view text, bool form) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int h = hex(text[i + 1]), l = hex(text[i + 2]);
      if (h >= 0 && l >= 0) {
        out.push_back(static_cast<char>(h * 16 + l));
        i += 2;
        continue;
      }
    }
    out.push_back(form && c == '+' ? ' ' : c);
  }
  return out;
}

std::string url_encode(std::string_view text) {
  static const char* hex_digits = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex_digits[c >> 4]);
      out.push_back(hex_digits[c & 15]);
    }
  }
  return out;
}

std::multimap<std::string, std::string> parse_query(std::string_view query) {
  std::multimap<std::string, std::string> out;
  std::size_t i = 0;
  while (i <= query.size()) {
    std::size_t amp = query.find('&', i);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view pair = query.substr(i, amp - i);
    if (!pair.empty()) {
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) {
        out.emplace(url_decode(pair, true), "");
      } else {
        out.emplace(url_decode(pair.substr(0, eq), true), url_decode(pair.substr(eq + 1), true));
      }
    }
    i = amp + 1;
  }
  return out;
}

Response json_response(const Json& body, int status, const char* content_type) {
  Response r;
  r.status = status;
  r.content_type = content_type;
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

Response error_response(int status, const std::string& code, const std::string& message, const std::string& field) {
  Json body{{"code", code}, {"message", message}};
  body["field"] = field.empty() ? Json(nullptr) : Json(field);
  return json_response(body, status);
}

void Router::add(std::string method, std::string pattern, Handler handler, std::optional<Permission> permission) {
  const Permission p = permission.value_or(method == "GET" ? Permission::read : Permission::admin);
  auto segments = split_path(pattern);
  m_routes.push_back({std::move(method), std::move(segments), std::move(handler), p, std::move(pattern)});
}

namespace {
/// The one place an Error becomes an HTTP answer.
Response error_to_response(const Error& e, const Request& request) {
  if (e.kind() == ErrorKind::internal) {
    std::cerr << "request " << request.request_id << " failed: " << e.code() << ": " << e.what() << std::endl;
    return error_response(500, "internal_error", "internal error (request " + request.request_id + ")");
  }
  Response r = error_response(http_status(e.kind()), e.code(), e.what(), e.field());
  if (!e.details().empty()) {
    Json body = Json::parse(r.body);
    body["details"] = Json::parse(e.details(), nullptr, false);
    r.body = body.dump();
  }
  if (e.kind() == ErrorKind::unauthorized) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"gridd\"");
  // The store (or a source) is out of reach for now: tell clients when to retry.
  if (e.retry_after() > 0) {
    r.headers.emplace_back("Retry-After", std::to_string(e.retry_after()));
  } else if (e.kind() == ErrorKind::unavailable) {
    r.headers.emplace_back("Retry-After", "2");
  }
  return r;
}

Response run_handler(const Handler& handler, const Request& request, const PathParams& params) {
  try {
    return handler(request, params);
  } catch (const Error& e) {
    return error_to_response(e, request);
  } catch (const Json::type_error& e) {
    // A member of the request of another JSON type than the handler reads
    // (a number where an object belongs): the caller's mistake, whichever
    // handler met it.
    return error_to_response(Error(ErrorKind::invalid_input, "invalid_type",
                                   std::string("a member of the request has the wrong JSON type (") + e.what() + ")",
                                   "body"),
                             request);
  } catch (const std::exception& e) {
    std::cerr << "request " << request.request_id << " failed: " << e.what() << std::endl;
    return error_response(500, "internal_error", "internal error (request " + request.request_id + ")");
  }
}
}  // namespace

Response error_response_for(const Error& e, const Request& request) { return error_to_response(e, request); }

std::vector<std::pair<std::string, std::string>> Router::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& r : m_routes) {
    std::string pattern;
    for (const auto& s : r.segments) pattern += "/" + s;
    out.emplace_back(r.method, pattern.empty() ? "/" : pattern);
  }
  return out;
}

void Router::RouteStats::record(int status, double seconds) noexcept {
  latency.observe(seconds);
  const int cls = status >= 100 && status < 600 ? status / 100 : 0;
  by_class[static_cast<std::size_t>(cls)].fetch_add(1, std::memory_order_relaxed);
}

Response Router::handle(const Request& request) const {
  const auto t0 = std::chrono::steady_clock::now();
  const Route* matched = nullptr;
  std::string_view role;
  Response res = dispatch(request, matched, role);
  res.role = role;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (matched) {
    matched->stats->record(res.status, seconds);
    res.route = matched->pattern;
  } else {
    m_unmatched->record(res.status, seconds);
  }
  return res;
}

void Router::write_metrics(std::string& out) const {
  namespace pm = prometheus;
  pm::header(out, "gridd_http_requests_total", "counter", "HTTP requests answered, by route and status class");
  auto counts = [&](const std::string& labels, const RouteStats& s) {
    static const char* const k_classes[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (std::size_t c = 0; c < s.by_class.size(); ++c) {
      const auto n = s.by_class[c].load(std::memory_order_relaxed);
      if (n == 0 && c != 2) continue;
      pm::sample(out, "gridd_http_requests_total", labels + ",code=\"" + k_classes[c] + "\"", static_cast<double>(n));
    }
  };
  auto labels_of = [](const std::string& method, const std::string& route) {
    return "method=\"" + pm::escape(method) + "\",route=\"" + pm::escape(route) + "\"";
  };
  for (const Route& r : m_routes) counts(labels_of(r.method, r.pattern), *r.stats);
  counts(labels_of("any", "unmatched"), *m_unmatched);
  pm::header(out, "gridd_http_request_duration_seconds", "histogram",
             "Time from a parsed request to its answer (handler and authorization), by route");
  for (const Route& r : m_routes) {
    const auto snap = r.stats->latency.snapshot();
    if (snap.count == 0) continue;
    pm::histogram(out, "gridd_http_request_duration_seconds", labels_of(r.method, r.pattern), snap);
  }
  const auto unmatched = m_unmatched->latency.snapshot();
  if (unmatched.count) pm::histogram(out, "gridd_http_request_duration_seconds", labels_of("any", "unmatched"), unmatched);
}

Response Router::run_write(const Route& route, const Request& request, const PathParams& params) const {
  if (!m_audit_after) return run_handler(route.handler, request, params);
  const RouteCall call{request, route.pattern, params, route.permission};
  std::string before;
  try {
    if (m_audit_before) before = m_audit_before(call);
  } catch (const Error& e) {
    // A refusal (out of scope) ends the request here; anything else (the
    // object does not exist, ...) is for the handler to answer.
    if (e.kind() == ErrorKind::forbidden || e.kind() == ErrorKind::unauthorized) return error_to_response(e, request);
    before.clear();
  } catch (const std::exception&) {
    before.clear();
  }
  Response res = run_handler(route.handler, request, params);
  try {
    m_audit_after(call, res, std::move(before));
  } catch (const std::exception& e) {
    std::cerr << "request " << request.request_id << ": audit log write failed: " << e.what() << std::endl;
    // A refused write changed nothing: its own answer stands (the store
    // being out of reach is the likely reason for both).
    if (res.status >= 400) return res;
    // An acknowledged write must be in the audit log: fail the answer.
    Response failed =
        error_response(503, "audit_unavailable", "the write was applied but the audit log could not record it");
    failed.headers.emplace_back("Retry-After", "2");
    return failed;
  }
  return res;
}

Response Router::dispatch(const Request& request, const Route*& matched, std::string_view& role) const {
  const std::vector<std::string> segments = split_path(request.path);
  std::set<std::string> allowed;
  for (const Route& route : m_routes) {
    if (route.segments.size() != segments.size()) continue;
    PathParams params;
    bool match = true;
    for (std::size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& s = route.segments[i];
      if (s.size() > 2 && s.front() == '{' && s.back() == '}') {
        params[s.substr(1, s.size() - 2)] = segments[i];
      } else if (s != segments[i]) {
        match = false;
      }
    }
    if (!match) continue;
    if (route.method != request.method && !(request.method == "HEAD" && route.method == "GET")) {
      allowed.insert(route.method);
      continue;
    }
    matched = &route;
    const Request* req = &request;
    Request authed;
    if (m_authorize) {
      try {
        Principal principal = m_authorize(request, route.permission);
        if (principal.authenticated) role = to_string(principal.role);
        if (!principal.is_open()) {
          authed = request;
          authed.principal = std::move(principal);
          req = &authed;
        }
      } catch (const Error& e) {
        return error_to_response(e, request);
      }
    }
    // Writes (any method but GET that needs more than read) are audited;
    // POST /locate is a read.
    if (route.method == "GET" || route.permission == Permission::read) {
      return run_handler(route.handler, *req, params);
    }
    const auto run = [&] { return run_write(route, *req, params); };
    if (m_post_wrapper && route.method == "POST") {
      return run_handler([&](const Request& r, const PathParams&) { return m_post_wrapper(r, run); }, *req, params);
    }
    return run();
  }
  if (!allowed.empty()) {
    std::string allow;
    for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
    Response r = error_response(405, "method_not_allowed",
                                "method " + request.method + " is not allowed on " + request.path + " (allowed: " + allow + ")",
                                "method");
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  return error_response(404, "not_found", "no route for " + request.path, "path");
}

}  // namespace gridd::api
