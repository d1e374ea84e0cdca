// Observability and hardening against the real server: /metrics counts
// exactly the requests made, per route, with consistent histograms; /readyz;
// request ids echoed in headers and error bodies; JSON access logs with
// tokens redacted; SIGTERM lets a request in flight finish and refuses new
// connections; a connection cap answers 503; a client trickling its headers
// is cut off after the timeout.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

using Clock = std::chrono::steady_clock;

/// Prometheus samples: "name{labels}" -> value.
std::map<std::string, double> scrape(HttpClient& c) {
  const HttpResponse r = c.get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.content_type.find("text/plain"), std::string::npos);
  std::map<std::string, double> out;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    const std::string value = line.substr(space + 1);
    out[line.substr(0, space)] = value == "+Inf" ? INFINITY : std::stod(value);
  }
  return out;
}

double at(const std::map<std::string, double>& m, const std::string& key) {
  const auto it = m.find(key);
  return it == m.end() ? 0.0 : it->second;
}

void make_city(HttpClient& c) {
  post_created(c, "/grids",
               collection({grid_feature("D", "district", "", 116.50, 35.40, 116.54, 35.42),
                           grid_feature("G1", "grid", "D", 116.50, 35.40, 116.52, 35.42),
                           grid_feature("G2", "grid", "D", 116.52, 35.40, 116.54, 35.42)}));
}

TEST(Observability, MetricsCountEveryRequestUnderItsRoute) {
  TempDir dir;
  ServerProcess server(dir.file("city.gpkg"));
  HttpClient c(server.port());
  make_city(c);
  const auto before = scrape(c);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(c.get("/locate?lon=116.51&lat=35.41").status, 200);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(c.get("/grids/999999").status, 404);
  ASSERT_EQ(c.get("/no/such/route").status, 404);
  ASSERT_EQ(c.post("/incidents", Json{{"category", "roof_leak"}, {"lon", 116.51}, {"lat", 35.41}}.dump()).status, 201);
  const auto after = scrape(c);

  const std::string locate = R"(method="GET",route="/locate")";
  EXPECT_EQ(at(after, "gridd_http_requests_total{" + locate + R"(,code="2xx"})") -
                at(before, "gridd_http_requests_total{" + locate + R"(,code="2xx"})"),
            5);
  EXPECT_EQ(at(after, R"(gridd_http_requests_total{method="GET",route="/grids/{id}",code="4xx"})") -
                at(before, R"(gridd_http_requests_total{method="GET",route="/grids/{id}",code="4xx"})"),
            2);
  EXPECT_EQ(at(after, R"(gridd_http_requests_total{method="any",route="unmatched",code="4xx"})"), 1);
  // The histogram: cumulative buckets, +Inf equals the count, which equals the requests.
  const double count = at(after, "gridd_http_request_duration_seconds_count{" + locate + "}");
  EXPECT_EQ(count, 5);
  EXPECT_EQ(at(after, "gridd_http_request_duration_seconds_bucket{" + locate + R"(,le="+Inf"})"), count);
  double previous = 0;
  for (const char* le : {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                         "0.25", "0.5", "1", "5"}) {
    const double v = at(after, "gridd_http_request_duration_seconds_bucket{" + locate + ",le=\"" + le + "\"}");
    EXPECT_GE(v, previous) << le;
    previous = v;
  }
  EXPECT_LE(previous, count);
  EXPECT_GT(at(after, "gridd_http_request_duration_seconds_sum{" + locate + "}"), 0);
  // Index sizes, open incidents by colour, store latency, process.
  EXPECT_EQ(at(after, "gridd_index_grids"), 3);
  EXPECT_EQ(at(after, "gridd_incidents_open"), 1);
  EXPECT_EQ(at(after, R"(gridd_incidents_open_by_colour{colour="none"})"), 1);
  EXPECT_EQ(at(after, R"(gridd_store_write_duration_seconds_count{store="incidents"})"), 1);
  EXPECT_GT(at(after, "gridd_process_resident_memory_bytes"), 1e6);
  EXPECT_GT(at(after, "gridd_process_open_fds"), 2);
  EXPECT_GE(at(after, "gridd_http_connections_open"), 1);
  EXPECT_GE(at(after, "gridd_http_requests_in_flight"), 1);  // the scrape itself
  EXPECT_EQ(at(after, "gridd_http_connections_rejected_total"), 0);
  EXPECT_TRUE(after.count("gridd_tile_cache_hits_total"));
}

