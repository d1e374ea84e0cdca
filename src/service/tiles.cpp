#include "gridd/service/tiles.hpp"

#include <cpl_conv.h>
#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <ogr_spatialref.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unordered_map>

#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/service/mvt.hpp"
#include "gridd/storage/gdal_errors.hpp"

namespace gridd::service {

namespace {

using spatial::Envelope;
using spatial::TileId;

constexpr const char* k_mvt_type = "application/vnd.mapbox-vector-tile";
const char* const k_vector_sources[] = {"grids", "stations", "incidents"};

std::string fnv_etag(const std::string& bytes) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

bool is_source_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

/// The worker named in a grid's people (its grid worker, else the first).
std::string worker_of(const Grid& g) {
  for (const auto& p : g.people) {
    if (p.role == "grid_worker") return p.name;
  }
  return g.people.empty() ? std::string() : g.people.front().name;
}

/// Lon/lat -> tile coordinates (0..extent, y down).
struct TileFrame {
  Envelope merc;
  double extent;
  void to_tile(double& x, double& y) const {
    double mx = 0, my = 0;
    spatial::lonlat_to_mercator(x, y, mx, my);
    x = (mx - merc.minx) / (merc.maxx - merc.minx) * extent;
    y = (merc.maxy - my) / (merc.maxy - merc.miny) * extent;
  }
};

// ---------------------------------------------------------------------------
// Raster sources: GDAL datasets are never shared between threads, so each
// rendering thread opens its own (kept for the thread's life).
// ---------------------------------------------------------------------------

std::atomic<std::uint64_t> g_raster_ids{1};

/// A source opened by one thread, and the VRT over it (bands, scaling)
/// that tiles are warped from; the VRT refers to the source's handle, so
/// it goes first.
struct OpenedSource {
  GDALDatasetUniquePtr source;
  GDALDatasetUniquePtr prepared;
  OpenedSource() = default;
  OpenedSource(OpenedSource&&) = default;
  OpenedSource& operator=(OpenedSource&&) = default;
  ~OpenedSource() { prepared.reset(); }
  GDALDataset* get() const { return prepared ? prepared.get() : source.get(); }
};

struct ThreadDatasets {
  /// GDAL keeps each thread's PROJ context in a thread_local too; closing a
  /// dataset needs it. Thread-locals are destroyed in the reverse order of
  /// their construction, so GDAL's is made here, before this one is
  /// complete: it then outlives the datasets closed at thread exit (else
  /// GDAL makes a new context there and leaks it, as LeakSanitizer showed).
  ThreadDatasets() {
    OGRSpatialReference wgs84;
    wgs84.importFromEPSG(4326);
  }
  std::unordered_map<std::uint64_t, OpenedSource> by_source;
};
thread_local ThreadDatasets t_datasets;

struct VsiMem {
  std::string name;
  explicit VsiMem(const char* ext) {
    static std::atomic<std::uint64_t> counter{0};
    name = "/vsimem/gridd_tile_" + std::to_string(++counter) + ext;
  }
  ~VsiMem() { VSIUnlink(name.c_str()); }
  std::string take() const {
    vsi_l_offset size = 0;
    GByte* data = VSIGetMemFileBuffer(name.c_str(), &size, FALSE);
    return data ? std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size)) : std::string();
  }
};

/// Run a GDAL utility's options from a list of strings.
template <class Options, class New, class Free>
std::unique_ptr<Options, Free> options(const std::vector<std::string>& args, New make, Free free) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return std::unique_ptr<Options, Free>(make(argv.data(), nullptr), free);
}

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10f", v);
  return buf;
}

}  // namespace

struct TileService::Raster {
  RasterSourceConfig config;
  std::uint64_t id = g_raster_ids++;
  bool healthy = false;
  std::string reason;
  Envelope bounds{-180, -85.0511287798066, 180, 85.0511287798066};
  int maxzoom = 18;
  std::vector<std::string> prepare_args;  // gdal_translate args to a VRT (bands, scaling); empty: none
  std::string signature;                  // of the file and how it is shown (disk cache directory)

