#pragma once
/// @file params.hpp
/// The one grammar of query parameters: every endpoint reads its parameters
/// through these functions, and a bad value is Error(invalid_input) naming
/// the parameter (`field`). An absent parameter is nullopt (or empty), never
/// an error; defaults are the caller's.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gridd/api/types.hpp"
#include "gridd/core/time.hpp"
#include "gridd/spatial/geos.hpp"

namespace gridd::service {
struct Position;  // service/locate.hpp
}  // namespace gridd::service

namespace gridd::api {

/// The value of parameter `name` (the first when repeated), if sent.
std::optional<std::string> param(const Request& r, const std::string& name);

/// A list parameter: comma-separated and repeatable ("status=a,b&status=c"),
/// blanks around the items trimmed, empty items dropped.
std::vector<std::string> param_list(const Request& r, const std::string& name);

/// true|1 or false|0. @throws Error(invalid_input, "invalid_boolean")
std::optional<bool> param_bool(const Request& r, const std::string& name);

/// `text` as a finite number (the grammar of param_double, for values that
/// come from elsewhere, such as form fields). @throws Error(invalid_input, `code`) naming `name`
double parse_number(std::string_view text, const std::string& name, const char* code = "invalid_number");

/// A finite number. @throws Error(invalid_input, "invalid_number")
std::optional<double> param_double(const Request& r, const std::string& name);

/// An integer in [min, max]. @throws Error(invalid_input, `code`, "invalid_integer" by default)
std::optional<std::int64_t> param_int(const Request& r, const std::string& name, std::int64_t min, std::int64_t max,
                                      const char* code = "invalid_integer");

/// How a bbox is read.
struct BboxOptions {
  bool heights = false;  ///< also 6 numbers (minx,miny,minz,maxx,maxy,maxz; the heights are ignored), as OGC API allows
  std::string crs;       ///< the CRS of the numbers as gridd names it (see spatial::crs_transform); empty: WGS84
  bool lat_first = false;  ///< the numbers give latitude before longitude (EPSG:4326 and EPSG:4490 by definition)
};

/// bbox=minx,miny,maxx,maxy (lower corner, then upper corner), as a WGS84
/// envelope: in lon/lat within [-180,180] x [-90,90]; in another CRS, the
/// WGS84 envelope of the box's outline. @throws Error(invalid_input, "invalid_bbox")
std::optional<spatial::Envelope> param_bbox(const Request& r, const BboxOptions& options = {});

/// A position from lon and lat (or x and y) in the CRS of `crs` (WGS84 when
/// absent); nullopt when neither coordinate is sent.
/// @throws Error(invalid_input, "invalid_number" | "missing_parameter") naming the coordinate
std::optional<service::Position> param_position(const Request& r, const std::string& lon = "lon",
                                                const std::string& lat = "lat");

/// An ISO 8601 time; without an offset, in `default_offset_minutes` (China time by default).
/// @throws Error(invalid_input, "invalid_time")
std::optional<TimePoint> param_time(const Request& r, const std::string& name, int default_offset_minutes = 480);

/// An instant or an interval of times (ISO 8601 UTC text).
struct TimeInterval {
  std::optional<std::string> instant;
  std::string from, to;  ///< inclusive; empty: open
  [[nodiscard]] bool any() const { return instant || !from.empty() || !to.empty(); }
  [[nodiscard]] bool contains(const std::string& t) const {
    if (instant) return t == *instant;
    return (from.empty() || t >= from) && (to.empty() || t <= to);
  }
};

/// The OGC API datetime: an RFC 3339 instant, or an interval "start/end"
/// with ".." (or nothing) for an open end; without an offset, UTC.
/// @throws Error(invalid_input, "invalid_datetime")
TimeInterval param_interval(const Request& r, const std::string& name);

/// A path parameter that must be a positive integer id.
std::int64_t path_id(const std::string& text);

/// "http://host" from the Host header (X-Forwarded-Proto decides the
/// scheme), or "" (relative links) without a usable one.
std::string base_url(const Request& r);

/// This request's URL (after `base`) with parameter `name` set to `value`, or
/// dropped when `value` is empty; the other parameters as they came.
std::string url_with(const Request& r, const std::string& base, const std::string& name, const std::string& value);

}  // namespace gridd::api
