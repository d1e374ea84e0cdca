#!/usr/bin/env bash
# Install, build and run every test of gridd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
GRIDD_BUILD_BENCH=ON bash scripts/build.sh build
# Real GeoTIFFs for the raster-tile tests (extracted from Debian packages).
bash scripts/test-rasters.sh build/test-rasters
cd build
ctest --output-on-failure -j "$(nproc)" --timeout 900
