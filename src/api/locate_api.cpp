#include "gridd/api/locate_api.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "gridd/api/features.hpp"
#include "gridd/api/params.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/core/time.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/locate.hpp"

namespace gridd::api {

namespace {

using service::GridEntry;
using service::Snapshot;
using service::StationEntry;

// The locate answer is the hot path. Each grid's and station's part of it is
// rendered once per entry (RenderCache) as an unterminated JSON object; an
// answer is those parts glued with a few numbers.

void append_double(std::string& out, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

/// Metres with two decimals ("1234.56").
void append_metres(std::string& out, double metres) {
  if (!std::isfinite(metres) || metres < 0 || metres > 1e15) {
    append_double(out, std::isfinite(metres) ? metres : 0);
    return;
  }
  const auto cents = static_cast<std::uint64_t>(std::llround(metres * 100));
  char buf[32];
  char* p = std::to_chars(buf, buf + 24, cents / 100).ptr;
  *p++ = '.';
  *p++ = static_cast<char>('0' + (cents % 100) / 10);
  *p++ = static_cast<char>('0' + cents % 10);
  out.append(buf, p);
}

std::string open_object(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  s.pop_back();  // drop '}' so fields can follow
  return s;
}

/// Two cached renderings per grid: with the people's phones, and without
/// them for anonymous readers once tokens are in use.
const std::string& grid_part(const GridEntry& e, bool personal_data) {
  return (personal_data ? e.summary : e.public_summary).get([&] {
    const Grid& g = e.grid;
    return open_object(Json{{"id", g.id}, {"code", g.code}, {"name", g.name}, {"level", to_string(g.level)},
                            {"version", g.version}, {"people", people_json(g.people, personal_data)}});
  });
}

std::string station_text(const StationEntry& s, bool with_contact) {
  return open_object(Json{{"id", s.id},
                          {"code", s.code.empty() ? Json(nullptr) : Json(s.code)},
                          {"name", s.name},
                          {"kind", s.kind},
                          {"lon", s.lon},
                          {"lat", s.lat},
                          {"address", s.address},
                          {"contact", with_contact ? Json(s.contact) : Json(nullptr)},
                          {"hours", s.hours}});
}

/// The station's part of a locate answer (rendered once; without the
/// contact, rendered each time: only with private_station_contacts).
void append_station(std::string& out, const StationEntry& s, bool with_contact) {
  if (!with_contact) {
    out += station_text(s, false);
    return;
  }
  out += s.summary.get([&] { return station_text(s, true); });
}

void append_grid(std::string& out, const GridEntry& e, const double* distance_m, bool personal_data) {
  out += grid_part(e, personal_data);
  if (distance_m) {
    out += ",\"distance_m\":";
    append_metres(out, *distance_m);
  }
  out += '}';
}

void append_locate(std::string& out, const service::LocateResult& r, bool personal_data, bool station_contacts) {
  out += "{\"position\":{\"lon\":";
  append_double(out, r.lon);
  out += ",\"lat\":";
  append_double(out, r.lat);
  out += "},\"covered\":";
  out += r.covered ? "true" : "false";
  out += ",\"grids\":[";
  for (std::size_t i = 0; i < r.chain.size(); ++i) {
    if (i) out += ',';
    append_grid(out, *r.chain[i], nullptr, personal_data);
  }
  out += "],\"owner\":";
  if (r.owner) {
    append_grid(out, *r.owner, &r.owner_distance_m, personal_data);
  } else {
    out += "null";
  }
  if (!r.covered && r.owner) {
    out += ",\"nearest_grid\":";
    append_grid(out, *r.owner, &r.owner_distance_m, personal_data);
  }
  out += ",\"stations\":[";
  for (std::size_t i = 0; i < r.stations.size(); ++i) {
    if (i) out += ',';
    append_station(out, *r.stations[i].first, station_contacts);
    out += ",\"distance_m\":";
    append_metres(out, r.stations[i].second);
    out += '}';
  }
  out += "]}";
}


service::LocateOptions locate_options(const service::Catalog& catalog, std::optional<std::int64_t> k,
                                      std::optional<std::string> kind) {
  service::LocateOptions o;
  o.k = static_cast<std::size_t>(k.value_or(3));
  if (kind && !kind->empty()) {
    const auto& kinds = catalog.options().station_kinds;
    if (std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) {
      throw_invalid("unknown_kind", "unknown station kind '" + *kind + "'", "kind");
    }
    o.station_kind = *kind;
  }
  return o;
}

Response locate_get(const ApiContext& ctx, const Request& r, const PathParams&) {
  const auto pos = param_position(r);
  if (!pos) throw_invalid("missing_parameter", "locate needs lon and lat (or x and y)", "lon");
  const auto options = locate_options(ctx.catalog, param_int(r, "k", 0, service::k_max_locate_k), param(r, "kind"));
  const auto snap = snapshot_for(ctx.catalog, r);
  Response res;
  res.body.reserve(2048);
  append_locate(res.body, service::locate(*snap, *pos, options), r.principal.personal_data,
                shows_station_contacts(ctx, r));
  return res;
}

Response locate_post(const ApiContext& ctx, const Request& r, const PathParams&) {
  const Json body = parse_json(r.body);
  if (!body.is_object()) throw_invalid("invalid_body", "the body must be an object with a points array", "body");
  auto it = body.find("points");
  if (it == body.end() || !it->is_array()) throw_invalid("invalid_body", "the body needs a points array", "points");
  if (it->size() > ctx.options.max_locate_points) {
    throw Error(ErrorKind::too_large, "too_many_points",
                "at most " + std::to_string(ctx.options.max_locate_points) + " points per request, got " +
                    std::to_string(it->size()),
                "points");
  }
  std::string crs = json_string(body, "crs", "");
  if (auto q = param(r, "crs")) crs = *q;
  std::optional<std::int64_t> k = json_int(body, "k", "");
  if (k && (*k < 0 || *k > static_cast<std::int64_t>(service::k_max_locate_k))) {
    throw_invalid("invalid_k", "k must be between 0 and " + std::to_string(service::k_max_locate_k), "k");
  }
  std::optional<std::string> kind;
  if (body.contains("kind")) kind = json_string(body, "kind", "");
  const auto options = locate_options(ctx.catalog, k, kind);
  std::shared_ptr<const Snapshot> snap;
  if (body.contains("at") && !param(r, "at")) {
    snap = ctx.catalog.snapshot_at(format_iso8601(parse_time(json_string(body, "at", ""), "at")));
  } else {
    snap = snapshot_for(ctx.catalog, r);
  }
  Response res;
  res.body.reserve(2048 * it->size() + 16);
  res.body += "{\"results\":[";
  std::size_t i = 0;
  for (const Json& p : *it) {
    const std::string where = "points/" + std::to_string(i++);
    std::optional<service::Position> pos;
    if (p.is_array() && p.size() >= 2 && p[0].is_number() && p[1].is_number()) {
      pos = service::Position{p[0].get<double>(), p[1].get<double>(), crs};
    } else if (p.is_object()) {
      pos = json_position(p, where, crs);
    }
    if (!pos) {
      throw_invalid("invalid_point", "a point is [x, y] or an object with lon and lat (or x and y, or a Point geometry)",
                    where);
    }
    try {
      if (i > 1) res.body += ',';
      append_locate(res.body, service::locate(*snap, *pos, options), r.principal.personal_data,
                shows_station_contacts(ctx, r));
    } catch (const Error& e) {
      throw Error(e.kind(), e.code(), e.what(), e.field() == "crs" ? "crs" : where);
    }
  }
  res.body += "]}";
  return res;
}

}  // namespace

void add_locate_routes(Router& router, const ApiContext& ctx) {
  router.add("GET", "/locate", route_to(ctx, locate_get));
  router.add("POST", "/locate", route_to(ctx, locate_post), Permission::read);
}

}  // namespace gridd::api