  /// The thread's dataset to warp from.
  GDALDataset* dataset() const {
    auto it = t_datasets.by_source.find(id);
    if (it != t_datasets.by_source.end()) return it->second.get();
    storage::QuietGdalErrors quiet;
    OpenedSource opened;
    opened.source.reset(GDALDataset::Open(config.path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY));
    if (!opened.source) {
      throw Error(ErrorKind::unavailable, "source_unhealthy", "raster source '" + config.name + "' cannot be opened",
                  "source");
    }
    if (!prepare_args.empty()) {
      auto opts = options<GDALTranslateOptions>(prepare_args, GDALTranslateOptionsNew, GDALTranslateOptionsFree);
      int usage_error = FALSE;
      GDALDatasetH vrt = GDALTranslate("", GDALDataset::ToHandle(opened.source.get()), opts.get(), &usage_error);
      if (!vrt) {
        throw Error(ErrorKind::unavailable, "source_unhealthy",
                    "raster source '" + config.name + "' cannot be prepared: " + CPLGetLastErrorMsg(), "source");
      }
      opened.prepared.reset(GDALDataset::FromHandle(vrt));
    }
    GDALDataset* raw = opened.get();
    t_datasets.by_source.emplace(id, std::move(opened));
    return raw;
  }
};

RasterSourceConfig parse_raster_source(const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
    throw_invalid("invalid_raster_source", "a raster source is NAME=PATH[?bands=3,2,1&title=...], got '" + spec + "'",
                  "raster");
  }
  RasterSourceConfig c;
  c.name = spec.substr(0, eq);
  if (!is_source_name(c.name)) {
    throw_invalid("invalid_raster_source", "source name '" + c.name + "' must be 1..64 of [A-Za-z0-9_-]", "raster");
  }
  std::string rest = spec.substr(eq + 1);
  const auto q = rest.find('?');
  c.path = rest.substr(0, q);
  if (q != std::string::npos) {
    for (const auto& kv : split(rest.substr(q + 1), '&')) {
      const auto e = kv.find('=');
      const std::string k = kv.substr(0, e), v = e == std::string::npos ? "" : kv.substr(e + 1);
      if (k == "bands") {
        for (const auto& b : split(v, ',')) {
          int n = 0;
          auto [ptr, ec] = std::from_chars(b.data(), b.data() + b.size(), n);
          if (b.empty() || ec != std::errc() || ptr != b.data() + b.size() || n < 1 || n > 64) {
            throw_invalid("invalid_raster_source", "bands must be 1-based band numbers, got '" + v + "'", "raster");
          }
          c.bands.push_back(n);
        }
        if (c.bands.size() != 1 && c.bands.size() != 3) {
          throw_invalid("invalid_raster_source", "bands takes one (gray) or three (red, green, blue) bands", "raster");
        }
      } else if (k == "title") {
        c.title = v;
      } else if (k == "attribution") {
        c.attribution = v;
      } else if (k == "resampling") {
        static const char* ok[] = {"near", "bilinear", "cubic", "cubicspline", "lanczos", "average", "mode"};
        if (std::find(std::begin(ok), std::end(ok), v) == std::end(ok)) {
          throw_invalid("invalid_raster_source", "unknown resampling '" + v + "'", "raster");
        }
        c.resampling = v;
      } else {
        throw_invalid("invalid_raster_source", "unknown raster source option '" + k + "'", "raster");
      }
    }
  }
  if (c.title.empty()) c.title = c.name;
  return c;
}

// ---------------------------------------------------------------------------
// Construction: open every raster once to learn its bounds and how to show it
// ---------------------------------------------------------------------------

