#!/usr/bin/env bash
# Configure and build gridd (and, unless GRIDD_BUILD_TESTS=OFF, its tests).
# Usage: scripts/build.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
  -DGRIDD_BUILD_TESTS="${GRIDD_BUILD_TESTS:-ON}" \
  -DGRIDD_BUILD_BENCH="${GRIDD_BUILD_BENCH:-ON}" >/dev/null
ninja -C "$build_dir" ${GRIDD_BUILD_TARGETS:-}
