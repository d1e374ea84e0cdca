#include "gridd/service/basemap.hpp"

#include <gdal_alg.h>
#include <gdal_priv.h>
#include <ogr_geometry.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "gridd/core/error.hpp"
#include "gridd/spatial/tiles.hpp"
#include "gridd/storage/gdal_errors.hpp"

namespace gridd::service {

namespace {

using OgrPtr = std::unique_ptr<OGRGeometry>;

/// A GEOS lon/lat geometry as an OGR geometry in Web Mercator metres.
OgrPtr to_mercator(const GEOSGeometry* g) {
  spatial::GeomPtr m = spatial::transform_xy(g, [](double& x, double& y) {
    double mx = 0, my = 0;
    spatial::lonlat_to_mercator(x, y, mx, my);
    x = mx;
    y = my;
  });
  const std::string wkb = spatial::to_wkb(m.get());
  OGRGeometry* out = nullptr;
  OGRGeometryFactory::createFromWkb(wkb.data(), nullptr, &out, wkb.size());
  return OgrPtr(out);
}

/// A pale colour per street, stable for its code.
std::array<double, 4> pale(const std::string& code) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : code) h = (h ^ c) * 16777619u;
  const double hue = (h % 360) / 60.0;
  const double x = 1 - std::fabs(std::fmod(hue, 2.0) - 1);
  double r = 0, g = 0, b = 0;
  if (hue < 1) { r = 1; g = x; } else if (hue < 2) { r = x; g = 1; } else if (hue < 3) { g = 1; b = x; }
  else if (hue < 4) { g = x; b = 1; } else if (hue < 5) { r = x; b = 1; } else { r = 1; b = x; }
  auto mix = [](double c) { return 225 + c * 25; };  // pastel: close to white
  return {mix(r), mix(g), mix(b), 255};
}

void burn(GDALDataset& ds, const std::vector<OGRGeometry*>& geoms, const std::vector<std::array<double, 4>>& colours,
          bool lines) {
  if (geoms.empty()) return;
  int bands[4] = {1, 2, 3, 4};
  std::vector<double> values;
  for (const auto& c : colours) values.insert(values.end(), c.begin(), c.end());
  const char* opts_lines[] = {"ALL_TOUCHED=TRUE", nullptr};
  std::vector<OGRGeometryH> handles;
  for (auto* g : geoms) handles.push_back(OGRGeometry::ToHandle(g));
  if (GDALRasterizeGeometries(GDALDataset::ToHandle(&ds), 4, bands, static_cast<int>(handles.size()), handles.data(),
                              nullptr, nullptr, values.data(), lines ? const_cast<char**>(opts_lines) : nullptr,
                              nullptr, nullptr) != CE_None) {
    throw Error(ErrorKind::internal, "basemap_failed", std::string("rasterize failed: ") + CPLGetLastErrorMsg());
  }
}

}  // namespace

