#!/usr/bin/env bash
# The test suites under sanitizers (-O1 with line tables):
#   asan  AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer, in
#         build-asan (clang, shared with the fuzz targets: scripts/asan-build.sh): every unit test, and the HTTP suite against the
#         sanitized gridd server.
#   tsan  ThreadSanitizer (gcc), in build-tsan: the unit tests that run threads
#         (the catalog's and the incident store's, with readers while a writer
#         publishes and concurrent writers) and
#         the HTTP suite against the sanitized gridd server (a multi-threaded
#         server: every request runs beside others; the read-while-write tests
#         drive it hardest). TSAN_HTTP_TESTS=<ctest regex> narrows the HTTP part.
# The HTTP suite's test driver only speaks HTTP and starts the server, which
# is the sanitized one ($GRIDD_BINARY): it is the normal build's (build/) when
# that has one, as in scripts/test.sh, else this build's;
# GRIDD_HTTP_TESTS_BUILD=<dir> names another. Every report fails the run: reports are written to
# <build>/sanitizer-reports/ (so none is lost inside a child process whose
# output a test swallows) and printed at the end.
# Suppressions (third-party libraries only): tests/sanitizer/*.supp.
#   Usage: scripts/sanitize.sh asan|tsan      SANITIZE_JOBS=N (default: cores)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
mode=${1:-}
case "$mode" in
  asan) build=build-asan; sanitize=address ;;
  tsan) build=build-tsan; sanitize=thread ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan" >&2; exit 2 ;;
esac
jobs=${SANITIZE_JOBS:-$(nproc)}
reports="$repo/$build/sanitizer-reports"
supp="$repo/tests/sanitizer"
export CCACHE_BASEDIR="$repo"

# Reports go to files named <tool>.<pid> in $reports; a report stops the
# process (halt_on_error) with a failing exit code.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:log_path=$reports/asan"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan:suppressions=$supp/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:exitcode=66:second_deadlock_stack=1:log_path=$reports/tsan:suppressions=$supp/tsan.supp"

start=$(date +%s)
rm -rf "$reports"
mkdir -p "$reports"
if [ "$mode" = asan ]; then
  # clang, shared with the fuzz targets (scripts/asan-build.sh).
  ASAN_JOBS=$jobs bash scripts/asan-build.sh gridd gridd_unit_tests
else
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" \
    -DGRIDD_SANITIZE="$sanitize" -DGRIDD_BUILD_TESTS=ON -DGRIDD_BUILD_BENCH=OFF >/dev/null
  nice -n 10 ninja -C "$build" -j "$jobs" gridd gridd_unit_tests
fi
# The HTTP driver (brought up to date), and the rasters its tile tests read.
driver=${GRIDD_HTTP_TESTS_BUILD:-}
if [ -z "$driver" ]; then
  driver=$build
  [ -x build/tests/gridd_http_tests ] && driver=build
fi
nice -n 10 ninja -C "$driver" -j "$jobs" gridd_http_tests
bash scripts/test-rasters.sh "$driver/test-rasters" >/dev/null
echo "$mode: built in $(($(date +%s) - start)) s"

status=0
if [ "$mode" = asan ]; then
  nice -n 10 ctest --test-dir "$build" -L unit -j "$jobs" --timeout 900 --output-on-failure || status=1
  GRIDD_BINARY="$repo/$build/gridd" nice -n 10 ctest --test-dir "$driver" -L http -j "$jobs" --timeout 900 \
    --output-on-failure || status=1
else
  # The TSan build's unit tests are those that run threads (tests/CMakeLists.txt).
  nice -n 10 ctest --test-dir "$build" -L unit -j "$jobs" --timeout 900 --output-on-failure || status=1
  GRIDD_BINARY="$repo/$build/gridd" nice -n 10 ctest --test-dir "$driver" -L http -R "${TSAN_HTTP_TESTS:-.}" -j "$jobs" \
    --timeout 900 --output-on-failure || status=1
fi

found=$(find "$reports" -type f | sort)
if [ -n "$found" ]; then
  echo "$mode: sanitizer reports:" >&2
  for f in $found; do
    echo "---- $f" >&2
    cat "$f" >&2
  done
  status=1
fi
echo "$mode: done in $(($(date +%s) - start)) s"
exit $status
