#pragma once
/// @file tiles.hpp
/// Map tiles: raster tiles warped by GDAL from any raster source into Web
/// Mercator, and Mapbox Vector Tiles of gridd's own layers (grids per level
/// with label points, stations, incidents aggregated below a zoom), with a
/// memory cache that edits invalidate exactly. No HTTP here.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gridd/service/catalog.hpp"
#include "gridd/service/incidents.hpp"
#include "gridd/service/tile_cache.hpp"
#include "gridd/spatial/tiles.hpp"

namespace gridd::service {

/// A raster source as the operator configures it.
struct RasterSourceConfig {
  std::string name;
  std::string path;              ///< anything GDAL opens (GeoTIFF, COG, VRT, MBTiles, GPKG tiles, ...)
  std::vector<int> bands;        ///< bands to show, 1-based (default: RGB(A) or gray)
  std::string title;
  std::string attribution;
  std::string resampling = "bilinear";
};

/// Parse "NAME=PATH[?bands=3,2,1&title=..&attribution=..&resampling=..]".
/// @throws Error(invalid_input, "invalid_raster_source")
RasterSourceConfig parse_raster_source(const std::string& spec);

struct TileOptions {
  std::size_t cache_bytes = 256u << 20;
  int incident_cluster_below = 14;  ///< incidents are aggregated below this zoom
  /// ...and at any zoom in a tile that would hold more open incidents than this
  /// (a tile stays small however dense the incidents are).
  std::size_t max_incident_points = 2000;
  std::array<int, 5> level_minzoom{0, 9, 12, 13, 15};  ///< per Level: the first zoom a level is drawn
  std::chrono::seconds incident_max_age{60};  ///< colours change with the clock: recompute at least this often
  std::uint32_t extent = 4096;
  double buffer = 64.0 / 4096.0;  ///< clip buffer as a fraction of the tile
  int max_vector_zoom = 22;
  /// Raster tiles are also kept in this directory when set (`gridd seed`
  /// fills it); vector tiles show live data and stay in memory.
  std::string disk_cache_dir;
};

/// What GET /tiles lists.
struct TileSourceInfo {
  std::string name;
  std::string kind;  ///< "raster" or "vector"
  std::string title;
  std::string attribution;
  std::vector<std::string> layers;  ///< vector layers
  std::vector<std::string> formats;
  spatial::Envelope bounds{-180, -85.0511287798066, 180, 85.0511287798066};
  int minzoom = 0;
  int maxzoom = 22;
  bool healthy = true;
  std::string reason;  ///< why not healthy
};

struct TileAnswer {
  std::shared_ptr<const std::string> body;
  std::string content_type;
  std::string etag;
  int max_age = 0;  ///< Cache-Control max-age in seconds
  bool cached = false;
};

/// The subtree (level, grid id) whose incidents a tile shows; nullopt: all.
using IncidentScope = std::optional<std::pair<Level, std::int64_t>>;

class TileService {
 public:
  /// Registers itself for change notifications of the catalog and of the
  /// incidents (may be null). Sources that fail to open are listed as
  /// unhealthy with the reason; their tiles answer 503.
  TileService(Catalog& catalog, IncidentService* incidents, std::vector<RasterSourceConfig> rasters,
              TileOptions options = {});
  ~TileService();
  TileService(const TileService&) = delete;
  TileService& operator=(const TileService&) = delete;

  [[nodiscard]] std::vector<TileSourceInfo> sources() const;
  [[nodiscard]] const Catalog& catalog() const noexcept { return m_catalog; }
  /// A raster source, a vector source ("grids", "stations", "incidents") or
  /// a composite of vector sources ("grids,stations"; "gridd" = all three).
  /// @throws Error(not_found, "unknown_tile_source")
  [[nodiscard]] TileSourceInfo source(const std::string& name) const;

  /// `incident_scope`: a token limited to a subtree sees the incidents
  /// assigned inside it only (such tiles are cached apart).
  /// @throws Error(invalid_input: invalid_tile, unsupported_format | not_found | unavailable: source_unhealthy)
  TileAnswer tile(const std::string& source, const spatial::TileId& tile, const std::string& format, int size = 256,
                  const IncidentScope& incident_scope = std::nullopt);

  [[nodiscard]] TileCacheStats cache_stats() const { return m_cache.stats(); }

  /// Render every tile of `source` in a lon/lat box for zooms minzoom..maxzoom
  /// with `threads` threads (into the caches). `progress(done, total)` is
  /// called from the workers. @returns the number of tiles rendered.
  std::uint64_t seed(const std::string& source, const spatial::Envelope& bbox, int minzoom, int maxzoom,
                     const std::string& format, unsigned threads,
                     const std::function<void(std::uint64_t, std::uint64_t)>& progress = {});
  /// The tiles of a change, for tests and `gridd seed`: evict what `areas` touch.
  std::size_t invalidate(unsigned kinds, const std::vector<spatial::Envelope>& areas) {
    return m_cache.invalidate(kinds, areas);
  }

 private:
  struct Raster;
  TileAnswer vector_tile(const std::vector<std::string>& layers, const spatial::TileId& tile, const IncidentScope& scope);
  TileAnswer raster_tile(const Raster& raster, const spatial::TileId& tile, const std::string& format, int size);
  std::string render_vector(const std::vector<std::string>& layers, const spatial::TileId& tile, TimePoint now,
                            const IncidentScope& scope) const;
  std::vector<std::string> vector_layers(const std::string& name) const;

  Catalog& m_catalog;
  IncidentService* m_incidents;
  TileOptions m_options;
  std::vector<std::unique_ptr<Raster>> m_rasters;
  TileCache m_cache;
  std::uint64_t m_catalog_listener = 0;
  std::uint64_t m_incident_listener = 0;
};

}  // namespace gridd::service
