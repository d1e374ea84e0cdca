// Unit tests for gridd/api/router.hpp, params.hpp and types.hpp (no sockets).
#include <gtest/gtest.h>

#include <stdexcept>

#include "gridd/api/params.hpp"
#include "gridd/api/router.hpp"
#include "gridd/api/types.hpp"
#include "gridd/core/error.hpp"
#include "gridd/service/locate.hpp"
#include "unit/test_util.hpp"

namespace gridd::api {
namespace {

using test::expect_error;

Request req(std::string method, std::string path, std::string query = {}) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.query = parse_query(query);
  r.request_id = "req-42";
  return r;
}

Router make_router() {
  Router router;
  router.add("GET", "/things", [](const Request&, const PathParams&) { return Response{200, "text/plain", "list", {}}; });
  router.add("POST", "/things", [](const Request&, const PathParams&) { return Response{201, "text/plain", "made", {}}; });
  router.add("GET", "/things/{id}", [](const Request&, const PathParams& p) {
    return Response{200, "text/plain", "thing " + p.at("id"), {}};
  });
  router.add("DELETE", "/things/{id}", [](const Request&, const PathParams&) { return Response{204, "", "", {}}; });
  router.add("GET", "/fail/invalid", [](const Request&, const PathParams&) -> Response {
    throw_invalid("bad_thing", "the thing is bad", "thing");
  });
  router.add("GET", "/fail/internal", [](const Request&, const PathParams&) -> Response {
    throw Error(ErrorKind::internal, "geos_failure", "secret stack detail /usr/lib/x.so");
  });
  router.add("GET", "/fail/std", [](const Request&, const PathParams&) -> Response {
    throw std::out_of_range("map::at secret");
  });
  router.add("GET", "/fail/big", [](const Request&, const PathParams&) -> Response {
    throw Error(ErrorKind::too_large, "too_many", "too many", "points");
  });
  return router;
}

TEST(Router, RoutesByMethodAndPattern) {
  const Router router = make_router();
  EXPECT_EQ(router.handle(req("GET", "/things")).body, "list");
  EXPECT_EQ(router.handle(req("POST", "/things")).status, 201);
  EXPECT_EQ(router.handle(req("GET", "/things/17")).body, "thing 17");
  EXPECT_EQ(router.handle(req("GET", "/things/17/")).body, "thing 17");  // trailing slash
  EXPECT_EQ(router.handle(req("HEAD", "/things")).status, 200);            // HEAD is served by GET
  EXPECT_EQ(router.handle(req("DELETE", "/things/3")).status, 204);
}

TEST(Router, UnknownPathIs404WithJsonError) {
  const Router router = make_router();
  for (const char* path : {"/nothing", "/things/1/2", "/", "/thing"}) {
    const Response r = router.handle(req("GET", path));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.content_type, "application/json");
    const Json body = Json::parse(r.body);
    EXPECT_EQ(body["code"], "not_found");
    EXPECT_TRUE(body["message"].is_string());
    EXPECT_EQ(body["field"], "path");
  }
}

TEST(Router, KnownPathWithOtherMethodIs405WithAllow) {
  const Router router = make_router();
  const Response r = router.handle(req("PUT", "/things"));
  EXPECT_EQ(r.status, 405);
  const Json body = Json::parse(r.body);
  EXPECT_EQ(body["code"], "method_not_allowed");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_EQ(r.headers[0].second, "GET, POST");
  const Response r2 = router.handle(req("POST", "/things/9"));
  EXPECT_EQ(r2.status, 405);
  EXPECT_EQ(r2.headers.at(0).second, "DELETE, GET");
}

