#pragma once
/// @file params.hpp
/// Typed query-parameter access with errors naming the parameter.

#include <cstdint>
#include <optional>
#include <string>

#include "gridd/api/types.hpp"
#include "gridd/spatial/geos.hpp"

namespace gridd::api {

std::optional<std::string> param(const Request& r, const std::string& name);
std::optional<double> param_double(const Request& r, const std::string& name);
std::optional<std::int64_t> param_int(const Request& r, const std::string& name, std::int64_t min, std::int64_t max);
/// bbox=minx,miny,maxx,maxy in WGS84 lon/lat.
std::optional<spatial::Envelope> param_bbox(const Request& r);
/// A path parameter that must be a positive integer id.
std::int64_t path_id(const std::string& text);

}  // namespace gridd::api
