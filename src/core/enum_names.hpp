#pragma once
// Internal to gridd_core: enums named by a table of strings, indexed by value.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridd/core/error.hpp"

namespace gridd::detail {

template <typename Enum, std::size_t N>
std::optional<Enum> lookup(const std::array<std::string_view, N>& names, std::string_view text) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

/// Every value of an enum named by `names`, in order.
template <typename Enum, std::size_t N>
std::vector<Enum> all_values(const std::array<std::string_view, N>&) {
  std::vector<Enum> v;
  for (std::size_t i = 0; i < N; ++i) v.push_back(static_cast<Enum>(i));
  return v;
}

/// "a, b or c"
template <std::size_t N>
std::string expected_list(const std::array<std::string_view, N>& names) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i) out += i + 1 == N ? " or " : ", ";
    out += names[i];
  }
  return out;
}

/// The enum named `text`, or Error(invalid_input, code) naming the field and the choices.
template <typename Enum, std::size_t N>
Enum parse_named(const std::array<std::string_view, N>& names, std::string_view text, std::string_view field,
                 const char* code, const char* noun) {
  if (auto e = lookup<Enum>(names, text)) return *e;
  throw_invalid(code, "unknown " + std::string(noun) + " '" + std::string(text) + "' (expected " +
                          expected_list(names) + ")",
                std::string(field));
}

}  // namespace gridd::detail