TEST(Router, ErrorsBecomeJsonWithTheMappedStatus) {
  const Router router = make_router();
  Response r = router.handle(req("GET", "/fail/invalid"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Json::parse(r.body), (Json{{"code", "bad_thing"}, {"message", "the thing is bad"}, {"field", "thing"}}));
  r = router.handle(req("GET", "/fail/big"));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(Json::parse(r.body)["field"], "points");
}

TEST(Router, InternalErrorsNeverLeakDetails) {
  const Router router = make_router();
  for (const char* path : {"/fail/internal", "/fail/std"}) {
    const Response r = router.handle(req("GET", path));
    EXPECT_EQ(r.status, 500) << path;
    const Json body = Json::parse(r.body);
    EXPECT_EQ(body["code"], "internal_error");
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << r.body;
    EXPECT_NE(body["message"].get<std::string>().find("req-42"), std::string::npos);  // the request id is given
  }
}

TEST(Query, ParseAndDecode) {
  const auto q = parse_query("a=1&b=x%20y&c=a+b&flag&empty=&a=2&%E7%BD%91=%E6%A0%BC&&");
  EXPECT_EQ(q.count("a"), 2u);
  EXPECT_EQ(q.find("b")->second, "x y");
  EXPECT_EQ(q.find("c")->second, "a b");
  EXPECT_EQ(q.find("flag")->second, "");
  EXPECT_EQ(q.find("empty")->second, "");
  EXPECT_EQ(q.find("网")->second, "格");
  EXPECT_TRUE(parse_query("").empty());
  EXPECT_EQ(url_decode("%zz%4", false), "%zz%4");  // malformed escapes are kept
  EXPECT_EQ(url_decode("a+b%2B", false), "a+b+");
  EXPECT_EQ(url_decode("a+b%2B", true), "a b+");
  EXPECT_EQ(url_decode("%41%62", false), "Ab");
}

TEST(Params, NumbersAndIntegersNameTheParameter) {
  Request r = req("GET", "/x", "lon=116.5&bad=12abc&inf=inf&k=7&big=101&neg=-1");
  EXPECT_EQ(param_double(r, "lon"), 116.5);
  EXPECT_FALSE(param_double(r, "missing").has_value());
  expect_error([&] { (void)param_double(r, "bad"); }, ErrorKind::invalid_input, "invalid_number", "bad");
  expect_error([&] { (void)param_double(r, "inf"); }, ErrorKind::invalid_input, "invalid_number", "inf");
  EXPECT_EQ(param_int(r, "k", 0, 100), 7);
  expect_error([&] { (void)param_int(r, "big", 0, 100); }, ErrorKind::invalid_input, "invalid_integer", "big");
  expect_error([&] { (void)param_int(r, "neg", 0, 100); }, ErrorKind::invalid_input, "invalid_integer", "neg");
  expect_error([&] { (void)param_int(r, "lon", 0, 1000); }, ErrorKind::invalid_input, "invalid_integer", "lon");
}

TEST(Params, Bbox) {
  const auto e = param_bbox(req("GET", "/x", "bbox=116.1,39.8,116.5,40.2"));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->minx, 116.1);
  EXPECT_EQ(e->miny, 39.8);
  EXPECT_EQ(e->maxx, 116.5);
  EXPECT_EQ(e->maxy, 40.2);
  EXPECT_FALSE(param_bbox(req("GET", "/x")).has_value());
  for (const char* bad : {"bbox=1,2,3", "bbox=1,2,3,4,5", "bbox=3,2,1,4", "bbox=1,4,3,2", "bbox=-181,0,0,1",
                          "bbox=0,0,0,91", "bbox=a,b,c,d", "bbox="}) {
    const Request r = req("GET", "/x", bad);
    try {
      (void)param_bbox(r);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& err) {
      EXPECT_EQ(err.kind(), ErrorKind::invalid_input) << bad;
      EXPECT_EQ(err.field(), "bbox") << bad;
    }
  }
}

