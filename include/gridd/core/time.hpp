#pragma once
/// @file time.hpp
/// Instants as gridd writes and reads them: ISO 8601 in UTC with
/// milliseconds ("2026-11-22T02:15:00.123Z"), which sorts as text, and the
/// forms people type (a date, a local time, an offset).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace gridd {

using TimePoint = std::chrono::system_clock::time_point;

/// "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds, truncated).
std::string format_iso8601(TimePoint t);

/// Parse "YYYY-MM-DD", "YYYY-MM-DDTHH:MM", "...:SS", "...:SS.fff" (a space
/// may replace the T), each optionally followed by "Z" or "+HH:MM"/"-HH:MM".
/// A time without a zone is local time at `default_offset_minutes` (China
/// Standard Time by default); a bare date is local midnight.
std::optional<TimePoint> try_parse_time(std::string_view text, int default_offset_minutes = 480);

/// Like try_parse_time but @throws Error(invalid_input, "invalid_time") naming `field`.
TimePoint parse_time(std::string_view text, std::string_view field, int default_offset_minutes = 480);

/// The first instant of the next local day after `now` (local = UTC + offset).
TimePoint local_day_end(TimePoint now, int utc_offset_minutes = 480);

/// The local calendar date of `t` ("YYYY-MM-DD").
std::string local_date(TimePoint t, int utc_offset_minutes = 480);

}  // namespace gridd
