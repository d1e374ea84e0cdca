// The web application's files: served from web/ only (no path traversal, no
// symbolic link leading out), with validators.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "http/http_test_util.hpp"

namespace gridd::http_test {
namespace {

void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

TEST(StaticFiles, ServedFromWebOnlyWithValidators) {
  TempDir dir;
  const std::string web = dir.file("web");
  write(web + "/index.html", "<!doctype html><title>home</title>");
  write(web + "/js/app.mjs", "export const x = 1;");
  write(dir.file("secret.txt"), "outside the web root");
  std::filesystem::create_symlink(dir.file("secret.txt"), web + "/escape.txt");
  std::filesystem::create_directory_symlink(dir.path(), web + "/up");
  ServerProcess server(dir.file("s.gpkg"), {"--web", web});
  HttpClient c(server.port());

  const HttpResponse home = c.get("/");
  ASSERT_EQ(home.status, 200);
  EXPECT_EQ(home.body, "<!doctype html><title>home</title>");
  EXPECT_NE(home.content_type.find("text/html"), std::string::npos);
  const HttpResponse js = c.get("/web/js/app.mjs");
  ASSERT_EQ(js.status, 200);
  EXPECT_NE(js.content_type.find("javascript"), std::string::npos);
  const std::string etag = js.header("ETag");
  ASSERT_FALSE(etag.empty());
  {
    RawSocket s(server.port());
    ASSERT_TRUE(s.send_all("GET /web/js/app.mjs HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag +
                           "\r\nConnection: close\r\n\r\n"));
    EXPECT_EQ(raw_status(s.read_all()), 304);
  }
  // Nothing outside web/: dot-dot (plain or encoded) and links that lead out.
  for (const char* bad : {"/web/../secret.txt", "/web/%2e%2e/secret.txt", "/web/js/../../secret.txt", "/web/escape.txt",
                          "/web/up/secret.txt", "/web/missing.js"}) {
    const HttpResponse r = c.get(bad);
    EXPECT_EQ(r.status, 404) << bad;
    EXPECT_EQ(r.body.find("outside the web root"), std::string::npos) << bad;
  }
  expect_healthy(server);
}

}  // namespace
}  // namespace gridd::http_test