TileService::TileService(Catalog& catalog, IncidentService* incidents, std::vector<RasterSourceConfig> rasters,
                         TileOptions options)
    : m_catalog(catalog), m_incidents(incidents), m_options(options), m_cache(options.cache_bytes) {
  GDALAllRegister();
  for (auto& cfg : rasters) {
    for (const auto* v : k_vector_sources) {
      if (cfg.name == v || cfg.name == "gridd") {
        throw_invalid("invalid_raster_source", "'" + cfg.name + "' is the name of a vector source", "raster");
      }
    }
    for (const auto& r : m_rasters) {
      if (r->config.name == cfg.name) throw_invalid("invalid_raster_source", "two sources named '" + cfg.name + "'", "raster");
    }
    auto r = std::make_unique<Raster>();
    r->config = std::move(cfg);
    storage::QuietGdalErrors quiet;
    GDALDatasetUniquePtr ds(GDALDataset::Open(r->config.path.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY));
    if (!ds) {
      r->reason = "cannot open '" + r->config.path + "': " + CPLGetLastErrorMsg();
    } else if (!ds->GetSpatialRef() && ds->GetGCPCount() == 0) {
      r->reason = "'" + r->config.path + "' has no coordinate reference system";
    } else {
      const int nb = ds->GetRasterCount();
      std::vector<int> bands = r->config.bands;
      bool expand = false;
      if (bands.empty()) {
        if (nb >= 3) {
          bands = {1, 2, 3};
        } else if (nb >= 1) {
          expand = ds->GetRasterBand(1)->GetColorTable() != nullptr;
          bands = {1};
        }
      }
      for (int b : bands) {
        if (b > nb) r->reason = "band " + std::to_string(b) + " does not exist (the source has " + std::to_string(nb) + ")";
      }
      if (bands.empty()) r->reason = "the source has no bands";
      if (r->reason.empty()) {
        std::vector<std::string> args{"-of", "VRT"};
        if (expand) {
          args.insert(args.end(), {"-expand", "rgba"});
        } else {
          // Gray shows as RGB so every format (JPEG, WebP) can carry it.
          std::vector<int> shown = bands.size() == 1 ? std::vector<int>{bands[0], bands[0], bands[0]} : bands;
          // The source's alpha band rides along as the last band (the warper
          // takes a last alpha band as the source alpha); nodata stays on the
          // bands. Either keeps the source's overviews usable, which a
          // separate mask (-mask) would not.
          const int mask_flags = ds->GetRasterBand(bands[0])->GetMaskFlags();
          int alpha_band = 0;
          for (int b = 1; b <= nb; ++b) {
            if (ds->GetRasterBand(b)->GetColorInterpretation() == GCI_AlphaBand) alpha_band = b;
          }
          if ((mask_flags & GMF_ALPHA) && alpha_band > 0) shown.push_back(alpha_band);
          for (int b : shown) args.insert(args.end(), {"-b", std::to_string(b)});
          const GDALDataType type = ds->GetRasterBand(bands[0])->GetRasterDataType();
          if (type != GDT_Byte) {
            double mm[2] = {0, 255};
            ds->GetRasterBand(bands[0])->ComputeRasterMinMax(TRUE, mm);
            if (!(mm[1] > mm[0])) mm[1] = mm[0] + 1;
            args.insert(args.end(), {"-ot", "Byte", "-scale", num(mm[0]), num(mm[1]), "1", "255"});
          }
          // Any other mask (a .msk file) is carried as a mask band.
          if (mask_flags != GMF_ALL_VALID && !(mask_flags & GMF_NODATA) && !((mask_flags & GMF_ALPHA) && alpha_band > 0)) {
            args.insert(args.end(), {"-mask", std::to_string(bands[0])});
          }
        }
        r->prepare_args = std::move(args);
        // Bounds in lon/lat and a native zoom from the pixel size.
        double gt[6];
        if (ds->GetGeoTransform(gt) == CE_None && ds->GetSpatialRef()) {
          OGRSpatialReference wgs84;
          wgs84.SetWellKnownGeogCS("WGS84");
          wgs84.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
          std::unique_ptr<OGRCoordinateTransformation> ct(
              OGRCreateCoordinateTransformation(ds->GetSpatialRef(), &wgs84));
          if (ct) {
            const double w = ds->GetRasterXSize(), h = ds->GetRasterYSize();
            double xmin = 0, ymin = 0, xmax = 0, ymax = 0;
            const double xs[2] = {gt[0], gt[0] + gt[1] * w + gt[2] * h};
            const double ys[2] = {gt[3], gt[3] + gt[4] * w + gt[5] * h};
            const double x0 = std::min(xs[0], xs[1]), x1 = std::max(xs[0], xs[1]);
            const double y0 = std::min(ys[0], ys[1]), y1 = std::max(ys[0], ys[1]);
            int ok = 0;
            if (ct->TransformBounds(x0, y0, x1, y1, &xmin, &ymin, &xmax, &ymax, 21) && xmin < xmax) {
              r->bounds = {xmin, std::max(ymin, -spatial::k_mercator_max_lat), xmax,
                           std::min(ymax, spatial::k_mercator_max_lat)};
              ok = 1;
            }
            if (ok) {
              // Native resolution: metres per pixel at the centre, to a zoom.
              const double lat = (r->bounds.miny + r->bounds.maxy) / 2;
              const double deg_per_px = (r->bounds.maxx - r->bounds.minx) / w;
              const double m_per_px = deg_per_px * 111319.49 * std::cos(lat * 3.14159265358979 / 180);
              const double z = std::log2(156543.03392 * std::cos(lat * 3.14159265358979 / 180) / std::max(m_per_px, 1e-3));
              r->maxzoom = std::clamp(static_cast<int>(std::ceil(z)) + 2, 0, 22);
            }
          }
        }
        r->healthy = true;
        // Signature: path, size, modification time and the display options.
        std::error_code ec;
        std::string sig = r->config.path + "|" + r->config.resampling;
        if (auto size = std::filesystem::file_size(r->config.path, ec); !ec) sig += "|" + std::to_string(size);
        if (auto mtime = std::filesystem::last_write_time(r->config.path, ec); !ec) {
          sig += "|" + std::to_string(mtime.time_since_epoch().count());
        }
        for (const auto& a : r->prepare_args) sig += "|" + a;
        r->signature = fnv_etag(sig).substr(1, 16);
      }
    }
    m_rasters.push_back(std::move(r));
  }
  // Exact invalidation: every change of the catalog or of an incident.
  m_catalog_listener = m_catalog.add_change_listener([this](const std::vector<Envelope>& grids, const std::vector<Envelope>& stations) {
    if (!grids.empty()) m_cache.invalidate(tile_grids, grids);
    if (!stations.empty()) m_cache.invalidate(tile_stations, stations);
  });
  if (m_incidents) {
    m_incident_listener = m_incidents->add_change_listener([this](const std::vector<Envelope>& positions) {
      m_cache.invalidate(tile_incidents, positions);
    });
  }
}

