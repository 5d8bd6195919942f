#!/usr/bin/env bash
# What one read by id costs the client in each database driver, no HTTP (issue 13: "sqlx
# versus tokio-postgres … measure before deciding"). The service creates orders on each
# backend (for 2 s through its own API at concurrency 16, then stopped), and `driver-cost` reads them back
# with the service's read statement through each driver in turn, `--rounds` times,
# alternating drivers: reads/s and the client process's CPU µs per read.
#
# Usage: bench/driver_cost.sh [--rounds N] [--concurrency "1 16"] [--duration S] [--backends "sqlite postgres"]
# Honours NO_BUILD / BENCH_BIN_DIR / ORDER_SERVICE_BIN like the other scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=2 CONCURRENCY="1 16" DURATION=5 BACKENDS="sqlite postgres"
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --concurrency) CONCURRENCY=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --backends) BACKENDS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
release_bins
scratch_space

measure() { # BACKEND DATABASE_URL
  local backend=$1 url=$2 stub_port svc_port drivers c round d
  stub_port=$(free_port) svc_port=$(free_port)
  PORT=$stub_port "$BIN/stub-checkout" 2>/dev/null & local stub=$!
  PORT=$svc_port HOST=127.0.0.1 DATABASE_URL=$url CHECKOUT_SERVICE_URL=http://127.0.0.1:$stub_port \
    AUTH_DISABLED=true "$SERVICE_BIN" >"$WORK/service-$backend.log" 2>&1 & local svc=$!
  wait_http "http://127.0.0.1:$svc_port/health/ready" 30 || exit 1
  "$BIN/loadgen" --url "http://127.0.0.1:$svc_port" --method POST --path /api/v1/orders/checkout \
    --body '{"checkoutSessionId":"{uuid}"}' --concurrency 16 --duration 2 --warmup 0 >/dev/null
  stop_pids "$svc" "$stub"
  if [ "$backend" = sqlite ]; then drivers="sqlx-sqlite rusqlite-inline rusqlite-blocking rusqlite-threads"
  else drivers="sqlx-pg tokio-postgres"; fi
  for c in $CONCURRENCY; do
    for round in $(seq 1 "$ROUNDS"); do
      for d in $drivers; do
        "$BIN/driver-cost" --driver "$d" --database "$url" --concurrency "$c" --duration "$DURATION" \
          | jq -c --arg load "$(loadavg)" '. + {load: $load}'
      done
    done
  done
}
# shellcheck disable=SC2086  # BACKENDS is a list
per_backend measure $BACKENDS
