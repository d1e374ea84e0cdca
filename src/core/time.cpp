#include "gridd/core/time.hpp"

#include <charconv>
#include <cstdio>

#include "gridd/core/error.hpp"

namespace gridd {

namespace {

using namespace std::chrono;

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

std::string format_iso8601(TimePoint t) {
  const auto ms_total = floor<milliseconds>(t.time_since_epoch()).count();
  const auto day = floor<days>(sys_time<milliseconds>(milliseconds(ms_total)));
  const year_month_day ymd(day);
  const auto in_day = milliseconds(ms_total) - day.time_since_epoch();
  const hh_mm_ss<milliseconds> hms(in_day);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
  return buf;
}

std::optional<TimePoint> try_parse_time(std::string_view s, int default_offset_minutes) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d)) {
    return std::nullopt;
  }
  const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  std::size_t pos = 10;
  milliseconds frac{0};
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    if (!digits(s, pos + 1, 2, h) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, mi)) {
      return std::nullopt;
    }
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!digits(s, pos + 1, 2, sec)) return std::nullopt;
      pos += 3;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        const std::size_t start = pos;
        long long scale = 100, ms = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          ms += (s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return std::nullopt;
        frac = milliseconds(ms);
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  }
  int offset = default_offset_minutes;
  if (pos < s.size()) {
    if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) {
      offset = 0;
    } else if ((s[pos] == '+' || s[pos] == '-') && pos + 6 == s.size() && s[pos + 3] == ':') {
      int oh = 0, om = 0;
      if (!digits(s, pos + 1, 2, oh) || !digits(s, pos + 4, 2, om) || om > 59 || oh * 60 + om > 18 * 60) return std::nullopt;
      offset = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    } else {
      return std::nullopt;
    }
  }
  const auto local = sys_days(ymd) + hours(h) + minutes(mi) + seconds(sec) + frac;
  const sys_time<milliseconds> utc = local - minutes(offset);
  // TimePoint counts nanoseconds in 64 bits (the years 1677 to 2262): a
  // time outside that range is not one gridd can hold.
  if (utc < time_point_cast<milliseconds>(TimePoint::min()) || utc > time_point_cast<milliseconds>(TimePoint::max())) {
    return std::nullopt;
  }
  return TimePoint(duration_cast<TimePoint::duration>(utc.time_since_epoch()));
}

TimePoint parse_time(std::string_view text, std::string_view field, int default_offset_minutes) {
  if (auto t = try_parse_time(text, default_offset_minutes)) return *t;
  throw_invalid("invalid_time",
                "'" + std::string(text) +
                    "' is not a time (expected ISO 8601 such as 2026-11-22, 2026-11-22T09:30 or "
                    "2026-11-22T01:30:00Z)",
                std::string(field));
}

TimePoint local_day_end(TimePoint now, int utc_offset_minutes) {
  const minutes offset(utc_offset_minutes);
  const auto local_day = floor<days>(now + offset);
  return local_day + days(1) - offset;
}

std::string local_date(TimePoint t, int utc_offset_minutes) {
  return format_iso8601(t + minutes(utc_offset_minutes)).substr(0, 10);
}

}  // namespace gridd
