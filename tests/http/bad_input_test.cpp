// Bad input over real HTTP: every case answers a 4xx JSON body
// {code, message, field} naming the problem, never a 5xx, and the server
// stays up (GET /healthz 200 and the process alive after each).

#include <gtest/gtest.h>

#include <random>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

constexpr const char* k_body_limit = "100000";

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_dir = new TempDir();
    s_server = new ServerProcess(s_dir->file("store.gpkg"), {"--body-limit", k_body_limit});
    HttpClient c(s_server->port());
    const HttpResponse r =
        c.post("/grids", grid_feature("370811", "district", "", 116.0, 35.0, 116.6, 35.3).dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  static void TearDownTestSuite() {
    delete s_server;
    s_server = nullptr;
    delete s_dir;
    s_dir = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(s_server, nullptr);
    m_client = std::make_unique<HttpClient>(s_server->port());
  }
  void TearDown() override {
    // After every bad request: the server is alive, healthy, and wrote nothing.
    expect_healthy(*s_server);
    const auto [grids, stations] = health_counts(s_server->port());
    EXPECT_EQ(grids, 1u);
    EXPECT_EQ(stations, 0u);
  }

  HttpClient& client() { return *m_client; }
  static unsigned short port() { return s_server->port(); }

  /// A street feature under the seeded district with the given geometry coordinates.
  static Json street_with(const Json& coordinates) {
    Json f = grid_feature("370811001", "street", "370811", 116.0, 35.0, 116.1, 35.1);
    f["geometry"]["coordinates"] = coordinates;
    return f;
  }

  static TempDir* s_dir;
  static ServerProcess* s_server;
  std::unique_ptr<HttpClient> m_client;
};

TempDir* BadInputTest::s_dir = nullptr;
ServerProcess* BadInputTest::s_server = nullptr;

TEST_F(BadInputTest, MalformedJsonIsRejected) {
  for (const std::string& body : {std::string(R"({"type": "Feature", )"), std::string("not json"), std::string(""),
                                 std::string(R"({"type":"Feature"} trailing)"), std::string("{\"name\":\"\xff\xfe\"}")}) {
    SCOPED_TRACE(body);
    expect_error(client().post("/grids", body), 400, "malformed_json", "body");
    expect_error(client().post("/stations", body), 400, "malformed_json", "body");
    expect_error(client().put("/grids/1", body), 400, "malformed_json", "body");
    expect_error(client().post("/locate", body), 400, "malformed_json", "body");
  }
}

TEST_F(BadInputTest, AMemberOfTheWrongJsonTypeIsA400) {
  // Found by a type-confusion run: these answered 500 when a member of
  // another type than the handler reads escaped it.
  expect_error(client().post("/grids/check", R"({"type":1})"), 400, "invalid_type");
  expect_error(client().post("/grids/1/snap", R"({"to":5})"), 400, "invalid_type");
  for (const char* body : {R"({"type":[]})", R"({"type":{"a":1}})", R"({"type":null,"features":3})"}) {
    const HttpResponse r = client().post("/grids/check", body);
    EXPECT_EQ(r.status, 400) << body << ": " << r.body;
  }
}

TEST_F(BadInputTest, NamesAreBoundedAndFreeOfControlCharacters) {
  // A NUL in a name was answered as sent and stored cut short; a 60 MB name
  // was accepted and then weighed on every answer about its grid.
  Json g = grid_feature("370811002", "street", "370811", 116.0, 35.0, 116.1, 35.1);
  g["properties"]["name"] = std::string("a\0b", 3);
  expect_error(client().post("/grids", g.dump()), 400, "invalid_text", "properties/name");
  g["properties"]["name"] = "line\nbreak";
  expect_error(client().post("/grids", g.dump()), 400, "invalid_text", "properties/name");
  g["properties"]["name"] = std::string(201, 'x');
  expect_error(client().post("/grids", g.dump()), 413, "text_too_long", "properties/name");
  g["properties"]["name"] = "street 2";
  g["properties"]["people"] = Json::array({Json{{"name", "Li"}, {"role", "grid_worker"}, {"phone", "139\r\n1"}}});
  expect_error(client().post("/grids", g.dump()), 400, "invalid_text", "properties/people/0/phone");
  Json st{{"type", "Feature"},
          {"geometry", {{"type", "Point"}, {"coordinates", {116.05, 35.05}}}},
          {"properties", {{"name", "station"}, {"kind", "grid_station"}, {"contact", "0539\n123"}}}};
  expect_error(client().post("/stations", st.dump()), 400, "invalid_text", "properties/contact");
}

