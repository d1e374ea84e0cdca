#include "gridd/api/params.hpp"

#include <charconv>
#include <cmath>

#include "gridd/core/error.hpp"

namespace gridd::api {

std::optional<std::string> param(const Request& r, const std::string& name) {
  auto it = r.query.find(name);
  if (it == r.query.end()) return std::nullopt;
  return it->second;
}

namespace {
double to_double(const std::string& text, const std::string& name) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(v)) {
    throw_invalid("invalid_number", "parameter '" + name + "' must be a finite number, got '" + text + "'", name);
  }
  return v;
}
}  // namespace

std::optional<double> param_double(const Request& r, const std::string& name) {
  auto v = param(r, name);
  if (!v) return std::nullopt;
  return to_double(*v, name);
}

std::optional<std::int64_t> param_int(const Request& r, const std::string& name, std::int64_t min, std::int64_t max) {
  auto v = param(r, name);
  if (!v) return std::nullopt;
  std::int64_t out = 0;
  const char* end = v->data() + v->size();
  auto [ptr, ec] = std::from_chars(v->data(), end, out);
  if (v->empty() || ec != std::errc() || ptr != end || out < min || out > max) {
    throw_invalid("invalid_integer",
                  "parameter '" + name + "' must be an integer in [" + std::to_string(min) + ", " +
                      std::to_string(max) + "], got '" + *v + "'",
                  name);
  }
  return out;
}

std::optional<spatial::Envelope> param_bbox(const Request& r) {
  auto v = param(r, "bbox");
  if (!v) return std::nullopt;
  double c[4];
  std::size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    const std::size_t comma = v->find(',', start);
    if ((i < 3) == (comma == std::string::npos)) {
      throw_invalid("invalid_bbox", "bbox must be minlon,minlat,maxlon,maxlat", "bbox");
    }
    c[i] = to_double(v->substr(start, comma == std::string::npos ? std::string::npos : comma - start), "bbox");
    start = comma + 1;
  }
  spatial::Envelope e{c[0], c[1], c[2], c[3]};
  if (e.minx > e.maxx || e.miny > e.maxy || e.minx < -180 || e.maxx > 180 || e.miny < -90 || e.maxy > 90) {
    throw_invalid("invalid_bbox", "bbox must be minlon,minlat,maxlon,maxlat within [-180,180] x [-90,90]", "bbox");
  }
  return e;
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

}  // namespace gridd::api
