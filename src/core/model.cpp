#include "gridd/core/model.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "enum_names.hpp"
#include "gridd/core/error.hpp"

namespace gridd {

namespace {
constexpr std::array<std::string_view, 5> k_level_names = {"district", "street", "community", "grid",
                                                           "micro_grid"};
}

std::string_view to_string(Level level) noexcept {
  return k_level_names[static_cast<std::size_t>(level)];
}

std::optional<Level> try_parse_level(std::string_view text) noexcept {
  return detail::lookup<Level>(k_level_names, text);
}

Level parse_level(std::string_view text, std::string_view field) {
  return detail::parse_named<Level>(k_level_names, text, field, "invalid_level", "level");
}

const std::vector<std::string>& default_station_kinds() {
  static const std::vector<std::string> kinds = {"grid_station",      "service_center",
                                                 "mediation_room",    "opinion_point",
                                                 "volunteer_station", "veterans_station"};
  return kinds;
}

Json to_json(const Person& person) {
  return Json{{"name", person.name}, {"role", person.role}, {"phone", person.phone}};
}

Json to_json(const std::vector<Person>& people) {
  Json out = Json::array();
  for (const auto& p : people) out.push_back(to_json(p));
  return out;
}

std::vector<Person> people_from_json(const Json& value, std::string_view field) {
  std::vector<Person> out;
  if (value.is_null()) return out;
  if (!value.is_array()) {
    throw_invalid("invalid_people", "people must be an array of {name, role, phone}",
                  std::string(field));
  }
  std::size_t i = 0;
  for (const auto& item : value) {
    const std::string where = std::string(field) + "/" + std::to_string(i++);
    if (!item.is_object()) throw_invalid("invalid_people", "each person must be an object", where);
    Person p;
    auto get = [&](const char* key, std::string& dst, bool required) {
      auto it = item.find(key);
      if (it == item.end() || it->is_null()) {
        if (required) throw_invalid("invalid_people", std::string("person lacks '") + key + "'", where);
        return;
      }
      if (!it->is_string()) {
        throw_invalid("invalid_people", std::string("person '") + key + "' must be a string",
                      where + "/" + key);
      }
      dst = it->get<std::string>();
    };
    get("name", p.name, true);
    get("role", p.role, false);
    get("phone", p.phone, false);
    if (p.name.empty()) throw_invalid("invalid_people", "person name is empty", where + "/name");
    out.push_back(std::move(p));
  }
  return out;
}

bool is_valid_code(std::string_view code) noexcept {
  if (code.empty() || code.size() > 64) return false;
  for (char c : code) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string now_iso8601() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

}  // namespace gridd