TEST_F(BadInputTest, GeoJsonThatIsNotAFeatureIsRejected) {
  expect_error(client().post("/grids", R"({"type":"Point","coordinates":[116.1,35.1]})"), 400, "invalid_geojson",
               "type");
  expect_error(client().post("/grids", R"({"type":"Polygon","coordinates":[[[116,35],[116.1,35],[116.1,35.1],[116,35]]]})"),
               400, "invalid_geojson", "type");
  expect_error(client().post("/grids", "[1, 2, 3]"), 400, "invalid_geojson", "body");
  expect_error(client().post("/grids", R"({"type":"FeatureCollection"})"), 400, "invalid_geojson", "features");
  expect_error(client().post("/grids", R"({"type":"FeatureCollection","features":[]})"), 400, "invalid_geojson",
               "features");
  expect_error(client().post("/stations", R"({"type":"Point","coordinates":[116.1,35.1]})"), 400, "invalid_geojson",
               "type");
  // A Feature without a geometry, and one whose geometry is not GeoJSON.
  Json f = grid_feature("370811001", "street", "370811", 116.0, 35.0, 116.1, 35.1);
  f.erase("geometry");
  expect_error(client().post("/grids", f.dump()), 400, "missing_geometry", "geometry");
  f["geometry"] = Json{{"type", "Circle"}, {"coordinates", {116.0, 35.0}}};
  expect_error(client().post("/grids", f.dump()), 400, "invalid_geometry", "geometry/type");
  // PUT needs a Feature too.
  expect_error(client().put("/grids/1", R"({"type":"FeatureCollection","features":[]})"), 400, "invalid_geojson");
  // A grid must be a polygon.
  f["geometry"] = Json{{"type", "Point"}, {"coordinates", {116.05, 35.05}}};
  expect_error(client().post("/grids", f.dump()), 400, "invalid_geometry_type", "geometry");
}

TEST_F(BadInputTest, SelfIntersectingRingIsInvalidGeometry) {
  const Json bowtie = Json::parse("[[[116.0,35.0],[116.1,35.1],[116.1,35.0],[116.0,35.1],[116.0,35.0]]]");
  expect_error(client().post("/grids", street_with(bowtie).dump()), 400, "invalid_geometry", "geometry");
  expect_error(client().put("/grids/1", street_with(bowtie).dump()), 400, "invalid_geometry", "geometry");
}

TEST_F(BadInputTest, UnclosedRingIsRingNotClosed) {
  const Json open = Json::parse("[[[116.0,35.0],[116.1,35.0],[116.1,35.1],[116.0,35.1]]]");
  expect_error(client().post("/grids", street_with(open).dump()), 400, "ring_not_closed", "geometry/coordinates/0");
  // Also in a hole.
  const Json open_hole = Json::parse(
      "[[[116.0,35.0],[116.1,35.0],[116.1,35.1],[116.0,35.1],[116.0,35.0]],"
      "[[116.02,35.02],[116.03,35.02],[116.03,35.03],[116.02,35.03]]]");
  expect_error(client().post("/grids", street_with(open_hole).dump()), 400, "ring_not_closed",
               "geometry/coordinates/1");
}

TEST_F(BadInputTest, CoordinateOutOfRangeIsRejected) {
  const Json lon200 = Json::parse("[[[116.0,35.0],[200.0,35.0],[116.1,35.1],[116.0,35.1],[116.0,35.0]]]");
  expect_error(client().post("/grids", street_with(lon200).dump()), 400, "coordinate_out_of_range", "geometry");
  const Json lat95 = Json::parse("[[[116.0,35.0],[116.1,95.0],[116.1,35.1],[116.0,35.1],[116.0,35.0]]]");
  expect_error(client().post("/grids", street_with(lat95).dump()), 400, "coordinate_out_of_range", "geometry");
  expect_error(client().post("/stations", station_feature("s", "grid_station", 200.0, 35.0).dump()), 400,
               "coordinate_out_of_range", "geometry");
}

