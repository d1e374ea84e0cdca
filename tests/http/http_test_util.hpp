#pragma once
// Shared helpers for the end-to-end HTTP tests: JSON bodies, small synthetic
// grids and stations, and checks of the error contract {code, message, field}.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "http/http_fixture.hpp"

namespace gridd::http_test {

using Json = nlohmann::json;

/// The body of a response as JSON; a test failure (and null) when it is not JSON.
inline Json body_json(const HttpResponse& r) {
  Json j = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "response body is not JSON (status " << r.status << "): " << r.body.substr(0, 300);
    return Json();
  }
  return j;
}

/// A closed rectangular ring, counter-clockwise.
inline Json rect_coords(double x0, double y0, double x1, double y1) {
  return Json::array({Json::array({Json::array({x0, y0}), Json::array({x1, y0}), Json::array({x1, y1}),
                                   Json::array({x0, y1}), Json::array({x0, y0})})});
}

inline Json polygon(const Json& coords) { return Json{{"type", "Polygon"}, {"coordinates", coords}}; }

/// A grid Feature with a rectangular geometry.
inline Json grid_feature(const std::string& code, const std::string& level, const std::string& parent, double x0,
                         double y0, double x1, double y1, const std::string& name = "") {
  Json props{{"code", code}, {"name", name.empty() ? "grid " + code : name}, {"level", level}};
  if (!parent.empty()) props["parent"] = parent;
  return Json{{"type", "Feature"}, {"geometry", polygon(rect_coords(x0, y0, x1, y1))}, {"properties", props}};
}

inline Json station_feature(const std::string& name, const std::string& kind, double lon, double lat,
                            const std::string& code = "") {
  Json props{{"name", name}, {"kind", kind}};
  if (!code.empty()) props["code"] = code;
  return Json{{"type", "Feature"},
              {"geometry", Json{{"type", "Point"}, {"coordinates", Json::array({lon, lat})}}},
              {"properties", props}};
}

inline Json collection(const std::vector<Json>& features) {
  return Json{{"type", "FeatureCollection"}, {"features", features}};
}

/// Assert the error contract: the status, a JSON body {code, message, field}
/// with the expected code, and (when field_part is given) a field naming the
/// problem (it contains field_part).
inline void expect_error(const HttpResponse& r, int status, const std::string& code,
                         const std::optional<std::string>& field_part = std::nullopt) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_LT(r.status, 500) << r.body;
  EXPECT_NE(r.content_type.find("json"), std::string::npos) << r.content_type;
  const Json j = body_json(r);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j.value("code", ""), code) << r.body;
  ASSERT_TRUE(j.contains("message")) << r.body;
  EXPECT_TRUE(j["message"].is_string() && !j["message"].get<std::string>().empty()) << r.body;
  ASSERT_TRUE(j.contains("field")) << r.body;
  if (field_part) {
    ASSERT_TRUE(j["field"].is_string()) << r.body;
    EXPECT_NE(j["field"].get<std::string>().find(*field_part), std::string::npos)
        << "field '" << j["field"].get<std::string>() << "' does not name '" << *field_part << "'";
  }
}

/// /healthz answers 200 {"status":"ok"} and the process is alive.
inline void expect_healthy(ServerProcess& server) {
  ASSERT_TRUE(server.alive());
  HttpClient c(server.port());
  const HttpResponse r = c.get("/healthz");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r).value("status", ""), "ok");
}

/// Healthz counts.
inline std::pair<std::size_t, std::size_t> health_counts(unsigned short port) {
  HttpClient c(port);
  const HttpResponse r = c.get("/healthz");
  EXPECT_EQ(r.status, 200) << r.body;
  const Json j = body_json(r);
  return {j.value("grids", std::size_t{0}), j.value("stations", std::size_t{0})};
}

/// POST and require a 201; returns the body.
inline Json post_created(HttpClient& c, const std::string& target, const Json& body) {
  const HttpResponse r = c.post(target, body.dump());
  EXPECT_EQ(r.status, 201) << target << ": " << r.body;
  return body_json(r);
}

/// Walk every page of a listing; returns all features in order. Fails when a
/// page loop does not terminate.
inline std::vector<Json> list_all(HttpClient& c, const std::string& path_and_query, int limit,
                                  int* pages_out = nullptr) {
  std::vector<Json> all;
  std::string cursor;
  int pages = 0;
  const char sep = path_and_query.find('?') == std::string::npos ? '?' : '&';
  for (;;) {
    std::string target = path_and_query + sep + "limit=" + std::to_string(limit);
    if (!cursor.empty()) target += "&cursor=" + cursor;
    const HttpResponse r = c.get(target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    if (r.status != 200) break;
    const Json j = body_json(r);
    EXPECT_EQ(j.value("type", ""), "FeatureCollection");
    EXPECT_LE(j["features"].size(), static_cast<std::size_t>(limit));
    EXPECT_EQ(j.value("numberReturned", std::size_t{0}), j["features"].size());
    for (const auto& f : j["features"]) all.push_back(f);
    ++pages;
    if (pages > 100000) {
      ADD_FAILURE() << "paging does not terminate";
      break;
    }
    if (j["next_cursor"].is_null()) break;
    EXPECT_TRUE(j["next_cursor"].is_string());
    EXPECT_EQ(j["features"].size(), static_cast<std::size_t>(limit)) << "a non-final page is short";
    cursor = j["next_cursor"].get<std::string>();
  }
  if (pages_out) *pages_out = pages;
  return all;
}

// A 3x2 RGB PNG (made with zlib; GDAL's PNG driver reads it).
inline const std::string k_tiny_png(
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x03\x00\x00\x00\x02\x08\x02"
    "\x00\x00\x00\x12\x16\xf1\x4d\x00\x00\x00\x10\x49\x44\x41\x54\x78\x9c\x63\xf8\xcf\xc0\x00\x41\x0c\x70\x16"
    "\x00\x41\xd2\x05\xfb\x87\xf0\xb9\x48\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82",
    73);

/// A raw TCP connection for bytes that are not (valid) HTTP.
class RawSocket {
 public:
  explicit RawSocket(unsigned short port) {
    m_fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(m_fd);
      m_fd = -1;
    }
    timeval tv{5, 0};
    if (m_fd >= 0) setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawSocket() {
    if (m_fd >= 0) ::close(m_fd);
  }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  [[nodiscard]] bool ok() const { return m_fd >= 0; }
  /// Send all bytes; false when the peer closed or reset the connection first.
  bool send_all(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(m_fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }
  void shutdown_write() { ::shutdown(m_fd, SHUT_WR); }
  /// What arrives next (empty after 5 s of silence, a close or a reset).
  std::string receive_some() {
    char buf[8192];
    const ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  /// Everything the server sends until it closes (or 5 s pass, or a reset).
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(m_fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int m_fd = -1;
};

/// The status code of a raw HTTP response ("HTTP/1.1 400 ..."), 0 when none.
inline int raw_status(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}

}  // namespace gridd::http_test
