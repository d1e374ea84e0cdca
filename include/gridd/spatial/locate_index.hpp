#pragma once
/// @file locate_index.hpp
/// Immutable spatial indexes for concurrent queries: polygons in a GEOS
/// STRtree with prepared geometries, points in a k-d tree on the unit
/// sphere refined with geodesic distances. Built once, then read by any
/// number of threads without locks (every lazily built GEOS structure is
/// forced at construction).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "gridd/spatial/geos.hpp"

namespace gridd::spatial {

/// A polygon prepared for point-in-polygon tests from many threads.
class Shape {
 public:
  /// @pre geom is a valid, non-empty Polygon or MultiPolygon in lon/lat.
  explicit Shape(GeomPtr geom);
  Shape(const Shape&) = delete;
  Shape& operator=(const Shape&) = delete;

  /// True when the point is inside or on the boundary.
  [[nodiscard]] bool covers(const GEOSGeometry* point) const;
  /// Distance in metres from a lon/lat point to the polygon (0 when covered),
  /// measured in a local equirectangular frame on the WGS84 radii of
  /// curvature at the point (relative error grows with distance: at most
  /// about 2.5e-5 per km, so under 0.05% at 10 km).
  [[nodiscard]] double distance_m(double lon, double lat) const;

  [[nodiscard]] const Envelope& envelope() const noexcept { return m_env; }
  [[nodiscard]] const GEOSGeometry* geometry() const noexcept { return m_geom.get(); }

 private:
  GeomPtr m_geom;
  PreparedPtr m_prepared;
  Envelope m_env;
};

/// A lattice over the extent of a set of shapes that answers "which shapes
/// cover this point" without any geometry test for most points: a cell that
/// no shape's boundary comes near is wholly inside or wholly outside each
/// shape, so one GEOS test per shape and run of such cells decides it for
/// all of their points, once, at build. Cells a boundary passes through (or
/// comes within a hair of) are left out, and their points take the exact
/// GEOS path. Cells are powers of two of a degree, aligned to multiples of
/// their size, so the lattice of a city stays the same across edits.
class CoverCells {
 public:
  /// Builds nothing (empty()) when the shapes are too small for the lattice
  /// cap to give each of them at least a few cells.
  explicit CoverCells(const std::vector<const Shape*>& shapes);

  /// The shapes covering (lon, lat), ascending, or nullptr when the point's
  /// cell is crossed by a boundary or lies outside the lattice. The span is
  /// [first, first + count).
  [[nodiscard]] const std::uint32_t* lookup(double lon, double lat, std::size_t& count) const noexcept;

  [[nodiscard]] bool empty() const noexcept { return m_cells.empty(); }
  [[nodiscard]] std::size_t cell_count() const noexcept { return m_cells.size(); }
  /// Cells answered without a geometry test.
  [[nodiscard]] std::size_t pure_cells() const noexcept { return m_pure; }
  [[nodiscard]] double cell_size() const noexcept { return m_size; }

  static constexpr std::size_t k_max_cells = std::size_t{1} << 22;

 private:
  double m_x0 = 0, m_y0 = 0, m_size = 0, m_inv = 0;
  std::size_t m_cols = 0, m_rows = 0, m_pure = 0;
  std::vector<std::uint32_t> m_cells;    ///< per cell: 0 = use GEOS, else 1 + the set's index
  std::vector<std::uint32_t> m_offsets;  ///< set i is m_items[m_offsets[i] .. m_offsets[i + 1])
  std::vector<std::uint32_t> m_items;
};

/// STRtree over shapes; items are indices into the vector given at build.
class ShapeIndex {
 public:
  explicit ShapeIndex(const std::vector<const Shape*>& shapes);
  ~ShapeIndex();
  ShapeIndex(const ShapeIndex&) = delete;
  ShapeIndex& operator=(const ShapeIndex&) = delete;

  /// Indices of the shapes whose envelope intersects the box (unordered).
  void query(const Envelope& box, std::vector<std::size_t>& out) const;
  /// Indices of the shapes that cover the point, ascending: from the cell
  /// lattice when the point's cell is clear of boundaries, else from GEOS.
  [[nodiscard]] std::vector<std::size_t> covering(double lon, double lat) const;
  /// The same answer from the STRtree and GEOS alone (tests and benchmarks
  /// hold the lattice to it).
  [[nodiscard]] std::vector<std::size_t> covering_geos(double lon, double lat) const;
  /// The shape nearest to the point among those accepted by `accept`
  /// (index, distance in metres); {npos, inf} when none.
  template <class Accept>
  [[nodiscard]] std::pair<std::size_t, double> nearest(double lon, double lat, Accept accept) const;

  [[nodiscard]] std::size_t size() const noexcept { return m_shapes.size(); }
  [[nodiscard]] const Envelope& extent() const noexcept { return m_extent; }
  /// The lattice that answers covering() for most points without GEOS.
  [[nodiscard]] const CoverCells& cells() const noexcept { return *m_cells; }

 private:
  std::pair<std::size_t, double> nearest_impl(double lon, double lat,
                                              const std::function<bool(std::size_t)>& accept) const;
  std::vector<const Shape*> m_shapes;
  std::vector<std::size_t> m_ids;  // stable addresses handed to the STRtree
  GEOSSTRtree* m_tree = nullptr;
  Envelope m_extent;
  std::unique_ptr<CoverCells> m_cells;
};

template <class Accept>
std::pair<std::size_t, double> ShapeIndex::nearest(double lon, double lat, Accept accept) const {
  return nearest_impl(lon, lat, std::function<bool(std::size_t)>(accept));
}

/// A point with its lon/lat.
struct IndexedPoint {
  double lon = 0;
  double lat = 0;
};

/// k nearest points by geodesic distance.
class PointIndex {
 public:
  explicit PointIndex(std::vector<IndexedPoint> points);
  ~PointIndex();
  PointIndex(const PointIndex&) = delete;
  PointIndex& operator=(const PointIndex&) = delete;

  /// Up to k (index, metres) pairs sorted by geodesic distance, ties by index.
  [[nodiscard]] std::vector<std::pair<std::size_t, double>> nearest(double lon, double lat,
                                                                    std::size_t k) const;
  [[nodiscard]] std::size_t size() const noexcept { return m_points.size(); }

 private:
  struct Tree;
  std::vector<IndexedPoint> m_points;
  std::unique_ptr<Tree> m_tree;
};

}  // namespace gridd::spatial
