#include "gridd/api/stations_api.hpp"

#include <climits>
#include <vector>

#include "gridd/api/features.hpp"
#include "gridd/api/params.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/service/catalog.hpp"

namespace gridd::api {

namespace {

using service::StationEntry;

Response list_stations(const ApiContext& ctx, const Request& r, const PathParams&) {
  const auto snap = ctx.catalog.snapshot();
  const auto bbox = param_bbox(r);
  const auto kind = param(r, "kind");
  const auto code = param(r, "code");
  FeaturePage page(r, ctx.options.max_page, ctx.options.default_page);
  for (const auto& s : snap->stations()) {
    if (kind && s->kind != *kind) continue;
    if (code && s->code != *code) continue;
    if (bbox && !bbox->contains(s->lon, s->lat)) continue;
    if (!page.offer(s->id, [&] { return station_feature(*s, shows_station_contacts(ctx, r)); })) break;
  }
  return page.response();
}

Response get_station(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const auto snap = ctx.catalog.snapshot();
  const std::int64_t id = path_id(p.at("id"));
  const StationEntry* s = snap->station_by_id(id);
  if (!s) throw_not_found("station_not_found", "no station with id " + std::to_string(id), "id");
  return geojson_response(station_feature(*s, shows_station_contacts(ctx, r)));
}

Response create_stations(const ApiContext& ctx, const Request& r, const PathParams&) {
  const Json body = parse_json(r.body);
  const std::string crs = crs_param(r);
  const auto features = features_of(body);
  const bool collection = body.value("type", "") == "FeatureCollection";
  std::vector<service::StationInput> inputs;
  for (std::size_t i = 0; i < features.size(); ++i) {
    inputs.push_back(station_input(*features[i], collection ? "features/" + std::to_string(i) : "", crs));
  }
  const std::vector<std::int64_t> ids = ctx.catalog.create_stations(std::move(inputs));
  const auto snap = ctx.catalog.snapshot();
  return created_response(ids, collection, "/stations",
                          [&](std::int64_t id) { return station_feature(*snap->station_by_id(id)); });
}

Response update_station(const ApiContext& ctx, const Request& r, const PathParams& p) {
  const std::int64_t id = path_id(p.at("id"));
  const Json body = parse_json(r.body);
  ctx.catalog.update_station(id, station_input(body, "", crs_param(r)));
  const auto snap = ctx.catalog.snapshot();
  return geojson_response(station_feature(*snap->station_by_id(id)));
}

Response delete_station(const ApiContext& ctx, const Request&, const PathParams& p) {
  ctx.catalog.delete_station(path_id(p.at("id")));
  return no_content();
}

}  // namespace

void add_station_routes(Router& router, const ApiContext& ctx) {
  add_collection_routes(router, ctx, "/stations",
                        {list_stations, create_stations, get_station, update_station, delete_station},
                        Permission::edit_grids);
}

}  // namespace gridd::api