TEST(Observability, ReadyzAndRequestIdsInHeadersAndErrorBodies) {
  TempDir dir;
  ServerProcess server(dir.file("city.gpkg"));
  HttpClient c(server.port());
  const HttpResponse ready = c.get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(body_json(ready)["status"], "ready");
  // Our own id is echoed, in the header and the error body.
  RawSocket s(server.port());
  ASSERT_TRUE(s.send_all("GET /grids/424242 HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-42.a\r\nConnection: close\r\n\r\n"));
  const std::string raw = s.read_all();
  EXPECT_EQ(raw_status(raw), 404);
  EXPECT_NE(raw.find("X-Request-Id: trace-42.a\r\n"), std::string::npos) << raw;
  const Json body = Json::parse(raw.substr(raw.find("\r\n\r\n") + 4));
  EXPECT_EQ(body["request_id"], "trace-42.a");
  EXPECT_EQ(body["code"], "grid_not_found");
  // A hostile id is replaced by one of the server's; every answer has one.
  RawSocket t(server.port());
  ASSERT_TRUE(t.send_all("GET /grids/424242 HTTP/1.1\r\nHost: x\r\nX-Request-Id: <script>\r\nConnection: close\r\n\r\n"));
  const std::string raw2 = t.read_all();
  EXPECT_EQ(raw2.find("<script>"), std::string::npos) << raw2;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(raw2, m, std::regex("X-Request-Id: ([0-9a-f]+-[0-9]+)\r\n"))) << raw2;
  EXPECT_EQ(Json::parse(raw2.substr(raw2.find("\r\n\r\n") + 4))["request_id"], m[1].str());
  const HttpResponse ok = c.get("/healthz");
  EXPECT_FALSE(ok.header("X-Request-Id").empty());
}