TileService::~TileService() {
  m_catalog.remove_change_listener(m_catalog_listener);
  if (m_incidents) m_incidents->remove_change_listener(m_incident_listener);
}

// ---------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------

std::vector<std::string> TileService::vector_layers(const std::string& name) const {
  // "gridd" is every vector layer this server has (incidents only with an incident service).
  std::vector<std::string> parts = name == "gridd" ? (m_incidents ? std::vector<std::string>{"grids", "stations", "incidents"}
                                                                  : std::vector<std::string>{"grids", "stations"})
                                                   : split(name, ',');
  std::vector<std::string> out;
  for (const auto& p : parts) {
    bool known = false;
    for (const auto* v : k_vector_sources) known = known || p == v;
    if (!known) return {};
    if (p == "incidents" && !m_incidents) return {};
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  }
  return out;
}

TileSourceInfo TileService::source(const std::string& name) const {
  for (const auto& r : m_rasters) {
    if (r->config.name != name) continue;
    TileSourceInfo s;
    s.name = name;
    s.kind = "raster";
    s.title = r->config.title;
    s.attribution = r->config.attribution;
    s.formats = {"png", "jpg", "webp"};
    s.bounds = r->bounds;
    s.maxzoom = r->maxzoom;
    s.healthy = r->healthy;
    s.reason = r->reason;
    return s;
  }
  const auto layers = vector_layers(name);
  if (layers.empty()) {
    throw_not_found("unknown_tile_source", "no tile source '" + name + "' (GET /tiles lists them)", "source");
  }
  TileSourceInfo s;
  s.name = name;
  s.kind = "vector";
  s.title = name == "gridd" ? "gridd: grids, stations and incidents" : "gridd " + name;
  s.formats = {"mvt"};
  s.maxzoom = m_options.max_vector_zoom;
  for (const auto& l : layers) {
    if (l == "grids") {
      for (int level = 0; level < 5; ++level) s.layers.push_back("grids_" + std::string(to_string(static_cast<Level>(level))));
      s.layers.push_back("grid_labels");
    } else {
      s.layers.push_back(l);
    }
  }
  const auto snap = m_catalog.snapshot();
  if (!snap->grids().empty()) {
    const Envelope e = snap->grid_index().extent();
    s.bounds = {e.minx, e.miny, e.maxx, e.maxy};
  }
  return s;
}

std::vector<TileSourceInfo> TileService::sources() const {
  std::vector<TileSourceInfo> out;
  for (const auto& r : m_rasters) out.push_back(source(r->config.name));
  for (const char* v : {"gridd", "grids", "stations", "incidents"}) {
    if (!vector_layers(v).empty()) out.push_back(source(v));
  }
  return out;
}

