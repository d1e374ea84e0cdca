#pragma once
/// @file json.hpp
/// Parsing JSON text into gridd::Json with errors that name the problem.

#include <string_view>

#include "gridd/core/model.hpp"

namespace gridd {

/// Parse JSON text. @throws Error(invalid_input, "malformed_json") with the
/// byte offset of the first error in the message.
Json parse_json(std::string_view text);

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
