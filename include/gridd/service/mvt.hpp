#pragma once
/// @file mvt.hpp
/// A Mapbox Vector Tile 2.1 encoder on protozero: layers with deduplicated
/// keys and values, features from GEOS geometries already in tile
/// coordinates (0..extent, y down), polygon rings wound as the
/// specification requires (exterior positive area in tile coordinates).

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gridd/spatial/geos.hpp"

namespace gridd::service::mvt {

using Value = std::variant<std::string, double, std::int64_t, bool>;
using Properties = std::vector<std::pair<std::string, Value>>;

class LayerBuilder {
 public:
  explicit LayerBuilder(std::string name, std::uint32_t extent = 4096);

  /// Add a feature. Coordinates are rounded to integers; degenerate parts
  /// (rings of fewer than three distinct points, lines of one point) are
  /// dropped. Only the parts of the geometry's dominant dimension are kept.
  /// @returns false when nothing of the geometry remained (no feature added).
  bool add(std::uint64_t id, const GEOSGeometry* geometry, const Properties& properties);

  [[nodiscard]] std::size_t size() const noexcept { return m_features.size(); }
  [[nodiscard]] bool empty() const noexcept { return m_features.empty(); }
  [[nodiscard]] const std::string& name() const noexcept { return m_name; }

  /// Append this layer (field 3 of Tile) to an encoded tile. Empty layers
  /// are not written.
  void write_to(std::string& tile) const;

 private:
  std::uint32_t key_index(const std::string& key);
  std::uint32_t value_index(const Value& value);

  std::string m_name;
  std::uint32_t m_extent;
  std::vector<std::string> m_features;  // encoded Feature messages
  std::vector<std::string> m_keys;
  std::map<std::string, std::uint32_t> m_key_index;
  std::vector<Value> m_values;
  std::map<Value, std::uint32_t> m_value_index;
};

}  // namespace gridd::service::mvt
