#include "gridd/http/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/version.hpp>

#include <array>
#include <atomic>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <zlib.h>

#include "gridd/api/tile_api.hpp"
#include "gridd/core/error.hpp"
#include "gridd/core/json.hpp"
#include "gridd/core/text.hpp"
#include "gridd/core/time.hpp"

namespace gridd::http {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// One io_context per thread, each run by exactly one thread: a connection
// lives on one context, so its handlers never run concurrently and need no
// strand, and the concrete executor type avoids type-erased dispatch.
using Executor = net::io_context::executor_type;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Acceptor = net::basic_socket_acceptor<tcp, Executor>;
using Timer = net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>, Executor>;

namespace {

std::atomic<std::uint64_t> g_request_counter{0};

/// A request id: the client's X-Request-Id when it is a sane token (1..64 of
/// [A-Za-z0-9._:-]), else a new one (this process's start, in hex, and a counter).
std::string request_id_for(const std::string* incoming) {
  if (incoming && !incoming->empty() && incoming->size() <= 64) {
    bool ok = true;
    for (const char c : *incoming) {
      ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' || c == '-');
    }
    if (ok) return *incoming;
  }
  static const std::string prefix = [] {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%llx-", static_cast<unsigned long long>(
                                               std::chrono::system_clock::now().time_since_epoch().count() / 1000000));
    return std::string(buf);
  }();
  return prefix + std::to_string(++g_request_counter);
}

/// The path and query for the access log, with any access_token value hidden.
std::string loggable_target(std::string_view target) {
  std::string out(target);
  for (std::size_t at = out.find("access_token="); at != std::string::npos; at = out.find("access_token=", at)) {
    if (at != 0 && out[at - 1] != '?' && out[at - 1] != '&') {
      at += 13;
      continue;
    }
    const std::size_t start = at + 13;
    const std::size_t end = out.find('&', start);
    out.replace(start, (end == std::string::npos ? out.size() : end) - start, "REDACTED");
    at = start;
  }
  return out;
}

/// One JSON line per answered request, to stderr or a file.
class AccessLog {
 public:
  explicit AccessLog(const std::string& target) {
    if (target.empty()) return;
    if (target == "-") {
      m_out = stderr;
      return;
    }
    m_out = std::fopen(target.c_str(), "a");
    if (!m_out) throw_invalid("invalid_access_log", "cannot open the access log '" + target + "'", "access-log");
    m_own = true;
  }
  ~AccessLog() {
    if (m_own) std::fclose(m_out);
  }
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  [[nodiscard]] bool on() const noexcept { return m_out != nullptr; }
  void write(const Json& entry) {
    std::string line = entry.dump(-1, ' ', false, Json::error_handler_t::replace);
    line += '\n';
    std::lock_guard lock(m_mutex);
    std::fwrite(line.data(), 1, line.size(), m_out);
    std::fflush(m_out);
  }

 private:
  std::FILE* m_out = nullptr;
  bool m_own = false;
  std::mutex m_mutex;
};

class Session;

/// What every session of a server shares.
struct Shared {
  const api::Api& api;
  const ServerOptions& options;
  net::thread_pool* pool;
  AccessLog& log;
  api::ServerGauges& gauges;
  std::mutex sessions_mutex;
  std::unordered_map<const Session*, std::weak_ptr<Session>> sessions;
};

/// The request headers handed to the API (lower-case names, as api::Request expects them).
const std::pair<const char*, const char*> k_forwarded_headers[] = {
    {"If-Match", "if-match"},          {"If-None-Match", "if-none-match"},
    {"Last-Event-ID", "last-event-id"}, {"Accept", "accept"},
    {"Accept-Encoding", "accept-encoding"}, {"Authorization", "authorization"},
    {"Host", "host"},                   {"X-Forwarded-Proto", "x-forwarded-proto"},
    {"Origin", "origin"},               {"X-Request-Id", "x-request-id"},
    {"User-Agent", "user-agent"},       {"Idempotency-Key", "idempotency-key"},
    {"X-Forwarded-For", "x-forwarded-for"},
};

/// The last address of an X-Forwarded-For list (the one our proxy appended).
std::string last_forwarded(const std::string& list) {
  const auto comma = list.rfind(',');
  std::string_view a = std::string_view(list).substr(comma == std::string::npos ? 0 : comma + 1);
  while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
  while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.remove_suffix(1);
  return std::string(a.substr(0, 64));
}

