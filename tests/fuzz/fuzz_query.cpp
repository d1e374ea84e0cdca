// libFuzzer target: request targets ("/path?query") as the http layer
// decodes them (api::url_decode, api::parse_query), the typed parameter
// parsers of src/api/params.cpp and src/api/features.cpp (numbers, integers,
// bbox, booleans, ids, at=, topology and edit options), and the whole GET API
// over a small city: every answer must be a 2xx, 3xx or 4xx (a 500 means an
// exception other than gridd::Error escaped a handler).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "fuzz_api.hpp"
#include "gridd/api/features.hpp"
#include "gridd/api/params.hpp"
#include "gridd/core/error.hpp"

namespace {

using gridd::api::Request;

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_query: %s %s\n", what, detail.c_str());
  std::abort();
}

/// Run f; a gridd::Error is a fine answer to bad input.
template <class F>
void expect_error_or_ok(F&& f) {
  try {
    f();
  } catch (const gridd::Error&) {
  }
}

void check_decoding(std::string_view target) {
  for (const bool form : {false, true}) {
    const std::string d = gridd::api::url_decode(target, form);
    if (d.size() > target.size()) fail("url_decode made the text longer");
    if (target.find('%') == std::string_view::npos && !form && d != target) fail("url_decode changed text without '%'");
  }
  std::size_t pairs = 1;
  for (const char c : target) pairs += c == '&';
  if (gridd::api::parse_query(target).size() > pairs) fail("parse_query made more pairs than there are '&'");
}

void check_params(const Request& r) {
  for (const auto& pair : r.query) {
    const std::string& name = pair.first;
    const std::string& value = pair.second;
    expect_error_or_ok([&] {
      if (const auto d = gridd::api::param_double(r, name); d && !std::isfinite(*d)) fail("param_double not finite");
    });
    expect_error_or_ok([&] {
      if (const auto i = gridd::api::param_int(r, name, -5, 1000); i && (*i < -5 || *i > 1000)) {
        fail("param_int out of its range");
      }
    });
    expect_error_or_ok([&] { (void)gridd::api::param_bool(r, name); });
    expect_error_or_ok([&] { (void)gridd::api::path_id(value); });
  }
  expect_error_or_ok([&] {
    if (const auto b = gridd::api::param_bbox(r)) {
      if (!(b->minx >= -180 && b->minx <= b->maxx && b->maxx <= 180 && b->miny >= -90 && b->miny <= b->maxy &&
            b->maxy <= 90)) {
        fail("param_bbox accepted a box outside the world");
      }
    }
  });
  expect_error_or_ok([&] { (void)gridd::api::at_param(r); });
  expect_error_or_ok([&] { (void)gridd::api::geometry_param(r); });
  expect_error_or_ok([&] { (void)gridd::api::edit_options(r); });
  expect_error_or_ok([&] { (void)gridd::api::topology_options(r); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;  // the http layer caps headers at 16 KiB; long targets add nothing here
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    check_decoding(input);
    const Request r = gridd::fuzz::request_for(input);
    check_params(r);
    // Through the router: the path as sent, or under / when it has none.
    gridd::fuzz::get_or_abort(!input.empty() && input.front() == '/' ? std::string(input) : "/" + std::string(input));
  } catch (const gridd::Error&) {
  } catch (const std::exception& e) {
    fail("an exception other than gridd::Error escaped:", e.what());
  }
  return 0;
}
