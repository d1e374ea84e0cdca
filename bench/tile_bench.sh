#!/usr/bin/env bash
# bench/tile_bench.sh: gridd's tiles against the usual tools, on this machine, on the same data.
#
#   1. Cold raster render, per tile (median, p99, and CPU per tile), for each source
#      (L7_ETMs.tif shown as bands 3,2,1; the demo basemap) over N distinct tiles at zooms
#      around native resolution, each rendered once:
#        * gridd   GET /tiles/SRC/z/x/y.png from a server with --tile-cache-mb 0 (every request
#                  renders; X-Tile-Cache: miss is checked), one curl, one connection, sequential;
#        * GDAL in-process: the same GDALWarp(MEM) + PNG CreateCopy calls gridd makes, in one
#                  Python process (python3-gdal): what the library costs without HTTP;
#        * gdalwarp CLI: one process per tile (-t_srs EPSG:3857 -te .. -ts 256 256 -r bilinear
#                  -dstalpha -of PNG), and the same minus an empty run (`gdalwarp --version`);
#        * MapServer CGI: one `mapserv` process per tile (mode=tile, tilemode=gmap), and the same
#                  minus an empty run (`mapserv -v`);
#        * MapServer FastCGI: one persistent mapserv (spawn-fcgi) behind nginx, sequential curl:
#                  MapServer without its process start.
#      gridd keeps each dataset open per rendering thread; the CGI and CLI runs pay a process
#      start, library load and file open per tile, which is what they cost as deployed that way.
#   2. Cached tiles per second: gridd's cache warmed with M tiles, then wrk (-c$CONNECTIONS
#      -t$THREADS -d$DURATION, Lua cycling over the M URLs) against gridd and against nginx
#      serving the same PNG bytes from a directory tiles/SRC/z/x/y.png; req/s, server CPU per
#      request, and gridd/nginx.
#   3. MVT: the demo city's grids (as gridd stores them, exported to WGS84) in PostGIS with GiST
#      indexes, the same tiles (zooms 12-15 over the city) as ST_AsMVT(ST_AsMVTGeom(...)):
#        * pg_transform: the plain query, ST_Transform(geom, 3857) per row, one layer 'grids';
#        * pg_3857:      the same from a precomputed 3857 column with its own GiST index;
#        * pg_full:      what gridd's tile holds: a layer per level (grids_district, ...) and
#                        grid_labels (ST_PointOnSurface), from the 3857 column;
#      against gridd cold GET /tiles/grids/z/x/y.mvt (cache 0). Latency with one client (curl
#      sequential / pgbench -c1 with per-transaction log), throughput with 32 (wrk / pgbench
#      -c32 -j2), server CPU per tile, tile sizes, and per-layer feature counts cross-checked.
#
# Usage: bench/tile_bench.sh            (from anywhere; root installs missing Debian packages)
# Environment (defaults in brackets):
#   PARTS         which parts to run: any of "raster cached mvt" [raster cached mvt]
#   SOURCES       raster sources: any of "l7 demo" [l7 demo]
#   N_TILES       cold raster tiles per source [300]    L7_ZOOMS [12-16]    DEMO_ZOOMS [12-16]
#   DIAG_ZOOMS_MIN, DIAG_ZOOMS_MAX  zoomed-out demo tiles for the overview diagnostic [9, 11]
#                 (all tiles over the city at those zooms; MIN > MAX skips it)
#   CACHED_TILES  tiles warmed for part 2, taken from the raster lists [600]
#   MVT_TILES     MVT tiles [300]    MVT_ZOOMS [12-15]    MVT_LAT_SECS  pgbench -c1 seconds [10]
#   DURATION      seconds per wrk / pgbench throughput run [10]   WARMUP  seconds of warm-up [2]
#   CONNECTIONS   [32]   THREADS  wrk threads and pgbench jobs [2]
#   BASELINE_RUNS empty runs of gdalwarp / mapserv to measure process start [20]
#   RASTER_DIR    where scripts/test-rasters.sh puts L7_ETMs.tif [/tmp/gridd-test-rasters]
#   BUILD_DIR     [<repo>/build-tbench]   GRIDD  [BUILD_DIR/gridd]   REBUILD=1 rebuild even if present
#   KEEP=1        keep the temporary directory     RESULTS  file to append the summary to
# Everything binds 127.0.0.1 (PostgreSQL and the FastCGI socket also use the temp dir); everything
# started is stopped by PID on exit. The default run takes about 10 minutes on 2 cores.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO/build-tbench}
GRIDD=${GRIDD:-$BUILD_DIR/gridd}
PARTS=${PARTS:-raster cached mvt}
SOURCES=${SOURCES:-l7 demo}
N_TILES=${N_TILES:-300}
L7_ZOOMS=${L7_ZOOMS:-12-16}
DEMO_ZOOMS=${DEMO_ZOOMS:-12-16}
DIAG_ZOOMS_MIN=${DIAG_ZOOMS_MIN:-9}
DIAG_ZOOMS_MAX=${DIAG_ZOOMS_MAX:-11}
CACHED_TILES=${CACHED_TILES:-600}
MVT_TILES=${MVT_TILES:-300}
MVT_ZOOMS=${MVT_ZOOMS:-12-15}
MVT_LAT_SECS=${MVT_LAT_SECS:-10}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
BASELINE_RUNS=${BASELINE_RUNS:-20}
RASTER_DIR=${RASTER_DIR:-/tmp/gridd-test-rasters}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
MAPSERV=${MAPSERV:-/usr/bin/mapserv}  # mapserver-bin (the same binary as cgi-mapserver's)
PY=${PY:-/usr/bin/python3}  # Debian's, for python3-gdal (not a pyenv shim)
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-}
export LC_ALL=C

log() { printf '[tile_bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
want() { [[ " $PARTS " == *" $1 "* ]]; }

# --------------------------------------------------------------------------- packages
ensure_packages() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  [[ -x $NGINX ]] || missing+=(nginx-light)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
  command -v gdalwarp >/dev/null || missing+=(gdal-bin)
  "$PY" -c 'from osgeo import gdal; import numpy' 2>/dev/null || missing+=(python3-gdal python3-numpy)
  [[ -x $MAPSERV ]] || missing+=(mapserver-bin)
  command -v spawn-fcgi >/dev/null || missing+=(spawn-fcgi)
  [[ -x $PG_BIN/postgres && -x $PG_BIN/initdb ]] || missing+=(postgresql-15)
  [[ -x $PG_BIN/pgbench ]] || command -v pgbench >/dev/null || missing+=(postgresql-client-15)
  [[ -f /usr/share/postgresql/15/extension/postgis.control ]] ||
    missing+=(postgresql-15-postgis-3 postgresql-15-postgis-3-scripts)
  ((${#missing[@]} == 0)) && return
  if [[ $(id -u) -ne 0 ]]; then die "missing packages: ${missing[*]} (run as root or apt-get install them)"; fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

ensure_build() {
  if [[ ${REBUILD:-0} == 1 || ! -x $GRIDD ]]; then
    log "building gridd (Release) in $BUILD_DIR"
    [[ -f $BUILD_DIR/build.ninja ]] ||
      cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRIDD_BUILD_TESTS=OFF >/dev/null
    ninja -C "$BUILD_DIR" -j1 gridd >/dev/null
  fi
}

PGBENCH=$PG_BIN/pgbench
[[ -x $PGBENCH ]] || PGBENCH=pgbench

# --------------------------------------------------------------------------- processes
TMP=""
PIDS=()
PG_DATA=""
cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]]; then
    local pg_pid
    pg_pid=$(head -1 "$PG_DATA/postmaster.pid")
    kill -INT "$pg_pid" 2>/dev/null   # fast shutdown
    for _ in $(seq 50); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pg_pid" 2>/dev/null
  fi
  if [[ -n $TMP && $KEEP != 1 ]]; then rm -rf "$TMP"; elif [[ -n $TMP ]]; then log "kept $TMP"; fi
  exit $rc
}
stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

free_port() {
  if "$PY" -c 'import socket' 2>/dev/null; then
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    local used p
    used=$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u)
    while :; do p=$((20000 + RANDOM % 40000)); grep -qx "$p" <<<"$used" || { echo "$p"; return; }; done
  fi
}