/// True when an Accept-Encoding value admits gzip (gzip, x-gzip or * with q > 0).
bool accepts_gzip(const std::string* header) {
  if (!header) return false;
  const std::string value = to_lower(*header);
  bool star = false, gzip = false, gzip_named = false;
  std::size_t i = 0;
  while (i <= value.size()) {
    std::size_t comma = value.find(',', i);
    if (comma == std::string::npos) comma = value.size();
    const std::string_view item = trim(std::string_view(value).substr(i, comma - i));
    const std::size_t semi = item.find(';');
    const std::string_view name = trim(item.substr(0, semi));
    double q = 1;
    if (semi != std::string_view::npos) {
      const std::string_view params = item.substr(semi + 1);
      const std::size_t qpos = params.find("q=");
      if (qpos != std::string_view::npos) q = std::atof(std::string(params.substr(qpos + 2)).c_str());
    }
    if (name == "gzip" || name == "x-gzip") {
      gzip_named = true;
      gzip = gzip || q > 0;
    } else if (name == "*") {
      star = q > 0;
    }
    i = comma + 1;
  }
  return gzip || (!gzip_named && star);
}

/// Text-like types worth compressing (never images other than SVG, nor
/// already compressed archives).
bool compressible(std::string_view content_type) {
  const std::string_view t = trim(content_type.substr(0, content_type.find(';')));
  if (t.size() >= 5 && iequals(t.substr(0, 5), "text/")) return true;
  if (ifind(t, "json") != std::string_view::npos || ifind(t, "xml") != std::string_view::npos) return true;
  return iequals(t, "application/javascript") || iequals(t, "application/x-protobuf") ||
         iequals(t, "application/vnd.mapbox-vector-tile") || iequals(t, "application/wasm");
}

/// gzip of `data`; nullopt when zlib fails.
std::optional<std::string> gzip_of(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return std::nullopt;
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(data.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const std::size_t written = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  out.resize(written);
  return out;
}

/// GET / from a client that asks for JSON (f=json, or an Accept naming JSON
/// but not HTML) gets the OGC API landing page instead of the web map.
bool wants_json_root(const api::Request& r) {
  if (r.path != "/") return false;
  for (const auto& [k, v] : r.query) {
    if (k == "f") return v == "json" || v == "application/json";
  }
  const std::string* accept = r.header("accept");
  if (!accept) return false;
  const std::string a = to_lower(*accept);
  return a.find("json") != std::string::npos && a.find("text/html") == std::string::npos;
}

std::string mime_type(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".webmanifest") return "application/manifest+json";
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".wasm") return "application/wasm";
  if (ext == ".pbf" || ext == ".mvt") return "application/x-protobuf";
  return "application/octet-stream";
}

