// The resident's side against the real server, with access control on and
// `--anonymous report` (a QR code on a notice board, no account): the
// tracking code of a report shows its progress without personal data, takes
// up to three photos and, once closed, one rating; anonymous reports are
// limited per client address and a repeated report is refused; the QR
// posters decode (rsvg-convert, zbarimg) to the place's /report/ address.

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "http/city_auth.hpp"
#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

class ResidentsTest : public ::testing::Test {
 protected:
  TempDir dir;
  std::string store = dir.file("city.gpkg");
};

Json qr_report(const std::string& text, double dx = 1) {
  return Json{{"category", "property_dispute"},
              {"description", text},
              {"lon", X0 + dx * U},
              {"lat", Y0 + 1 * U},
              {"channel", "qr"},
              {"reporter", {{"name", "resident Zhao"}, {"phone", k_reporter_phone}}}};
}

/// What a shell command prints, and its exit status.
std::pair<int, std::string> shell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// The text of the QR code in an SVG file, read as a phone would: rendered
/// to pixels by librsvg and decoded by zbar.
std::string decode_qr(const std::string& svg_path) {
  const std::string png = svg_path + ".png";
  const auto [rc, out] = shell("rsvg-convert -w 800 -o '" + png + "' '" + svg_path + "' 2>&1");
  EXPECT_EQ(rc, 0) << "rsvg-convert (librsvg2-bin) renders the poster: " << out;
  const auto [zrc, text] = shell("zbarimg --quiet --raw '" + png + "' 2>/dev/null");  // stdout: the code only
  EXPECT_EQ(zrc, 0) << "zbarimg (zbar-tools) finds a QR code: " << text;
  std::string s = text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

TEST_F(ResidentsTest, ATrackingCodeShowsProgressWithoutPersonalDataAndTakesOneRating) {
  ServerProcess server(store, {"--anonymous", "report"});
  const unsigned short port = server.port();
  make_city(port);
  const std::string admin = create_token(store, "admin", "--name desk");
  wait_for_reload();

  // A resident reports without a token: the answer is the receipt.
  const HttpResponse sent = send(port, "POST", "/incidents", "", qr_report("water leaking from the roof").dump());
  ASSERT_EQ(sent.status, 201) << sent.body;
  const Json feature = body_json(sent);
  const std::string code = feature["properties"]["tracking_code"].get<std::string>();
  ASSERT_EQ(code.size(), 10u) << sent.body;
  EXPECT_EQ(code.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos) << code;
  const std::int64_t id = feature["id"].get<std::int64_t>();
  EXPECT_EQ(feature["properties"]["channel"], "qr");
  // Another report has another code; a reader without a token sees no codes in listings.
  const Json other = body_json(send(port, "POST", "/incidents", "", qr_report("another thing", 3).dump()));
  EXPECT_NE(other["properties"]["tracking_code"], code);
  const Json listed = body_json(send(port, "GET", "/incidents/" + std::to_string(id)));
  EXPECT_TRUE(listed["properties"]["tracking_code"].is_null()) << listed.dump();
  EXPECT_EQ(body_json(send(port, "GET", "/incidents/" + std::to_string(id), admin))["properties"]["tracking_code"],
            code);

  // The receipt: progress, the resident's own words, nothing personal.
  const HttpResponse track = send(port, "GET", "/track/" + code);
  ASSERT_EQ(track.status, 200) << track.body;
  const Json t = body_json(track);
  EXPECT_EQ(t["code"], code);
  EXPECT_EQ(t["status"], "reported");
  EXPECT_EQ(t["description"], "water leaking from the roof");
  EXPECT_EQ(t["grid"]["code"], "GA");
  EXPECT_EQ(t["events"].size(), 1u);
  EXPECT_EQ(t["can_rate"], false);
  for (const char* secret : {k_reporter_phone, "resident Zhao", k_worker_phone, "worker GA"}) {
    EXPECT_EQ(track.body.find(secret), std::string::npos) << secret << " leaks: " << track.body;
  }
  // Read from a poster by hand: lower case, with a dash, O for 0 and I for 1.
  std::string typed = code;
  for (char& c : typed) c = static_cast<char>(c == '0' ? 'o' : c == '1' ? 'i' : std::tolower(c));
  typed.insert(5, "-");
  EXPECT_EQ(body_json(send(port, "GET", "/track/" + typed))["code"], code);
  expect_error(send(port, "GET", "/track/ZZZZZZZZZZ"), 404, "tracking_code_not_found", "code");
  expect_error(send(port, "GET", "/track/not-a-code!"), 404, "tracking_code_not_found", "code");

  // Photos of one's own report, three at most; only images.
  for (int k = 0; k < 3; ++k) {
    const HttpResponse p = send(port, "POST", "/track/" + code + "/attachments?filename=p.png", "", k_tiny_png, "image/png");
    ASSERT_EQ(p.status, 201) << p.body;
  }
  expect_error(send(port, "POST", "/track/" + code + "/attachments", "", k_tiny_png, "image/png"), 413,
               "too_many_photos", "body");
  expect_error(send(port, "POST", "/track/" + other["properties"]["tracking_code"].get<std::string>() + "/attachments",
                    "", "not an image", "image/png"),
               400, "not_an_image", "body");
  EXPECT_EQ(body_json(send(port, "GET", "/track/" + code))["photos"], 3);

  // Rated only once closed.
  expect_error(send(port, "POST", "/track/" + code + "/satisfaction", "", Json{{"satisfaction", 5}}.dump()), 409,
               "not_closed", "code");
  const std::string tr = "/incidents/" + std::to_string(id) + "/transitions";
  for (const char* action : {"register", "dispatch", "accept", "resolve", "verify", "close"}) {
    const HttpResponse step = send(port, "POST", tr, admin, Json{{"action", action}, {"note", "done"}}.dump());
    ASSERT_EQ(step.status, 200) << action << ": " << step.body;
  }
  const Json closed = body_json(send(port, "GET", "/track/" + code));
  EXPECT_EQ(closed["status"], "closed");
  EXPECT_EQ(closed["can_rate"], true);
  EXPECT_EQ(closed["events"].size(), 7u);
  EXPECT_FALSE(closed["closed_at"].is_null());
  // Photos are for open reports.
  expect_error(send(port, "POST", "/track/" + code + "/attachments", "", k_tiny_png, "image/png"), 409, "report_closed",
               "code");
  expect_error(send(port, "POST", "/track/" + code + "/satisfaction", "", Json{{"satisfaction", 6}}.dump()), 400,
               "invalid_satisfaction", "satisfaction");
  expect_error(send(port, "POST", "/track/" + code + "/satisfaction", "", Json::object().dump()), 400,
               "missing_satisfaction", "satisfaction");
  const HttpResponse rated =
      send(port, "POST", "/track/" + code + "/satisfaction", "", Json{{"satisfaction", 4}, {"note", "quick"}}.dump());
  ASSERT_EQ(rated.status, 200) << rated.body;
  EXPECT_EQ(body_json(rated)["satisfaction"], 4);
  EXPECT_EQ(body_json(rated)["can_rate"], false);
  expect_error(send(port, "POST", "/track/" + code + "/satisfaction", "", Json{{"satisfaction", 1}}.dump()), 409,
               "already_rated", "code");
  // Stored on the incident like a follow-up visit's.
  EXPECT_EQ(body_json(send(port, "GET", "/incidents/" + std::to_string(id), admin))["properties"]["satisfaction"], 4);
  const Json history = body_json(send(port, "GET", "/incidents/" + std::to_string(id) + "/history", admin));
  const Json last = history["events"].back();
  EXPECT_EQ(last["action"], "follow_up");
  EXPECT_EQ(last["actor"], "resident");
  EXPECT_EQ(last["note"], "quick");

  // The code survives a restart (it is in the store).
  server.stop();
  ServerProcess again(store, {"--anonymous", "report"});
  EXPECT_EQ(body_json(send(again.port(), "GET", "/track/" + code))["satisfaction"], 4);
}

TEST_F(ResidentsTest, AnonymousReportsAreLimitedPerAddressAndARepeatIsRefused) {
  ServerProcess server(store, {"--anonymous", "report", "--report-rate", "3/1h", "--duplicate-window", "10m",
                               "--behind-proxy"});
  const unsigned short port = server.port();
  make_city(port);
  const std::string dispatcher = create_token(store, "dispatcher", "--name desk");
  wait_for_reload();
  const std::vector<std::pair<std::string, std::string>> from_a{{"X-Forwarded-For", "203.0.113.7"}};
  const std::vector<std::pair<std::string, std::string>> from_b{{"X-Forwarded-For", "198.51.100.1, 203.0.113.9"}};
  auto post = [&](const Json& body, const std::vector<std::pair<std::string, std::string>>& headers,
                  const std::string& token = {}) {
    return send(port, "POST", "/incidents", token, body.dump(), "application/json", headers);
  };

  const HttpResponse first = post(qr_report("blocked fire lane"), from_a);
  ASSERT_EQ(first.status, 201) << first.body;
  // The same report again (other spacing, a few metres away): refused, naming the first.
  Json again = qr_report("blocked   fire lane ", 1.002);
  const HttpResponse repeat = post(again, from_a);
  expect_error(repeat, 409, "duplicate_report");
  EXPECT_EQ(body_json(repeat)["details"]["tracking_code"], body_json(first)["properties"]["tracking_code"]);
  // Another place or another text is another report.
  ASSERT_EQ(post(qr_report("blocked fire lane", 3), from_a).status, 201);
  ASSERT_EQ(post(qr_report("broken street lamp"), from_a).status, 201);
  // Three in the hour: the fourth waits.
  const HttpResponse limited = post(qr_report("a fourth thing"), from_a);
  expect_error(limited, 429, "rate_limited");
  const std::string retry = limited.header("retry-after");
  ASSERT_FALSE(retry.empty()) << "429 says when to retry";
  EXPECT_GT(std::stoi(retry), 3000);
  EXPECT_LE(std::stoi(retry), 3600);
  // Open311 is the same intake.
  const HttpResponse open311 = send(port, "POST", "/open311/v2/requests.json", "",
                                    "service_code=property_dispute&lat=" + std::to_string(Y0 + U) + "&long=" +
                                        std::to_string(X0 + U) + "&description=x",
                                    "application/x-www-form-urlencoded", from_a);
  EXPECT_EQ(open311.status, 429) << open311.body;
  // Another address (the last one the proxy appended) has its own budget;
  // a token holder has none.
  EXPECT_EQ(post(qr_report("a fourth thing"), from_b).status, 201);
  EXPECT_EQ(post(qr_report("a fourth thing"), from_a, dispatcher).status, 201);
  EXPECT_EQ(post(qr_report("blocked fire lane"), from_a, dispatcher).status, 201);
  // Refusals wrote nothing: 3 from a, 1 from b, 2 from the dispatcher.
  EXPECT_EQ(body_json(send(port, "GET", "/incidents?limit=100", dispatcher))["features"].size(), 6u);

  // Bad limits are refused at start.
  const auto [rc, out] = run_cli("serve --store '" + backend_store(store) + "' --listen 127.0.0.1:0 --report-rate 3");
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("invalid_rate"), std::string::npos) << out;
}