TEST(Query, EncodeKeepsOnlyTheUnreservedCharacters) {
  EXPECT_EQ(url_encode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(url_encode("a b,c:d/e&f=g"), "a%20b%2Cc%3Ad%2Fe%26f%3Dg");
  EXPECT_EQ(url_encode("网"), "%E7%BD%91");
  for (const char* text : {"2026-01-01T00:00:00.000Z,42", "x y+z%", "http://www.opengis.net/def/crs/EPSG/0/3857"}) {
    EXPECT_EQ(url_decode(url_encode(text), true), text);
  }
}

TEST(Params, UrlWithReplacesOneParameter) {
  Request r = req("GET", "/incidents", "status=open&cursor=7&bbox=1,2,3,4");
  EXPECT_EQ(url_with(r, "", "cursor", "3,~,9"), "/incidents?bbox=1%2C2%2C3%2C4&status=open&cursor=3%2C~%2C9");
  EXPECT_EQ(url_with(r, "http://h", "cursor", ""), "http://h/incidents?bbox=1%2C2%2C3%2C4&status=open");
  EXPECT_EQ(url_with(req("GET", "/x"), "", "cursor", "5"), "/x?cursor=5");
}

TEST(Params, ListsBooleansPositionsAndIntervals) {
  Request r = req("GET", "/x", "s=a,,b&s=%20c%20&t=1&f=false&bad=yes&lon=116.5&lat=39.9&crs=gcj02");
  EXPECT_EQ(param_list(r, "s"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(param_list(r, "missing").empty());
  EXPECT_EQ(param_bool(r, "t"), true);
  EXPECT_EQ(param_bool(r, "f"), false);
  EXPECT_FALSE(param_bool(r, "missing").has_value());
  expect_error([&] { (void)param_bool(r, "bad"); }, ErrorKind::invalid_input, "invalid_boolean", "bad");

  const auto p = param_position(r);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->x, 116.5);
  EXPECT_EQ(p->y, 39.9);
  EXPECT_EQ(p->crs, "gcj02");
  EXPECT_FALSE(param_position(req("GET", "/x")).has_value());
  EXPECT_EQ(param_position(req("GET", "/x", "x=500&y=600"))->y, 600);
  expect_error([&] { (void)param_position(req("GET", "/x", "lon=1")); }, ErrorKind::invalid_input, "missing_parameter",
               "lat");
  expect_error([&] { (void)param_position(req("GET", "/x", "lat=1&lon=e")); }, ErrorKind::invalid_input,
               "invalid_number", "lon");

  const TimeInterval open_end = param_interval(req("GET", "/x", "d=2026-01-01T00:00:00Z/.."), "d");
  EXPECT_FALSE(open_end.from.empty());
  EXPECT_TRUE(open_end.to.empty());
  EXPECT_TRUE(open_end.contains("2027-01-01T00:00:00.000Z"));
  EXPECT_FALSE(param_interval(req("GET", "/x"), "d").any());
  for (const char* bad : {"d=..", "d=a/b/c", "d=yesterday", "d=2026-02-01T00:00:00Z/2026-01-01T00:00:00Z"}) {
    expect_error([&] { (void)param_interval(req("GET", "/x", bad), "d"); }, ErrorKind::invalid_input,
                 "invalid_datetime", "d");
  }
}

TEST(Params, BboxInAnotherCrsAndWithHeights) {
  // EPSG:4326 order (latitude first) and 6 numbers.
  const auto e = param_bbox(req("GET", "/x", "bbox=39.8,116.1,0,40.2,116.5,10"), BboxOptions{true, "", true});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->minx, 116.1);
  EXPECT_EQ(e->maxy, 40.2);
  expect_error([&] { (void)param_bbox(req("GET", "/x", "bbox=1,2,0,3,4,0")); }, ErrorKind::invalid_input,
               "invalid_bbox", "bbox");
  // Web Mercator metres become a lon/lat envelope.
  const auto m = param_bbox(req("GET", "/x", "bbox=0,0,111319.49,111325.14"), BboxOptions{false, "EPSG:3857", false});
  ASSERT_TRUE(m.has_value());
  EXPECT_NEAR(m->maxx, 1.0, 1e-6);
  EXPECT_NEAR(m->maxy, 1.0, 1e-4);
}

TEST(Params, PathId) {
  EXPECT_EQ(path_id("1"), 1);
  EXPECT_EQ(path_id("9007199254740993"), 9007199254740993LL);
  for (const char* bad : {"0", "-1", "abc", "12a", "", "99999999999999999999", "1.5"}) {
    expect_error([&] { (void)path_id(bad); }, ErrorKind::invalid_input, "invalid_id", "id");
  }
}

}  // namespace
}  // namespace gridd::api
