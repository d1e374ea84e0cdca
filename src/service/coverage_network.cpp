#include "gridd/service/coverage_network.hpp"

#include <gdal_priv.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <queue>

#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/spatial/crs.hpp"
#include "gridd/spatial/geodesic.hpp"
#include "gridd/storage/gdal_errors.hpp"

namespace gridd::service {

namespace {

constexpr double k_inf = std::numeric_limits<double>::infinity();
constexpr double k_cell_m = 250;  // snapping buckets

/// A vertex key quantised to 1e-7 degree (about 1 cm): vertices that close
/// are the same junction.
std::uint64_t vertex_key(double lon, double lat) {
  const auto qx = static_cast<std::int32_t>(std::llround(lon * 1e7));
  const auto qy = static_cast<std::int32_t>(std::llround(lat * 1e7));
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(qx)) << 32) | static_cast<std::uint32_t>(qy);
}

std::uint64_t cell_key(std::int64_t cx, std::int64_t cy) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(static_cast<std::int32_t>(cx))) << 32) |
         static_cast<std::uint32_t>(static_cast<std::int32_t>(cy));
}

double seg_len(const LonLat& a, const LonLat& b) { return spatial::geodesic_distance_m(a.lon, a.lat, b.lon, b.lat); }

LonLat lerp(const LonLat& a, const LonLat& b, double t) { return {a.lon + (b.lon - a.lon) * t, a.lat + (b.lat - a.lat) * t}; }

/// Every line of g (LineString, LinearRing, Multi*, collections), as vertex lists.
void collect_lines(const GEOSGeometry* g, std::vector<std::vector<LonLat>>& out, std::size_t& skipped) {
  auto* ctx = spatial::geos();
  const int type = GEOSGeomTypeId_r(ctx, g);
  if (type == GEOS_LINESTRING || type == GEOS_LINEARRING) {
    const GEOSCoordSequence* seq = GEOSGeom_getCoordSeq_r(ctx, g);
    unsigned int n = 0;
    GEOSCoordSeq_getSize_r(ctx, seq, &n);
    std::vector<LonLat> line;
    line.reserve(n);
    for (unsigned int i = 0; i < n; ++i) {
      LonLat p;
      GEOSCoordSeq_getXY_r(ctx, seq, i, &p.lon, &p.lat);
      if (!std::isfinite(p.lon) || !std::isfinite(p.lat)) continue;
      if (!line.empty() && vertex_key(p.lon, p.lat) == vertex_key(line.back().lon, line.back().lat)) continue;
      line.push_back(p);
    }
    if (line.size() >= 2) out.push_back(std::move(line));
    return;
  }
  if (type == GEOS_MULTILINESTRING || type == GEOS_GEOMETRYCOLLECTION) {
    const int n = GEOSGetNumGeometries_r(ctx, g);
    for (int i = 0; i < n; ++i) collect_lines(GEOSGetGeometryN_r(ctx, g, i), out, skipped);
    return;
  }
  ++skipped;
}

}  // namespace

