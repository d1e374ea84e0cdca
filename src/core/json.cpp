#include "gridd/core/json.hpp"

#include <cmath>
#include <cstdint>

#include "gridd/core/error.hpp"

namespace gridd {

namespace {
/// Refuse nesting deeper than k_max_json_depth before parsing (the parser
/// itself is iterative; what comes after it is not). Brackets inside
/// strings do not count; malformed text is left to the parser.
void check_depth(std::string_view text) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > k_max_json_depth) {
        throw_invalid("json_too_deep",
                      "arrays and objects nest deeper than " + std::to_string(k_max_json_depth) + " levels at byte " +
                          std::to_string(i),
                      "body");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}
}  // namespace

Json parse_json_or(std::string_view text, Json fallback) {
  if (text.empty()) return fallback;
  Json j = Json::parse(text.begin(), text.end(), nullptr, false);
  return j.is_discarded() ? fallback : j;
}

Json parse_json(std::string_view text) {
  check_depth(text);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::out_of_range& e) {
    throw_invalid("malformed_json", "a number in the body is out of range (" + std::string(e.what()) + ")", "body");
  } catch (const Json::parse_error& e) {
    throw_invalid("malformed_json",
                  "malformed JSON at byte " + std::to_string(e.byte) + ": " +
                      std::string(e.what()).substr(std::string(e.what()).find(':') + 2),
                  "body");
  }
}

namespace {
std::string member_path(std::string_view where, const char* key) {
  return where.empty() ? std::string(key) : std::string(where) + "/" + key;
}
}  // namespace

std::string json_string(const Json& obj, const char* key, std::string_view where,
                        std::string fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_string()) {
    throw_invalid("invalid_type", std::string("'") + key + "' must be a string", member_path(where, key));
  }
  return it->get<std::string>();
}

std::optional<std::int64_t> json_int(const Json& obj, const char* key, std::string_view where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(u);
  } else if (it->is_number_integer()) {
    return it->get<std::int64_t>();
  }
  if (it->is_number_float()) {
    const double d = it->get<double>();
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    if (std::isfinite(d) && d > -9223372036854775808.0 && d < 9223372036854775808.0 && d == std::trunc(d)) {
      return static_cast<std::int64_t>(d);
    }
  }
  throw_invalid("invalid_type", std::string("'") + key + "' must be an integer", member_path(where, key));
}

std::string join_field(std::string_view where, std::string_view name) {
  return where.empty() ? std::string(name) : std::string(where) + "/" + std::string(name);
}

std::string property_field(std::string_view where, std::string_view name) {
  return join_field(where, "properties/" + std::string(name));
}

}  // namespace gridd
