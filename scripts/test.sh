#!/usr/bin/env bash
# Install, build and run every test of gridd: the suites (unit, HTTP, browser,
# benchmark smoke, soak), then the unit and HTTP suites under ASan + UBSan
# (scripts/sanitize.sh asan), the fuzz targets for a bounded time
# (scripts/fuzz.sh), and the threaded unit tests and the HTTP suite under TSan
# (scripts/sanitize.sh tsan).
#   GRIDD_FUZZ_SECONDS   seconds per fuzz target (default 60; 0 skips fuzzing)
#   GRIDD_SANITIZERS     which sanitizer runs (default "asan tsan"; "" skips them)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The browser tests: Debian's chromium (driven by playwright-core from npm)
# and CJK fonts so Chinese text renders; zbarimg and rsvg-convert read the QR posters.
browser_packages=(chromium fonts-noto-cjk zbar-tools librsvg2-bin)
missing=()
for p in "${browser_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
fi
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
GRIDD_BUILD_BENCH=ON bash scripts/build.sh build
# Real GeoTIFFs for the raster-tile tests (extracted from Debian packages).
bash scripts/test-rasters.sh build/test-rasters
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900

timing() { echo "test.sh: $1 took $(($(date +%s) - $2)) s"; }
# ASan + UBSan first: its clang build (build-asan) also holds the fuzz targets.
sanitizers=${GRIDD_SANITIZERS-asan tsan}
if [[ " $sanitizers " == *" asan "* ]]; then
  t0=$(date +%s)
  bash scripts/sanitize.sh asan
  timing asan "$t0"
fi
fuzz_seconds=${GRIDD_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" != 0 ]; then
  t0=$(date +%s)
  bash scripts/fuzz.sh "$fuzz_seconds"
  timing fuzz "$t0"
fi
if [[ " $sanitizers " == *" tsan "* ]]; then
  t0=$(date +%s)
  bash scripts/sanitize.sh tsan
  timing tsan "$t0"
fi
