#!/usr/bin/env bash
# bench/incident_http_bench.sh: incidents over HTTP on this machine, against PostgreSQL 15 + PostGIS 3
# storing the same rows, both durable (gridd: SQLite WAL + synchronous=FULL; PostgreSQL: fsync=on,
# synchronous_commit=on, full_page_writes=on, i.e. the defaults).
#
#  1. Durable intake, each request its own committed transaction:
#       gridd   wrk POST /incidents {category, lon, lat, description} (random positions inside the
#               demo city; gridd routes each one to its grid and worker and records its first event)
#       PostGIS pgbench: one statement inserting the same columns into `incidents` (GiST on geom,
#               the same 11 B-tree indexes as gridd) plus the first event into `incident_events`,
#               with the routing (grid ids, code, name, worker) precomputed per position
#     and the batch form: {"items": [BATCH incidents]} per request / one INSERT ... SELECT of BATCH rows
#     (+ BATCH events) per transaction. At each of INTAKE_CONNECTIONS (wrk -c = pgbench -c).
#  2. Listing over LIST_INCIDENTS stored incidents (default 1,000,000): gridd is topped up by POSTing
#     batches of LOAD_BATCH (or takes a copy of STORE_1M), then PostgreSQL receives exactly the rows
#     gridd holds (ogr2ogr from the GeoPackage with COPY, ids preserved; indexes built after the load).
#       gridd   GET /incidents?bbox=<random BBOX_M square inside the city>&limit=100
#               GET /incidents?grid=<random community code>&limit=100
#       PostGIS the same newest-first pages as GeoJSON (ST_AsGeoJSON(row) aggregated):
#               ... WHERE geom && ST_MakeEnvelope(...) ORDER BY id DESC LIMIT 100
#               ... WHERE chain_community = :c ORDER BY id DESC LIMIT 100
#     A cross-check compares the ids of 20 pages of each kind between the two. The community pages
#     are measured once more on PostGIS with an extra index on (chain_community, id): SQLite's index
#     carries the rowid and reads a community newest first; PostgreSQL's needs the second column.
# Reports rates, median and p99 latency (wrk: its latency histogram via the Lua done() hook; pgbench:
# every transaction's latency from --log), server CPU per request (from /proc, like http_bench.sh)
# and the ratios gridd / PostGIS.
#
# Usage: bench/incident_http_bench.sh            (from anywhere; root installs missing Debian packages)
# Environment (defaults in brackets):
#   DURATION [10] seconds per measured run       WARMUP [2] seconds of warm-up before each
#   CONNECTIONS [32]  THREADS [2] wrk -t and pgbench -j (at most the connections)
#   INTAKE_CONNECTIONS ["1 32"], LIST_CONNECTIONS ["1 32"]: one run per value (wrk -c = pgbench -c)
#   BATCH [100] incidents per batch request
#   LIST_INCIDENTS [1000000] incidents stored for the listings  LOAD_BATCH [1000] incidents per load POST
#   BBOX_M [1000] side of the listing bbox in metres             NPOINTS [100000] random positions
#   PHASES ["intake list"] which parts to run (e.g. PHASES=list STORE_1M=... for the listings alone)
#   STORE_1M   a GeoPackage of the demo city already holding >= LIST_INCIDENTS incidents, copied instead
#              of POSTing them [BUILD_DIR/bench/gridd_incident_bench_demo_<LIST_INCIDENTS>.gpkg when it
#              exists: the listing store of `GRIDD_BENCH_INCIDENTS=<LIST_INCIDENTS> gridd_incident_bench`;
#              STORE_1M=none always loads through HTTP]
#   GRIDD_THREADS [0 = one per core]   BUILD_DIR [<repo>/build-bench]   GRIDD [BUILD_DIR/gridd]
#   GRIDD_REV  the revision the gridd binary was built from, for the summary [git HEAD of the repo]
#   GEODATA [<repo>/geodata] the demo city and categories.json
#   KEEP=1 keep the temporary directory   RESULTS file to append the summary to   TMPDIR_BASE [/tmp]
# Everything binds 127.0.0.1 (PostgreSQL also a socket in the temp dir) and is stopped by PID on exit.
# The temp dir must be on a real disk (not tmpfs): durable commits are what is measured.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO/build-bench}
GRIDD=${GRIDD:-$BUILD_DIR/gridd}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
INTAKE_CONNECTIONS=${INTAKE_CONNECTIONS:-"1 $CONNECTIONS"}
LIST_CONNECTIONS=${LIST_CONNECTIONS:-"1 $CONNECTIONS"}
BATCH=${BATCH:-100}
LIST_INCIDENTS=${LIST_INCIDENTS:-1000000}
LOAD_BATCH=${LOAD_BATCH:-1000}
BBOX_M=${BBOX_M:-1000}
NPOINTS=${NPOINTS:-100000}
STORE_1M=${STORE_1M:-$BUILD_DIR/bench/gridd_incident_bench_demo_$LIST_INCIDENTS.gpkg}
[[ $STORE_1M == none || -f $STORE_1M ]] || STORE_1M=none
PHASES=${PHASES:-"intake list"}
GRIDD_THREADS=${GRIDD_THREADS:-0}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-}
TMPDIR_BASE=${TMPDIR_BASE:-/tmp}
GEODATA=${GEODATA:-$REPO/geodata}

