#include "gridd/service/coverage.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "gridd/core/error.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geodesic.hpp"

namespace gridd::service {

namespace {

using spatial::GeomPtr;

/// Below this an uncovered remainder is noise of the projection round trip.
constexpr double k_negligible_m2 = 0.01;

struct PreparedHolder {
  const GEOSPreparedGeometry* p = nullptr;
  ~PreparedHolder() {
    if (p) GEOSPreparedGeom_destroy_r(spatial::geos(), p);
  }
};

/// An azimuthal equidistant projection centred on (lon, lat): distances
/// from the centre are exact and, across a city, every distance is within
/// a few parts per million.
std::string local_frame(double lon, double lat) {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "+proj=aeqd +lat_0=%.4f +lon_0=%.4f +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs +type=crs", lat,
                lon);
  return buf;
}

GeomPtr empty_polygon() { return spatial::checked(GEOSGeom_createEmptyPolygon_r(spatial::geos()), "empty polygon"); }

/// A collection of geometries (ownership taken) unioned.
GeomPtr union_all(std::vector<GeomPtr> parts) {
  if (parts.empty()) return empty_polygon();
  auto* ctx = spatial::geos();
  std::vector<GEOSGeometry*> raw;
  raw.reserve(parts.size());
  for (auto& p : parts) raw.push_back(p.release());
  GeomPtr collection = spatial::checked(
      GEOSGeom_createCollection_r(ctx, GEOS_GEOMETRYCOLLECTION, raw.data(), static_cast<unsigned>(raw.size())),
      "collection");
  return spatial::checked(GEOSUnaryUnion_r(ctx, collection.get()), "union of station areas");
}

GeomPtr line_of(const std::vector<LonLat>& pts) {
  auto* ctx = spatial::geos();
  GEOSCoordSequence* seq = GEOSCoordSeq_create_r(ctx, static_cast<unsigned>(pts.size()), 2);
  for (std::size_t i = 0; i < pts.size(); ++i) GEOSCoordSeq_setXY_r(ctx, seq, static_cast<unsigned>(i), pts[i].lon, pts[i].lat);
  return spatial::checked(GEOSGeom_createLineString_r(ctx, seq), "line");
}

/// Compute every lazily cached envelope of g and its parts now, so that
/// later readers on other threads only read.
void settle_envelopes(const GEOSGeometry* g) {
  auto* ctx = spatial::geos();
  double v = 0;
  if (GEOSisEmpty_r(ctx, g) == 1) return;
  GEOSGeom_getXMin_r(ctx, g, &v);
  const int type = GEOSGeomTypeId_r(ctx, g);
  if (type == GEOS_POLYGON) {
    GEOSGeom_getXMin_r(ctx, GEOSGetExteriorRing_r(ctx, g), &v);
    const int holes = GEOSGetNumInteriorRings_r(ctx, g);
    for (int i = 0; i < holes; ++i) GEOSGeom_getXMin_r(ctx, GEOSGetInteriorRingN_r(ctx, g, i), &v);
  } else if (type == GEOS_MULTIPOLYGON || type == GEOS_GEOMETRYCOLLECTION) {
    const int n = GEOSGetNumGeometries_r(ctx, g);
    for (int i = 0; i < n; ++i) settle_envelopes(GEOSGetGeometryN_r(ctx, g, i));
  }
}

bool kind_matches(const std::string& query_kind, const std::string& kind) {
  return query_kind.empty() || query_kind == kind;
}

}  // namespace

std::string_view to_string(CoverageMode mode) noexcept {
  return mode == CoverageMode::network ? "network" : "straight";
}

CoverageMode parse_coverage_mode(std::string_view text, std::string_view field) {
  if (text == "straight") return CoverageMode::straight;
  if (text == "network") return CoverageMode::network;
  throw_invalid("invalid_mode", "mode must be straight or network, got '" + std::string(text) + "'",
                std::string(field));
}

