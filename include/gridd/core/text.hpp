#pragma once
/// @file text.hpp
/// Small text helpers shared by the layers.

#include <string>
#include <string_view>
#include <vector>

namespace gridd {

/// Split at every `sep`, keeping empty parts: split("a,,b", ',') == {"a", "", "b"}; split("", ',') == {""}.
std::vector<std::string> split(std::string_view text, char sep);

}  // namespace gridd
