#pragma once
/// @file server.hpp
/// The Boost.Beast HTTP/1.1 server: one io_context run by N threads, a
/// session per connection on its own strand, a fresh parser per request with
/// a body limit, timeouts on every read and write, keep-alive, and static
/// files for the web map (GET / answers the OGC API landing page instead
/// when the client asks for JSON), gzip for clients that accept it, and
/// configurable CORS. The only layer that links Beast.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "gridd/api/handlers.hpp"

namespace gridd::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;   ///< 0 picks a free port (see Server::port())
  unsigned threads = 0;        ///< 0: one per core
  std::size_t body_limit = 64 * 1024 * 1024;
  /// A request (headers and body) must arrive within this, however slowly it
  /// trickles in; an answer must be taken within it; an idle keep-alive
  /// connection is closed after it.
  std::chrono::seconds timeout{30};
  /// Connections beyond this are answered 503 (Retry-After) and closed.
  std::size_t max_connections = 1024;
  /// Requests on one keep-alive connection before it is closed (pipelined
  /// requests are read and answered one at a time).
  std::size_t max_requests_per_connection = 10000;
  /// On SIGTERM/SIGINT: stop accepting, let requests in flight finish for up
  /// to this long, then stop.
  std::chrono::seconds shutdown_grace{10};
  std::string web_root;        ///< directory served at / (index.html); empty: none
  /// Access log, one JSON object per request: "" off, "-" stderr, or a file
  /// (appended to).
  std::string access_log;
  /// Access-Control-Allow-Origin: "*" (any origin), "none" or empty (no
  /// CORS headers), or a comma-separated list of origins (the request's
  /// Origin is echoed when listed, with Vary: Origin).
  std::string cors_origin = "*";
  /// Behind a reverse proxy: the client's address is the last one the proxy
  /// appended to X-Forwarded-For (anonymous intake limits count by it);
  /// else the peer's address.
  bool behind_proxy = false;
  /// gzip responses larger than this (compressible types only, when the
  /// client accepts gzip); 0 disables compression.
  std::size_t gzip_min_bytes = 1024;
};

class Server {
 public:
  Server(const api::Api& api, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The bound port (after construction, also when 0 was asked).
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// Serve until stop() or SIGINT/SIGTERM. Blocks.
  void run();
  /// Shut down gracefully: stop accepting, close idle connections and event
  /// streams, let requests in flight finish (up to shutdown_grace), then make
  /// run() return. Safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace gridd::http
