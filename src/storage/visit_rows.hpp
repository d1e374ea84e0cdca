#pragma once
/// @file visit_rows.hpp
/// The visits table's columns (after `id` and the point `geom`): the
/// GeoPackage layer is created from them, the PostgreSQL schema is checked
/// against them. Private to the storage layer.

#include <span>

#include "incident_rows.hpp"

namespace gridd::storage::rows {

std::span<const Column> visit_columns();
/// The visit_photos table: `id`, then these (`data` last).
std::span<const Column> visit_photo_columns();

}  // namespace gridd::storage::rows
