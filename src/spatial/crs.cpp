#include "gridd/spatial/crs.hpp"

#include <proj.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <unordered_map>

#include "gridd/core/error.hpp"
#include "gridd/spatial/chinese_coords.hpp"

namespace gridd::spatial {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

[[noreturn]] void out_of_range(double x, double y) {
  throw_invalid("coordinate_out_of_range",
                "coordinate (" + std::to_string(x) + ", " + std::to_string(y) +
                    ") cannot be transformed in the given CRS",
                "coordinates");
}

class Wgs84 final : public CrsTransform {
 public:
  void to_wgs84(double&, double&) const override {}
  void from_wgs84(double&, double&) const override {}
  [[nodiscard]] bool is_wgs84() const noexcept override { return true; }
};

class Gcj02 final : public CrsTransform {
 public:
  void to_wgs84(double& x, double& y) const override {
    check_lon_lat(x, y, "coordinates");
    const LonLat p = gcj02_to_wgs84({x, y});
    x = p.lon;
    y = p.lat;
  }
  void from_wgs84(double& x, double& y) const override {
    const LonLat p = wgs84_to_gcj02({x, y});
    x = p.lon;
    y = p.lat;
  }
};

class Bd09 final : public CrsTransform {
 public:
  void to_wgs84(double& x, double& y) const override {
    check_lon_lat(x, y, "coordinates");
    const LonLat p = bd09_to_wgs84({x, y});
    x = p.lon;
    y = p.lat;
  }
  void from_wgs84(double& x, double& y) const override {
    const LonLat p = wgs84_to_bd09({x, y});
    x = p.lon;
    y = p.lat;
  }
};

/// One PROJ context per thread, released at thread exit.
struct ProjContext {
  PJ_CONTEXT* ctx = proj_context_create();
  ~ProjContext() { proj_context_destroy(ctx); }
};
PJ_CONTEXT* proj_ctx() {
  thread_local ProjContext holder;
  return holder.ctx;
}

class ProjTransform final : public CrsTransform {
 public:
  ProjTransform(PJ* pj, bool geographic, bool wgs84) : m_pj(pj), m_geographic(geographic), m_wgs84(wgs84) {}
  ~ProjTransform() override { proj_destroy(m_pj); }
  ProjTransform(const ProjTransform&) = delete;
  ProjTransform& operator=(const ProjTransform&) = delete;

  void to_wgs84(double& x, double& y) const override {
    const double x0 = x, y0 = y;
    apply(PJ_FWD, x, y);
    if (!m_geographic) {
      // Outside a projection's domain PROJ may still answer (clamped to a
      // pole, say); a position that does not convert back is rejected.
      double bx = x, by = y;
      apply(PJ_INV, bx, by);
      const double tolerance = 1e-3 + 1e-9 * std::max(std::fabs(x0), std::fabs(y0));
      if (std::fabs(bx - x0) > tolerance || std::fabs(by - y0) > tolerance) out_of_range(x0, y0);
    }
  }
  void from_wgs84(double& x, double& y) const override { apply(PJ_INV, x, y); }
  [[nodiscard]] bool is_geographic() const noexcept override { return m_geographic; }
  [[nodiscard]] bool is_wgs84() const noexcept override { return m_wgs84; }

 private:
  void apply(PJ_DIRECTION dir, double& x, double& y) const {
    if (!std::isfinite(x) || !std::isfinite(y)) out_of_range(x, y);
    PJ_COORD c = proj_coord(x, y, 0, 0);
    proj_errno_reset(m_pj);
    const PJ_COORD r = proj_trans(m_pj, dir, c);
    if (proj_errno(m_pj) != 0 || !std::isfinite(r.xy.x) || !std::isfinite(r.xy.y) ||
        r.xy.x == HUGE_VAL) {
      proj_errno_reset(m_pj);
      out_of_range(x, y);
    }
    x = r.xy.x;
    y = r.xy.y;
  }
  PJ* m_pj;
  bool m_geographic;
  bool m_wgs84;
};

std::unique_ptr<CrsTransform> make_transform(std::string_view crs) {
  const std::string key = lower(crs);
  if (key.empty() || key == "epsg:4326" || key == "wgs84" || key == "crs84" || key == "ogc:crs84" ||
      key == "http://www.opengis.net/def/crs/ogc/1.3/crs84" || key == "4326") {
    return std::make_unique<Wgs84>();
  }
  if (key == "gcj02" || key == "gcj-02") return std::make_unique<Gcj02>();
  if (key == "bd09" || key == "bd-09" || key == "bd09ll") return std::make_unique<Bd09>();

  PJ_CONTEXT* ctx = proj_ctx();
  const std::string text(crs);
  PJ* source = proj_create(ctx, text.c_str());
  if (!source || !proj_is_crs(source)) {
    if (source) proj_destroy(source);
    throw_invalid("unknown_crs", "unknown or unsupported CRS '" + text + "'", "crs");
  }
  const PJ_TYPE type = proj_get_type(source);
  const bool geographic =
      type == PJ_TYPE_GEOGRAPHIC_2D_CRS || type == PJ_TYPE_GEOGRAPHIC_3D_CRS;
  PJ* target = proj_create(ctx, "EPSG:4326");
  PJ* raw = proj_create_crs_to_crs_from_pj(ctx, source, target, nullptr, nullptr);
  proj_destroy(target);
  proj_destroy(source);
  if (!raw) throw_invalid("unknown_crs", "no transformation from '" + text + "' to WGS84", "crs");
  PJ* norm = proj_normalize_for_visualization(ctx, raw);
  proj_destroy(raw);
  if (!norm) throw_invalid("unknown_crs", "cannot normalise axis order of '" + text + "'", "crs");
  return std::make_unique<ProjTransform>(norm, geographic, false);
}

}  // namespace

void check_lon_lat(double lon, double lat, std::string_view field) {
  if (!std::isfinite(lon) || !std::isfinite(lat) || lon < -180 || lon > 180 || lat < -90 ||
      lat > 90) {
    throw_invalid("coordinate_out_of_range",
                  "longitude/latitude (" + std::to_string(lon) + ", " + std::to_string(lat) +
                      ") out of range [-180,180] x [-90,90]",
                  std::string(field));
  }
}

const CrsTransform& crs_transform(std::string_view crs) {
  thread_local std::unordered_map<std::string, std::unique_ptr<CrsTransform>> cache;
  const std::string key(crs);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  if (cache.size() > 256) cache.clear();  // bound the cache against hostile input
  auto t = make_transform(crs);
  return *cache.emplace(key, std::move(t)).first->second;
}

GeomPtr to_wgs84(const GEOSGeometry* g, std::string_view crs) {
  const CrsTransform& t = crs_transform(crs);
  if (t.is_wgs84()) return clone(g);
  return transform_xy(g, [&t](double& x, double& y) { t.to_wgs84(x, y); });
}

GeomPtr from_wgs84(const GEOSGeometry* g, std::string_view crs) {
  const CrsTransform& t = crs_transform(crs);
  if (t.is_wgs84()) return clone(g);
  return transform_xy(g, [&t](double& x, double& y) { t.from_wgs84(x, y); });
}

}  // namespace gridd::spatial
