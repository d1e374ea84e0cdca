#pragma once
/// @file json.hpp
/// Parsing JSON text into gridd::Json with errors that name the problem.

#include <cstddef>
#include <string_view>

#include "gridd/core/model.hpp"

namespace gridd {

/// The deepest nesting of arrays and objects parse_json accepts. Copying,
/// writing and reading GeoJSON are recursive; without a bound a body of a
/// few hundred kilobytes of '[' would overflow a server thread's stack.
inline constexpr std::size_t k_max_json_depth = 128;

/// Parse JSON text. @throws Error(invalid_input, "malformed_json") with the
/// byte offset of the first error in the message, or
/// Error(invalid_input, "json_too_deep") when arrays and objects nest deeper
/// than k_max_json_depth.
Json parse_json(std::string_view text);

/// JSON text a store wrote, or `fallback` when it is empty or not JSON.
Json parse_json_or(std::string_view text, Json fallback);

/// Typed member access with errors naming the field (JSON pointer style).
/// Missing or null members return the fallback; a wrong type throws.
std::string json_string(const Json& obj, const char* key, std::string_view where,
                        std::string fallback = {});
std::optional<std::int64_t> json_int(const Json& obj, const char* key, std::string_view where);

/// The field of an error: "where/name", or just "name" when where is empty.
std::string join_field(std::string_view where, std::string_view name);
/// The field of a feature property: "properties/<name>" under `where`.
std::string property_field(std::string_view where, std::string_view name);

}  // namespace gridd
