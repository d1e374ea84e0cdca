// Unit tests for gridd/core/json.hpp and gridd/core/error.hpp.
#include <gtest/gtest.h>

#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "unit/test_util.hpp"

namespace gridd {
namespace {

using test::expect_error;

TEST(ParseJson, ParsesValidDocuments) {
  const Json j = parse_json(R"({"a":[1,2.5,"x"],"b":{"c":null}})");
  EXPECT_EQ(j["a"][0], 1);
  EXPECT_EQ(j["a"][1], 2.5);
  EXPECT_TRUE(j["b"]["c"].is_null());
}

TEST(ParseJson, MalformedJsonIsInvalidInputWithByteOffset) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,2", "{} trailing", "{'a':1}", "nul"}) {
    const std::string msg =
        expect_error([&] { (void)parse_json(bad); }, ErrorKind::invalid_input, "malformed_json", "body");
    EXPECT_NE(msg.find("malformed JSON at byte"), std::string::npos) << msg;
  }
  // The offset points at the problem: byte 6 is the '}' in {"a":}.
  const std::string msg = expect_error([] { (void)parse_json(R"({"a":})"); }, ErrorKind::invalid_input,
                                       "malformed_json");
  EXPECT_NE(msg.find("at byte 6"), std::string::npos) << msg;
}

// Found by tests/fuzz/fuzz_geojson: a body nested a few hundred thousand
// levels deep parsed (nlohmann's parser is iterative) and then overflowed
// the stack where gridd copies, writes or walks it (feature attributes,
// GeometryCollections), taking the server down.
TEST(ParseJson, RefusesNestingDeeperThanTheLimit) {
  auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_NO_THROW((void)parse_json(nested(k_max_json_depth)));
  EXPECT_NO_THROW((void)parse_json("{\"a\":" + nested(k_max_json_depth - 1) + "}"));
  for (const std::size_t depth : {k_max_json_depth + 1, std::size_t{300000}}) {
    const std::string msg = expect_error([&] { (void)parse_json(nested(depth)); }, ErrorKind::invalid_input,
                                         "json_too_deep", "body");
    EXPECT_NE(msg.find("at byte 128"), std::string::npos) << msg;
  }
  expect_error([] { (void)parse_json(std::string(400000, '{')); }, ErrorKind::invalid_input, "json_too_deep", "body");
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_EQ(parse_json("[\"" + std::string(1000, '[') + "\"]")[0].get<std::string>().size(), 1000u);
  EXPECT_EQ(parse_json(R"(["\"[[[[", "\\", {"k\"[": [1]}])").size(), 3u);
  // Malformed text is still the parser's to name.
  expect_error([] { (void)parse_json("[[[}"); }, ErrorKind::invalid_input, "malformed_json", "body");
}

TEST(JsonAccess, StringMissingNullAndWrongType) {
  const Json obj = Json::parse(R"({"s":"v","n":null,"i":3})");
  EXPECT_EQ(json_string(obj, "s", "properties"), "v");
  EXPECT_EQ(json_string(obj, "missing", "properties", "dflt"), "dflt");
  EXPECT_EQ(json_string(obj, "n", "properties", "dflt"), "dflt");
  expect_error([&] { (void)json_string(obj, "i", "features/0/properties"); }, ErrorKind::invalid_input,
               "invalid_type", "features/0/properties/i");
}

TEST(JsonAccess, IntAcceptsIntegralNumbersOnly) {
  const Json obj = Json::parse(R"({"i":42,"neg":-7,"f":3.0,"frac":3.5,"s":"4","n":null})");
  EXPECT_EQ(json_int(obj, "i", "p"), 42);
  EXPECT_EQ(json_int(obj, "neg", "p"), -7);
  EXPECT_EQ(json_int(obj, "f", "p"), 3);
  EXPECT_FALSE(json_int(obj, "n", "p").has_value());
  EXPECT_FALSE(json_int(obj, "missing", "p").has_value());
  expect_error([&] { (void)json_int(obj, "frac", "p"); }, ErrorKind::invalid_input, "invalid_type", "p/frac");
  expect_error([&] { (void)json_int(obj, "s", "p"); }, ErrorKind::invalid_input, "invalid_type", "p/s");
}

TEST(Error, HttpStatusMappingIsTheSingleTable) {
  EXPECT_EQ(http_status(ErrorKind::invalid_input), 400);
  EXPECT_EQ(http_status(ErrorKind::not_found), 404);
  EXPECT_EQ(http_status(ErrorKind::conflict), 409);
  EXPECT_EQ(http_status(ErrorKind::too_large), 413);
  EXPECT_EQ(http_status(ErrorKind::unavailable), 503);
  EXPECT_EQ(http_status(ErrorKind::internal), 500);
}

TEST(Error, ThrowHelpersCarryKindCodeMessageAndField) {
  expect_error([] { throw_invalid("c1", "m1", "f1"); }, ErrorKind::invalid_input, "c1", "f1");
  expect_error([] { throw_not_found("c2", "m2"); }, ErrorKind::not_found, "c2", "");
  const std::string msg = expect_error([] { throw_conflict("c3", "the message", "f3"); }, ErrorKind::conflict, "c3", "f3");
  EXPECT_EQ(msg, "the message");
  const Error e(ErrorKind::too_large, "big", "too big", "points");
  EXPECT_EQ(e.kind(), ErrorKind::too_large);
  EXPECT_EQ(e.code(), "big");
  EXPECT_STREQ(e.what(), "too big");
  EXPECT_EQ(e.field(), "points");
}

}  // namespace
}  // namespace gridd