/// A static file from web_root, or nullopt when the path is not one.
std::optional<api::Response> static_file(const std::string& web_root, const std::string& path,
                                         const std::string* if_none_match) {
  if (web_root.empty()) return std::nullopt;
  std::string rel;
  if (path == "/" || path == "/index.html") {
    rel = "index.html";
  } else if (path.rfind("/web/", 0) == 0) {
    rel = path.substr(5);
  } else if (path == "/field" || path == "/field/") {
    rel = "field/index.html";  // the grid worker's phone app (a PWA scoped to /field/)
  } else if (path.rfind("/field/", 0) == 0) {
    rel = path.substr(1);
  } else if (path == "/report" || path == "/report/" || path.rfind("/report/status/", 0) == 0) {
    rel = "report/index.html";  // the resident's form; /report/status/CODE is the same page
  } else if (path.rfind("/report/", 0) == 0) {
    rel = path.substr(1);
  } else {
    return std::nullopt;
  }
  if (rel.find("..") != std::string::npos || rel.find('\0') != std::string::npos) return std::nullopt;
  const std::filesystem::path full = std::filesystem::path(web_root) / rel;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(full, ec)) return std::nullopt;
  // Confined to web/: a symbolic link may not lead outside it.
  const auto root = std::filesystem::canonical(web_root, ec);
  if (ec) return std::nullopt;
  const auto real = std::filesystem::canonical(full, ec);
  if (ec) return std::nullopt;
  const std::string root_text = root.string() + "/";
  if (real.string().compare(0, root_text.size(), root_text) != 0) return std::nullopt;
  // A weak validator from size and modification time.
  const auto size = std::filesystem::file_size(real, ec);
  const auto mtime = std::filesystem::last_write_time(real, ec).time_since_epoch().count();
  const std::string etag = "W/\"" + std::to_string(size) + "-" + std::to_string(mtime) + "\"";
  api::Response r;
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.headers.emplace_back("ETag", etag);
  if (if_none_match && *if_none_match == etag) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  std::ifstream in(real, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buf;
  buf << in.rdbuf();
  r.content_type = mime_type(real.string());
  r.body = buf.str();
  return r;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket&& socket, Shared& shared)
      : m_socket(std::move(socket)),
        m_watchdog(m_socket.get_executor()),
        m_shared(shared),
        m_api(shared.api),
        m_options(shared.options),
        m_pool(shared.pool) {
    beast::error_code ec;
    const auto remote = m_socket.remote_endpoint(ec);
    if (!ec) m_remote = remote.address().to_string();
    ++m_shared.gauges.open_connections;
  }

  void start() {
    {
      std::lock_guard lock(m_shared.sessions_mutex);
      m_shared.sessions.emplace(this, weak_from_this());
    }
    net::dispatch(m_socket.get_executor(), [self = shared_from_this()] {
      self->touch();
      self->arm_watchdog();
      self->do_read();
    });
  }

  [[nodiscard]] Executor executor() { return m_socket.get_executor(); }

  /// Shutting down: an idle connection or an event stream closes now; one
  /// reading or answering a request closes after its answer.
  void drain() {
    m_draining = true;
    if (m_feed) return feed_close();
    if (!m_busy && !(m_parser && m_parser->got_some())) close();
  }

 private:
  void do_read() {
    m_busy = false;
    if (m_draining || ++m_requests > m_options.max_requests_per_connection) return close();
    m_origin.clear();
    m_gzip_ok = false;
    m_inm_gzip = false;
    m_parser.emplace();
    m_parser->body_limit(m_options.body_limit);
    m_parser->header_limit(16 * 1024);
    touch();
    bhttp::async_read(m_socket, m_buffer, *m_parser,
                      beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::end_of_stream || ec == net::error::connection_reset || ec == beast::error::timeout ||
        ec == net::error::operation_aborted) {
      return close();
    }
    if (ec == bhttp::error::body_limit) {
      return send_error(bhttp::status::payload_too_large, "body_too_large",
                        "the request body exceeds the limit of " + std::to_string(m_options.body_limit) + " bytes",
                        "body");
    }
    if (ec == bhttp::error::header_limit) {
      return send_error(bhttp::status::request_header_fields_too_large, "headers_too_large",
                        "the request headers exceed 16 KiB", "headers");
    }
    if (ec) {
      if (m_buffer.size() == 0 && !m_parser->got_some()) return close();
      return send_error(bhttp::status::bad_request, "bad_request", "malformed HTTP request: " + ec.message(), "request");
    }
    // A transfer coding other than chunked (gzip, chunked) would be read as
    // if it were not there: refuse it (RFC 9112 section 6.1: 501).
    const auto te = m_parser->get()[bhttp::field::transfer_encoding];
    const std::string_view coding = trim(std::string_view(te.data(), te.size()));
    if (!te.empty() && !beast::iequals(beast::string_view(coding.data(), coding.size()), "chunked")) {
      return send_error(bhttp::status::not_implemented, "unsupported_transfer_encoding",
                        "only the chunked transfer coding is supported", "Transfer-Encoding");
    }
    handle(m_parser->release());
  }

  void handle(bhttp::request<bhttp::string_body>&& req) {
    m_busy = true;
    m_deadline = std::chrono::steady_clock::time_point::max();  // handling has no timeout; reads and writes do
    m_started = std::chrono::steady_clock::now();
    ++m_shared.gauges.in_flight;
    m_in_flight = true;
    api::Request r;
    r.method = std::string(req.method_string());
    const std::string_view target(req.target().data(), req.target().size());
    const std::size_t q = target.find('?');
    r.path = api::url_decode(target.substr(0, q), false);
    if (q != std::string_view::npos) r.query = api::parse_query(target.substr(q + 1));
    r.body = std::move(req.body());
    r.content_type = std::string(req[bhttp::field::content_type]);
    for (const auto& [field, name] : k_forwarded_headers) {
      const auto it = req.find(beast::string_view(field));
      if (it != req.end()) r.headers.emplace_back(name, std::string(it->value()));
    }
    r.request_id = request_id_for(r.header("x-request-id"));
    r.client_address = m_remote;
    if (m_options.behind_proxy) {
      if (const std::string* xff = r.header("x-forwarded-for"); xff && !last_forwarded(*xff).empty()) {
        r.client_address = last_forwarded(*xff);
      }
    }
    m_log_target.clear();
    if (m_shared.log.on()) {
      m_log_target = loggable_target(target);
      m_log_agent = r.header("user-agent") ? *r.header("user-agent") : std::string();
    }
    m_origin = r.header("origin") ? *r.header("origin") : std::string();
    m_gzip_ok = m_options.gzip_min_bytes > 0 && accepts_gzip(r.header("accept-encoding"));
    m_inm_gzip = false;
    for (auto& [name, value] : r.headers) {
      // The gzip variant's ETag is the plain one with "-gzip": validate
      // against the plain one and answer a 304 with the variant's tag.
      if (name != "if-none-match") continue;
      for (std::size_t at; (at = value.find("-gzip\"")) != std::string::npos;) {
        value.erase(at, 5);
        m_inm_gzip = true;
      }
    }

    if (req.method() == bhttp::verb::get && api::is_feed_request(r)) {
      std::unique_ptr<api::FeedStream> feed;
      try {
        feed = m_api.open_feed(r);
      } catch (const Error& e) {
        api::Response err = api::error_response_for(e, r);
        return respond(err, req.version(), req.keep_alive(), false, r.request_id, r.method);
      } catch (const std::exception& e) {
        std::cerr << "request " << r.request_id << " failed: " << e.what() << std::endl;
        api::Response err = api::error_response(500, "internal_error", "internal error (request " + r.request_id + ")");
        return respond(err, req.version(), false, false, r.request_id, r.method);
      }
      log_access(r.request_id, "GET", "/incidents/feed", 200, 0, "");
      finish_request();
      return start_feed(std::move(feed), r.request_id);
    }

    if ((req.method() == bhttp::verb::get || req.method() == bhttp::verb::head) && api::is_tile_request(r) && m_pool) {
      // Rendering may take a while: a worker renders, the session's own
      // context writes the answer, and locate queries never wait behind it.
      const unsigned version = req.version();
      const bool keep_alive = req.keep_alive();
      const bool head_only = req.method() == bhttp::verb::head;
      net::post(*m_pool, [self = shared_from_this(), r = std::move(r), version, keep_alive, head_only]() mutable {
        auto res = std::make_shared<api::Response>(self->m_api.handle(r));
        net::post(self->m_socket.get_executor(), [self, res, r = std::move(r), version, keep_alive, head_only]() {
          self->respond(*res, version, keep_alive, head_only, r.request_id, r.method);
        });
      });
      return;
    }

    api::Response res;
    if (req.method() == bhttp::verb::options) {
      // CORS preflight: browsers on other origins may call the API.
      res.status = 204;
      res.content_type.clear();
      if (!allowed_origin().empty()) {
        res.headers.emplace_back("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS");
        res.headers.emplace_back("Access-Control-Allow-Headers",
                                 "Content-Type, Authorization, If-None-Match, If-Match, Last-Event-ID, Accept-Encoding, "
                                 "Idempotency-Key");
        res.headers.emplace_back("Access-Control-Max-Age", "86400");
      }
    } else {
      std::optional<api::Response> file;
      const bool json_root = wants_json_root(r);
      if ((req.method() == bhttp::verb::get || req.method() == bhttp::verb::head) && !json_root) {
        file = static_file(m_options.web_root, r.path, r.header("if-none-match"));
      }
      res = file ? std::move(*file) : m_api.handle(r);
      if (r.path == "/" && !m_options.web_root.empty()) api::add_vary(res, "Accept");
    }

    respond(res, req.version(), req.keep_alive(), req.method() == bhttp::verb::head, r.request_id, r.method);
  }

  // -------------------------------------------------------------------------
  // Server-Sent Events: the live incident feed. The connection then only
  // carries the stream: frames are written as events commit (the FeedHub
  // wakes the session on its own context), a comment every 15 s keeps
  // proxies from closing it, and a pending one-byte read notices the client
  // leaving. Writes bypass the stream's idle timeout; a write that does not
  // finish within the timeout closes the connection (a slow consumer).
  // -------------------------------------------------------------------------
  void start_feed(std::unique_ptr<api::FeedStream> feed, const std::string& request_id) {
    m_feed = std::move(feed);
    m_feed_timer.emplace(m_socket.get_executor());
    m_write_timer.emplace(m_socket.get_executor());
    m_deadline = std::chrono::steady_clock::time_point::max();  // the stream has its own write timeout
    std::weak_ptr<Session> weak = shared_from_this();
    auto exec = m_socket.get_executor();
    m_feed_token = m_feed->service().feed().subscribe([weak, exec](std::int64_t) {
      net::post(exec, [weak] {
        if (auto self = weak.lock()) self->feed_wake();
      });
    });
    std::string out = "HTTP/1.1 200 OK\r\nServer: gridd\r\n" + cors_headers() + "X-Request-Id: ";
    out += request_id;
    out += "\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-store\r\n"
           "X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: 2000\n\n";
    m_socket.async_read_some(net::buffer(m_probe), [self = shared_from_this()](beast::error_code, std::size_t) {
      self->feed_close();
    });
    try {
      out += m_feed->poll();
    } catch (const std::exception& e) {
      std::cerr << "feed " << request_id << " failed: " << e.what() << std::endl;
      return feed_close();
    }
    feed_send(std::move(out));
  }

  void feed_send(std::string text) {
    m_feed_out = std::move(text);
    m_feed_writing = true;
    m_write_timer->expires_after(m_options.timeout);
    m_write_timer->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && self->m_feed_writing) self->feed_close();  // the client does not read
    });
    net::async_write(m_socket, net::buffer(m_feed_out), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->m_feed_writing = false;
      self->m_write_timer->cancel();
      if (ec) return self->feed_close();
      self->feed_wait();
    });
  }

  void feed_wait() {
    if (m_feed_closed) return;
    if (m_feed_pending) {
      m_feed_pending = false;
      std::string text;
      try {
        text = m_feed->poll();
      } catch (const std::exception& e) {
        std::cerr << "feed failed: " << e.what() << std::endl;
        return feed_close();
      }
      if (!text.empty()) return feed_send(std::move(text));
    }
    m_feed_timer->expires_after(std::chrono::seconds(15));
    m_feed_timer->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (self->m_feed_closed) return;
      if (ec == net::error::operation_aborted) return self->feed_wait();  // woken by a new event
      self->feed_send(": keepalive\n\n");
    });
  }

  void feed_wake() {
    if (m_feed_closed) return;
    m_feed_pending = true;
    if (!m_feed_writing) m_feed_timer->cancel();
  }

  void feed_close() {
    if (m_feed_closed) return;
    m_feed_closed = true;
    if (m_feed && m_feed_token) m_feed->service().feed().unsubscribe(m_feed_token);
    m_feed_token = 0;
    if (m_feed_timer) m_feed_timer->cancel();
    if (m_write_timer) m_write_timer->cancel();
    close();
  }

 public:
  ~Session() {
    if (m_feed && m_feed_token) m_feed->service().feed().unsubscribe(m_feed_token);
    finish_request();
    --m_shared.gauges.open_connections;
    std::lock_guard lock(m_shared.sessions_mutex);
    m_shared.sessions.erase(this);
  }

 private:
  /// The Access-Control-Allow-Origin value for this request ("" for none).
  [[nodiscard]] std::string allowed_origin() const {
    const std::string& o = m_options.cors_origin;
    if (o.empty() || o == "none") return {};
    if (o == "*") return o;
    if (m_origin.empty()) return {};
    std::size_t i = 0;
    while (i <= o.size()) {
      std::size_t comma = o.find(',', i);
      if (comma == std::string::npos) comma = o.size();
      if (trim(std::string_view(o).substr(i, comma - i)) == m_origin) return m_origin;
      i = comma + 1;
    }
    return {};
  }

  /// The CORS response headers (each line ending in CRLF), or "".
  [[nodiscard]] std::string cors_headers() const {
    const std::string origin = allowed_origin();
    std::string h;
    if (!origin.empty()) {
      h += "Access-Control-Allow-Origin: " + origin +
           "\r\nAccess-Control-Expose-Headers: ETag, Location, X-Request-Id, X-Tile-Cache, Content-Crs, Idempotent-Replayed\r\n";
    }
    if (m_options.cors_origin != "*" && m_options.cors_origin != "none" && !m_options.cors_origin.empty()) {
      h += "Vary: Origin\r\n";
    }
    return h;
  }

  /// gzip the body when the client accepts it and it is worth it; the gzip
  /// variant's strong ETag gets "-gzip" (weak ones stay).
  void compress(api::Response& res) {
    if (res.status == 304 && m_inm_gzip) {
      for (auto& [k, v] : res.headers) {
        if (iequals(k, "etag") && v.size() > 1 && v.front() == '"' && v.back() == '"') v.insert(v.size() - 1, "-gzip");
      }
      return;
    }
    if (res.content_type.empty() || !compressible(res.content_type) || m_options.gzip_min_bytes == 0) return;
    api::add_vary(res, "Accept-Encoding");
    if (!m_gzip_ok || res.status < 200 || res.status == 204 || res.status == 206 || res.status == 304) return;
    if (res.body.size() < m_options.gzip_min_bytes) return;
    for (const auto& [k, v] : res.headers) {
      if (iequals(k, "content-encoding")) return;
    }
    auto packed = gzip_of(res.body);
    if (!packed || packed->size() >= res.body.size()) return;
    res.body = std::move(*packed);
    res.headers.emplace_back("Content-Encoding", "gzip");
    for (auto& [k, v] : res.headers) {
      if (iequals(k, "etag") && v.size() > 1 && v.front() == '"' && v.back() == '"') v.insert(v.size() - 1, "-gzip");
    }
  }

  void send_error(bhttp::status status, const std::string& code, const std::string& message,
                  const std::string& field) {
    api::Response err = api::error_response(static_cast<int>(status), code, message, field);
    m_busy = true;
    m_started = std::chrono::steady_clock::now();
    m_log_target = "-";
    respond(err, 11, false, false, request_id_for(nullptr), "-");
  }

  /// The request is answered (or became an event stream).
  void finish_request() {
    if (m_in_flight) --m_shared.gauges.in_flight;
    m_in_flight = false;
  }

  void log_access(const std::string& request_id, const std::string& method, std::string_view route, int status,
                  std::size_t bytes, std::string_view role) {
    if (!m_shared.log.on()) return;
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - m_started).count();
    Json entry{{"time", format_iso8601(std::chrono::system_clock::now())},
               {"request_id", request_id},
               {"remote", m_remote},
               {"method", method},
               {"target", m_log_target},
               {"route", route.empty() ? Json(nullptr) : Json(std::string(route))},
               {"status", status},
               {"bytes", bytes},
               {"duration_ms", std::round(ms * 1000) / 1000},
               {"user_agent", m_log_agent.empty() ? Json(nullptr) : Json(m_log_agent)},
               {"role", role.empty() ? Json(nullptr) : Json(std::string(role))}};
    m_shared.log.write(entry);
  }

  /// Serialise the status line and headers into one string and send them
  /// with the body in a single gather write. (Beast parses requests; its
  /// generic serializer costs more than the whole locate answer, so the
  /// response head is written directly.)
  void respond(api::Response& res, unsigned version, bool keep_alive, bool head_only,
               const std::string& request_id, const std::string& method) {
    m_keep_alive = keep_alive && !m_draining && m_requests < m_options.max_requests_per_connection;
    keep_alive = m_keep_alive;
    // Error bodies name the request, so a report can be matched with the log.
    if (res.status >= 400 && !res.body.empty() && res.body.front() == '{' &&
        res.content_type.find("json") != std::string::npos && res.body.find("\"request_id\"") == std::string::npos) {
      res.body.insert(1, "\"request_id\":" + Json(request_id).dump() + (res.body.size() > 2 ? "," : ""));
    }
    log_access(request_id, method, res.route, res.status, res.body.size(), res.role);
    finish_request();
    compress(res);
    std::string& h = m_head;
    h.clear();
    h += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    h += std::to_string(res.status);
    h += ' ';
    const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
    h.append(reason.data(), reason.size());
    h += "\r\nServer: gridd\r\n";
    h += cors_headers();
    h += "X-Request-Id: ";
    h += request_id;
    if (!res.content_type.empty()) {
      h += "\r\nContent-Type: ";
      h += res.content_type;
    }
    for (const auto& [k, v] : res.headers) {
      h += "\r\n";
      h += k;
      h += ": ";
      h += v;
    }
    if (res.status != 204 && res.status != 304) {
      h += "\r\nContent-Length: ";
      h += std::to_string(res.body.size());
    }
    if (version == 10 && keep_alive) h += "\r\nConnection: keep-alive";
    if (version != 10 && !keep_alive) h += "\r\nConnection: close";
    h += "\r\n\r\n";
    m_body.clear();
    if (!head_only && res.status != 204 && res.status != 304) m_body = std::move(res.body);
    write();
  }

  void write() {
    touch();
    const std::array<net::const_buffer, 2> buffers{net::buffer(m_head), net::buffer(m_body)};
    net::async_write(m_socket, buffers, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->m_busy = false;
      if (ec || !self->m_keep_alive || self->m_draining) return self->close();
      self->do_read();
    });
  }

  void close() {
    beast::error_code ec;
    m_socket.shutdown(tcp::socket::shutdown_send, ec);
    m_socket.close(ec);
    m_watchdog.cancel();
  }

  /// Reading or writing may take up to the timeout from now.
  void touch() { m_deadline = std::chrono::steady_clock::now() + m_options.timeout; }

  /// One timer per connection instead of one per socket operation: it wakes
  /// at the deadline, closes the connection when no read or write moved it
  /// on since, else sleeps until the new one. (While a request is handled
  /// the deadline is "never"; the feed has its own write timer.)
  void arm_watchdog() {
    m_watchdog.expires_at(std::min(m_deadline, std::chrono::steady_clock::now() + m_options.timeout));
    m_watchdog.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || !self->m_socket.is_open()) return;
      if (std::chrono::steady_clock::now() >= self->m_deadline) return self->close();
      self->arm_watchdog();
    });
  }

  Socket m_socket;
  Timer m_watchdog;
  std::chrono::steady_clock::time_point m_deadline{};
  beast::flat_buffer m_buffer;
  std::optional<bhttp::request_parser<bhttp::string_body>> m_parser;
  std::string m_head;
  std::string m_body;
  bool m_keep_alive = false;
  // Per request (a connection answers one request at a time).
  std::string m_origin;    ///< the Origin header
  bool m_gzip_ok = false;  ///< Accept-Encoding admits gzip
  bool m_inm_gzip = false; ///< If-None-Match named a gzip variant's ETag
  // The live feed (only on a connection that asked for it).
  std::unique_ptr<api::FeedStream> m_feed;
  std::optional<net::steady_timer> m_feed_timer;
  std::optional<net::steady_timer> m_write_timer;
  std::uint64_t m_feed_token = 0;
  std::string m_feed_out;
  std::array<char, 1> m_probe{};
  bool m_feed_writing = false;
  bool m_feed_pending = false;
  bool m_feed_closed = false;
  Shared& m_shared;
  const api::Api& m_api;
  const ServerOptions& m_options;
  net::thread_pool* m_pool;
  std::string m_remote;       ///< the client's address
  std::size_t m_requests = 0; ///< requests read on this connection
  bool m_busy = false;        ///< a request is being handled or answered
  bool m_in_flight = false;   ///< counted in gauges.in_flight
  bool m_draining = false;    ///< the server is shutting down
  std::chrono::steady_clock::time_point m_started;
  std::string m_log_target;   ///< for the access log
  std::string m_log_agent;
};

}  // namespace

