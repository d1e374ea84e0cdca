// Unit tests for gridd/core/model.hpp: levels, codes, people, timestamps.
#include <gtest/gtest.h>

#include <regex>

#include "gridd/core/error.hpp"
#include "gridd/core/model.hpp"
#include "unit/test_util.hpp"

namespace gridd {
namespace {

using test::expect_error;

TEST(Level, ToStringAndParseRoundTripEveryLevel) {
  const std::vector<std::pair<Level, std::string>> all = {{Level::district, "district"},
                                                          {Level::street, "street"},
                                                          {Level::community, "community"},
                                                          {Level::grid, "grid"},
                                                          {Level::micro_grid, "micro_grid"}};
  for (const auto& [level, name] : all) {
    EXPECT_EQ(to_string(level), name);
    EXPECT_EQ(parse_level(name), level) << name;
    ASSERT_TRUE(try_parse_level(name).has_value()) << name;
    EXPECT_EQ(*try_parse_level(name), level);
  }
  // The enum orders levels coarsest first; the catalog relies on it.
  EXPECT_LT(Level::district, Level::street);
  EXPECT_LT(Level::street, Level::community);
  EXPECT_LT(Level::community, Level::grid);
  EXPECT_LT(Level::grid, Level::micro_grid);
}

TEST(Level, ParseRejectsUnknownNamesAndNamesTheField) {
  for (const char* bad : {"", "District", "GRID", "microgrid", "grid ", "building", "3"}) {
    EXPECT_FALSE(try_parse_level(bad).has_value()) << bad;
    const std::string msg = expect_error([&] { (void)parse_level(bad); }, ErrorKind::invalid_input,
                                         "invalid_level", "level");
    EXPECT_NE(msg.find("'" + std::string(bad) + "'"), std::string::npos) << msg;
  }
  expect_error([] { (void)parse_level("town", "features/2/properties/level"); }, ErrorKind::invalid_input,
               "invalid_level", "features/2/properties/level");
}

TEST(Code, AcceptsNationalFifteenDigitCodesAndOperatorCodes) {
  EXPECT_TRUE(is_valid_code("110101001001001"));  // district(6)+street(3)+community(3)+grid(3)
  EXPECT_TRUE(is_valid_code("110101"));
  EXPECT_TRUE(is_valid_code("110101001"));
  EXPECT_TRUE(is_valid_code("110101001001"));
  EXPECT_TRUE(is_valid_code("RC-west_01.a"));
  EXPECT_TRUE(is_valid_code("x"));
  EXPECT_TRUE(is_valid_code(std::string(64, '9')));
}

TEST(Code, RejectsEmptyTooLongAndBadCharacters) {
  EXPECT_FALSE(is_valid_code(""));
  EXPECT_FALSE(is_valid_code(std::string(65, '1')));
  for (const char* bad : {"1101 01", "110101/001", "a,b", "code#1", "网格001", "a\tb", "x\n", "%41", "a+b"}) {
    EXPECT_FALSE(is_valid_code(bad)) << bad;
  }
}

TEST(People, ParsesValidListAndNullAsEmpty) {
  const Json j = Json::parse(R"([{"name":"张伟","role":"grid_worker","phone":"13800000000"},{"name":"Li"}])");
  const auto people = people_from_json(j);
  ASSERT_EQ(people.size(), 2u);
  EXPECT_EQ(people[0], (Person{"张伟", "grid_worker", "13800000000"}));
  EXPECT_EQ(people[1], (Person{"Li", "", ""}));
  EXPECT_TRUE(people_from_json(Json(nullptr)).empty());
  // And back: to_json is the inverse.
  EXPECT_EQ(people_from_json(to_json(people)), people);
  EXPECT_EQ(to_json(people[0]), Json::parse(R"({"name":"张伟","role":"grid_worker","phone":"13800000000"})"));
}

TEST(People, ErrorsNameTheOffendingField) {
  expect_error([] { (void)people_from_json(Json::object()); }, ErrorKind::invalid_input, "invalid_people",
               "people");
  expect_error([] { (void)people_from_json(Json("x"), "features/3/properties/people"); },
               ErrorKind::invalid_input, "invalid_people", "features/3/properties/people");
  expect_error([] { (void)people_from_json(Json::parse(R"([{"name":"a"}, 5])")); }, ErrorKind::invalid_input,
               "invalid_people", "people/1");
  expect_error([] { (void)people_from_json(Json::parse(R"([{"name":"a"}, {"role":"x"}])")); },
               ErrorKind::invalid_input, "invalid_people", "people/1");
  expect_error([] { (void)people_from_json(Json::parse(R"([{"name":7}])")); }, ErrorKind::invalid_input,
               "invalid_people", "people/0/name");
  expect_error([] { (void)people_from_json(Json::parse(R"([{"name":"a","phone":138}])")); },
               ErrorKind::invalid_input, "invalid_people", "people/0/phone");
  expect_error([] { (void)people_from_json(Json::parse(R"([{"name":"a","role":["x"]}])")); },
               ErrorKind::invalid_input, "invalid_people", "people/0/role");
  expect_error([] { (void)people_from_json(Json::parse(R"([{"name":""}])")); }, ErrorKind::invalid_input,
               "invalid_people", "people/0/name");
}

TEST(Model, DefaultStationKindsAreTheDocumentedOnes) {
  const auto& kinds = default_station_kinds();
  const std::vector<std::string> expected = {"grid_station",   "service_center",    "mediation_room",
                                             "opinion_point", "volunteer_station", "veterans_station"};
  EXPECT_EQ(kinds, expected);
}

TEST(Model, NowIso8601IsUtcWithMilliseconds) {
  const std::string now = now_iso8601();
  EXPECT_TRUE(std::regex_match(now, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)"))) << now;
  EXPECT_GE(now.substr(0, 4), "2024");
  // Lexicographic order is time order.
  const std::string later = now_iso8601();
  EXPECT_LE(now, later);
}

}  // namespace
}  // namespace gridd
