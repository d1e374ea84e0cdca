#include "gridd/api/params.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "gridd/core/error.hpp"
#include "gridd/core/text.hpp"
#include "gridd/service/locate.hpp"
#include "gridd/spatial/crs.hpp"

namespace gridd::api {

std::optional<std::string> param(const Request& r, const std::string& name) {
  auto it = r.query.find(name);
  if (it == r.query.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> param_list(const Request& r, const std::string& name) {
  std::vector<std::string> out;
  auto [begin, end] = r.query.equal_range(name);
  for (auto it = begin; it != end; ++it) {
    for (const auto& part : split(it->second, ',')) {
      const std::string_view item = trim(part);
      if (!item.empty()) out.emplace_back(item);
    }
  }
  return out;
}

std::optional<bool> param_bool(const Request& r, const std::string& name) {
  const auto v = param(r, name);
  if (!v) return std::nullopt;
  if (*v == "true" || *v == "1") return true;
  if (*v == "false" || *v == "0") return false;
  throw_invalid("invalid_boolean", "parameter '" + name + "' must be true or false (or 1 or 0), got '" + *v + "'",
                name);
}

double parse_number(std::string_view text, const std::string& name, const char* code) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(v)) {
    throw_invalid(code, "parameter '" + name + "' must be a finite number, got '" + std::string(text) + "'", name);
  }
  return v;
}

std::optional<double> param_double(const Request& r, const std::string& name) {
  auto v = param(r, name);
  if (!v) return std::nullopt;
  return parse_number(*v, name);
}

std::optional<std::int64_t> param_int(const Request& r, const std::string& name, std::int64_t min, std::int64_t max,
                                      const char* code) {
  auto v = param(r, name);
  if (!v) return std::nullopt;
  std::int64_t out = 0;
  const char* end = v->data() + v->size();
  auto [ptr, ec] = std::from_chars(v->data(), end, out);
  if (v->empty() || ec != std::errc() || ptr != end || out < min || out > max) {
    throw_invalid(code,
                  "parameter '" + name + "' must be an integer in [" + std::to_string(min) + ", " +
                      std::to_string(max) + "], got '" + *v + "'",
                  name);
  }
  return out;
}

std::optional<spatial::Envelope> param_bbox(const Request& r, const BboxOptions& o) {
  const auto v = param(r, "bbox");
  if (!v) return std::nullopt;
  const std::vector<std::string> parts = split(*v, ',');
  if (parts.size() != 4 && !(o.heights && parts.size() == 6)) {
    throw_invalid("invalid_bbox",
                  std::string(o.heights ? "bbox must be 4 (or 6) comma-separated numbers"
                                        : "bbox must be 4 comma-separated numbers minx,miny,maxx,maxy") +
                      ", got '" + *v + "'",
                  "bbox");
  }
  std::vector<double> c;
  for (const auto& p : parts) c.push_back(parse_number(trim(p), "bbox", "invalid_bbox"));
  const std::size_t half = parts.size() / 2;
  double x0 = c[0], y0 = c[1], x1 = c[half], y1 = c[half + 1];
  if (o.lat_first) {
    std::swap(x0, y0);
    std::swap(x1, y1);
  }
  if (x0 > x1 || y0 > y1) {
    throw_invalid("invalid_bbox",
                  "bbox must be the lower corner, then the upper corner (no crossing of the antimeridian)", "bbox");
  }
  if (o.crs.empty()) {
    if (x0 < -180 || x1 > 180 || y0 < -90 || y1 > 90) {
      throw_invalid("invalid_bbox", "a bbox in longitude/latitude must lie within [-180,180] x [-90,90]", "bbox");
    }
    return spatial::Envelope{x0, y0, x1, y1};
  }
  // A projected or other CRS: the WGS84 envelope of the box's outline.
  const spatial::CrsTransform& t = spatial::crs_transform(o.crs);
  spatial::Envelope e{std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                      std::numeric_limits<double>::lowest(), std::numeric_limits<double>::lowest()};
  for (int i = 0; i <= 8; ++i) {
    const double f = i / 8.0;
    for (const auto& [px, py] : {std::pair{x0 + (x1 - x0) * f, y0}, std::pair{x0 + (x1 - x0) * f, y1},
                                 std::pair{x0, y0 + (y1 - y0) * f}, std::pair{x1, y0 + (y1 - y0) * f}}) {
      double x = px, y = py;
      try {
        t.to_wgs84(x, y);
      } catch (const Error&) {
        throw_invalid("invalid_bbox", "the bbox lies outside the area of its CRS", "bbox");
      }
      e.minx = std::min(e.minx, x);
      e.miny = std::min(e.miny, y);
      e.maxx = std::max(e.maxx, x);
      e.maxy = std::max(e.maxy, y);
    }
  }
  return e;
}

std::optional<service::Position> param_position(const Request& r, const std::string& lon, const std::string& lat) {
  std::string xn = lon, yn = lat;
  auto x = param_double(r, xn);
  auto y = param_double(r, yn);
  if (!x && !y) {
    xn = "x";
    yn = "y";
    x = param_double(r, xn);
    y = param_double(r, yn);
    if (!x && !y) return std::nullopt;
  }
  if (!x || !y) {
    throw_invalid("missing_parameter", "a position needs " + lon + " and " + lat + " (or x and y)", x ? yn : xn);
  }
  return service::Position{*x, *y, param(r, "crs").value_or("")};
}

std::optional<TimePoint> param_time(const Request& r, const std::string& name, int default_offset_minutes) {
  auto v = param(r, name);
  if (!v) return std::nullopt;
  return parse_time(*v, name, default_offset_minutes);
}

TimeInterval param_interval(const Request& r, const std::string& name) {
  TimeInterval d;
  const auto v = param(r, name);
  if (!v) return d;
  auto bad = [&](const std::string& why) { throw_invalid("invalid_datetime", why, name); };
  auto instant = [&](std::string_view text) {
    const std::string_view t_text = trim(text);
    auto t = try_parse_time(t_text, 0);
    // The clock holds the years 1678..2261 only.
    int year = 0;
    const char* year_end = t_text.data() + std::min<std::size_t>(4, t_text.size());
    const auto [yp, yec] = std::from_chars(t_text.data(), year_end, year);
    if (yec != std::errc() || year < 1678 || year > 2261) t.reset();
    if (!t) {
      bad(name + " must be an RFC 3339 instant or an interval start/end ('..' for an open end), got '" +
          std::string(text) + "'");
    }
    return format_iso8601(*t);
  };
  const auto slash = v->find('/');
  if (slash == std::string::npos) {
    if (v->empty() || *v == "..") bad(name + " is empty");
    d.instant = instant(*v);
    return d;
  }
  const std::string a = v->substr(0, slash), b = v->substr(slash + 1);
  if (b.find('/') != std::string::npos) bad(name + " has more than one '/'");
  const bool open_start = a.empty() || a == "..", open_end = b.empty() || b == "..";
  if (open_start && open_end) bad(name + " interval needs at least one end ('../..' is not one)");
  if (!open_start) d.from = instant(a);
  if (!open_end) d.to = instant(b);
  if (!d.from.empty() && !d.to.empty() && d.to < d.from) bad("the " + name + " interval ends before it starts");
  return d;
}

std::int64_t path_id(const std::string& text) {
  std::int64_t out = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  if (text.empty() || ec != std::errc() || ptr != end || out <= 0) {
    throw_invalid("invalid_id", "'" + text + "' is not a valid id (a positive integer)", "id");
  }
  return out;
}

std::string base_url(const Request& r) {
  const std::string* host = r.header("host");
  if (!host || host->empty()) return {};
  for (char c : *host) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' || c == '-' || c == '[' || c == ']';
    if (!ok) return {};
  }
  const std::string* proto = r.header("x-forwarded-proto");
  const std::string scheme = proto && (*proto == "https" || *proto == "http") ? *proto : "http";
  return scheme + "://" + *host;
}

std::string url_with(const Request& r, const std::string& base, const std::string& name, const std::string& value) {
  std::string out = base + r.path;
  char sep = '?';
  for (const auto& [k, v] : r.query) {
    if (k == name) continue;
    out += sep + url_encode(k) + "=" + url_encode(v);
    sep = '&';
  }
  if (!value.empty()) out += sep + url_encode(name) + "=" + url_encode(value);
  return out;
}

}  // namespace gridd::api
