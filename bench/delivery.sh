#!/usr/bin/env bash
# Confirmation delivery throughput on SQLite or PostgreSQL, release build: how many events per second
# the outbox delivers to a fast local receiver (stub-checkout's POST
# /api/v1/notifications answers 202 at once), and whether order creation keeps its pace
# while delivery runs beside it.
#
#   bench/delivery.sh [--duration S] [--concurrency C] [--rounds N] [--open-share F]
#                     [--backend sqlite|postgres]   (postgres: a fresh database on PG_URL)
#   (NO_BUILD=1 skips cargo build; ORDER_SERVICE_BIN=path runs another build of the service;
#   BENCH_BIN_DIR: the binaries elsewhere than target/release)
#
# Each round, on one database:
# 1. no Notification URL: create orders for S seconds, closed loop (creation alone; leaves a
#    backlog)
# 2. restart with the URL: time until the whole backlog is delivered (events/s)
# 3. with the URL: create orders for S seconds while each new one is delivered
# A warm-up window comes first, not counted (a new database is faster than every later
# window). Rounds alternate the two conditions (odd rounds 1 then 3, even rounds 3 then 1) so that
# the machine's drift and the database's growth hit both; each window starts on a settled
# database (SETTLE seconds, default 3, after the start or the drain). Then, open
# loop at F (default 0.3) of the median rate of step 1: creation latency without and with
# delivery at a load the machine carries without queueing.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=15
C=16
ROUNDS=3
SHARE=0.3
BACKEND=sqlite
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift ;;
    --concurrency) C=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --open-share) SHARE=$2; shift ;;
    --backend) BACKEND=$2; shift ;;
    *) echo "usage: $0 [--duration S] [--concurrency C] [--rounds N] [--open-share F] [--backend sqlite|postgres]" >&2; exit 2 ;;
  esac
  shift
done
release_bins   # BIN, and SERVICE_BIN from ORDER_SERVICE_BIN (another build of the service, for A/B)

work=$(mktemp -d)
pids=()
PG_DB=delivery_bench_$$
cleanup() { stop_pids "${pids[@]}"; [ "$BACKEND" = postgres ] && drop_dbs "$PG_DB"; rm -rf "$work"; }
trap cleanup EXIT
wait_ready() { wait_http "http://127.0.0.1:$1/health/ready" 10 || { tail -5 "$work/service.log" >&2; exit 1; }; }
case "$BACKEND" in
  sqlite)
    DB_URL="sqlite://$work/orders.db"
    pending() { python3 -c "import sqlite3,sys; c=sqlite3.connect('file:$work/orders.db?mode=ro', uri=True); print(c.execute(\"SELECT count(*) FROM outbox WHERE status='PENDING'\").fetchone()[0])"; } ;;
  postgres)
    psql -q "$PG_URL/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null
    DB_URL="$PG_URL/$PG_DB"
    pending() { psql -At "$DB_URL" -c "SELECT count(*) FROM outbox WHERE status = 'PENDING'"; } ;;
  *) echo "--backend: sqlite or postgres" >&2; exit 2 ;;
esac

STUB_PORT=$(free_port)
PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" 2>"$work/stub.log" &
pids+=($!)
wait_http "http://127.0.0.1:$STUB_PORT/health" 5 || true