as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# CPU ticks (user + system, incl. reaped children) of a process and its direct children.
tree_ticks() {
  local total=0 pid t
  for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
# CPU ticks of this shell's reaped children (the per-tile processes it ran and waited for).
# (Read in a command substitution, so the shell's own PID is $$: call it from the main shell.)
child_ticks() { sed 's/^.*) //' "/proc/$$/stat" | awk '{print $14 + $15}'; }
CLK_TCK=$(getconf CLK_TCK)
# ms of CPU per item: ticks before, ticks after, items
cpu_ms() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f\n", (n > 0 ? (b - a) / hz * 1e3 / n : 0) }'; }
cpu_us() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f\n", (n > 0 ? (b - a) / hz * 1e6 / n : 0) }'; }

# A file of microsecond values -> "n median_ms p99_ms mean_ms" (p99 by nearest rank).
stats_ms() {
  sort -g "$1" | awk '{a[NR] = $1; s += $1}
    END {
      if (NR == 0) { print "0 0 0 0"; exit }
      med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
      k = int(0.99 * NR); if (k < 0.99 * NR) k++; if (k < 1) k = 1
      printf "%d %.2f %.2f %.2f\n", NR, med / 1000, a[k] / 1000, s / NR / 1000
    }'
}
field() { awk -v i="$2" '{print $i}' <<<"$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "?" }'; }

# --------------------------------------------------------------------------- servers
GRIDD_PID="" GRIDD_PORT=""
start_gridd() {  # log, args...
  local logf=$1
  shift
  "$GRIDD" serve --listen 127.0.0.1:0 "$@" >"$logf" 2>&1 &
  GRIDD_PID=$!
  PIDS+=("$GRIDD_PID")
  for _ in $(seq 2400); do
    GRIDD_PORT=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$logf" | head -1)
    [[ -n $GRIDD_PORT ]] && return 0
    kill -0 "$GRIDD_PID" 2>/dev/null || { cat "$logf" >&2; die "gridd exited"; }
    sleep 0.25
  done
  die "gridd did not start"
}
stop_gridd() { stop_pid "$GRIDD_PID"; forget_pid "$GRIDD_PID"; GRIDD_PID=""; }

# nginx: static tiles under $TMP/www (tiles/SRC/z/x/y.png) and /ms -> the MapServer FastCGI socket.
NGINX_PID="" NGINX_PORT=""
start_nginx() {
  local dir=$TMP/nginx
  NGINX_PORT=$(free_port)
  mkdir -p "$dir"
  local user_line="" extra_temp=""
  if [[ $(id -u) -eq 0 ]]; then
    if id www-data >/dev/null 2>&1; then user_line="user www-data;"; else user_line="user nobody;"; fi
  fi
  "$NGINX" -V 2>&1 | grep -q -- --without-http_uwsgi_module || extra_temp+="uwsgi_temp_path $dir/uwsgi; "
  "$NGINX" -V 2>&1 | grep -q -- --without-http_scgi_module || extra_temp+="scgi_temp_path $dir/scgi; "
  cat >"$dir/nginx.conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  open_file_cache max=10000 inactive=60s;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi; $extra_temp
  types { image/png png; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $TMP/www;
    location = /ok { return 200 "ok\n"; }
    location = /ms {
      fastcgi_pass unix:$TMP/ms/mapserv.sock;
      fastcgi_param QUERY_STRING \$query_string;
      fastcgi_param REQUEST_METHOD \$request_method;
      fastcgi_param CONTENT_TYPE \$content_type;
      fastcgi_param CONTENT_LENGTH \$content_length;
      fastcgi_param SCRIPT_NAME \$fastcgi_script_name;
      fastcgi_param REQUEST_URI \$request_uri;
      fastcgi_param SERVER_PROTOCOL \$server_protocol;
      fastcgi_param SERVER_NAME \$server_name;
      fastcgi_param SERVER_PORT \$server_port;
      fastcgi_param REMOTE_ADDR \$remote_addr;
      fastcgi_param MAPSERVER_CONFIG_FILE $TMP/ms/mapserver.conf;
    }
  }
}
EOF
  "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/ok" 2>/dev/null && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$dir/error.log" >&2; die "nginx exited"; }
    sleep 0.1
  done
  die "nginx did not start"
}

# One persistent mapserv (FastCGI) on a Unix socket; spawn-fcgi -n execs it, so $! is mapserv.
MS_PID=""
start_mapserv_fcgi() {
  local sock=$TMP/ms/mapserv.sock user=()
  [[ $(id -u) -eq 0 ]] && user=(-u www-data -g www-data)
  MAPSERVER_CONFIG_FILE=$TMP/ms/mapserver.conf spawn-fcgi -n -s "$sock" -M 0666 "${user[@]}" -- "$MAPSERV" \
    >"$TMP/ms/fcgi.log" 2>&1 &
  MS_PID=$!
  PIDS+=("$MS_PID")
  for _ in $(seq 100); do
    [[ -S $sock ]] && return 0
    kill -0 "$MS_PID" 2>/dev/null || { cat "$TMP/ms/fcgi.log" >&2; die "mapserv (FastCGI) exited"; }
    sleep 0.1
  done
  die "mapserv (FastCGI) did not start"
}

# --------------------------------------------------------------------------- PostgreSQL
PG_PORT=""
start_postgres() {
  PG_PORT=$(free_port)
  mkdir -p "$TMP/pg"
  PG_DATA=$TMP/pg/data
  [[ $(id -u) -eq 0 ]] && chown postgres: "$TMP/pg"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-locale >"$TMP/pg/initdb.log" 2>&1 ||
    { cat "$TMP/pg/initdb.log" >&2; die "initdb failed"; }
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$TMP/pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$TMP/pg -c max_connections=100 \
        -c shared_buffers=256MB -c work_mem=16MB -c jit=off -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off -c autovacuum=off" start >/dev/null ||
    { cat "$TMP/pg/server.log" >&2; die "PostgreSQL did not start"; }
  log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (pid $(head -1 "$PG_DATA/postmaster.pid"))"
}
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" "${@:2}"; }

# pgbench -> "tps transactions"; extra args before the script
run_pgbench() {
  local db=$1 script=$2 clients=$3 jobs=$4 secs=$5
  shift 5
  local out
  out=$(PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres "$PGBENCH" -n -M prepared -c "$clients" -j "$jobs" \
        -T "$secs" -D ntiles="$NTILES_MVT" "$@" -f "$script" "$db" 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
  echo "$out" >>"$TMP/pgbench.log"
  echo "$(awk '/^tps = / {print $3; exit}' <<<"$out") $(awk '/actually processed:/ {print $NF; exit}' <<<"$out")"
}

# wrk -> "rps p50 p99 non2xx requests"
run_wrk() {
  local url=$1 lua=$2 secs=$3 out
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --latency -s "$lua" "$url" 2>&1)
  echo "$out" >>"$TMP/wrk.log"
  local rps p50 p99 bad n
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  n=$(awk '/requests in/ {print $1; exit}' <<<"$out")
  [[ -n $rps ]] || { echo "$out" >&2; die "wrk failed"; }
  echo "$rps ${p50:-?} ${p99:-?} ${bad:-0} ${n:-0}"
}

# wrk Lua script cycling over a list of paths; each thread starts at its own offset.
write_cycle_lua() {  # lua, paths file
  cat >"$1" <<EOF
local paths = {}
for line in io.lines("$2") do paths[#paths + 1] = line end
local n = #paths
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  i = ((tid or 0) * 7919) % n
end
function request()
  i = i % n + 1
  return wrk.format("GET", paths[i])
end
EOF
}

# --------------------------------------------------------------------------- tile lists
# Tiles over a lon/lat box at zooms zmin..zmax, shuffled within each zoom (fixed seed) and taken
# round-robin across zooms until n: every zoom gets its share, small zooms all their tiles.
# Output: "z x y minx miny maxx maxy" (EPSG:3857 bounds).
tile_list() {  # minlon minlat maxlon maxlat zmin zmax n
  awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" -v z0="$5" -v z1="$6" 'BEGIN {
    srand(42); pi = atan2(0, -1)
    for (z = z0; z <= z1; z++) {
      n = 2 ^ z
      x0 = int((a + 180) / 360 * n); x1 = int((c + 180) / 360 * n); if (x1 >= n) x1 = n - 1
      r = d * pi / 180; y0 = int((1 - log(sin(r) / cos(r) + 1 / cos(r)) / pi) / 2 * n)
      r = b * pi / 180; y1 = int((1 - log(sin(r) / cos(r) + 1 / cos(r)) / pi) / 2 * n)
      for (x = x0; x <= x1; x++) for (y = y0; y <= y1; y++) printf "%d %.9f %d %d\n", z, rand(), x, y
    }
  }' | sort -k1,1n -k2,2g | awk '{ r = ($1 == pz) ? r + 1 : 1; pz = $1; print r, $1, $3, $4 }' |
    sort -k1,1n -k2,2n | awk -v n="$7" 'NR <= n' | sort -k2,2n -k3,3n -k4,4n | awk '{
      o = 20037508.342789244; s = 2 * o / 2 ^ $2
      printf "%d %d %d %.10f %.10f %.10f %.10f\n", $2, $3, $4, -o + $3 * s, o - ($4 + 1) * s, -o + ($3 + 1) * s, o - $4 * s
    }' | awk 'BEGIN { srand(7) } { printf "%.9f %s\n", rand(), $0 }' | sort -k1,1g | cut -d' ' -f2-
  # (the final shuffle interleaves zooms so no renderer meets all big tiles in one stretch)
}
zooms_of() { awk '{c[$1]++} END {for (z in c) printf "z%s:%d ", z, c[z]}' "$1" | tr ' ' '\n' | sort -V | tr '\n' ' '; }

