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
# It also prints the load generator's CPU time per request (user + system of wrk or pgbench over
# its measured run), to show how much of the machine the client itself takes.
#
# Two modes, each measured and summarised separately (MODES):
#   pinned  the servers (gridd, nginx's master and workers, the postmaster and its backends) run on
#           SERVER_CPUS and the load generators on CLIENT_CPUS (taskset); gridd gets one worker
#           thread per server CPU, nginx one worker per server CPU, wrk and pgbench one thread per
#           client CPU. The standard way to benchmark a server: the load generator, which costs
#           about as much CPU per request as the servers here, has its own core(s) instead of
#           competing with the server under test, so the rate measures the server.
#   shared  servers and clients share all CPUs (gridd --threads $GRIDD_THREADS, nginx
#           worker_processes auto, wrk -t$THREADS, pgbench -j$THREADS): the rate ratios are
#           compressed by the client's share of the CPU.
#
# Usage: bench/http_bench.sh            (from anywhere; root installs missing Debian packages)
#        MODES=pinned CITIES=demo DURATION=5 bench/http_bench.sh
# Environment (defaults in brackets):
#   CITIES       demo, synthetic, or "demo synthetic" [demo if geodata/renchen/demo.json exists, then synthetic]
#   SYNTH_SIZE   synthetic city: 20k, 1m or COLSxROWS [20k]
#   MODES        pinned and/or shared, measured in the order given ["pinned shared"; "shared" on fewer than 2 CPUs]
#   SERVER_CPUS  pinned mode: CPUs of the servers, taskset list syntax [the first half of the CPUs, at least one]
#   CLIENT_CPUS  pinned mode: CPUs of wrk and pgbench [the other CPUs]
#   DURATION     seconds per measured run [10]    WARMUP  seconds of warm-up per target [2]
#   CONNECTIONS  [32] (both modes)   THREADS  wrk threads and pgbench jobs in shared mode [2]
#   ROUNDS       rounds per city and mode, median reported [1]
#   NPOINTS      random query points [10000]      GRIDD_THREADS  gridd --threads in shared mode [0 = one per core]
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

# --------------------------------------------------------------------------- CPUs and modes
# "0-2,5,8-12:2" -> "0 1 2 5 8 10 12"
expand_cpus() {
  local parts part a b step c out=()
  IFS=, read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    [[ $part =~ ^[[:space:]]*([0-9]+)(-([0-9]+)(:([0-9]+))?)?[[:space:]]*$ ]] || die "bad CPU list '$1'"
    a=${BASH_REMATCH[1]} b=${BASH_REMATCH[3]:-${BASH_REMATCH[1]}} step=${BASH_REMATCH[5]:-1}
    ((step > 0)) || die "bad CPU list '$1'"
    for ((c = a; c <= b; c += step)); do out+=("$c"); done
  done
  echo "${out[*]}"
}
count_cpus() { local ids; read -ra ids <<<"$(expand_cpus "$1")"; echo "${#ids[@]}"; }
cpu_label() { if (($(count_cpus "$1") == 1)); then echo "CPU $1"; else echo "CPUs $1"; fi; }

# All the CPUs this script may use (its own affinity; normally 0-(nproc-1)).
ALL_CPUS=$(taskset -pc $$ 2>/dev/null | sed -n 's/.*list: *//p')
[[ -n $ALL_CPUS ]] || ALL_CPUS="0-$(($(nproc) - 1))"
read -ra ALL_CPU_IDS <<<"$(expand_cpus "$ALL_CPUS")"
NCPUS=${#ALL_CPU_IDS[@]}
if [[ -z ${MODES:-} ]]; then
  if ((NCPUS >= 2)); then MODES="pinned shared"; else MODES="shared"; fi
fi
half=$((NCPUS / 2 > 0 ? NCPUS / 2 : 1))
SERVER_CPUS=${SERVER_CPUS:-$(IFS=,; echo "${ALL_CPU_IDS[*]:0:half}")}
CLIENT_CPUS=${CLIENT_CPUS:-$(IFS=,; echo "${ALL_CPU_IDS[*]:half}")}
unset half

# use_mode pinned|shared: the wrappers and thread counts of the servers and the clients.
MODE="" MODE_DESC="" GRIDD_T="" NGINX_WORKERS="" CLIENT_T=""
SRV_WRAP=() CLI_WRAP=()
use_mode() {
  MODE=$1
  case $1 in
    pinned)
      local ns nc
      ns=$(count_cpus "$SERVER_CPUS") nc=$(count_cpus "$CLIENT_CPUS")
      SRV_WRAP=(taskset -c "$SERVER_CPUS") CLI_WRAP=(taskset -c "$CLIENT_CPUS")
      GRIDD_T=$ns NGINX_WORKERS=$ns CLIENT_T=$nc
      MODE_DESC="pinned (servers on $(cpu_label "$SERVER_CPUS"), clients on $(cpu_label "$CLIENT_CPUS"))"
      ;;
    shared)
      SRV_WRAP=() CLI_WRAP=()
      GRIDD_T=$GRIDD_THREADS NGINX_WORKERS=auto CLIENT_T=$THREADS
      MODE_DESC="shared (servers and clients on all CPUs)"
      ;;
    *) die "unknown mode '$1' (pinned or shared)" ;;
  esac
}

