#include "gridd/service/images.hpp"

#include <cpl_vsi.h>
#include <gdal_priv.h>

#include <atomic>

#include "gridd/core/error.hpp"
#include "gridd/storage/gdal_errors.hpp"

namespace gridd::service {

namespace {
struct MediaType {
  const char* driver;
  const char* type;
};
constexpr MediaType k_image_types[] = {
    {"JPEG", "image/jpeg"}, {"PNG", "image/png"}, {"WEBP", "image/webp"}, {"GIF", "image/gif"}};
}  // namespace

ImageInfo inspect_image(const std::string& bytes) {
  static std::atomic<std::uint64_t> counter{0};
  const std::string name = "/vsimem/gridd_image_" + std::to_string(++counter);
  GDALAllRegister();
  storage::QuietGdalErrors quiet;
  // GDAL reads the bytes in place (no copy, not owned).
  VSILFILE* f = VSIFileFromMemBuffer(name.c_str(), reinterpret_cast<GByte*>(const_cast<char*>(bytes.data())),
                                     static_cast<vsi_l_offset>(bytes.size()), FALSE);
  if (f) VSIFCloseL(f);
  ImageInfo info;
  {
    const char* drivers[] = {"JPEG", "PNG", "WEBP", "GIF", nullptr};
    GDALDatasetUniquePtr ds(GDALDataset::Open(name.c_str(), GDAL_OF_RASTER, drivers, nullptr, nullptr));
    if (ds) {
      const std::string driver = ds->GetDriver() ? ds->GetDriver()->GetDescription() : "";
      for (const auto& m : k_image_types) {
        if (driver == m.driver) info.media_type = m.type;
      }
      info.width = ds->GetRasterXSize();
      info.height = ds->GetRasterYSize();
    }
  }
  VSIUnlink(name.c_str());
  if (info.media_type.empty() || info.width <= 0 || info.height <= 0) {
    throw_invalid("not_an_image", "the attachment is not a JPEG, PNG, WebP or GIF image", "body");
  }
  return info;
}

}  // namespace gridd::service