TEST_F(BadInputTest, NaNLiteralIsMalformedJson) {
  // JSON has no NaN (nor Infinity) literal.
  for (const char* bad : {"NaN", "-Infinity", "nan"}) {
    SCOPED_TRACE(bad);
    const std::string body =
        std::string(R"({"type":"Feature","properties":{"code":"370811001","name":"x","level":"street","parent":"370811"},)"
                    R"("geometry":{"type":"Polygon","coordinates":[[[116.0,35.0],[)") +
        bad + R"(,35.0],[116.1,35.1],[116.0,35.1],[116.0,35.0]]]}})";
    expect_error(client().post("/grids", body), 400, "malformed_json", "body");
    expect_error(client().post("/locate", std::string(R"({"points":[[116.0,)") + bad + "]]}"), 400, "malformed_json",
                 "body");
  }
  // In query parameters NaN is text; it is not a finite number.
  expect_error(client().get("/locate?lon=nan&lat=35.1"), 400, "invalid_number", "lon");
  expect_error(client().get("/locate?lon=116.1&lat=NaN"), 400, "invalid_number", "lat");
}

TEST_F(BadInputTest, HugeNumberInAQueryIsInvalid) {
  expect_error(client().get("/locate?lon=116.1&lat=1e400"), 400, "invalid_number", "lat");
  expect_error(client().get("/locate?lon=-1e400&lat=35.1"), 400, "invalid_number", "lon");
}

/// A 4xx for a number that overflows a double: either the JSON layer refuses
/// it (malformed_json / number_out_of_range, field body) or the geometry
/// layer does (coordinate_out_of_range, field naming the coordinate).
void expect_huge_number_rejected(const HttpResponse& r, const std::string& field_part) {
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_LT(r.status, 500) << r.body;
  const Json j = body_json(r);
  ASSERT_TRUE(j.is_object());
  const std::string code = j.value("code", "");
  EXPECT_TRUE(code == "malformed_json" || code == "number_out_of_range" || code == "coordinate_out_of_range") << r.body;
  ASSERT_TRUE(j["field"].is_string()) << r.body;
  const std::string field = j["field"].get<std::string>();
  EXPECT_TRUE(field == "body" || field.find(field_part) != std::string::npos) << r.body;
}

TEST_F(BadInputTest, HugeNumberInABodyIs400) {
  // 1e400 is valid JSON syntax but overflows a double.
  for (const char* huge : {"1e400", "-1e400"}) {
    SCOPED_TRACE(huge);
    const std::string body =
        std::string(R"({"type":"Feature","properties":{"code":"370811001","name":"x","level":"street","parent":"370811"},)"
                    R"("geometry":{"type":"Polygon","coordinates":[[[116.0,35.0],[)") +
        huge + R"(,35.0],[116.1,35.1],[116.0,35.1],[116.0,35.0]]]}})";
    expect_huge_number_rejected(client().post("/grids", body), "geometry");
    const std::string station = std::string(R"({"type":"Feature","properties":{"name":"s","kind":"grid_station"},)"
                                            R"("geometry":{"type":"Point","coordinates":[116.0,)") +
                                huge + "]}}";
    expect_huge_number_rejected(client().post("/stations", station), "geometry");
    expect_huge_number_rejected(client().post("/locate", std::string(R"({"points":[[116.0,)") + huge + "]]}"),
                                "points/0");
    expect_huge_number_rejected(client().put("/grids/1", body), "geometry");
  }
}

TEST_F(BadInputTest, UnknownCrsIsRejected) {
  expect_error(client().post("/grids?crs=EPSG:999999",
                             grid_feature("370811001", "street", "370811", 116.0, 35.0, 116.1, 35.1).dump()),
               400, "unknown_crs", "crs");
  expect_error(client().post("/stations?crs=EPSG:999999", station_feature("s", "grid_station", 116.0, 35.0).dump()),
               400, "unknown_crs", "crs");
  expect_error(client().get("/locate?lon=116.1&lat=35.1&crs=EPSG:999999"), 400, "unknown_crs", "crs");
  expect_error(client().get("/locate?lon=116.1&lat=35.1&crs=not-a-crs"), 400, "unknown_crs", "crs");
  expect_error(client().post("/locate", R"({"crs":"EPSG:999999","points":[[116.1,35.1]]})"), 400, "unknown_crs", "crs");
}

TEST_F(BadInputTest, UnknownParentIsRejected) {
  expect_error(client().post("/grids", grid_feature("370811001", "street", "999999", 116.0, 35.0, 116.1, 35.1).dump()),
               400, "unknown_parent", "parent");
}

