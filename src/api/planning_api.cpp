#include "gridd/api/planning_api.hpp"

#include <cmath>

#include "gridd/api/features.hpp"
#include "gridd/api/params.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/editing.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "gridd/spatial/geojson.hpp"

namespace gridd::api {

namespace {

using service::Catalog;

Json geometry_out(const GEOSGeometry* g, const std::string& crs) {
  if (crs.empty()) return spatial::geometry_to_geojson(g);
  spatial::GeomPtr t = spatial::from_wgs84(g, crs);
  return spatial::geometry_to_geojson(t.get());
}

/// A grid of an edit result (not necessarily stored) as a Feature.
Json planned_feature(const Grid& g, const std::string& crs) {
  spatial::GeomPtr geom = spatial::from_wkb(g.wkb);
  Json props{{"id", g.id == 0 ? Json(nullptr) : Json(g.id)},
             {"code", g.code},
             {"name", g.name},
             {"level", to_string(g.level)},
             {"parent", g.parent_code.empty() ? Json(nullptr) : Json(g.parent_code)},
             {"people", to_json(g.people)},
             {"households", g.households ? Json(*g.households) : Json(nullptr)},
             {"attributes", g.attributes},
             {"version", g.version},
             {"area_m2", std::round(spatial::geodesic_area_m2(geom.get()) * 100) / 100}};
  return Json{{"type", "Feature"},
              {"id", g.id == 0 ? Json(nullptr) : Json(g.id)},
              {"geometry", geometry_out(geom.get(), crs)},
              {"properties", std::move(props)}};
}

Json count_json(const std::optional<std::int64_t>& n) { return n ? Json(*n) : Json(nullptr); }

/// How a split divides the households, part by part (the kept part first).
Json split_json(const service::SplitSummary& s) {
  Json parts = Json::array();
  for (const service::SplitPart& p : s.parts) {
    parts.push_back(Json{{"code", p.code},
                         {"name", p.name},
                         {"kept", p.kept},
                         {"area_m2", std::round(p.area_m2 * 100) / 100},
                         {"households", count_json(p.households)}});
  }
  return Json{{"households", count_json(s.households)}, {"households_by", s.by}, {"parts", std::move(parts)}};
}

/// What a merge keeps: every person, the households summed, the codes retired.
Json merge_json(const service::MergeSummary& s, bool personal_data) {
  Json grids = Json::array();
  for (const service::MergeSource& g : s.grids) {
    grids.push_back(Json{{"id", g.id},
                         {"code", g.code},
                         {"name", g.name},
                         {"kept", g.kept},
                         {"households", count_json(g.households)},
                         {"people", g.people}});
  }
  return Json{{"grids", std::move(grids)},
              {"people", people_json(s.people, personal_data)},
              {"people_added", people_json(s.people_added, personal_data)},
              {"people_duplicates", s.duplicates},
              {"households", count_json(s.households)},
              {"households_unknown", s.households_unknown},
              {"retired", s.retired}};
}

Json outcome_json(const std::string& operation, const service::EditOutcome& out, const std::string& crs,
                  bool personal_data = true) {
  Json features = Json::array();
  for (const Grid& g : out.grids) features.push_back(planned_feature(g, crs));
  bool refused = false;
  for (const auto& d : out.defects) refused = refused || service::refuses_edit(d.type);
  Json j{{"operation", operation},
         {"committed", out.committed},
         {"grids", Json{{"type", "FeatureCollection"}, {"features", std::move(features)}}},
         {"deleted", out.deleted},
         {"defects", service::defects_collection(out.defects)},
         {"refused", refused}};
  if (out.split) j["split"] = split_json(*out.split);
  if (out.merge) j["merge"] = merge_json(*out.merge, personal_data);
  return j;
}

bool body_bool(const Json& body, const char* name, bool fallback) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw_invalid("invalid_boolean", std::string(name) + " must be true or false", name);
  return it->get<bool>();
}

Json object_body(const Request& r) {
  Json body = r.body.empty() ? Json::object() : parse_json(r.body);
  if (!body.is_object()) throw_invalid("invalid_body", "the body must be a JSON object", "body");
  return body;
}

/// Preview (commit=false, the default) or apply a plan.
Response run_plan(Catalog& catalog, const Request& r, const Json& body, service::EditPlan plan) {
  const service::EditOptions options = edit_options(r, &body);
  const bool commit = param_bool(r, "commit").value_or(body_bool(body, "commit", false));
  const std::string crs = crs_param(r);
  const std::string op = plan.operation;
  const bool personal = r.principal.personal_data;
  if (!commit) return json_response(outcome_json(op, catalog.preview(plan, options.topology), crs, personal));
  return json_response(outcome_json(op, catalog.apply(std::move(plan), options), crs, personal));
}

Json version_json(const GridVersion& v, bool with_geometry, const std::string& crs, bool personal_data) {
  const Grid& g = v.grid;
  Json props{{"version", g.version},
             {"valid_from", v.valid_from},
             {"valid_to", v.valid_to.empty() ? Json(nullptr) : Json(v.valid_to)},
             {"operation", v.operation},
             {"editor", v.editor.empty() ? Json(nullptr) : Json(v.editor)},
             {"reason", v.reason.empty() ? Json(nullptr) : Json(v.reason)},
             {"draft", v.draft},
             {"code", g.code},
             {"name", g.name},
             {"level", to_string(g.level)},
             {"parent", g.parent_code.empty() ? Json(nullptr) : Json(g.parent_code)},
             {"people", people_json(g.people, personal_data)},
             {"households", g.households ? Json(*g.households) : Json(nullptr)},
             {"attributes", g.attributes}};
  Json geometry = nullptr;
  if (!g.wkb.empty()) {
    spatial::GeomPtr geom = spatial::from_wkb(g.wkb);
    props["area_m2"] = std::round(spatial::geodesic_area_m2(geom.get()) * 100) / 100;
    if (with_geometry) geometry = geometry_out(geom.get(), crs);
  }
  return Json{{"type", "Feature"}, {"id", g.id}, {"geometry", std::move(geometry)}, {"properties", std::move(props)}};
}

std::int64_t body_id(const Json& v, const std::string& field) {
  if (!v.is_number_integer() || v.get<std::int64_t>() <= 0) throw_invalid("invalid_id", field + " must be a positive integer id", field);
  return v.get<std::int64_t>();
}

}  // namespace

