#!/usr/bin/env bash
# Soak: sustained order creation on SQLite for a set time, sampling every 10 s the
# service's resident memory (RSS), the WAL size and the database file size, then the
# service's idle CPU for 30 s after the load stops. Prints one table; CI never runs it.
#
# Release build, SQLite, no Notification URL (confirmations stay queued, as on a service
# that has none configured), AUTH_DISABLED=true, nothing scrapes /metrics unless
# --scrape is given. Uses the bench crate's loadgen and stub-checkout (as bench/run.sh).
#
# Usage: bench/soak.sh [--minutes N] [--concurrency C] [--reads C] [--scrape SECONDS]
#   --minutes      minutes of sustained creation (default 30)
#   --concurrency  loadgen connections creating orders (default 16)
#   --reads        also C connections reading GET /api/v1/orders/{id} all along (default 0):
#                  readers hold WAL snapshots, the case where checkpoints fall behind
#   --scrape       also GET /metrics every SECONDS (default: never)
# Env: NO_BUILD=1 (use the binaries as they are), BENCH_BIN_DIR (default target/release),
#   ORDER_SERVICE_BIN (soak another build), SOAK_DIR (keep the database there instead
#   of a temporary directory that is removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. bench/lib.sh

MINUTES=30 CONCURRENCY=16 READS=0 SCRAPE=0 SAMPLE=10 IDLE=30
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift ;;
    --concurrency) CONCURRENCY=$2; shift ;;
    --reads) READS=$2; shift ;;
    --scrape) SCRAPE=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
export RUST_BACKTRACE=0

release_bins

if [ -n "${SOAK_DIR:-}" ]; then WORK=$SOAK_DIR; mkdir -p "$WORK"; KEEP=1; else WORK=$(mktemp -d); KEEP=0; fi
PIDS=()
cleanup() {
  stop_pids "${PIDS[@]}"
  [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

STUB_PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" >"$WORK/stub.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$STUB_PORT/health"

DB=$WORK/soak.db
PORT=$(free_port)
PORT=$PORT HOST=127.0.0.1 DATABASE_URL="sqlite://$DB" CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" \
  AUTH_DISABLED=true "$SERVICE_BIN" >"$WORK/service.log" 2>&1 &
SVC=$!
PIDS+=($SVC)
wait_http "http://127.0.0.1:$PORT/health/ready"

SECS=$((MINUTES * 60))
if [ "$READS" != 0 ]; then
  # a few orders to read, then readers for the whole soak
  "$BIN/loadgen" --url "http://127.0.0.1:$PORT" --method POST --path /api/v1/orders/checkout \
    --body '{"checkoutSessionId":"{uuid}"}' --concurrency 4 --duration 2 --warmup 0 --save-ids "$WORK/ids.txt" >/dev/null
  "$BIN/loadgen" --url "http://127.0.0.1:$PORT" --path '/api/v1/orders/{id}' --ids "$WORK/ids.txt" \
    --concurrency "$READS" --duration "$SECS" --warmup 0 --label soak-reads >"$WORK/reads.json" &
  PIDS+=($!)
fi
echo "== soak: $MINUTES min of POST /api/v1/orders/checkout at c=$CONCURRENCY (reads c=$READS), SQLite, scrape=${SCRAPE}s (0 = none), load $(loadavg)" >&2
"$BIN/loadgen" --url "http://127.0.0.1:$PORT" --method POST --path /api/v1/orders/checkout \
  --body '{"checkoutSessionId":"{uuid}"}' --concurrency "$CONCURRENCY" --duration "$SECS" --warmup 0 \
  --label soak >"$WORK/loadgen.json" &
LOADGEN=$!
PIDS+=($LOADGEN)
if [ "$SCRAPE" != 0 ]; then
  (while sleep "$SCRAPE"; do curl -fs -o /dev/null "http://127.0.0.1:$PORT/metrics" || true; done) &
  PIDS+=($!)
fi

printf '%8s %10s %12s %12s %10s %8s\n' elapsed_s rss_kb wal_bytes db_bytes cpu_% load1
T0=$(date +%s)
prev_ticks=$(cpu_ticks $SVC) prev_t=$T0
while kill -0 "$LOADGEN" 2>/dev/null; do
  now=$(date +%s)
  ticks=$(cpu_ticks $SVC)
  dt=$((now - prev_t))
  cpu=$([ "$dt" -gt 0 ] && python3 -c "print(round(100 * ($ticks - $prev_ticks) / $CLK_TCK / $dt, 1))" || echo -)
  printf '%8d %10d %12d %12d %10s %8s\n' $((now - T0)) "$(rss_kb $SVC)" "$(size_of "$DB-wal")" "$(size_of "$DB")" \
    "$cpu" "$(load1)"
  prev_ticks=$ticks prev_t=$now
  sleep "$SAMPLE" &
  wait $! || true
done
wait "$LOADGEN" || true

# Idle: the load has stopped; how much CPU does the service take with its backlog queued?
idle0=$(cpu_ticks $SVC)
sleep "$IDLE"
idle1=$(cpu_ticks $SVC)
orders=$(sqlite3 "$DB" 'SELECT count(*) FROM orders' 2>/dev/null || echo '?')
echo
echo "loadgen: $(cat "$WORK/loadgen.json")"
[ "$READS" = 0 ] || { sleep 2; echo "reads: $(cat "$WORK/reads.json")"; }
echo "orders in the database: $orders"
echo "after the load: RSS $(rss_kb $SVC) kB, WAL $(size_of "$DB-wal") B, database $(size_of "$DB") B"
echo "idle CPU over ${IDLE}s after the load: $(python3 -c "print(round(100 * ($idle1 - $idle0) / $CLK_TCK / $IDLE, 2))") % of one core"
echo "load average at the end: $(loadavg)"