TEST_F(ResidentsTest, QrPostersDecodeToThePlacesReportPage) {
  ServerProcess server(store, {"--anonymous", "report", "--public-url", "https://gridd.example.org/"});
  const unsigned short port = server.port();
  make_city(port);
  const HttpResponse st = send(port, "POST", "/stations", "",
                               Json{{"type", "Feature"},
                                    {"geometry", {{"type", "Point"}, {"coordinates", {X0 + 1 * U, Y0 + 1 * U}}}},
                                    {"properties", {{"name", "Grid station A"}, {"kind", "grid_station"}, {"code", "ST-A"}}}}
                                   .dump());
  ASSERT_EQ(st.status, 201) << st.body;
  const std::int64_t station_id = body_json(st)["id"].get<std::int64_t>();
  const Json grids = body_json(send(port, "GET", "/grids?limit=100"));
  std::int64_t ga = 0;
  for (const auto& g : grids["features"]) {
    if (g["properties"]["code"] == "GA") ga = g["id"].get<std::int64_t>();
  }
  ASSERT_NE(ga, 0);

  // The place a QR code names, as the resident's form shows it.
  const Json place = body_json(send(port, "GET", "/report/place?grid=GA"));
  EXPECT_EQ(place["kind"], "grid");
  EXPECT_EQ(place["worker"]["name"], "worker GA");
  EXPECT_EQ(place["context"], "grid D1 · grid S1 · grid CA");  // the test city names grids "grid CODE"
  const double lon = place["position"][0], lat = place["position"][1];
  EXPECT_TRUE(lon > X0 && lon < X0 + 2 * U && lat > Y0 && lat < Y0 + 2 * U) << place.dump();
  EXPECT_EQ(body_json(send(port, "GET", "/report/place?station=ST-A"))["worker"]["name"], "worker GA");
  expect_error(send(port, "GET", "/report/place"), 400, "missing_place");
  expect_error(send(port, "GET", "/report/place?grid=NOPE"), 404, "grid_not_found", "grid");

  // The poster: the place, its worker and the code of its /report/ address.
  const HttpResponse svg = send(port, "GET", "/grids/" + std::to_string(ga) + "/qr.svg");
  ASSERT_EQ(svg.status, 200) << svg.body;
  EXPECT_NE(svg.content_type.find("image/svg+xml"), std::string::npos);
  EXPECT_NE(svg.body.find("worker GA"), std::string::npos);
  const std::string grid_svg = dir.file("grid.svg");
  std::ofstream(grid_svg) << svg.body;
  EXPECT_EQ(decode_qr(grid_svg), "https://gridd.example.org/report/?grid=GA");
  const HttpResponse station_svg = send(port, "GET", "/stations/" + std::to_string(station_id) + "/qr.svg");
  ASSERT_EQ(station_svg.status, 200);
  std::ofstream(dir.file("station.svg")) << station_svg.body;
  EXPECT_EQ(decode_qr(dir.file("station.svg")), "https://gridd.example.org/report/?station=ST-A");
  expect_error(send(port, "GET", "/grids/999999/qr.svg"), 404, "grid_not_found", "id");
  server.stop();

  // Without --public-url the address is the one the request was sent to.
  ServerProcess plain(store);
  const HttpResponse local = send(plain.port(), "GET", "/grids/" + std::to_string(ga) + "/qr.svg", "", "",
                                  "application/json", {{"Host", "gridd.local:8080"}});
  std::ofstream(dir.file("local.svg")) << local.body;
  EXPECT_EQ(decode_qr(dir.file("local.svg")), "http://gridd.local:8080/report/?grid=GA");
  plain.stop();

  // One poster per grid of a subtree, for printing.
  const std::string out_dir = dir.file("posters");
  const auto [rc, out] = run_cli("qr --store '" + backend_store(store) + "' --root CA -o '" + out_dir +
                                 "' --public-url https://gridd.example.org");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(std::filesystem::exists(out_dir + "/qr-CA.svg"));
  ASSERT_TRUE(std::filesystem::exists(out_dir + "/qr-GA.svg"));
  EXPECT_FALSE(std::filesystem::exists(out_dir + "/qr-GB.svg"));
  EXPECT_EQ(decode_qr(out_dir + "/qr-GA.svg"), "https://gridd.example.org/report/?grid=GA");
  const auto [bad, bad_out] = run_cli("qr --store '" + backend_store(store) + "' --root NOPE -o '" + out_dir +
                                      "' --public-url https://x.org");
  EXPECT_NE(bad, 0);
  EXPECT_NE(bad_out.find("grid_not_found"), std::string::npos) << bad_out;
}

}  // namespace
}  // namespace gridd::http_test
