#pragma once
/// @file sql_value.hpp
/// A value bound to an SQL parameter, the same for both stores: SQLite binds
/// it natively, PostgreSQL sends it as text and the statement casts it.
/// Private to the storage layer.

#include <cstdint>
#include <string>
#include <variant>

namespace gridd::storage {

/// Bytes bound as a blob (SQLite) or bytea (PostgreSQL); a plain std::string is text.
struct Blob {
  std::string bytes;
};

/// NULL, an integer (booleans are 0 and 1), a double, text or bytes.
using SqlValue = std::variant<std::nullptr_t, std::int64_t, double, std::string, Blob>;

/// NULL for an empty text.
inline SqlValue opt_text(const std::string& s) { return s.empty() ? SqlValue(nullptr) : SqlValue(s); }
/// NULL for an absent id (0).
inline SqlValue opt_id(std::int64_t id) { return id == 0 ? SqlValue(nullptr) : SqlValue(id); }

}  // namespace gridd::storage