TEST_F(BadInputTest, DuplicateCodeIsAConflict) {
  const HttpResponse r =
      client().post("/grids", grid_feature("370811", "district", "", 116.0, 35.0, 116.6, 35.3).dump());
  expect_error(r, 409, "duplicate_code", "code");
}

TEST_F(BadInputTest, BodyOverTheLimitIs413) {
  // 200 kB: a syntactically fine JSON document padded with spaces.
  const std::string body = "{\"type\":\"Feature\"" + std::string(200 * 1000, ' ') + "}";
  RawSocket s(port());
  ASSERT_TRUE(s.ok());
  s.send_all("POST /grids HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body);  // the server may close before reading it all
  const std::string response = s.read_all();
  ASSERT_EQ(raw_status(response), 413) << response.substr(0, 300);
  const std::size_t split = response.find("\r\n\r\n");
  ASSERT_NE(split, std::string::npos);
  HttpResponse parsed;
  parsed.status = 413;
  parsed.body = response.substr(split + 4);
  parsed.content_type = "application/json";
  expect_error(parsed, 413, "body_too_large");
  // A body just under the limit is read (and rejected only for what it says).
  const std::string small = "{\"type\":\"Point\"" + std::string(90 * 1000, ' ') + "}";
  expect_error(client().post("/grids", small), 400, "invalid_geojson", "type");
}

TEST_F(BadInputTest, UnknownRouteIs404) {
  expect_error(client().get("/nope"), 404, "not_found");
  expect_error(client().get("/grids/1/extra"), 404, "not_found");
  expect_error(client().get("/%FF%FE/%00"), 404, "not_found");  // the message stays valid JSON
  expect_error(client().post("/gridz", "{}"), 404, "not_found");
}

TEST_F(BadInputTest, WrongMethodIs405WithAllow) {
  const HttpResponse r = client().request("PATCH", "/grids", "{}");
  expect_error(r, 405, "method_not_allowed");
  const std::string allow = r.header("Allow");
  EXPECT_NE(allow.find("GET"), std::string::npos) << allow;
  EXPECT_NE(allow.find("POST"), std::string::npos) << allow;
  EXPECT_EQ(allow.find("PATCH"), std::string::npos) << allow;

  const HttpResponse d = client().del("/grids");
  expect_error(d, 405, "method_not_allowed");
  EXPECT_NE(d.header("Allow").find("POST"), std::string::npos);

  const HttpResponse p = client().request("PATCH", "/grids/1", "{}");
  expect_error(p, 405, "method_not_allowed");
  for (const char* m : {"GET", "PUT", "DELETE"}) EXPECT_NE(p.header("Allow").find(m), std::string::npos) << m;

  const HttpResponse l = client().put("/locate", "{}");
  expect_error(l, 405, "method_not_allowed");
  EXPECT_NE(l.header("Allow").find("GET"), std::string::npos);
}

TEST_F(BadInputTest, BadIdIs400) {
  for (const char* id : {"abc", "0", "-5", "1.5", "99999999999999999999999", "1abc"}) {
    SCOPED_TRACE(id);
    expect_error(client().get(std::string("/grids/") + id), 400, "invalid_id", "id");
    expect_error(client().get(std::string("/stations/") + id), 400, "invalid_id", "id");
    expect_error(client().del(std::string("/grids/") + id), 400, "invalid_id", "id");
  }
  // A well-formed id that does not exist is a 404.
  expect_error(client().get("/grids/424242"), 404, "grid_not_found", "id");
}

TEST_F(BadInputTest, LocateParametersAreValidated) {
  expect_error(client().get("/locate?lon=116.1"), 400, "missing_parameter", "lat");
  expect_error(client().get("/locate?lat=35.1"), 400, "missing_parameter", "lon");
  expect_error(client().get("/locate"), 400, "missing_parameter", "lon");
  expect_error(client().get("/locate?lon=116.1&lat=abc"), 400, "invalid_number", "lat");
  expect_error(client().get("/locate?lon=116.1&lat=95"), 400, "coordinate_out_of_range");
  expect_error(client().get("/locate?lon=116.1&lat=35.1&k=1000"), 400, "invalid_integer", "k");
  expect_error(client().get("/locate?lon=116.1&lat=35.1&k=-1"), 400, "invalid_integer", "k");
  expect_error(client().get("/locate?lon=116.1&lat=35.1&kind=unknown"), 400, "unknown_kind", "kind");
  expect_error(client().post("/locate", R"({"points":[[116.1,35.1]],"k":1000})"), 400, "invalid_k", "k");
  expect_error(client().post("/locate", R"({"points":[[116.1,35.1]],"kind":"unknown"})"), 400, "unknown_kind", "kind");
  expect_error(client().post("/locate", R"({"points":[[116.1,35.1],"x"]})"), 400, "invalid_point", "points/1");
  expect_error(client().post("/locate", R"({"points":[[116.1,35.1],[200,35.1]]})"), 400, "coordinate_out_of_range",
               "points/1");
  expect_error(client().post("/locate", R"({"pts":[]})"), 400, "invalid_body", "points");
  expect_error(client().post("/locate", "[]"), 400, "invalid_body", "body");
  // And a good locate still answers.
  const HttpResponse ok = client().get("/locate?lon=116.1&lat=35.1");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(body_json(ok)["grids"][0]["code"], "370811");
}

TEST_F(BadInputTest, LocateLatitudeOutOfRangeNamesLat) {
  expect_error(client().get("/locate?lon=116.1&lat=95"), 400, "coordinate_out_of_range", "lat");
  expect_error(client().get("/locate?lon=116.1&lat=-91"), 400, "coordinate_out_of_range", "lat");
  expect_error(client().get("/locate?lon=181&lat=35"), 400, "coordinate_out_of_range", "lon");
}

TEST_F(BadInputTest, LocateProjectedPositionPROJCannotConvertNamesAParameter) {
  const HttpResponse r = client().get("/locate?x=1e30&y=5&crs=EPSG:4549");
  expect_error(r, 400, "coordinate_out_of_range");
  const Json j = body_json(r);
  EXPECT_TRUE(j["field"] == "x" || j["field"] == "lon") << r.body;
}

TEST_F(BadInputTest, PutWithAFeatureCollectionNamesTheType) {
  expect_error(client().put("/grids/1", R"({"type":"FeatureCollection","features":[]})"), 400, "invalid_geojson",
               "type");
  expect_error(client().put("/grids/1", "[]"), 400, "invalid_geojson", "body");
  expect_error(client().put("/stations/1", R"({"type":"Point","coordinates":[116,35]})"), 400, "invalid_geojson",
               "type");
}

TEST_F(BadInputTest, DeeplyNestedJsonDoesNotCrash) {
  const std::size_t depth = 40000;
  const std::string body = std::string(depth, '[') + std::string(depth, ']');
  const HttpResponse r = client().post("/grids", body);
  EXPECT_GE(r.status, 400);
  EXPECT_LT(r.status, 500) << r.body.substr(0, 300);
  const HttpResponse obj = client().post("/locate", "{\"points\":" + std::string(depth, '[') + std::string(depth, ']') + "}");
  EXPECT_GE(obj.status, 400);
  EXPECT_LT(obj.status, 500) << obj.body.substr(0, 300);
}

TEST_F(BadInputTest, ATransferCodingOtherThanChunkedIs501) {
  // gzip was ignored and the body read as if it were plain (RFC 9112: 501).
  RawSocket s(port());
  ASSERT_TRUE(s.ok());
  s.send_all("POST /locate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nContent-Type: application/json\r\n\r\n"
             "2\r\n{}\r\n0\r\n\r\n");
  s.shutdown_write();
  const std::string response = s.read_all();
  EXPECT_EQ(raw_status(response), 501) << response.substr(0, 300);
  EXPECT_NE(response.find("unsupported_transfer_encoding"), std::string::npos) << response.substr(0, 300);
  // Plain chunked stays welcome.
  RawSocket ok(port());
  ASSERT_TRUE(ok.ok());
  ok.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  ok.shutdown_write();
  EXPECT_EQ(raw_status(ok.read_all()), 200);
}

TEST_F(BadInputTest, AnOpenIntervalNeedsOneEndAndAReporterPhoneIsOneLine) {
  for (const char* target : {"/collections/incidents/items?datetime=../..", "/collections/grids/items?datetime=/",
                             "/collections/incidents/items?datetime=..%2F.."}) {
    expect_error(client().get(target), 400, "invalid_datetime", "datetime");
  }
  EXPECT_EQ(client().get("/collections/incidents/items?datetime=2026-01-01T00:00:00Z/..").status, 200);
  const HttpResponse r = client().request(
      "POST", "/open311/v2/requests.json",
      "service_code=property_dispute&lat=35.05&long=116.05&description=x&phone=139%0D%0A1%00", "application/x-www-form-urlencoded");
  EXPECT_EQ(r.status, 400) << r.body;  // Open311's error shape: [{"code":400,"error":...}]
  EXPECT_EQ(body_json(r)[0]["error"], "invalid_text") << r.body;
}

TEST_F(BadInputTest, RawGarbageBytesDoNotHurtTheServer) {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 10; ++round) {
    std::string garbage(4096, '\0');
    for (char& c : garbage) c = static_cast<char>(byte(rng));
    RawSocket s(port());
    ASSERT_TRUE(s.ok());
    s.send_all(garbage);
    s.shutdown_write();
    const std::string response = s.read_all();
    const int status = raw_status(response);
    if (status != 0) {
      EXPECT_GE(status, 400) << response.substr(0, 200);
      EXPECT_LT(status, 500) << response.substr(0, 200);
    }
    expect_healthy(*s_server);
  }
  // Printable garbage, a TLS ClientHello, a bare CRLF flood, a truncated request.
  for (const std::string& raw :
       {std::string("HELLO SERVER\r\n\r\n"), std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
        std::string(5000, '\n'), std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab"),
        std::string("GET / HTTP/9.9\r\n\r\n"), std::string("POST /grids HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
        std::string("POST /grids HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    RawSocket s(port());
    ASSERT_TRUE(s.ok());
    s.send_all(raw);
    s.shutdown_write();
    const std::string response = s.read_all();
    const int status = raw_status(response);
    if (status != 0) {
      EXPECT_GE(status, 400) << response.substr(0, 200);
      EXPECT_LT(status, 500) << response.substr(0, 200);
    }
    expect_healthy(*s_server);
  }
}

TEST_F(BadInputTest, AHundredKilobyteHeaderDoesNotHurtTheServer) {
  RawSocket s(port());
  ASSERT_TRUE(s.ok());
  s.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(100 * 1024, 'a') + "\r\n\r\n");
  const std::string response = s.read_all();
  const int status = raw_status(response);
  // The server may answer 4xx (400 or 431) or drop the connection; never a 5xx, never a crash.
  if (status != 0) {
    EXPECT_GE(status, 400) << response.substr(0, 200);
    EXPECT_LT(status, 500) << response.substr(0, 200);
  }
  // Many headers adding up to 100 kB.
  RawSocket m(port());
  ASSERT_TRUE(m.ok());
  std::string req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 2000; ++i) req += "X-H" + std::to_string(i) + ": " + std::string(45, 'b') + "\r\n";
  m.send_all(req + "\r\n");
  const int status2 = raw_status(m.read_all());
  if (status2 != 0) {
    EXPECT_GE(status2, 400);
    EXPECT_LT(status2, 500);
  }
}

TEST(BadInputLimits, TooManyLocatePointsIs413) {
  TempDir dir;
  ServerProcess server(dir.file("store.gpkg"));
  HttpClient c(server.port());
  Json points = Json::array();
  for (int i = 0; i < 10001; ++i) points.push_back(Json::array({116.0 + i * 1e-5, 35.0}));
  expect_error(c.post("/locate", Json{{"points", points}}.dump()), 413, "too_many_points", "points");
  points.erase(points.size() - 1);
  const HttpResponse ok = c.post("/locate", Json{{"points", points}}.dump());
  ASSERT_EQ(ok.status, 200) << ok.body.substr(0, 300);
  EXPECT_EQ(body_json(ok)["results"].size(), 10000u);
  expect_healthy(server);
}

TEST(BadInputLimits, APolygonOfTooManyVerticesIsRefused) {
  TempDir dir;
  ServerProcess server(dir.file("store.gpkg"));
  HttpClient client(server.port());
  // 600,000 vertices on a circle: valid, and beyond what any real boundary needs.
  Json ring = Json::array();
  const int n = 600000;
  for (int k = 0; k < n; ++k) {
    const double a = 2 * M_PI * k / n;
    ring.push_back({116.05 + 0.04 * std::cos(a), 35.05 + 0.04 * std::sin(a)});
  }
  ring.push_back(ring.front());
  Json g = grid_feature("370811002", "street", "370811", 116.0, 35.0, 116.1, 35.1);
  g["geometry"]["coordinates"] = Json::array({ring});
  expect_error(client.post("/grids", g.dump()), 413, "too_many_vertices", "geometry");
  EXPECT_EQ(body_json(client.get("/grids"))["features"].size(), 0u);
}

}  // namespace
}  // namespace gridd::http_test
