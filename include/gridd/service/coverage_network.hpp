#pragma once
/// @file coverage_network.hpp
/// A walking network for station coverage: any OGR line layer turned into a
/// graph (nodes at line ends and at vertices shared by lines, optionally at
/// crossings too), edges weighted by their geodesic length. Stations are
/// snapped to the nearest point of the network (the straight access leg is
/// added to their distance); one multi-source Dijkstra labels every node
/// with its nearest station; the reachable parts of the edges, cut where
/// the remaining distance runs out, are what a coverage query buffers.
///
/// Immutable once built: any number of threads may query it.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "gridd/spatial/geos.hpp"

namespace gridd::service {

/// How lines become a graph.
enum class Noding {
  crossings,  ///< lines are joined where they cross or touch (GEOS noding), and at shared vertices
  vertices    ///< lines are joined only at shared vertices (bridges over roads stay apart)
};

struct RoadNetworkOptions {
  std::string layer;  ///< the layer to read (default: the first)
  std::string crs;    ///< source CRS when the file has none or it is wrong (EPSG:4549, gcj02, ...)
  Noding noding = Noding::crossings;
};

/// A lon/lat position.
struct LonLat {
  double lon = 0;
  double lat = 0;
};

/// Where a position meets the network: the nearest point of an edge.
struct NetworkSnap {
  std::size_t edge = 0;
  double offset_m = 0;  ///< along the edge from its first node
  LonLat point;         ///< the nearest point of the network
  double access_m = 0;  ///< geodesic length of the straight leg from the position to `point`
};

/// The answer of a multi-source search: every node's distance to the
/// nearest source (infinity when unreachable) and which source that is.
struct NetworkDistances {
  std::vector<double> node_distance_m;
  std::vector<std::int32_t> node_source;  ///< index into `sources`, -1 when unreachable
  std::vector<LonLat> sources;            ///< the positions searched from
  std::vector<std::optional<NetworkSnap>> snaps;  ///< per source; empty when the network is empty
};

class RoadNetwork {
 public:
  /// Build from LineString / MultiLineString geometries in WGS84 lon/lat
  /// (other geometry types are skipped and counted).
  /// @throws Error(invalid_input, "no_road_lines") when there is no line at all.
  RoadNetwork(const std::vector<spatial::GeomPtr>& lines, Noding noding = Noding::crossings,
              std::string description = {});

  /// Load any OGR line layer: "FILE" or "FILE?layer=NAME&crs=CRS&noding=crossings|vertices".
  /// @throws Error(invalid_input) naming "roads" for an unreadable file, an
  /// unknown layer or CRS, or a layer without lines.
  static std::unique_ptr<RoadNetwork> load(const std::string& spec);
  static std::unique_ptr<RoadNetwork> load(const std::string& path, const RoadNetworkOptions& options);

  [[nodiscard]] std::size_t node_count() const noexcept { return m_nodes.size(); }
  [[nodiscard]] std::size_t edge_count() const noexcept { return m_edges.size(); }
  [[nodiscard]] double total_length_m() const noexcept { return m_total_length_m; }
  [[nodiscard]] std::size_t skipped_features() const noexcept { return m_skipped; }
  [[nodiscard]] const spatial::Envelope& extent() const noexcept { return m_extent; }
  [[nodiscard]] const std::string& description() const noexcept { return m_description; }
  [[nodiscard]] LonLat node(std::size_t i) const { return m_nodes[i]; }
  /// The two nodes and the length of edge `e`.
  [[nodiscard]] std::size_t edge_from(std::size_t e) const { return m_edges[e].from; }
  [[nodiscard]] std::size_t edge_to(std::size_t e) const { return m_edges[e].to; }
  [[nodiscard]] double edge_length_m(std::size_t e) const { return m_edges[e].length_m; }

  /// The nearest point of the network to a position; nullopt when the
  /// network has no edge.
  [[nodiscard]] std::optional<NetworkSnap> snap(double lon, double lat) const;

  /// One multi-source Dijkstra from the sources (each snapped, its access
  /// leg added) over the whole network.
  [[nodiscard]] NetworkDistances distances(const std::vector<LonLat>& sources) const;

  /// The network distance from a position to its nearest source (snapped
  /// the same way, access legs on both ends) and that source's index;
  /// nullopt when no source is reachable.
  [[nodiscard]] std::optional<std::pair<std::size_t, double>> nearest_source(const NetworkDistances& d, double lon,
                                                                             double lat) const;

  /// The parts of the network (and of the sources' access legs) within
  /// `limit_m` of a source, as lon/lat polylines; an edge reached only in
  /// part is cut at the remaining distance.
  [[nodiscard]] std::vector<std::vector<LonLat>> reachable(const NetworkDistances& d, double limit_m) const;

  /// The point at `offset_m` along edge `e`, and the polyline between two offsets.
  [[nodiscard]] LonLat point_at(std::size_t e, double offset_m) const;
  [[nodiscard]] std::vector<LonLat> cut(std::size_t e, double from_m, double to_m) const;

 private:
  struct Edge {
    std::size_t from = 0, to = 0;
    std::size_t first = 0, count = 0;  ///< vertices in m_vertices / m_cumulative
    double length_m = 0;
  };
  void add_edge(const std::vector<LonLat>& polyline, std::size_t from, std::size_t to);
  void build_index();

  std::vector<LonLat> m_nodes;
  std::vector<Edge> m_edges;
  std::vector<LonLat> m_vertices;
  std::vector<double> m_cumulative;  ///< metres from the edge's first vertex
  std::vector<std::size_t> m_adjacency_start;  ///< CSR: per node, into m_adjacency
  std::vector<std::size_t> m_adjacency;        ///< edge ids
  // Segment buckets for snapping: cells of m_cell degrees, key = (cx, cy).
  double m_cell_lon = 0, m_cell_lat = 0;
  std::unordered_map<std::uint64_t, std::vector<std::uint32_t>> m_buckets;  ///< segment = vertex index of its start
  std::vector<std::uint32_t> m_segment_edge;  ///< per vertex: its edge (for segment lookups)
  std::int64_t m_min_cx = 0, m_min_cy = 0, m_max_cx = 0, m_max_cy = 0;
  spatial::Envelope m_extent;
  double m_total_length_m = 0;
  std::size_t m_skipped = 0;
  std::string m_description;
};

}  // namespace gridd::service