check_modes() {
  local m
  for m in $MODES; do
    case $m in
      shared) ;;
      pinned)
        [[ -n $SERVER_CPUS && -n $CLIENT_CPUS ]] ||
          die "pinned mode needs at least 2 CPUs (SERVER_CPUS='$SERVER_CPUS', CLIENT_CPUS='$CLIENT_CPUS'); use MODES=shared"
        taskset -c "$SERVER_CPUS" true 2>/dev/null || die "SERVER_CPUS='$SERVER_CPUS' is not usable here (CPUs $ALL_CPUS)"
        taskset -c "$CLIENT_CPUS" true 2>/dev/null || die "CLIENT_CPUS='$CLIENT_CPUS' is not usable here (CPUs $ALL_CPUS)"
        local s c
        for s in $(expand_cpus "$SERVER_CPUS"); do
          for c in $(expand_cpus "$CLIENT_CPUS"); do
            [[ $s != "$c" ]] || log "warning: CPU $s is both a server and a client CPU"
          done
        done
        ;;
      *) die "unknown mode '$m' in MODES (pinned or shared)" ;;
    esac
  done
}

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
        -c shared_buffers=256MB -c work_mem=16MB -c jit=off -c shared_preload_libraries=postgis-3 -c fsync=off -c synchronous_commit=off \
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
  # In pinned mode taskset execs gridd, so $! is gridd's own pid (never wrap this in a subshell).
  "${SRV_WRAP[@]}" "$GRIDD" serve --store "$store" --listen 127.0.0.1:0 --threads "$GRIDD_T" "$@" >"$logf" 2>&1 &
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
start_nginx() {  # root dir holding locate.json (config for the current mode)
  local root=$1 dir=$TMP/nginx conf=$TMP/nginx/nginx-$MODE.conf
  NGINX_PORT=$(free_port)
  mkdir -p "$dir"
  local user_line="" extra_temp=""
  if [[ $(id -u) -eq 0 ]]; then
    if id www-data >/dev/null 2>&1; then user_line="user www-data;"; else user_line="user nobody;"; fi
  fi
  "$NGINX" -V 2>&1 | grep -q -- --without-http_uwsgi_module || extra_temp+="uwsgi_temp_path $dir/uwsgi; "
  "$NGINX" -V 2>&1 | grep -q -- --without-http_scgi_module || extra_temp+="scgi_temp_path $dir/scgi; "
  cat >"$conf" <<EOF
$user_line
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
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
  # The workers inherit the master's affinity; taskset execs nginx, so $! is the master's pid.
  "${SRV_WRAP[@]}" "$NGINX" -p "$dir" -e "$dir/error.log" -c "$conf" &
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
local reqs, n = {}, 0
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
-- the requests are formatted once per thread, here and not at load time (wrk.headers only has
-- its Host header when init runs)
function init(args)
  math.randomseed(1234 + (tid or 0))
  for i, p in ipairs(paths) do reqs[i] = wrk.format("GET", p) end
  n = #reqs
end
function request()
  return reqs[math.random(n)]
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

# user + system CPU seconds of a client, from bash's `time` (file holding "%3U %3S")
client_secs() { tr , . <"$1" | awk 'NF >= 2 {s = $(NF - 1) + $NF} END {printf "%.3f\n", s + 0}'; }

# wrk (on the clients' CPUs in pinned mode) -> "rps p50 p99 non2xx requests client_cpu_seconds"
run_wrk() {
  local url=$1 lua=$2 secs=$3 out TIMEFORMAT='%3U %3S'
  { time "${CLI_WRAP[@]}" wrk -t"$CLIENT_T" -c"$CONNECTIONS" -d"${secs}s" --latency -s "$lua" "$url" \
      >"$TMP/wrk.out" 2>&1; } 2>"$TMP/wrk.time" || true
  out=$(<"$TMP/wrk.out")
  { echo "== [$MODE] wrk -t$CLIENT_T -c$CONNECTIONS -d${secs}s $url ($(basename "$lua"))"; echo "$out"; } >>"$TMP/wrk.log"
  local rps p50 p99 bad n
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  n=$(awk '/requests in/ {print $1; exit}' <<<"$out")
  [[ -n $rps ]] || { echo "$out" >&2; die "wrk failed"; }
  echo "$rps ${p50:-?} ${p99:-?} ${bad:-0} ${n:-0} $(client_secs "$TMP/wrk.time")"
}

# pgbench (on the clients' CPUs in pinned mode) -> "tps transactions client_cpu_seconds"
run_pgbench() {
  local db=$1 script=$2 secs=$3 npoints=$4 out rc=0 TIMEFORMAT='%3U %3S'
  { time PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres "${CLI_WRAP[@]}" "$PGBENCH" -n -M prepared \
      -c "$CONNECTIONS" -j "$CLIENT_T" -T "$secs" -D npoints="$npoints" -f "$script" "$db" \
      >"$TMP/pgbench.out" 2>&1; } 2>"$TMP/pgbench.time" || rc=$?
  out=$(<"$TMP/pgbench.out")
  ((rc == 0)) || { echo "$out" >&2; die "pgbench failed"; }
  { echo "== [$MODE] pgbench -c$CONNECTIONS -j$CLIENT_T -T$secs"; echo "$out"; } >>"$TMP/pgbench.log"
  echo "$(awk '/^tps = / {print $3; exit}' <<<"$out") $(awk '/actually processed:/ {print $NF; exit}' <<<"$out") $(client_secs "$TMP/pgbench.time")"
}

# Set the CPU affinity of the postmaster and all its current processes (new backends fork from
# the postmaster and inherit it).
pg_affinity() {
  local cpus=$1 pg_pid p
  pg_pid=$(head -1 "$PG_DATA/postmaster.pid")
  taskset -a -p -c "$cpus" "$pg_pid" >/dev/null || die "cannot set the CPU affinity of PostgreSQL"
  for p in $(ps -o pid= --ppid "$pg_pid" 2>/dev/null); do
    taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1 || true   # a backend may just have exited
  done
}
affinity_of() { sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null || echo "?"; }

# µs of server CPU per request: ticks before, ticks after, requests
cpu_us() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f\n", (n > 0 ? (b - a) / hz * 1e6 / n : 0) }'; }
# µs of client CPU per request: seconds, requests
client_us() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.1f\n", (n > 0 ? s * 1e6 / n : 0) }'; }

median() { tr ' ' '\n' | { grep -v '^$' || true; } | sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# --------------------------------------------------------------------------- one city
SUMMARY=()
bench_city() {
  local city=$1 dir=$TMP/$1
  mkdir -p "$dir/www"
  chmod 755 "$dir" "$dir/www"
  local store=$dir/store.gpkg
  use_mode shared  # loading is not measured
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

  # shellcheck disable=SC2016  # $1 is PREPARE's parameter, not a shell expansion
  psql_db "$db" -c "PREPARE q(int) AS $(sed -e '1d' -e 's/:i/$1/g' "$dir/query.sql" | tr -d ';')" \
    -c "EXPLAIN (COSTS OFF) EXECUTE q(1)" >"$dir/explain.txt" 2>&1 || true
  printf 'local req\nfunction init(args) req = wrk.format("GET", "/healthz") end\nfunction request() return req end\n' \
    >"$dir/healthz.lua"

  local mode
  BODY_BYTES=""
  for mode in $MODES; do
    use_mode "$mode"
    log "[$city] mode $MODE_DESC"
    # gridd and nginx are (re)started per mode, with the mode's threads and affinity.
    start_gridd "$store" "$dir/gridd-$mode.log"
    log "[$city] gridd --threads $GRIDD_T pid $GRIDD_PID (CPUs $(affinity_of "$GRIDD_PID")) on 127.0.0.1:$GRIDD_PORT: $(tail -1 "$dir/gridd-$mode.log")"
    [[ -n $BODY_BYTES ]] || sample_answers "$city" "$dir" "$db"
    start_nginx "$dir/www"
    log "[$city] nginx worker_processes $NGINX_WORKERS, master pid $NGINX_PID (CPUs $(affinity_of "$NGINX_PID")) on 127.0.0.1:$NGINX_PORT"
    if [[ $mode == pinned ]]; then pg_affinity "$SERVER_CPUS"; else pg_affinity "$ALL_CPUS"; fi
    log "[$city] PostgreSQL postmaster pid $(head -1 "$PG_DATA/postmaster.pid") (CPUs $(affinity_of "$(head -1 "$PG_DATA/postmaster.pid")"))"
    bench_mode "$city" "$dir" "$db" "$npoints" "$counts" "$BODY_BYTES"
    stop_nginx
    stop_gridd
  done
  pg_affinity "$ALL_CPUS"
}

# A typical answer: the median-sized body of the first 200 points becomes nginx's file
# (gridd must be running); its size in bytes goes to BODY_BYTES.
BODY_BYTES=""
sample_answers() {
  local city=$1 dir=$2 db=$3
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
  BODY_BYTES=${median_line%% *}
  log "[$city] median /locate body: $BODY_BYTES bytes (nginx serves a copy); finest grid agrees with PostGIS for $agree/$compared points"
}

# The rounds of one city in the current mode (gridd, nginx and PostgreSQL running), then its
# summary block.
bench_mode() {
  local city=$1 dir=$2 db=$3 npoints=$4 counts=$5 body_bytes=$6 tag="[$1/$MODE]"
  local pg_pid
  pg_pid=$(head -1 "$PG_DATA/postmaster.pid")
  local r gr=() nr=() pr=() gc=() nc=() pc=() gk=() nk=() pk=() line glat="" nlat="" t0 t1 rps p50 p99 bad n cs
  local badnote=""  # non-2xx answers in measured runs (none expected)
  for ((r = 1; r <= ROUNDS; r++)); do
    log "$tag round $r/$ROUNDS: gridd"
    run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/locate.lua" "$WARMUP" >/dev/null
    t0=$(tree_ticks "$GRIDD_PID")
    line=$(run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/locate.lua" "$DURATION")
    t1=$(tree_ticks "$GRIDD_PID")
    read -r rps p50 p99 bad n cs <<<"$line"
    [[ $bad == 0 ]] || { log "$tag gridd: $bad non-2xx answers"; badnote+=" gridd /locate $bad;"; }
    gr+=("$rps"); gc+=("$(cpu_us "$t0" "$t1" "$n")"); gk+=("$(client_us "$cs" "$n")"); glat="p50 $p50 p99 $p99"
    log "$tag   gridd   $rps req/s, ${gc[-1]} µs server CPU, ${gk[-1]} µs wrk CPU per request ($glat)"
    log "$tag round $r/$ROUNDS: nginx"
    run_wrk "http://127.0.0.1:$NGINX_PORT" "$dir/locate.lua" "$WARMUP" >/dev/null
    t0=$(tree_ticks "$NGINX_PID")
    line=$(run_wrk "http://127.0.0.1:$NGINX_PORT" "$dir/locate.lua" "$DURATION")
    t1=$(tree_ticks "$NGINX_PID")
    read -r rps p50 p99 bad n cs <<<"$line"
    [[ $bad == 0 ]] || { log "$tag nginx: $bad non-2xx answers"; badnote+=" nginx $bad;"; }
    nr+=("$rps"); nc+=("$(cpu_us "$t0" "$t1" "$n")"); nk+=("$(client_us "$cs" "$n")"); nlat="p50 $p50 p99 $p99"
    log "$tag   nginx   $rps req/s, ${nc[-1]} µs server CPU, ${nk[-1]} µs wrk CPU per request ($nlat)"
    log "$tag round $r/$ROUNDS: PostGIS"
    run_pgbench "$db" "$dir/query.sql" "$WARMUP" "$npoints" >/dev/null
    sleep 0.5  # let the postmaster reap the warm-up backends
    t0=$(tree_ticks "$pg_pid")
    line=$(run_pgbench "$db" "$dir/query.sql" "$DURATION" "$npoints")
    sleep 0.5
    t1=$(tree_ticks "$pg_pid")
    read -r rps n cs <<<"$line"
    pr+=("$rps"); pc+=("$(cpu_us "$t0" "$t1" "$n")"); pk+=("$(client_us "$cs" "$n")")
    log "$tag   PostGIS $rps tps, ${pc[-1]} µs server CPU, ${pk[-1]} µs pgbench CPU per query"
  done
  # Diagnostic: the same server on GET /healthz (a 60-byte answer, no locate): the cost of the
  # HTTP layer alone, which bounds what any /locate speed-up can reach.
  log "$tag diagnostic: gridd GET /healthz (HTTP floor)"
  run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/healthz.lua" "$WARMUP" >/dev/null
  t0=$(tree_ticks "$GRIDD_PID")
  line=$(run_wrk "http://127.0.0.1:$GRIDD_PORT" "$dir/healthz.lua" "$DURATION")
  t1=$(tree_ticks "$GRIDD_PID")
  local fr fu fk
  read -r fr p50 p99 bad n cs <<<"$line"
  [[ $bad == 0 ]] || { log "$tag gridd /healthz: $bad non-2xx answers"; badnote+=" gridd /healthz $bad;"; }
  fu=$(cpu_us "$t0" "$t1" "$n"); fk=$(client_us "$cs" "$n")
  log "$tag   gridd /healthz $fr req/s, $fu µs server CPU, $fk µs wrk CPU per request"
  local g nn p gu nu pu gku nku pku setup
  g=$(echo "${gr[*]}" | median); nn=$(echo "${nr[*]}" | median); p=$(echo "${pr[*]}" | median)
  gu=$(echo "${gc[*]}" | median); nu=$(echo "${nc[*]}" | median); pu=$(echo "${pc[*]}" | median)
  gku=$(echo "${gk[*]}" | median); nku=$(echo "${nk[*]}" | median); pku=$(echo "${pk[*]}" | median)
  setup="gridd --threads $GRIDD_T, nginx worker_processes $NGINX_WORKERS; wrk -t$CLIENT_T -c$CONNECTIONS, pgbench -j$CLIENT_T -c$CONNECTIONS"
  SUMMARY+=("$(awk -v c="$city ($counts)" -v m="$MODE_DESC" -v su="$setup" -v g="$g" -v n="$nn" -v p="$p" \
    -v gu="$gu" -v nu="$nu" -v pu="$pu" -v gk="$gku" -v nk="$nku" -v pk="$pku" -v fr="$fr" -v fu="$fu" -v fk="$fk" \
    -v b="$body_bytes" -v gl="$glat" -v nl="$nlat" -v ga="${gr[*]}" -v na="${nr[*]}" -v pa="${pr[*]}" -v bad="$badnote" 'BEGIN {
      printf "city: %s; /locate body %d bytes; mode: %s\n", c, b, m
      printf "  %s\n", su
      printf "  %-22s %10s %16s %16s   %s\n", "", "req/s", "server CPU/req", "client CPU/req", "rounds (req/s)"
      printf "  %-22s %10.0f %13.1f µs %13.1f µs   %s (last %s)\n", "gridd GET /locate", g, gu, gk, ga, gl
      printf "  %-22s %10.0f %13.1f µs %13.1f µs   %s (last %s)\n", "nginx static file", n, nu, nk, na, nl
      printf "  %-22s %10.0f %13.1f µs %13.1f µs   %s\n", "PostGIS (pgbench)", p, pu, pk, pa
      printf "  %-22s %10.0f %13.1f µs %13.1f µs   (diagnostic: HTTP layer alone, one run)\n", "gridd GET /healthz", fr, fu, fk
      printf "  gridd/nginx   = %5.2f by rate, %5.2f by server CPU   (target >= 0.75: %s)\n", g / n, (gu > 0 ? nu / gu : 0), (g / n >= 0.75 ? "met" : "NOT met")
      printf "  gridd/PostGIS = %5.1f by rate, %5.1f by server CPU   (target >= 10: %s)\n", g / p, (gu > 0 ? pu / gu : 0), (g / p >= 10 ? "met" : "NOT met")
      if (bad != "") printf "  WARNING: non-2xx answers in measured runs (rates not comparable):%s\n", bad
    }')")
}

# --------------------------------------------------------------------------- main
check_modes
ensure_packages
ensure_build
TMP=$(mktemp -d /tmp/gridd-http-bench.XXXXXX)
chmod 755 "$TMP"
trap cleanup EXIT
trap 'exit 130' INT TERM
log "temp dir $TMP; cities: $CITIES; modes: $MODES (pinned: servers on $(cpu_label "$SERVER_CPUS"), clients on $(cpu_label "$CLIENT_CPUS")); -c$CONNECTIONS -d${DURATION}s; rounds $ROUNDS"
start_postgres
for city in $CITIES; do bench_city "$city"; done

{
  echo "== gridd HTTP benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $NCPUS cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "   gridd $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty'), $("$NGINX" -v 2>&1 | sed 's/.*: //'), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') + PostGIS $(psql_db postgres -At -c "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'")"
  printf '%s\n' "${SUMMARY[@]}"
} | tee -a "${RESULTS:-/dev/null}"