void render_grid_basemap(const Snapshot& snap, const std::string& path, int max_pixels) {
  if (snap.grids().empty()) throw_invalid("no_grids", "there are no grids to draw a basemap from", "grids");
  GDALAllRegister();
  storage::QuietGdalErrors quiet;
  const spatial::Envelope ll = snap.grid_index().extent();
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  spatial::lonlat_to_mercator(ll.minx, ll.miny, x0, y0);
  spatial::lonlat_to_mercator(ll.maxx, ll.maxy, x1, y1);
  const double pad = 0.04 * std::max(x1 - x0, y1 - y0);
  x0 -= pad;
  y0 -= pad;
  x1 += pad;
  y1 += pad;
  const double res = std::max(x1 - x0, y1 - y0) / max_pixels;
  const int w = std::max(1, static_cast<int>(std::ceil((x1 - x0) / res)));
  const int h = std::max(1, static_cast<int>(std::ceil((y1 - y0) / res)));

  GDALDriver* mem = GetGDALDriverManager()->GetDriverByName("MEM");
  GDALDatasetUniquePtr ds(mem->Create("", w, h, 4, GDT_Byte, nullptr));
  const double gt[6] = {x0, res, 0, y1, 0, -res};
  ds->SetGeoTransform(const_cast<double*>(gt));
  OGRSpatialReference srs;
  srs.importFromEPSG(3857);
  ds->SetSpatialRef(&srs);
  ds->GetRasterBand(1)->SetColorInterpretation(GCI_RedBand);
  ds->GetRasterBand(2)->SetColorInterpretation(GCI_GreenBand);
  ds->GetRasterBand(3)->SetColorInterpretation(GCI_BlueBand);
  ds->GetRasterBand(4)->SetColorInterpretation(GCI_AlphaBand);

  // Group geometries by level.
  std::map<int, std::vector<OgrPtr>> polygons;
  std::map<int, std::vector<OgrPtr>> boundaries;
  std::map<int, std::vector<std::string>> codes;
  GEOSContextHandle_t gh = spatial::geos();
  for (const auto& e : snap.grids()) {
    const int level = static_cast<int>(e->grid.level);
    polygons[level].push_back(to_mercator(e->shape.geometry()));
    codes[level].push_back(e->grid.code);
    spatial::GeomPtr b(GEOSBoundary_r(gh, e->shape.geometry()));
    if (b) boundaries[level].push_back(to_mercator(b.get()));
  }
  auto raw = [](const std::vector<OgrPtr>& v) {
    std::vector<OGRGeometry*> out;
    for (const auto& g : v) {
      if (g) out.push_back(g.get());
    }
    return out;
  };
  // Land: the coarsest level present.
  const int top = polygons.begin()->first;
  burn(*ds, raw(polygons[top]), std::vector<std::array<double, 4>>(polygons[top].size(), {242, 239, 233, 255}), false);
  // Streets (or the second level) in pale colours.
  if (polygons.size() > 1) {
    const int second = std::next(polygons.begin())->first;
    std::vector<std::array<double, 4>> colours;
    for (const auto& c : codes[second]) colours.push_back(pale(c));
    burn(*ds, raw(polygons[second]), colours, false);
  }
  // Boundaries from fine and light to coarse and dark.
  const std::array<double, 4> line_colours[5] = {
      {70, 70, 70, 255}, {120, 110, 130, 255}, {165, 160, 170, 255}, {200, 198, 204, 255}, {215, 214, 218, 255}};
  for (auto it = boundaries.rbegin(); it != boundaries.rend(); ++it) {
    const int level = std::clamp(it->first, 0, 4);
    burn(*ds, raw(it->second), std::vector<std::array<double, 4>>(it->second.size(), line_colours[level]), true);
  }

  GDALDriver* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
  const char* co[] = {"TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=2", nullptr};
  const std::string tmp = path + ".partial";
  {
    GDALDatasetUniquePtr out(gtiff->CreateCopy(tmp.c_str(), ds.get(), FALSE, const_cast<char**>(co), nullptr, nullptr));
    if (!out) throw Error(ErrorKind::internal, "basemap_failed", "cannot write '" + tmp + "': " + CPLGetLastErrorMsg());
  }
  build_overviews(tmp, "average");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw Error(ErrorKind::internal, "basemap_failed", "cannot rename '" + tmp + "' to '" + path + "'");
  }
}

std::vector<int> build_overviews(const std::string& path, const std::string& resampling) {
  GDALAllRegister();
  storage::QuietGdalErrors quiet;
  GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER | GDAL_OF_UPDATE));
  if (!ds) throw_invalid("invalid_raster", "cannot open '" + path + "' for update: " + CPLGetLastErrorMsg(), "file");
  std::vector<int> factors;
  for (int f = 2; std::max(ds->GetRasterXSize(), ds->GetRasterYSize()) / f >= 256 || factors.empty(); f *= 2) {
    factors.push_back(f);
    if (f > 1 << 16) break;
  }
  if (ds->BuildOverviews(resampling.c_str(), static_cast<int>(factors.size()), factors.data(), 0, nullptr, nullptr,
                         nullptr) != CE_None) {
    throw_invalid("overviews_failed", "cannot build overviews of '" + path + "': " + CPLGetLastErrorMsg(), "file");
  }
  return factors;
}

}  // namespace gridd::service
