#include "gridd/api/incident_api.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "gridd/api/features.hpp"
#include "gridd/api/image_response.hpp"
#include "gridd/api/incident_query.hpp"
#include "gridd/api/params.hpp"
#include "gridd/api/resident_api.hpp"
#include "gridd/api/scope.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/core/json.hpp"

namespace gridd::api {

using service::IncidentService;

namespace {

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

Json text_or_null(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

Json event_json(const IncidentEvent& e) {
  Json att = Json::array();
  for (auto id : e.attachments) att.push_back(Json{{"id", id}, {"url", "/attachments/" + std::to_string(id)}});
  return Json{{"id", e.id},
              {"incident_id", e.incident_id},
              {"version", e.version},
              {"action", e.action},
              {"from", e.from ? Json(to_string(*e.from)) : Json(nullptr)},
              {"to", to_string(e.to)},
              {"actor", text_or_null(e.actor)},
              {"note", text_or_null(e.note)},
              {"at", e.at},
              {"grid_id", e.grid_id == 0 ? Json(nullptr) : Json(e.grid_id)},
              {"data", e.data},
              {"attachments", std::move(att)}};
}

Json attachment_json(const Attachment& a) {
  return Json{{"id", a.id},
              {"incident_id", a.incident_id},
              {"filename", text_or_null(a.filename)},
              {"media_type", a.media_type},
              {"size", a.size},
              {"width", a.width},
              {"height", a.height},
              {"created_at", a.created_at},
              {"url", "/attachments/" + std::to_string(a.id)}};
}

std::string etag(const Incident& i) { return "\"" + std::to_string(i.id) + "-" + std::to_string(i.version) + "\""; }

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

service::IntakeInput intake_input(const Json& item, const std::string& where, const std::string& crs) {
  if (!item.is_object()) throw_invalid("invalid_incident", "an incident must be a JSON object", where.empty() ? "body" : where);
  service::IntakeInput in;
  in.where = where;
  const Json* props = &item;
  std::string pw = where;
  if (json_string(item, "type", where) == "Feature") {
    auto it = item.find("properties");
    if (it != item.end() && !it->is_null()) {
      if (!it->is_object()) throw_invalid("invalid_geojson", "properties must be an object", join_field(where, "properties"));
      props = &*it;
      pw = join_field(where, "properties");
    }
  }
  in.category = json_string(*props, "category", pw);
  in.description = json_string(*props, "description", pw);
  in.address = json_string(*props, "address", pw);
  in.channel = json_string(*props, "channel", pw);
  in.priority = json_string(*props, "priority", pw);
  in.actor = json_string(*props, "actor", pw);
  if (auto r = props->find("reporter"); r != props->end() && !r->is_null()) {
    if (!r->is_object()) throw_invalid("invalid_reporter", "reporter must be an object {name, phone}", join_field(pw, "reporter"));
    in.reporter_name = json_string(*r, "name", join_field(pw, "reporter"));
    in.reporter_phone = json_string(*r, "phone", join_field(pw, "reporter"));
  }
  if (auto a = props->find("attributes"); a != props->end() && !a->is_null()) {
    if (!a->is_object()) throw_invalid("invalid_attributes", "attributes must be an object", join_field(pw, "attributes"));
    in.attributes = *a;
  }
  in.position = json_position(item, where, crs);
  if (!in.position && props != &item) in.position = json_position(*props, pw, crs);
  // Name the field a client would fix.
  if (!in.position) {
    throw_invalid("missing_position", "an incident needs a position (lon and lat, or x and y with crs)",
                  join_field(where, "position"));
  }
  return in;
}

std::vector<service::IntakeInput> intake_inputs(const Json& body, const std::string& crs, bool& batch) {
  std::vector<service::IntakeInput> out;
  const Json* items = nullptr;
  std::string prefix;
  batch = false;
  if (body.is_array()) {
    items = &body;
  } else if (body.is_object() && json_string(body, "type", "") == "FeatureCollection") {
    auto it = body.find("features");
    if (it == body.end() || !it->is_array()) throw_invalid("invalid_geojson", "a FeatureCollection needs features", "features");
    items = &*it;
    prefix = "features/";
  } else if (body.is_object() && body.contains("items")) {
    const Json& it = body["items"];
    if (!it.is_array()) throw_invalid("invalid_batch", "items must be an array", "items");
    items = &it;
    prefix = "items/";
  }
  if (items) {
    batch = true;
    if (prefix.empty()) prefix = "";
    std::size_t k = 0;
    for (const auto& item : *items) {
      out.push_back(intake_input(item, prefix.empty() ? std::to_string(k) : prefix + std::to_string(k), crs));
      ++k;
    }
    return out;
  }
  out.push_back(intake_input(body, "", crs));
  return out;
}

std::vector<std::int64_t> id_list(const Json& body, const char* key) {
  std::vector<std::int64_t> out;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return out;
  if (!it->is_array()) throw_invalid("invalid_type", std::string(key) + " must be an array of ids", key);
  std::size_t k = 0;
  for (const auto& v : *it) {
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0) {
      throw_invalid("invalid_id", std::string(key) + " must hold positive integer ids", std::string(key) + "/" + std::to_string(k));
    }
    out.push_back(v.get<std::int64_t>());
    ++k;
  }
  return out;
}

service::TransitionInput transition_input(const Request& r, const std::string& action_override) {
  Json body = r.body.empty() ? Json::object() : parse_json(r.body);
  if (!body.is_object()) throw_invalid("invalid_body", "the body must be a JSON object", "body");
  service::TransitionInput in;
  const std::string action = action_override.empty() ? json_string(body, "action", "") : action_override;
  if (action.empty()) throw_invalid("missing_action", "the body needs an action (register, dispatch, ...)", "action");
  in.action = parse_incident_action(action, "action");
  in.actor = json_string(body, "actor", "");
  in.note = json_string(body, "note", "");
  in.reason = json_string(body, "reason", "");
  if (auto s = json_string(body, "expected_status", ""); !s.empty()) {
    in.expected_status = parse_incident_status(s, "expected_status");
  }
  in.expected_version = json_int(body, "version", "");
  if (const std::string* m = r.header("if-match"); m && *m != "*") {
    // ETag "<id>-<version>" (quotes optional, weak prefix tolerated).
    std::string v = *m;
    if (v.rfind("W/", 0) == 0) v = v.substr(2);
    v.erase(std::remove(v.begin(), v.end(), '"'), v.end());
    const auto dash = v.find('-');
    std::int64_t version = 0;
    const char* b = v.data() + (dash == std::string::npos ? 0 : dash + 1);
    auto [p, ec] = std::from_chars(b, v.data() + v.size(), version);
    if (ec != std::errc() || p != v.data() + v.size() || version <= 0) {
      throw_invalid("invalid_if_match", "If-Match must be the incident's ETag", "If-Match");
    }
    in.expected_version = version;
  }
  auto g = body.find("grid");
  if (g != body.end() && !g->is_null()) {
    if (g->is_number_integer()) {
      in.grid = std::to_string(g->get<std::int64_t>());
    } else if (g->is_string()) {
      in.grid = g->get<std::string>();
    } else {
      throw_invalid("invalid_type", "grid must be a grid id or code", "grid");
    }
  }
  if (auto s = json_int(body, "satisfaction", "")) in.satisfaction = static_cast<int>(std::clamp<std::int64_t>(*s, -1, 99));
  in.attachments = id_list(body, "attachments");
  return in;
}

// ---------------------------------------------------------------------------
// Query parameters of listings and statistics
// ---------------------------------------------------------------------------

// Scope (see scope.hpp): listings, statistics and the feed are narrowed to
// the token's subtree; one incident outside it answers 404, for reads and
// actions alike.

storage::IncidentSort sort_of(const Request& r) {
  const std::string s = param(r, "sort").value_or("newest");
  if (s == "newest" || s == "-created") return storage::IncidentSort::newest;
  if (s == "oldest" || s == "created") return storage::IncidentSort::oldest;
  if (s == "due") return storage::IncidentSort::due;
  if (s == "urgency" || s == "colour" || s == "color") return storage::IncidentSort::urgency;
  throw_invalid("invalid_sort", "sort must be newest, oldest, due or urgency", "sort");
}

/// Cursor text: "<id>" for newest/oldest, "<due>,<id>" for due,
/// "<rank>,<due>,<id>" for urgency.
std::string cursor_text(const storage::IncidentCursor& c, storage::IncidentSort sort) {
  switch (sort) {
    case storage::IncidentSort::due: return c.due + "," + std::to_string(c.id);
    case storage::IncidentSort::urgency: return std::to_string(c.rank) + "," + c.due + "," + std::to_string(c.id);
    default: return std::to_string(c.id);
  }
}

storage::IncidentCursor parse_cursor(const std::string& text, storage::IncidentSort sort) {
  auto bad = [] { throw_invalid("invalid_cursor", "cursor is not one this listing returned (keep sort unchanged)", "cursor"); };
  const std::vector<std::string> parts = split(text, ',');
  const std::size_t want = sort == storage::IncidentSort::urgency ? 3 : sort == storage::IncidentSort::due ? 2 : 1;
  if (parts.size() != want) bad();
  storage::IncidentCursor c;
  auto to_int = [&](const std::string& s, std::int64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || out < 0) bad();
  };
  to_int(parts.back(), c.id);
  if (want >= 2) {
    c.due = parts[want - 2];
    if (c.due != "~" && !try_parse_time(c.due, 0)) bad();
  }
  if (want == 3) {
    std::int64_t rank = 0;
    to_int(parts[0], rank);
    if (rank > 4) bad();
    c.rank = static_cast<int>(rank);
  }
  return c;
}

Json stats_row_json(const service::StatsEntry& e) {
  const auto& s = e.row;
  Json j{{"key", s.key},
         {"label", e.label},
         {"received", s.received},
         {"open", s.open},
         {"closed", s.closed},
         {"rejected", s.rejected},
         {"overdue", s.overdue},
         {"resolved_on_time", s.resolved_on_time},
         {"resolved_with_deadline", s.resolved_with_deadline},
         {"on_time_rate", s.resolved_with_deadline
                              ? Json(std::round(1e4 * static_cast<double>(s.resolved_on_time) /
                                                static_cast<double>(s.resolved_with_deadline)) / 1e4)
                              : Json(nullptr)},
         {"avg_hours_to_close", s.avg_hours_to_close ? Json(std::round(*s.avg_hours_to_close * 100) / 100) : Json(nullptr)},
         {"avg_satisfaction", s.avg_satisfaction ? Json(std::round(*s.avg_satisfaction * 100) / 100) : Json(nullptr)},
         {"satisfaction_count", s.satisfaction_count}};
  return j;
}

}  // namespace

