#include "gridd/storage/store.hpp"

#include "gridd/core/error.hpp"
#include "gridd/storage/gpkg_store.hpp"

namespace gridd::storage {

std::unique_ptr<Store> open_store(const std::string& uri) {
  if (uri.empty()) throw_invalid("invalid_store", "the store path is empty", "store");
  if (uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0 ||
      uri.rfind("PG:", 0) == 0) {
    throw_invalid("unsupported_store",
                  "PostgreSQL/PostGIS stores are not available in this build yet; use a GeoPackage path",
                  "store");
  }
  return std::make_unique<GpkgStore>(uri);
}

}  // namespace gridd::storage
