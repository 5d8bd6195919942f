#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind in the service process (all
# its threads): N x GET /api/v1/orders/{id} and N x POST /api/v1/orders/checkout (a new
# order each), after a warm-up, on SQLite and on PostgreSQL. Instruction counts do not
# depend on what the neighbours on the machine are doing, so two builds can be compared
# without noise (wall-clock time under valgrind means nothing).
#
# Release build (profile.release has debug = "line-tables-only", so the dumps can be read
# with callgrind_annotate). Instrumentation is off from the start (--instr-atstart=no) and is
# switched on with `callgrind_control -i on` only around the measured requests; counters
# are zeroed before and dumped after each phase. The client is one keep-alive HTTP/1.1
# connection (python3 http.client), requests one after another.
#
# Usage: bench/callgrind.sh [--requests N] [--backends "sqlite postgres"] [--keep DIR]
#   --keep DIR  keep the callgrind dumps in DIR (callgrind_annotate DIR/<file>)
# Env: NO_BUILD=1 (use the binaries as they are), BENCH_BIN_DIR (default target/release), PG_URL (default postgres://postgres@127.0.0.1:5432), ORDER_SERVICE_BIN.
# Included in the counts: everything the service does in that window, so also its
# background tasks (metrics upkeep every 5 s, storage sampling every 10 s, the outbox
# worker's polling), which is why N should not be tiny; the summary prints the window's
# duration so that share can be judged.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. bench/lib.sh

N=300 BACKENDS="sqlite postgres" KEEP=""
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) N=$2; shift ;;
    --backends) BACKENDS=$2; shift ;;
    --keep) KEEP=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
export RUST_BACKTRACE=0
# vgdb (behind callgrind_control) names its pipes after the user; unset in some shells.
export USER=${USER:-$(id -un)} LOGNAME=${LOGNAME:-$(id -un)}
# ... and after $HOST, which the service reads too: the same value on both sides.
export HOST=127.0.0.1
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }

release_bins

scratch_space



STUB_PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" >"$WORK/stub.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$STUB_PORT/health"

# total instructions (Ir) in a callgrind dump
ir_of() { awk '/^totals:/ {print $2; exit}' "$1"; }

measure() { # BACKEND DATABASE_URL
  local backend=$1 url=$2 port pid ids=$WORK/ids-$1.txt
  port=$(free_port)
  PORT=$port HOST=127.0.0.1 DATABASE_URL=$url CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" AUTH_DISABLED=true \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg-$backend.%p" \
    "$SERVICE_BIN" >"$WORK/service-$backend.log" 2>&1 &
  pid=$!
  PIDS+=($pid)
  wait_http "http://127.0.0.1:$port/health/ready" 180
  # warm-up: connections, caches, allocator arenas, prepared statements
  sequential_requests "$port" create 100 "$ids"
  sequential_requests "$port" get 100 "$ids"
  for phase in get create; do
    callgrind_control -z "$pid" >/dev/null
    callgrind_control -i on "$pid" >/dev/null
    local t0 t1
    t0=$(date +%s.%N)
    sequential_requests "$port" "$phase" "$N" "$ids"
    t1=$(date +%s.%N)
    callgrind_control -i off "$pid" >/dev/null
    callgrind_control --dump="$phase" "$pid" >/dev/null
    local dump
    dump=$(ls -t "$WORK"/cg-"$backend".*."$phase"* 2>/dev/null | head -1 || true)
    [ -z "$dump" ] && dump=$(ls -t "$WORK"/cg-"$backend".* | head -1)
    local ir
    ir=$(ir_of "$dump")
    printf '%-8s %-7s %6d requests  %14s instructions  %10s per request  (%.1f s under valgrind)\n' \
      "$backend" "$phase" "$N" "$ir" "$((ir / N))" "$(echo "$t1 - $t0" | bc)"
    [ -n "$KEEP" ] && { mkdir -p "$KEEP"; cp "$dump" "$KEEP/$(basename "$dump")"; }
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "git $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $N requests per phase" >&2
# shellcheck disable=SC2086  # BACKENDS is a list
per_backend measure $BACKENDS