void add_planning_routes(Router& router, const ApiContext& ctx) {
  Catalog& catalog = ctx.catalog;
  // A subtree's defects, as GeoJSON.
  router.add("GET", "/grids/check", [&catalog](const Request& r, const PathParams&) {
    const auto snap = snapshot_for(catalog, r);
    const std::string root = param(r, "root").value_or("");
    const auto grids = service::topology_grids(*snap, root);
    const auto defects = service::check_topology(grids, topology_options(r));
    Json out = service::defects_collection(defects);
    out["root"] = root.empty() ? Json(nullptr) : Json(root);
    out["grids_checked"] = grids.size();
    return geojson_response(out);
  });
  // The defects a proposed edit would create (the editor calls this as the planner draws).
  router.add("POST", "/grids/check", [&catalog](const Request& r, const PathParams&) {
    const Json body = parse_json(r.body);
    const std::string crs = crs_param(r);
    service::EditPlan plan;
    plan.operation = "check";
    if (body.is_object() && body.value("type", "") != "") {
      const auto features = features_of(body);
      const bool collection = body.value("type", "") == "FeatureCollection";
      for (std::size_t i = 0; i < features.size(); ++i) {
        const std::string where = collection ? "features/" + std::to_string(i) : "";
        service::GridInput in = grid_input(*features[i], where, crs);
        const Json& f = *features[i];
        if (auto it = f.find("id"); it != f.end() && !it->is_null()) {
          in.grid.id = body_id(*it, join_field(where, "id"));
        }
        (in.grid.id ? plan.updates : plan.creates).push_back(std::move(in));
      }
    } else if (!body.is_object()) {
      throw_invalid("invalid_body", "the body must be a GeoJSON Feature or FeatureCollection", "body");
    }
    if (auto it = body.find("deleted"); it != body.end()) {
      if (!it->is_array()) throw_invalid("invalid_body", "deleted must be an array of grid ids", "deleted");
      for (std::size_t i = 0; i < it->size(); ++i) plan.deletes.push_back(body_id((*it)[i], "deleted/" + std::to_string(i)));
    }
    return json_response(outcome_json("check", catalog.preview(plan, topology_options(r)), crs));
  }, Permission::edit_grids);
  router.add("POST", "/grids/merge", [&catalog](const Request& r, const PathParams&) {
    const Json body = object_body(r);
    auto it = body.find("ids");
    if (it == body.end() || !it->is_array()) throw_invalid("missing_ids", "merge needs ids: the grids to merge", "ids");
    std::vector<std::int64_t> ids;
    for (std::size_t i = 0; i < it->size(); ++i) ids.push_back(body_id((*it)[i], "ids/" + std::to_string(i)));
    std::int64_t keep = 0;
    if (auto k = body.find("keep"); k != body.end() && !k->is_null()) keep = body_id(*k, "keep");
    return run_plan(catalog, r, body, catalog.plan_merge(ids, keep, body_bool(body, "allow_disjoint", false)));
  }, Permission::edit_grids);
  // Repair a proposed geometry (GEOS MakeValid), nothing stored.
  router.add("POST", "/grids/make-valid", [](const Request& r, const PathParams&) {
    const Json body = object_body(r);
    auto it = body.find("geometry");
    if (it == body.end() || it->is_null()) throw_invalid("missing_geometry", "make-valid needs a geometry", "geometry");
    const std::string crs = crs_param(r);
    spatial::GeomPtr g = spatial::to_wgs84(spatial::geometry_from_geojson(*it, "geometry").get(), crs);
    const spatial::Validity v = spatial::check_validity(g.get());
    spatial::GeomPtr fixed = v.valid ? spatial::as_multi_polygon(spatial::clone(g.get()))
                                     : service::make_valid_polygonal(g.get());
    if (!fixed) throw_invalid("collapsed_geometry", "nothing polygonal remains after repair: " + v.reason, "geometry");
    Json out{{"valid", v.valid},
             {"reason", v.valid ? Json(nullptr) : Json(v.reason)},
             {"location", v.valid ? Json(nullptr) : Json::array({v.x, v.y})},
             {"geometry", geometry_out(fixed.get(), crs)},
             {"parts", service::polygon_count(fixed.get())},
             {"area_m2", std::round(spatial::geodesic_area_m2(fixed.get()) * 100) / 100}};
    return json_response(out);
  }, Permission::edit_grids);
  router.add("GET", "/grids/{id}/history", [&catalog](const Request& r, const PathParams& p) {
    const std::int64_t id = path_id(p.at("id"));
    const bool with_geometry = param_bool(r, "geometry").value_or(false);
    const std::string crs = crs_param(r);
    Json versions = Json::array();
    for (const GridVersion& v : catalog.history(id)) versions.push_back(version_json(v, with_geometry, crs, r.principal.personal_data));
    return geojson_response(Json{{"type", "FeatureCollection"}, {"grid_id", id}, {"features", std::move(versions)}});
  });
  router.add("POST", "/grids/{id}/restore", [&catalog](const Request& r, const PathParams& p) {
    const Json body = object_body(r);
    const auto version = json_int(body, "version", "");
    if (!version) throw_invalid("missing_version", "restore needs the version to bring back", "version");
    service::EditPlan plan = catalog.plan_restore(path_id(p.at("id")), *version);
    const service::EditOptions options = edit_options(r, &body);
    return json_response(outcome_json("restore", catalog.apply(std::move(plan), options), crs_param(r)));
  }, Permission::edit_grids);
  router.add("POST", "/grids/{id}/split", [&catalog](const Request& r, const PathParams& p) {
    const Json body = object_body(r);
    auto it = body.find("line");
    if (it == body.end() || it->is_null()) throw_invalid("missing_line", "split needs a line (GeoJSON LineString)", "line");
    spatial::GeomPtr line = spatial::to_wgs84(spatial::geometry_from_geojson(*it, "line").get(), crs_param(r));
    std::vector<std::pair<std::string, std::string>> names;
    if (auto parts = body.find("parts"); parts != body.end()) {
      if (!parts->is_array()) throw_invalid("invalid_parts", "parts must be an array of {code, name}", "parts");
      for (std::size_t i = 0; i < parts->size(); ++i) {
        const std::string w = "parts/" + std::to_string(i);
        names.emplace_back(json_string((*parts)[i], "code", w), json_string((*parts)[i], "name", w));
      }
    }
    // The planner's own division of the households: one count per part, the kept part first.
    std::optional<std::vector<std::int64_t>> households;
    if (auto h = body.find("households"); h != body.end() && !h->is_null()) {
      if (!h->is_array()) {
        throw_invalid("invalid_households", "households must be an array of counts, one per part (the part kept first)",
                      "households");
      }
      households.emplace();
      for (std::size_t i = 0; i < h->size(); ++i) {
        const Json& n = (*h)[i];
        if (!n.is_number_integer() || n.get<std::int64_t>() < 0) {
          throw_invalid("invalid_households", "a part's households must be a whole number, 0 or more",
                        "households/" + std::to_string(i));
        }
        households->push_back(n.get<std::int64_t>());
      }
    }
    return run_plan(catalog, r, body, catalog.plan_split(path_id(p.at("id")), line.get(), names, households));
  }, Permission::edit_grids);
  router.add("POST", "/grids/{id}/snap", [&catalog](const Request& r, const PathParams& p) {
    const Json body = object_body(r);
    double tolerance = 5;
    if (auto t = body.find("tolerance_m"); t != body.end()) {
      if (!t->is_number()) throw_invalid("invalid_tolerance", "tolerance_m must be a number of metres", "tolerance_m");
      tolerance = t->get<double>();
    }
    const std::string to = body.value("to", std::string("both"));
    if (to != "parent" && to != "neighbours" && to != "both") {
      throw_invalid("invalid_target", "to must be parent, neighbours or both", "to");
    }
    return run_plan(catalog, r, body,
                    catalog.plan_snap(path_id(p.at("id")), tolerance, to != "neighbours", to != "parent"));
  }, Permission::edit_grids);
}

}  // namespace gridd::api