Json incident_feature(const IncidentService& svc, const Incident& i, TimePoint now, bool personal_data) {
  const Category* category = svc.categories().find(i.category);
  Json chain = Json::array();
  for (std::size_t level = 0; level < i.chain.size(); ++level) {
    if (i.chain[level] != 0) {
      chain.push_back(Json{{"level", to_string(static_cast<Level>(level))}, {"id", i.chain[level]}});
    }
  }
  Json actions = Json::array();
  for (auto a : allowed_actions(i.status)) actions.push_back(to_string(a));
  Json reporter = (!personal_data || (i.reporter_name.empty() && i.reporter_phone.empty()))
                      ? Json(nullptr)
                      : Json{{"name", text_or_null(i.reporter_name)}, {"phone", text_or_null(i.reporter_phone)}};
  Json assignment{{"grid", i.grid_id == 0 ? Json(nullptr)
                                          : Json{{"id", i.grid_id},
                                                 {"code", i.grid_code},
                                                 {"name", i.grid_name},
                                                 {"version", i.grid_version == 0 ? Json(nullptr)
                                                                                 : Json(i.grid_version)}}},
                  {"chain", std::move(chain)},
                  {"covered", i.covered},
                  {"distance_m", i.covered ? Json(nullptr) : Json(i.distance_m)},
                  {"assignee", i.assignee_name.empty() && i.assignee_phone.empty()
                                   ? Json(nullptr)
                                   : Json{{"name", text_or_null(i.assignee_name)},
                                          {"phone", personal_data ? text_or_null(i.assignee_phone) : Json(nullptr)}}},
                  {"handler", text_or_null(i.handler)},
                  {"escalation_level", i.escalation_level}};
  Json props{{"id", i.id},
             {"category", i.category},
             {"category_name", category ? Json(category->name) : Json(nullptr)},
             {"group", category ? Json(category->group) : Json(nullptr)},
             {"description", i.description},
             {"address", text_or_null(i.address)},
             {"channel", i.channel},
             {"priority", to_string(i.priority)},
             {"status", to_string(i.status)},
             {"colour", to_string(svc.colour(i, now))},
             {"open", is_open(i.status)},
             {"allowed_actions", std::move(actions)},
             {"version", i.version},
             {"reporter", std::move(reporter)},
             {"reported_position", i.reported_position},
             {"assignment", std::move(assignment)},
             {"flagged", !i.covered},
             {"created_at", i.created_at},
             {"updated_at", i.updated_at},
             {"dispatched_at", text_or_null(i.dispatched_at)},
             {"due_at", text_or_null(i.due_at)},
             {"resolved_at", text_or_null(i.resolved_at)},
             {"closed_at", text_or_null(i.closed_at)},
             {"satisfaction", i.satisfaction ? Json(*i.satisfaction) : Json(nullptr)},
             {"tracking_code", personal_data ? text_or_null(i.tracking_code) : Json(nullptr)},
             {"attributes", i.attributes}};
  return Json{{"type", "Feature"},
              {"id", i.id},
              {"geometry", Json{{"type", "Point"}, {"coordinates", Json::array({i.lon, i.lat})}}},
              {"properties", std::move(props)}};
}

