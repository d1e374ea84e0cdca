#!/usr/bin/env bash
# Install, build, and start gridd on the embedded GeoPackage store with the
# demo city (任城区, Jining) loaded on first start.
#   GRIDD_LISTEN (default 127.0.0.1:8080), GRIDD_STORE (default data/gridd.gpkg)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
GRIDD_BUILD_TESTS=OFF GRIDD_BUILD_BENCH=OFF GRIDD_BUILD_TARGETS=gridd bash scripts/build.sh build
store="${GRIDD_STORE:-data/gridd.gpkg}"
mkdir -p "$(dirname "$store")"
echo "open http://${GRIDD_LISTEN:-127.0.0.1:8080}/ (Ctrl-C stops the server)"
exec ./build/gridd serve --store "$store" --listen "${GRIDD_LISTEN:-127.0.0.1:8080}" --demo