# curl over a list of URLs on one connection: "code time_us bytes x-tile-cache" per line.
curl_list() {  # urls file (one "url output" per line), out file
  local cfg=$TMP/curl.$$.cfg
  awk '{printf "url = \"%s\"\noutput = \"%s\"\n", $1, $2}' "$1" >"$cfg"
  curl -sS --create-dirs -K "$cfg" -w '%{http_code} %{time_total} %{size_download} %header{x-tile-cache}\n' |
    awk '{printf "%s %d %s %s\n", $1, $2 * 1e6 + 0.5, $3, ($4 == "" ? "-" : $4)}' >"$2"
  rm -f "$cfg"
}

# --------------------------------------------------------------------------- part 1: cold raster tiles
RASTER_SUMMARY=()
prepare_sources() {
  mkdir -p "$TMP/src" "$TMP/ms" "$TMP/www"
  chmod 755 "$TMP/src" "$TMP/ms" "$TMP/www"
  if [[ " $SOURCES " == *" l7 "* ]]; then
    bash "$REPO/scripts/test-rasters.sh" "$RASTER_DIR" >&2
    cp "$RASTER_DIR/L7_ETMs.tif" "$TMP/src/l7.tif"
  fi
  # The demo city and its basemap (drawn next to the store on the first start).
  start_gridd "$TMP/gridd-load.log" --store "$TMP/src/store.gpkg" --demo --geodata "$REPO/geodata" --threads 0
  stop_gridd
  [[ -f $TMP/src/demo-basemap.tif ]] || die "gridd did not draw demo-basemap.tif"
  chmod 644 "$TMP/src"/*
  # What gridd warps from (service/tiles.cpp: a VRT made by gdal_translate): the same VRTs
  # for gdalwarp and GDAL in-process. L7: bands 3,2,1 (Byte, no mask). Demo: RGBA, so bands
  # 1,2,3 with the alpha band as mask.
  [[ -f $TMP/src/l7.tif ]] && gdal_translate -q -of VRT -b 3 -b 2 -b 1 "$TMP/src/l7.tif" "$TMP/src/l7.vrt"
  gdal_translate -q -of VRT -b 1 -b 2 -b 3 -mask 1 "$TMP/src/demo-basemap.tif" "$TMP/src/demo.vrt"
  chmod 644 "$TMP/src"/*
  cat >"$TMP/ms/mapserver.conf" <<EOF
CONFIG
  ENV
    MS_MAP_PATTERN "^$TMP/ms/"
  END
END
EOF
  # One mapfile per source: EPSG:3857 output, PNG RGBA, bilinear like gridd.
  local name data bands
  for name in $SOURCES; do
    case $name in
      l7) data=$TMP/src/l7.tif bands="3,2,1" ;;
      demo) data=$TMP/src/demo-basemap.tif bands="1,2,3,4" ;;
      *) die "unknown source '$name' (l7 or demo)" ;;
    esac
    cat >"$TMP/ms/$name.map" <<EOF
MAP
  NAME "tile_bench_$name"
  SIZE 256 256
  EXTENT -20037508.342789244 -20037508.342789244 20037508.342789244 20037508.342789244
  UNITS METERS
  IMAGETYPE "png"
  PROJECTION "init=epsg:3857" END
  OUTPUTFORMAT
    NAME "png"
    DRIVER "AGG/PNG"
    MIMETYPE "image/png"
    IMAGEMODE RGBA
    EXTENSION "png"
    TRANSPARENT ON
  END
  LAYER
    NAME "$name"
    TYPE RASTER
    STATUS ON
    DATA "$data"
    PROJECTION AUTO END
    PROCESSING "BANDS=$bands"
    PROCESSING "RESAMPLE=BILINEAR"
  END
END
EOF
  done
  chmod 644 "$TMP/ms"/*
}

source_bbox() {  # file -> "minlon minlat maxlon maxlat"
  gdalinfo -json "$1" | jq -r '.wgs84Extent.coordinates[0] | [(map(.[0]) | min), (map(.[1]) | min), (map(.[0]) | max), (map(.[1]) | max)] | map(tostring) | join(" ")'
}

# In-process GDAL: the calls gridd makes (GDALWarp to MEM, then PNG CreateCopy to /vsimem),
# one Python process; prints "us bytes warp_us" per tile, then "cpu_s total" on the last line.
write_inproc_py() {
  cat >"$TMP/inproc.py" <<'EOF'
import sys, time
from osgeo import gdal
gdal.UseExceptions()
gdal.PushErrorHandler('CPLQuietErrorHandler')
src = gdal.Open(sys.argv[1])
outdir = sys.argv[3]
tiles = [l.split() for l in open(sys.argv[2]) if l.strip()]
png = gdal.GetDriverByName('PNG')
def render(t, keep, times=None):
    z, x, y = t[0], t[1], t[2]
    b = [float(v) for v in t[3:7]]
    t0 = time.perf_counter()
    ds = gdal.Warp('', src, format='MEM', dstSRS='EPSG:3857', outputBounds=b, width=256, height=256,
                   resampleAlg='bilinear', dstAlpha=True)
    if times is not None:
        times.append(time.perf_counter() - t0)
    name = '/vsimem/t.png'
    out = png.CreateCopy(name, ds, options=['ZLEVEL=6'])
    out = None
    ds = None
    size = gdal.VSIStatL(name).size
    if keep:
        f = gdal.VSIFOpenL(name, 'rb'); data = gdal.VSIFReadL(1, size, f); gdal.VSIFCloseL(f)
        open('%s/%s_%s_%s.png' % (outdir, z, x, y), 'wb').write(data)
    gdal.Unlink(name)
    return size
for t in tiles[:4]:
    render(t, False)           # warm-up: the dataset, PROJ, the PNG driver
c0 = time.process_time()
for i, t in enumerate(tiles):
    t0 = time.perf_counter()
    w = []
    size = render(t, False, w)
    us = (time.perf_counter() - t0) * 1e6
    print('%d %d %d' % (us, size, w[0] * 1e6))
print('cpu_s %.6f' % (time.process_time() - c0))
for t in tiles[:20]:
    render(t, True)            # untimed: kept for the pixel comparison
EOF
}

# Pixel comparison of the first tiles: mean absolute difference (0..255) over RGBA against gridd's.
write_compare_py() {
  cat >"$TMP/compare.py" <<'EOF'
import sys, os
import numpy as np
from osgeo import gdal
gdal.UseExceptions()
gdal.PushErrorHandler('CPLQuietErrorHandler')
ref_dir, other_dir, tiles = sys.argv[1], sys.argv[2], sys.argv[3]
same = n = 0
diffs = []
for l in open(tiles):
    z, x, y = l.split()[:3]
    a, b = '%s/%s_%s_%s.png' % (ref_dir, z, x, y), '%s/%s_%s_%s.png' % (other_dir, z, x, y)
    if not (os.path.exists(a) and os.path.exists(b)):
        continue
    A = gdal.Open(a).ReadAsArray().astype(np.float64)
    B = gdal.Open(b).ReadAsArray().astype(np.float64)
    if A.shape != B.shape or A.shape[0] != 4:
        continue
    # colour premultiplied by alpha (what is seen; a transparent pixel's colour does not matter)
    A[:3] *= A[3] / 255.0
    B[:3] *= B[3] / 255.0
    n += 1
    if open(a, 'rb').read() == open(b, 'rb').read():
        same += 1
    diffs.append(np.abs(A - B).mean())
print('%d %d %.2f' % (n, same, (sum(diffs) / len(diffs)) if diffs else -1))
EOF
}

bench_raster_source() {
  local name=$1 dir=$TMP/raster/$1 data vrt zooms
  case $name in
    l7) data=$TMP/src/l7.tif vrt=$TMP/src/l7.vrt zooms=$L7_ZOOMS ;;
    demo) data=$TMP/src/demo-basemap.tif vrt=$TMP/src/demo.vrt zooms=$DEMO_ZOOMS ;;
  esac
  mkdir -p "$dir"/{gridd,inproc,gdalwarp,ms_cgi,ms_fcgi}
  local bbox
  bbox=$(source_bbox "$data")
  # shellcheck disable=SC2086
  tile_list $bbox "${zooms%-*}" "${zooms#*-}" "$N_TILES" >"$dir/tiles"
  local n
  n=$(wc -l <"$dir/tiles")
  log "[$name] $n tiles ($(zooms_of "$dir/tiles")) over $bbox; source $(gdalinfo "$data" | awk '/^Size is/ {print $3 $4}') px"
  local z x y a b c d t0 t1

  # gridd (cold server): warm-up on 4 tiles (opens the dataset on the rendering threads), then
  # every tile once.
  awk -v p="http://127.0.0.1:$GRIDD_PORT/tiles/$name" -v o="$dir/warm" 'NR <= 4 {print p "/" $1 "/" $2 "/" $3 ".png", o "/" NR ".png"}' \
    "$dir/tiles" >"$dir/warm.urls"
  curl_list "$dir/warm.urls" "$dir/warm.out"
  awk -v p="http://127.0.0.1:$GRIDD_PORT/tiles/$name" -v o="$dir/gridd" '{print p "/" $1 "/" $2 "/" $3 ".png", o "/" $1 "_" $2 "_" $3 ".png"}' \
    "$dir/tiles" >"$dir/gridd.urls"
  t0=$(tree_ticks "$GRIDD_PID")
  curl_list "$dir/gridd.urls" "$dir/gridd.out"
  t1=$(tree_ticks "$GRIDD_PID")
  local g_cpu g_bad g_hit
  g_cpu=$(cpu_ms "$t0" "$t1" "$n")
  g_bad=$(awk '$1 != 200' "$dir/gridd.out" | wc -l)
  g_hit=$(awk '$4 != "miss"' "$dir/gridd.out" | wc -l)
  ((g_bad == 0)) || log "[$name] gridd: $g_bad answers were not 200"
  ((g_hit == 0)) || die "[$name] gridd: $g_hit answers were not X-Tile-Cache: miss (the cache should hold nothing)"
  awk '{print $2}' "$dir/gridd.out" >"$dir/gridd.us"
  log "[$name] gridd: $(stats_ms "$dir/gridd.us") (n median p99 mean ms), $g_cpu ms CPU/tile, all X-Tile-Cache: miss"

  # GDAL in-process (what gridd calls, without HTTP)
  "$PY" "$TMP/inproc.py" "$vrt" "$dir/tiles" "$dir/inproc" >"$dir/inproc.out"
  grep -v '^cpu_s' "$dir/inproc.out" | awk '{print $1}' >"$dir/inproc.us"
  grep -v '^cpu_s' "$dir/inproc.out" | awk '{print $3}' >"$dir/inproc_warp.us"
  local i_cpu i_warp
  i_cpu=$(awk -v n="$n" '/^cpu_s/ {printf "%.2f", $2 * 1e3 / n}' "$dir/inproc.out")
  i_warp=$(stats_ms "$dir/inproc_warp.us")
  log "[$name] GDAL in-process: $(stats_ms "$dir/inproc.us"), $i_cpu ms CPU/tile; GDALWarp alone $i_warp, the rest is PNG encoding"

  # gdalwarp CLI, a process per tile
  local warp=(gdalwarp -q -overwrite --config GDAL_PAM_ENABLED NO -of PNG -co ZLEVEL=6 -t_srs EPSG:3857
              -ts 256 256 -r bilinear -dstalpha)
  head -4 "$dir/tiles" | while read -r z x y a b c d; do "${warp[@]}" -te "$a" "$b" "$c" "$d" "$vrt" "$dir/warm.png"; done
  : >"$dir/gdalwarp.us"
  t0=$(child_ticks)
  while read -r z x y a b c d; do
    local s=$EPOCHREALTIME
    "${warp[@]}" -te "$a" "$b" "$c" "$d" "$vrt" "$dir/gdalwarp/${z}_${x}_${y}.png" </dev/null
    local e=$EPOCHREALTIME
    echo $((${e/./} - ${s/./})) >>"$dir/gdalwarp.us"
  done <"$dir/tiles"
  t1=$(child_ticks)
  local w_cpu
  w_cpu=$(cpu_ms "$t0" "$t1" "$n")
  log "[$name] gdalwarp CLI: $(stats_ms "$dir/gdalwarp.us"), $w_cpu ms CPU/tile"

  # MapServer CGI, a process per tile
  local qs="map=$TMP/ms/$name.map&mode=tile&tilemode=gmap&layers=$name"
  export MAPSERVER_CONFIG_FILE=$TMP/ms/mapserver.conf REQUEST_METHOD=GET
  head -4 "$dir/tiles" | while read -r z x y a b c d; do QUERY_STRING="$qs&tile=$x+$y+$z" "$MAPSERV" >"$dir/warm.cgi"; done
  : >"$dir/ms_cgi.us"
  t0=$(child_ticks)
  while read -r z x y a b c d; do
    local s=$EPOCHREALTIME
    QUERY_STRING="$qs&tile=$x+$y+$z" "$MAPSERV" >"$dir/ms_cgi/${z}_${x}_${y}.cgi" </dev/null
    local e=$EPOCHREALTIME
    echo $((${e/./} - ${s/./})) >>"$dir/ms_cgi.us"
  done <"$dir/tiles"
  t1=$(child_ticks)
  unset MAPSERVER_CONFIG_FILE REQUEST_METHOD
  local m_cpu m_bad=0 f off
  m_cpu=$(cpu_ms "$t0" "$t1" "$n")
  for f in "$dir"/ms_cgi/*.cgi; do  # strip the CGI header
    if head -1 "$f" | grep -q '^Content-Type: image/png'; then
      off=$(grep -m1 -obUaP '\x89PNG' "$f" | awk -F: 'NR == 1 {print $1}')
      tail -c +$((off + 1)) "$f" >"${f%.cgi}.png"
    else
      m_bad=$((m_bad + 1))
      ((m_bad == 1)) && log "[$name] MapServer CGI answered: $(head -c 300 "$f" | tr '\n' ' ')"
    fi
    rm -f "$f"
  done
  ((m_bad == 0)) || log "[$name] MapServer CGI: $m_bad answers were not PNG"
  log "[$name] MapServer CGI: $(stats_ms "$dir/ms_cgi.us"), $m_cpu ms CPU/tile"

  # MapServer FastCGI behind nginx, one persistent process
  awk -v p="http://127.0.0.1:$NGINX_PORT/ms?$qs" -v o="$dir/ms_fcgi" '{print p "&tile=" $2 "+" $3 "+" $1, o "/" $1 "_" $2 "_" $3 ".png"}' \
    "$dir/tiles" >"$dir/ms_fcgi.urls"
  head -4 "$dir/ms_fcgi.urls" | awk -v o="$dir/warm" '{print $1, o "/ms" NR ".png"}' >"$dir/ms_warm.urls"
  curl_list "$dir/ms_warm.urls" "$dir/ms_warm.out"
  t0=$(tree_ticks "$MS_PID")
  curl_list "$dir/ms_fcgi.urls" "$dir/ms_fcgi.out"
  t1=$(tree_ticks "$MS_PID")
  local f_cpu f_bad
  f_cpu=$(cpu_ms "$t0" "$t1" "$n")
  f_bad=$(awk '$1 != 200' "$dir/ms_fcgi.out" | wc -l)
  ((f_bad == 0)) || log "[$name] MapServer FastCGI: $f_bad answers were not 200"
  awk '{print $2}' "$dir/ms_fcgi.out" >"$dir/ms_fcgi.us"
  log "[$name] MapServer FastCGI: $(stats_ms "$dir/ms_fcgi.us"), $f_cpu ms CPU/tile (mapserv only)"

  # Sizes and pixels
  local sz_g sz_i sz_w sz_m sz_f
  sz_g=$(awk '{s += $3} END {printf "%.1f", s / NR / 1024}' "$dir/gridd.out")
  sz_i=$(grep -v '^cpu_s' "$dir/inproc.out" | awk '{s += $2} END {printf "%.1f", s / NR / 1024}')
  sz_w=$(find "$dir/gdalwarp" -name '*.png' -printf '%s\n' | awk '{s += $1} END {printf "%.1f", (NR ? s / NR / 1024 : 0)}')
  sz_m=$(find "$dir/ms_cgi" -name '*.png' -printf '%s\n' | awk '{s += $1} END {printf "%.1f", (NR ? s / NR / 1024 : 0)}')
  sz_f=$(awk '{s += $3} END {printf "%.1f", s / NR / 1024}' "$dir/ms_fcgi.out")
  local cmp_i cmp_w cmp_m
  cmp_i=$("$PY" "$TMP/compare.py" "$dir/gridd" "$dir/inproc" "$dir/tiles")
  cmp_w=$("$PY" "$TMP/compare.py" "$dir/gridd" "$dir/gdalwarp" "$dir/tiles")
  cmp_m=$("$PY" "$TMP/compare.py" "$dir/gridd" "$dir/ms_cgi" "$dir/tiles")
  log "[$name] mean KiB/tile: gridd $sz_g, in-process $sz_i, gdalwarp $sz_w, MapServer CGI $sz_m, FastCGI $sz_f"
  log "[$name] against gridd's PNGs (tiles compared, byte-identical, mean |diff| per RGBA sample): in-process $cmp_i; gdalwarp $cmp_w; MapServer $cmp_m"

  local sg si sw sm sf
  sg=$(stats_ms "$dir/gridd.us"); si=$(stats_ms "$dir/inproc.us"); sw=$(stats_ms "$dir/gdalwarp.us")
  sm=$(stats_ms "$dir/ms_cgi.us"); sf=$(stats_ms "$dir/ms_fcgi.us")
  local gm wm mm
  gm=$(field "$sg" 2); wm=$(field "$sw" 2); mm=$(field "$sm" 2)
  RASTER_SUMMARY+=("$(printf '%s\n' \
    "source $name: $n tiles ($(zooms_of "$dir/tiles")), 256 px PNG" \
    "$(printf '  %-34s %9s %9s %9s %10s %9s' '' 'median ms' 'p99 ms' 'mean ms' 'CPU ms/tile' 'KiB/tile')" \
    "$(printf '  %-34s %9s %9s %9s %10s %9s' 'gridd GET (HTTP, cache 0)' "$gm" "$(field "$sg" 3)" "$(field "$sg" 4)" "$g_cpu" "$sz_g")" \
    "$(printf '  %-34s %9s %9s %9s %10s %9s' 'GDAL in-process (same calls)' "$(field "$si" 2)" "$(field "$si" 3)" "$(field "$si" 4)" "$i_cpu" "$sz_i")" \
    "$(printf '  %-34s %9s %9s %9s %10s %9s' '  of which GDALWarp to MEM' "$(field "$i_warp" 2)" "$(field "$i_warp" 3)" "$(field "$i_warp" 4)" '' '')" \
    "$(printf '  %-34s %9s %9s %9s %10s %9s' 'gdalwarp CLI (process per tile)' "$wm" "$(field "$sw" 3)" "$(field "$sw" 4)" "$w_cpu" "$sz_w")" \
    "$(printf '  %-34s %9s %9s %9s %10s %9s' '  minus empty run (gdalwarp --version)' "$(awk -v a="$wm" -v b="$BASE_WARP" 'BEGIN{printf "%.2f", a-b}')" '' '' '' '')" \
    "$(printf '  %-34s %9s %9s %9s %10s %9s' 'MapServer CGI (process per tile)' "$mm" "$(field "$sm" 3)" "$(field "$sm" 4)" "$m_cpu" "$sz_m")" \
    "$(printf '  %-34s %9s %9s %9s %10s %9s' '  minus empty run (mapserv -v)' "$(awk -v a="$mm" -v b="$BASE_MS" 'BEGIN{printf "%.2f", a-b}')" '' '' '' '')" \
    "$(printf '  %-34s %9s %9s %9s %10s %9s' 'MapServer FastCGI (nginx, 1 proc)' "$(field "$sf" 2)" "$(field "$sf" 3)" "$(field "$sf" 4)" "$f_cpu" "$sz_f")" \
    "  median ratios (other / gridd, >1 means gridd is faster): gdalwarp CLI $(ratio "$wm" "$gm"), MapServer CGI $(ratio "$mm" "$gm"), MapServer FastCGI $(ratio "$(field "$sf" 2)" "$gm"), GDAL in-process $(ratio "$(field "$si" 2)" "$gm")" \
    "  p99 ratios: gdalwarp CLI $(ratio "$(field "$sw" 3)" "$(field "$sg" 3)"), MapServer CGI $(ratio "$(field "$sm" 3)" "$(field "$sg" 3)"), MapServer FastCGI $(ratio "$(field "$sf" 3)" "$(field "$sg" 3)")" \
    "  CPU ratios: gdalwarp CLI $(ratio "$w_cpu" "$g_cpu"), MapServer CGI $(ratio "$m_cpu" "$g_cpu"), MapServer FastCGI $(ratio "$f_cpu" "$g_cpu"), GDAL in-process $(ratio "$i_cpu" "$g_cpu")" \
    "  pixels vs gridd (tiles, byte-identical, mean |diff|): in-process $cmp_i; gdalwarp $cmp_w; MapServer $cmp_m")")
}

# Diagnostic: the demo basemap's zoomed-out tiles (below the main list's zooms), through gridd,
# through GDAL in-process from gridd's VRT, and from the GeoTIFF directly. gridd's VRT for a
# source with a mask (-mask 1: the demo's alpha band) shows the warper no overviews.
DIAG_SUMMARY=""
diag_low_zoom() {
  local dir=$TMP/raster/demo_low
  mkdir -p "$dir"/{gridd,vrt,tif}
  # shellcheck disable=SC2046
  tile_list $(source_bbox "$TMP/src/demo-basemap.tif") "$DIAG_ZOOMS_MIN" "$DIAG_ZOOMS_MAX" 1000 | sort -k1,1n -k2,2n -k3,3n >"$dir/tiles"
  local n
  n=$(wc -l <"$dir/tiles")
  awk -v p="http://127.0.0.1:$GRIDD_PORT/tiles/demo" -v o="$dir/gridd" '{print p "/" $1 "/" $2 "/" $3 ".png", o "/" $1 "_" $2 "_" $3 ".png"}' \
    "$dir/tiles" >"$dir/gridd.urls"
  local t0 t1
  t0=$(tree_ticks "$GRIDD_PID")
  curl_list "$dir/gridd.urls" "$dir/gridd.out"
  t1=$(tree_ticks "$GRIDD_PID")
  awk '{print $2}' "$dir/gridd.out" >"$dir/gridd.us"
  local g_cpu
  g_cpu=$(cpu_ms "$t0" "$t1" "$n")
  "$PY" "$TMP/inproc.py" "$TMP/src/demo.vrt" "$dir/tiles" "$dir/vrt" >"$dir/vrt.out"
  "$PY" "$TMP/inproc.py" "$TMP/src/demo-basemap.tif" "$dir/tiles" "$dir/tif" >"$dir/tif.out"
  local v
  for v in vrt tif; do grep -v '^cpu_s' "$dir/$v.out" | awk '{print $1}' >"$dir/$v.us"; done
  local cv ct
  cv=$(awk -v n="$n" '/^cpu_s/ {printf "%.2f", $2 * 1e3 / n}' "$dir/vrt.out")
  ct=$(awk -v n="$n" '/^cpu_s/ {printf "%.2f", $2 * 1e3 / n}' "$dir/tif.out")
  local sg sv st
  sg=$(stats_ms "$dir/gridd.us"); sv=$(stats_ms "$dir/vrt.us"); st=$(stats_ms "$dir/tif.us")
  log "[demo z$DIAG_ZOOMS_MIN-$DIAG_ZOOMS_MAX] gridd $sg ($g_cpu ms CPU); in-process via gridd's VRT $sv ($cv ms CPU); from the GeoTIFF $st ($ct ms CPU)"
  DIAG_SUMMARY=$(printf '%s\n' \
    "diagnostic: the demo basemap below the list's zooms, $n tiles ($(zooms_of "$dir/tiles")), median / p99 ms (CPU ms/tile)" \
    "  gridd GET (cache 0)                          $(field "$sg" 2) / $(field "$sg" 3) ($g_cpu)" \
    "  GDAL in-process from gridd's VRT (-mask 1)   $(field "$sv" 2) / $(field "$sv" 3) ($cv)" \
    "  GDAL in-process from the GeoTIFF (overviews) $(field "$st" 2) / $(field "$st" 3) ($ct)" \
    "  gdalinfo of gridd's VRT lists $(gdalinfo "$TMP/src/demo.vrt" | grep -c 'Overviews:') overview lines, of the GeoTIFF $(gdalinfo "$TMP/src/demo-basemap.tif" | grep -c 'Overviews:')")
}

BASE_WARP=0 BASE_MS=0
measure_baselines() {
  local i s e
  : >"$TMP/base_warp.us"
  : >"$TMP/base_ms.us"
  for ((i = 0; i < BASELINE_RUNS; i++)); do
    s=$EPOCHREALTIME; gdalwarp --version >/dev/null; e=$EPOCHREALTIME
    echo $((${e/./} - ${s/./})) >>"$TMP/base_warp.us"
    s=$EPOCHREALTIME; "$MAPSERV" -v >/dev/null; e=$EPOCHREALTIME
    echo $((${e/./} - ${s/./})) >>"$TMP/base_ms.us"
  done
  BASE_WARP=$(field "$(stats_ms "$TMP/base_warp.us")" 2)
  BASE_MS=$(field "$(stats_ms "$TMP/base_ms.us")" 2)
  log "empty runs (median of $BASELINE_RUNS): gdalwarp --version $BASE_WARP ms, mapserv -v $BASE_MS ms"
}

# --------------------------------------------------------------------------- part 2: cached tiles
CACHED_SUMMARY=""
bench_cached() {
  local dir=$TMP/cached
  mkdir -p "$dir"
  # M tiles from the raster lists, interleaved across sources
  local name files=()
  for name in $SOURCES; do
    awk -v s="$name" '{print "/tiles/" s "/" $1 "/" $2 "/" $3 ".png"}' "$TMP/raster/$name/tiles" >"$dir/paths.$name"
    files+=("$dir/paths.$name")
  done
  paste -d'\n' "${files[@]}" | awk -v m="$CACHED_TILES" 'NF && ++n <= m' >"$dir/paths"
  local m
  m=$(wc -l <"$dir/paths")
  start_gridd "$dir/gridd.log" --store "$TMP/src/store.gpkg" --demo --geodata "$REPO/geodata" --threads 0 \
    --tile-cache-mb 1024 "${RASTER_ARGS[@]}"
  log "[cached] gridd pid $GRIDD_PID on 127.0.0.1:$GRIDD_PORT (--tile-cache-mb 1024); warming $m tiles"
  # warm, writing the files nginx will serve (same bytes, same paths)
  awk -v p="http://127.0.0.1:$GRIDD_PORT" -v o="$TMP/www" '{print p $1, o $1}' "$dir/paths" >"$dir/warm.urls"
  curl_list "$dir/warm.urls" "$dir/warm.out"
  curl_list "$dir/warm.urls" "$dir/check.out"
  local bad hits bytes
  bad=$(awk '$1 != 200' "$dir/check.out" | wc -l)
  hits=$(awk '$4 == "hit"' "$dir/check.out" | wc -l)
  bytes=$(awk '{s += $3} END {printf "%.1f", s / NR / 1024}' "$dir/check.out")
  ((bad == 0)) || die "[cached] $bad tiles did not answer 200"
  ((hits == m)) || die "[cached] only $hits of $m tiles were cache hits after warming"
  find "$TMP/www" -type d -exec chmod 755 {} + && find "$TMP/www" -type f -exec chmod 644 {} +
  log "[cached] $hits/$m tiles cached (X-Tile-Cache: hit), mean $bytes KiB"
  local mtiles
  mtiles=$(curl -fsS "http://127.0.0.1:$GRIDD_PORT/tiles" | jq -r '.cache | "\(.entries) entries, \(.bytes / 1048576 * 10 | floor / 10) MiB"')
  write_cycle_lua "$dir/cycle.lua" "$dir/paths"
  local t0 t1 line gr gp50 gp99 gbad gn g_cpu nr np50 np99 nbad nn n_cpu
  run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/cycle.lua" "$WARMUP" >/dev/null
  t0=$(tree_ticks "$GRIDD_PID")
  line=$(run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/cycle.lua" "$DURATION")
  t1=$(tree_ticks "$GRIDD_PID")
  read -r gr gp50 gp99 gbad gn <<<"$line"
  g_cpu=$(cpu_us "$t0" "$t1" "$gn")
  ((gbad == 0)) || log "[cached] gridd: $gbad non-2xx"
  log "[cached] gridd $gr req/s, $g_cpu µs CPU/req (p50 $gp50 p99 $gp99); cache $mtiles"
  local stats_after
  stats_after=$(curl -fsS "http://127.0.0.1:$GRIDD_PORT/tiles" | jq -r '.cache | "hits \(.hits), misses \(.misses)"')
  log "[cached] gridd cache after the run: $stats_after"
  stop_gridd
  run_wrk "http://127.0.0.1:$NGINX_PORT" "$dir/cycle.lua" "$WARMUP" >/dev/null
  t0=$(tree_ticks "$NGINX_PID")
  line=$(run_wrk "http://127.0.0.1:$NGINX_PORT" "$dir/cycle.lua" "$DURATION")
  t1=$(tree_ticks "$NGINX_PID")
  read -r nr np50 np99 nbad nn <<<"$line"
  n_cpu=$(cpu_us "$t0" "$t1" "$nn")
  ((nbad == 0)) || log "[cached] nginx: $nbad non-2xx"
  log "[cached] nginx $nr req/s, $n_cpu µs CPU/req (p50 $np50 p99 $np99)"
  CACHED_SUMMARY=$(printf '%s\n' \
    "cached tiles: $m PNG tiles (mean $bytes KiB), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s cycling over them" \
    "$(printf '  %-28s %10s %14s %10s %10s' '' 'req/s' 'CPU/req (µs)' 'p50' 'p99')" \
    "$(printf '  %-28s %10.0f %14s %10s %10s' 'gridd (memory cache hit)' "$gr" "$g_cpu" "$gp50" "$gp99")" \
    "$(printf '  %-28s %10.0f %14s %10s %10s' 'nginx (same files, sendfile)' "$nr" "$n_cpu" "$np50" "$np99")" \
    "  gridd/nginx = $(ratio "$gr" "$nr") by rate, $(ratio "$n_cpu" "$g_cpu") by server CPU")
}

# --------------------------------------------------------------------------- part 3: MVT
MVT_SUMMARY=""
NTILES_MVT=0
write_mvt_sql() {
  local dir=$1
  # Plain: the issue's query. Transform per row, one layer of the levels gridd draws at this zoom.
  cat >"$dir/pg_transform.sql" <<'SQL'
\set i random(1, :ntiles)
SELECT ST_AsMVT(q, 'grids', 4096, 'geom', 'id')
  FROM (SELECT g.id, g.code, g.name, g.level, g.parent, g.worker, g.households,
               ST_AsMVTGeom(ST_Transform(g.geom, 3857), ST_TileEnvelope(t.z, t.x, t.y), 4096, 64, true) AS geom
          FROM bench_tiles t
          JOIN grids g ON g.geom && ST_Transform(ST_TileEnvelope(t.z, t.x, t.y, margin => 64.0 / 4096), 4326)
         WHERE t.id = :i AND t.z >= g.minzoom) q
 WHERE q.geom IS NOT NULL;
SQL
  # The same from the precomputed 3857 column (its own GiST index).
  cat >"$dir/pg_3857.sql" <<'SQL'
\set i random(1, :ntiles)
SELECT ST_AsMVT(q, 'grids', 4096, 'geom', 'id')
  FROM (SELECT g.id, g.code, g.name, g.level, g.parent, g.worker, g.households,
               ST_AsMVTGeom(g.geom3857, ST_TileEnvelope(t.z, t.x, t.y), 4096, 64, true) AS geom
          FROM bench_tiles t
          JOIN grids g ON g.geom3857 && ST_TileEnvelope(t.z, t.x, t.y, margin => 64.0 / 4096)
         WHERE t.id = :i AND t.z >= g.minzoom) q
 WHERE q.geom IS NOT NULL;
SQL
  # What gridd's /tiles/grids tile holds: a layer per level and grid_labels (a point on surface
  # per grid, in the tile that holds it).
  cat >"$dir/pg_full.sql" <<'SQL'
\set i random(1, :ntiles)
WITH e AS (SELECT z, ST_TileEnvelope(z, x, y) AS env, ST_TileEnvelope(z, x, y, margin => 64.0 / 4096) AS envb
             FROM bench_tiles WHERE id = :i),
hits AS MATERIALIZED (
  SELECT g.level_rank, g.id, g.code, g.name, g.level, g.parent, g.worker, g.households, g.geom,
         ST_AsMVTGeom(g.geom3857, e.env, 4096, 64, true) AS mgeom
    FROM e JOIN grids g ON g.geom3857 && e.envb AND e.z >= g.minzoom),
layers AS (
  SELECT lv.rank,
         (SELECT ST_AsMVT(q, 'grids_' || lv.level, 4096, 'geom', 'id')
            FROM (SELECT h.id, h.code, h.name, h.level, h.parent, h.worker, h.households, h.mgeom AS geom
                    FROM hits h WHERE h.level_rank = lv.rank AND h.mgeom IS NOT NULL) q) AS mvt
    FROM (VALUES (0, 'district'), (1, 'street'), (2, 'community'), (3, 'grid'), (4, 'micro_grid')) lv(rank, level)),
labels AS (
  SELECT ST_AsMVT(q, 'grid_labels', 4096, 'geom', 'id') AS mvt
    FROM (SELECT h.id, h.code, h.name, h.level,
                 ST_AsMVTGeom(ST_Transform(ST_PointOnSurface(h.geom), 3857), e.env, 4096, 0, true) AS geom
            FROM hits h, e WHERE h.mgeom IS NOT NULL) q
   WHERE q.geom IS NOT NULL)
SELECT coalesce((SELECT string_agg(mvt, ''::bytea ORDER BY rank) FROM layers), ''::bytea)
       || coalesce((SELECT mvt FROM labels), ''::bytea);
SQL
}

# "layer=count ..." of an MVT file (GDAL's MVT driver), non-empty layers only
mvt_layers() {  # file z x y
  [[ -s $1 ]] || { echo "(empty)"; return 0; }
  ogrinfo -ro -so -al -oo X="$3" -oo Y="$4" -oo Z="$2" "$1" 2>/dev/null |
    awk '/^Layer name:/ {l = $3} /^Feature Count:/ {if ($3 > 0) printf "%s=%s ", l, $3}' || true
}

bench_mvt() {
  local dir=$TMP/mvt db=bench_tiles
  mkdir -p "$dir/gridd" "$dir/pg"
  chmod 755 "$dir" "$dir/pg"
  # The grids as gridd stores them (WGS84 after the demo's GCJ-02 conversion).
  "$GRIDD" export grids --store "$TMP/src/store.gpkg" -o "$dir/grids.geojson" >&2
  psql_db postgres -c "CREATE DATABASE $db"
  psql_db "$db" -c "CREATE EXTENSION postgis"
  ogr2ogr -f PostgreSQL "PG:host=127.0.0.1 port=$PG_PORT user=postgres dbname=$db" "$dir/grids.geojson" -nln grids \
    -nlt PROMOTE_TO_MULTI -t_srs EPSG:4326 -lco GEOMETRY_NAME=geom -lco FID=fid -lco SPATIAL_INDEX=GIST -lco PRECISION=NO
  local z0=${MVT_ZOOMS%-*} z1=${MVT_ZOOMS#*-}
  psql_db "$db" <<SQL
ALTER TABLE grids ADD COLUMN level_rank int, ADD COLUMN minzoom int, ADD COLUMN worker text,
                  ADD COLUMN geom3857 geometry(MultiPolygon, 3857);
UPDATE grids SET level_rank = CASE level WHEN 'district' THEN 0 WHEN 'street' THEN 1 WHEN 'community' THEN 2
                                         WHEN 'grid' THEN 3 WHEN 'micro_grid' THEN 4 END,
                 parent = coalesce(parent, ''),
                 worker = coalesce((SELECT p->>'name' FROM jsonb_array_elements(coalesce(people::text, '[]')::jsonb) p
                                     WHERE p->>'role' = 'grid_worker' LIMIT 1),
                                   coalesce(people::text, '[]')::jsonb->0->>'name', ''),
                 geom3857 = ST_Transform(geom, 3857);
-- service::TileOptions::level_minzoom: the first zoom each level is drawn at
UPDATE grids SET minzoom = (ARRAY[0, 9, 12, 13, 15])[level_rank + 1];
CREATE INDEX grids_geom3857_idx ON grids USING gist (geom3857);
-- The tiles: every tile at zooms $z0..$z1 over the city that intersects a grid, shuffled per zoom
-- (md5 order, deterministic) and taken round-robin across zooms.
CREATE TABLE bench_tiles AS
WITH b AS (SELECT ST_Extent(geom3857) AS e FROM grids),
r AS (SELECT z, 40075016.685578488 / 2 ^ z AS s, e FROM b, generate_series($z0, $z1) z),
c AS (SELECT r.z, x, y
        FROM r,
             generate_series(floor((ST_XMin(r.e) + 20037508.342789244) / r.s)::int, floor((ST_XMax(r.e) + 20037508.342789244) / r.s)::int) x,
             generate_series(floor((20037508.342789244 - ST_YMax(r.e)) / r.s)::int, floor((20037508.342789244 - ST_YMin(r.e)) / r.s)::int) y
       WHERE EXISTS (SELECT 1 FROM grids g WHERE ST_Intersects(g.geom3857, ST_TileEnvelope(r.z, x, y)))),
k AS (SELECT z, x, y, row_number() OVER (PARTITION BY z ORDER BY md5(z || '/' || x || '/' || y)) AS rn FROM c)
SELECT row_number() OVER (ORDER BY md5('t' || z || '/' || x || '/' || y))::int AS id, z, x, y
  FROM (SELECT * FROM k ORDER BY rn, z LIMIT $MVT_TILES) s;
ALTER TABLE bench_tiles ADD PRIMARY KEY (id);
VACUUM ANALYZE grids;
VACUUM ANALYZE bench_tiles;
SQL
  psql_db "$db" -At -F' ' -c "SELECT z, x, y FROM bench_tiles ORDER BY id" >"$dir/tiles"
  NTILES_MVT=$(wc -l <"$dir/tiles")
  local counts
  counts=$(psql_db "$db" -At -c "SELECT sum(n) || ' grids (' || string_agg(n || ' ' || level, ', ' ORDER BY r) || ')'
             FROM (SELECT level, min(level_rank) r, count(*) n FROM grids GROUP BY level) s")
  log "[mvt] PostGIS: $counts; $NTILES_MVT tiles ($(zooms_of "$dir/tiles"))"
  write_mvt_sql "$dir"
  chmod 644 "$dir"/*.sql
  local v
  for v in pg_transform pg_3857 pg_full; do
    psql_db "$db" -c "PREPARE q(int) AS $(sed -e '1d' -e 's/:i/$1/g' "$dir/$v.sql" | tr -d ';')" \
      -c "EXPLAIN (COSTS OFF) EXECUTE q(1)" >"$dir/explain_$v.txt" 2>&1 || true
  done

  # gridd cold: latency (one connection, each tile once), then throughput (wrk, cache 0)
  awk -v p="http://127.0.0.1:$GRIDD_PORT/tiles/grids" -v o="$dir/gridd" '{print p "/" $1 "/" $2 "/" $3 ".mvt", o "/" $1 "_" $2 "_" $3 ".mvt"}' \
    "$dir/tiles" >"$dir/gridd.urls"
  head -4 "$dir/gridd.urls" | awk -v o="$dir" '{print $1, o "/warm" NR ".mvt"}' >"$dir/warm.urls"
  curl_list "$dir/warm.urls" "$dir/warm.out"
  local t0 t1
  t0=$(tree_ticks "$GRIDD_PID")
  curl_list "$dir/gridd.urls" "$dir/gridd.out"
  t1=$(tree_ticks "$GRIDD_PID")
  local gl_cpu g_hit
  gl_cpu=$(cpu_ms "$t0" "$t1" "$NTILES_MVT")
  g_hit=$(awk '$4 != "miss" || $1 != 200' "$dir/gridd.out" | wc -l)
  ((g_hit == 0)) || die "[mvt] gridd: $g_hit answers were not 200 with X-Tile-Cache: miss"
  awk '{print $2}' "$dir/gridd.out" >"$dir/gridd.us"
  local sg
  sg=$(stats_ms "$dir/gridd.us")
  log "[mvt] gridd latency: $sg (n median p99 mean ms), $gl_cpu ms CPU/tile"
  awk '{print "/tiles/grids/" $1 "/" $2 "/" $3 ".mvt"}' "$dir/tiles" >"$dir/paths"
  write_cycle_lua "$dir/cycle.lua" "$dir/paths"
  local line gr gp50 gp99 gbad gn gt_cpu
  run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/cycle.lua" "$WARMUP" >/dev/null
  t0=$(tree_ticks "$GRIDD_PID")
  line=$(run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/cycle.lua" "$DURATION")
  t1=$(tree_ticks "$GRIDD_PID")
  read -r gr gp50 gp99 gbad gn <<<"$line"
  gt_cpu=$(cpu_us "$t0" "$t1" "$gn")
  ((gbad == 0)) || log "[mvt] gridd: $gbad non-2xx under load"
  log "[mvt] gridd throughput: $gr tiles/s, $gt_cpu µs CPU/tile (p50 $gp50 p99 $gp99)"

  # PostGIS
  local pg_pid
  pg_pid=$(head -1 "$PG_DATA/postmaster.pid")
  declare -A pl pt pc psz
  for v in pg_transform pg_3857 pg_full; do
    rm -f "$dir/pg/$v".log*
    run_pgbench "$db" "$dir/$v.sql" 1 1 "$WARMUP" >/dev/null
    (cd "$dir/pg" && run_pgbench "$db" "$dir/$v.sql" 1 1 "$MVT_LAT_SECS" -l --log-prefix="$v" >/dev/null)
    cat "$dir/pg/$v".* | awk '{print $3}' >"$dir/$v.us"
    pl[$v]=$(stats_ms "$dir/$v.us")
    run_pgbench "$db" "$dir/$v.sql" "$CONNECTIONS" "$THREADS" "$WARMUP" >/dev/null
    sleep 0.5
    t0=$(tree_ticks "$pg_pid")
    line=$(run_pgbench "$db" "$dir/$v.sql" "$CONNECTIONS" "$THREADS" "$DURATION")
    sleep 0.5
    t1=$(tree_ticks "$pg_pid")
    pt[$v]=$(field "$line" 1)
    pc[$v]=$(cpu_us "$t0" "$t1" "$(field "$line" 2)")
    # sizes of every tile
    {
      echo "PREPARE s(int) AS SELECT length(m) FROM ($(sed -e '1d' -e 's/:i/$1/g' "$dir/$v.sql" | tr -d ';')) x(m);"
      seq 1 "$NTILES_MVT" | awk '{print "EXECUTE s(" $1 ");"}'
    } | psql_db "$db" -At >"$dir/$v.sizes"
    psz[$v]=$(awk '{s += $1} END {printf "%.1f", (NR ? s / NR / 1024 : 0)}' "$dir/$v.sizes")
    log "[mvt] $v latency: ${pl[$v]}; throughput ${pt[$v]} tps, ${pc[$v]} µs CPU/query; mean ${psz[$v]} KiB"
  done
  local gsz
  gsz=$(awk '{s += $3} END {printf "%.1f", s / NR / 1024}' "$dir/gridd.out")

  # Cross-check: per-layer feature counts of gridd's tile and pg_full's for a few tiles.
  local same=0 checked=0 id z x y a b
  : >"$dir/layers.txt"
  for id in $(seq 1 $((NTILES_MVT / 12 > 0 ? NTILES_MVT / 12 : 1)) "$NTILES_MVT" | awk 'NR <= 12'); do
    read -r z x y <<<"$(sed -n "${id}p" "$dir/tiles")"
    psql_db "$db" -At -c "SELECT encode(m, 'base64') FROM ($(sed -e '1d' -e "s/:i/$id/g" "$dir/pg_full.sql" | tr -d ';')) x(m)" |
      base64 -d >"$dir/pg/${z}_${x}_${y}.mvt"
    a=$(mvt_layers "$dir/gridd/${z}_${x}_${y}.mvt" "$z" "$x" "$y")
    b=$(mvt_layers "$dir/pg/${z}_${x}_${y}.mvt" "$z" "$x" "$y")
    checked=$((checked + 1))
    [[ $a == "$b" ]] && same=$((same + 1))
    echo "$z/$x/$y gridd: $a | PostGIS: $b" >>"$dir/layers.txt"
  done
  log "[mvt] per-layer feature counts equal for $same of $checked tiles (see layers.txt)"
  sed 's/^/    /' "$dir/layers.txt" >&2

  local gm
  gm=$(field "$sg" 2)
  MVT_SUMMARY=$(printf '%s\n' \
    "MVT: $NTILES_MVT tiles ($(zooms_of "$dir/tiles")) over the demo city, $counts" \
    "$(printf '  %-36s %9s %9s %11s %12s %14s %9s' '' 'median ms' 'p99 ms' 'CPU ms/tile' 'tiles/s (32)' 'CPU/tile (32)' 'KiB/tile')" \
    "$(printf '  %-36s %9s %9s %11s %12.0f %11s µs %9s' 'gridd /tiles/grids (cache 0)' "$gm" "$(field "$sg" 3)" "$gl_cpu" "$gr" "$gt_cpu" "$gsz")" \
    "$(for v in pg_transform pg_3857 pg_full; do
         printf '  %-36s %9s %9s %11s %12.0f %11s µs %9s\n' "PostGIS $v" "$(field "${pl[$v]}" 2)" "$(field "${pl[$v]}" 3)" '' "${pt[$v]}" "${pc[$v]}" "${psz[$v]}"
       done)" \
    "  latency ratios (PostGIS median / gridd median): pg_transform $(ratio "$(field "${pl[pg_transform]}" 2)" "$gm"), pg_3857 $(ratio "$(field "${pl[pg_3857]}" 2)" "$gm"), pg_full $(ratio "$(field "${pl[pg_full]}" 2)" "$gm")" \
    "  throughput ratios (gridd / PostGIS): pg_transform $(ratio "$gr" "${pt[pg_transform]}"), pg_3857 $(ratio "$gr" "${pt[pg_3857]}"), pg_full $(ratio "$gr" "${pt[pg_full]}")" \
    "  server CPU ratios (PostGIS / gridd): pg_transform $(ratio "${pc[pg_transform]}" "$gt_cpu"), pg_3857 $(ratio "${pc[pg_3857]}" "$gt_cpu"), pg_full $(ratio "${pc[pg_full]}" "$gt_cpu")" \
    "  per-layer feature counts equal (gridd vs pg_full) for $same of $checked tiles")
}

# --------------------------------------------------------------------------- main
ensure_packages
ensure_build
TMP=$(mktemp -d /tmp/gridd-tile-bench.XXXXXX)
chmod 755 "$TMP"
trap cleanup EXIT
trap 'exit 130' INT TERM
log "temp dir $TMP; parts: $PARTS; sources: $SOURCES; $N_TILES cold tiles per source; $MVT_TILES MVT tiles; load average $(cut -d" " -f1-3 /proc/loadavg)"
write_inproc_py
write_compare_py
prepare_sources
RASTER_ARGS=()
[[ " $SOURCES " == *" l7 "* ]] && RASTER_ARGS+=(--raster "l7=$TMP/src/l7.tif?bands=3,2,1")
start_nginx
log "nginx pid $NGINX_PID on 127.0.0.1:$NGINX_PORT"
# The cold server: no tile cache, so every raster and vector tile renders.
start_gridd "$TMP/gridd-cold.log" --store "$TMP/src/store.gpkg" --demo --geodata "$REPO/geodata" --threads 0 \
  --tile-cache-mb 0 "${RASTER_ARGS[@]}"
COLD_PID=$GRIDD_PID COLD_PORT=$GRIDD_PORT
log "gridd (cold, --tile-cache-mb 0) pid $GRIDD_PID on 127.0.0.1:$GRIDD_PORT: $(head -1 "$TMP/gridd-cold.log")"

if want raster; then
  start_mapserv_fcgi
  log "mapserv FastCGI pid $MS_PID ($("$MAPSERV" -v | cut -c1-24))"
  measure_baselines
  for s in $SOURCES; do bench_raster_source "$s"; done
  if [[ " $SOURCES " == *" demo "* && $DIAG_ZOOMS_MIN -le $DIAG_ZOOMS_MAX ]]; then diag_low_zoom; fi
fi
if want mvt; then
  start_postgres
  GRIDD_PID=$COLD_PID GRIDD_PORT=$COLD_PORT
  bench_mvt
fi
GRIDD_PID=$COLD_PID
stop_gridd
if want cached; then
  want raster || die "the cached part takes its tiles from the raster part (PARTS must include raster)"
  bench_cached
fi

{
  echo "== gridd tile benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "   gridd $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty'), GDAL $(gdal-config --version 2>/dev/null || gdalinfo --version | awk '{print $2}' | tr -d ,), $("$MAPSERV" -v | awk '{print "MapServer " $3}'), $("$NGINX" -v 2>&1 | sed 's/.*: //'), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}')$([[ -n $PG_PORT ]] && echo " + PostGIS $(psql_db postgres -At -c "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'")")"
  if want raster; then
    echo "cold raster tiles, sequential, one request at a time (empty runs: gdalwarp --version $BASE_WARP ms, mapserv -v $BASE_MS ms)"
    printf '%s\n' "${RASTER_SUMMARY[@]}"
    if [[ -n $DIAG_SUMMARY ]]; then echo "$DIAG_SUMMARY"; fi
  fi
  if [[ -n $CACHED_SUMMARY ]]; then echo "$CACHED_SUMMARY"; fi
  if [[ -n $MVT_SUMMARY ]]; then echo "$MVT_SUMMARY"; fi
} | tee -a "${RESULTS:-/dev/null}"