struct Server::Impl {
  Impl(const api::Api& a, ServerOptions o)
      : api(a), options(std::move(o)), log(options.access_log), shared{api, options, &pool, log, api.gauges(), {}, {}} {
    const unsigned n = thread_count();
    for (unsigned i = 0; i < n; ++i) {
      contexts.push_back(std::make_unique<net::io_context>(1));
      guards.emplace_back(contexts.back()->get_executor());
    }
    acceptor.emplace(contexts[0]->get_executor());
    signals.emplace(*contexts[0], SIGINT, SIGTERM);
    const tcp::endpoint endpoint(net::ip::make_address(options.host), options.port);
    acceptor->open(endpoint.protocol());
    acceptor->set_option(net::socket_base::reuse_address(true));
    acceptor->bind(endpoint);
    acceptor->listen(net::socket_base::max_listen_connections);
    port = acceptor->local_endpoint().port();
  }

  [[nodiscard]] unsigned thread_count() const {
    return options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  }

  void accept() {
    net::io_context& target = *contexts[next_context++ % contexts.size()];
    acceptor->async_accept(target, [this](beast::error_code ec, Socket socket) {
      if (ec == net::error::operation_aborted || draining) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        if (static_cast<std::size_t>(std::max<std::int64_t>(0, shared.gauges.open_connections.load())) >=
            options.max_connections) {
          refuse(socket);
        } else {
          ++shared.gauges.accepted_connections;
          std::make_shared<Session>(std::move(socket), shared)->start();
        }
      }
      accept();
    });
  }

  /// Beyond the connection cap: a short 503 and close (never queued).
  void refuse(Socket& socket) {
    ++shared.gauges.rejected_connections;
    static const std::string body =
        R"({"code":"too_many_connections","message":"the server is at its connection limit; retry shortly","field":null})";
    const std::string answer = "HTTP/1.1 503 Service Unavailable\r\nServer: gridd\r\nContent-Type: application/json\r\n"
                               "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body;
    beast::error_code ec;
    net::write(socket, net::buffer(answer), ec);  // a few hundred bytes into an empty socket buffer
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
  }

  /// Stop accepting, close idle connections and event streams; sessions
  /// answering a request close after it. run() returns when the last one is
  /// gone, or when the grace period ends.
  void drain() {
    if (draining.exchange(true)) return;
    shared.gauges.draining = true;
    beast::error_code ec;
    acceptor->close(ec);
    signals->cancel(ec);
    for (auto& g : guards) g.reset();
    std::vector<std::shared_ptr<Session>> open;
    {
      std::lock_guard lock(shared.sessions_mutex);
      for (auto& [key, weak] : shared.sessions) {
        if (auto s = weak.lock()) open.push_back(std::move(s));
      }
    }
    for (auto& s : open) {
      const Executor exec = s->executor();  // before the handler takes `s`
      net::post(exec, [s = std::move(s)] { s->drain(); });
    }
    {
      std::lock_guard lock(grace_mutex);
      grace_started = true;
    }
    grace_cv.notify_all();
  }

  const api::Api& api;
  ServerOptions options;
  AccessLog log;
  net::thread_pool pool{std::max(2u, std::thread::hardware_concurrency())};  // tile rendering
  Shared shared;
  std::atomic<bool> draining{false};
  std::mutex grace_mutex;
  std::condition_variable grace_cv;
  bool grace_started = false;
  bool finished = false;
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::executor_work_guard<Executor>> guards;
  std::optional<Acceptor> acceptor;
  std::optional<net::signal_set> signals;
  std::size_t next_context = 0;
  std::uint16_t port = 0;
};

