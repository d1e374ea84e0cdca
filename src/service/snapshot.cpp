#include "gridd/service/snapshot.hpp"

#include <algorithm>

#include "gridd/spatial/geodesic.hpp"

namespace gridd::service {

GridEntry::GridEntry(Grid g, spatial::GeomPtr geometry)
    : grid(std::move(g)), shape(std::move(geometry)) {
  grid.wkb.clear();
  grid.wkb.shrink_to_fit();
  area_m2 = spatial::geodesic_area_m2(shape.geometry());
}

Snapshot::Snapshot(std::uint64_t version, std::vector<std::shared_ptr<const GridEntry>> grids,
                   std::vector<std::shared_ptr<const StationEntry>> stations)
    : m_version(version), m_grids(std::move(grids)), m_stations(std::move(stations)) {
  std::sort(m_grids.begin(), m_grids.end(), [](const auto& a, const auto& b) { return a->grid.id < b->grid.id; });
  std::sort(m_stations.begin(), m_stations.end(), [](const auto& a, const auto& b) { return a->id < b->id; });

  m_grid_by_id.reserve(m_grids.size());
  m_grid_by_code.reserve(m_grids.size());
  m_grid_pos.reserve(m_grids.size());
  std::vector<const spatial::Shape*> shapes;
  shapes.reserve(m_grids.size());
  for (std::size_t i = 0; i < m_grids.size(); ++i) {
    const Grid& g = m_grids[i]->grid;
    m_grid_by_id.emplace(g.id, i);
    m_grid_by_code.emplace(g.code, i);
    m_grid_pos.emplace(m_grids[i].get(), i);
    if (!g.parent_code.empty()) m_children[g.parent_code].push_back(i);
    shapes.push_back(&m_grids[i]->shape);
  }
  m_leaf.resize(m_grids.size());
  for (std::size_t i = 0; i < m_grids.size(); ++i) {
    m_leaf[i] = m_children.find(m_grids[i]->grid.code) == m_children.end();
  }
  m_grid_index = std::make_unique<spatial::ShapeIndex>(shapes);

  m_station_by_id.reserve(m_stations.size());
  std::vector<spatial::IndexedPoint> all_points;
  std::unordered_map<std::string, std::vector<spatial::IndexedPoint>> kind_points;
  for (std::size_t i = 0; i < m_stations.size(); ++i) {
    const Station& s = *m_stations[i];
    m_station_by_id.emplace(s.id, i);
    if (!s.code.empty()) m_station_by_code.emplace(s.code, i);
    all_points.push_back({s.lon, s.lat});
    m_all_stations.positions.push_back(i);
    auto& k = m_stations_by_kind[s.kind];
    k.positions.push_back(i);
    kind_points[s.kind].push_back({s.lon, s.lat});
  }
  m_all_stations.index = std::make_unique<spatial::PointIndex>(std::move(all_points));
  for (auto& [kind, idx] : m_stations_by_kind) {
    idx.index = std::make_unique<spatial::PointIndex>(std::move(kind_points[kind]));
  }
}

const GridEntry* Snapshot::grid_by_id(std::int64_t id) const {
  auto it = m_grid_by_id.find(id);
  return it == m_grid_by_id.end() ? nullptr : m_grids[it->second].get();
}

const GridEntry* Snapshot::grid_by_code(const std::string& code) const {
  auto it = m_grid_by_code.find(code);
  return it == m_grid_by_code.end() ? nullptr : m_grids[it->second].get();
}

std::array<std::int64_t, 5> Snapshot::chain_of(const GridEntry& entry) const {
  std::array<std::int64_t, 5> chain{};
  const GridEntry* g = &entry;
  for (int guard = 0; g && guard < 8; ++guard) {
    chain[static_cast<std::size_t>(g->grid.level)] = g->grid.id;
    g = g->grid.parent_code.empty() ? nullptr : grid_by_code(g->grid.parent_code);
  }
  return chain;
}

const std::vector<std::size_t>& Snapshot::children_of(const std::string& code) const {
  static const std::vector<std::size_t> none;
  auto it = m_children.find(code);
  return it == m_children.end() ? none : it->second;
}

std::size_t Snapshot::position_of(const GridEntry* entry) const {
  auto it = m_grid_pos.find(entry);
  return it == m_grid_pos.end() ? static_cast<std::size_t>(-1) : it->second;
}

const StationEntry* Snapshot::station_by_id(std::int64_t id) const {
  auto it = m_station_by_id.find(id);
  return it == m_station_by_id.end() ? nullptr : m_stations[it->second].get();
}

const StationEntry* Snapshot::station_by_code(const std::string& code) const {
  auto it = m_station_by_code.find(code);
  return it == m_station_by_code.end() ? nullptr : m_stations[it->second].get();
}

std::vector<std::pair<const StationEntry*, double>> Snapshot::nearest_stations(
    double lon, double lat, std::size_t k, const std::string& kind) const {
  std::vector<std::pair<const StationEntry*, double>> out;
  const KindIndex* idx = &m_all_stations;
  if (!kind.empty()) {
    auto it = m_stations_by_kind.find(kind);
    if (it == m_stations_by_kind.end()) return out;
    idx = &it->second;
  }
  for (const auto& [i, d] : idx->index->nearest(lon, lat, k)) {
    out.emplace_back(m_stations[idx->positions[i]].get(), d);
  }
  return out;
}

}  // namespace gridd::service
