#include "gridd/api/grids_api.hpp"

#include <algorithm>
#include <climits>
#include <vector>

#include "gridd/api/features.hpp"
#include "gridd/api/params.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/service/catalog.hpp"

namespace gridd::api {

using service::GridEntry;

GridFilter grid_filter_of(const Request& r, std::optional<spatial::Envelope> bbox) {
  GridFilter f;
  f.bbox = bbox;
  if (const auto level = param(r, "level")) f.level = parse_level(*level, "level");
  f.parent = param(r, "parent");
  f.code = param(r, "code");
  return f;
}

void for_each_grid(const service::Snapshot& snap, const GridFilter& f,
                   const std::function<bool(const GridEntry&)>& fn) {
  spatial::GeomPtr box = f.bbox ? spatial::make_box(*f.bbox) : nullptr;
  auto consider = [&](const GridEntry& e) {
    const Grid& g = e.grid;
    if (f.level && g.level != *f.level) return true;
    if (f.parent && g.parent_code != *f.parent) return true;
    if (f.code && g.code != *f.code) return true;
    if (box && (!e.shape.envelope().intersects(*f.bbox) ||
                GEOSIntersects_r(spatial::geos(), e.shape.geometry(), box.get()) != 1)) {
      return true;
    }
    return fn(e);
  };
  if (f.bbox) {
    std::vector<std::size_t> hits;
    snap.grid_index().query(*f.bbox, hits);
    std::sort(hits.begin(), hits.end());  // positions follow id order
    for (std::size_t i : hits) {
      if (!consider(*snap.grids()[i])) return;
    }
  } else {
    for (const auto& e : snap.grids()) {
      if (!consider(*e)) return;
    }
  }
}

namespace {

Response list_grids(const ApiContext& ctx, const Request& r, const PathParams&) {
  const auto snap = snapshot_for(ctx.catalog, r);
  const GridFilter filter = grid_filter_of(r, param_bbox(r));
  const bool with_geometry = geometry_param(r);
  FeaturePage page(r, ctx.options.max_page, ctx.options.default_page);
  for_each_grid(*snap, filter, [&](const GridEntry& e) {
    return page.offer(e.grid.id, [&] { return grid_feature(*snap, e, with_geometry, r.principal.personal_data); });
  });
  return page.response();
}

Response get_grid(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const auto snap = snapshot_for(ctx.catalog, r);
  const std::int64_t id = path_id(p.at("id"));
  const GridEntry* e = snap->grid_by_id(id);
  if (!e) throw_not_found("grid_not_found", "no grid with id " + std::to_string(id), "id");
  return geojson_response(grid_feature(*snap, *e, geometry_param(r), r.principal.personal_data));
}

Response create_grids(const ApiContext& ctx, const Request& r, const PathParams&) {
  const Json body = parse_json(r.body);
  const std::string crs = crs_param(r);
  const auto features = features_of(body);
  const bool collection = body.value("type", "") == "FeatureCollection";
  std::vector<service::GridInput> inputs;
  inputs.reserve(features.size());
  for (std::size_t i = 0; i < features.size(); ++i) {
    inputs.push_back(grid_input(*features[i], collection ? "features/" + std::to_string(i) : "", crs));
  }
  const std::vector<std::int64_t> ids = ctx.catalog.create_grids(std::move(inputs), edit_options(r, &body));
  const auto snap = ctx.catalog.snapshot();
  return created_response(ids, collection, "/grids",
                          [&](std::int64_t id) { return grid_feature(*snap, *snap->grid_by_id(id), true); });
}

Response update_grid(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const std::int64_t id = path_id(p.at("id"));
  const Json body = parse_json(r.body);
  service::GridInput in = grid_input(body, "", crs_param(r));
  ctx.catalog.update_grid(id, std::move(in), edit_options(r, &body));
  const auto snap = ctx.catalog.snapshot();
  return geojson_response(grid_feature(*snap, *snap->grid_by_id(id), true));
}

Response delete_grid(const ApiContext& ctx, const Request& r, const PathParams& p) {
  ctx.catalog.delete_grid(path_id(p.at("id")), edit_options(r));
  return no_content();
}

}  // namespace

void add_grid_routes(Router& router, const ApiContext& ctx) {
  add_collection_routes(router, ctx, "/grids", {list_grids, create_grids, get_grid, update_grid, delete_grid},
                        Permission::edit_grids);
}

}  // namespace gridd::api
