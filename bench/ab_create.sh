#!/usr/bin/env bash
# A/B of order creation between service builds: SQLite, closed loop, each build in turn
# on a fresh database, ROUNDS times (builds alternated so drift hits all of them alike).
# Prints orders/s, p50/p99 and the service's CPU per order (utime+stime from /proc).
#
#   bench/ab_create.sh [--rounds N] [--concurrency C] [--duration S] BIN [BIN...]
# Uses stub-checkout and loadgen from target/release, or from BENCH_BIN_DIR (build them with
# `cargo build --release -p order-service-bench`).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=3 C=16 DURATION=10
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --concurrency) C=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--rounds N] [--concurrency C] [--duration S] BIN [BIN...]" >&2; exit 2; }
TOOLS=${BENCH_BIN_DIR:-$PWD/target/release}

one() { # one BIN
  local work sp p stub svc c0 c1 out
  work=$(mktemp -d); sp=$(free_port); p=$(free_port)
  PORT=$sp "$TOOLS/stub-checkout" 2>/dev/null & stub=$!
  sleep 0.3
  (cd "$work" && exec env DATABASE_URL="sqlite://$work/orders.db" AUTH_DISABLED=true HOST=127.0.0.1 PORT=$p \
    CHECKOUT_SERVICE_URL="http://127.0.0.1:$sp" RUST_LOG=warn "$1" >"$work/svc.log" 2>&1) & svc=$!
  wait_http "http://127.0.0.1:$p/health/ready" 5 || true
  c0=$(cpu_ticks "$svc")
  out=$("$TOOLS/loadgen" --url "http://127.0.0.1:$p" --method POST --path /api/v1/orders/checkout \
    --body '{"checkoutSessionId":"{uuid}"}' --concurrency "$C" --duration "$DURATION" --warmup 1 --label "$1")
  c1=$(cpu_ticks "$svc")
  python3 -c "import json,sys; j=json.loads(sys.argv[1]); print('| %s | %.0f | %.2f | %.2f | %.0f |' % (j['label'], j['rps'], j['p50_ms'], j['p99_ms'], ($c1-$c0)*1e6/$CLK_TCK/j['requests']))" "$out"
  kill "$svc" "$stub"; wait "$svc" "$stub" 2>/dev/null || true; rm -rf "$work"
}

echo "load: $(loadavg)"
echo "| build | orders/s | p50 ms | p99 ms | service CPU µs per order |"
echo "|---|---:|---:|---:|---:|"
for _ in $(seq "$ROUNDS"); do
  for bin in "$@"; do one "$bin"; done
done