log() { printf '[incident_http_bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --------------------------------------------------------------------------- packages (as http_bench.sh)
ensure_packages() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v curl >/dev/null || missing+=(curl)
  command -v jq >/dev/null || missing+=(jq)
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
  if [[ ${REBUILD:-0} == 1 || ! -x $GRIDD ]]; then
    log "building gridd (Release) in $BUILD_DIR"
    [[ -f $BUILD_DIR/build.ninja ]] ||
      cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRIDD_BUILD_TESTS=OFF >/dev/null
    ninja -C "$BUILD_DIR" -j1 gridd >/dev/null
  fi
}

PGBENCH=$PG_BIN/pgbench
[[ -x $PGBENCH ]] || PGBENCH=pgbench

# --------------------------------------------------------------------------- processes (as http_bench.sh)
TMP=""
PIDS=()          # gridd, stopped on exit
PG_DATA=""
cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]]; then
    local pg_pid
    pg_pid=$(head -1 "$PG_DATA/postmaster.pid")
    kill -INT "$pg_pid" 2>/dev/null   # fast shutdown
    for _ in $(seq 100); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pg_pid" 2>/dev/null
  fi
  if [[ -n $TMP && $KEEP != 1 ]]; then rm -rf "$TMP"; elif [[ -n $TMP ]]; then log "kept $TMP"; fi
  exit $rc
}
stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.1; done
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

# --------------------------------------------------------------------------- PostgreSQL (durable)
PG_PORT=""
start_postgres() {
  PG_PORT=$(free_port)
  mkdir -p "$TMP/pg"
  PG_DATA=$TMP/pg/data
  [[ $(id -u) -eq 0 ]] && chown postgres: "$TMP/pg"
  as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-locale >"$TMP/pg/initdb.log" 2>&1 ||
    { cat "$TMP/pg/initdb.log" >&2; die "initdb failed"; }
  # Durability as shipped: fsync, synchronous_commit and full_page_writes stay on (the defaults).
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$TMP/pg/server.log" -w -t 120 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$TMP/pg -c max_connections=100 \
        -c shared_buffers=256MB -c work_mem=16MB -c maintenance_work_mem=256MB -c jit=off \
        -c fsync=on -c synchronous_commit=on -c full_page_writes=on" start >/dev/null ||
    { cat "$TMP/pg/server.log" >&2; die "PostgreSQL did not start"; }
  log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (pid $(head -1 "$PG_DATA/postmaster.pid")), $(psql_db postgres -At -c "SELECT 'fsync=' || current_setting('fsync') || ' synchronous_commit=' || current_setting('synchronous_commit') || ' wal_sync_method=' || current_setting('wal_sync_method')")"
}
psql_db() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" "${@:2}"; }
DB=incidents_bench
pg() { psql_db "$DB" "$@"; }

