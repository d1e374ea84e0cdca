#pragma once
// A copy of tests/support/server_process.hpp for the HTTP suite, with two
// fixes (the original does not compile with Boost 1.74; see below):
//  * HttpClient::reconnect() assigned a new beast::tcp_stream, whose move
//    assignment is deleted in Boost 1.74; it now closes the socket and
//    connects the same stream again (asio reopens a closed socket).
//  * ServerProcess::stop() closed the read end of the child's stdout before
//    SIGTERM, so the server's final "gridd stopped" line died of SIGPIPE;
//    the pipe is now closed after the child has exited.
// Run the real gridd binary on 127.0.0.1 with a free port and talk HTTP/1.1
// to it.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <csignal>
#include <fcntl.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <map>
#include <memory>
#include <mutex>

#include "common/pg_test_db.hpp"

namespace gridd::http_test {

/// The store backend the suite runs against: "gpkg" (the default) or
/// "postgis" ($GRIDD_TEST_BACKEND; CTest runs the whole suite both ways).
inline bool on_postgis() {
  const char* env = std::getenv("GRIDD_TEST_BACKEND");
  return env && std::string(env) == "postgis";
}

/// The store a test names by a GeoPackage path, on the backend under test:
/// the path itself, or (on PostGIS) a fresh database of the test cluster,
/// the same one for the same path within the test (so restarts find their
/// data); the databases are dropped when the test process ends.
inline std::string backend_store(const std::string& path) {
  if (!on_postgis() || path.size() < 5 || path.compare(path.size() - 5, 5, ".gpkg") != 0) return path;
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<test::PgDatabase>> databases;
  std::lock_guard lock(mutex);
  auto& db = databases[path];
  if (!db) db = std::make_unique<test::PgDatabase>();
  return db->uri();
}

/// The gridd binary the tests run: $GRIDD_BINARY when set (scripts/sanitize.sh
/// points it at a sanitized build of the server), else the one built here.
inline std::string gridd_binary() {
  const char* env = std::getenv("GRIDD_BINARY");
  return env && *env ? std::string(env) : std::string(GRIDD_BINARY);
}

/// A unique empty directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gridd-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    m_path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return m_path; }
  [[nodiscard]] std::string file(const std::string& name) const { return (m_path / name).string(); }

 private:
  std::filesystem::path m_path;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string header(const std::string&) const;
  boost::beast::http::fields fields;
};

inline std::string HttpResponse::header(const std::string& name) const {
  auto it = fields.find(name);
  return it == fields.end() ? std::string() : std::string(it->value());
}

/// One keep-alive connection to the server.
class HttpClient {
 public:
  explicit HttpClient(unsigned short port) : m_port(port), m_stream(m_ioc) { connect(); }

  HttpResponse request(const std::string& method, const std::string& target, const std::string& body = {},
                       const std::string& content_type = "application/json",
                       const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (req.method() == http::verb::unknown) req.method_string(method);
    for (const auto& [name, value] : headers) req.set(name, value);
    if (!body.empty()) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.prepare_payload();
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        http::write(m_stream, req);
        boost::beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(1024 * 1024 * 1024);
        http::read(m_stream, buffer, parser);
        auto res = parser.release();
        HttpResponse out;
        out.status = static_cast<int>(res.result_int());
        out.body = res.body();
        out.content_type = std::string(res[http::field::content_type]);
        out.fields = res.base();
        if (!res.keep_alive()) reconnect();
        return out;
      } catch (const boost::system::system_error&) {
        if (attempt == 1) throw;
        reconnect();  // the server closed an idle keep-alive connection
      }
    }
    return {};
  }
  HttpResponse get(const std::string& target) { return request("GET", target); }
  HttpResponse post(const std::string& target, const std::string& body) { return request("POST", target, body); }
  HttpResponse put(const std::string& target, const std::string& body) { return request("PUT", target, body); }
  HttpResponse del(const std::string& target) { return request("DELETE", target); }

 private:
  void connect() {
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), m_port);
    m_stream.connect(ep);
  }
  void reconnect() {
    boost::system::error_code ec;
    m_stream.socket().close(ec);
    connect();
  }
  unsigned short m_port;
  boost::asio::io_context m_ioc;
  boost::beast::tcp_stream m_stream;
};

/// `gridd serve` as a child process on 127.0.0.1:<free port>. Stopped with
/// SIGTERM (or SIGKILL through kill9()) when destroyed.
class ServerProcess {
 public:
  ServerProcess(const std::string& store, std::vector<std::string> extra_args = {}) {
    start(store, std::move(extra_args));
  }
  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  [[nodiscard]] unsigned short port() const { return m_port; }
  [[nodiscard]] pid_t pid() const { return m_pid; }
  [[nodiscard]] bool alive() const {
    if (m_pid <= 0) return false;
    int status = 0;
    return waitpid(m_pid, &status, WNOHANG) == 0;
  }

  /// SIGKILL and reap: simulates a crash.
  void kill9() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGKILL);
      int status = 0;
      waitpid(m_pid, &status, 0);
      m_pid = -1;
    }
    if (m_stdout >= 0) {
      close(m_stdout);
      m_stdout = -1;
    }
  }
  /// Wait up to `seconds` for the process to exit by itself; its wait
  /// status, or -1 when it is still running.
  int wait_exit(int seconds) {
    for (int i = 0; m_pid > 0 && i < seconds * 10; ++i) {
      int status = 0;
      if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_pid = -1;
        return status;
      }
      usleep(100 * 1000);
    }
    return -1;
  }
  /// SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit status.
  int stop() {
    int result = -1;
    if (m_pid > 0) {
      ::kill(m_pid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 100; ++i) {
        if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
          m_pid = -1;
          result = status;
          break;
        }
        usleep(100 * 1000);
      }
      if (m_pid > 0) kill9();
    }
    if (m_stdout >= 0) {
      close(m_stdout);
      m_stdout = -1;
    }
    return result;
  }

 private:
  void start(const std::string& store, std::vector<std::string> extra) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> args = {gridd_binary(), "serve", "--store", backend_store(store), "--listen", "127.0.0.1:0",
                                     "--geodata", GRIDD_GEODATA_DIR};
    for (auto& a : extra) args.push_back(std::move(a));
    m_pid = fork();
    if (m_pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    // Read the banner "gridd listening on http://127.0.0.1:PORT ...".
    std::string line;
    char c = 0;
    while (read(out[0], &c, 1) == 1) {
      if (c == '\n') {
        if (line.find("listening on") != std::string::npos) break;
        line.clear();
      } else {
        line.push_back(c);
      }
    }
    m_stdout = out[0];
    const std::size_t colon = line.rfind(':', line.find(" (") == std::string::npos ? line.size() : line.find(" ("));
    if (line.find("listening on") == std::string::npos || colon == std::string::npos) {
      stop();
      throw std::runtime_error("gridd did not start: '" + line + "'");
    }
    m_port = static_cast<unsigned short>(std::stoi(line.substr(colon + 1)));
  }

  pid_t m_pid = -1;
  int m_stdout = -1;
  unsigned short m_port = 0;
};

}  // namespace gridd::http_test