RoadNetwork::RoadNetwork(const std::vector<spatial::GeomPtr>& lines, Noding noding, std::string description)
    : m_description(std::move(description)) {
  auto* ctx = spatial::geos();
  std::vector<std::vector<LonLat>> polylines;
  if (noding == Noding::crossings) {
    // GEOS noding splits the lines wherever they cross or touch.
    std::vector<GEOSGeometry*> parts;
    std::vector<std::vector<LonLat>> raw;
    for (const auto& g : lines) {
      if (g) collect_lines(g.get(), raw, m_skipped);
    }
    for (const auto& line : raw) {
      GEOSCoordSequence* seq = GEOSCoordSeq_create_r(ctx, static_cast<unsigned>(line.size()), 2);
      for (std::size_t i = 0; i < line.size(); ++i) {
        GEOSCoordSeq_setXY_r(ctx, seq, static_cast<unsigned>(i), line[i].lon, line[i].lat);
      }
      parts.push_back(GEOSGeom_createLineString_r(ctx, seq));
    }
    if (!parts.empty()) {
      spatial::GeomPtr multi = spatial::checked(
          GEOSGeom_createCollection_r(ctx, GEOS_MULTILINESTRING, parts.data(), static_cast<unsigned>(parts.size())),
          "road lines");
      spatial::GeomPtr noded = spatial::checked(GEOSNode_r(ctx, multi.get()), "noding the road network");
      std::size_t ignored = 0;
      collect_lines(noded.get(), polylines, ignored);
    }
  } else {
    for (const auto& g : lines) {
      if (g) collect_lines(g.get(), polylines, m_skipped);
    }
  }
  if (polylines.empty()) {
    throw_invalid("no_road_lines", "the road network has no LineString or MultiLineString", "roads");
  }

  // A vertex is a node when it ends a line or is used more than once.
  std::unordered_map<std::uint64_t, std::uint32_t> uses;
  for (const auto& line : polylines) {
    for (std::size_t i = 0; i < line.size(); ++i) {
      uses[vertex_key(line[i].lon, line[i].lat)] += (i == 0 || i + 1 == line.size()) ? 2 : 1;
    }
  }
  std::unordered_map<std::uint64_t, std::size_t> node_of;
  auto node_id = [&](const LonLat& p) {
    auto [it, inserted] = node_of.emplace(vertex_key(p.lon, p.lat), m_nodes.size());
    if (inserted) m_nodes.push_back(p);
    return it->second;
  };
  for (const auto& line : polylines) {
    std::vector<LonLat> piece{line.front()};
    std::size_t start = node_id(line.front());
    for (std::size_t i = 1; i < line.size(); ++i) {
      piece.push_back(line[i]);
      if (uses[vertex_key(line[i].lon, line[i].lat)] >= 2) {
        const std::size_t end = node_id(line[i]);
        add_edge(piece, start, end);
        piece.assign(1, line[i]);
        start = end;
      }
    }
  }
  if (m_edges.empty()) {
    throw_invalid("no_road_lines", "the road network has no line of non-zero length", "roads");
  }

  // Adjacency (CSR).
  std::vector<std::size_t> degree(m_nodes.size() + 1, 0);
  for (const auto& e : m_edges) {
    ++degree[e.from];
    if (e.to != e.from) ++degree[e.to];
  }
  m_adjacency_start.assign(m_nodes.size() + 1, 0);
  for (std::size_t i = 0; i < m_nodes.size(); ++i) m_adjacency_start[i + 1] = m_adjacency_start[i] + degree[i];
  m_adjacency.assign(m_adjacency_start.back(), 0);
  std::vector<std::size_t> fill(m_adjacency_start.begin(), m_adjacency_start.end() - 1);
  for (std::size_t e = 0; e < m_edges.size(); ++e) {
    m_adjacency[fill[m_edges[e].from]++] = e;
    if (m_edges[e].to != m_edges[e].from) m_adjacency[fill[m_edges[e].to]++] = e;
  }
  build_index();
}

void RoadNetwork::add_edge(const std::vector<LonLat>& polyline, std::size_t from, std::size_t to) {
  Edge e;
  e.from = from;
  e.to = to;
  e.first = m_vertices.size();
  e.count = polyline.size();
  double total = 0;
  for (std::size_t i = 0; i < polyline.size(); ++i) {
    if (i > 0) total += seg_len(polyline[i - 1], polyline[i]);
    m_vertices.push_back(polyline[i]);
    m_cumulative.push_back(total);
    if (m_vertices.size() == 1) {
      m_extent = {polyline[i].lon, polyline[i].lat, polyline[i].lon, polyline[i].lat};
    } else {
      m_extent.minx = std::min(m_extent.minx, polyline[i].lon);
      m_extent.maxx = std::max(m_extent.maxx, polyline[i].lon);
      m_extent.miny = std::min(m_extent.miny, polyline[i].lat);
      m_extent.maxy = std::max(m_extent.maxy, polyline[i].lat);
    }
  }
  if (total <= 0) {  // a degenerate piece: forget its vertices
    m_vertices.resize(e.first);
    m_cumulative.resize(e.first);
    return;
  }
  e.length_m = total;
  m_total_length_m += total;
  m_edges.push_back(e);
}