TileAnswer TileService::tile(const std::string& name, const TileId& t, const std::string& format, int size,
                             const IncidentScope& incident_scope) {
  for (const auto& r : m_rasters) {
    if (r->config.name != name) continue;
    if (format != "png" && format != "jpg" && format != "jpeg" && format != "webp") {
      throw_invalid("unsupported_format", "raster tiles are png, jpg or webp, not '" + format + "'", "format");
    }
    if (size != 256 && size != 512) throw_invalid("invalid_tile_size", "tiles are 256 or 512 pixels", "size");
    if (!r->healthy) {
      throw Error(ErrorKind::unavailable, "source_unhealthy", "raster source '" + name + "' is unavailable: " + r->reason,
                  "source");
    }
    return raster_tile(*r, t, format == "jpeg" ? "jpg" : format, size);
  }
  const auto layers = vector_layers(name);
  if (layers.empty()) throw_not_found("unknown_tile_source", "no tile source '" + name + "' (GET /tiles lists them)", "source");
  if (format != "mvt" && format != "pbf") throw_invalid("unsupported_format", "vector tiles are mvt, not '" + format + "'", "format");
  if (t.z > m_options.max_vector_zoom) {
    throw_invalid("invalid_tile", "vector tiles go to zoom " + std::to_string(m_options.max_vector_zoom), "z");
  }
  return vector_tile(layers, t, incident_scope);
}

std::uint64_t TileService::seed(const std::string& name, const Envelope& bbox, int minzoom, int maxzoom,
                                const std::string& format, unsigned threads,
                                const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  const TileSourceInfo info = source(name);
  if (minzoom < 0 || maxzoom < minzoom || maxzoom > spatial::k_max_tile_zoom) {
    throw_invalid("invalid_zoom_range", "zooms must satisfy 0 <= min <= max <= 24", "zoom");
  }
  std::vector<spatial::TileRange> ranges;
  std::uint64_t total = 0;
  for (int z = minzoom; z <= maxzoom; ++z) {
    ranges.push_back(spatial::tiles_covering(bbox, z));
    total += ranges.back().count();
  }
  if (total > 50'000'000) throw_invalid("too_many_tiles", std::to_string(total) + " tiles: narrow the box or the zooms", "zoom");
  std::atomic<std::uint64_t> next{0}, done{0};
  std::atomic<bool> failed{false};
  std::string failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    for (;;) {
      const std::uint64_t i = next++;
      if (i >= total || failed) return;
      std::uint64_t k = i;
      for (const auto& r : ranges) {
        if (k < r.count()) {
          const std::uint64_t w = r.maxx - r.minx + 1;
          spatial::TileId t{r.z, static_cast<std::uint32_t>(r.minx + k % w), static_cast<std::uint32_t>(r.miny + k / w)};
          try {
            (void)tile(name, t, format.empty() ? (info.kind == "raster" ? "png" : "mvt") : format);
          } catch (const std::exception& e) {
            std::lock_guard lock(failure_mutex);
            failure = e.what();
            failed = true;
          }
          break;
        }
        k -= r.count();
      }
      const std::uint64_t d = ++done;
      if (progress) progress(d, total);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < std::max(1u, threads); ++i) pool.emplace_back(worker);
  for (auto& th : pool) th.join();
  if (failed) throw Error(ErrorKind::unavailable, "seed_failed", "seeding stopped: " + failure, "source");
  return done;
}

// ---------------------------------------------------------------------------
// Raster tiles
// ---------------------------------------------------------------------------

