#pragma once
// A small city with grid workers, and bearer tokens made with the gridd CLI,
// for the HTTP tests of access control and of the field app's endpoints.

#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http/http_test_util.hpp"

namespace gridd::http_test {

inline constexpr double X0 = 116.50, Y0 = 35.40, U = 0.01;
inline const char* const k_worker_phone = "13912345601";
inline const char* const k_reporter_phone = "13712345699";

/// One request on a fresh connection, with an optional bearer token.
inline HttpResponse send(unsigned short port, const std::string& method, const std::string& target,
                         const std::string& token = {}, const std::string& body = {},
                         const std::string& content_type = "application/json",
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  HttpClient client(port);
  return client.request(method, target, body, content_type, headers);
}

/// Run the gridd CLI; returns (exit status, stdout).
inline std::pair<int, std::string> run_cli(const std::string& args) {
  const std::string cmd = gridd_binary() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, ""};
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// `gridd token create ...`; the token is the last line.
inline std::string create_token(const std::string& store, const std::string& role, const std::string& extra = {}) {
  const auto [rc, out] = run_cli("token create --role " + role + " --store '" + backend_store(store) + "'" + " " + extra);
  EXPECT_EQ(rc, 0) << out;
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const std::string token = s.substr(s.rfind('\n') + 1);
  EXPECT_EQ(token.rfind("gridd_", 0), 0u) << out;
  return token;
}

inline Json rect(const std::string& code, const std::string& level, const std::string& parent, double a, double b,
                 double c, double d, const std::string& phone) {
  Json f = grid_feature(code, level, parent, X0 + a * U, Y0 + b * U, X0 + c * U, Y0 + d * U);
  f["properties"]["people"] = Json::array({Json{{"name", "worker " + code}, {"role", "grid_worker"}, {"phone", phone}}});
  return f;
}

/// District D > street S > communities CA (0..2) and CB (2..4), a grid in each.
inline void make_city(unsigned short port) {
  const Json city = collection({rect("D1", "district", "", 0, 0, 4, 2, "13900000001"),
                                rect("S1", "street", "D1", 0, 0, 4, 2, "13900000002"),
                                rect("CA", "community", "S1", 0, 0, 2, 2, "13900000003"),
                                rect("CB", "community", "S1", 2, 0, 4, 2, "13900000004"),
                                rect("GA", "grid", "CA", 0, 0, 2, 2, k_worker_phone),
                                rect("GB", "grid", "CB", 2, 0, 4, 2, "13912345602")});
  const HttpResponse r = send(port, "POST", "/grids", "", city.dump());
  ASSERT_EQ(r.status, 201) << r.body;
}

inline Json incident_body(double dx) {
  return Json{{"category", "property_dispute"}, {"description", "noise"}, {"lon", X0 + dx * U}, {"lat", Y0 + 1 * U},
              {"channel", "hotline"}, {"reporter", {{"name", "resident Zhao"}, {"phone", k_reporter_phone}}}};
}

inline std::int64_t report(unsigned short port, double dx, const std::string& token = {}) {
  const HttpResponse r = send(port, "POST", "/incidents", token, incident_body(dx).dump());
  EXPECT_EQ(r.status, 201) << r.body;
  return body_json(r).value("id", std::int64_t{0});
}

inline void wait_for_reload() { std::this_thread::sleep_for(std::chrono::milliseconds(1300)); }

}  // namespace gridd::http_test
