#pragma once
/// @file images.hpp
/// What a photo is, as GDAL reads it: only real raster images of the photo
/// formats (JPEG, PNG, WebP, GIF) pass, whatever their file name claims.

#include <string>

namespace gridd::service {

struct ImageInfo {
  std::string media_type;  ///< image/jpeg, image/png, image/webp, image/gif
  int width = 0;
  int height = 0;
};

/// @throws Error(invalid_input, "not_an_image")
ImageInfo inspect_image(const std::string& bytes);

}  // namespace gridd::service
