#!/usr/bin/env bash
# Order Service benchmark: POST /api/v1/orders/checkout (a fresh checkout session per
# request) and GET /api/v1/orders/{id} at concurrency 1, 16 and 64 on SQLite and on
# PostgreSQL, against a stub Checkout Service, beside the ceilings measured in the same
# run: the same per-order transaction straight at PostgreSQL (pgbench) and at SQLite
# (sqlite-ceiling), and a trivial axum handler under the same load generator. Every service
# point also reports the service's CPU per request (user+system time of its process from
# /proc/PID/stat over the measured window, divided by the requests answered), and on
# PostgreSQL the read ceiling: the service's own order+items-by-id statement run by pgbench.
#
# Usage: bench/run.sh [--quick] [--pin] [--backends "sqlite postgres"] [--concurrency "1 16 64"]
#   --quick   about 3 s per point instead of 10 (the whole run takes ~2-3 minutes)
#   --pin     pinned cores (taskset, needs 2+ CPUs): the service alone on CPU 0; this script
#             and so everything it starts (loadgen, stub-checkout, pgbench, sqlite-ceiling)
#             on CPU 1, and the running PostgreSQL server's processes (pgrep -u postgres
#             postgres, the postmaster included, so new backends inherit it) moved to CPU 1
#             for the run and back to all online CPUs on exit. The service then no longer
#             shares its core with the load it measures; "pinned" is recorded in the results.
# Env: PG_URL (default postgres://postgres@127.0.0.1:5432), BENCH_DB_PREFIX,
#   ORDER_SERVICE_BIN (benchmark another build of the service, e.g. a copy of an older one),
#   BENCH_BIN_DIR (where loadgen, stub-checkout, sqlite-ceiling and order-service are;
#   default target/release), NO_BUILD=1 (skip `cargo build --release`; use with BENCH_BIN_DIR).
# Output: bench/results/<time>/results.jsonl (one JSON line per point) and report.md.
# Durability as shipped: PostgreSQL fsync + synchronous_commit on, SQLite WAL with
# synchronous=FULL.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. bench/lib.sh

DURATION=10 WARMUP=2
BACKENDS="sqlite postgres"
CONCURRENCY="1 16 64"
PIN=false
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) DURATION=3 WARMUP=1 ;;
    --pin) PIN=true ;;
    --backends) BACKENDS=$2; shift ;;
    --concurrency) CONCURRENCY=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
export RUST_BACKTRACE=0

need() { # command, Debian package
  command -v "$1" >/dev/null 2>&1 && return
  echo "installing $2" >&2
  apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
}
need jq jq
need curl curl
need python3 python3
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -1 || true)
if [[ " $BACKENDS " == *" postgres "* ]]; then
  [ -n "$PGBENCH" ] || { need pgbench postgresql-contrib; PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | tail -1); }
  need psql postgresql-client
fi

NPROC=$(nproc)   # before --pin narrows this shell to one CPU
if $PIN; then
  need taskset util-linux
  [ "$NPROC" -ge 2 ] || { echo "--pin needs at least 2 CPUs" >&2; exit 2; }
fi
release_bins

