#!/usr/bin/env bash
# Instructions per delivered confirmation (SQLite, release build): orders are created for
# a few seconds without a Notification URL (a backlog), then the service is restarted under
# valgrind's callgrind with stub-checkout as the receiver and runs until the backlog is
# delivered. Counts every instruction of the service in that window (startup and
# migrations included, ~20 k per event at this size), so two builds can be compared
# without the noise of a shared machine.
#
# Usage: bench/callgrind_delivery.sh [SECONDS of creation, default 3]
# Env: NO_BUILD=1, BENCH_BIN_DIR, ORDER_SERVICE_BIN (another build of the service).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SECS=${1:-3}
release_bins
SERVICE_BIN=$(realpath "$SERVICE_BIN") # it runs from a temporary directory
scratch_space
STUB_PORT=$(free_port)
PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$STUB_PORT/health" 5
pending() { python3 -c "import sqlite3; c=sqlite3.connect('file:$WORK/orders.db?mode=ro', uri=True); print(c.execute(\"SELECT count(*) FROM outbox WHERE status='PENDING'\").fetchone()[0])"; }
start() { # start [notification URL] [wrapper command…]
  local url=$1; shift
  (cd "$WORK" && exec env DATABASE_URL="sqlite://$WORK/orders.db" AUTH_DISABLED=true HOST=127.0.0.1 \
    PORT=$PORT CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" ${url:+NOTIFICATION_SERVICE_URL=$url} \
    RUST_LOG=warn "$@" "$SERVICE_BIN" >>"$WORK/service.log" 2>&1) &
  service=$!
  PIDS+=("$service")
}
start ""
wait_http "http://127.0.0.1:$PORT/health/ready" 10
"$BIN/loadgen" --url "http://127.0.0.1:$PORT" --method POST --path /api/v1/orders/checkout \
  --body '{"checkoutSessionId":"{uuid}"}' --concurrency 8 --duration "$SECS" --warmup 0 --label backlog >/dev/null
kill -TERM "$service"; wait "$service" 2>/dev/null || true
backlog=$(pending)
start "http://127.0.0.1:$STUB_PORT" valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out"
started=$SECONDS
until [ "$(pending)" -eq 0 ]; do
  sleep 1
  [ $((SECONDS - started)) -lt 600 ] || { echo "backlog not delivered in 600 s" >&2; exit 1; }
done
kill -TERM "$service"; wait "$service" 2>/dev/null || true
total=$(callgrind_annotate "$WORK/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$backlog events delivered in $((SECONDS - started)) s under callgrind: $total instructions, $((total / backlog)) per event ($SERVICE_BIN)"
