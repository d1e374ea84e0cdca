// Open311 GeoReport v2 (JSON) mapped onto gridd's categories and workflow:
// services are the categories, a service request is an incident, and its
// Open311 status is "open" until the incident is closed or rejected.

#include <algorithm>
#include <cmath>
#include <iostream>

#include "gridd/api/incident_api.hpp"
#include "gridd/api/params.hpp"
#include "gridd/api/resident_api.hpp"
#include "gridd/api/scope.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/core/json.hpp"

namespace gridd::api {

using service::IncidentService;

namespace {

constexpr std::size_t k_max_requests = 1000;

/// Open311 errors are an array of {code, description}; gridd adds its own
/// error code and the field.
Response open311_error(int status, const std::string& code, const std::string& message, const std::string& field) {
  return json_response(Json::array({Json{{"code", status}, {"description", message}, {"error", code},
                                     {"field", field.empty() ? Json(nullptr) : Json(field)}}}),
                    status);
}

template <class Fn>
Handler guarded(Fn fn) {
  return [fn](const Request& r, const PathParams& p) -> Response {
    try {
      return fn(r, p);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::internal) throw;
      return open311_error(http_status(e.kind()), e.code(), e.what(), e.field());
    }
  };
}

/// The form fields of a POST: application/x-www-form-urlencoded (the
/// standard), or a JSON object.
std::multimap<std::string, std::string> form_of(const Request& r) {
  if (r.content_type.find("application/json") != std::string::npos) {
    const Json body = parse_json(r.body);
    if (!body.is_object()) throw_invalid("invalid_body", "the body must be a JSON object", "body");
    std::multimap<std::string, std::string> out;
    for (const auto& [k, v] : body.items()) {
      if (v.is_string()) {
        out.emplace(k, v.get<std::string>());
      } else if (v.is_number() || v.is_boolean()) {
        out.emplace(k, v.dump());
      }
    }
    return out;
  }
  auto out = parse_query(r.body);
  for (const auto& [k, v] : r.query) out.emplace(k, v);  // fields may also come in the query string
  return out;
}

std::string field(const std::multimap<std::string, std::string>& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? std::string() : it->second;
}

double number(const std::multimap<std::string, std::string>& f, const std::string& name) {
  const std::string v = field(f, name);
  if (v.empty()) throw_invalid("missing_position", "a request needs lat and long (WGS84)", name);
  return parse_number(v, name);
}

Json service_json(const Category& c) {
  return Json{{"service_code", c.code},
              {"service_name", c.name},
              {"description", c.name_en},
              {"metadata", false},
              {"type", "realtime"},
              {"keywords", c.name_en},
              {"group", c.group}};
}

Json request_json(const IncidentService& svc, const Incident& i, const std::string& last_note,
                  const std::vector<Attachment>& attachments) {
  const Category* c = svc.categories().find(i.category);
  const bool open = is_open(i.status);
  Json j{{"service_request_id", std::to_string(i.id)},
         {"status", open ? "open" : "closed"},
         {"status_notes", last_note.empty() ? Json(nullptr) : Json(last_note)},
         {"service_name", c ? Json(c->name) : Json(nullptr)},
         {"service_code", i.category},
         {"description", i.description},
         {"agency_responsible", i.handler.empty() ? Json(nullptr) : Json(i.handler)},
         {"service_notice", nullptr},
         {"requested_datetime", i.created_at},
         {"updated_datetime", i.updated_at},
         {"expected_datetime", i.due_at.empty() ? Json(nullptr) : Json(i.due_at)},
         {"address", i.address.empty() ? Json(nullptr) : Json(i.address)},
         {"address_id", nullptr},
         {"zipcode", nullptr},
         {"lat", i.lat},
         {"long", i.lon},
         {"media_url", attachments.empty() ? Json(nullptr) : Json("/attachments/" + std::to_string(attachments.front().id))},
         {"gridd_status", to_string(i.status)},
         {"grid_code", i.grid_code.empty() ? Json(nullptr) : Json(i.grid_code)}};
  return j;
}

std::string last_note(const IncidentService& svc, std::int64_t id) {
  const auto events = svc.history(id);
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    if (!it->note.empty()) return it->note;
  }
  return {};
}

/// "42.json" -> 42; anything else is not found.
std::int64_t request_id_of(const std::string& file) {
  const std::string suffix = ".json";
  if (file.size() <= suffix.size() || file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) {
    throw_not_found("not_found", "Open311 resources end in .json", "path");
  }
  return path_id(file.substr(0, file.size() - suffix.size()));
}

}  // namespace