# --------------------------------------------------------------------------- gridd
GRIDD_PID="" GRIDD_PORT="" GRIDD_URL=""
start_gridd() {  # store, log, extra args...
  local store=$1 logf=$2
  shift 2
  "$GRIDD" serve --store "$store" --listen 127.0.0.1:0 --threads "$GRIDD_THREADS" "$@" >"$logf" 2>&1 &
  GRIDD_PID=$!
  PIDS+=("$GRIDD_PID")
  for _ in $(seq 1200); do
    GRIDD_PORT=$(sed -n 's#.*listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$logf" | head -1)
    [[ -n $GRIDD_PORT ]] && { GRIDD_URL=http://127.0.0.1:$GRIDD_PORT; return 0; }
    kill -0 "$GRIDD_PID" 2>/dev/null || { cat "$logf" >&2; die "gridd exited"; }
    sleep 0.25
  done
  die "gridd did not start"
}
stop_gridd() { stop_pid "$GRIDD_PID"; forget_pid "$GRIDD_PID"; GRIDD_PID=""; }
gridd_count() { curl -fsS "$GRIDD_URL/incidents?limit=1&count=true" | jq -r .numberMatched; }
# wait until the requests still queued when wrk stopped are done (the count stops growing)
settle_gridd() {
  local a b
  b=$(gridd_count)
  while :; do sleep 0.3; a=$b; b=$(gridd_count); [[ $a == "$b" ]] && return 0; done
}
pg_count() { pg -At -c "SELECT count(*) FROM incidents"; }

# --------------------------------------------------------------------------- measuring (as http_bench.sh)
# CPU time (user + system, including reaped children) of a process and its direct children, in clock
# ticks: gridd (one process), PostgreSQL (postmaster + backends + WAL writer + checkpointer).
tree_ticks() {
  local total=0 pid t
  for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)
# µs of server CPU per item: ticks before, ticks after, items
cpu_us() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f\n", (n > 0 ? (b - a) / hz * 1e6 / n : 0) }'; }

# wrk -> "rps p50_ms p99_ms non2xx requests" (percentiles from the script's done() hook, in ms)
run_wrk() {
  local url=$1 lua=$2 secs=$3 conns=$4 out threads=$THREADS
  ((conns < threads)) && threads=$conns
  out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$lua" "$url" 2>&1)
  printf '== wrk -t%s -c%s -d%ss -s %s %s\n%s\n' "$threads" "$conns" "$secs" "$(basename "$lua")" "$url" "$out" >>"$TMP/wrk.log"
  local rps p50 p99 bad n
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '/^LATENCY_US/ {print $2 / 1000}' <<<"$out")
  p99=$(awk '/^LATENCY_US/ {print $3 / 1000}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  n=$(awk '/requests in/ {print $1; exit}' <<<"$out")
  [[ -n $rps ]] || { echo "$out" >&2; die "wrk failed"; }
  echo "$rps ${p50:-?} ${p99:-?} ${bad:-0} ${n:-0}"
}

# pgbench -> "tps p50_ms p99_ms failed transactions" (percentiles from every transaction's latency)
run_pgbench() {
  local script=$1 secs=$2 conns=$3 out threads=$THREADS logdir
  shift 3
  ((conns < threads)) && threads=$conns
  logdir=$(mktemp -d "$TMP/pglog.XXXX")
  chmod 777 "$logdir"
  out=$(PGHOST=127.0.0.1 PGPORT=$PG_PORT PGUSER=postgres "$PGBENCH" -n -M prepared -c "$conns" -j "$threads" \
        -T "$secs" -l --log-prefix="$logdir/tx" "$@" -f "$script" "$DB" 2>&1) ||
    { echo "$out" >&2; die "pgbench failed"; }
  printf '== pgbench -c%s -j%s -T%s -f %s %s\n%s\n' "$conns" "$threads" "$secs" "$(basename "$script")" "$*" "$out" >>"$TMP/pgbench.log"
  local tps n failed lat
  tps=$(awk '/^tps = / {print $3; exit}' <<<"$out")
  n=$(awk '/actually processed:/ {print $NF; exit}' <<<"$out")
  failed=$(awk '/number of failed transactions:/ {print $5; exit}' <<<"$out")
  # log line: client_id transaction_no time(µs) script_no time_epoch time_us
  lat=$(cat "$logdir"/tx* | awk '{print $3}' | sort -n | awk '{a[NR] = $1}
        END { if (NR == 0) { print "? ?"; exit }
              r50 = int(0.50 * NR + 0.999999); r99 = int(0.99 * NR + 0.999999)
              printf "%.3f %.3f\n", a[r50] / 1000, a[r99] / 1000 }')
  rm -rf "$logdir"
  echo "$tps $lat ${failed:-0} ${n:-0}"
}

# --------------------------------------------------------------------------- data
# The grids gridd stores (WGS84, after the demo's GCJ-02 conversion) into PostGIS; random positions
# inside the city; each position's routing (grid chain, grid, worker) as PostGIS computes it.
prepare_postgis() {
  local dir=$TMP/data
  psql_db postgres -c "CREATE DATABASE $DB"
  pg -c "CREATE EXTENSION postgis"
  ogr2ogr -f PostgreSQL "PG:host=127.0.0.1 port=$PG_PORT user=postgres dbname=$DB" "$dir/export_grids.geojson" \
    -nln grids -nlt PROMOTE_TO_MULTI -lco GEOMETRY_NAME=geom -lco FID=fid -lco SPATIAL_INDEX=GIST -lco PRECISION=NO
  pg <<SQL
ALTER TABLE grids ADD COLUMN level_rank int;
UPDATE grids SET level_rank = CASE level WHEN 'district' THEN 0 WHEN 'street' THEN 1 WHEN 'community' THEN 2
                                         WHEN 'grid' THEN 3 WHEN 'micro_grid' THEN 4 END;
ANALYZE grids;
-- positions: uniform inside the city (the coarsest level), fixed seed
CREATE TABLE bench_points AS
  SELECT row_number() OVER () AS id, round(ST_X(geom)::numeric, 7)::float8 AS lon, round(ST_Y(geom)::numeric, 7)::float8 AS lat
    FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), $NPOINTS, 42))).geom FROM grids
           WHERE level_rank = (SELECT min(level_rank) FROM grids)) p;
ALTER TABLE bench_points ADD PRIMARY KEY (id), ADD COLUMN geom geometry(Point, 4326);
UPDATE bench_points SET geom = ST_SetSRID(ST_MakePoint(lon, lat), 4326);
-- routing: at each level the containing grid (smallest code); the responsible grid is the finest
ALTER TABLE bench_points ADD COLUMN chain bigint[];
UPDATE bench_points p SET chain = ARRAY(
  SELECT (SELECT g.id FROM grids g WHERE g.level_rank = l AND ST_Intersects(g.geom, p.geom) ORDER BY g.code LIMIT 1)
    FROM generate_series(0, 4) l ORDER BY l);
CREATE TABLE bench_routes AS
  SELECT p.id, p.lon, p.lat, p.geom, p.chain[1] AS chain_district, p.chain[2] AS chain_street,
         p.chain[3] AS chain_community, p.chain[4] AS chain_grid, p.chain[5] AS chain_micro_grid,
         g.id AS grid_id, g.code AS grid_code, g.name AS grid_name,
         coalesce((SELECT e->>'name' FROM json_array_elements(g.people::json) e WHERE e->>'role' = 'grid_worker' LIMIT 1),
                  g.people::json->0->>'name') AS assignee_name,
         coalesce((SELECT e->>'phone' FROM json_array_elements(g.people::json) e WHERE e->>'role' = 'grid_worker' LIMIT 1),
                  g.people::json->0->>'phone') AS assignee_phone
    FROM bench_points p
    LEFT JOIN grids g ON g.id = coalesce(p.chain[5], p.chain[4], p.chain[3], p.chain[2], p.chain[1]);