Server::Server(const api::Api& api, ServerOptions options) : m_impl(std::make_unique<Impl>(api, std::move(options))) {}


std::uint16_t Server::port() const noexcept { return m_impl->port; }

void Server::run() {
  Impl& impl = *m_impl;
  impl.signals->async_wait([this](beast::error_code ec, int) {
    if (!ec) m_impl->drain();
  });
  impl.accept();
  // The grace period: once a drain began, stop whatever still runs after it.
  std::thread watchdog([&impl] {
    std::unique_lock lock(impl.grace_mutex);
    impl.grace_cv.wait(lock, [&] { return impl.grace_started || impl.finished; });
    if (impl.finished) return;
    if (!impl.grace_cv.wait_for(lock, impl.options.shutdown_grace, [&] { return impl.finished; })) {
      std::cerr << "gridd: requests still running after the shutdown grace period; stopping" << std::endl;
      for (auto& c : impl.contexts) c->stop();
    }
  });
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < impl.contexts.size(); ++i) {
    threads.emplace_back([&impl, i] { impl.contexts[i]->run(); });
  }
  impl.contexts[0]->run();
  for (auto& t : threads) t.join();
  {
    std::lock_guard lock(impl.grace_mutex);
    impl.finished = true;
  }
  impl.grace_cv.notify_all();
  watchdog.join();
}

void Server::stop() {
  net::post(*m_impl->contexts[0], [this] { m_impl->drain(); });
}

Server::~Server() {
  m_impl->pool.stop();
  m_impl->pool.join();
}

}  // namespace gridd::http
