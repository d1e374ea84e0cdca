#pragma once
/// @file model.hpp
/// The plain domain objects of gridd: grids (the polygons of the territorial
/// hierarchy) and stations (service points). Geometry travels as ISO WKB in
/// WGS84 longitude/latitude; the spatial layer turns it into GEOS objects.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace gridd {

using Json = nlohmann::json;

/// Levels of the territorial hierarchy, coarsest first.
enum class Level : int { district = 0, street = 1, community = 2, grid = 3, micro_grid = 4 };

/// "district", "street", ...; parse_level throws invalid_input for anything else.
std::string_view to_string(Level level) noexcept;
Level parse_level(std::string_view text, std::string_view field = "level");
std::optional<Level> try_parse_level(std::string_view text) noexcept;

/// A responsible person of a grid (grid worker, grid head, ...).
struct Person {
  std::string name;
  std::string role;
  std::string phone;
  bool operator==(const Person&) const = default;
};

/// A polygon of the hierarchy. `parent_code` is empty for a root.
struct Grid {
  std::int64_t id = 0;
  std::string code;
  std::string name;
  Level level = Level::grid;
  std::string parent_code;
  std::vector<Person> people;
  std::optional<std::int64_t> households;
  Json attributes = Json::object();
  std::string wkb;  ///< Polygon or MultiPolygon, WGS84 lon/lat
  std::string created_at;
  std::string updated_at;
  std::int64_t version = 1;  ///< +1 at every change (see GridVersion)
};

/// One version of a grid: what it was from valid_from until valid_to (empty:
/// still current), who changed it and why. A deletion is recorded as a last
/// version with operation "delete" and no geometry.
struct GridVersion {
  Grid grid;  ///< grid.version is this version's number; grid.wkb empty for a deletion
  std::string valid_from;
  std::string valid_to;
  std::string operation;  ///< create, update, delete, restore, split, merge, snap, make_valid, import
  std::string editor;
  std::string reason;
  bool draft = false;  ///< saved although it left topology defects
};

/// A service point: grid station, service centre, mediation room, ...
struct Station {
  std::int64_t id = 0;
  std::string code;  ///< optional operator code, unique when set
  std::string name;
  std::string kind;
  double lon = 0;
  double lat = 0;
  std::string address;
  std::string contact;
  std::string hours;
  Json attributes = Json::object();
  std::string created_at;
  std::string updated_at;
};

/// The station kinds gridd knows out of the box (the operator may add more).
const std::vector<std::string>& default_station_kinds();

/// Person <-> JSON ({"name","role","phone"}); from_json validates types.
Json to_json(const Person& person);
std::vector<Person> people_from_json(const Json& value, std::string_view field = "people");
Json to_json(const std::vector<Person>& people);

/// Code format checks. A 15-digit code follows the national form
/// district(6)+street(3)+community(3)+grid(3); other codes are allowed when
/// they are 1..64 characters of [0-9A-Za-z_.-].
bool is_valid_code(std::string_view code) noexcept;

/// The current UTC time as ISO 8601 with milliseconds ("2026-11-22T02:15:00.123Z").
std::string now_iso8601();

}  // namespace gridd
