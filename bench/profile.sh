#!/usr/bin/env bash
# Where the CPU goes per order: runs POST /api/v1/orders/checkout at one concurrency
# against the release service (SQLite or PostgreSQL) and the stub Checkout Service, and
# prints the CPU time per order of each process (service, stub, all
# PostgreSQL backends, other users' included), plus a `perf record` profile of the service when perf works here
# (software cpu-clock event; hardware counters are not available on this VM).
#
# Usage: bench/profile.sh sqlite|postgres [CONCURRENCY] [SECONDS]
# Expects `cargo build --release --workspace --bins` done. Output in bench/results/profile-<backend>/.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:?sqlite or postgres}
C=${2:-64}
SECS=${3:-10}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
BIN=$PWD/target/release
OUT=$PWD/bench/results/profile-$BACKEND-c$C
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
DB=bench_profile_$$
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$BACKEND" = postgres ] && psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { # total utime+stime clock ticks of the given pids
  local sum=0
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $sum
}
pg_pids() { pgrep -u postgres -d ' ' postgres || true; }

STUB_PORT=$(free_port) PORT_SVC=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" 2>/dev/null & STUB=$!; PIDS+=($STUB)
if [ "$BACKEND" = postgres ]; then
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB" >/dev/null
  URL=$PG_URL/$DB
else
  URL=sqlite://$WORK/orders.db
fi
PORT=$PORT_SVC HOST=127.0.0.1 DATABASE_URL=$URL CHECKOUT_SERVICE_URL=http://127.0.0.1:$STUB_PORT AUTH_DISABLED=true \
  "$BIN/order-service" >"$OUT/service.log" 2>&1 & SVC=$!; PIDS+=($SVC)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT_SVC/health/ready" && break; sleep 0.1; done

"$BIN/loadgen" --url "http://127.0.0.1:$PORT_SVC" --method POST --path /api/v1/orders/checkout \
  --body '{"checkoutSessionId":"{uuid}"}' --concurrency "$C" --duration 2 --warmup 0 >/dev/null
HZ=$(getconf CLK_TCK)
before_svc=$(ticks $SVC) before_stub=$(ticks $STUB) before_pg=$(ticks $(pg_pids))
"$BIN/loadgen" --url "http://127.0.0.1:$PORT_SVC" --method POST --path /api/v1/orders/checkout \
  --body '{"checkoutSessionId":"{uuid}"}' --concurrency "$C" --duration "$SECS" --warmup 0 >"$OUT/load.json" &
LOAD=$!
PERF=0
if perf record -e cpu-clock -F 999 -g -p $SVC -o "$OUT/perf.data" -- sleep "$((SECS - 1))" >/dev/null 2>&1; then PERF=1; fi
wait $LOAD
after_svc=$(ticks $SVC) after_stub=$(ticks $STUB) after_pg=$(ticks $(pg_pids))
orders=$(jq '.ok' "$OUT/load.json")
per_order() { python3 -c "print(f'{($1) * 1e6 / $HZ / max($orders, 1):.0f}')"; }
{
  echo "backend=$BACKEND concurrency=$C seconds=$SECS load1=$(cut -d' ' -f1 /proc/loadavg)"
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
