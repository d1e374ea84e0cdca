#include "gridd/spatial/locate_index.hpp"

#include <nanoflann.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "gridd/core/error.hpp"
#include "gridd/spatial/geodesic.hpp"

namespace gridd::spatial {

namespace {
constexpr double k_deg = 3.14159265358979323846 / 180.0;
}  // namespace

// ---------------------------------------------------------------------------
// Shape
// ---------------------------------------------------------------------------

Shape::Shape(GeomPtr geom) : m_geom(std::move(geom)) {
  m_env = envelope_of(m_geom.get());
  m_prepared.reset(GEOSPrepare_r(geos(), m_geom.get()));
  if (!m_prepared) throw Error(ErrorKind::internal, "geos_failure", "prepare: " + geos_last_error());
  // Force the lazily built point locator and its segment index now, so that
  // concurrent readers later only read.
  const GeomPtr probe = make_point((m_env.minx + m_env.maxx) / 2, (m_env.miny + m_env.maxy) / 2);
  (void)GEOSPreparedIntersects_r(geos(), m_prepared.get(), probe.get());
}

bool Shape::covers(const GEOSGeometry* point) const {
  return GEOSPreparedIntersects_r(geos(), m_prepared.get(), point) == 1;
}

namespace {

/// Squared distance from the origin to segment (ax,ay)-(bx,by).
double origin_segment_d2(double ax, double ay, double bx, double by) {
  const double dx = bx - ax, dy = by - ay;
  const double len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? -(ax * dx + ay * dy) / len2 : 0;
  t = std::clamp(t, 0.0, 1.0);
  const double px = ax + t * dx, py = ay + t * dy;
  return px * px + py * py;
}

/// Calls f(ax, ay, bx, by) for every segment of every ring of a polygonal g.
template <class F>
void for_each_segment(const GEOSGeometry* g, std::vector<double>& buf, F& f) {
  const int t = type_id(g);
  if (t == GEOS_LINEARRING || t == GEOS_LINESTRING) {
    const GEOSCoordSequence* seq = GEOSGeom_getCoordSeq_r(geos(), g);
    unsigned n = 0;
    GEOSCoordSeq_getSize_r(geos(), seq, &n);
    buf.resize(2 * static_cast<std::size_t>(n));
    GEOSCoordSeq_copyToBuffer_r(geos(), seq, buf.data(), 0, 0);
    for (std::size_t i = 0; i + 1 < n; ++i) f(buf[2 * i], buf[2 * i + 1], buf[2 * i + 2], buf[2 * i + 3]);
  } else if (t == GEOS_POLYGON) {
    for_each_segment(GEOSGetExteriorRing_r(geos(), g), buf, f);
    const int holes = GEOSGetNumInteriorRings_r(geos(), g);
    for (int i = 0; i < holes; ++i) for_each_segment(GEOSGetInteriorRingN_r(geos(), g, i), buf, f);
  } else {
    const int n = GEOSGetNumGeometries_r(geos(), g);
    for (int i = 0; i < n; ++i) for_each_segment(GEOSGetGeometryN_r(geos(), g, i), buf, f);
  }
}

}  // namespace

double Shape::distance_m(double lon, double lat) const {
  // Local equirectangular frame centred on the query point: metres east and
  // north. Exact enough for the tens of kilometres an uncovered point can
  // be from the nearest grid of a city.
  const GeomPtr p = make_point(lon, lat);
  if (covers(p.get())) return 0;
  double kx = 0, ky = 0;
  metres_per_degree(lat, kx, ky);
  thread_local std::vector<double> buf;
  double best = std::numeric_limits<double>::infinity();
  auto x_of = [&](double x) {
    double dx = x - lon;
    if (dx > 180) dx -= 360;
    if (dx < -180) dx += 360;
    return dx * kx;
  };
  auto nearer = [&](double ax, double ay, double bx, double by) {
    best = std::min(best, origin_segment_d2(x_of(ax), (ay - lat) * ky, x_of(bx), (by - lat) * ky));
  };
  for_each_segment(m_geom.get(), buf, nearer);
  return std::sqrt(best);
}

// ---------------------------------------------------------------------------
// CoverCells
// ---------------------------------------------------------------------------

namespace {

/// A run of cells [c0, c1] in one row, wholly inside shape `shape`.
struct InsideRun {
  std::uint32_t shape, row, c0, c1;
};

}  // namespace

CoverCells::CoverCells(const std::vector<const Shape*>& shapes) {
  if (shapes.empty() || shapes.size() >= std::numeric_limits<std::uint32_t>::max()) return;
  Envelope ext = shapes.front()->envelope();
  std::vector<double> areas;
  areas.reserve(shapes.size());
  for (const Shape* s : shapes) {
    const Envelope& e = s->envelope();
    ext.minx = std::min(ext.minx, e.minx);
    ext.miny = std::min(ext.miny, e.miny);
    ext.maxx = std::max(ext.maxx, e.maxx);
    ext.maxy = std::max(ext.maxy, e.maxy);
    areas.push_back((e.maxx - e.minx) * (e.maxy - e.miny));
  }
  std::nth_element(areas.begin(), areas.begin() + static_cast<std::ptrdiff_t>(areas.size() / 2), areas.end());
  const double median = areas[areas.size() / 2];
  if (!(median > 0) || !std::isfinite(median) || !std::isfinite(ext.maxx - ext.minx) ||
      !std::isfinite(ext.maxy - ext.miny)) {
    return;
  }
  // About 16 x 16 cells for the median shape, within the cap.
  double size = std::exp2(std::floor(std::log2(std::sqrt(median) / 16)));
  for (;;) {
    m_x0 = std::floor(ext.minx / size) * size;
    m_y0 = std::floor(ext.miny / size) * size;
    const double cols = std::floor((ext.maxx - m_x0) / size) + 1;
    const double rows = std::floor((ext.maxy - m_y0) / size) + 1;
    if (cols * rows <= static_cast<double>(k_max_cells)) {
      m_cols = static_cast<std::size_t>(cols);
      m_rows = static_cast<std::size_t>(rows);
      break;
    }
    size *= 2;
  }
  // Coarser than 3 x 3 cells for the median shape: nearly every cell would
  // be crossed by a boundary; the lattice would only cost memory.
  if (median < 9 * size * size) return;
  m_size = size;
  m_inv = 1 / size;

  // A cell's closed box is "near" a boundary when a boundary point lies
  // within eps of it; eps dwarfs the rounding of the cell arithmetic.
  const double eps = size * 1e-6;
  const std::size_t ncells = m_cols * m_rows;
  std::vector<std::uint8_t> crossed(ncells, 0);
  std::vector<InsideRun> runs;
  std::vector<std::uint8_t> own;
  std::vector<double> buf;
  auto col_of = [&](double x) {
    return static_cast<std::ptrdiff_t>(std::clamp(std::floor((x - m_x0) * m_inv), 0.0, double(m_cols - 1)));
  };
  auto row_of = [&](double y) {
    return static_cast<std::ptrdiff_t>(std::clamp(std::floor((y - m_y0) * m_inv), 0.0, double(m_rows - 1)));
  };
  for (std::size_t si = 0; si < shapes.size(); ++si) {
    const Shape& shape = *shapes[si];
    const Envelope& e = shape.envelope();
    const std::ptrdiff_t c_lo = col_of(e.minx - eps), c_hi = col_of(e.maxx + eps);
    const std::ptrdiff_t r_lo = row_of(e.miny - eps), r_hi = row_of(e.maxy + eps);
    const std::size_t w = static_cast<std::size_t>(c_hi - c_lo + 1);
    own.assign(w * static_cast<std::size_t>(r_hi - r_lo + 1), 0);
    // The cells near this shape's boundary: each segment cut into pieces at
    // most half a cell long, each piece's box (grown by eps) marks the cells
    // it meets. Over-marking only sends more points to GEOS.
    auto mark = [&](double ax, double ay, double bx, double by) {
      const double len = std::max(std::abs(bx - ax), std::abs(by - ay));
      const auto pieces = static_cast<std::size_t>(std::max(1.0, std::ceil(len / (size / 2))));
      for (std::size_t p = 0; p < pieces; ++p) {
        const double t0 = static_cast<double>(p) / static_cast<double>(pieces);
        const double t1 = static_cast<double>(p + 1) / static_cast<double>(pieces);
        const double x0 = ax + (bx - ax) * t0, x1 = p + 1 == pieces ? bx : ax + (bx - ax) * t1;
        const double y0 = ay + (by - ay) * t0, y1 = p + 1 == pieces ? by : ay + (by - ay) * t1;
        const std::ptrdiff_t ca = std::max(c_lo, col_of(std::min(x0, x1) - eps));
        const std::ptrdiff_t cb = std::min(c_hi, col_of(std::max(x0, x1) + eps));
        const std::ptrdiff_t ra = std::max(r_lo, row_of(std::min(y0, y1) - eps));
        const std::ptrdiff_t rb = std::min(r_hi, row_of(std::max(y0, y1) + eps));
        for (std::ptrdiff_t r = ra; r <= rb; ++r) {
          for (std::ptrdiff_t c = ca; c <= cb; ++c) {
            own[static_cast<std::size_t>(r - r_lo) * w + static_cast<std::size_t>(c - c_lo)] = 1;
            crossed[static_cast<std::size_t>(r) * m_cols + static_cast<std::size_t>(c)] = 1;
          }
        }
      }
    };
    for_each_segment(shape.geometry(), buf, mark);
    // Between this shape's boundary cells each run of cells is connected and
    // meets no boundary of it: wholly inside or wholly outside. GEOS decides
    // at the centre of the run's first cell.
    for (std::ptrdiff_t r = r_lo; r <= r_hi; ++r) {
      const std::uint8_t* line = own.data() + static_cast<std::size_t>(r - r_lo) * w;
      std::size_t c = 0;
      while (c < w) {
        if (line[c]) {
          ++c;
          continue;
        }
        const std::size_t start = c;
        while (c < w && !line[c]) ++c;
        const double cx = m_x0 + (static_cast<double>(c_lo + static_cast<std::ptrdiff_t>(start)) + 0.5) * size;
        const double cy = m_y0 + (static_cast<double>(r) + 0.5) * size;
        const GeomPtr p = make_point(cx, cy);
        if (shape.covers(p.get())) {
          runs.push_back({static_cast<std::uint32_t>(si), static_cast<std::uint32_t>(r),
                          static_cast<std::uint32_t>(c_lo + static_cast<std::ptrdiff_t>(start)),
                          static_cast<std::uint32_t>(c_lo + static_cast<std::ptrdiff_t>(c - 1))});
        }
      }
    }
  }

  // Every cell no boundary comes near: the shapes covering it, ascending
  // (runs are in shape order), interned, as many cells share one set.
  std::vector<std::uint32_t> count(ncells + 1, 0);
  for (const InsideRun& run : runs) {
    const std::size_t base = static_cast<std::size_t>(run.row) * m_cols;
    for (std::uint32_t c = run.c0; c <= run.c1; ++c) {
      if (!crossed[base + c]) ++count[base + c + 1];
    }
  }
  for (std::size_t i = 0; i < ncells; ++i) count[i + 1] += count[i];
  std::vector<std::uint32_t> members(count[ncells]);
  {
    std::vector<std::uint32_t> fill(count.begin(), count.end() - 1);
    for (const InsideRun& run : runs) {
      const std::size_t base = static_cast<std::size_t>(run.row) * m_cols;
      for (std::uint32_t c = run.c0; c <= run.c1; ++c) {
        if (!crossed[base + c]) members[fill[base + c]++] = run.shape;
      }
    }
  }
  runs = {};
  m_cells.assign(ncells, 0);
  m_offsets.push_back(0);
  // Sets are keyed by a cell's span of `members` (the first cell seen with them).
  using Span = std::pair<std::uint32_t, std::uint32_t>;  // offset, length
  const auto span_hash = [&](const Span& k) {
    std::size_t h = k.second;
    for (std::uint32_t j = 0; j < k.second; ++j) h = h * 1000003u ^ members[k.first + j];
    return h;
  };
  const auto span_equal = [&](const Span& a, const Span& b) {
    return a.second == b.second && std::equal(members.begin() + a.first, members.begin() + a.first + a.second,
                                              members.begin() + b.first);
  };
  std::unordered_map<Span, std::uint32_t, decltype(span_hash), decltype(span_equal)> sets(64, span_hash, span_equal);
  for (std::size_t i = 0; i < ncells; ++i) {
    if (crossed[i]) continue;
    ++m_pure;
    const Span key{count[i], count[i + 1] - count[i]};
    auto [it, added] = sets.try_emplace(key, static_cast<std::uint32_t>(m_offsets.size()));
    if (added) {
      m_items.insert(m_items.end(), members.begin() + key.first, members.begin() + key.first + key.second);
      m_offsets.push_back(static_cast<std::uint32_t>(m_items.size()));
    }
    m_cells[i] = it->second;
  }
  m_items.shrink_to_fit();
}

const std::uint32_t* CoverCells::lookup(double lon, double lat, std::size_t& count) const noexcept {
  if (m_cells.empty()) return nullptr;
  const double fx = (lon - m_x0) * m_inv, fy = (lat - m_y0) * m_inv;
  if (!(fx >= 0 && fy >= 0 && fx < static_cast<double>(m_cols) && fy < static_cast<double>(m_rows))) return nullptr;
  const std::uint32_t id = m_cells[static_cast<std::size_t>(fy) * m_cols + static_cast<std::size_t>(fx)];
  if (id == 0) return nullptr;
  count = m_offsets[id] - m_offsets[id - 1];
  return m_items.data() + m_offsets[id - 1];
}

// ---------------------------------------------------------------------------
// ShapeIndex
// ---------------------------------------------------------------------------

ShapeIndex::ShapeIndex(const std::vector<const Shape*>& shapes) : m_shapes(shapes) {
  m_ids.resize(m_shapes.size());
  m_tree = GEOSSTRtree_create_r(geos(), 10);
  bool first = true;
  for (std::size_t i = 0; i < m_shapes.size(); ++i) {
    m_ids[i] = i;
    const Envelope& e = m_shapes[i]->envelope();
    const GeomPtr box = make_box(e);
    GEOSSTRtree_insert_r(geos(), m_tree, box.get(), &m_ids[i]);
    if (first) {
      m_extent = e;
      first = false;
    } else {
      m_extent.minx = std::min(m_extent.minx, e.minx);
      m_extent.miny = std::min(m_extent.miny, e.miny);
      m_extent.maxx = std::max(m_extent.maxx, e.maxx);
      m_extent.maxy = std::max(m_extent.maxy, e.maxy);
    }
  }
  // The tree is built on the first query; do it now, single-threaded.
  std::vector<std::size_t> scratch;
  query(m_extent, scratch);
  m_cells = std::make_unique<CoverCells>(m_shapes);
}

ShapeIndex::~ShapeIndex() {
  if (m_tree) GEOSSTRtree_destroy_r(geos(), m_tree);
}

namespace {
void collect(void* item, void* userdata) {
  static_cast<std::vector<std::size_t>*>(userdata)->push_back(*static_cast<std::size_t*>(item));
}
}  // namespace

void ShapeIndex::query(const Envelope& box, std::vector<std::size_t>& out) const {
  if (m_shapes.empty()) return;
  const GeomPtr q = make_box(box);
  GEOSSTRtree_query_r(geos(), m_tree, q.get(), collect, &out);
}

std::vector<std::size_t> ShapeIndex::covering(double lon, double lat) const {
  std::vector<std::size_t> candidates;
  if (m_shapes.empty()) return candidates;
  std::size_t n = 0;
  if (const std::uint32_t* set = m_cells->lookup(lon, lat, n)) return {set, set + n};
  return covering_geos(lon, lat);
}

std::vector<std::size_t> ShapeIndex::covering_geos(double lon, double lat) const {
  std::vector<std::size_t> candidates;
  if (m_shapes.empty()) return candidates;
  const GeomPtr p = make_point(lon, lat);
  GEOSSTRtree_query_r(geos(), m_tree, p.get(), collect, &candidates);
  std::vector<std::size_t> out;
  for (std::size_t i : candidates) {
    if (m_shapes[i]->covers(p.get())) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::pair<std::size_t, double> ShapeIndex::nearest_impl(
    double lon, double lat, const std::function<bool(std::size_t)>& accept) const {
  constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::pair<std::size_t, double> best{npos, std::numeric_limits<double>::infinity()};
  if (m_shapes.empty()) return best;
  // Grow a search box until the best distance found lies within the radius
  // the box is guaranteed to cover; then no shape outside it can be nearer.
  double kx = 0, ky = 0;
  metres_per_degree(lat, kx, ky);
  kx = std::max(kx, ky * 0.01);
  // Start at the scale of the distance to the whole index's extent, so a
  // point far outside the city needs one or two rounds, not a dozen.
  const double ext_dx = std::max({m_extent.minx - lon, 0.0, lon - m_extent.maxx}) * kx;
  const double ext_dy = std::max({m_extent.miny - lat, 0.0, lat - m_extent.maxy}) * ky;
  double radius_m = std::sqrt(ext_dx * ext_dx + ext_dy * ext_dy) * 1.02 + 500;
  std::vector<std::size_t> candidates;
  for (int round = 0; round < 64; ++round) {
    const double dlat = radius_m / ky;
    const double dlon = std::min(360.0, radius_m / kx);
    const Envelope box{lon - dlon, std::max(-90.0, lat - dlat), lon + dlon, std::min(90.0, lat + dlat)};
    candidates.clear();
    query(box, candidates);
    // Visit candidates by the distance to their envelope (a lower bound of
    // the distance to the shape) and stop once it exceeds the best found.
    std::vector<std::pair<double, std::size_t>> order;
    order.reserve(candidates.size());
    for (std::size_t i : candidates) {
      if (!accept(i)) continue;
      const Envelope& e = m_shapes[i]->envelope();
      const double dx = std::max({e.minx - lon, 0.0, lon - e.maxx}) * kx;
      const double dy = std::max({e.miny - lat, 0.0, lat - e.maxy}) * ky;
      order.emplace_back(std::sqrt(dx * dx + dy * dy), i);
    }
    // A min-heap: usually only the first few candidates are measured.
    const auto farther = [](const auto& a, const auto& b) { return a > b; };
    std::make_heap(order.begin(), order.end(), farther);
    while (!order.empty()) {
      std::pop_heap(order.begin(), order.end(), farther);
      const auto [lower, i] = order.back();
      order.pop_back();
      if (lower > best.second * 1.01 + 1) break;  // margin for the frame's approximation
      const double d = m_shapes[i]->distance_m(lon, lat);
      if (d < best.second || (d == best.second && i < best.first)) best = {i, d};
    }
    // The box covers at least `radius_m` (slightly less at the poles of the
    // local frame; the 0.99 keeps a margin for the frame's error).
    if (best.first != npos && best.second <= radius_m * 0.99) return best;
    const bool covers_all = box.minx <= m_extent.minx && box.maxx >= m_extent.maxx &&
                            box.miny <= m_extent.miny && box.maxy >= m_extent.maxy;
    if (covers_all) return best;
    radius_m = best.first != npos ? best.second * 1.05 + 1 : radius_m * 4;
    best = {npos, std::numeric_limits<double>::infinity()};
  }
  return best;
}

// ---------------------------------------------------------------------------
// PointIndex: a k-d tree over unit vectors. Chord length is monotonic in
// great-circle distance, so the tree finds the spherical k nearest exactly;
// the ellipsoid differs from the sphere by under 0.56%, so every point
// whose spherical distance is within (1.0113 x the k-th spherical distance)
// is a candidate, and the exact geodesic distance ranks them.
// ---------------------------------------------------------------------------

namespace {
std::array<double, 3> unit_vector(double lon, double lat) {
  const double l = lon * k_deg, p = lat * k_deg;
  return {std::cos(p) * std::cos(l), std::cos(p) * std::sin(l), std::sin(p)};
}
}  // namespace

struct PointIndex::Tree {
  struct Cloud {
    std::vector<std::array<double, 3>> pts;
    [[nodiscard]] std::size_t kdtree_get_point_count() const { return pts.size(); }
    [[nodiscard]] double kdtree_get_pt(std::size_t i, std::size_t dim) const { return pts[i][dim]; }
    template <class Box>
    bool kdtree_get_bbox(Box&) const {
      return false;
    }
  };
  using KdTree =
      nanoflann::KDTreeSingleIndexAdaptor<nanoflann::L2_Simple_Adaptor<double, Cloud>, Cloud, 3, std::size_t>;
  Cloud cloud;
  std::unique_ptr<KdTree> tree;
};

PointIndex::PointIndex(std::vector<IndexedPoint> points)
    : m_points(std::move(points)), m_tree(std::make_unique<Tree>()) {
  m_tree->cloud.pts.reserve(m_points.size());
  for (const auto& p : m_points) m_tree->cloud.pts.push_back(unit_vector(p.lon, p.lat));
  m_tree->tree = std::make_unique<Tree::KdTree>(3, m_tree->cloud, nanoflann::KDTreeSingleIndexAdaptorParams(10));
  m_tree->tree->buildIndex();
}

PointIndex::~PointIndex() = default;

std::vector<std::pair<std::size_t, double>> PointIndex::nearest(double lon, double lat,
                                                                std::size_t k) const {
  std::vector<std::pair<std::size_t, double>> out;
  if (k == 0 || m_points.empty()) return out;
  k = std::min(k, m_points.size());
  const auto q = unit_vector(lon, lat);
  std::vector<std::size_t> idx(k);
  std::vector<double> d2(k);
  const std::size_t found = m_tree->tree->knnSearch(q.data(), k, idx.data(), d2.data());
  if (found == 0) return out;
  // chord^2 -> central angle; widen by the sphere/ellipsoid bound.
  const double chord = std::sqrt(d2[found - 1]);
  const double angle = std::min(3.14159265358979323846, 2 * std::asin(std::min(1.0, chord / 2)) * 1.0113 + 1e-12);
  const double radius_chord = 2 * std::sin(angle / 2);
  std::vector<std::pair<std::size_t, double>> matches;
  nanoflann::SearchParams params;
  params.sorted = false;
  m_tree->tree->radiusSearch(q.data(), radius_chord * radius_chord + 1e-15, matches, params);
  out.reserve(matches.size());
  for (const auto& [i, unused] : matches) {
    (void)unused;
    out.emplace_back(i, geodesic_distance_m(lon, lat, m_points[i].lon, m_points[i].lat));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second < b.second || (a.second == b.second && a.first < b.first);
  });
  if (out.size() > k) out.resize(k);
  return out;
}

}  // namespace gridd::spatial
