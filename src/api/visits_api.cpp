#include "gridd/api/visits_api.hpp"

#include <climits>

#include "gridd/api/features.hpp"
#include "gridd/api/image_response.hpp"
#include "gridd/api/params.hpp"
#include "gridd/api/scope.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/visits.hpp"

namespace gridd::api {

namespace {

Json text_or_null(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

Json visit_feature(const Visit& v, bool personal_data) {
  return Json{{"type", "Feature"},
              {"id", v.id},
              {"geometry", {{"type", "Point"}, {"coordinates", {v.lon, v.lat}}}},
              {"properties",
               {{"id", v.id},
                {"kind", v.kind},
                {"subject", text_or_null(v.subject)},
                {"note", text_or_null(v.note)},
                {"visited_at", v.visited_at},
                {"worker", {{"name", v.worker_name}, {"phone", personal_data ? text_or_null(v.worker_phone) : Json(nullptr)}}},
                {"grid", v.grid_id ? Json{{"id", v.grid_id}, {"code", v.grid_code}, {"name", v.grid_name}} : Json(nullptr)},
                {"created_at", v.created_at},
                {"photos", v.photos}}}};
}

Json photo_json(const VisitPhoto& p) {
  return Json{{"id", p.id},
              {"visit_id", p.visit_id},
              {"filename", text_or_null(p.filename)},
              {"media_type", p.media_type},
              {"size", p.size},
              {"width", p.width},
              {"height", p.height},
              {"created_at", p.created_at},
              {"url", "/visits/" + std::to_string(p.visit_id) + "/attachments/" + std::to_string(p.id)}};
}

/// A visit the caller may see: inside its scope (404 otherwise, as for incidents).
Visit visible_visit(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const std::int64_t id = path_id(p.at("id"));
  Visit v = ctx.visits->require(id);
  const auto scope = principal_scope(r, ctx.catalog);
  if (scope && (v.grid_id == 0 || v.chain[static_cast<int>(scope->first)] != scope->second)) {
    throw_not_found("visit_not_found", "no visit with id " + std::to_string(id), "id");
  }
  return v;
}

/// The filter of a listing: grid (narrowed to the token's scope), worker
/// (a name, or `me`), from/to (visited_at), bbox.
storage::VisitFilter filter_of(const ApiContext& ctx, const Request& r) {
  storage::VisitFilter f;
  std::optional<GridRef> subtree;
  if (auto g = param(r, "grid")) subtree = ctx.incidents->grid_ref(*g, "grid");
  restrict_to_scope(subtree, r, ctx.catalog);
  f.subtree = subtree;
  if (auto w = param(r, "worker")) {
    if (*w == "me") {
      const PersonFilter me = token_person(r, "worker");
      f.worker_name = me.name;
      f.worker_phone = me.phone;
    } else {
      f.worker_name = *w;
    }
  }
  if (auto p = param(r, "worker_phone")) f.worker_phone = *p;
  const int offset = ctx.visits->utc_offset_minutes();
  if (auto t = param_time(r, "from", offset)) f.from = format_iso8601(*t);
  if (auto t = param_time(r, "to", offset)) f.to = format_iso8601(*t);
  if (!f.from.empty() && !f.to.empty() && f.to < f.from) throw_invalid("invalid_time_range", "'to' lies before 'from'", "to");
  if (auto b = param_bbox(r)) f.bbox = std::array<double, 4>{b->minx, b->miny, b->maxx, b->maxy};
  return f;
}

Response record_visit(const ApiContext& ctx, const Request& r, const PathParams&) {
  const Principal& who = r.principal;
  // Anonymous callers may report incidents (--anonymous report), never visits.
  if (!who.authenticated && !who.is_open()) {
    throw Error(ErrorKind::unauthorized, "unauthorized", "visits are recorded with a worker's token", "authorization");
  }
  const Json body = parse_json(r.body);
  if (!body.is_object()) throw_invalid("invalid_body", "a visit is a JSON object", "body");
  service::VisitInput in;
  in.position = json_position(body, "", param(r, "crs").value_or(""));
  in.kind = json_string(body, "kind", "");
  in.subject = json_string(body, "subject", "");
  in.note = json_string(body, "note", "");
  in.visited_at = json_string(body, "visited_at", "");
  service::Visitor visitor;
  if (who.authenticated) {
    visitor = {who.name, who.phone, who.token_id};
  } else {
    // A server without tokens: the body names the worker.
    const Json worker = body.value("worker", Json::object());
    if (!worker.is_object()) throw_invalid("invalid_type", "worker must be an object {name, phone}", "worker");
    visitor.name = json_string(worker, "name", "worker");
    visitor.phone = json_string(worker, "phone", "worker");
  }
  const auto scope = principal_scope(r, ctx.catalog);
  const Visit v = ctx.visits->record(std::move(in), visitor, [&](const Visit& placed) {
    require_placed_in_scope(r, scope, placed.chain, placed.grid_code, "position");
  });
  Response res = json_response(visit_feature(v, true), 201, "application/geo+json");
  res.headers.emplace_back("Location", "/visits/" + std::to_string(v.id));
  return res;
}

Response list_visits(const ApiContext& ctx, const Request& r, const PathParams&) {
  const auto filter = filter_of(ctx, r);
  const auto limit = static_cast<std::size_t>(param_int(r, "limit", 1, 10000).value_or(1000));
  const std::int64_t before = param_int(r, "before", 1, INT64_MAX).value_or(0);
  const auto visits = ctx.visits->list(filter, before, limit);
  Json features = Json::array();
  for (const auto& v : visits) features.push_back(visit_feature(v, r.principal.personal_data));
  Json body{{"type", "FeatureCollection"}, {"features", std::move(features)}};
  if (visits.size() == limit) {
    body["links"] = Json::array({Json{{"rel", "next"},
                                      {"type", "application/geo+json"},
                                      {"href", url_with(r, "", "before", std::to_string(visits.back().id))}}});
  }
  return json_response(body, 200, "application/geo+json");
}

Response get_visit(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const Visit v = visible_visit(ctx, r, p);
  Json f = visit_feature(v, r.principal.personal_data);
  Json list = Json::array();
  for (const auto& photo : ctx.visits->photos_of(v.id)) list.push_back(photo_json(photo));
  f["properties"]["attachments"] = std::move(list);
  return json_response(f, 200, "application/geo+json");
}

Response add_visit_photo(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const Visit v = visible_visit(ctx, r, p);
  const Principal& who = r.principal;
  // A worker adds photos to the visits they recorded.
  if (who.worker() && v.token_id != who.token_id && !is_assignee(who, v.worker_name, v.worker_phone)) {
    throw Error(ErrorKind::forbidden, "not_your_visit", "a worker adds photos to the visits they recorded", "id");
  }
  if (!who.authenticated && !who.is_open()) {
    throw Error(ErrorKind::unauthorized, "unauthorized", "visit photos are added with a worker's token", "authorization");
  }
  const VisitPhoto photo = ctx.visits->add_photo(v.id, r.body, param(r, "filename").value_or(""));
  Response res = json_response(photo_json(photo), 201);
  res.headers.emplace_back("Location", "/visits/" + std::to_string(v.id) + "/attachments/" + std::to_string(photo.id));
  return res;
}

Response list_visit_photos(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const Visit v = visible_visit(ctx, r, p);
  Json list = Json::array();
  for (const auto& photo : ctx.visits->photos_of(v.id)) list.push_back(photo_json(photo));
  return json_response(Json{{"visit_id", v.id}, {"attachments", std::move(list)}});
}

Response get_visit_photo(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const Visit v = visible_visit(ctx, r, p);
  const std::int64_t id = path_id(p.at("photo"));
  auto photo = ctx.visits->photo(v.id, id);
  if (!photo) throw_not_found("attachment_not_found", "visit " + std::to_string(v.id) + " has no photo " + std::to_string(id), "photo");
  return image_response(r, "\"v" + std::to_string(id) + "\"", photo->media_type, std::move(photo->data));
}

Response weekly_visits(const ApiContext& ctx, const Request& r, const PathParams&) {
  Json weeks = Json::array();
  for (const auto& w : ctx.visits->weekly(filter_of(ctx, r))) {
    weeks.push_back(Json{{"worker", {{"name", w.worker_name},
                                     {"phone", r.principal.personal_data ? text_or_null(w.worker_phone) : Json(nullptr)}}},
                         {"week", w.week},
                         {"visits", w.visits}});
  }
  return json_response(Json{{"weeks", std::move(weeks)}});
}

}  // namespace

void add_visit_routes(Router& router, const ApiContext& ctx) {
  if (!ctx.visits || !ctx.incidents) return;
  router.add("POST", "/visits", route_to(ctx, record_visit), Permission::report_incidents);
  router.add("GET", "/visits/weekly", route_to(ctx, weekly_visits));
  router.add("GET", "/visits", route_to(ctx, list_visits));
  router.add("GET", "/visits/{id}", route_to(ctx, get_visit));
  router.add("POST", "/visits/{id}/attachments", route_to(ctx, add_visit_photo), Permission::report_incidents);
  router.add("GET", "/visits/{id}/attachments", route_to(ctx, list_visit_photos));
  router.add("GET", "/visits/{id}/attachments/{photo}", route_to(ctx, get_visit_photo));
}

}  // namespace gridd::api
