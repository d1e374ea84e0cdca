#include "gridd/core/error.hpp"

namespace gridd {

Error::Error(ErrorKind kind, std::string code, std::string message, std::string field)
    : std::runtime_error(std::move(message)),
      m_kind(kind),
      m_code(std::move(code)),
      m_field(std::move(field)) {}

void throw_invalid(std::string code, std::string message, std::string field) {
  throw Error(ErrorKind::invalid_input, std::move(code), std::move(message), std::move(field));
}

void throw_not_found(std::string code, std::string message, std::string field) {
  throw Error(ErrorKind::not_found, std::move(code), std::move(message), std::move(field));
}

void throw_conflict(std::string code, std::string message, std::string field) {
  throw Error(ErrorKind::conflict, std::move(code), std::move(message), std::move(field));
}

int http_status(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::invalid_input: return 400;
    case ErrorKind::not_found: return 404;
    case ErrorKind::conflict: return 409;
    case ErrorKind::too_large: return 413;
    case ErrorKind::unavailable: return 503;
    case ErrorKind::internal: return 500;
    case ErrorKind::unauthorized: return 401;
    case ErrorKind::forbidden: return 403;
    case ErrorKind::rate_limited: return 429;
  }
  return 500;
}

}  // namespace gridd
