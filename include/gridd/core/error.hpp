#pragma once
/// @file error.hpp
/// The one error type of gridd's domain. Every layer throws gridd::Error;
/// the API layer maps Error::kind to an HTTP status in exactly one place.

#include <stdexcept>
#include <string>
#include <string_view>

namespace gridd {

/// What went wrong, independent of any transport.
enum class ErrorKind {
  invalid_input,  ///< the caller sent something malformed or out of range
  not_found,      ///< the addressed object does not exist
  conflict,       ///< the request contradicts the current state (duplicate code, ...)
  too_large,      ///< a body or a batch exceeds a configured limit
  unavailable,    ///< the store cannot be reached right now; retry later
  internal,       ///< a bug or an environment failure; never caused by input
  unauthorized,   ///< no credentials where they are required, or bad ones
  forbidden,      ///< valid credentials that do not allow this request
  rate_limited    ///< the caller sent too much too fast; retry after retry_after() seconds
};

/// A domain error with a machine-readable code, a human message and,
/// where it applies, the offending field (JSON pointer or parameter name).
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string code, std::string message, std::string field = {});

  [[nodiscard]] ErrorKind kind() const noexcept { return m_kind; }
  [[nodiscard]] const std::string& code() const noexcept { return m_code; }
  [[nodiscard]] const std::string& field() const noexcept { return m_field; }
  /// Structured details as serialized JSON (e.g. the topology defects that
  /// refused an edit); empty when none. The API adds them as "details".
  [[nodiscard]] const std::string& details() const noexcept { return m_details; }
  Error& with_details(std::string json) {
    m_details = std::move(json);
    return *this;
  }
  /// Seconds after which a retry may succeed (0: not said).
  [[nodiscard]] int retry_after() const noexcept { return m_retry_after; }
  Error& with_retry_after(int seconds) {
    m_retry_after = seconds;
    return *this;
  }

 private:
  ErrorKind m_kind;
  std::string m_code;
  std::string m_field;
  std::string m_details;
  int m_retry_after = 0;
};

/// Shorthands for the common cases.
[[noreturn]] void throw_invalid(std::string code, std::string message, std::string field = {});
[[noreturn]] void throw_not_found(std::string code, std::string message, std::string field = {});
[[noreturn]] void throw_conflict(std::string code, std::string message, std::string field = {});

/// HTTP status for an error kind (the single mapping table).
int http_status(ErrorKind kind) noexcept;

}  // namespace gridd