TileAnswer TileService::raster_tile(const Raster& r, const TileId& t, const std::string& format, int size) {
  const std::string key = "r:" + r.config.name + "/" + t.to_string() + "@" + std::to_string(size) + "." + format;
  if (auto hit = m_cache.get(key)) return TileAnswer{hit->body, hit->content_type, hit->etag, 3600, true};
  const std::uint64_t generation = m_cache.generation();
  const std::string type = format == "png" ? "image/png" : format == "jpg" ? "image/jpeg" : "image/webp";

  // The disk cache: raster sources are files, so a tile stays valid while
  // the source file (and how it is shown) is unchanged: the directory name
  // carries a signature of both.
  std::string disk_path;
  if (!m_options.disk_cache_dir.empty()) {
    disk_path = m_options.disk_cache_dir + "/" + r.config.name + "-" + r.signature + "/" + std::to_string(t.z) + "/" +
                std::to_string(t.x) + "/" + std::to_string(t.y) + (size == 512 ? "@2x." : ".") + format;
    std::ifstream in(disk_path, std::ios::binary);
    if (in) {
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!bytes.empty()) {
        CachedTile c;
        c.body = std::make_shared<const std::string>(std::move(bytes));
        c.content_type = type;
        c.etag = fnv_etag(*c.body);
        c.bounds = spatial::tile_bounds_lonlat(t);
        c.kinds = tile_raster;
        m_cache.put(key, c, generation);
        return TileAnswer{c.body, c.content_type, c.etag, 3600, true};
      }
    }
  }

  const Envelope m = spatial::tile_bounds_mercator(t);
  GDALDataset* src = r.dataset();
  storage::QuietGdalErrors quiet;
  auto wopts = options<GDALWarpAppOptions>(
      {"-of", "MEM", "-t_srs", "EPSG:3857", "-te", num(m.minx), num(m.miny), num(m.maxx), num(m.maxy), "-ts",
       std::to_string(size), std::to_string(size), "-r", r.config.resampling, "-dstalpha"},
      GDALWarpAppOptionsNew, GDALWarpAppOptionsFree);
  int usage_error = FALSE;
  GDALDatasetH srch = GDALDataset::ToHandle(src);
  GDALDatasetUniquePtr warped(GDALDataset::FromHandle(GDALWarp("", nullptr, 1, &srch, wopts.get(), &usage_error)));
  if (!warped) {
    throw Error(ErrorKind::unavailable, "source_unhealthy",
                "raster source '" + r.config.name + "' failed to render: " + CPLGetLastErrorMsg(), "source");
  }
  std::string body;
  {
    const char* driver = format == "png" ? "PNG" : format == "jpg" ? "JPEG" : "WEBP";
    GDALDriver* drv = GetGDALDriverManager()->GetDriverByName(driver);
    if (!drv) throw_invalid("unsupported_format", std::string("this GDAL has no ") + driver + " driver", "format");
    VsiMem out(format == "png" ? ".png" : format == "jpg" ? ".jpg" : ".webp");
    GDALDatasetUniquePtr encoded;
    if (format == "jpg") {
      // JPEG has no alpha: the colour bands only.
      auto topts = options<GDALTranslateOptions>({"-of", "JPEG", "-b", "1", "-b", "2", "-b", "3", "-co", "QUALITY=85"},
                                                 GDALTranslateOptionsNew, GDALTranslateOptionsFree);
      encoded.reset(GDALDataset::FromHandle(
          GDALTranslate(out.name.c_str(), GDALDataset::ToHandle(warped.get()), topts.get(), &usage_error)));
    } else {
      const char* co_png[] = {"ZLEVEL=6", nullptr};
      const char* co_webp[] = {"QUALITY=85", nullptr};
      encoded.reset(drv->CreateCopy(out.name.c_str(), warped.get(), FALSE,
                                    const_cast<char**>(format == "png" ? co_png : co_webp), nullptr, nullptr));
    }
    if (!encoded) throw Error(ErrorKind::internal, "encode_failed", std::string("cannot encode ") + driver + ": " + CPLGetLastErrorMsg());
    encoded.reset();
    body = out.take();
  }
  CachedTile c;
  c.body = std::make_shared<const std::string>(std::move(body));
  c.content_type = type;
  c.etag = fnv_etag(*c.body);
  c.bounds = spatial::tile_bounds_lonlat(t);
  c.kinds = tile_raster;
  m_cache.put(key, c, generation);
  if (!disk_path.empty()) {
    // Write beside and rename: a reader never sees half a tile.
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(disk_path).parent_path(), ec);
    static std::atomic<std::uint64_t> counter{0};
    const std::string tmp = disk_path + ".tmp" + std::to_string(++counter);
    {
      std::ofstream out(tmp, std::ios::binary);
      out.write(c.body->data(), static_cast<std::streamsize>(c.body->size()));
    }
    std::filesystem::rename(tmp, disk_path, ec);
    if (ec) std::filesystem::remove(tmp, ec);
  }
  return TileAnswer{c.body, c.content_type, c.etag, 3600, false};
}

// ---------------------------------------------------------------------------
// Vector tiles
// ---------------------------------------------------------------------------

