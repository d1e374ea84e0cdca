#pragma once
// Decoding Mapbox Vector Tiles in the HTTP tests with GDAL's MVT driver (an
// independent reader: the tests never decode with gridd's own writer).

#include <gdal_priv.h>
#include <ogrsf_frmts.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "gridd/spatial/tiles.hpp"

namespace gridd::http_test {

/// Layers of an MVT tile decoded by GDAL: layer -> features' attributes.
inline std::map<std::string, std::vector<std::map<std::string, std::string>>> decode_mvt(const std::string& bytes,
                                                                                 const spatial::TileId& t,
                                                                                 std::map<std::string, OGRwkbGeometryType>* types = nullptr) {
  std::map<std::string, std::vector<std::map<std::string, std::string>>> out;
  if (bytes.empty()) return out;  // a tile without features: valid, and no layer at all
  static int counter = 0;
  const std::string name = "/vsimem/tile_" + std::to_string(++counter) + ".mvt";
  VSILFILE* f = VSIFileFromMemBuffer(name.c_str(), reinterpret_cast<GByte*>(const_cast<char*>(bytes.data())),
                                     static_cast<vsi_l_offset>(bytes.size()), FALSE);
  if (f) VSIFCloseL(f);
  const std::string z = "Z=" + std::to_string(t.z), x = "X=" + std::to_string(t.x), y = "Y=" + std::to_string(t.y);
  const char* drivers[] = {"MVT", nullptr};
  const char* open_options[] = {z.c_str(), x.c_str(), y.c_str(), nullptr};
  {
    GDALDatasetUniquePtr ds(GDALDataset::Open(name.c_str(), GDAL_OF_VECTOR, drivers, open_options, nullptr));
    EXPECT_TRUE(ds) << "GDAL's MVT driver cannot read the tile " << t.to_string();
    if (ds) {
      for (auto* layer : ds->GetLayers()) {
        auto& features = out[layer->GetName()];
        for (auto& feature : *layer) {
          std::map<std::string, std::string> attrs;
          for (int i = 0; i < feature->GetFieldCount(); ++i) {
            if (feature->IsFieldSetAndNotNull(i)) attrs[feature->GetFieldDefnRef(i)->GetNameRef()] = feature->GetFieldAsString(i);
          }
          if (const OGRGeometry* g = feature->GetGeometryRef()) {
            attrs["@type"] = OGRGeometryTypeToName(wkbFlatten(g->getGeometryType()));
            OGREnvelope env;
            g->getEnvelope(&env);
            attrs["@minx"] = std::to_string(env.MinX);
            attrs["@maxx"] = std::to_string(env.MaxX);
          }
          features.push_back(std::move(attrs));
          if (types && feature->GetGeometryRef()) (*types)[layer->GetName()] = wkbFlatten(feature->GetGeometryRef()->getGeometryType());
        }
      }
    }
  }
  VSIUnlink(name.c_str());
  return out;
}

}  // namespace gridd::http_test