ALTER TABLE bench_routes ADD PRIMARY KEY (id);
CREATE TABLE bench_categories (k int PRIMARY KEY, code text NOT NULL, handler text NOT NULL);
CREATE TABLE bench_communities (k serial PRIMARY KEY, id bigint NOT NULL, code text NOT NULL);
INSERT INTO bench_communities (id, code) SELECT id, code FROM grids WHERE level = 'community' ORDER BY id;
SQL
  jq -r '.categories | to_entries[] | "\(.key)\t\(.value.code)\t\(.value.handler)"' "$GEODATA/categories.json" |
    pg -c "\\copy bench_categories FROM STDIN"
  pg -c "VACUUM ANALYZE"
  pg -At -c "COPY (SELECT lon, lat FROM bench_points ORDER BY id) TO STDOUT WITH (FORMAT csv)" >"$dir/points.csv"
  pg -At -c "SELECT code FROM bench_communities ORDER BY k" >"$dir/communities.txt"
  jq -r '.categories[].code' "$GEODATA/categories.json" >"$dir/categories.txt"
}

# The incident tables: the columns and indexes of gridd's GeoPackage layer (id, geom + 33 attributes;
# GiST on geom, B-trees on status, category, created_at, due_at, grid_id, the 5 chain columns and
# assignee_name) and its history table.
PG_INDEXES="status category created_at due_at grid_id chain_district chain_street chain_community chain_grid chain_micro_grid assignee_name"
create_pg_indexes() {
  local c sql="CREATE INDEX incidents_geom_idx ON incidents USING gist (geom);"
  for c in $PG_INDEXES; do sql+="CREATE INDEX incidents_${c}_idx ON incidents ($c);"; done
  sql+="CREATE INDEX incident_events_incident_idx ON incident_events (incident_id);"
  pg -c "$sql"
}
drop_pg_indexes() {
  local c sql="DROP INDEX incidents_geom_idx;"
  for c in $PG_INDEXES; do sql+="DROP INDEX incidents_${c}_idx;"; done
  sql+="DROP INDEX incident_events_incident_idx;"
  pg -c "$sql"
}
create_pg_schema() {
  pg <<'SQL'
CREATE TABLE incidents (
  id bigserial PRIMARY KEY, geom geometry(Point, 4326),
  category text, description text, address text, channel text, priority text, status text, version bigint,
  reported_position text, reporter_name text, reporter_phone text, grid_id bigint, grid_code text, grid_name text,
  chain_district bigint, chain_street bigint, chain_community bigint, chain_grid bigint, chain_micro_grid bigint,
  covered boolean, distance_m float8, assignee_name text, assignee_phone text, handler text, escalation_level int,
  created_at timestamptz, updated_at timestamptz, dispatched_at timestamptz, due_at timestamptz,
  near_due_at timestamptz, resolved_at timestamptz, closed_at timestamptz, satisfaction int, attributes text);
CREATE TABLE incident_events (
  id bigserial PRIMARY KEY, incident_id bigint, version bigint, action text, from_status text, to_status text,
  actor text, note text, at timestamptz, grid_id bigint, data text, attachments text);
SQL
  create_pg_indexes
}

# pgbench: BATCH_ROWS incidents from consecutive positions, each with its first event, in one statement
# (one transaction). The same values gridd stores for a POST of the same positions.
write_pg_intake() {  # rows, file
  local rows=$1
  cat >"$2" <<SQL
\\set i random(1, :npoints - $rows + 1)
WITH ins AS (
  INSERT INTO incidents (geom, category, description, channel, priority, status, version, reported_position,
                         grid_id, grid_code, grid_name, chain_district, chain_street, chain_community, chain_grid,
                         chain_micro_grid, covered, distance_m, assignee_name, assignee_phone, handler,
                         escalation_level, created_at, updated_at, attributes)
  SELECT r.geom, c.code, '基准测试事件 #' || r.id || '：屋顶漏水，楼道积水', 'api', 'normal', 'reported', 1,
         json_build_object('x', r.lon, 'y', r.lat, 'crs', 'EPSG:4326')::text,
         r.grid_id, r.grid_code, r.grid_name, r.chain_district, r.chain_street, r.chain_community, r.chain_grid,
         r.chain_micro_grid, true, 0, r.assignee_name, r.assignee_phone, c.handler, 0, now(), now(), '{}'
    FROM bench_routes r JOIN bench_categories c ON c.k = r.id % :ncat
   WHERE r.id BETWEEN :i AND :i + $rows - 1
  RETURNING id, grid_id)
INSERT INTO incident_events (incident_id, version, action, to_status, at, grid_id, data, attachments)
SELECT id, 1, 'report', 'reported', now(), grid_id, json_build_object('channel', 'api', 'covered', true)::text, '[]'
  FROM ins;
SQL
}

