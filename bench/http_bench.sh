#!/usr/bin/env bash
# bench/http_bench.sh: GET /locate over HTTP, on this machine, against two references
# on the same data and the same random points:
#   * nginx serving a static file as large as a typical /locate answer (the ceiling), both with
#     `wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s` and the same Lua script (random points);
#   * PostgreSQL 15 + PostGIS 3 answering the same question (grids containing the point with
#     ST_Intersects on a GiST index, ordered by level, + the 3 nearest stations by `<->` KNN with
#     ST_Distance(geography), rendered as JSON) through `pgbench -c$CONNECTIONS -j$THREADS`.
# Prints requests per second and the ratios gridd/nginx (target >= 0.75) and gridd/PostGIS
# (target >= 10), and, because a shared machine makes rates noisy, the server CPU time per
# request (user + system of gridd, of nginx's master + workers, of the postmaster + backends;
# from /proc/PID/stat) and the same ratios by CPU time, which other load disturbs much less.
#
# Usage: bench/http_bench.sh            (from anywhere; root installs missing Debian packages)
# Environment (defaults in brackets):
#   CITIES       demo, synthetic, or "demo synthetic" [demo if geodata/renchen/demo.json exists, then synthetic]
#   SYNTH_SIZE   synthetic city: 20k, 1m or COLSxROWS [20k]
#   DURATION     seconds per measured run [10]    WARMUP  seconds of warm-up per target [2]
#   CONNECTIONS  [32]   THREADS  wrk threads and pgbench jobs [2]   ROUNDS  rounds per city, median reported [1]
#   NPOINTS      random query points [10000]      GRIDD_THREADS  gridd --threads [0 = one per core]
#   BUILD_DIR    [<repo>/build-bench]   GRIDD  [BUILD_DIR/gridd]   REBUILD=1 rebuild even if present
#   KEEP=1       keep the temporary directory     RESULTS  file to append the summary to
# Everything binds 127.0.0.1 (PostgreSQL also a socket in the temp dir); everything started is
# stopped by PID on exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO/build-bench}
GRIDD=${GRIDD:-$BUILD_DIR/gridd}
CITY_TOOL=${CITY_TOOL:-$BUILD_DIR/bench/gridd_bench_city}
SYNTH_SIZE=${SYNTH_SIZE:-20k}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
NPOINTS=${NPOINTS:-10000}
GRIDD_THREADS=${GRIDD_THREADS:-0}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-}
if [[ -z ${CITIES:-} ]]; then
  CITIES="synthetic"
  [[ -f $REPO/geodata/renchen/demo.json ]] && CITIES="demo synthetic"
fi

log() { printf '[http_bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --------------------------------------------------------------------------- packages
ensure_packages() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  [[ -x $NGINX ]] || missing+=(nginx-light)
  command -v curl >/dev/null || missing+=(curl)
  command -v ogr2ogr >/dev/null || missing+=(gdal-bin)
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
  if [[ ${REBUILD:-0} == 1 || ! -x $GRIDD || ! -x $CITY_TOOL ]]; then
    log "building gridd (Release) in $BUILD_DIR"
    [[ -f $BUILD_DIR/build.ninja ]] ||
      cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRIDD_BUILD_TESTS=OFF >/dev/null
    ninja -C "$BUILD_DIR" gridd gridd_bench_city >/dev/null
  fi
}

PGBENCH=$PG_BIN/pgbench
[[ -x $PGBENCH ]] || PGBENCH=pgbench

# --------------------------------------------------------------------------- processes
TMP=""
PIDS=()          # gridd and nginx masters, stopped on exit
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
  if command -v python3 >/dev/null && python3 -c 'import socket' 2>/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
  else
    local used p
    used=$(ss -Htan | awk '{print $4}' | sed 's/.*://' | sort -u)
    while :; do p=$((20000 + RANDOM % 40000)); grep -qx "$p" <<<"$used" || { echo "$p"; return; }; done
  fi
}

# run as the PostgreSQL user (PostgreSQL refuses root)
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

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

