#pragma once
/// @file visit.hpp
/// A door-to-door visit (走访): a grid worker at a household, a building or
/// a shop, with a note, where and when. Visits are counted per worker and
/// week: how much of the grid was walked ("人在格中走").

#include <array>
#include <cstdint>
#include <string>

namespace gridd {

struct Visit {
  std::int64_t id = 0;
  double lon = 0;  ///< WGS84
  double lat = 0;
  std::string kind;        ///< household, building, shop, site, ... ([a-z0-9_], 1..32)
  std::string subject;     ///< which one: "3-2-101", "5号楼"
  std::string note;
  std::string visited_at;  ///< ISO 8601 UTC, from the device
  std::string worker_name;
  std::string worker_phone;
  std::int64_t token_id = 0;  ///< the token that recorded it (0: none)
  std::int64_t grid_id = 0;   ///< the grid the position lies in (0: none)
  std::string grid_code;
  std::string grid_name;
  std::array<std::int64_t, 5> chain{};  ///< grid ids by level, as incidents keep them
  std::string created_at;               ///< ISO 8601 UTC, when the server recorded it
  std::int64_t photos = 0;              ///< how many photos it has (read from the store)
};

/// A photo of a visit (the door, the notice handed over).
struct VisitPhoto {
  std::int64_t id = 0;
  std::int64_t visit_id = 0;
  std::string filename;
  std::string media_type;
  std::int64_t size = 0;
  int width = 0;
  int height = 0;
  std::string created_at;
  std::string data;  ///< the bytes (only when loaded)
};

}  // namespace gridd
