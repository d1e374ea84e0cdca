// libFuzzer target: tile paths. The input is "z/x/y..." or a whole request
// target ("/tiles/...", "/collections/.../tiles/WebMercatorQuad/z/row/col",
// "/wmts?...", "/tileMatrixSets/...").
//   - spatial::parse_tile on the first three '/'-separated parts, with the
//     default and a raster maximum zoom: a gridd::Error or a tile of the
//     zoom whose bounds are finite, ordered and inside the world, whose
//     to_string parses back to it, and which tiles_covering finds again;
//   - the tile routes of src/api/tile_api.cpp (with vector tiles rendered
//     over a small city): a target without a leading '/' is a tile under
//     /tiles/gridd/; every answer must be a 2xx, 3xx or 4xx.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_api.hpp"
#include "gridd/core/error.hpp"
#include "gridd/spatial/tiles.hpp"

namespace {

namespace sp = gridd::spatial;

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_tile_path: %s %s\n", what, detail.c_str());
  std::abort();
}

void check_tile(const sp::TileId& t, int max_zoom) {
  if (t.z < 0 || t.z > max_zoom) fail("parse_tile accepted a zoom beyond the maximum", t.to_string());
  const std::uint64_t n = std::uint64_t{1} << t.z;
  if (t.x >= n || t.y >= n) fail("parse_tile accepted a tile outside its zoom", t.to_string());
  const std::string text = t.to_string();
  const std::size_t a = text.find('/'), b = text.rfind('/');
  if (!(sp::parse_tile(text.substr(0, a), text.substr(a + 1, b - a - 1), text.substr(b + 1), max_zoom) == t)) {
    fail("to_string does not parse back to the tile", text);
  }
  for (const sp::Envelope& e : {sp::tile_bounds_mercator(t), sp::tile_bounds_lonlat(t),
                                sp::tile_bounds_lonlat_buffered(t, 64.0 / 4096.0)}) {
    if (!std::isfinite(e.minx) || !std::isfinite(e.miny) || !std::isfinite(e.maxx) || !std::isfinite(e.maxy) ||
        !(e.minx < e.maxx) || !(e.miny < e.maxy)) {
      fail("tile bounds are not a finite box", text);
    }
  }
  const sp::Envelope ll = sp::tile_bounds_lonlat(t);
  if (ll.minx < -180 || ll.maxx > 180 || ll.miny < -sp::k_mercator_max_lat - 1e-9 || ll.maxy > sp::k_mercator_max_lat + 1e-9) {
    fail("tile bounds leave the Web Mercator world", text);
  }
  // The centre of the tile lies in the tile.
  const sp::TileRange r = sp::tiles_covering({(ll.minx + ll.maxx) / 2, (ll.miny + ll.maxy) / 2, (ll.minx + ll.maxx) / 2,
                                              (ll.miny + ll.maxy) / 2},
                                             t.z);
  if (r.minx != t.x || r.maxx != t.x || r.miny != t.y || r.maxy != t.y) fail("tiles_covering misses the tile's centre", text);
}

void parse(std::string_view input) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (parts.size() < 3) {
    const std::size_t slash = input.find('/', start);
    parts.emplace_back(input.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  while (parts.size() < 3) parts.emplace_back();
  for (const int max_zoom : {sp::k_max_tile_zoom, 18, 0}) {
    try {
      check_tile(sp::parse_tile(parts[0], parts[1], parts[2], max_zoom), max_zoom);
    } catch (const gridd::Error& e) {
      if (e.code() != "invalid_tile") fail("parse_tile threw an unexpected error:", e.code());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 1024) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    parse(input);
    gridd::fuzz::get_or_abort(!input.empty() && input.front() == '/' ? std::string(input)
                                                                      : "/tiles/gridd/" + std::string(input));
  } catch (const std::exception& e) {
    fail("an exception escaped:", e.what());
  }
  return 0;
}