void RoadNetwork::build_index() {
  double kx = 0, ky = 0;
  spatial::metres_per_degree((m_extent.miny + m_extent.maxy) / 2, kx, ky);
  m_cell_lon = k_cell_m / kx;
  m_cell_lat = k_cell_m / ky;
  m_segment_edge.assign(m_vertices.size(), 0);
  bool first = true;
  for (std::size_t e = 0; e < m_edges.size(); ++e) {
    const Edge& edge = m_edges[e];
    for (std::size_t i = edge.first; i + 1 < edge.first + edge.count; ++i) {
      m_segment_edge[i] = static_cast<std::uint32_t>(e);
      const LonLat a = m_vertices[i], b = m_vertices[i + 1];
      const auto x0 = static_cast<std::int64_t>(std::floor(std::min(a.lon, b.lon) / m_cell_lon));
      const auto x1 = static_cast<std::int64_t>(std::floor(std::max(a.lon, b.lon) / m_cell_lon));
      const auto y0 = static_cast<std::int64_t>(std::floor(std::min(a.lat, b.lat) / m_cell_lat));
      const auto y1 = static_cast<std::int64_t>(std::floor(std::max(a.lat, b.lat) / m_cell_lat));
      for (auto cx = x0; cx <= x1; ++cx) {
        for (auto cy = y0; cy <= y1; ++cy) m_buckets[cell_key(cx, cy)].push_back(static_cast<std::uint32_t>(i));
      }
      if (first) {
        m_min_cx = x0, m_max_cx = x1, m_min_cy = y0, m_max_cy = y1;
        first = false;
      } else {
        m_min_cx = std::min(m_min_cx, x0), m_max_cx = std::max(m_max_cx, x1);
        m_min_cy = std::min(m_min_cy, y0), m_max_cy = std::max(m_max_cy, y1);
      }
    }
  }
}

std::optional<NetworkSnap> RoadNetwork::snap(double lon, double lat) const {
  if (m_edges.empty()) return std::nullopt;
  // Distances in a local frame at the query point (metres per degree there).
  double kx = 0, ky = 0;
  spatial::metres_per_degree(lat, kx, ky);
  const auto qx = static_cast<std::int64_t>(std::floor(lon / m_cell_lon));
  const auto qy = static_cast<std::int64_t>(std::floor(lat / m_cell_lat));
  const double cell_m = std::min(m_cell_lon * kx, m_cell_lat * ky);
  // Start at the ring that reaches the network's cells; stop once no
  // farther ring can hold anything nearer.
  const std::int64_t r0 = std::max<std::int64_t>(
      {0, m_min_cx - qx, qx - m_max_cx, m_min_cy - qy, qy - m_max_cy});
  const std::int64_t r_max = std::max<std::int64_t>({m_max_cx - qx, qx - m_min_cx, m_max_cy - qy, qy - m_min_cy});
  double best = k_inf;
  std::size_t best_seg = 0;
  double best_t = 0;
  auto visit = [&](std::int64_t cx, std::int64_t cy) {
    auto it = m_buckets.find(cell_key(cx, cy));
    if (it == m_buckets.end()) return;
    for (std::uint32_t i : it->second) {
      const LonLat a = m_vertices[i], b = m_vertices[i + 1];
      const double ax = (a.lon - lon) * kx, ay = (a.lat - lat) * ky;
      const double bx = (b.lon - lon) * kx, by = (b.lat - lat) * ky;
      const double dx = bx - ax, dy = by - ay;
      const double len2 = dx * dx + dy * dy;
      double t = len2 > 0 ? -(ax * dx + ay * dy) / len2 : 0;
      t = std::clamp(t, 0.0, 1.0);
      const double px = ax + t * dx, py = ay + t * dy;
      const double d = std::sqrt(px * px + py * py);
      if (d < best || (d == best && i < best_seg)) {
        best = d;
        best_seg = i;
        best_t = t;
      }
    }
  };
  for (std::int64_t r = r0; r <= std::max(r0, r_max); ++r) {
    if (r == 0) {
      visit(qx, qy);
    } else {
      for (std::int64_t k = -r; k <= r; ++k) {
        visit(qx + k, qy - r);
        visit(qx + k, qy + r);
      }
      for (std::int64_t k = -r + 1; k <= r - 1; ++k) {
        visit(qx - r, qy + k);
        visit(qx + r, qy + k);
      }
    }
    if (best <= static_cast<double>(r) * cell_m) break;
  }
  if (!std::isfinite(best)) return std::nullopt;
  NetworkSnap s;
  s.edge = m_segment_edge[best_seg];
  s.point = lerp(m_vertices[best_seg], m_vertices[best_seg + 1], best_t);
  s.offset_m = std::min(m_edges[s.edge].length_m, m_cumulative[best_seg] + seg_len(m_vertices[best_seg], s.point));
  s.access_m = spatial::geodesic_distance_m(lon, lat, s.point.lon, s.point.lat);
  return s;
}

