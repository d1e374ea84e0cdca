#include "gridd/storage/store.hpp"

#include "gridd/core/error.hpp"
#include "gridd/storage/gpkg_store.hpp"
#include "gridd/storage/pg_store.hpp"

namespace gridd::storage {

std::unique_ptr<Store> open_store(const std::string& uri) {
  if (uri.empty()) throw_invalid("invalid_store", "the store path is empty", "store");
  if (pg::is_postgres_uri(uri)) return std::make_unique<PgStore>(uri);
  return std::make_unique<GpkgStore>(uri);
}

}  // namespace gridd::storage
