#include "gridd/api/access_api.hpp"

#include <charconv>
#include <climits>
#include <vector>

#include "gridd/api/features.hpp"
#include "gridd/api/incident_api.hpp"
#include "gridd/api/params.hpp"
#include "gridd/api/scope.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/service/auth.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/incidents.hpp"

namespace gridd::api {

namespace {

using service::GridEntry;
using service::StationEntry;

/// What a write route acts on: ("grid" | "station" | "incident" | first path
/// segment, id or "").
std::pair<std::string, std::string> audit_target(const RouteCall& c) {
  const std::string& p = c.pattern;
  auto id = [&] {
    auto it = c.params.find("id");
    return it == c.params.end() ? std::string() : it->second;
  };
  if (p.rfind("/grids", 0) == 0) return {"grid", id()};
  if (p.rfind("/stations", 0) == 0) return {"station", id()};
  if (p.rfind("/incidents", 0) == 0 || p.rfind("/open311", 0) == 0) return {"incident", id()};
  const std::size_t end = p.find('/', 1);
  return {p.substr(1, end == std::string::npos ? std::string::npos : end - 1), id()};
}

/// A body as JSON text for the audit log: itself when JSON, a JSON string
/// otherwise, a marker when huge.
std::string audit_json(const std::string& body, const std::string& content_type) {
  constexpr std::size_t k_max = 4 << 20;
  if (body.empty()) return {};
  if (body.size() > k_max) return Json{{"truncated", true}, {"bytes", body.size()}}.dump();
  if (content_type.find("json") != std::string::npos || body.front() == '{' || body.front() == '[') {
    if (Json::accept(body)) return body;
  }
  if (content_type.rfind("image/", 0) == 0 || content_type.rfind("application/octet", 0) == 0) {
    return Json{{"content_type", content_type}, {"bytes", body.size()}}.dump();
  }
  return Json(body).dump(-1, ' ', false, Json::error_handler_t::replace);
}


void check_write_scope(const ApiContext& ctx, const RouteCall& c) {
  const Principal& who = c.request.principal;
  if (!ctx.auth || !who.scoped() || c.permission != Permission::edit_grids) return;
  const auto [kind, id] = audit_target(c);
  auto refuse = [&](const std::string& what) {
    throw Error(ErrorKind::forbidden, "forbidden", what + " is outside the token's scope " + who.scope_code,
                "authorization");
  };
  if (kind == "station") refuse("stations are city-wide: editing them");
  if (kind != "grid") return;
  if (!id.empty()) {
    std::int64_t gid = 0;
    std::from_chars(id.data(), id.data() + id.size(), gid);
    if (!ctx.auth->grid_in_scope(who, gid)) refuse("grid " + id);
    if (c.request.method == "PUT") {
      // Replacing a grid may move it: its new parent must lie in the scope
      // too (or stay the one it has: the scope's own root keeps its parent).
      const Json body = Json::parse(c.request.body, nullptr, false);
      if (!body.is_object()) return;  // the handler answers the malformed body
      const Json* props = body.contains("properties") && body["properties"].is_object() ? &body["properties"] : nullptr;
      const std::string parent = props && (*props).contains("parent") && (*props)["parent"].is_string()
                                     ? (*props)["parent"].get<std::string>()
                                     : std::string();
      const auto snap = ctx.catalog.snapshot();
      const GridEntry* current = snap->grid_by_id(gid);
      const bool unchanged = current && current->grid.parent_code == parent;
      if (!unchanged && (parent.empty() || !ctx.auth->grid_code_in_scope(who, parent))) {
        refuse("moving grid " + id + " under '" + parent + "'");
      }
    }
    return;
  }
  if (c.pattern == "/grids") {
    // New grids: each one's parent must lie inside the scope.
    const Json body = Json::parse(c.request.body, nullptr, false);
    if (body.is_discarded()) return;  // the handler answers the malformed body
    std::vector<const Json*> features;
    if (body.value("type", "") == "FeatureCollection" && body.contains("features") && body["features"].is_array()) {
      for (const auto& f : body["features"]) features.push_back(&f);
    } else {
      features.push_back(&body);
    }
    for (const Json* f : features) {
      const Json* props = f->contains("properties") ? &(*f)["properties"] : nullptr;
      const std::string parent = props && props->is_object() ? props->value("parent", "") : "";
      if (parent.empty() || !ctx.auth->grid_code_in_scope(who, parent)) refuse("a new grid under '" + parent + "'");
    }
    return;
  }
  if (c.pattern == "/grids/merge") {
    const Json body = Json::parse(c.request.body, nullptr, false);
    if (body.is_object() && body.contains("ids") && body["ids"].is_array()) {
      for (const auto& v : body["ids"]) {
        if (v.is_number_integer() && !ctx.auth->grid_in_scope(who, v.get<std::int64_t>())) refuse("grid " + v.dump());
      }
    }
  }
}

std::string audit_before(const ApiContext& ctx, const RouteCall& c) {
  const auto [kind, id] = audit_target(c);
  if (id.empty()) return {};
  std::int64_t oid = 0;
  std::from_chars(id.data(), id.data() + id.size(), oid);
  if (kind == "grid") {
    const auto snap = ctx.catalog.snapshot();
    const GridEntry* e = snap->grid_by_id(oid);
    return e ? grid_feature(*snap, *e, true).dump(-1, ' ', false, Json::error_handler_t::replace) : std::string();
  }
  if (kind == "station") {
    const auto snap = ctx.catalog.snapshot();
    const StationEntry* s = snap->station_by_id(oid);
    return s ? station_feature(*s).dump(-1, ' ', false, Json::error_handler_t::replace) : std::string();
  }
  if (kind == "incident" && ctx.incidents && c.pattern.rfind("/incidents/", 0) == 0) {
    const auto i = ctx.incidents->require(oid);
    return incident_feature(*ctx.incidents, i, ctx.incidents->now()).dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  return {};
}

void audit_after(const ApiContext& ctx, const RouteCall& c, const Response& res, std::string before) {
  const Request& r = c.request;
  auto [kind, id] = audit_target(c);
  storage::AuditEntry e;
  e.principal_id = r.principal.token_id;
  e.principal_name = r.principal.authenticated ? r.principal.name : "anonymous";
  e.principal_role = r.principal.authenticated ? std::string(to_string(r.principal.role)) : std::string();
  e.method = r.method;
  e.path = r.path;
  e.target_kind = kind;
  if (id.empty()) {
    for (const auto& [k, v] : res.headers) {
      if (k == "Location") id = v.substr(v.rfind('/') + 1);
    }
  }
  e.target_id = id;
  e.status = res.status;
  e.request_id = r.request_id;
  if (kind == "grid" || kind == "station" || kind == "incident") {
    e.before = std::move(before);
    if (res.status < 300) e.after = audit_json(res.body, res.content_type);
  } else {
    e.after = audit_json(r.body, r.content_type);
  }
  ctx.auth->store().append_audit(e);
}

Response list_audit(const ApiContext& ctx, const Request& r, const PathParams&) {
  if (!ctx.auth) throw_not_found("not_found", "no audit log on this server", "path");
  const std::int64_t after = param_int(r, "after", 0, INT64_MAX).value_or(0);
  const std::int64_t limit = param_int(r, "limit", 1, 10000).value_or(100);
  const auto entries = ctx.auth->store().audit(after, static_cast<std::size_t>(limit));
  // A scoped admin sees the writes on grids and incidents of its subtree
  // only (not the city's stations, tokens or other subtrees' reporters).
  const auto scope = principal_scope(r, ctx.catalog);
  const auto snap = ctx.catalog.snapshot();
  auto visible = [&](const storage::AuditEntry& e) {
    if (!scope) return true;
    std::int64_t id = 0;
    const auto [p, ec] = std::from_chars(e.target_id.data(), e.target_id.data() + e.target_id.size(), id);
    if (ec != std::errc() || p != e.target_id.data() + e.target_id.size()) return false;
    if (e.target_kind == "incident" && ctx.incidents) {
      const auto i = ctx.incidents->get(id);
      return i && incident_in(scope, *i);
    }
    if (e.target_kind == "grid") {
      const GridEntry* g = snap->grid_by_id(id);
      return g && chain_in(scope, snap->chain_of(*g));
    }
    return false;
  };
  Json list = Json::array();
  auto json_or_null = [](const std::string& s) {
    if (s.empty()) return Json(nullptr);
    Json j = Json::parse(s, nullptr, false);
    return j.is_discarded() ? Json(s) : j;
  };
  for (const auto& e : entries) {
    if (!visible(e)) continue;
    list.push_back(Json{{"id", e.id},
                        {"at", e.at},
                        {"principal", Json{{"token_id", e.principal_id == 0 ? Json(nullptr) : Json(e.principal_id)},
                                           {"name", e.principal_name.empty() ? Json(nullptr) : Json(e.principal_name)},
                                           {"role", e.principal_role.empty() ? Json(nullptr) : Json(e.principal_role)}}},
                        {"method", e.method},
                        {"path", e.path},
                        {"target", Json{{"kind", e.target_kind.empty() ? Json(nullptr) : Json(e.target_kind)},
                                        {"id", e.target_id.empty() ? Json(nullptr) : Json(e.target_id)}}},
                        {"status", e.status},
                        {"request_id", e.request_id.empty() ? Json(nullptr) : Json(e.request_id)},
                        {"before", json_or_null(e.before)},
                        {"after", json_or_null(e.after)}});
  }
  Json body{{"entries", std::move(list)}};
  body["next_after"] = entries.size() == static_cast<std::size_t>(limit) ? Json(entries.back().id) : Json(nullptr);
  return json_response(body);
}

Response whoami(const ApiContext& ctx, const Request& r, const PathParams&) {
  // The web app asks this to show what the token may do.
  const Principal& who = r.principal;
  Json may = Json::array();
  for (const Permission p : {Permission::read, Permission::report_incidents, Permission::handle_incidents,
                             Permission::edit_grids, Permission::admin}) {
    if (who.may(p)) may.push_back(to_string(p));
  }
  return json_response(Json{{"access_control", ctx.auth != nullptr && ctx.auth->enforcing()},
                            {"authenticated", who.authenticated},
                            {"name", who.authenticated ? Json(who.name) : Json(nullptr)},
                            {"role", who.authenticated ? Json(to_string(who.role)) : Json(nullptr)},
                            {"scope", who.scoped() ? Json(who.scope_code) : Json(nullptr)},
                            {"personal_data", who.personal_data},
                            {"permissions", std::move(may)}});
}

}  // namespace

void add_access_routes(Router& router, const ApiContext& ctx) {
  if (ctx.auth) {
    service::AuthService* auth = ctx.auth;
    router.set_authorizer([auth](const Request& r, Permission p) {
      // Health probes and the API description stay public even with --anonymous none.
      if (p == Permission::read && (r.path == "/healthz" || r.path == "/readyz" || r.path == "/metrics" ||
                                    r.path == "/openapi.json")) {
        return Principal::open();
      }
      return auth->authorize(r.header("authorization"), p);
    });
    router.set_audit(
        [&ctx](const RouteCall& call) {
          check_write_scope(ctx, call);
          return audit_before(ctx, call);
        },
        [&ctx](const RouteCall& call, const Response& res, std::string before) {
          audit_after(ctx, call, res, std::move(before));
        });
  }
  router.add("GET", "/audit", route_to(ctx, list_audit), Permission::admin);
  router.add("GET", "/whoami", route_to(ctx, whoami));
}

}  // namespace gridd::api
