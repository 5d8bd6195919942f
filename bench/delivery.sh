#!/usr/bin/env bash
# Confirmation delivery throughput on SQLite, release build: how many events per second
# the outbox delivers to a fast local receiver (stub-checkout's POST
# /api/v1/notifications answers 202 at once), and whether order creation keeps its pace
# while delivery runs beside it.
#
#   bench/delivery.sh [--duration S] [--concurrency C]      (NO_BUILD=1 skips cargo build)
#
# 1. no Notification URL: create orders for S seconds (creation alone; leaves a backlog)
# 2. restart with the URL: time until the whole backlog is delivered (events/s)
# 3. with the URL: create orders for S seconds while each new one is delivered
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=15
C=16
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift ;;
    --concurrency) C=$2; shift ;;
    *) echo "usage: $0 [--duration S] [--concurrency C]" >&2; exit 2 ;;
  esac
  shift
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --workspace --bins >&2
BIN=$PWD/target/release

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$1/health/ready" >/dev/null && return 0; sleep 0.05; done; echo "service did not get ready" >&2; tail -5 "$work/service.log" >&2; exit 1; }
pending() { python3 -c "import sqlite3,sys; c=sqlite3.connect('file:$work/orders.db?mode=ro', uri=True); print(c.execute(\"SELECT count(*) FROM outbox WHERE status='PENDING'\").fetchone()[0])"; }

STUB_PORT=$(free_port)
PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" 2>"$work/stub.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$STUB_PORT/health" >/dev/null && break; sleep 0.05; done

service_pid=
start_service() { # start_service [notification URL]
  (cd "$work" && exec env DATABASE_URL="sqlite://$work/orders.db" AUTH_DISABLED=true HOST=127.0.0.1 PORT=$PORT \
    CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" ${1:+NOTIFICATION_SERVICE_URL=$1} \
    RUST_LOG=warn "$BIN/order-service" >>"$work/service.log" 2>&1) &
  service_pid=$!
  pids+=("$service_pid")
  wait_ready "$PORT"
}
stop_service() { kill -TERM "$service_pid"; wait "$service_pid" 2>/dev/null || true; }
create() { # create LABEL
  "$BIN/loadgen" --url "http://127.0.0.1:$PORT" --method POST --path /api/v1/orders/checkout \
    --body '{"checkoutSessionId":"{uuid}"}' --concurrency "$C" --duration "$DURATION" --warmup 1 --label "$1"
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
start_service ""
alone=$(create "create, no delivery")
stop_service
backlog=$(pending)

start_service "http://127.0.0.1:$STUB_PORT"
t0=$(date +%s.%N)
while [ "$(pending)" -gt 0 ]; do sleep 0.1; done
t1=$(date +%s.%N)
drain=$(python3 -c "print(f'{$backlog / ($t1 - $t0):.0f}')")
delivering=$(create "create, delivering")
sleep 2
left=$(pending)
stop_service

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$alone" "$delivering" <<PY
import json, sys
a, d = (json.loads(x) for x in sys.argv[1:3])
print("| run | orders/s | p50 ms | p99 ms |")
print("|---|---:|---:|---:|")
for r in (a, d):
    print(f"| {r['label']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
print()
print(f"backlog of $backlog confirmations delivered in {$t1 - $t0:.2f} s: **$drain events/s**; "
      f"still pending 2 s after the delivering run: $left")
PY