# Load the grids and stations exported by gridd (WGS84 GeoJSON) into database $1.
load_postgis() {
  local db=$1 dir=$2
  psql_db postgres -c "CREATE DATABASE $db"
  psql_db "$db" -c "CREATE EXTENSION postgis"
  local pg="PG:host=127.0.0.1 port=$PG_PORT user=postgres dbname=$db"
  ogr2ogr -f PostgreSQL "$pg" "$dir/export_grids.geojson" -nln grids -nlt PROMOTE_TO_MULTI \
    -lco GEOMETRY_NAME=geom -lco FID=fid -lco SPATIAL_INDEX=GIST -lco PRECISION=NO
  ogr2ogr -f PostgreSQL "$pg" "$dir/export_stations.geojson" -nln stations -nlt POINT \
    -lco GEOMETRY_NAME=geom -lco FID=fid -lco SPATIAL_INDEX=GIST -lco PRECISION=NO
  psql_db "$db" <<'SQL'
ALTER TABLE grids ADD COLUMN level_rank int;
UPDATE grids SET level_rank = CASE level WHEN 'district' THEN 0 WHEN 'street' THEN 1 WHEN 'community' THEN 2
                                         WHEN 'grid' THEN 3 WHEN 'micro_grid' THEN 4 END;
CREATE TABLE bench_points (id serial PRIMARY KEY, lon float8, lat float8, geom geometry(Point, 4326));
VACUUM ANALYZE grids;
VACUUM ANALYZE stations;
SQL
}

load_points_pg() {
  local db=$1 csv=$2
  psql_db "$db" -c "\\copy bench_points (lon, lat) FROM '$csv' WITH (FORMAT csv)"
  psql_db "$db" -c "UPDATE bench_points SET geom = ST_SetSRID(ST_MakePoint(lon, lat), 4326)" -c "VACUUM ANALYZE bench_points"
}

# The PostGIS side of GET /locate?lon=..&lat=..&k=3, one statement, JSON out.
write_pgbench_script() {
  cat >"$1" <<'SQL'
\set i random(1, :npoints)
SELECT json_build_object(
  'position', (SELECT json_build_object('lon', lon, 'lat', lat) FROM bench_points WHERE id = :i),
  'grids', (SELECT json_agg(json_build_object('id', g.id, 'code', g.code, 'name', g.name, 'level', g.level,
                                              'people', g.people) ORDER BY g.level_rank, g.code)
              FROM grids g
             WHERE ST_Intersects(g.geom, (SELECT geom FROM bench_points WHERE id = :i))),
  'stations', (SELECT json_agg(json_build_object('id', s.id, 'code', s.code, 'name', s.name, 'kind', s.kind,
                                                 'distance_m', round(s.d::numeric, 2), 'lon', ST_X(s.geom),
                                                 'lat', ST_Y(s.geom), 'address', s.address,
                                                 'contact', s.contact, 'hours', s.hours) ORDER BY s.d)
                 FROM (SELECT st.*, ST_Distance(st.geom::geography, p.geom::geography) AS d
                         FROM bench_points p
                        CROSS JOIN LATERAL (SELECT * FROM stations ORDER BY stations.geom <-> p.geom LIMIT 3) st
                        WHERE p.id = :i) s));
SQL
}

# --------------------------------------------------------------------------- gridd and nginx
GRIDD_PID="" GRIDD_PORT=""
start_gridd() {  # store, log, extra args...
  local store=$1 logf=$2
  shift 2
  "$GRIDD" serve --store "$store" --listen 127.0.0.1:0 --threads "$GRIDD_THREADS" "$@" >"$logf" 2>&1 &
  GRIDD_PID=$!
  PIDS+=("$GRIDD_PID")
  for _ in $(seq 1200); do
    GRIDD_PORT=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$logf" | head -1)
    [[ -n $GRIDD_PORT ]] && return 0
    kill -0 "$GRIDD_PID" 2>/dev/null || { cat "$logf" >&2; die "gridd exited"; }
    sleep 0.25
  done
  die "gridd did not start"
}
stop_gridd() { stop_pid "$GRIDD_PID"; forget_pid "$GRIDD_PID"; GRIDD_PID=""; }

NGINX_PID="" NGINX_PORT=""
start_nginx() {  # root dir holding locate.json
  local root=$1 dir=$TMP/nginx
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
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi; $extra_temp
  types { }
  default_type application/json;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $root;
    location = /locate { try_files /locate.json =404; }
  }
}
EOF
  "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/locate" 2>/dev/null && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$dir/error.log" >&2; die "nginx exited"; }
    sleep 0.1
  done
  die "nginx did not start"
}
stop_nginx() { stop_pid "$NGINX_PID"; forget_pid "$NGINX_PID"; NGINX_PID=""; }

