#pragma once
/// @file test_util.hpp
/// Helpers shared by the unit tests: temporary directories, error matchers,
/// GeoJSON builders and a Catalog backed by a GeoPackage in a temp dir.

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "gridd/core/error.hpp"
#include "gridd/core/model.hpp"
#include "gridd/service/catalog.hpp"
#include "gridd/spatial/geojson.hpp"
#include "gridd/storage/gpkg_store.hpp"
#include "gridd/storage/pg_store.hpp"
#include "common/pg_test_db.hpp"

namespace gridd::test {

/// Where temporary stores go: $TMPDIR when set, else /dev/shm when writable
/// (GeoPackage commits fsync; on tmpfs that costs nothing), else the system
/// temp dir. Unit tests check behaviour, not durability.
inline std::filesystem::path temp_root() {
  if (const char* env = std::getenv("TMPDIR"); env && *env) return env;
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  return std::filesystem::temp_directory_path();
}

/// A fresh directory under temp_root(), removed with its content.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (temp_root() / "gridd-unit-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    m_path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_path; }
  [[nodiscard]] std::string file(const std::string& name) const { return (m_path / name).string(); }

 private:
  std::filesystem::path m_path;
};

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string data_file(const std::string& name) { return std::string(GRIDD_TEST_DATA_DIR) + "/" + name; }

/// Run `fn`, expect a gridd::Error of `kind` with `code` and (when given) `field`.
/// Returns the error message for further checks.
template <class Fn>
std::string expect_error(Fn&& fn, ErrorKind kind, const std::string& code, const char* field = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << "code=" << e.code() << " msg=" << e.what();
    EXPECT_EQ(e.code(), code) << e.what();
    if (field) {
      EXPECT_EQ(e.field(), field) << e.what();
    }
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected gridd::Error(" << code << "), got std::exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected gridd::Error(" << code << "), nothing was thrown";
  return {};
}

/// GeoJSON Polygon of an axis-aligned box (counter-clockwise, closed).
inline Json box_polygon(double minx, double miny, double maxx, double maxy) {
  return Json{{"type", "Polygon"},
              {"coordinates",
               Json::array({Json::array({Json::array({minx, miny}), Json::array({maxx, miny}),
                                         Json::array({maxx, maxy}), Json::array({minx, maxy}),
                                         Json::array({minx, miny})})})}};
}

/// The same box as gridd stores and answers it: a one-part MultiPolygon.
inline Json box_multipolygon(double minx, double miny, double maxx, double maxy) {
  return Json{{"type", "MultiPolygon"},
              {"coordinates", Json::array({box_polygon(minx, miny, maxx, maxy)["coordinates"]})}};
}

/// The classic self-intersecting "bow tie" around (cx, cy), crossing at (cx, cy).
inline Json bow_tie(double cx, double cy, double r) {
  return Json{{"type", "Polygon"},
              {"coordinates",
               Json::array({Json::array({Json::array({cx - r, cy - r}), Json::array({cx + r, cy + r}),
                                         Json::array({cx + r, cy - r}), Json::array({cx - r, cy + r}),
                                         Json::array({cx - r, cy - r})})})}};
}

inline spatial::GeomPtr box_geom(double minx, double miny, double maxx, double maxy) {
  return spatial::geometry_from_geojson(box_polygon(minx, miny, maxx, maxy));
}

/// A GridInput with a box geometry.
inline service::GridInput grid_in(const std::string& code, Level level, const std::string& parent, double minx,
                                  double miny, double maxx, double maxy, const std::string& where = {}) {
  service::GridInput in;
  in.grid.code = code;
  in.grid.name = "grid " + code;
  in.grid.level = level;
  in.grid.parent_code = parent;
  in.geometry = box_geom(minx, miny, maxx, maxy);
  in.where = where;
  return in;
}

inline service::StationInput station_in(const std::string& code, const std::string& kind, double lon, double lat,
                                        const std::string& where = {}) {
  service::StationInput in;
  in.station.code = code;
  in.station.name = "station " + (code.empty() ? kind : code);
  in.station.kind = kind;
  in.station.lon = lon;
  in.station.lat = lat;
  in.where = where;
  return in;
}

template <class... T>
std::vector<service::GridInput> grids(T&&... items) {
  std::vector<service::GridInput> v;
  (v.push_back(std::forward<T>(items)), ...);
  return v;
}

/// The store backend the service tests run on: "gpkg" (default) or
/// "postgis" ($GRIDD_TEST_BACKEND; CTest runs them both ways).
inline bool on_postgis() {
  const char* env = std::getenv("GRIDD_TEST_BACKEND");
  return env && std::string(env) == "postgis";
}

/// The store a test names by a GeoPackage path, on the backend under test:
/// that file, or (on PostGIS) a fresh database of the test cluster, the same
/// one for the same path (so reopening finds the data); the databases are
/// dropped when the test process ends.
inline std::unique_ptr<storage::Store> open_test_store(const std::string& path) {
  if (!on_postgis()) return std::make_unique<storage::GpkgStore>(path);
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<PgDatabase>> databases;
  std::string uri;
  {
    std::lock_guard lock(mutex);
    auto& db = databases[path];
    if (!db) db = std::make_unique<PgDatabase>();
    uri = db->uri();
  }
  return std::make_unique<storage::PgStore>(uri);
}

/// A Catalog over a fresh store (see open_test_store) in its own temp dir.
struct CatalogFixture {
  TempDir dir;
  std::string path = dir.file("store.gpkg");
  std::unique_ptr<service::Catalog> catalog;
  explicit CatalogFixture(service::CatalogOptions options = {}) {
    catalog = std::make_unique<service::Catalog>(open_test_store(path), std::move(options));
  }
  /// Reopen the same store in a new Catalog (persistence checks).
  std::unique_ptr<service::Catalog> reopen() const {
    return std::make_unique<service::Catalog>(open_test_store(path));
  }
};

}  // namespace gridd::test