service_pid=
start_service() { # start_service [notification URL]
  (cd "$work" && exec env DATABASE_URL="$DB_URL" AUTH_DISABLED=true HOST=127.0.0.1 PORT=$PORT \
    CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" ${1:+NOTIFICATION_SERVICE_URL=$1} \
    RUST_LOG=warn "$SERVICE_BIN" >>"$work/service.log" 2>&1) &
  service_pid=$!
  pids+=("$service_pid")
  wait_ready "$PORT"
}
stop_service() { kill -TERM "$service_pid"; wait "$service_pid" 2>/dev/null || true; }
create() { # create LABEL [RATE]: loadgen's JSON line plus the service's CPU ms per request
  local before after out
  before=$(cpu_ticks "$service_pid")
  out=$("$BIN/loadgen" --url "http://127.0.0.1:$PORT" --method POST --path /api/v1/orders/checkout \
    --body '{"checkoutSessionId":"{uuid}"}' --concurrency "$C" ${2:+--rate $2} --duration "$DURATION" \
    --warmup 1 --label "$1")
  after=$(cpu_ticks "$service_pid")
  python3 -c "import json,sys; j=json.loads(sys.argv[1]); j['cpu_ticks']=$after-$before; print(json.dumps(j))" "$out"
}
drain() { # prints events/s delivering the current backlog
  local backlog t0 t1
  backlog=$(pending)
  t0=$(date +%s.%N)
  while [ "$(pending)" -gt 0 ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  python3 -c "print(f'{$backlog} {$backlog / ($t1 - $t0):.0f}')"
}
URL="http://127.0.0.1:$STUB_PORT"

echo "load before: $(loadavg)" >&2
results=()
drains=()
lags=()
# Each creation window starts SETTLE seconds after the service (and, when delivering, after
# the backlog was drained), so that the WAL checkpoint of the drain's writes is not charged
# to the window that follows it; odd rounds create alone first, even rounds delivering first,
# so that the database growing from window to window weighs on both conditions alike.
SETTLE=${SETTLE:-3}
alone_window() {
  start_service ""
  sleep "$SETTLE"
  results+=("$(create "round $round: create, no delivery")")
  stop_service
}
delivering_window() {
  start_service "$URL"
  drains+=("$(drain)")
  sleep "$SETTLE"
  results+=("$(create "round $round: create, delivering")")
  lags+=("$(drain)")   # what delivery left behind at the end of the window, and its catch-up
  stop_service
}
# A first window on the new database, not counted: the first orders into an empty database
# and an empty WAL go faster than all later ones (in one run, 3,924/s against 2,864/s in the
# next alone window), which would favour whichever condition is measured first.
start_service ""
create "warm-up, not counted" >/dev/null
stop_service
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then
    alone_window
    delivering_window
  else
    delivering_window
    alone_window
  fi
done
half=$(python3 - "$SHARE" "${results[@]}" <<'PY'
import json, statistics, sys
alone = [json.loads(r)['rps'] for r in sys.argv[2:] if 'no delivery' in json.loads(r)['label']]
print(int(statistics.median(alone) * float(sys.argv[1])))
PY
)
start_service ""
results+=("$(create "open loop $half/s: no delivery" "$half")")
stop_service
start_service "$URL"
drain >/dev/null
results+=("$(create "open loop $half/s: delivering" "$half")")
for _ in $(seq 1 100); do [ "$(pending)" -eq 0 ] && break; sleep 0.1; done
left=$(pending)
stop_service
echo "load after: $(loadavg)" >&2

TICKS=$CLK_TCK DURATION=$DURATION python3 - "${results[@]}" -- "${drains[@]}" -- "${lags[@]}" <<'PY'
import json, os, statistics, sys
args = sys.argv[1:]
cut = args.index('--')
cut2 = args.index('--', cut + 1)
runs = [json.loads(r) for r in args[:cut]]
drains = [d.split() for d in args[cut + 1:cut2]]
lags = [d.split() for d in args[cut2 + 1:]]
tick_ms = 1000 / int(os.environ['TICKS'])
print("| run | orders/s | p50 ms | p99 ms | service CPU µs per order |")
print("|---|---:|---:|---:|---:|")
for r in runs:
    cpu = r['cpu_ticks'] * tick_ms * 1000 / max(r['requests'], 1)
    print(f"| {r['label']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {cpu:.0f} |")
alone = [r['rps'] for r in runs if r['label'].endswith('create, no delivery')]
busy = [r['rps'] for r in runs if r['label'].endswith('create, delivering')]
print()
print(f"closed loop, median orders/s: alone {statistics.median(alone):.0f}, delivering "
      f"{statistics.median(busy):.0f} (ratio {statistics.median(busy) / statistics.median(alone):.2f}; "
      f"alone ranged {min(alone):.0f}–{max(alone):.0f})")
print("backlog delivery: " + ", ".join(f"{n} events at {rate}/s" for n, rate in drains if int(n) > 0))
# The delivering windows: created = rps x the measured window (the 1-s warm-up's orders are
# delivered or pending too, so the rate during the window is a lower bound).
during = []
for r, (left, rate) in zip([r for r in runs if r['label'].endswith('create, delivering')], lags):
    created = r['rps'] * float(os.environ['DURATION'])
    during.append(f"{max(created - int(left), 0) / float(os.environ['DURATION']):.0f}/s delivered "
                  f"while creating {r['rps']:.0f}/s, {left} left at the end, then delivered at {rate}/s")
print("delivery while creating: " + "; ".join(during))
PY
echo "still pending at the end: $left"
