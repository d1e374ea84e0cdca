#!/usr/bin/env bash
# A private PostgreSQL 15 + PostGIS cluster for the tests and benchmarks,
# in a directory of its own, on a free port of 127.0.0.1 only.
#
#   scripts/pg-cluster.sh start DIR   initdb + start; writes DIR/uri (the
#                                     admin URI, database "postgres") and
#                                     creates the template "gridd_template"
#                                     with PostGIS; prints the URI
#   scripts/pg-cluster.sh halt DIR    stop the server, keep the data (an outage)
#   scripts/pg-cluster.sh resume DIR  start it again on the same port
#   scripts/pg-cluster.sh stop DIR    stop the server and remove DIR
#
# PostgreSQL refuses to run as root: as root the server runs as the
# "postgres" user that the Debian package creates.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || { echo "usage: $0 start|halt|resume|stop DIR" >&2; exit 2; }

as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() {
  local used p
  used=$(ss -Htan 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -u || true)
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    grep -qx "$p" <<<"$used" || { echo "$p"; return; }
  done
  echo "no free port" >&2
  exit 1
}

server_start() {
  local port durability="-c fsync=off -c full_page_writes=off"
  port=$(cat "$dir/port")
  # Tests trade the server's crash safety for speed (gridd's own durability
  # does not depend on it); GRIDD_PG_DURABLE=1 keeps PostgreSQL's defaults
  # (benchmarks).
  [[ ${GRIDD_PG_DURABLE:-0} == 1 ]] && durability=""
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=300 \
        -c shared_buffers=128MB $durability -c jit=off" start >/dev/null ||
    { tail -n 30 "$dir/server.log" >&2; echo "PostgreSQL did not start" >&2; exit 1; }
}

case $cmd in
  start)
    if [[ -d $dir ]]; then "$0" stop "$dir"; fi  # a cluster left by an interrupted run
    [[ -x $PG_BIN/initdb ]] || { echo "PostgreSQL 15 is missing: run scripts/install-deps.sh" >&2; exit 1; }
    [[ -f /usr/share/postgresql/15/extension/postgis.control ]] ||
      { echo "PostGIS is missing: run scripts/install-deps.sh" >&2; exit 1; }
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    free_port >"$dir/port"
    server_start
    uri="postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    psql -X -q -v ON_ERROR_STOP=1 "$uri" -c "CREATE DATABASE gridd_template" \
      -c "\\c gridd_template" -c "CREATE EXTENSION postgis" >/dev/null
    echo "$uri" >"$dir/uri"
    echo "$uri"
    ;;
  halt)
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  resume)
    server_start
    ;;
  stop)
    if [[ -f $dir/data/postmaster.pid ]]; then
      as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "unknown command $cmd" >&2
    exit 2
    ;;
esac