write_wrk_script() {  # lua file, points csv
  cat >"$1" <<EOF
-- random points from a fixed list (each wrk thread has its own seed)
local paths = {}
for line in io.lines("$2") do
  local lon, lat = line:match("^%s*([^,]+),([^,%s]+)")
  if lon then paths[#paths + 1] = "/locate?lon=" .. lon .. "&lat=" .. lat .. "&k=3" end
end
local n = #paths
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  math.randomseed(1234 + (tid or 0))
end
function request()
  return wrk.format("GET", paths[math.random(n)])
end
EOF
}

# CPU time (user + system, including reaped children) of a process and its direct children,
# in clock ticks: gridd (one process), nginx (master + workers), PostgreSQL (postmaster + backends).
tree_ticks() {
  local total=0 pid t
  for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

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

# pgbench -> "tps transactions"
run_pgbench() {
  local db=$1 script=$2 secs=$3 npoints=$4 out
  out=$(PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres "$PGBENCH" -n -M prepared -c "$CONNECTIONS" -j "$THREADS" \
        -T "$secs" -D npoints="$npoints" -f "$script" "$db" 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
  echo "$out" >>"$TMP/pgbench.log"
  echo "$(awk '/^tps = / {print $3; exit}' <<<"$out") $(awk '/actually processed:/ {print $NF; exit}' <<<"$out")"
}

# µs of server CPU per request: ticks before, ticks after, requests
cpu_us() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f\n", (n > 0 ? (b - a) / hz * 1e6 / n : 0) }'; }

median() { tr ' ' '\n' | { grep -v '^$' || true; } | sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# --------------------------------------------------------------------------- one city
SUMMARY=()
bench_city() {
  local city=$1 dir=$TMP/$1
  mkdir -p "$dir/www"
  chmod 755 "$dir" "$dir/www"
  local store=$dir/store.gpkg
  log "[$city] preparing the data"
  case $city in
    demo)
      [[ -f $REPO/geodata/renchen/demo.json ]] || die "no demo city at $REPO/geodata/renchen/demo.json"
      start_gridd "$store" "$dir/gridd-load.log" --demo --geodata "$REPO/geodata"
      stop_gridd
      ;;
    synthetic)
      "$CITY_TOOL" --size "$SYNTH_SIZE" --points "$NPOINTS" --out "$dir/src" >&2
      "$GRIDD" import grids "$dir/src/grids.geojson" --store "$store" >&2
      "$GRIDD" import stations "$dir/src/stations.geojson" --store "$store" >&2
      ;;
    *) die "unknown city '$city' (demo or synthetic)" ;;
  esac
  # PostGIS gets exactly what gridd stores (WGS84, after any GCJ-02 conversion).
  "$GRIDD" export grids --store "$store" -o "$dir/export_grids.geojson" >&2
  "$GRIDD" export stations --store "$store" -o "$dir/export_stations.geojson" >&2
  local db="bench_$city"
  log "[$city] loading PostGIS"
  load_postgis "$db" "$dir"
  local counts
  counts=$(psql_db "$db" -At -c "SELECT (SELECT count(*) FROM grids) || ' grids (' ||
            (SELECT count(*) FROM grids WHERE level_rank = (SELECT max(level_rank) FROM grids)) || ' finest), ' ||
            (SELECT count(*) FROM stations) || ' stations'")
  # Query points: the synthetic generator's own (uniform over the city), or for the demo city
  # random points inside the coarsest-level polygons (the district), fixed seed.
  if [[ $city == synthetic ]]; then
    cp "$dir/src/points.csv" "$dir/points.csv"
  else
    psql_db "$db" -At -c "COPY (SELECT round(ST_X(geom)::numeric, 7), round(ST_Y(geom)::numeric, 7)
        FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), $NPOINTS, 42))).geom FROM grids
               WHERE level_rank = (SELECT min(level_rank) FROM grids)) p) TO STDOUT WITH (FORMAT csv)" >"$dir/points.csv"
  fi
  local npoints
  npoints=$(wc -l <"$dir/points.csv")
  load_points_pg "$db" "$dir/points.csv"
  write_pgbench_script "$dir/query.sql"
  write_wrk_script "$dir/locate.lua" "$dir/points.csv"
  log "[$city] $counts, $npoints query points"

  start_gridd "$store" "$dir/gridd.log"
  log "[$city] gridd pid $GRIDD_PID on 127.0.0.1:$GRIDD_PORT: $(tail -1 "$dir/gridd.log")"

  # A typical answer: the median-sized body of the first 200 points becomes nginx's file.
  local i=0 lon lat sizes=() agree=0 compared=0
  mkdir -p "$dir/samples"
  while IFS=, read -r lon lat && ((i < 200)); do
    i=$((i + 1))
    curl -fsS -o "$dir/samples/$i.json" "http://127.0.0.1:$GRIDD_PORT/locate?lon=$lon&lat=$lat&k=3" ||
      die "GET /locate failed for $lon,$lat"
    sizes+=("$(stat -c %s "$dir/samples/$i.json") $i")
    # cross-check the finest containing grid with PostGIS for the first 50 points
    if ((i <= 50)) && command -v jq >/dev/null; then
      local a b
      a=$(jq -r 'if .covered then .owner.code else "-" end' "$dir/samples/$i.json")
      b=$(psql_db "$db" -At </dev/null -c "SELECT coalesce((SELECT code FROM grids WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint($lon, $lat), 4326))
                ORDER BY level_rank DESC, code LIMIT 1), '-')")
      compared=$((compared + 1))
      [[ $a == "$b" ]] && agree=$((agree + 1))
    fi
  done <"$dir/points.csv"
  local median_line
  median_line=$(printf '%s\n' "${sizes[@]}" | sort -n | sed -n "$(((${#sizes[@]} + 1) / 2))p")
  cp "$dir/samples/${median_line#* }.json" "$dir/www/locate.json"
  chmod 644 "$dir/www/locate.json"
  local body_bytes=${median_line%% *}
  log "[$city] median /locate body: $body_bytes bytes (nginx serves a copy); finest grid agrees with PostGIS for $agree/$compared points"
  start_nginx "$dir/www"
  log "[$city] nginx pid $NGINX_PID on 127.0.0.1:$NGINX_PORT"
  psql_db "$db" -c "PREPARE q(int) AS $(sed -e '1d' -e 's/:i/$1/g' "$dir/query.sql" | tr -d ';')" \
    -c "EXPLAIN (COSTS OFF) EXECUTE q(1)" >"$dir/explain.txt" 2>&1 || true

  local pg_pid
  pg_pid=$(head -1 "$PG_DATA/postmaster.pid")
  local r gr=() nr=() pr=() gc=() nc=() pc=() line glat="" nlat="" t0 t1 rps p50 p99 bad n
  for ((r = 1; r <= ROUNDS; r++)); do
    log "[$city] round $r/$ROUNDS: gridd"
    run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/locate.lua" "$WARMUP" >/dev/null
    t0=$(tree_ticks "$GRIDD_PID")
    line=$(run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/locate.lua" "$DURATION")
    t1=$(tree_ticks "$GRIDD_PID")
    read -r rps p50 p99 bad n <<<"$line"
    [[ $bad == 0 ]] || log "[$city] gridd: $bad non-2xx answers"
    gr+=("$rps"); gc+=("$(cpu_us "$t0" "$t1" "$n")"); glat="p50 $p50 p99 $p99"
    log "[$city]   gridd   $rps req/s, ${gc[-1]} µs server CPU per request ($glat)"
    log "[$city] round $r/$ROUNDS: nginx"
    run_wrk "http://127.0.0.1:$NGINX_PORT" "$dir/locate.lua" "$WARMUP" >/dev/null
    t0=$(tree_ticks "$NGINX_PID")
    line=$(run_wrk "http://127.0.0.1:$NGINX_PORT" "$dir/locate.lua" "$DURATION")
    t1=$(tree_ticks "$NGINX_PID")
    read -r rps p50 p99 bad n <<<"$line"
    nr+=("$rps"); nc+=("$(cpu_us "$t0" "$t1" "$n")"); nlat="p50 $p50 p99 $p99"
    log "[$city]   nginx   $rps req/s, ${nc[-1]} µs server CPU per request ($nlat)"
    log "[$city] round $r/$ROUNDS: PostGIS"
    run_pgbench "$db" "$dir/query.sql" "$WARMUP" "$npoints" >/dev/null
    sleep 0.5  # let the postmaster reap the warm-up backends
    t0=$(tree_ticks "$pg_pid")
    line=$(run_pgbench "$db" "$dir/query.sql" "$DURATION" "$npoints")
    sleep 0.5
    t1=$(tree_ticks "$pg_pid")
    read -r rps n <<<"$line"
    pr+=("$rps"); pc+=("$(cpu_us "$t0" "$t1" "$n")")
    log "[$city]   PostGIS $rps tps, ${pc[-1]} µs server CPU per query"
  done
  # Diagnostic: the same server on GET /healthz (a 60-byte answer, no locate): the cost of the
  # HTTP layer alone, which bounds what any /locate speed-up can reach.
  printf 'function request() return wrk.format("GET", "/healthz") end\n' >"$dir/healthz.lua"
  log "[$city] diagnostic: gridd GET /healthz (HTTP floor)"
  run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/healthz.lua" "$WARMUP" >/dev/null
  t0=$(tree_ticks "$GRIDD_PID")
  line=$(run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/healthz.lua" "$DURATION")
  t1=$(tree_ticks "$GRIDD_PID")
  local fr fu
  read -r fr p50 p99 bad n <<<"$line"
  fu=$(cpu_us "$t0" "$t1" "$n")
  log "[$city]   gridd /healthz $fr req/s, $fu µs server CPU per request"
  stop_nginx
  stop_gridd
  local g nn p gu nu pu
  g=$(echo "${gr[*]}" | median); nn=$(echo "${nr[*]}" | median); p=$(echo "${pr[*]}" | median)
  gu=$(echo "${gc[*]}" | median); nu=$(echo "${nc[*]}" | median); pu=$(echo "${pc[*]}" | median)
  SUMMARY+=("$(awk -v c="$city ($counts)" -v g="$g" -v n="$nn" -v p="$p" -v gu="$gu" -v nu="$nu" -v pu="$pu" \
    -v fr="$fr" -v fu="$fu" -v b="$body_bytes" -v gl="$glat" -v nl="$nlat" -v ga="${gr[*]}" -v na="${nr[*]}" -v pa="${pr[*]}" 'BEGIN {
      printf "city: %s; /locate body %d bytes\n", c, b
      printf "  %-22s %10s %16s   %s\n", "", "req/s", "server CPU/req", "rounds (req/s)"
      printf "  %-22s %10.0f %13.1f µs   %s (last %s)\n", "gridd GET /locate", g, gu, ga, gl
      printf "  %-22s %10.0f %13.1f µs   %s (last %s)\n", "nginx static file", n, nu, na, nl
      printf "  %-22s %10.0f %13.1f µs   %s\n", "PostGIS (pgbench)", p, pu, pa
      printf "  %-22s %10.0f %13.1f µs   (diagnostic: HTTP layer alone, one run)\n", "gridd GET /healthz", fr, fu
      printf "  gridd/nginx   = %5.2f by rate, %5.2f by server CPU   (target >= 0.75: %s)\n", g / n, (gu > 0 ? nu / gu : 0), (g / n >= 0.75 ? "met" : "NOT met")
      printf "  gridd/PostGIS = %5.1f by rate, %5.1f by server CPU   (target >= 10: %s)\n", g / p, (gu > 0 ? pu / gu : 0), (g / p >= 10 ? "met" : "NOT met")
    }')")
}

# --------------------------------------------------------------------------- main
ensure_packages
ensure_build
TMP=$(mktemp -d /tmp/gridd-http-bench.XXXXXX)
chmod 755 "$TMP"
trap cleanup EXIT
trap 'exit 130' INT TERM
log "temp dir $TMP; cities: $CITIES; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; pgbench -c$CONNECTIONS -j$THREADS -T$DURATION; rounds $ROUNDS"
start_postgres
for city in $CITIES; do bench_city "$city"; done

{
  echo "== gridd HTTP benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "   gridd $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty'), $("$NGINX" -v 2>&1 | sed 's/.*: //'), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') + PostGIS $(psql_db postgres -At -c "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'")"
  printf '%s\n' "${SUMMARY[@]}"
} | tee -a "${RESULTS:-/dev/null}"
