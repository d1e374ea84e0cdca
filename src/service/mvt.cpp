#include "gridd/service/mvt.hpp"

#include <protozero/pbf_builder.hpp>
#include <protozero/pbf_writer.hpp>

#include <algorithm>
#include <cmath>

namespace gridd::service::mvt {

namespace {

enum GeomType : std::uint32_t { k_point = 1, k_line = 2, k_polygon = 3 };

using Pt = std::pair<std::int64_t, std::int64_t>;

std::uint32_t command(std::uint32_t id, std::uint32_t count) { return (id & 0x7u) | (count << 3); }
std::uint32_t zigzag(std::int64_t n) { return static_cast<std::uint32_t>((n << 1) ^ (n >> 63)); }

std::vector<Pt> points_of(const GEOSCoordSequence* seq) {
  GEOSContextHandle_t h = spatial::geos();
  unsigned int n = 0;
  GEOSCoordSeq_getSize_r(h, seq, &n);
  std::vector<Pt> out;
  out.reserve(n);
  for (unsigned int i = 0; i < n; ++i) {
    double x = 0, y = 0;
    GEOSCoordSeq_getXY_r(h, seq, i, &x, &y);
    Pt p{std::llround(x), std::llround(y)};
    if (out.empty() || out.back() != p) out.push_back(p);
  }
  return out;
}

/// Twice the signed area (surveyor's formula) of a closed ring in tile coordinates.
std::int64_t twice_area(const std::vector<Pt>& ring) {
  std::int64_t a = 0;
  for (std::size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
    a += ring[j].first * ring[i].second - ring[i].first * ring[j].second;
  }
  return a;
}

struct Encoder {
  std::vector<std::uint32_t> cmds;
  std::int64_t cx = 0, cy = 0;
  void move_to(const Pt& p) {
    cmds.push_back(command(1, 1));
    delta(p);
  }
  void line_to(const std::vector<Pt>& pts, std::size_t from, std::size_t to) {
    if (to <= from) return;
    cmds.push_back(command(2, static_cast<std::uint32_t>(to - from)));
    for (std::size_t i = from; i < to; ++i) delta(pts[i]);
  }
  void close() { cmds.push_back(command(7, 1)); }
  void delta(const Pt& p) {
    cmds.push_back(zigzag(p.first - cx));
    cmds.push_back(zigzag(p.second - cy));
    cx = p.first;
    cy = p.second;
  }
};

int dimension(const GEOSGeometry* g) {
  GEOSContextHandle_t h = spatial::geos();
  switch (GEOSGeomTypeId_r(h, g)) {
    case GEOS_POINT:
    case GEOS_MULTIPOINT: return 0;
    case GEOS_LINESTRING:
    case GEOS_LINEARRING:
    case GEOS_MULTILINESTRING: return 1;
    case GEOS_POLYGON:
    case GEOS_MULTIPOLYGON: return 2;
    default: {
      int best = -1;
      const int n = GEOSGetNumGeometries_r(h, g);
      for (int i = 0; i < n; ++i) best = std::max(best, dimension(GEOSGetGeometryN_r(h, g, i)));
      return best;
    }
  }
}

/// Every point of a point, multipoint or collection, in order.
void collect_points(const GEOSGeometry* g, std::vector<Pt>& out) {
  GEOSContextHandle_t h = spatial::geos();
  if (GEOSisEmpty_r(h, g) == 1) return;
  if (GEOSGeomTypeId_r(h, g) == GEOS_POINT) {
    const auto p = points_of(GEOSGeom_getCoordSeq_r(h, g));
    if (!p.empty()) out.push_back(p.front());
    return;
  }
  const int n = GEOSGetNumGeometries_r(h, g);
  for (int i = 0; i < n; ++i) {
    const GEOSGeometry* part = GEOSGetGeometryN_r(h, g, i);
    if (part != g) collect_points(part, out);
  }
}

/// Encode the parts of dimension `dim`; returns whether anything was written.
bool encode(const GEOSGeometry* g, int dim, Encoder& enc) {
  GEOSContextHandle_t h = spatial::geos();
  const int type = GEOSGeomTypeId_r(h, g);
  if (GEOSisEmpty_r(h, g) == 1) return false;
  bool wrote = false;
  switch (type) {
    case GEOS_POINT:
      if (dim != 0) return false;
      {
        const auto pts = points_of(GEOSGeom_getCoordSeq_r(h, g));
        if (pts.empty()) return false;
        enc.move_to(pts.front());
        return true;
      }
    case GEOS_LINESTRING:
    case GEOS_LINEARRING:
      if (dim != 1) return false;
      {
        const auto pts = points_of(GEOSGeom_getCoordSeq_r(h, g));
        if (pts.size() < 2) return false;
        enc.move_to(pts.front());
        enc.line_to(pts, 1, pts.size());
        return true;
      }
    case GEOS_POLYGON: {
      if (dim != 2) return false;
      const int holes = GEOSGetNumInteriorRings_r(h, g);
      for (int r = -1; r < holes; ++r) {
        const GEOSGeometry* ring = r < 0 ? GEOSGetExteriorRing_r(h, g) : GEOSGetInteriorRingN_r(h, g, r);
        auto pts = points_of(GEOSGeom_getCoordSeq_r(h, ring));
        if (pts.size() > 1 && pts.front() == pts.back()) pts.pop_back();
        if (pts.size() < 3) {
          if (r < 0) return false;  // no exterior: drop the polygon
          continue;
        }
        const std::int64_t a = twice_area(pts);
        if (a == 0) {
          if (r < 0) return false;
          continue;
        }
        // Exterior rings have positive area, interior rings negative.
        if ((r < 0) != (a > 0)) std::reverse(pts.begin(), pts.end());
        enc.move_to(pts.front());
        enc.line_to(pts, 1, pts.size());
        enc.close();
        wrote = true;
      }
      return wrote;
    }
    default: {
      // Multi-part and collections: all the points of a feature go in one
      // MoveTo (MVT 2.1, 4.3.4.2).
      const int n = GEOSGetNumGeometries_r(h, g);
      if (dim == 0) {
        std::vector<Pt> pts;
        collect_points(g, pts);
        if (pts.empty()) return false;
        enc.cmds.push_back(command(1, static_cast<std::uint32_t>(pts.size())));
        for (const auto& p : pts) enc.delta(p);
        return true;
      }
      for (int i = 0; i < n; ++i) wrote = encode(GEOSGetGeometryN_r(h, g, i), dim, enc) || wrote;
      return wrote;
    }
  }
}

}  // namespace

LayerBuilder::LayerBuilder(std::string name, std::uint32_t extent) : m_name(std::move(name)), m_extent(extent) {}

std::uint32_t LayerBuilder::key_index(const std::string& key) {
  auto [it, inserted] = m_key_index.emplace(key, static_cast<std::uint32_t>(m_keys.size()));
  if (inserted) m_keys.push_back(key);
  return it->second;
}

std::uint32_t LayerBuilder::value_index(const Value& value) {
  auto [it, inserted] = m_value_index.emplace(value, static_cast<std::uint32_t>(m_values.size()));
  if (inserted) m_values.push_back(value);
  return it->second;
}

bool LayerBuilder::add(std::uint64_t id, const GEOSGeometry* geometry, const Properties& properties) {
  if (!geometry) return false;
  const int dim = dimension(geometry);
  if (dim < 0) return false;
  Encoder enc;
  if (!encode(geometry, dim, enc)) return false;
  std::string feature;
  protozero::pbf_writer f(feature);
  if (id != 0) f.add_uint64(1, id);
  {
    std::vector<std::uint32_t> tags;
    tags.reserve(properties.size() * 2);
    for (const auto& [k, v] : properties) {
      if (const auto* s = std::get_if<std::string>(&v); s && s->empty()) continue;  // omit empty strings
      if (const auto* d = std::get_if<double>(&v); d && !std::isfinite(*d)) continue;  // no NaN/inf in tiles
      tags.push_back(key_index(k));
      tags.push_back(value_index(v));
    }
    if (!tags.empty()) f.add_packed_uint32(2, tags.begin(), tags.end());
  }
  f.add_enum(3, static_cast<std::int32_t>(dim == 0 ? k_point : dim == 1 ? k_line : k_polygon));
  f.add_packed_uint32(4, enc.cmds.begin(), enc.cmds.end());
  m_features.push_back(std::move(feature));
  return true;
}

void LayerBuilder::write_to(std::string& tile) const {
  if (m_features.empty()) return;
  protozero::pbf_writer t(tile);
  protozero::pbf_writer layer(t, 3);
  layer.add_uint32(15, 2);
  layer.add_string(1, m_name);
  for (const auto& f : m_features) layer.add_message(2, f);
  for (const auto& k : m_keys) layer.add_string(3, k);
  for (const auto& v : m_values) {
    protozero::pbf_writer value(layer, 4);
    if (const auto* s = std::get_if<std::string>(&v)) {
      value.add_string(1, *s);
    } else if (const auto* d = std::get_if<double>(&v)) {
      value.add_double(3, *d);
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
      if (*i >= 0) {
        value.add_uint64(5, static_cast<std::uint64_t>(*i));
      } else {
        value.add_sint64(6, *i);
      }
    } else {
      value.add_bool(7, std::get<bool>(v));
    }
  }
  layer.add_uint32(5, m_extent);
}

}  // namespace gridd::service::mvt
