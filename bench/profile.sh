#!/usr/bin/env bash
# Where the CPU goes per order: runs POST /api/v1/orders/checkout at one concurrency
# against the release service (SQLite or PostgreSQL) and the stub Checkout Service, and
# prints the CPU time per order of each process (service, stub, all
# PostgreSQL backends, other users' included), plus a `perf record` profile of the service when perf works here
# (software cpu-clock event; hardware counters are not available on this VM).
#
# Usage: bench/profile.sh sqlite|postgres [CONCURRENCY] [SECONDS]
# Expects `cargo build --release --workspace --bins` done (binaries in target/release, or in
# BENCH_BIN_DIR). Output in bench/results/profile-<backend>/.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BACKEND=${1:?sqlite or postgres}
C=${2:-64}
SECS=${3:-10}
BIN=${BENCH_BIN_DIR:-$PWD/target/release}
OUT=$PWD/bench/results/profile-$BACKEND-c$C
mkdir -p "$OUT"
scratch_space
DB=bench_profile_$$
pg_pids() { pgrep -u postgres -d ' ' postgres || true; }

STUB_PORT=$(free_port) PORT_SVC=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" 2>/dev/null & STUB=$!; PIDS+=($STUB)
if [ "$BACKEND" = postgres ]; then
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB" >/dev/null
  DBS+=("$DB")
  URL=$PG_URL/$DB
else
  URL=sqlite://$WORK/orders.db
fi
PORT=$PORT_SVC HOST=127.0.0.1 DATABASE_URL=$URL CHECKOUT_SERVICE_URL=http://127.0.0.1:$STUB_PORT AUTH_DISABLED=true \
  "$BIN/order-service" >"$OUT/service.log" 2>&1 & SVC=$!; PIDS+=($SVC)
wait_http "http://127.0.0.1:$PORT_SVC/health/ready" 10 || true

"$BIN/loadgen" --url "http://127.0.0.1:$PORT_SVC" --method POST --path /api/v1/orders/checkout \
  --body '{"checkoutSessionId":"{uuid}"}' --concurrency "$C" --duration 2 --warmup 0 >/dev/null
before_svc=$(cpu_ticks $SVC) before_stub=$(cpu_ticks $STUB) before_pg=$(cpu_ticks $(pg_pids))
"$BIN/loadgen" --url "http://127.0.0.1:$PORT_SVC" --method POST --path /api/v1/orders/checkout \
  --body '{"checkoutSessionId":"{uuid}"}' --concurrency "$C" --duration "$SECS" --warmup 0 >"$OUT/load.json" &
LOAD=$!
PERF=0
if perf record -e cpu-clock -F 999 -g -p $SVC -o "$OUT/perf.data" -- sleep "$((SECS - 1))" >/dev/null 2>&1; then PERF=1; fi
wait $LOAD
after_svc=$(cpu_ticks $SVC) after_stub=$(cpu_ticks $STUB) after_pg=$(cpu_ticks $(pg_pids))
orders=$(jq '.ok' "$OUT/load.json")
per_order() { python3 -c "print(f'{($1) * 1e6 / $CLK_TCK / max($orders, 1):.0f}')"; }
{
  echo "backend=$BACKEND concurrency=$C seconds=$SECS load1=$(load1)"
  jq -c . "$OUT/load.json"
  echo "CPU µs per order: service $(per_order "$after_svc - $before_svc")," \
       "postgres (all backends) $(per_order "$after_pg - $before_pg")," \
       "stub $(per_order "$after_stub - $before_stub")"
} | tee "$OUT/summary.txt"
if [ $PERF = 1 ]; then
  perf report -i "$OUT/perf.data" --no-children --percent-limit 1.5 --stdio --sort dso,symbol 2>/dev/null \
    | grep -v '^$' | head -60 > "$OUT/perf-top.txt"
  perf report -i "$OUT/perf.data" --children --percent-limit 3 --stdio --sort symbol -g none 2>/dev/null \
    | grep -v '^$' | head -80 > "$OUT/perf-children.txt"
  echo "perf profile: $OUT/perf-top.txt, $OUT/perf-children.txt"
fi