void add_open311_routes(Router& router, const ApiContext& ctx) {
  if (!ctx.incidents) return;
  IncidentService& svc = *ctx.incidents;
  router.add("GET", "/open311/v2/discovery.json", guarded([](const Request&, const PathParams&) {
    return json_response(Json{{"changeset", "2026-11-22T00:00:00Z"},
                           {"contact", "the operator of this gridd server"},
                           {"key_service", nullptr},
                           {"endpoints", Json::array({Json{{"specification", "http://wiki.open311.org/GeoReport_v2"},
                                                           {"url", "/open311/v2"},
                                                           {"changeset", "2026-11-22T00:00:00Z"},
                                                           {"type", "production"},
                                                           {"formats", Json::array({"application/json"})}}})}});
  }));

  router.add("GET", "/open311/v2/services.json", guarded([&svc](const Request&, const PathParams&) {
    Json list = Json::array();
    for (const auto& c : svc.categories().all()) list.push_back(service_json(c));
    return json_response(list);
  }));

  router.add("GET", "/open311/v2/services/{file}", guarded([&svc](const Request&, const PathParams& p) {
    const std::string file = p.at("file");
    const std::string code = file.size() > 5 && file.compare(file.size() - 5, 5, ".json") == 0 ? file.substr(0, file.size() - 5) : "";
    if (code.empty() || !svc.categories().find(code)) {
      throw_not_found("service_not_found", "no service '" + file + "'", "service_code");
    }
    return json_response(Json{{"service_code", code}, {"attributes", Json::array()}});
  }));

  router.add("POST", "/open311/v2/requests.json", guarded([&svc, &ctx](const Request& r, const PathParams&) {
    const auto f = form_of(r);
    service::IntakeInput in;
    in.category = field(f, "service_code");
    if (in.category.empty()) throw_invalid("missing_service_code", "service_code is required", "service_code");
    if (!svc.categories().find(in.category)) {
      throw_invalid("unknown_category", "unknown service_code '" + in.category + "' (see services.json)", "service_code");
    }
    service::Position pos;
    pos.y = number(f, "lat");
    pos.x = number(f, "long");
    pos.crs = field(f, "crs");  // gridd extension: gcj02, bd09, EPSG:...
    in.position = pos;
    in.description = field(f, "description");
    in.address = field(f, "address_string");
    in.channel = "open311";
    std::string name = field(f, "first_name");
    const std::string last = field(f, "last_name");
    if (!last.empty()) name = name.empty() ? last : last + name;  // family name first
    in.reporter_name = name;
    in.reporter_phone = field(f, "phone");
    Json extra = Json::object();
    for (const char* k : {"email", "device_id", "account_id", "address_id", "media_url"}) {
      const std::string v = field(f, k);
      if (!v.empty()) extra[k] = v;
    }
    if (!extra.empty()) in.attributes["open311"] = extra;
    std::vector<service::IntakeInput> inputs;
    inputs.push_back(std::move(in));
    const auto created = svc.report(std::move(inputs), admission_for(ctx, r));
    const Incident& i = created.front();
    std::string notice = "routed to " + (i.grid_name.empty() ? std::string("no grid") : i.grid_name);
    if (!i.covered) notice += " (outside every grid; nearest grid assigned)";
    return json_response(Json::array({Json{{"service_request_id", std::to_string(i.id)},
                                        {"service_notice", notice},
                                        {"account_id", nullptr}}}),
                      201);
  }), Permission::report_incidents);

  router.add("GET", "/open311/v2/requests.json", guarded([&svc](const Request& r, const PathParams&) {
    Json out = Json::array();
    const auto scope = principal_scope(r, svc.catalog());
    const auto ids = param(r, "service_request_id");
    if (ids) {
      for (const auto& one : split(*ids, ',')) {
        if (one.empty()) continue;
        if (auto i = svc.get(path_id(one)); i && incident_in(scope, *i)) {
          out.push_back(request_json(svc, *i, last_note(svc, i->id), svc.attachments_of(i->id)));
        }
      }
      return json_response(out);
    }
    storage::IncidentQuery q;
    q.limit = k_max_requests;
    q.sort = storage::IncidentSort::newest;
    q.filter.subtree = scope;
    if (auto c = param(r, "service_code")) {
      if (!svc.categories().find(*c)) throw_invalid("unknown_category", "unknown service_code '" + *c + "'", "service_code");
      q.filter.categories.push_back(*c);
    }
    if (auto s = param(r, "status")) {
      if (*s == "open") {
        for (auto st : all_incident_statuses()) {
          if (is_open(st)) q.filter.statuses.push_back(st);
        }
      } else if (*s == "closed") {
        q.filter.statuses = {IncidentStatus::closed, IncidentStatus::rejected};
      } else {
        throw_invalid("invalid_status", "status must be open or closed", "status");
      }
    }
    const TimePoint now = svc.now();
    const int offset = svc.options().utc_offset_minutes;
    // The standard's default window is the last 90 days.
    TimePoint from = now - std::chrono::hours(24 * 90);
    if (auto s = param(r, "start_date")) from = parse_time(*s, "start_date", offset);
    q.filter.created_from = format_iso8601(from);
    if (auto e = param(r, "end_date")) q.filter.created_to = format_iso8601(parse_time(*e, "end_date", offset));
    for (const auto& i : svc.list(q, now).items) out.push_back(request_json(svc, i, {}, {}));
    return json_response(out);
  }));

  router.add("GET", "/open311/v2/requests/{file}", guarded([&svc](const Request& r, const PathParams& p) {
    const std::int64_t id = request_id_of(p.at("file"));
    auto i = svc.get(id);
    if (i && !incident_in(principal_scope(r, svc.catalog()), *i)) i.reset();
    if (!i) throw_not_found("request_not_found", "no service request " + std::to_string(id), "service_request_id");
    return json_response(Json::array({request_json(svc, *i, last_note(svc, id), svc.attachments_of(id))}));
  }));
}

}  // namespace gridd::api
