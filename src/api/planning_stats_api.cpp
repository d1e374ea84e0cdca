#include "gridd/api/planning_stats_api.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "gridd/api/params.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/api/scope.hpp"
#include "gridd/service/workload.hpp"
#include "gridd/spatial/geojson.hpp"

namespace gridd::api {

namespace {

using service::CoverageMode;
using service::GridEntry;

double round_to(double v, double unit) { return std::round(v / unit) * unit; }

template <class T>
Json opt(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}
Json opt_round(const std::optional<double>& v, double unit) { return v ? Json(round_to(*v, unit)) : Json(nullptr); }

Json grid_label(const GridEntry* g) {
  if (!g) return nullptr;
  return Json{{"id", g->grid.id}, {"code", g->grid.code}, {"name", g->grid.name}, {"level", to_string(g->grid.level)}};
}

/// A required query parameter that must not be empty.
std::string required_param(const Request& r, const std::string& name, const std::string& hint) {
  auto v = param(r, name);
  if (!v || v->empty()) throw_invalid("missing_parameter", "parameter '" + name + "' is required (" + hint + ")", name);
  return *v;
}

std::optional<Level> level_param(const Request& r) {
  auto v = param(r, "level");
  if (!v) return std::nullopt;
  return parse_level(*v, "level");
}

// ---------------------------------------------------------------------------
// /coverage
// ---------------------------------------------------------------------------

enum class CoverageSort { code, uncovered_area, uncovered_share, uncovered_households };

CoverageSort parse_coverage_sort(const std::string& s) {
  if (s == "code") return CoverageSort::code;
  if (s == "uncovered_area") return CoverageSort::uncovered_area;
  if (s == "uncovered_share") return CoverageSort::uncovered_share;
  if (s == "uncovered_households") return CoverageSort::uncovered_households;
  throw_invalid("invalid_sort",
                "sort must be code, uncovered_area, uncovered_share or uncovered_households, got '" + s + "'", "sort");
}

Json grid_coverage_json(const service::GridCoverage& g, CoverageMode mode) {
  Json nearest = nullptr;
  if (g.nearest) {
    nearest = Json{{"id", g.nearest->id},
                   {"code", g.nearest->code.empty() ? Json(nullptr) : Json(g.nearest->code)},
                   {"name", g.nearest->name},
                   {"kind", g.nearest->kind},
                   {"distance_m", opt_round(g.nearest_distance_m, 0.1)},
                   {"measured", mode == CoverageMode::network ? "network" : "straight"}};
  }
  const Grid& grid = g.grid->grid;
  return Json{{"id", grid.id},
              {"code", grid.code},
              {"name", grid.name},
              {"level", to_string(grid.level)},
              {"parent", grid.parent_code.empty() ? Json(nullptr) : Json(grid.parent_code)},
              {"area_m2", round_to(g.area_m2, 0.01)},
              {"uncovered_area_m2", round_to(g.uncovered_area_m2, 0.01)},
              {"uncovered_share", round_to(g.uncovered_share, 1e-4)},
              {"households", opt(g.households)},
              {"uncovered_households", opt_round(g.uncovered_households, 0.1)},
              {"reference_point", Json::array({round_to(g.reference.lon, 1e-7), round_to(g.reference.lat, 1e-7)})},
              {"nearest_station", std::move(nearest)}};
}

Json coverage_summary(const service::CoverageResult& r) {
  const auto& t = r.totals;
  return Json{{"grids", t.grids},
              {"fully_covered", t.fully_covered},
              {"partly_covered", t.partly_covered},
              {"uncovered", t.uncovered},
              {"area_m2", round_to(t.area_m2, 0.01)},
              {"uncovered_area_m2", round_to(t.uncovered_area_m2, 0.01)},
              {"uncovered_share", t.area_m2 > 0 ? round_to(t.uncovered_area_m2 / t.area_m2, 1e-4) : 0.0},
              {"households", t.households},
              {"uncovered_households", round_to(t.uncovered_households, 0.1)},
              {"grids_without_households", t.grids_without_households}};
}

Json coverage_query_json(const service::CoverageResult& r) {
  Json q{{"kind", r.query.kind.empty() ? "all" : r.query.kind},
         {"distance_m", r.query.distance_m},
         {"mode", to_string(r.query.mode)},
         {"level", to_string(r.selection.level)},
         {"root", grid_label(r.selection.root)},
         {"stations", r.stations},
         {"snapshot_version", r.snapshot->version()},
         {"cache", r.cache_hit ? "hit" : "miss"}};
  if (r.query.mode == CoverageMode::network) q["access_width_m"] = r.query.access_width_m;
  return q;
}

constexpr const char* k_households_note =
    "uncovered_households = households x uncovered_share: an estimate that assumes the households of a grid are "
    "spread evenly over its area";

Response coverage(const service::CoverageService& svc, const Request& r, const PlanningStatsOptions& o) {
  service::CoverageQuery q;
  q.kind = required_param(r, "kind", "a station kind, or all");
  if (auto d = param_double(r, "distance")) q.distance_m = *d;
  q.root = param(r, "root").value_or("");
  q.level = level_param(r);
  if (auto m = param(r, "mode")) q.mode = service::parse_coverage_mode(*m, "mode");
  if (auto w = param_double(r, "access_width")) {
    if (q.mode != CoverageMode::network) {
      throw_invalid("access_width_without_network", "access_width applies to mode=network only", "access_width");
    }
    q.access_width_m = *w;
  }
  const std::string format = param(r, "format").value_or("json");
  if (format != "json" && format != "geojson") {
    throw_invalid("invalid_format", "format must be json or geojson, got '" + format + "'", "format");
  }
  const CoverageSort sort = parse_coverage_sort(param(r, "sort").value_or("code"));
  q.with_geometry = format == "geojson";
  service::CoverageResult result = svc.run(q);

  std::vector<const service::GridCoverage*> order;
  order.reserve(result.grids.size());
  for (const auto& g : result.grids) order.push_back(&g);
  if (sort != CoverageSort::code) {
    auto value = [sort](const service::GridCoverage* g) -> std::optional<double> {
      switch (sort) {
        case CoverageSort::uncovered_area: return g->uncovered_area_m2;
        case CoverageSort::uncovered_share: return g->uncovered_share;
        case CoverageSort::uncovered_households: return g->uncovered_households;
        case CoverageSort::code: break;
      }
      return std::nullopt;
    };
    std::stable_sort(order.begin(), order.end(), [&](const auto* a, const auto* b) {
      const auto va = value(a), vb = value(b);
      if (va.has_value() != vb.has_value()) return va.has_value();
      return va && *va > *vb;
    });
  }

  if (format == "geojson") {
    Json features = Json::array();
    for (const auto* g : order) {
      if (!g->uncovered) continue;
      features.push_back(Json{{"type", "Feature"},
                              {"id", g->grid->grid.id},
                              {"geometry", spatial::geometry_to_geojson(g->uncovered.get(), o.geometry_decimals)},
                              {"properties", grid_coverage_json(*g, result.query.mode)}});
    }
    Json body{{"type", "FeatureCollection"},
              {"features", std::move(features)},
              {"query", coverage_query_json(result)},
              {"summary", coverage_summary(result)},
              {"note", k_households_note}};
    return json_response(body, 200, "application/geo+json");
  }
  Json grids = Json::array();
  for (const auto* g : order) grids.push_back(grid_coverage_json(*g, result.query.mode));
  Json body{{"query", coverage_query_json(result)},
            {"summary", coverage_summary(result)},
            {"note", k_households_note},
            {"grids", std::move(grids)}};
  return json_response(body);
}

// ---------------------------------------------------------------------------
// /workload
// ---------------------------------------------------------------------------

Json numbers_json(const service::WorkloadNumbers& n) {
  return Json{{"open", n.open},
              {"overdue", n.overdue},
              {"overdue_share", opt_round(n.overdue_share, 1e-4)},
              {"received", n.received},
              {"households", opt(n.households)},
              {"per_1000_households", opt_round(n.per_1000_households, 1e-3)},
              {"area_km2", round_to(n.area_km2, 1e-4)}};
}

Response workload(const service::IncidentService& svc, const Request& r, const PlanningStatsOptions& o) {
  service::WorkloadQuery q;
  q.root = param(r, "root").value_or("");
  // A scoped token sees its own subtree's workload only.
  if (r.principal.scoped()) {
    std::optional<GridRef> subtree;
    if (!q.root.empty()) subtree = svc.grid_ref(q.root, "root");
    restrict_to_scope(subtree, r, svc.catalog());
    const service::GridEntry* e = subtree ? svc.catalog().snapshot()->grid_by_id(subtree->second) : nullptr;
    if (e) q.root = e->grid.code;
  }
  q.level = level_param(r);
  const int offset = svc.options().utc_offset_minutes;
  if (auto v = param(r, "from")) q.from = parse_time(*v, "from", offset);
  if (auto v = param(r, "to")) q.to = parse_time(*v, "to", offset);
  if (auto v = param(r, "sort")) q.sort = service::parse_workload_key(*v, "sort");
  if (auto v = param_int(r, "limit", 1, static_cast<std::int64_t>(o.max_limit))) q.limit = static_cast<std::size_t>(*v);
  const service::WorkloadResult result = service::workload(svc, q);

  Json grids = Json::array();
  for (const auto& g : result.grids) {
    Json j{{"id", g.grid->grid.id},
           {"code", g.grid->grid.code},
           {"name", g.grid->grid.name},
           {"level", to_string(g.grid->grid.level)},
           {"parent", g.grid->grid.parent_code.empty() ? Json(nullptr) : Json(g.grid->grid.parent_code)}};
    j.update(numbers_json(g.numbers));
    Json workers = Json::array();
    for (const auto& p : g.workers) workers.push_back(Json{{"name", p.name}, {"role", p.role}});
    j["workers"] = std::move(workers);
    j["flag"] = g.flag == service::WorkloadFlag::none ? Json(nullptr) : Json(to_string(g.flag));
    grids.push_back(std::move(j));
  }
  Json workers = Json::array();
  for (const auto& w : result.workers) {
    Json j{{"name", w.name}};
    j.update(numbers_json(w.numbers));
    j["grids"] = w.grids;
    workers.push_back(std::move(j));
  }
  Json summary = numbers_json(result.totals);
  summary["grids"] = result.grid_count;
  summary["workers"] = result.worker_count;
  summary["split_candidates"] = result.split_candidates;
  summary["merge_candidates"] = result.merge_candidates;
  Json unassigned = numbers_json(result.unassigned);
  unassigned.erase("households");
  unassigned.erase("per_1000_households");
  unassigned.erase("area_km2");
  Json body{{"level", to_string(result.selection.level)},
            {"root", grid_label(result.selection.root)},
            {"at", format_iso8601(result.at)},
            {"period", Json{{"from", format_iso8601(result.from)}, {"to", format_iso8601(result.to)}}},
            {"sort", to_string(result.key)},
            {"rule", result.rule},
            {"percentiles", Json{{"split", Json{{"percentile", q.split_percentile}, {"value", opt_round(result.p_split, 1e-4)}}},
                                 {"median", opt_round(result.median, 1e-4)},
                                 {"merge", Json{{"percentile", q.merge_percentile}, {"value", opt_round(result.p_merge, 1e-4)}}}}},
            {"definitions",
             Json{{"open", "incidents not closed and not rejected, now"},
                  {"overdue", "open incidents past their deadline now"},
                  {"overdue_share", "overdue / open (null when nothing is open)"},
                  {"received", "incidents reported in the period [from, to)"},
                  {"per_1000_households", "received x 1000 / households (null when households are unknown)"}}},
            {"summary", std::move(summary)},
            {"unassigned", std::move(unassigned)},
            {"grids", std::move(grids)},
            {"workers", std::move(workers)}};
  return json_response(body);
}

}  // namespace

void add_planning_stats_routes(Router& router, const ApiContext& ctx, PlanningStatsOptions options) {
  service::IncidentService* incidents = ctx.incidents;
  auto svc = std::make_shared<service::CoverageService>(ctx.catalog, ctx.roads, options.coverage);
  router.add("GET", "/coverage", [svc, options](const Request& r, const PathParams&) {
    return coverage(*svc, r, options);
  });
  if (incidents) {
    router.add("GET", "/workload", [incidents, options](const Request& r, const PathParams&) {
      return workload(*incidents, r, options);
    });
  }
}

}  // namespace gridd::api