NetworkDistances RoadNetwork::distances(const std::vector<LonLat>& sources) const {
  NetworkDistances d;
  d.sources = sources;
  d.node_distance_m.assign(m_nodes.size(), k_inf);
  d.node_source.assign(m_nodes.size(), -1);
  using Item = std::pair<double, std::size_t>;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> queue;
  auto relax = [&](std::size_t node, double dist, std::int32_t source) {
    if (dist < d.node_distance_m[node] ||
        (dist == d.node_distance_m[node] && source < d.node_source[node])) {
      d.node_distance_m[node] = dist;
      d.node_source[node] = source;
      queue.emplace(dist, node);
    }
  };
  for (std::size_t i = 0; i < sources.size(); ++i) {
    d.snaps.push_back(snap(sources[i].lon, sources[i].lat));
    if (!d.snaps.back()) continue;
    const NetworkSnap& s = *d.snaps.back();
    const Edge& e = m_edges[s.edge];
    relax(e.from, s.access_m + s.offset_m, static_cast<std::int32_t>(i));
    relax(e.to, s.access_m + (e.length_m - s.offset_m), static_cast<std::int32_t>(i));
  }
  while (!queue.empty()) {
    const auto [dist, node] = queue.top();
    queue.pop();
    if (dist > d.node_distance_m[node]) continue;
    for (std::size_t k = m_adjacency_start[node]; k < m_adjacency_start[node + 1]; ++k) {
      const Edge& e = m_edges[m_adjacency[k]];
      const std::size_t other = e.from == node ? e.to : e.from;
      relax(other, dist + e.length_m, d.node_source[node]);
    }
  }
  return d;
}

std::optional<std::pair<std::size_t, double>> RoadNetwork::nearest_source(const NetworkDistances& d, double lon,
                                                                          double lat) const {
  const auto p = snap(lon, lat);
  if (!p) return std::nullopt;
  const Edge& e = m_edges[p->edge];
  double best = k_inf;
  std::int32_t source = -1;
  auto consider = [&](double dist, std::int32_t s) {
    if (s >= 0 && (dist < best || (dist == best && s < source))) {
      best = dist;
      source = s;
    }
  };
  consider(d.node_distance_m[e.from] + p->offset_m, d.node_source[e.from]);
  consider(d.node_distance_m[e.to] + (e.length_m - p->offset_m), d.node_source[e.to]);
  for (std::size_t i = 0; i < d.snaps.size(); ++i) {
    if (d.snaps[i] && d.snaps[i]->edge == p->edge) {
      consider(d.snaps[i]->access_m + std::fabs(d.snaps[i]->offset_m - p->offset_m), static_cast<std::int32_t>(i));
    }
  }
  if (source < 0) return std::nullopt;
  return std::make_pair(static_cast<std::size_t>(source), best + p->access_m);
}