# wrk: POST /incidents, one incident or {"items": [...]} of BATCH, random positions from points.csv.
write_wrk_intake() {  # file, items per request (1 = a single object)
  cat >"$1" <<EOF
local points = {}
for line in io.lines("$TMP/data/points.csv") do
  local lon, lat = line:match("^%s*([^,]+),([^,%s]+)")
  if lon then points[#points + 1] = {lon, lat} end
end
local cats = {}
for line in io.lines("$TMP/data/categories.txt") do cats[#cats + 1] = line end
local n, ncat, items = #points, #cats, $2
local counter = 0
function setup(thread) thread:set("tid", counter); counter = counter + 1 end
local function item()
  local k = math.random(n)
  local p = points[k]
  return string.format('{"category":"%s","lon":%s,"lat":%s,"description":"基准测试事件 #%d：屋顶漏水，楼道积水"}',
                       cats[(k % ncat) + 1], p[1], p[2], k)
end
local bodies = {}
function init(args)
  math.randomseed(4321 + (tid or 0))
  if items > 1 then  -- a pool of batch bodies, built once per thread (keeps the client cheap)
    for b = 1, 200 do
      local t = {}
      for i = 1, items do t[i] = item() end
      bodies[b] = '{"items":[' .. table.concat(t, ",") .. ']}'
    end
  end
end
local headers = {["Content-Type"] = "application/json"}
function request()
  local body = items > 1 and bodies[math.random(#bodies)] or item()
  return wrk.format("POST", "/incidents", headers, body)
end
function done(summary, latency, requests)
  io.write(string.format("LATENCY_US %d %d\n", latency:percentile(50), latency:percentile(99)))
end
EOF
}

# wrk: GET /incidents?bbox=..&limit=100 (a BBOX_M square around a random position) or ?grid=<community>.
write_wrk_list() {  # file, bbox|grid
  cat >"$1" <<EOF
local kind = "$2"
local paths = {}
if kind == "bbox" then
  local hy = $BBOX_M / 2 / (6371008.8 * math.pi / 180)
  for line in io.lines("$TMP/data/points.csv") do
    local lon, lat = line:match("^%s*([^,]+),([^,%s]+)")
    if lon then
      lon, lat = tonumber(lon), tonumber(lat)
      local hx = hy / math.cos(lat * math.pi / 180)
      paths[#paths + 1] = string.format("/incidents?bbox=%.7f,%.7f,%.7f,%.7f&limit=100", lon - hx, lat - hy, lon + hx, lat + hy)
    end
  end
else
  for line in io.lines("$TMP/data/communities.txt") do
    if #line > 0 then paths[#paths + 1] = "/incidents?grid=" .. line .. "&limit=100" end
  end
end
local n = #paths
local counter = 0
function setup(thread) thread:set("tid", counter); counter = counter + 1 end
function init(args) math.randomseed(1234 + (tid or 0)) end
function request() return wrk.format("GET", paths[math.random(n)]) end
function done(summary, latency, requests)
  io.write(string.format("LATENCY_US %d %d\n", latency:percentile(50), latency:percentile(99)))
end
EOF
}

# pgbench: the same pages as GeoJSON FeatureCollections.
write_pg_list() {  # file, bbox|grid
  if [[ $2 == bbox ]]; then
    cat >"$1" <<SQL
\\set i random(1, :npoints)
SELECT json_build_object('type', 'FeatureCollection', 'features',
                         coalesce(json_agg(ST_AsGeoJSON(t.*)::json ORDER BY t.id DESC), '[]'::json))
  FROM (SELECT i.* FROM incidents i
         WHERE i.geom && (SELECT ST_MakeEnvelope(p.lon - :hy / cos(radians(p.lat)), p.lat - :hy,
                                                 p.lon + :hy / cos(radians(p.lat)), p.lat + :hy, 4326)
                            FROM bench_points p WHERE p.id = :i)
         ORDER BY i.id DESC LIMIT 100) t;
SQL
  else
    cat >"$1" <<'SQL'
\set k random(1, :ncomm)
SELECT json_build_object('type', 'FeatureCollection', 'features',
                         coalesce(json_agg(ST_AsGeoJSON(t.*)::json ORDER BY t.id DESC), '[]'::json))
  FROM (SELECT i.* FROM incidents i
         WHERE i.chain_community = (SELECT id FROM bench_communities WHERE k = :k)
         ORDER BY i.id DESC LIMIT 100) t;
SQL
  fi
}

# --------------------------------------------------------------------------- phases
SUMMARY=()
row() {  # label, gridd "rate p50 p99 cpu", pg "rate p50 p99 cpu", unit
  local label=$1 g=$2 p=$3 unit=$4
  SUMMARY+=("$(awk -v l="$label" -v g="$g" -v p="$p" -v u="$unit" 'BEGIN {
    split(g, a, " "); split(p, b, " ")
    printf "| %s | %.0f | %.2f / %.2f | %.0f | %.0f | %.2f / %.2f | %.0f | **%.2f** | %.2f | %.2f |",
      l, a[1], a[2], a[3], a[4], b[1], b[2], b[3], b[4], (b[1] > 0 ? a[1] / b[1] : 0),
      (a[2] > 0 ? b[2] / a[2] : 0), (a[4] > 0 ? b[4] / a[4] : 0) }')")
  log "  => $label: gridd $g | PostGIS $p ($unit)"
}

# One intake measurement: gridd then PostGIS, the same duration and connections.
intake() {  # items per request, connections
  local items=$1 conns=$2 mode lua sql line rps p50 p99 bad n t0 t1 c0 c1 g p
  mode=$([[ $items == 1 ]] && echo single || echo "batch $items")
  lua=$TMP/intake_$items.lua sql=$TMP/intake_$items.sql
  [[ -f $lua ]] || write_wrk_intake "$lua" "$items"
  [[ -f $sql ]] || write_pg_intake "$items" "$sql"
  log "intake ($mode, $conns connections): gridd"
  run_wrk "$GRIDD_URL" "$lua" "$WARMUP" "$conns" >/dev/null
  settle_gridd
  c0=$(gridd_count); t0=$(tree_ticks "$GRIDD_PID")
  line=$(run_wrk "$GRIDD_URL" "$lua" "$DURATION" "$conns")
  settle_gridd
  t1=$(tree_ticks "$GRIDD_PID"); c1=$(gridd_count)
  read -r rps p50 p99 bad n <<<"$line"
  [[ $bad == 0 ]] || log "  gridd: $bad non-2xx answers"
  # wrk counts answered requests; the ones in flight when it stops are stored too
  (((c1 - c0) - n * items <= conns * items && (c1 - c0) >= n * items)) ||
    log "  gridd: $((c1 - c0)) incidents stored for $n answered requests of $items"
  g="$(awk -v r="$rps" -v k="$items" 'BEGIN {print r * k}') $p50 $p99 $(cpu_us "$t0" "$t1" $((c1 - c0)))"
  log "intake ($mode, $conns connections): PostGIS"
  local pg_pid
  pg_pid=$(head -1 "$PG_DATA/postmaster.pid")
  run_pgbench "$sql" "$WARMUP" "$conns" -D npoints="$NPOINTS" -D ncat="$NCAT" >/dev/null
  sleep 0.5
  c0=$(pg_count); t0=$(tree_ticks "$pg_pid")
  line=$(run_pgbench "$sql" "$DURATION" "$conns" -D npoints="$NPOINTS" -D ncat="$NCAT")
  sleep 0.5
  t1=$(tree_ticks "$pg_pid"); c1=$(pg_count)
  read -r rps p50 p99 bad n <<<"$line"
  [[ $bad == 0 ]] || log "  PostGIS: $bad failed transactions"
  p="$(awk -v r="$rps" -v k="$items" 'BEGIN {print r * k}') $p50 $p99 $(cpu_us "$t0" "$t1" $((c1 - c0)))"
  row "intake $mode, -c$conns" "$g" "$p" "incidents/s"
}

# Bring gridd to LIST_INCIDENTS incidents: POST batches of LOAD_BATCH, 2 clients (gridd's worker threads).
load_gridd() {
  local have need t0
  have=$(gridd_count)
  need=$((LIST_INCIDENTS - have))
  ((need > 0)) || return 0
  local nb=$(((need + LOAD_BATCH - 1) / LOAD_BATCH)) dir=$TMP/load
  mkdir -p "$dir"
  log "loading gridd: $need incidents in $nb POSTs of $LOAD_BATCH (positions: ST_GeneratePoints, seed 7)"
  t0=$(date +%s.%N)
  pg -At -c "COPY (SELECT round(ST_X(geom)::numeric, 7), round(ST_Y(geom)::numeric, 7)
        FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(geom), $need, 7))).geom FROM grids
               WHERE level_rank = (SELECT min(level_rank) FROM grids)) p) TO STDOUT WITH (FORMAT csv)" |
    awk -F, -v per="$LOAD_BATCH" -v dir="$dir" -v cats="$TMP/data/categories.txt" '
      BEGIN { while ((getline c < cats) > 0) cat[n++] = c }
      {
        b = int((NR - 1) / per)
        f = sprintf("%s/%06d.json", dir, b)
        if (f != cur) { if (cur != "") { printf "]}" > cur; close(cur) } cur = f; printf "{\"items\":[" > cur; first = 1 }
        printf "%s{\"category\":\"%s\",\"lon\":%s,\"lat\":%s,\"description\":\"基准测试事件 #%d：屋顶漏水，楼道积水\"}",
               (first ? "" : ","), cat[NR % n], $1, $2, NR > cur
        first = 0
      }
      END { if (cur != "") printf "]}" > cur }'
  post_files() {
    local f code
    for f in "$@"; do
      code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "@$f" "$GRIDD_URL/incidents")
      [[ $code == 201 ]] || { log "POST $f answered $code"; return 1; }
    done
  }
  local files=("$dir"/*.json) half
  half=$(((${#files[@]} + 1) / 2))
  post_files "${files[@]:0:half}" &
  local p1=$!
  post_files "${files[@]:half}" &
  local p2=$!
  wait "$p1" || die "loading gridd failed"
  wait "$p2" || die "loading gridd failed"
  rm -rf "$dir"
  log "gridd holds $(gridd_count) incidents; loading took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}') s"
}

# PostgreSQL gets exactly the rows gridd holds: ids, positions, routing, times (ogr2ogr, COPY).
load_postgis_rows() {
  local store=$1 t0
  t0=$(date +%s.%N)
  log "loading PostGIS with gridd's rows (ogr2ogr from the GeoPackage, COPY, indexes built after)"
  pg -c "TRUNCATE incidents, incident_events RESTART IDENTITY"
  drop_pg_indexes
  ogr2ogr -f PostgreSQL "PG:host=127.0.0.1 port=$PG_PORT user=postgres dbname=$DB" "$store" incidents \
    -append -nln incidents -preserve_fid -gt 100000 --config PG_USE_COPY YES
  pg -At -c "SELECT setval('incidents_id_seq', (SELECT max(id) FROM incidents))" >/dev/null
  create_pg_indexes
  pg -c "VACUUM ANALYZE incidents"
  log "PostGIS holds $(pg_count) incidents; loading took $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}') s"
}

# The ids of the same 20 pages of each kind, from both.
cross_check() {
  local kind=$1 agree=0 i total=20 a b q
  for ((i = 1; i <= total; i++)); do
    if [[ $kind == bbox ]]; then
      local k=$((1 + (i * 7919) % NPOINTS)) lon lat
      IFS=, read -r lon lat < <(sed -n "${k}p" "$TMP/data/points.csv")
      q=$(awk -v lon="$lon" -v lat="$lat" -v m="$BBOX_M" 'BEGIN { hy = m / 2 / (6371008.8 * 3.14159265358979 / 180);
          hx = hy / cos(lat * 3.14159265358979 / 180); printf "%.7f,%.7f,%.7f,%.7f", lon - hx, lat - hy, lon + hx, lat + hy }')
      a=$(curl -fsS "$GRIDD_URL/incidents?bbox=$q&limit=100" | jq -c '[.features[].id]')
      b=$(pg -At -c "SELECT coalesce(json_agg(id ORDER BY id DESC), '[]')::text FROM (SELECT id FROM incidents
            WHERE geom && ST_MakeEnvelope($q, 4326) ORDER BY id DESC LIMIT 100) t")
    else
      local code
      code=$(sed -n "$((1 + (i * 37) % NCOMM))p" "$TMP/data/communities.txt")
      a=$(curl -fsS "$GRIDD_URL/incidents?grid=$code&limit=100" | jq -c '[.features[].id]')
      b=$(pg -At -c "SELECT coalesce(json_agg(id ORDER BY id DESC), '[]')::text FROM (SELECT id FROM incidents
            WHERE chain_community = (SELECT id FROM bench_communities WHERE code = '$code') ORDER BY id DESC LIMIT 100) t")
    fi
    [[ $(jq -c . <<<"$b") == "$a" ]] && agree=$((agree + 1))
  done
  echo "$agree/$total"
}

# One listing measurement -> "pages/s p50_ms p99_ms cpu_µs_per_page"
gridd_list() {  # lua, connections
  local line rps p50 p99 bad n t0 t1
  run_wrk "$GRIDD_URL" "$1" "$WARMUP" "$2" >/dev/null
  t0=$(tree_ticks "$GRIDD_PID")
  line=$(run_wrk "$GRIDD_URL" "$1" "$DURATION" "$2")
  t1=$(tree_ticks "$GRIDD_PID")
  read -r rps p50 p99 bad n <<<"$line"
  [[ $bad == 0 ]] || log "  gridd: $bad non-2xx answers"
  echo "$rps $p50 $p99 $(cpu_us "$t0" "$t1" "$n")"
}
pg_list() {  # sql, connections, pgbench -D options...
  local sql=$1 conns=$2 line rps p50 p99 bad n t0 t1 pg_pid
  shift 2
  pg_pid=$(head -1 "$PG_DATA/postmaster.pid")
  run_pgbench "$sql" "$WARMUP" "$conns" "$@" >/dev/null
  sleep 0.5  # let the postmaster reap the warm-up backends
  t0=$(tree_ticks "$pg_pid")
  line=$(run_pgbench "$sql" "$DURATION" "$conns" "$@")
  sleep 0.5
  t1=$(tree_ticks "$pg_pid")
  read -r rps p50 p99 bad n <<<"$line"
  [[ $bad == 0 ]] || log "  PostGIS: $bad failed transactions"
  echo "$rps $p50 $p99 $(cpu_us "$t0" "$t1" "$n")"
}
explain_pg() {  # title, sql
  {
    echo "== $1"
    sed -e '1d' -e "s/:i/($((NPOINTS / 2)))/g" -e "s/:hy/$HY/g" -e 's/:k/(7)/g' "$2" |
      sed '1s/^/EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) /' | pg 2>&1
  } >>"$TMP/explain.txt" || true
}

list() {  # bbox|grid
  local kind=$1 lua=$TMP/list_$1.lua sql=$TMP/list_$1.sql c p
  local -A g=()
  write_wrk_list "$lua" "$kind"
  write_pg_list "$sql" "$kind"
  local opts=(-D npoints="$NPOINTS" -D hy="$HY" -D ncomm="$NCOMM")
  for c in $LIST_CONNECTIONS; do
    log "list by $kind ($c connections): gridd"
    g[$c]=$(gridd_list "$lua" "$c")
    log "list by $kind ($c connections): PostGIS"
    p=$(pg_list "$sql" "$c" "${opts[@]}")
    row "list by $kind, -c$c" "${g[$c]}" "$p" "pages/s"
  done
  explain_pg "$kind" "$sql"
  if [[ $kind == grid ]]; then
    # gridd's SQLite index on chain_community ends in the rowid, so it reads a community newest
    # first; PostgreSQL needs a composite index for that. Measured too, as the stronger peer.
    pg -c "CREATE INDEX incidents_community_id_idx ON incidents (chain_community, id)" -c "ANALYZE incidents"
    for c in $LIST_CONNECTIONS; do
      log "list by $kind ($c connections): PostGIS with an index on (chain_community, id)"
      p=$(pg_list "$sql" "$c" "${opts[@]}")
      row "list by grid, -c$c, PostGIS + (chain_community, id) index" "${g[$c]}" "$p" "pages/s"
    done
    explain_pg "grid, with an index on (chain_community, id)" "$sql"
  fi
}

# --------------------------------------------------------------------------- main
ensure_packages
ensure_build
TMP=$(mktemp -d "$TMPDIR_BASE/gridd-incident-bench.XXXXXX")
chmod 755 "$TMP"
trap cleanup EXIT
trap 'exit 130' INT TERM
[[ $(stat -f -c %T "$TMP") != tmpfs ]] || log "warning: $TMP is on tmpfs; durable commits are not measured"
mkdir -p "$TMP/gridd" "$TMP/data"
log "temp dir $TMP; wrk/pgbench -t/-j$THREADS, intake at -c ${INTAKE_CONNECTIONS// /,}, lists at -c ${LIST_CONNECTIONS// /,}, ${DURATION}s runs after ${WARMUP}s warm-up"
start_postgres

STORE=$TMP/gridd/store.gpkg
log "gridd: the demo city"
start_gridd "$STORE" "$TMP/gridd/load.log" --demo --geodata "$GEODATA"
stop_gridd
"$GRIDD" export grids --store "$STORE" -o "$TMP/data/export_grids.geojson" >&2
log "PostGIS: grids, $NPOINTS positions inside the city and their routing"
prepare_postgis
create_pg_schema
NCAT=$(wc -l <"$TMP/data/categories.txt")
NCOMM=$(wc -l <"$TMP/data/communities.txt")
log "$(pg -At -c "SELECT count(*) || ' grids, ' || (SELECT count(*) FROM bench_points) || ' positions (' ||
       (SELECT count(*) FILTER (WHERE chain_community IS NOT NULL) FROM bench_routes) || ' in a community), ' ||
       $NCOMM || ' communities, ' || $NCAT || ' categories' FROM grids")"

start_gridd "$STORE" "$TMP/gridd/serve.log"
log "gridd pid $GRIDD_PID on $GRIDD_URL: $(tail -1 "$TMP/gridd/serve.log")"

if [[ " $PHASES " == *" intake "* ]]; then
  for c in $INTAKE_CONNECTIONS; do
    intake 1 "$c"
    intake "$BATCH" "$c"
  done
fi
N_GRIDD=- N_PG=- AGREE_BBOX=- AGREE_GRID=-
if [[ " $PHASES " == *" list "* ]]; then
if [[ $STORE_1M != none ]]; then
  stop_gridd
  log "using a copy of $STORE_1M"
  rm -f "$STORE" "$STORE-wal" "$STORE-shm"
  cp "$STORE_1M" "$STORE"
  [[ ! -f $STORE_1M-wal ]] || cp "$STORE_1M-wal" "$STORE-wal"
  start_gridd "$STORE" "$TMP/gridd/serve.log"
fi
load_gridd
load_postgis_rows "$STORE"
N_GRIDD=$(gridd_count)
N_PG=$(pg_count)
[[ $N_GRIDD == "$N_PG" ]] || log "warning: gridd holds $N_GRIDD incidents, PostGIS $N_PG"
HY=$(awk -v m="$BBOX_M" 'BEGIN { printf "%.9f", m / 2 / (6371008.8 * 3.14159265358979 / 180) }')
AGREE_BBOX=$(cross_check bbox)
AGREE_GRID=$(cross_check grid)
log "cross-check: the same ids on $AGREE_BBOX bbox pages and $AGREE_GRID community pages"
list bbox
list grid
fi
stop_gridd

{
  echo "== gridd incident HTTP benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "   gridd ${GRIDD_REV:-$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet 2>/dev/null || echo '+dirty')} ($GRIDD), PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') + PostGIS $(pg -At -c "SELECT extversion FROM pg_extension WHERE extname = 'postgis'"), both durable (fsync per commit)"
  echo "   wrk/pgbench -t/-j$THREADS, ${DURATION}s runs after ${WARMUP}s warm-up; lists over $N_GRIDD incidents (PostGIS $N_PG), bbox ${BBOX_M} m, limit 100; page ids agree on $AGREE_BBOX bbox and $AGREE_GRID community pages"
  echo "| run | gridd /s | gridd p50 / p99 ms | gridd CPU µs/item | PostGIS /s | PostGIS p50 / p99 ms | PostGIS CPU µs/item | gridd/PostGIS by rate | PostGIS/gridd p50 | by CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${SUMMARY[@]}"
} | tee -a "${RESULTS:-/dev/null}"
