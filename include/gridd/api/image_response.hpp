#pragma once
/// @file image_response.hpp
/// A stored photo as an answer: immutable (its id never names other bytes),
/// private (it may show a person), with a strong ETag and 304 on a match.

#include <string>
#include <utility>

#include "gridd/api/types.hpp"

namespace gridd::api {

inline Response image_response(const Request& r, const std::string& tag, std::string media_type, std::string data) {
  Response res;
  res.headers.emplace_back("ETag", tag);
  res.headers.emplace_back("Cache-Control", "private, max-age=31536000, immutable");
  if (const std::string* inm = r.header("if-none-match"); inm && *inm == tag) {
    res.status = 304;
    res.content_type.clear();
    return res;
  }
  res.content_type = std::move(media_type);
  res.body = std::move(data);
  return res;
}

}  // namespace gridd::api