LonLat RoadNetwork::point_at(std::size_t e, double offset_m) const {
  const Edge& edge = m_edges[e];
  const auto begin = m_cumulative.begin() + static_cast<std::ptrdiff_t>(edge.first);
  const auto end = begin + static_cast<std::ptrdiff_t>(edge.count);
  offset_m = std::clamp(offset_m, 0.0, edge.length_m);
  auto it = std::upper_bound(begin, end, offset_m);
  if (it == end) return m_vertices[edge.first + edge.count - 1];
  const std::size_t j = static_cast<std::size_t>(it - m_cumulative.begin());  // first vertex beyond
  const std::size_t i = j - 1;
  const double span = m_cumulative[j] - m_cumulative[i];
  return lerp(m_vertices[i], m_vertices[j], span > 0 ? (offset_m - m_cumulative[i]) / span : 0);
}

std::vector<LonLat> RoadNetwork::cut(std::size_t e, double from_m, double to_m) const {
  const Edge& edge = m_edges[e];
  from_m = std::clamp(from_m, 0.0, edge.length_m);
  to_m = std::clamp(to_m, from_m, edge.length_m);
  std::vector<LonLat> out{point_at(e, from_m)};
  for (std::size_t i = edge.first; i < edge.first + edge.count; ++i) {
    if (m_cumulative[i] > from_m && m_cumulative[i] < to_m) out.push_back(m_vertices[i]);
  }
  out.push_back(point_at(e, to_m));
  return out;
}

std::vector<std::vector<LonLat>> RoadNetwork::reachable(const NetworkDistances& d, double limit_m) const {
  std::vector<std::vector<LonLat>> out;
  // Sources on an edge reach along it in both directions.
  std::unordered_map<std::size_t, std::vector<std::pair<double, double>>> direct;
  for (std::size_t i = 0; i < d.snaps.size(); ++i) {
    if (!d.snaps[i]) continue;
    const NetworkSnap& s = *d.snaps[i];
    const LonLat src = d.sources[i];
    if (s.access_m > 0) {  // the straight access leg, cut where the distance runs out
      if (s.access_m <= limit_m) {
        out.push_back({src, s.point});
      } else {
        out.push_back({src, lerp(src, s.point, limit_m / s.access_m)});
      }
    }
    const double rest = limit_m - s.access_m;
    if (rest > 0) direct[s.edge].emplace_back(s.offset_m - rest, s.offset_m + rest);
  }
  std::vector<std::pair<double, double>> spans;
  for (std::size_t e = 0; e < m_edges.size(); ++e) {
    const Edge& edge = m_edges[e];
    spans.clear();
    const double du = d.node_distance_m[edge.from], dv = d.node_distance_m[edge.to];
    if (du < limit_m) spans.emplace_back(0, limit_m - du);
    if (dv < limit_m) spans.emplace_back(edge.length_m - (limit_m - dv), edge.length_m);
    if (auto it = direct.find(e); it != direct.end()) spans.insert(spans.end(), it->second.begin(), it->second.end());
    if (spans.empty()) continue;
    for (auto& s : spans) {
      s.first = std::max(0.0, s.first);
      s.second = std::min(edge.length_m, s.second);
    }
    std::sort(spans.begin(), spans.end());
    double a = spans.front().first, b = spans.front().second;
    auto emit = [&] {
      if (b > a) out.push_back(cut(e, a, b));
    };
    for (std::size_t k = 1; k < spans.size(); ++k) {
      if (spans[k].first <= b) {
        b = std::max(b, spans[k].second);
      } else {
        emit();
        a = spans[k].first;
        b = spans[k].second;
      }
    }
    emit();
  }
  return out;
}