TileAnswer TileService::vector_tile(const std::vector<std::string>& layers, const TileId& t,
                                    const IncidentScope& scope) {
  std::string key = "v:";
  unsigned kinds = 0;
  for (const auto& l : layers) {
    key += l + ",";
    kinds |= l == "grids" ? tile_grids : l == "stations" ? tile_stations : tile_incidents;
  }
  key += "/" + t.to_string();
  const IncidentScope applied = (kinds & tile_incidents) ? scope : std::nullopt;
  if (applied) key += "#scope=" + std::to_string(static_cast<int>(applied->first)) + ":" + std::to_string(applied->second);
  if (auto hit = m_cache.get(key)) return TileAnswer{hit->body, hit->content_type, hit->etag, 0, true};
  const std::uint64_t generation = m_cache.generation();
  const TimePoint now = m_incidents ? m_incidents->now() : std::chrono::system_clock::now();
  std::string body = render_vector(layers, t, now, applied);
  CachedTile c;
  c.body = std::make_shared<const std::string>(std::move(body));
  c.content_type = k_mvt_type;
  c.etag = fnv_etag(*c.body);
  c.bounds = spatial::tile_bounds_lonlat_buffered(t, m_options.buffer);
  c.kinds = kinds;
  if (kinds & tile_incidents) c.expires = std::chrono::steady_clock::now() + m_options.incident_max_age;
  m_cache.put(key, c, generation);
  return TileAnswer{c.body, c.content_type, c.etag, 0, false};
}