OUT=$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
WORK=$(mktemp -d)
PIDS=()
DBS=()
SERVICE_CPU=()   # prefix that starts the service: (taskset -c 0) with --pin
# pin_postgres CPUS: moves every thread of the PostgreSQL server's processes to CPUS.
pin_postgres() {
  local pid
  for pid in $(pgrep -u postgres postgres || true); do taskset -a -p -c "$1" "$pid" >/dev/null 2>&1 || true; done
}
cleanup() {
  stop_pids "${PIDS[@]}"
  drop_dbs "${DBS[@]}"
  if $PIN; then pin_postgres "$(cat /sys/devices/system/cpu/online)"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if $PIN; then
  taskset -p -c 1 $$ >/dev/null   # this shell, so every process it starts from now on
  pin_postgres 1
  SERVICE_CPU=(taskset -c 0)
  echo "== pinned: service on CPU 0; load generator, stub, pgbench, sqlite-ceiling and PostgreSQL on CPU 1" >&2
fi

# record KIND BACKEND: annotates the JSON line on stdin and appends it to the results.
# load1 is the 1-minute load average at the end of the point (our own processes included).
record() {
  local json
  json=$(cat)
  echo "$json" | jq -c --arg kind "$1" --arg backend "$2" --arg load "$(load1)" \
    '. + {kind: $kind, backend: $backend, load1: ($load | tonumber)}' | tee -a "$RESULTS" >&2
}

# with_cpu PID COMMAND…: runs a load generator command and adds to its JSON line the CPU
# PID used over the measured window (sampled after the warm-up and again after the
# duration) and that CPU per request answered.
with_cpu() {
  local pid=$1; shift
  local out=$WORK/point.json c0 c1
  "$@" >"$out" &
  local gen=$!
  sleep "$WARMUP"; c0=$(cpu_s "$pid")
  sleep "$DURATION"; c1=$(cpu_s "$pid")
  wait "$gen"
  jq -c --argjson c0 "$c0" --argjson c1 "$c1" \
    '. + {service_cpu_s: ($c1 - $c0), cpu_us_per_request: (if .requests > 0 then (($c1 - $c0) * 1e6 / .requests | round) else null end)}' "$out"
}

loadgen() { # PORT then loadgen arguments
  local port=$1; shift
  "$BIN/loadgen" --url "http://127.0.0.1:$port" --duration "$DURATION" --warmup "$WARMUP" "$@"
}

# How fast this disk makes one 8 kB write durable right now (the floor under every commit).
FSYNC_TEST=$(ls /usr/lib/postgresql/*/bin/pg_test_fsync 2>/dev/null | tail -1 || true)
FDATASYNC=0
[ -n "$FSYNC_TEST" ] && FDATASYNC=$("$FSYNC_TEST" -s 1 -f "$WORK/fsync.test" 2>/dev/null | awk '/^ +fdatasync/ && !n++ {print $2}' || true)
{
  echo "{\"kind\":\"machine\",\"nproc\":$NPROC,\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"load1\":$(load1),\"duration_s\":$DURATION,\"git\":\"$(git rev-parse --short HEAD)\",\"service\":\"$SERVICE_BIN\",\"fdatasync_per_s\":${FDATASYNC:-0},\"pinned\":$PIN}"
} | tee -a "$RESULTS" >&2

STUB_PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" 2>"$OUT/stub.log" &
STUB_PID=$!
PIDS+=($STUB_PID)
wait_http "http://127.0.0.1:$STUB_PORT/health"

echo "== stub Checkout Service and trivial axum handler" >&2
for c in $CONCURRENCY; do
  loadgen "$STUB_PORT" --path '/api/v1/checkout/session/{uuid}' --concurrency "$c" --label stub-session | record stub-checkout none
  # Its CPU per request is this machine's cost of one bare HTTP exchange: the yardstick the
  # service's CPU per request is compared with (report.py scales the issue's targets by it).
  with_cpu "$STUB_PID" loadgen "$STUB_PORT" --method POST --path /api/v1/orders/checkout \
    --body '{"checkoutSessionId":"{uuid}"}' --concurrency "$c" --label trivial | record trivial-http none
done

run_service() { # BACKEND DATABASE_URL
  local backend=$1 url=$2 port ids="$WORK/ids-$1.txt"
  port=$(free_port)
  PORT=$port HOST=127.0.0.1 DATABASE_URL=$url CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" AUTH_DISABLED=true \
    "${SERVICE_CPU[@]}" "$SERVICE_BIN" >"$OUT/service-$backend.log" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  wait_http "http://127.0.0.1:$port/health/ready"
  echo "== $backend: create and read orders" >&2
  local peak=0
  for c in $CONCURRENCY; do
    local save=()
    [ "$c" = "$(echo $CONCURRENCY | cut -d' ' -f1)" ] && save=(--save-ids "$ids")
    with_cpu "$pid" loadgen "$port" --method POST --path /api/v1/orders/checkout --body '{"checkoutSessionId":"{uuid}"}' \
      --concurrency "$c" --label create "${save[@]}" | record create "$backend"
    peak=$(tail -1 "$RESULTS" | jq '.rps')
  done
  for c in $CONCURRENCY; do
    with_cpu "$pid" loadgen "$port" --path '/api/v1/orders/{id}' --ids "$ids" --concurrency "$c" --label get | record get "$backend"
  done
  # Open loop at half the create throughput of the highest concurrency.
  local half
  half=$(python3 -c "print(max(1.0, $peak / 2))")
  with_cpu "$pid" loadgen "$port" --method POST --path /api/v1/orders/checkout --body '{"checkoutSessionId":"{uuid}"}' \
    --rate "$half" --concurrency 1024 --label create-half-peak | record create-half-peak "$backend"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

pgbench_point() { # DB SCRIPT LABEL CONCURRENCY (SCRIPT: one file, or several as "-f a -f b …")
  local db=$1 script=$2 label=$3 c=$4 prefix="$WORK/pgbench-$3-$4"
  local tps scripts
  read -ra scripts <<<"$script"
  [ "${scripts[0]}" = "-f" ] || scripts=(-f "$script")
  tps=$("$PGBENCH" -n -M prepared -c "$c" -j 1 -T "$DURATION" "${scripts[@]}" -l --log-prefix="$prefix" "$PG_URL/$db" 2>&1 \
        | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
  cat "$prefix".* | awk '{print $3 / 1000}' | sort -n | python3 -c "
import json, math, sys
xs = [float(l) for l in sys.stdin if l.strip()]
pct = lambda p: round(xs[max(1, math.ceil(p / 100 * len(xs))) - 1], 3) if xs else 0
print(json.dumps({'label': '$label', 'concurrency': $c, 'duration_s': $DURATION, 'requests': len(xs),
  'rps': round(float('${tps:-0}'), 3), 'p50_ms': pct(50), 'p95_ms': pct(95), 'p99_ms': pct(99), 'max_ms': pct(100)}))"
  rm -f "$prefix".*
}

for backend in $BACKENDS; do
  case "$backend" in
    sqlite)
      run_service sqlite "sqlite://$WORK/orders.db"
      echo "== sqlite: ceiling (same transaction, tight loop, no HTTP)" >&2
      for c in $CONCURRENCY; do
        "$BIN/sqlite-ceiling" --database "sqlite://$WORK/ceiling-$c.db" --concurrency "$c" --duration "$DURATION" \
          --label sqlite-ceiling | record ceiling sqlite
      done
      for c in $CONCURRENCY; do
        "$BIN/sqlite-ceiling" --database "sqlite://$WORK/ceiling-group-$c.db" --concurrency "$c" --group 32 \
          --duration "$DURATION" --label sqlite-ceiling-group | record ceiling-group sqlite
      done
      ;;
    postgres)
      db=${BENCH_DB_PREFIX:-bench}_svc_$$ ceiling=${BENCH_DB_PREFIX:-bench}_ceiling_$$
      for d in "$db" "$ceiling"; do psql -q "$PG_URL/postgres" -c "CREATE DATABASE $d" >/dev/null; DBS+=("$d"); done
      run_service postgres "$PG_URL/$db"
      echo "== postgres: read ceiling (the service's order+items-by-id statement via pgbench, no HTTP)" >&2
      read_scripts=""
      for id in $(head -8 "$WORK/ids-postgres.txt"); do
        sed "s/:order_id/'$id'/" bench/pg-order-read.sql >"$WORK/read-$id.sql"
        read_scripts+=" -f $WORK/read-$id.sql"
      done
      for c in $CONCURRENCY; do
        pgbench_point "$db" "$read_scripts" pg-read-by-id "$c" | record read-ceiling postgres
      done
      DATABASE_URL="$PG_URL/$ceiling" "$SERVICE_BIN" migrate >/dev/null 2>&1
      echo "== postgres: ceiling (same transaction via pgbench, no HTTP)" >&2
      for c in $CONCURRENCY; do
        pgbench_point "$ceiling" bench/pg-order-statements.sql pg-statements "$c" | record ceiling postgres
        pgbench_point "$ceiling" bench/pg-order-cte.sql pg-one-statement "$c" | record ceiling-one-statement postgres
      done
      ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
done

python3 bench/report.py "$RESULTS" | tee "$OUT/report.md"
echo "results: $OUT" >&2