TEST(Observability, AccessLogIsOneJsonObjectPerRequestWithTokensRedacted) {
  TempDir dir;
  const std::string log = dir.file("access.log");
  {
    ServerProcess server(dir.file("city.gpkg"), {"--access-log-file", log});
    HttpClient c(server.port());
    make_city(c);
    ASSERT_EQ(c.get("/locate?lon=116.51&lat=35.41").status, 200);
    ASSERT_EQ(c.get("/grids/31337?access_token=gridd_secret-value&x=1").status, 404);
    EXPECT_EQ(server.stop(), 0);
  }
  std::ifstream in(log);
  std::vector<Json> lines;
  std::string line;
  while (std::getline(in, line)) {
    EXPECT_TRUE(Json::accept(line)) << line;
    if (Json::accept(line)) lines.push_back(Json::parse(line));
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["method"], "POST");
  EXPECT_EQ(lines[0]["route"], "/grids");
  EXPECT_EQ(lines[0]["status"], 201);
  EXPECT_EQ(lines[1]["route"], "/locate");
  EXPECT_EQ(lines[1]["remote"], "127.0.0.1");
  EXPECT_GT(lines[1]["bytes"].get<int>(), 100);
  EXPECT_GE(lines[1]["duration_ms"].get<double>(), 0.0);
  EXPECT_FALSE(lines[1]["request_id"].get<std::string>().empty());
  EXPECT_FALSE(lines[1]["time"].get<std::string>().empty());
  EXPECT_EQ(lines[2]["status"], 404);
  EXPECT_EQ(lines[2]["target"], "/grids/31337?access_token=REDACTED&x=1");
  std::ifstream again(log);
  const std::string all((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.find("secret-value"), std::string::npos);
}

TEST(Hardening, SigtermLetsARequestInFlightFinishAndRefusesNewOnes) {
  TempDir dir;
  const std::string store = dir.file("city.gpkg");
  ServerProcess server(store, {"--shutdown-grace", "20"});
  const unsigned short port = server.port();
  const std::string body =
      collection({grid_feature("Z", "district", "", 116.50, 35.40, 116.54, 35.42)}).dump();
  RawSocket idle(port);  // a keep-alive connection with nothing to say
  RawSocket s(port);
  ASSERT_TRUE(s.send_all("POST /grids HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, body.size() / 2)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // The idle connection was closed at once (not after the 5 s receive timeout);
  // a new one is refused (or closed unanswered).
  const auto t0 = Clock::now();
  EXPECT_EQ(idle.receive_some(), "");
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 3.0);
  {
    RawSocket late(port);
    if (late.ok()) {
      late.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      EXPECT_EQ(raw_status(late.read_all()), 0) << "a new request was answered during shutdown";
    }
  }
  // The request in flight completes.
  ASSERT_TRUE(s.send_all(body.substr(body.size() / 2)));
  const std::string answer = s.read_all();
  EXPECT_EQ(raw_status(answer), 201) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos);
  const int status = server.wait_exit(10);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  // And the write is stored.
  ServerProcess again(store);
  HttpClient c(again.port());
  EXPECT_EQ(body_json(c.get("/grids?code=Z"))["features"].size(), 1u);
}

TEST(Hardening, ConnectionsBeyondTheCapAre503AndClosed) {
  TempDir dir;
  ServerProcess server(dir.file("city.gpkg"), {"--max-connections", "3"});
  const unsigned short port = server.port();
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<HttpClient>(port));
    ASSERT_EQ(held.back()->get("/healthz").status, 200);
  }
  RawSocket extra(port);
  ASSERT_TRUE(extra.ok());
  extra.send_all("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string refused = extra.read_all();
  EXPECT_EQ(raw_status(refused), 503) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos);
  EXPECT_NE(refused.find("too_many_connections"), std::string::npos);
  // The held connections keep working; one closed makes room again.
  EXPECT_EQ(held[0]->get("/healthz").status, 200);
  held.pop_back();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  HttpClient c(port);
  const auto m = scrape(c);
  EXPECT_GE(at(m, "gridd_http_connections_rejected_total"), 1);
}

TEST(Hardening, AClientTricklingItsHeadersIsCutOffAfterTheTimeout) {
  TempDir dir;
  ServerProcess server(dir.file("city.gpkg"), {"--timeout", "2"});
  RawSocket s(server.port());
  const auto t0 = Clock::now();
  bool cut = !s.send_all("GET /healthz HTTP/1.1\r\n");
  // One header byte every 200 ms: each byte would reset a per-read timer.
  for (int i = 0; i < 60 && !cut; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cut = !s.send_all("X");
  }
  if (!cut) cut = s.receive_some().empty();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_TRUE(cut);
  EXPECT_GE(seconds, 1.5);
  EXPECT_LT(seconds, 8.0) << "the slow client held the connection for " << seconds << " s";
  expect_healthy(server);
}

TEST(Hardening, AnIdleKeepAliveConnectionClosesAfterTheTimeoutAndABusyOneStaysOpen) {
  TempDir dir;
  ServerProcess server(dir.file("city.gpkg"), {"--timeout", "2"});
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
  // Busy: a request every 500 ms for 5 s, longer than the timeout; each
  // answer moves the deadline on, so the connection stays open throughout.
  RawSocket busy(server.port());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(busy.send_all(request)) << "request " << i;
    const std::string answer = busy.receive_some();
    ASSERT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << "request " << i << ": " << answer;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  // Idle: after its answer, nothing; the server closes it about 2 s later.
  RawSocket idle(server.port());
  ASSERT_TRUE(idle.send_all(request));
  ASSERT_NE(idle.receive_some().find("HTTP/1.1 200"), std::string::npos);
  const auto t0 = Clock::now();
  EXPECT_EQ(idle.receive_some(), "");  // the close (the socket's own receive timeout is 5 s)
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(seconds, 1.5);
  EXPECT_LT(seconds, 4.5) << "the idle connection stayed open " << seconds << " s";
  expect_healthy(server);
}

}  // namespace
}  // namespace gridd::http_test
