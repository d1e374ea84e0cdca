// gridd_bench_city: write the benchmark's synthetic city (../synthetic_city.hpp)
// as files that `gridd import` and `ogr2ogr -f PostgreSQL` both read.
//
//   gridd_bench_city [--size 20k|1m|COLSxROWS] [--points N] --out DIR
//
// writes DIR/grids.geojson (all levels, parents first), DIR/stations.geojson
// and, with --points, DIR/points.csv (lon,lat: N random points inside the
// city, the same generator and seed as the in-process benchmark).
// Coordinates are WGS84 lon/lat with 7 decimals (RFC 7946, no crs member).

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "synthetic_city.hpp"

namespace {

using gridd_bench::City;
using gridd_bench::CityGrid;
using gridd_bench::CityStation;

/// JSON string literal (the generator's strings need no escaping, but be safe).
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr, "%s\nusage: gridd_bench_city [--size 20k|1m|COLSxROWS] [--points N] --out DIR\n", msg);
  std::exit(2);
}

std::FILE* open_out(const std::filesystem::path& p) {
  std::FILE* f = std::fopen(p.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "cannot write %s: %s\n", p.c_str(), std::strerror(errno));
    std::exit(1);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string size = "20k", out;
  long points = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--size") size = value();
    else if (a == "--out") out = value();
    else if (a == "--points") points = std::atol(value().c_str());
    else if (a == "-h" || a == "--help") usage("gridd_bench_city: write the synthetic benchmark city");
    else usage(("unknown argument " + a).c_str());
  }
  if (out.empty()) usage("--out is required");
  std::filesystem::create_directories(out);
  std::unique_ptr<City> made;
  try {
    made = std::make_unique<City>(gridd_bench::CityParams::by_name(size));
  } catch (const std::exception& e) {
    usage(e.what());
  }
  const City& city = *made;

  std::FILE* f = open_out(std::filesystem::path(out) / "grids.geojson");
  std::fputs("{\"type\":\"FeatureCollection\",\"features\":[\n", f);
  bool first = true;
  city.for_each_grid([&](const CityGrid& g) {
    std::fprintf(f, "%s{\"type\":\"Feature\",\"properties\":{\"code\":%s,\"name\":%s,\"level\":\"%s\",\"parent\":%s",
                 first ? "" : ",\n", quoted(g.code).c_str(), quoted(g.name).c_str(), gridd_bench::level_name(g.level),
                 g.parent.empty() ? "null" : quoted(g.parent).c_str());
    first = false;
    if (g.households >= 0) std::fprintf(f, ",\"households\":%lld", static_cast<long long>(g.households));
    std::fputs(",\"people\":[", f);
    for (std::size_t k = 0; k < g.people.size(); ++k) {
      std::fprintf(f, "%s{\"name\":%s,\"role\":%s,\"phone\":%s}", k ? "," : "", quoted(g.people[k].name).c_str(),
                   quoted(g.people[k].role).c_str(), quoted(g.people[k].phone).c_str());
    }
    std::fputs("],\"synthetic\":true},\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[", f);
    for (std::size_t k = 0; k < g.ring.size(); ++k) {
      std::fprintf(f, "%s[%.7f,%.7f]", k ? "," : "", g.ring[k][0], g.ring[k][1]);
    }
    std::fputs("]]}}", f);
  });
  std::fputs("\n]}\n", f);
  std::fclose(f);

  f = open_out(std::filesystem::path(out) / "stations.geojson");
  std::fputs("{\"type\":\"FeatureCollection\",\"features\":[\n", f);
  first = true;
  city.for_each_station([&](const CityStation& s) {
    std::fprintf(f,
                 "%s{\"type\":\"Feature\",\"properties\":{\"code\":%s,\"name\":%s,\"kind\":%s,\"address\":%s,"
                 "\"contact\":%s,\"hours\":%s,\"synthetic\":true},\"geometry\":{\"type\":\"Point\",\"coordinates\":"
                 "[%.7f,%.7f]}}",
                 first ? "" : ",\n", quoted(s.code).c_str(), quoted(s.name).c_str(), quoted(s.kind).c_str(),
                 quoted(s.address).c_str(), quoted(s.contact).c_str(), quoted(s.hours).c_str(), s.lon, s.lat);
    first = false;
  });
  std::fputs("\n]}\n", f);
  std::fclose(f);

  if (points > 0) {
    f = open_out(std::filesystem::path(out) / "points.csv");
    std::mt19937_64 rng(42);  // the in-process benchmark's seed
    for (long i = 0; i < points; ++i) {
      const auto p = city.random_inside(rng);
      std::fprintf(f, "%.7f,%.7f\n", p[0], p[1]);
    }
    std::fclose(f);
  }
  std::printf("wrote %zu grids (%zu leaves), %d stations%s to %s\n", city.grid_count(), city.leaf_count(),
              city.params().stations, points > 0 ? (", " + std::to_string(points) + " points").c_str() : "",
              out.c_str());
  return 0;
}
