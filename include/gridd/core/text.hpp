#pragma once
/// @file text.hpp
/// Small text helpers shared by the layers.

#include <string>
#include <string_view>
#include <vector>

namespace gridd {

/// Split at every `sep`, keeping empty parts: split("a,,b", ',') == {"a", "", "b"}; split("", ',') == {""}.
std::vector<std::string> split(std::string_view text, char sep);

/// `text` without the blanks (spaces and tabs) at either end.
std::string_view trim(std::string_view text) noexcept;

/// `text` with ASCII letters in lower case.
std::string to_lower(std::string_view text);

/// True for a non-empty string of ASCII digits (a numeric code such as the national 15-digit grid code).
bool all_digits(std::string_view text) noexcept;

/// True for 1..max characters of [a-z0-9_] (a channel, a visit kind, ...).
bool is_token(std::string_view text, std::size_t max) noexcept;

/// @throws Error(too_large, "text_too_long") naming `field` when `value` is longer than `max` bytes.
void check_length(std::string_view value, std::size_t max, const std::string& field);
/// check_length, and no control characters (a NUL, a line break: a name or a
/// phone is one line). @throws Error(invalid_input, "invalid_text") naming `field`.
void check_line(std::string_view value, std::size_t max, const std::string& field);

/// ASCII case-insensitive equality (HTTP header names, media types, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Position of `needle` in `text` ignoring ASCII case, or npos.
std::size_t ifind(std::string_view text, std::string_view needle) noexcept;

}  // namespace gridd
