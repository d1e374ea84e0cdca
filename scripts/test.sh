#!/usr/bin/env bash
# Install, build and run every test of gridd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The browser tests: Debian's chromium (driven by playwright-core from npm)
# and CJK fonts so Chinese text renders.
browser_packages=(chromium fonts-noto-cjk)
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
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
