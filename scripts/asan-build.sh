#!/usr/bin/env bash
# Configure and build build-asan: gridd, its unit tests and the libFuzzer
# targets with clang, AddressSanitizer + UndefinedBehaviorSanitizer and
# coverage instrumentation (GRIDD_BUILD_FUZZ), -O1 with line tables. One build
# serves both scripts/fuzz.sh and scripts/sanitize.sh asan, so CI compiles
# the sources once for the two.
#   Usage: scripts/asan-build.sh [ninja targets...]   ASAN_JOBS=N (default: cores)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang++ >/dev/null || { echo "asan-build.sh: clang++ is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
# Objects are the same whichever directory the repository is in.
export CCACHE_BASEDIR="$(pwd)"
# A build-asan configured with another compiler (an older layout) starts over.
if [ -f build-asan/CMakeCache.txt ] && ! grep -q '^CMAKE_CXX_COMPILER:.*clang' build-asan/CMakeCache.txt; then
  rm -rf build-asan
fi
cmake -S . -B build-asan -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  -DGRIDD_BUILD_FUZZ=ON -DGRIDD_BUILD_TESTS=ON -DGRIDD_BUILD_BENCH=OFF >/dev/null
nice -n 10 ninja -C build-asan -j "${ASAN_JOBS:-$(nproc)}" "$@"
