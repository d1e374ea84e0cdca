#pragma once
/// @file gdal_errors.hpp
/// GDAL reports errors through a global handler; gridd silences it for the
/// scope of an operation and turns CPLGetLastErrorMsg() into gridd::Error.

#include <cpl_error.h>

namespace gridd::storage {

/// Silence GDAL's stderr output for the scope and reset the last error.
class QuietGdalErrors {
 public:
  QuietGdalErrors() {
    CPLPushErrorHandler(CPLQuietErrorHandler);
    CPLErrorReset();
  }
  ~QuietGdalErrors() { CPLPopErrorHandler(); }
  QuietGdalErrors(const QuietGdalErrors&) = delete;
  QuietGdalErrors& operator=(const QuietGdalErrors&) = delete;
};

}  // namespace gridd::storage