std::string TileService::render_vector(const std::vector<std::string>& layers, const TileId& t, TimePoint now,
                                       const IncidentScope& scope) const {
  GEOSContextHandle_t h = spatial::geos();
  const double extent = m_options.extent;
  const double pad = extent * m_options.buffer;
  TileFrame frame{spatial::tile_bounds_mercator(t), extent};
  const Envelope buffered = spatial::tile_bounds_lonlat_buffered(t, m_options.buffer);
  const Envelope exact = spatial::tile_bounds_lonlat(t);
  const auto snap = m_catalog.snapshot();
  std::string tile;

  auto in_tile = [&](double x, double y) { return x >= 0 && x < extent && y >= 0 && y < extent; };

  for (const auto& layer : layers) {
    if (layer == "grids") {
      std::vector<mvt::LayerBuilder> levels;
      for (int level = 0; level < 5; ++level) {
        levels.emplace_back("grids_" + std::string(to_string(static_cast<Level>(level))), m_options.extent);
      }
      mvt::LayerBuilder labels("grid_labels", m_options.extent);
      std::vector<std::size_t> hits;
      snap->grid_index().query(buffered, hits);
      std::sort(hits.begin(), hits.end());
      // Simplify to a quarter pixel of a 256-pixel tile.
      const double tolerance = extent / 256.0 * 0.25;
      for (std::size_t pos : hits) {
        const GridEntry& e = *snap->grids()[pos];
        const Grid& g = e.grid;
        const int level = static_cast<int>(g.level);
        if (t.z < m_options.level_minzoom[static_cast<std::size_t>(level)]) continue;
        spatial::GeomPtr px = spatial::transform_xy(e.shape.geometry(), [&](double& x, double& y) { frame.to_tile(x, y); });
        spatial::GeomPtr clipped(GEOSClipByRect_r(h, px.get(), -pad, -pad, extent + pad, extent + pad));
        if (!clipped || GEOSisEmpty_r(h, clipped.get())) continue;
        spatial::GeomPtr simple(GEOSTopologyPreserveSimplify_r(h, clipped.get(), tolerance));
        if (!simple) continue;
        spatial::GeomPtr snapped(GEOSGeom_setPrecision_r(h, simple.get(), 1.0, 0));
        if (!snapped || GEOSisEmpty_r(h, snapped.get())) continue;
        mvt::Properties props{{"id", std::int64_t{g.id}},   {"code", g.code},
                              {"name", g.name},            {"level", std::string(to_string(g.level))},
                              {"parent", g.parent_code},   {"worker", worker_of(g)}};
        if (g.households) props.emplace_back("households", std::int64_t{*g.households});
        levels[static_cast<std::size_t>(level)].add(static_cast<std::uint64_t>(g.id), snapped.get(), props);
        // One label point per grid, in the tile that holds it.
        spatial::GeomPtr label(GEOSPointOnSurface_r(h, e.shape.geometry()));
        if (label) {
          double lx = 0, ly = 0;
          GEOSGeomGetX_r(h, label.get(), &lx);
          GEOSGeomGetY_r(h, label.get(), &ly);
          frame.to_tile(lx, ly);
          if (in_tile(lx, ly)) {
            spatial::GeomPtr p = spatial::make_point(lx, ly);
            labels.add(static_cast<std::uint64_t>(g.id), p.get(),
                       {{"id", std::int64_t{g.id}}, {"code", g.code}, {"name", g.name},
                        {"level", std::string(to_string(g.level))}});
          }
        }
      }
      for (const auto& l : levels) l.write_to(tile);
      labels.write_to(tile);
    } else if (layer == "stations") {
      mvt::LayerBuilder stations("stations", m_options.extent);
      for (const auto& s : snap->stations()) {
        if (!buffered.contains(s->lon, s->lat)) continue;
        double x = s->lon, y = s->lat;
        frame.to_tile(x, y);
        spatial::GeomPtr p = spatial::make_point(std::round(x), std::round(y));
        stations.add(static_cast<std::uint64_t>(s->id), p.get(),
                     {{"id", std::int64_t{s->id}}, {"code", s->code}, {"name", s->name}, {"kind", s->kind},
                      {"address", s->address}, {"hours", s->hours}});
      }
      stations.write_to(tile);
    } else if (layer == "incidents" && m_incidents) {
      mvt::LayerBuilder incidents("incidents", m_options.extent);
      // Points from the incident zoom on, unless the tile would hold more
      // than max_incident_points: then aggregated like the low zooms (finer).
      bool aggregate = t.z < m_options.incident_cluster_below;
      storage::IncidentPage page;
      if (!aggregate) {
        storage::IncidentQuery q;
        q.filter.bbox = std::array<double, 4>{buffered.minx, buffered.miny, buffered.maxx, buffered.maxy};
        for (auto st : all_incident_statuses()) {
          if (is_open(st)) q.filter.statuses.push_back(st);
        }
        q.filter.subtree = scope;
        q.limit = m_options.max_incident_points + 1;
        page = m_incidents->list(q, now);
        aggregate = page.items.size() > m_options.max_incident_points;
      }
      if (!aggregate) {
        for (const auto& i : page.items) {
          double x = i.lon, y = i.lat;
          frame.to_tile(x, y);
          spatial::GeomPtr p = spatial::make_point(std::round(x), std::round(y));
          const Category* c = m_incidents->categories().find(i.category);
          const auto created = try_parse_time(i.created_at, 0).value_or(now);
          const double age_h = std::max(0.0, std::chrono::duration<double, std::ratio<3600>>(now - created).count());
          incidents.add(static_cast<std::uint64_t>(i.id), p.get(),
                        {{"id", std::int64_t{i.id}},
                         {"category", i.category},
                         {"category_name", c ? c->name : std::string()},
                         {"group", c ? c->group : std::string()},
                         {"status", std::string(to_string(i.status))},
                         {"colour", std::string(to_string(m_incidents->colour(i, now)))},
                         {"priority", std::string(to_string(i.priority))},
                         {"age_hours", std::round(age_h * 10) / 10},
                         {"grid_code", i.grid_code},
                         {"covered", i.covered}});
        }
      } else {
        // Aggregated: 16 x 16 cells per tile (32 x 32 in a dense tile at the
        // incident zooms), one point per non-empty cell.
        const int cells = t.z < m_options.incident_cluster_below ? 16 : 32;
        const auto clusters =
            m_incidents->clusters({exact.minx, exact.miny, exact.maxx, exact.maxy}, cells, cells, now, scope);
        std::uint64_t n = 0;
        for (const auto& c : clusters) {
          double x = c.lon, y = c.lat;
          frame.to_tile(x, y);
          spatial::GeomPtr p = spatial::make_point(std::round(std::clamp(x, 0.0, extent - 1)),
                                                   std::round(std::clamp(y, 0.0, extent - 1)));
          int worst = 0;
          for (int k = 4; k > 0; --k) {
            if (c.colours[static_cast<std::size_t>(k)] > 0) {
              worst = k;
              break;
            }
          }
          incidents.add(++n, p.get(),
                        {{"cluster", true},
                         {"count", std::int64_t{c.count}},
                         {"overdue", std::int64_t{c.colours[4]}},
                         {"due_today", std::int64_t{c.colours[3]}},
                         {"near_due", std::int64_t{c.colours[2]}},
                         {"on_track", std::int64_t{c.colours[1]}},
                         {"not_dispatched", std::int64_t{c.colours[0]}},
                         {"colour", std::string(to_string(static_cast<Colour>(worst)))}});
        }
      }
      incidents.write_to(tile);
    }
  }
  return tile;
}

}  // namespace gridd::service