std::unique_ptr<RoadNetwork> RoadNetwork::load(const std::string& spec) {
  RoadNetworkOptions options;
  std::string path = spec;
  if (const std::size_t q = spec.find('?'); q != std::string::npos && !std::filesystem::exists(spec)) {
    path = spec.substr(0, q);
    for (const auto& kv : split(spec.substr(q + 1), '&')) {
      if (kv.empty()) continue;
      const std::size_t eq = kv.find('=');
      const std::string key = kv.substr(0, eq);
      const std::string value = eq == std::string::npos ? std::string() : kv.substr(eq + 1);
      if (key == "layer") {
        options.layer = value;
      } else if (key == "crs") {
        options.crs = value;
      } else if (key == "noding") {
        if (value == "crossings") {
          options.noding = Noding::crossings;
        } else if (value == "vertices") {
          options.noding = Noding::vertices;
        } else {
          throw_invalid("invalid_roads", "noding must be crossings or vertices, got '" + value + "'", "roads");
        }
      } else {
        throw_invalid("invalid_roads", "unknown roads option '" + key + "' (layer, crs, noding)", "roads");
      }
    }
  }
  return load(path, options);
}

std::unique_ptr<RoadNetwork> RoadNetwork::load(const std::string& path, const RoadNetworkOptions& options) {
  GDALAllRegister();
  GDALDatasetUniquePtr ds;
  {
    storage::QuietGdalErrors quiet;
    ds.reset(GDALDataset::Open(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
  }
  if (!ds) throw_invalid("unreadable_roads", "cannot open '" + path + "' as a vector source", "roads");
  OGRLayer* layer = options.layer.empty() ? ds->GetLayer(0) : ds->GetLayerByName(options.layer.c_str());
  if (!layer) {
    std::string names;
    for (auto* l : ds->GetLayers()) names += (names.empty() ? "" : ", ") + std::string(l->GetName());
    throw_invalid("unknown_layer", "no layer '" + options.layer + "' in '" + path + "' (layers: " + names + ")",
                  "roads");
  }
  std::string crs = options.crs;
  if (crs.empty()) {
    if (const OGRSpatialReference* srs = layer->GetSpatialRef()) {
      const char* auth = srs->GetAuthorityName(nullptr);
      const char* code = srs->GetAuthorityCode(nullptr);
      if (auth && code) {
        crs = std::string(auth) + ":" + code;
      } else {
        char* wkt = nullptr;
        const char* wkt_opts[] = {"FORMAT=WKT2_2019", nullptr};
        srs->exportToWkt(&wkt, wkt_opts);
        crs = wkt ? wkt : "";
        CPLFree(wkt);
      }
    }
  }
  try {
    (void)spatial::crs_transform(crs);
  } catch (const Error& e) {
    throw Error(e.kind(), e.code(), e.what(), "roads");
  }
  std::vector<spatial::GeomPtr> lines;
  std::size_t skipped = 0;
  layer->ResetReading();
  for (auto& feature : *layer) {
    const OGRGeometry* g = feature->GetGeometryRef();
    if (!g || g->IsEmpty()) {
      ++skipped;
      continue;
    }
    const auto flat = wkbFlatten(g->getGeometryType());
    if (flat != wkbLineString && flat != wkbMultiLineString && flat != wkbCircularString &&
        flat != wkbCompoundCurve && flat != wkbMultiCurve) {
      ++skipped;
      continue;
    }
    std::unique_ptr<OGRGeometry> linear(g->hasCurveGeometry() ? g->getLinearGeometry() : g->clone());
    linear->flattenTo2D();
    std::string wkb(linear->WkbSize(), '\0');
    linear->exportToWkb(wkbNDR, reinterpret_cast<unsigned char*>(wkb.data()), wkbVariantIso);
    try {
      lines.push_back(spatial::to_wgs84(spatial::from_wkb(wkb).get(), crs));
    } catch (const Error& e) {
      throw Error(e.kind(), e.code(),
                  std::string(e.what()) + " (road feature " + std::to_string(feature->GetFID()) + ")", "roads");
    }
  }
  if (lines.empty()) {
    throw_invalid("no_road_lines", "layer '" + std::string(layer->GetName()) + "' of '" + path + "' has no lines",
                  "roads");
  }
  const std::string name = std::filesystem::path(path).filename().string() + " (layer " + layer->GetName() + ")";
  auto network = std::make_unique<RoadNetwork>(lines, options.noding, name);
  network->m_skipped += skipped;
  return network;
}

}  // namespace gridd::service
