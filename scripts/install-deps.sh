#!/usr/bin/env bash
# Install everything gridd needs to build, run and test, from Debian 12 packages.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  libgdal-dev gdal-bin libgeos-dev libproj-dev proj-bin proj-data
  libboost-dev libboost-system-dev
  nlohmann-json3-dev libcli11-dev libprotozero-dev libnanoflann-dev libsqlite3-dev zlib1g-dev libssl-dev
  libqrencode-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # The shared store: libpq to build, PostgreSQL 15 with PostGIS 3 for the
  # tests (scripts/pg-cluster.sh starts a private cluster) and deployments.
  libpq-dev postgresql-15 postgresql-15-postgis-3 postgresql-15-postgis-3-scripts
  # scripts/fuzz.sh: clang with libFuzzer and the sanitizer runtimes, and
  # llvm-symbolizer for readable reports (gcc's sanitizer runtimes come with gcc).
  clang libclang-rt-14-dev llvm
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Share the compiler cache between build directories.
command -v ccache >/dev/null && ccache --set-config=hash_dir=false >/dev/null 2>&1 || true

# The web map's libraries (MapLibre GL JS, Chart.js) come from npm and are
# served by gridd from web/node_modules (no CDN).
if ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  command -v node >/dev/null || $sudo_cmd apt-get install -y -qq --no-install-recommends nodejs
  command -v npm >/dev/null || $sudo_cmd apt-get install -y -qq --no-install-recommends npm
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$repo/web/node_modules/.package-lock.json" ] || [ "$repo/web/package-lock.json" -nt "$repo/web/node_modules/.package-lock.json" ]; then
  npm ci --prefix "$repo/web" --no-audit --no-fund --loglevel=error
fi
