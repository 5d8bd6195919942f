#!/usr/bin/env bash
# System calls per request of the release service (strace -c -f attached to it), for
# GET /api/v1/orders/{id} and POST /api/v1/orders/checkout on SQLite and PostgreSQL: the
# kernel-side complement of bench/callgrind.sh, which counts user-space instructions only.
# Each system call is a kernel entry, and those that block or wake another thread (futex,
# epoll_wait, a send to PostgreSQL) are where the context switches of a request come from.
# The requests are sequential, on one keep-alive connection, after a warm-up; counts of
# read/write calls repeat exactly, futex and epoll_wait counts move with thread timing.
#
# Usage: bench/syscalls.sh [--requests N] [--backends "sqlite postgres"]
# Env: NO_BUILD=1, BENCH_BIN_DIR, ORDER_SERVICE_BIN, PG_URL (default postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. bench/lib.sh

N=1000 BACKENDS="sqlite postgres"
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) N=$2; shift ;;
    --backends) BACKENDS=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
command -v strace >/dev/null || { echo "strace is needed (apt-get install strace)" >&2; exit 1; }
release_bins

scratch_space


# summary STRACE-OUTPUT COUNT: calls per request, in all and the most frequent ones
summary() {
  python3 - "$1" "$2" <<'PY'
import sys
n = int(sys.argv[2])
rows = []
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
        rows.append((int(p[3]), p[-1]))
total = sum(c for c, _ in rows)
top = ", ".join(f"{name} {c / n:.1f}" for c, name in sorted(rows, reverse=True)[:7])
print(f"{total / n:6.1f} per request  ({top})")
PY
}

STUB_PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" >"$WORK/stub.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$STUB_PORT/health"

measure() { # BACKEND DATABASE_URL
  local backend=$1 url=$2 port pid ids=$WORK/ids-$1.txt
  port=$(free_port)
  (cd "$WORK" && exec env PORT="$port" HOST=127.0.0.1 DATABASE_URL="$url" RUST_LOG=warn \
    CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" AUTH_DISABLED=true \
    "$SERVICE_BIN" >"$WORK/service-$backend.log" 2>&1) &
  pid=$!
  PIDS+=($pid)
  wait_http "http://127.0.0.1:$port/health/ready" 30
  sequential_requests "$port" create 200 "$ids"
  sequential_requests "$port" get 200 "$ids"
  for phase in get create; do
    strace -c -f -q -p "$pid" -o "$WORK/strace-$backend-$phase.txt" &
    local tracer=$!
    sleep 0.5   # attached to every thread before the first request
    sequential_requests "$port" "$phase" "$N" "$ids"
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    printf '%-8s %-7s %5d requests  %s\n' "$backend" "$phase" "$N" \
      "$(summary "$WORK/strace-$backend-$phase.txt" "$N")"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "git $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $N requests per phase" >&2
# shellcheck disable=SC2086  # BACKENDS is a list
per_backend measure $BACKENDS
