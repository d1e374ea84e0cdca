#!/usr/bin/env bash
# bench/multi_instance_bench.sh: several gridd instances on one PostgreSQL/PostGIS database
# (the deployment of README "Several instances"), on this machine:
#  1. /locate over HTTP (wrk, random points of the demo city): one instance with CONNECTIONS
#     connections, then two instances with half of them each (two wrk at once), rates summed;
#  2. durable intake, POST /incidents (wrk, random points): the same, one and two instances;
#  3. cross-instance propagation: gridd_propagation_probe reports PROBES incidents through A and
#     times each from A's acknowledgement to its arrival on B's live feed (median, p90, p99, max).
# PostgreSQL runs with its durable defaults (fsync, synchronous_commit, full_page_writes on).
# Every figure comes from this one run; compare the ratios, not the absolute numbers (the
# machine is shared, and with 2 cores wrk, two gridd and PostgreSQL compete for them).
#
# Usage: bench/multi_instance_bench.sh
# Environment: DURATION [10] seconds per run, WARMUP [2], CONNECTIONS [32], THREADS [2] wrk
#   threads per wrk, PROBES [300], BUILD_DIR [build]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO/build}
DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} CONNECTIONS=${CONNECTIONS:-32} THREADS=${THREADS:-2}
PROBES=${PROBES:-300}
GRIDD=$BUILD_DIR/gridd PROBE=$BUILD_DIR/bench/gridd_propagation_probe
log() { echo "== $*" >&2; }
die() { echo "multi_instance_bench: $*" >&2; exit 1; }
[[ -x $GRIDD && -x $PROBE ]] || die "build first: bash scripts/build.sh (needs $GRIDD and $PROBE)"
command -v wrk >/dev/null || { [[ $(id -u) -eq 0 ]] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"

TMP=$(mktemp -d /tmp/gridd-multi-XXXXXX)
chmod 755 "$TMP"  # the PostgreSQL server (user postgres) works in $TMP/pg
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  GRIDD_PG_DURABLE=1 bash "$REPO/scripts/pg-cluster.sh" stop "$TMP/pg" || true
  rm -rf "$TMP"
}
trap cleanup EXIT

log "PostgreSQL cluster (durable defaults)"
ADMIN=$(GRIDD_PG_DURABLE=1 bash "$REPO/scripts/pg-cluster.sh" start "$TMP/pg")
psql -X -q "$ADMIN" -c "CREATE DATABASE city TEMPLATE gridd_template"
URI=${ADMIN%/postgres}/city

PORT=""
start_gridd() {  # name, extra args... -> sets PORT (not in a subshell: cleanup must know the pid)
  local name=$1
  shift
  "$GRIDD" serve --store "$URI" --listen 127.0.0.1:0 --geodata "$REPO/geodata" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  PIDS+=($!)
  for _ in $(seq 600); do
    PORT=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/$name.out")
    [[ -n $PORT ]] && return
    sleep 0.1
  done
  cat "$TMP/$name.err" >&2
  die "gridd $name did not start"
}
log "gridd A (loads the demo city), gridd B"
start_gridd a --demo
A=$PORT
start_gridd b
B=$PORT
curl -fsS "http://127.0.0.1:$B/healthz" >&2; echo >&2

# Random points inside the demo district's bounding box (GCJ-02, as the demo data).
read -r MINX MINY MAXX MAXY < <(ogrinfo -ro -so -al "$REPO/geodata/renchen/grids.geojson" |
  sed -n 's/^Extent: (\([-0-9.]*\), \([-0-9.]*\)) - (\([-0-9.]*\), \([-0-9.]*\))/\1 \2 \3 \4/p')
cat >"$TMP/locate.lua" <<LUA
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  local lon = $MINX + math.random() * ($MAXX - $MINX)
  local lat = $MINY + math.random() * ($MAXY - $MINY)
  return wrk.format("GET", string.format("/locate?lon=%.6f&lat=%.6f&crs=gcj02&k=3", lon, lat))
end
LUA
cat >"$TMP/intake.lua" <<LUA
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local lon = $MINX + math.random() * ($MAXX - $MINX)
  local lat = $MINY + math.random() * ($MAXY - $MINY)
  local body = string.format('{"category":"property_dispute","description":"bench","lon":%.6f,"lat":%.6f,"crs":"gcj02"}', lon, lat)
  return wrk.format("POST", "/incidents", nil, body)
end
LUA

# wrk -> "rps non2xx"
run_wrk() {  # port lua seconds connections
  local out rps bad
  out=$(wrk -t"$THREADS" -c"$4" -d"$3s" -s "$2" "http://127.0.0.1:$1" 2>&1)
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  [[ -n $rps ]] || { echo "$out" >&2; die "wrk failed"; }
  echo "$rps ${bad:-0}"
}
measure() {  # lua -> "one_instance_rps two_instance_rps non2xx"
  local lua=$1 half=$((CONNECTIONS / 2)) one two_a two_b r
  run_wrk "$A" "$lua" "$WARMUP" "$CONNECTIONS" >/dev/null
  one=$(run_wrk "$A" "$lua" "$DURATION" "$CONNECTIONS")
  run_wrk "$B" "$lua" "$WARMUP" "$half" >/dev/null
  run_wrk "$A" "$lua" "$DURATION" "$half" >"$TMP/wa" &
  r=$!
  two_b=$(run_wrk "$B" "$lua" "$DURATION" "$half")
  wait "$r"
  two_a=$(cat "$TMP/wa")
  awk -v o="$one" -v a="$two_a" -v b="$two_b" 'BEGIN {
    split(o, O, " "); split(a, X, " "); split(b, Y, " ");
    printf "%.0f %.0f %d\n", O[1], X[1] + Y[1], O[2] + X[2] + Y[2] }'
}

log "locate: $CONNECTIONS connections to A, then $((CONNECTIONS / 2)) to A and $((CONNECTIONS / 2)) to B"
read -r L1 L2 LBAD < <(measure "$TMP/locate.lua")
log "intake: the same"
read -r I1 I2 IBAD < <(measure "$TMP/intake.lua")
log "propagation: $PROBES reports through A, timed to their arrival on B's feed"
LON=$(awk -v a="$MINX" -v b="$MAXX" 'BEGIN {printf "%.6f", (a + b) / 2}')
LAT=$(awk -v a="$MINY" -v b="$MAXY" 'BEGIN {printf "%.6f", (a + b) / 2}')
PROP=$("$PROBE" "$A" "$B" "$PROBES" "$LON" "$LAT")

echo
echo "gridd $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), PostgreSQL $(psql -X -At "$ADMIN" -c 'SHOW server_version'), $(nproc) cores; wrk -t$THREADS, ${DURATION}s per run"
printf '%-28s %14s %14s %8s %6s\n' "" "1 instance" "2 instances" "ratio" "non2xx"
printf '%-28s %14s %14s %8s %6s\n' "/locate (req/s)" "$L1" "$L2" "$(awk -v a="$L1" -v b="$L2" 'BEGIN {printf "%.2f", b / a}')" "$LBAD"
printf '%-28s %14s %14s %8s %6s\n' "POST /incidents (req/s)" "$I1" "$I2" "$(awk -v a="$I1" -v b="$I2" 'BEGIN {printf "%.2f", b / a}')" "$IBAD"
echo "propagation A -> B feed: $PROP"