GridSelection select_grids(const Snapshot& snapshot, const std::string& root, std::optional<Level> level,
                           const std::string& root_field, const std::string& level_field) {
  GridSelection out;
  std::vector<const GridEntry*> pool;
  if (!root.empty()) {
    const GridEntry* g = snapshot.grid_by_code(root);
    if (!g && root.size() < 19 && std::all_of(root.begin(), root.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      g = snapshot.grid_by_id(std::stoll(root));
    }
    if (!g) throw_not_found("grid_not_found", "no grid with id or code '" + root + "'", root_field);
    out.root = g;
    if (level && static_cast<int>(*level) <= static_cast<int>(g->grid.level)) {
      throw_invalid("invalid_level",
                    "level " + std::string(to_string(*level)) + " is not finer than the root's level " +
                        std::string(to_string(g->grid.level)),
                    level_field);
    }
    // Descendants, breadth first (a guard against cycles in the parent links).
    std::vector<const GridEntry*> frontier{g};
    for (int depth = 0; depth < 8 && !frontier.empty(); ++depth) {
      std::vector<const GridEntry*> next;
      for (const GridEntry* parent : frontier) {
        for (std::size_t pos : snapshot.children_of(parent->grid.code)) {
          const GridEntry* child = snapshot.grids()[pos].get();
          pool.push_back(child);
          next.push_back(child);
        }
      }
      frontier = std::move(next);
    }
  } else {
    for (const auto& g : snapshot.grids()) pool.push_back(g.get());
  }
  if (level) {
    out.level = *level;
  } else {
    int finest = out.root ? static_cast<int>(out.root->grid.level) : -1;
    for (const GridEntry* g : pool) finest = std::max(finest, static_cast<int>(g->grid.level));
    out.level = finest < 0 ? Level::grid : static_cast<Level>(finest);
  }
  for (const GridEntry* g : pool) {
    if (g->grid.level == out.level) out.grids.push_back(g);
  }
  std::sort(out.grids.begin(), out.grids.end(),
            [](const GridEntry* a, const GridEntry* b) { return a->grid.code < b->grid.code; });
  out.grids.erase(std::unique(out.grids.begin(), out.grids.end()), out.grids.end());
  return out;
}

// ---------------------------------------------------------------------------
// The station cover, cached per (snapshot version, kind, distance, mode, width)
// ---------------------------------------------------------------------------

struct CoverageService::Cover {
  std::uint64_t version = 0;
  std::string kind;
  double distance_m = 0;
  CoverageMode mode = CoverageMode::straight;
  double access_width_m = 0;
  std::string frame;
  GeomPtr area;  ///< in `frame` metres
  std::vector<std::shared_ptr<const StationEntry>> stations;
  std::shared_ptr<const NetworkDistances> distances;  ///< network mode

  [[nodiscard]] bool matches(std::uint64_t v, const CoverageQuery& q) const {
    return version == v && kind == q.kind && distance_m == q.distance_m && mode == q.mode &&
           (mode == CoverageMode::straight || access_width_m == q.access_width_m);
  }
};

CoverageService::CoverageService(Catalog& catalog, const RoadNetwork* network, CoverageOptions options)
    : m_catalog(catalog), m_network(network), m_options(options) {}

CoverageService::~CoverageService() = default;

std::shared_ptr<const CoverageService::Cover> CoverageService::cover(const Snapshot& snapshot,
                                                                     const CoverageQuery& q, bool& hit) const {
  {
    std::lock_guard lock(m_mutex);
    for (auto it = m_cache.begin(); it != m_cache.end(); ++it) {
      if ((*it)->matches(snapshot.version(), q)) {
        auto found = *it;
        m_cache.splice(m_cache.begin(), m_cache, it);
        hit = true;
        return found;
      }
    }
  }
  hit = false;
  auto c = std::make_shared<Cover>();
  c->version = snapshot.version();
  c->kind = q.kind;
  c->distance_m = q.distance_m;
  c->mode = q.mode;
  c->access_width_m = q.access_width_m;
  // The frame is centred on the city (the grids, else the stations), so it
  // does not depend on which grids a query compares.
  const spatial::Envelope& ext = snapshot.grid_index().extent();
  double lon0 = 0, lat0 = 0;
  if (!snapshot.grids().empty()) {
    lon0 = (ext.minx + ext.maxx) / 2;
    lat0 = (ext.miny + ext.maxy) / 2;
  } else if (!snapshot.stations().empty()) {
    lon0 = snapshot.stations().front()->lon;
    lat0 = snapshot.stations().front()->lat;
  }
  c->frame = local_frame(lon0, lat0);
  for (const auto& s : snapshot.stations()) {
    if (kind_matches(q.kind, s->kind)) c->stations.push_back(s);
  }
  auto* ctx = spatial::geos();
  const auto& frame = spatial::crs_transform(c->frame);
  if (q.mode == CoverageMode::straight) {
    std::vector<GeomPtr> discs;
    discs.reserve(c->stations.size());
    for (const auto& s : c->stations) {
      double x = s->lon, y = s->lat;
      frame.from_wgs84(x, y);
      GeomPtr p = spatial::make_point(x, y);
      discs.push_back(spatial::checked(GEOSBuffer_r(ctx, p.get(), q.distance_m, m_options.quadrant_segments),
                                       "station disc"));
    }
    c->area = union_all(std::move(discs));
  } else {
    std::vector<LonLat> sources;
    for (const auto& s : c->stations) sources.push_back({s->lon, s->lat});
    auto d = std::make_shared<NetworkDistances>(m_network->distances(sources));
    const auto pieces = m_network->reachable(*d, q.distance_m);
    if (pieces.empty()) {
      c->area = empty_polygon();
    } else {
      std::vector<GEOSGeometry*> raw;
      raw.reserve(pieces.size());
      for (const auto& piece : pieces) raw.push_back(line_of(piece).release());
      GeomPtr lines = spatial::checked(
          GEOSGeom_createCollection_r(ctx, GEOS_MULTILINESTRING, raw.data(), static_cast<unsigned>(raw.size())),
          "reachable roads");
      GeomPtr projected = spatial::from_wgs84(lines.get(), c->frame);
      c->area = spatial::checked(GEOSBuffer_r(ctx, projected.get(), q.access_width_m, 8), "road strip");
    }
    c->distances = std::move(d);
  }
  settle_envelopes(c->area.get());
  std::shared_ptr<const Cover> out = c;
  std::lock_guard lock(m_mutex);
  // A newer snapshot makes every older cover useless.
  m_cache.remove_if([&](const auto& e) { return e->version != snapshot.version(); });
  m_cache.push_front(out);
  while (m_cache.size() > std::max<std::size_t>(1, m_options.cache_entries)) m_cache.pop_back();
  return out;
}

CoverageResult CoverageService::run(const CoverageQuery& query) const {
  CoverageQuery q = query;
  if (q.kind == "all") q.kind.clear();
  if (!std::isfinite(q.distance_m) || q.distance_m < k_min_coverage_distance_m ||
      q.distance_m > k_max_coverage_distance_m) {
    throw_invalid("distance_out_of_range",
                  "distance must be between " + std::to_string(static_cast<int>(k_min_coverage_distance_m)) +
                      " and " + std::to_string(static_cast<int>(k_max_coverage_distance_m)) + " metres",
                  "distance");
  }
  if (q.mode == CoverageMode::network) {
    if (!m_network) {
      throw_conflict("network_not_loaded",
                     "no road network is loaded (start gridd serve with --roads FILE); use mode=straight",
                     "mode");
    }
    if (!std::isfinite(q.access_width_m) || q.access_width_m < k_min_access_width_m ||
        q.access_width_m > k_max_access_width_m) {
      throw_invalid("access_width_out_of_range",
                    "access_width must be between " + std::to_string(static_cast<int>(k_min_access_width_m)) +
                        " and " + std::to_string(static_cast<int>(k_max_access_width_m)) + " metres",
                    "access_width");
    }
  }
  CoverageResult r;
  r.snapshot = m_catalog.snapshot();
  const Snapshot& snap = *r.snapshot;
  if (!q.kind.empty()) {
    const auto& known = m_catalog.options().station_kinds;
    const bool listed = std::find(known.begin(), known.end(), q.kind) != known.end();
    const bool present = std::any_of(snap.stations().begin(), snap.stations().end(),
                                     [&](const auto& s) { return s->kind == q.kind; });
    if (!listed && !present) {
      std::string names;
      for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
      throw_invalid("invalid_kind", "unknown station kind '" + q.kind + "' (known: " + names + ", or all)", "kind");
    }
  }
  r.selection = select_grids(snap, q.root, q.level);
  r.query = q;
  r.query.level = r.selection.level;

  const auto c = cover(snap, q, r.cache_hit);
  r.frame = c->frame;
  r.stations = c->stations.size();
  auto* ctx = spatial::geos();
  PreparedHolder prepared;
  const bool empty_cover = GEOSisEmpty_r(ctx, c->area.get()) == 1;
  if (!empty_cover) prepared.p = GEOSPrepare_r(ctx, c->area.get());

  r.grids.reserve(r.selection.grids.size());
  for (const GridEntry* g : r.selection.grids) {
    GridCoverage gc;
    gc.grid = g;
    gc.area_m2 = g->area_m2;
    gc.households = g->grid.households;
    const GEOSGeometry* shape = g->shape.geometry();
    // The reference point: the centroid when it lies inside, else a point on the surface.
    {
      GeomPtr centroid = spatial::checked(GEOSGetCentroid_r(ctx, shape), "centroid");
      if (!g->shape.covers(centroid.get())) centroid = spatial::checked(GEOSPointOnSurface_r(ctx, shape), "point on surface");
      GEOSGeomGetX_r(ctx, centroid.get(), &gc.reference.lon);
      GEOSGeomGetY_r(ctx, centroid.get(), &gc.reference.lat);
    }
    if (q.mode == CoverageMode::straight) {
      const auto near = snap.nearest_stations(gc.reference.lon, gc.reference.lat, 1, q.kind);
      if (!near.empty()) {
        gc.nearest = near.front().first;
        gc.nearest_distance_m = near.front().second;
      }
    } else if (const auto near = m_network->nearest_source(*c->distances, gc.reference.lon, gc.reference.lat)) {
      gc.nearest = c->stations[near->first].get();
      gc.nearest_distance_m = near->second;
    }

    bool whole = true;
    if (prepared.p) {
      GeomPtr projected = spatial::from_wgs84(shape, c->frame);
      if (GEOSPreparedCovers_r(ctx, prepared.p, projected.get()) == 1) {
        whole = false;
        gc.uncovered_area_m2 = 0;
      } else if (GEOSPreparedIntersects_r(ctx, prepared.p, projected.get()) == 1) {
        whole = false;
        GEOSGeometry* raw = GEOSDifference_r(ctx, projected.get(), c->area.get());
        if (!raw) {
          // A ring made invalid by the projection round trip: repair it and retry once.
          GeomPtr repaired = spatial::checked(GEOSMakeValid_r(ctx, projected.get()), "repairing a projected grid");
          raw = GEOSDifference_r(ctx, repaired.get(), c->area.get());
        }
        GeomPtr diff = spatial::checked(raw, "uncovered part");
        if (GEOSisEmpty_r(ctx, diff.get()) != 1) {
          GeomPtr back = spatial::to_wgs84(diff.get(), c->frame);
          gc.uncovered_area_m2 = std::min(gc.area_m2, spatial::geodesic_area_m2(back.get()));
          if (gc.uncovered_area_m2 > k_negligible_m2) {
            if (q.with_geometry) gc.uncovered = spatial::as_multi_polygon(std::move(back));
          } else {
            gc.uncovered_area_m2 = 0;
          }
        }
      }
    }
    if (whole) {
      gc.uncovered_area_m2 = gc.area_m2;
      if (q.with_geometry) gc.uncovered = spatial::as_multi_polygon(spatial::clone(shape));
    }
    gc.uncovered_share = gc.area_m2 > 0 ? std::clamp(gc.uncovered_area_m2 / gc.area_m2, 0.0, 1.0) : 0.0;
    if (gc.households) gc.uncovered_households = static_cast<double>(*gc.households) * gc.uncovered_share;

    CoverageTotals& t = r.totals;
    ++t.grids;
    t.area_m2 += gc.area_m2;
    t.uncovered_area_m2 += gc.uncovered_area_m2;
    if (gc.uncovered_area_m2 <= 0) {
      ++t.fully_covered;
    } else if (gc.uncovered_area_m2 >= gc.area_m2 * (1 - 1e-9)) {
      ++t.uncovered;
    } else {
      ++t.partly_covered;
    }
    if (gc.households) {
      t.households += *gc.households;
      t.uncovered_households += *gc.uncovered_households;
    } else {
      ++t.grids_without_households;
    }
    r.grids.push_back(std::move(gc));
  }
  return r;
}

}  // namespace gridd::service
