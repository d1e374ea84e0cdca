#pragma once
/// @file basemap.hpp
/// Raster work for map tiles that GDAL does for gridd: a basemap GeoTIFF
/// drawn from the grids themselves (the demo city ships no imagery: none of
/// a Chinese city is reachable from Debian or npm), and overviews.

#include <string>
#include <vector>

#include "gridd/service/snapshot.hpp"

namespace gridd::service {

/// Draw the snapshot's grids into a Web Mercator GeoTIFF (RGBA, tiled,
/// DEFLATE, with overviews): land inside the top-level grids, each street in
/// its own pale colour, grid, community, street and district boundaries from
/// light to dark, transparent outside. At most `max_pixels` on the long side.
/// @throws Error(invalid_input, "no_grids") or Error(internal) when GDAL fails.
void render_grid_basemap(const Snapshot& snapshot, const std::string& path, int max_pixels = 4096);

/// Build overviews of a raster file in place (factors 2, 4, 8, ... until
/// the smallest is under 256 pixels), like gdaladdo.
/// @returns the factors built. @throws Error(invalid_input) for a file GDAL cannot update.
std::vector<int> build_overviews(const std::string& path, const std::string& resampling = "average");

}  // namespace gridd::service