/// A worker acts only on incidents assigned to them.
void require_assigned_to_worker(const Request& r, const Incident& i) {
  if (is_assignee(r.principal, i.assignee_name, i.assignee_phone)) return;
  throw Error(ErrorKind::forbidden, "not_assigned",
              "incident " + std::to_string(i.id) + " is assigned to " +
                  (i.assignee_name.empty() ? std::string("nobody") : "someone else") +
                  "; a worker acts on the incidents assigned to them",
              "id");
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

void add_incident_routes(Router& router, const ApiContext& ctx, IncidentApiOptions options) {
  if (!ctx.incidents) return;
  IncidentService& svc = *ctx.incidents;
  router.add("GET", "/categories", [&svc](const Request&, const PathParams&) {
    Json list = Json::array();
    for (const auto& c : svc.categories().all()) list.push_back(to_json(c));
    return json_response(Json{{"categories", std::move(list)}, {"groups", svc.categories().groups()}});
  });

  router.add("POST", "/incidents", [&svc, &ctx](const Request& r, const PathParams&) {
    const Json body = parse_json(r.body);
    bool batch = false;
    auto inputs = intake_inputs(body, param(r, "crs").value_or(""), batch);
    if (r.principal.authenticated) {
      for (auto& in : inputs) in.actor = r.principal.name;  // recorded as the token's person
    }
    const auto incidents = svc.report(std::move(inputs), admission_for(ctx, r));
    const TimePoint now = svc.now();
    // The reporter's receipt: its tracking code, whoever reports.
    auto feature = [&](const Incident& i) {
      Json f = incident_feature(svc, i, now, r.principal.personal_data);
      f["properties"]["tracking_code"] = text_or_null(i.tracking_code);
      return f;
    };
    if (!batch) {
      Response res = json_response(feature(incidents.front()), 201, "application/geo+json");
      res.headers.emplace_back("Location", "/incidents/" + std::to_string(incidents.front().id));
      res.headers.emplace_back("ETag", etag(incidents.front()));
      return res;
    }
    Json features = Json::array();
    for (const auto& i : incidents) features.push_back(feature(i));
    return json_response(Json{{"type", "FeatureCollection"}, {"features", std::move(features)}}, 201,
                         "application/geo+json");
  }, Permission::report_incidents);

  router.add("GET", "/incidents", [&svc, options](const Request& r, const PathParams&) {
    storage::IncidentQuery q;
    q.filter = incident_filter_of(r, svc);
    q.sort = sort_of(r);
    q.limit = static_cast<std::size_t>(
        param_int(r, "limit", 1, static_cast<std::int64_t>(options.max_page)).value_or(static_cast<std::int64_t>(options.default_page)));
    if (auto c = param(r, "cursor")) q.after = parse_cursor(*c, q.sort);
    const auto at = param_time(r, "at", svc.options().utc_offset_minutes);
    const TimePoint now = at.value_or(svc.now());
    const auto page = svc.list(q, now);
    Json features = Json::array();
    for (const auto& i : page.items) features.push_back(incident_feature(svc, i, now, r.principal.personal_data));
    Json body{{"type", "FeatureCollection"},
              {"features", std::move(features)},
              {"numberReturned", page.items.size()},
              {"at", format_iso8601(now)}};
    Json links = Json::array();
    if (page.next) {
      const std::string cursor = cursor_text(*page.next, q.sort);
      body["next_cursor"] = cursor;
      // Urgency depends on the clock: the next page keeps this page's clock.
      Request for_link = r;
      if (q.sort == storage::IncidentSort::urgency && !param(r, "at")) for_link.query.emplace("at", format_iso8601(now));
      links.push_back(
          Json{{"rel", "next"}, {"type", "application/geo+json"}, {"href", url_with(for_link, "", "cursor", cursor)}});
    } else {
      body["next_cursor"] = nullptr;
    }
    body["links"] = std::move(links);
    const std::string count = param(r, "count").value_or("false");
    if (count == "true" || count == "1") body["numberMatched"] = svc.count(q.filter, now);
    return json_response(body, 200, "application/geo+json");
  });

  router.add("GET", "/incidents/stats", [&svc](const Request& r, const PathParams&) {
    storage::StatsQuery q;
    q.filter = incident_filter_of(r, svc);
    const std::string group = param(r, "group").value_or("grid");
    if (group == "grid") {
      q.group = storage::StatsGroup::grid;
    } else if (group == "category") {
      q.group = storage::StatsGroup::category;
    } else if (group == "day") {
      q.group = storage::StatsGroup::day;
    } else if (group == "channel") {
      q.group = storage::StatsGroup::channel;
    } else if (group == "assignee") {
      q.group = storage::StatsGroup::assignee;
    } else {
      throw_invalid("invalid_group", "group must be grid, category, day, channel or assignee", "group");
    }
    if (auto l = param(r, "level")) {
      q.level = parse_level(*l, "level");
    } else if (q.filter.subtree && q.group == storage::StatsGroup::grid) {
      // Compare the children of the chosen grid by default.
      q.level = static_cast<Level>(std::min(static_cast<int>(q.filter.subtree->first) + 1, 4));
    }
    const auto at = param_time(r, "at", svc.options().utc_offset_minutes);
    const TimePoint now = at.value_or(svc.now());
    const auto rows = svc.stats(q, now);
    Json out = Json::array();
    storage::StatsRow total;
    for (const auto& e : rows) {
      out.push_back(stats_row_json(e));
      total.received += e.row.received;
      total.open += e.row.open;
      total.closed += e.row.closed;
      total.rejected += e.row.rejected;
      total.overdue += e.row.overdue;
      total.resolved_on_time += e.row.resolved_on_time;
      total.resolved_with_deadline += e.row.resolved_with_deadline;
    }
    Json body{{"group", group}, {"at", format_iso8601(now)}, {"rows", std::move(out)}};
    if (q.group == storage::StatsGroup::grid) body["level"] = to_string(q.level);
    service::StatsEntry t;
    t.row = total;
    Json tj = stats_row_json(t);
    tj.erase("key");
    tj.erase("label");
    tj.erase("avg_hours_to_close");
    tj.erase("avg_satisfaction");
    tj.erase("satisfaction_count");
    body["total"] = std::move(tj);
    return json_response(body);
  });

  router.add("GET", "/incidents/{id}", [&svc](const Request& r, const PathParams& p) {
    const Incident i = require_in_scope(svc, path_id(p.at("id")), r);
    const std::string tag = etag(i);
    if (const std::string* inm = r.header("if-none-match"); inm && *inm == tag) {
      Response res;
      res.status = 304;
      res.content_type.clear();
      res.headers.emplace_back("ETag", tag);
      return res;
    }
    const auto at = param_time(r, "at", svc.options().utc_offset_minutes);
    Response res = json_response(incident_feature(svc, i, at.value_or(svc.now()), r.principal.personal_data), 200,
                                 "application/geo+json");
    res.headers.emplace_back("ETag", tag);
    return res;
  });

  router.add("GET", "/incidents/{id}/history", [&svc](const Request& r, const PathParams& p) {
    const std::int64_t id = path_id(p.at("id"));
    (void)require_in_scope(svc, id, r);
    Json events = Json::array();
    for (const auto& e : svc.history(id)) events.push_back(event_json(e));
    return json_response(Json{{"incident_id", id}, {"events", std::move(events)}});
  });

  router.add("POST", "/incidents/{id}/transitions", [&svc](const Request& r, const PathParams& p) {
    const std::int64_t id = path_id(p.at("id"));
    const Incident current = require_in_scope(svc, id, r);
    auto input = transition_input(r, "");
    if (r.principal.worker()) {
      if (!worker_may(input.action)) {
        throw Error(ErrorKind::forbidden, "forbidden",
                    "a worker accepts, resolves or returns incidents; '" + std::string(to_string(input.action)) +
                        "' is the dispatch centre's",
                    "action");
      }
      require_assigned_to_worker(r, current);
    }
    // The history names who signed in, not what the body claims.
    if (r.principal.authenticated) input.actor = r.principal.name;
    // Dispatching to another grid: only to one inside the token's scope
    // (escalation is how an incident leaves it).
    if (!input.grid.empty() && r.principal.scoped()) {
      const auto snap = svc.catalog().snapshot();
      const service::GridEntry* target = snap->grid_by_id(svc.grid_ref(input.grid, "grid").second);
      if (target) {
        const auto scope = principal_scope(r, svc.catalog());
        if (!chain_in(scope, snap->chain_of(*target))) {
          throw Error(ErrorKind::forbidden, "outside_scope",
                      "grid " + target->grid.code + " lies outside the token's scope " + r.principal.scope_code,
                      "grid");
        }
      }
    }
    const Incident i = svc.transition(id, input);
    Response res = json_response(incident_feature(svc, i, svc.now(), r.principal.personal_data), 200,
                                 "application/geo+json");
    res.headers.emplace_back("ETag", etag(i));
    return res;
  }, Permission::handle_incidents);

  router.add("POST", "/incidents/{id}/attachments", [&svc](const Request& r, const PathParams& p) {
    const std::int64_t id = path_id(p.at("id"));
    const Incident current = require_in_scope(svc, id, r);
    if (r.principal.worker()) {
      // Photos of what they handle, or of what they reported.
      const auto history = svc.history(id);
      const bool reported = !history.empty() && history.front().actor == r.principal.name;
      if (!reported) require_assigned_to_worker(r, current);
    }
    const Attachment a = svc.add_attachment(id, r.body, param(r, "filename").value_or(""));
    Response res = json_response(attachment_json(a), 201);
    res.headers.emplace_back("Location", "/attachments/" + std::to_string(a.id));
    return res;
  }, Permission::handle_incidents);

  router.add("GET", "/incidents/{id}/attachments", [&svc](const Request& r, const PathParams& p) {
    const std::int64_t id = path_id(p.at("id"));
    (void)require_in_scope(svc, id, r);
    Json list = Json::array();
    for (const auto& a : svc.attachments_of(id)) list.push_back(attachment_json(a));
    return json_response(Json{{"incident_id", id}, {"attachments", std::move(list)}});
  });

  router.add("GET", "/attachments/{id}", [&svc](const Request& r, const PathParams& p) {
    const std::int64_t id = path_id(p.at("id"));
    auto a = svc.attachment(id, true);
    // An attachment of an incident outside the token's scope does not exist for it.
    if (a && r.principal.scoped()) {
      const auto owner = svc.get(a->incident_id);
      if (!owner || !incident_in(principal_scope(r, svc.catalog()), *owner)) a.reset();
    }
    if (!a) throw_not_found("attachment_not_found", "no attachment with id " + std::to_string(id), "id");
    return image_response(r, "\"a" + std::to_string(id) + "\"", a->media_type, std::move(a->data));
  });
}

// ---------------------------------------------------------------------------
// Live feed
// ---------------------------------------------------------------------------

FeedStream::FeedStream(IncidentService& incidents, storage::FeedFilter filter, std::int64_t after)
    : m_incidents(incidents), m_filter(std::move(filter)), m_after(after) {}

std::string FeedStream::poll(std::size_t max_items) {
  // Read the newest id first: when fewer than max_items match, every
  // matching event up to it has been seen, so filtered-out events are not
  // scanned again at the next poll.
  const std::int64_t newest = m_incidents.last_event_id();
  const auto items = m_incidents.events_after(m_after, m_filter, max_items);
  std::string out;
  const TimePoint now = m_incidents.now();
  for (const auto& item : items) {
    Json data{{"event", event_json(item.event)}, {"incident", incident_feature(m_incidents, item.incident, now, m_personal_data)}};
    out += "id: " + std::to_string(item.event.id) + "\nevent: incident\ndata: ";
    out += data.dump(-1, ' ', false, Json::error_handler_t::replace);
    out += "\n\n";
    m_after = item.event.id;
  }
  if (items.size() < max_items && newest > m_after) m_after = newest;
  return out;
}

bool is_feed_request(const Request& r) {
  return (r.method == "GET" || r.method == "HEAD") && (r.path == "/incidents/feed" || r.path == "/incidents/feed/");
}

std::unique_ptr<FeedStream> open_feed(IncidentService& svc, const Request& r) {
  storage::FeedFilter filter;
  filter.subtree = incident_subtree_of(r, svc);
  filter.categories = incident_categories_of(r, svc);
  std::optional<std::int64_t> after = param_int(r, "after", 0, INT64_MAX);
  if (!after) {
    if (const std::string* last = r.header("last-event-id"); last && !last->empty()) {
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(last->data(), last->data() + last->size(), v);
      if (ec != std::errc() || p != last->data() + last->size() || v < 0) {
        throw_invalid("invalid_last_event_id", "Last-Event-ID must be an event id from this feed", "Last-Event-ID");
      }
      after = v;
    }
  }
  auto feed = std::make_unique<FeedStream>(svc, std::move(filter), after.value_or(svc.last_event_id()));
  feed->set_personal_data(r.principal.personal_data);
  return feed;
}

}  // namespace gridd::api
