#!/usr/bin/env bash
# Real GeoTIFFs for the raster-tile tests, from Debian packages of R spatial
# libraries (no imagery of a Chinese city is reachable from Debian or npm):
#   stars: tif/L7_ETMs.tif  Landsat 7 ETM+ satellite image, 6 bands, UTM zone 25S (EPSG:31985)
#   terra: ex/elev.tif      elevation of Luxembourg, Int16, WGS84 (EPSG:4326)
#   terra: ex/meuse.tif     distance to the Meuse river, Float32, RD New (EPSG:28992)
# The .deb files are downloaded (not installed: R itself is not needed) and
# only these files are extracted. Usage: scripts/test-rasters.sh DIR
set -euo pipefail
dir=${1:?usage: test-rasters.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
want=(L7_ETMs.tif elev.tif meuse.tif)
have=1
for f in "${want[@]}"; do [ -s "$dir/$f" ] || have=0; done
[ "$have" = 1 ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# apt-get download runs as _apt when it can; let it write here.
chmod 777 "$work"
if ! apt-get download -qq r-cran-stars r-cran-terra 2>/dev/null; then
  apt-get update -qq
  apt-get download -qq r-cran-stars r-cran-terra
fi
for deb in ./*.deb; do dpkg-deb -x "$deb" extracted; done
cp extracted/usr/lib/R/site-library/stars/tif/L7_ETMs.tif "$dir/"
cp extracted/usr/lib/R/site-library/terra/ex/elev.tif "$dir/"
cp extracted/usr/lib/R/site-library/terra/ex/meuse.tif "$dir/"
echo "test rasters in $dir: ${want[*]}"
