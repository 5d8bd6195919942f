#!/usr/bin/env bash
# Open-loop latency of order creation at a fixed rate: POST /api/v1/orders/checkout
# (a fresh checkout session per request) scheduled RATE per second by the bench crate's
# loadgen, latency counted from each request's scheduled send time (no coordinated
# omission). Without --rate, first measures the closed-loop peak (c=64, 10 s) on the
# same fresh database and offers half of it. On SQLite the WAL file is sampled every
# 0.2 s and its largest size reported.
#
# Usage: bench/open_loop.sh [--backend sqlite|postgres] [--rate R] [--duration S] [--label L]
# Env: ORDER_SERVICE_BIN (measure another build, e.g. a copy of an older one),
#   NO_BUILD=1 (use the binaries as they are), BENCH_BIN_DIR (default target/release),
#   PG_URL (default postgres://postgres@127.0.0.1:5432).
# Prints one JSON line (loadgen's, plus backend, wal_max_bytes, load1 before and after).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. bench/lib.sh

BACKEND=sqlite RATE="" DURATION=30 WARMUP=3 LABEL=create-open-loop
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKEND=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --label) LABEL=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
export RUST_BACKTRACE=0

release_bins

scratch_space

STUB_PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" >"$WORK/stub.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$STUB_PORT/health"

case "$BACKEND" in
  sqlite) URL="sqlite://$WORK/orders.db" ;;
  postgres)
    PGDB=open_loop_$$
    psql -q "$PG_URL/postgres" -c "CREATE DATABASE $PGDB" >/dev/null
    DBS+=("$PGDB")
    URL="$PG_URL/$PGDB" ;;
  *) echo "unknown backend $BACKEND" >&2; exit 2 ;;
esac
PORT=$(free_port)
PORT=$PORT HOST=127.0.0.1 DATABASE_URL=$URL CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" \
  AUTH_DISABLED=true "$SERVICE_BIN" >"$WORK/service.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/health/ready"

create() { # loadgen arguments
  "$BIN/loadgen" --url "http://127.0.0.1:$PORT" --method POST --path /api/v1/orders/checkout \
    --body '{"checkoutSessionId":"{uuid}"}' "$@"
}
PEAK=null
if [ -z "$RATE" ]; then
  PEAK=$(create --concurrency 64 --duration 10 --warmup 2 --label peak | jq '.rps')
  RATE=$(python3 -c "print(round($PEAK / 2, 1))")
fi

# The WAL's largest size while the open loop runs (SQLite).
(
  max=0
  while :; do
    s=$(stat -c %s "$WORK/orders.db-wal" 2>/dev/null || echo 0)
    [ "$s" -gt "$max" ] && max=$s && echo "$max" >"$WORK/wal-max"
    sleep 0.2
  done
) &
PIDS+=($!)

before=$(load1)
result=$(create --rate "$RATE" --concurrency 1024 --duration "$DURATION" --warmup "$WARMUP" --label "$LABEL")
echo "$result" | jq -c --arg backend "$BACKEND" --argjson peak "$PEAK" --arg l0 "$before" --arg l1 "$(load1)" \
  --argjson wal "$(cat "$WORK/wal-max" 2>/dev/null || echo null)" --arg bin "$SERVICE_BIN" \
  '. + {backend: $backend, closed_loop_peak_c64: $peak, wal_max_bytes: $wal, service: $bin,
        load1_before: ($l0 | tonumber), load1_after: ($l1 | tonumber)}'
curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^sqlite_' >&2 || true
echo "load at the end: $(loadavg)" >&2
