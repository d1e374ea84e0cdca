#include "gridd/api/system_api.hpp"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "gridd/core/metrics.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/tiles.hpp"

namespace gridd::api {

namespace {

namespace pm = prometheus;

/// Resident set size in bytes (from /proc/self/statm), 0 when unknown.
double resident_bytes() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  if (!(in >> pages >> resident)) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

/// Open file descriptors (entries of /proc/self/fd), 0 when unknown.
double open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  double n = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') n += 1;
  }
  closedir(d);
  return n - 1;  // the descriptor of the listing itself
}

const double k_start_time =
    std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

void gauge(std::string& out, const char* name, const char* help, double value, const char* type = "gauge") {
  pm::header(out, name, type, help);
  pm::sample(out, name, "", value);
}

Response readyz(const ApiContext& ctx, const Request&, const PathParams&) {
  // gridd listens only once the store is open, the demo imported and the
  // indexes built; it is ready from then until a shutdown begins.
  if (ctx.gauges.draining.load()) return error_response(503, "shutting_down", "gridd is shutting down");
  return json_response(Json{{"status", "ready"}});
}

Response metrics(const ApiContext& ctx, const Request&, const PathParams&) {
  std::string out;
  out.reserve(32 * 1024);
  ctx.router.write_metrics(out);
  gauge(out, "gridd_http_requests_in_flight", "Requests being handled", static_cast<double>(ctx.gauges.in_flight.load()));
  gauge(out, "gridd_http_connections_open", "Open client connections",
        static_cast<double>(ctx.gauges.open_connections.load()));
  gauge(out, "gridd_http_connections_accepted_total", "Connections accepted",
        static_cast<double>(ctx.gauges.accepted_connections.load()), "counter");
  gauge(out, "gridd_http_connections_rejected_total", "Connections refused beyond the connection cap (503)",
        static_cast<double>(ctx.gauges.rejected_connections.load()), "counter");

  const auto snap = ctx.catalog.snapshot();
  gauge(out, "gridd_index_grids", "Grids in the locate index", static_cast<double>(snap->grids().size()));
  gauge(out, "gridd_index_stations", "Stations in the nearest-station index", static_cast<double>(snap->stations().size()));
  gauge(out, "gridd_snapshot_version", "Version of the published grid and station snapshot",
        static_cast<double>(snap->version()));

  if (ctx.incidents) {
    gauge(out, "gridd_incidents_open", "Open incidents (not closed or rejected)",
          static_cast<double>(ctx.incidents->open_index().size()));
    pm::header(out, "gridd_incidents_open_by_colour", "gauge", "Open incidents by deadline colour, now");
    const auto colours = ctx.incidents->open_by_colour();
    for (std::size_t c = 0; c < colours.size(); ++c) {
      pm::sample(out, "gridd_incidents_open_by_colour",
                 std::string("colour=\"") + std::string(to_string(static_cast<Colour>(c))) + "\"",
                 static_cast<double>(colours[c]));
    }
    gauge(out, "gridd_incidents_open_index_bytes", "Memory of the in-memory index of open incidents",
          static_cast<double>(ctx.incidents->open_index().bytes()));
    pm::header(out, "gridd_store_write_duration_seconds", "histogram",
               "Time to commit an incident write (a report batch or a transition) to the store");
    pm::histogram(out, "gridd_store_write_duration_seconds", "store=\"incidents\"",
                  ctx.incidents->store_write_latency().snapshot());
  }

  if (ctx.tiles) {
    const auto s = ctx.tiles->cache_stats();
    gauge(out, "gridd_tile_cache_hits_total", "Tiles answered from the memory cache", static_cast<double>(s.hits),
          "counter");
    gauge(out, "gridd_tile_cache_misses_total", "Tiles rendered", static_cast<double>(s.misses), "counter");
    pm::header(out, "gridd_tile_cache_evictions_total", "counter", "Tiles dropped from the memory cache, by reason");
    pm::sample(out, "gridd_tile_cache_evictions_total", "reason=\"change\"", static_cast<double>(s.evicted_by_changes));
    pm::sample(out, "gridd_tile_cache_evictions_total", "reason=\"size\"", static_cast<double>(s.evicted_by_size));
    gauge(out, "gridd_tile_cache_entries", "Tiles in the memory cache", static_cast<double>(s.entries));
    gauge(out, "gridd_tile_cache_bytes", "Bytes in the memory cache", static_cast<double>(s.bytes));
    gauge(out, "gridd_tile_cache_max_bytes", "The memory cache's bound", static_cast<double>(s.max_bytes));
  }

  gauge(out, "gridd_process_resident_memory_bytes", "Resident memory", resident_bytes());
  gauge(out, "gridd_process_open_fds", "Open file descriptors", open_fds());
  gauge(out, "gridd_process_start_time_seconds", "Start time of the process (Unix time)", k_start_time);

  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(out);
  return r;
}

Response healthz(const ApiContext& ctx, const Request&, const PathParams&) {
  const auto snap = ctx.catalog.snapshot();
  Json body{{"status", "ok"},
            {"grids", snap->grids().size()},
            {"stations", snap->stations().size()},
            {"snapshot", snap->version()}};
  if (ctx.tiles) {
    // A broken tile source degrades the service; it keeps serving the rest.
    Json sources = Json::array();
    for (const auto& s : ctx.tiles->sources()) {
      if (s.kind != "raster") continue;
      sources.push_back(Json{{"name", s.name}, {"healthy", s.healthy},
                             {"reason", s.reason.empty() ? Json(nullptr) : Json(s.reason)}});
      if (!s.healthy) body["status"] = "degraded";
    }
    body["tile_sources"] = std::move(sources);
  }
  return json_response(body);
}

}  // namespace

void add_system_routes(Router& router, const ApiContext& ctx) {
  router.add("GET", "/healthz", route_to(ctx, healthz));
  router.add("GET", "/readyz", route_to(ctx, readyz));
  router.add("GET", "/metrics", route_to(ctx, metrics));
  router.add("GET", "/openapi.json", [](const Request&, const PathParams&) {
    Response r;
    r.content_type = "application/vnd.oai.openapi+json;version=3.0";
    r.body = std::string(openapi_json());
    return r;
  });
}

}  // namespace gridd::api
