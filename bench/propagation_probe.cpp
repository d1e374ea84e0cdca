// gridd_propagation_probe: how long a change committed through one gridd
// instance takes to reach another instance on the same PostgreSQL/PostGIS
// database. It follows instance B's live feed (/incidents/feed, server-sent
// events), reports COUNT incidents through instance A one after another, and
// for each one measures from A's acknowledgement (the 201) to the moment the
// incident's event arrives on B's feed. Prints count, timeouts, median, p90,
// p99 and max in milliseconds (one line, key=value).
//
// Usage: gridd_propagation_probe PORT_A PORT_B COUNT LON LAT
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

std::mutex g_mutex;
std::condition_variable g_cv;
std::map<std::int64_t, Clock::time_point> g_arrivals;  // incident id -> first event seen on B
bool g_feed_open = false;

/// Read B's feed forever, noting when each incident's first event arrives.
void follow_feed(unsigned short port) {
  asio::io_context ioc;
  asio::ip::tcp::socket socket(ioc);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  const std::string request =
      "GET /incidents/feed HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  asio::streambuf buf;
  buf.consume(asio::read_until(socket, buf, "\r\n\r\n"));  // the response head
  {
    std::lock_guard lock(g_mutex);
    g_feed_open = true;
  }
  g_cv.notify_all();
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = asio::read_until(socket, buf, '\n', ec);  // one whole line
    if (ec) return;
    const auto begin = asio::buffers_begin(buf.data());
    const std::string line(begin, begin + static_cast<std::ptrdiff_t>(n));
    buf.consume(n);
    const auto data = line.find("data: ");
    if (data == std::string::npos) continue;
    const auto now = Clock::now();
    const auto j = nlohmann::json::parse(line.substr(data + 6), nullptr, false);
    if (j.is_discarded() || !j.contains("incident")) continue;
    const std::int64_t id = j["incident"].value("id", std::int64_t{0});
    std::lock_guard lock(g_mutex);
    g_arrivals.emplace(id, now);
    g_cv.notify_all();
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: gridd_propagation_probe PORT_A PORT_B COUNT LON LAT\n";
    return 2;
  }
  const auto port_a = static_cast<unsigned short>(std::stoi(argv[1]));
  const auto port_b = static_cast<unsigned short>(std::stoi(argv[2]));
  const int count = std::stoi(argv[3]);
  const double lon = std::stod(argv[4]), lat = std::stod(argv[5]);

  std::thread feed(follow_feed, port_b);
  feed.detach();
  {
    std::unique_lock lock(g_mutex);
    if (!g_cv.wait_for(lock, std::chrono::seconds(10), [] { return g_feed_open; })) {
      std::cerr << "B's feed did not open\n";
      return 1;
    }
  }
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_a));
  std::vector<double> delays;
  int timeouts = 0;
  for (int n = 0; n < count; ++n) {
    http::request<http::string_body> req(http::verb::post, "/incidents", 11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = nlohmann::json{{"category", "property_dispute"},
                                {"description", "propagation probe " + std::to_string(n)},
                                {"lon", lon},
                                {"lat", lat}}
                     .dump();
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    const auto acked = Clock::now();
    if (res.result_int() != 201) {
      std::cerr << "report answered " << res.result_int() << ": " << res.body() << "\n";
      return 1;
    }
    const std::int64_t id = nlohmann::json::parse(res.body()).value("id", std::int64_t{0});
    std::unique_lock lock(g_mutex);
    if (!g_cv.wait_for(lock, std::chrono::seconds(5), [&] { return g_arrivals.count(id) > 0; })) {
      ++timeouts;
      continue;
    }
    const double ms = std::chrono::duration<double, std::milli>(g_arrivals[id] - acked).count();
    delays.push_back(std::max(ms, 0.0));  // B may hear of it before A's answer is read
  }
  std::printf("count=%zu timeouts=%d median_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", delays.size(), timeouts,
              percentile(delays, 0.5), percentile(delays, 0.9), percentile(delays, 0.99),
              delays.empty() ? 0.0 : *std::max_element(delays.begin(), delays.end()));
  std::fflush(stdout);
  std::_Exit(timeouts == 0 ? 0 : 1);  // the feed thread is still reading
}
