#include "gridd/api/resident_api.hpp"

#include "gridd/api/features.hpp"
#include "gridd/api/params.hpp"
#include "gridd/api/scope.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/residents.hpp"

namespace gridd::api {

namespace {

Json text_or_null(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

Json place_json(const service::Place& p) {
  return Json{{"kind", p.kind},       {"id", p.id},
              {"code", p.code},       {"name", p.name},
              {"context", text_or_null(p.context)},
              {"detail", text_or_null(p.detail)},
              {"worker", p.person.empty() ? Json(nullptr) : Json{{"name", p.person}}},
              {"position", Json::array({p.lon, p.lat})},
              {"bbox", Json::array({p.bbox[0], p.bbox[1], p.bbox[2], p.bbox[3]})}};
}

/// A receipt: the progress of a report and nothing personal (no names, no
/// phones, no notes of the staff; the resident's own text and category).
Json receipt_json(const service::IncidentService& svc, const service::Receipt& r) {
  const Incident& i = r.incident;
  const Category* category = svc.categories().find(i.category);
  Json steps = Json::array();
  for (const auto& e : r.events) {
    steps.push_back(Json{{"action", e.action}, {"status", to_string(e.to)}, {"at", e.at}});
  }
  return Json{{"code", i.tracking_code},
              {"status", to_string(i.status)},
              {"open", is_open(i.status)},
              {"category", i.category},
              {"category_name", category ? Json(category->name) : Json(nullptr)},
              {"group", category ? Json(category->group) : Json(nullptr)},
              {"description", i.description},
              {"grid", i.grid_id ? Json{{"code", i.grid_code}, {"name", i.grid_name}} : Json(nullptr)},
              {"colour", to_string(svc.colour(i, svc.now()))},
              {"reported_at", i.created_at},
              {"updated_at", i.updated_at},
              {"dispatched_at", text_or_null(i.dispatched_at)},
              {"due_at", text_or_null(i.due_at)},
              {"resolved_at", text_or_null(i.resolved_at)},
              {"closed_at", text_or_null(i.closed_at)},
              {"events", std::move(steps)},
              {"photos", r.photos},
              {"satisfaction", i.satisfaction ? Json(*i.satisfaction) : Json(nullptr)},
              {"can_rate", r.can_rate}};
}

service::ResidentDesk& desk(const ApiContext& ctx) { return *ctx.residents; }

Response get_place(const ApiContext& ctx, const Request& r, const PathParams&) {
  const auto grid = param(r, "grid");
  const auto station = param(r, "station");
  if (grid.has_value() == station.has_value()) {
    throw_invalid("missing_place", "name one place: ?grid=CODE or ?station=CODE", grid ? "station" : "grid");
  }
  const auto snap = snapshot_for(ctx.catalog, r);
  return json_response(place_json(grid ? service::grid_place(*snap, *grid) : service::station_place(*snap, *station)));
}

Response get_receipt(const ApiContext& ctx, const Request&, const PathParams& p) {
  Response res = json_response(receipt_json(*ctx.incidents, desk(ctx).receipt(p.at("code"))));
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

Response add_photo(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const Attachment a = desk(ctx).add_photo(p.at("code"), r.body, param(r, "filename").value_or(""));
  return json_response(Json{{"id", a.id},
                            {"media_type", a.media_type},
                            {"size", a.size},
                            {"width", a.width},
                            {"height", a.height},
                            {"created_at", a.created_at}},
                       201);
}

Response rate(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const Json body = parse_json(r.body);
  if (!body.is_object()) throw_invalid("invalid_body", "the body must be a JSON object", "body");
  const auto s = json_int(body, "satisfaction", "");
  if (!s) throw_invalid("missing_satisfaction", "a rating needs satisfaction (1..5)", "satisfaction");
  if (*s < 1 || *s > 5) {
    throw_invalid("invalid_satisfaction", "satisfaction must be an integer from 1 (very unsatisfied) to 5", "satisfaction");
  }
  const auto receipt = desk(ctx).rate(p.at("code"), static_cast<int>(*s), json_string(body, "note", ""));
  return json_response(receipt_json(*ctx.incidents, receipt));
}

std::string public_base(const ApiContext& ctx, const Request& r) {
  std::string base = ctx.options.public_url.empty() ? base_url(r) : ctx.options.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base;
}

Response poster(const service::Place& place, const std::string& url) {
  Response res;
  res.content_type = "image/svg+xml; charset=utf-8";
  res.body = service::place_poster(place, url);
  res.headers.emplace_back("Content-Disposition", "inline; filename=\"qr-" + place.kind + "-" +
                                                      std::to_string(place.id) + ".svg\"");
  return res;
}

Response grid_poster(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const auto snap = snapshot_for(ctx.catalog, r);
  const service::GridEntry* e = snap->grid_by_id(path_id(p.at("id")));
  if (!e) throw_not_found("grid_not_found", "no grid with id " + p.at("id"), "id");
  const service::Place place = service::grid_place(*snap, e->grid.code);
  return poster(place, service::report_url(public_base(ctx, r), place));
}

Response station_poster(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const auto snap = snapshot_for(ctx.catalog, r);
  const service::StationEntry* s = snap->station_by_id(path_id(p.at("id")));
  if (!s) throw_not_found("station_not_found", "no station with id " + p.at("id"), "id");
  const service::Place place = service::station_place(*snap, s->code.empty() ? std::to_string(s->id) : s->code);
  return poster(place, service::report_url(public_base(ctx, r), place));
}

}  // namespace

bool anonymous_caller(const Request& r) { return !r.principal.authenticated && !r.principal.is_open(); }

service::IncidentService::Admission admission_for(const ApiContext& ctx, const Request& r) {
  auto scope = intake_admission(r, ctx.catalog);
  if (!ctx.residents || !anonymous_caller(r)) return scope;
  service::ResidentDesk* residents = ctx.residents;
  const TimePoint now = ctx.incidents->now();
  return [scope = std::move(scope), residents, &r, now](const Incident& routed, const std::string& where) {
    if (scope) scope(routed, where);
    residents->admit(r.client_address, routed, now);
  };
}

void add_resident_routes(Router& router, const ApiContext& ctx) {
  router.add("GET", "/grids/{id}/qr.svg", route_to(ctx, grid_poster));
  router.add("GET", "/stations/{id}/qr.svg", route_to(ctx, station_poster));
  router.add("GET", "/report/place", route_to(ctx, get_place));
  if (!ctx.incidents || !ctx.residents) return;
  router.add("GET", "/track/{code}", route_to(ctx, get_receipt));
  router.add("POST", "/track/{code}/attachments", route_to(ctx, add_photo), Permission::report_incidents);
  router.add("POST", "/track/{code}/satisfaction", route_to(ctx, rate), Permission::report_incidents);
}

}  // namespace gridd::api
