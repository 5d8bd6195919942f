# shellcheck shell=bash
# Shell helpers shared by the scripts in bench/. Source it after changing to the
# repository root, as every script does:
#
#   cd "$(dirname "$0")/.."
#   . bench/lib.sh
#
# It only defines functions and a few variables (no `set` options, no traps, no output),
# so it is safe under `set -euo pipefail` and under `set -uo pipefail` alike.

# PostgreSQL server the scripts create their throw-away databases on (override with PG_URL).
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
# Clock ticks per second: the unit of utime/stime in /proc/PID/stat.
CLK_TCK=$(getconf CLK_TCK)

# free_port: prints a TCP port on 127.0.0.1 that is free right now (the kernel picks it;
# the socket is closed again, so a service started next can bind it).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http URL [SECONDS]: polls URL every 0.1 s until it answers 2xx/3xx; returns 0 then,
# or after SECONDS (default 30, whole seconds) prints "no answer from URL" on stderr and
# returns 1. Callers decide whether that is fatal (`|| exit 1`) or not (`|| true`).
wait_http() {
  local url=$1 secs=${2:-30}
  for _ in $(seq 1 $((secs * 10))); do
    curl -fs -o /dev/null "$url" && return 0
    sleep 0.1
  done
  echo "no answer from $url" >&2
  return 1
}

# load1: the 1-minute load average. loadavg: the 1-, 5- and 15-minute ones ("1.2 0.9 0.7").
load1() { cut -d' ' -f1 /proc/loadavg; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# cpu_ticks PID...: user+system CPU the processes have used so far, summed, in clock
# ticks (fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends the command
# name, which may contain spaces). A PID that is gone counts 0; no PID prints 0.
cpu_ticks() {
  local sum=0 pid t
  for pid in "$@"; do
    t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || true
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}

# cpu_s PID...: the same in seconds (a decimal number, e.g. 12.34).
cpu_s() { awk -v t="$(cpu_ticks "$@")" -v hz="$CLK_TCK" 'BEGIN {print t / hz}'; }

# rss_kb PID: resident memory of the process in kB (VmRSS of /proc/PID/status).
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# stop_pids PID...: SIGTERM to each process, then waits for each (children of this shell);
# ignores processes that are already gone. For cleanup traps: stop_pids "${PIDS[@]}".
stop_pids() {
  local pid
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# drop_dbs NAME...: drops these PostgreSQL databases on PG_URL, disconnecting their
# sessions first (WITH (FORCE)); never fails (for cleanup traps).
drop_dbs() {
  local db
  for db in "$@"; do
    psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}

# release_bins: builds the release binaries of the whole workspace (service and bench
# crate) unless NO_BUILD is set, then sets BIN to the directory holding them
# (BENCH_BIN_DIR, default $ROOT/target/release, ROOT defaulting to the current directory)
# and SERVICE_BIN to the service to measure (ORDER_SERVICE_BIN, default $BIN/order-service).
# BENCH_BIN_DIR does not change where cargo builds, so with a copy elsewhere set NO_BUILD=1.
# shellcheck disable=SC2034  # BIN and SERVICE_BIN are for the calling script
release_bins() {
  if [ -z "${NO_BUILD:-}" ]; then
    echo "== building release binaries (cargo build --release --workspace --bins)" >&2
    cargo build -q --release --workspace --bins >&2
  fi
  BIN=${BENCH_BIN_DIR:-${ROOT:-$PWD}/target/release}
  SERVICE_BIN=${ORDER_SERVICE_BIN:-$BIN/order-service}
}

# scratch_space: WORK, a new temporary directory, and an EXIT trap (also on Ctrl-C or
# SIGTERM through set -e's exit) that stops the processes in PIDS, drops the PostgreSQL
# databases in DBS and removes WORK; the caller appends to PIDS and DBS.
# shellcheck disable=SC2034  # WORK, PIDS and DBS are for the calling script
scratch_space() {
  WORK=$(mktemp -d)
  PIDS=()
  DBS=()
  trap 'stop_pids "${PIDS[@]}"; drop_dbs "${DBS[@]}"; rm -rf "$WORK"' EXIT
}

# sequential_requests PORT create|get COUNT IDS-FILE: COUNT requests, one after another on
# one keep-alive connection, to the service on PORT; fails on an unexpected status. create
# posts a fresh checkout session each time and appends the new order ids to IDS-FILE; get
# reads order ids from it, round robin. For counts per request (callgrind, strace).
sequential_requests() {
  python3 - "$@" <<'PY'
import http.client, json, sys, uuid
port, mode, count, ids_file = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
ids = open(ids_file).read().split() if mode == "get" else []
saved = []
for i in range(count):
    if mode == "create":
        body = json.dumps({"checkoutSessionId": str(uuid.uuid4())})
        conn.request("POST", "/api/v1/orders/checkout", body, {"content-type": "application/json"})
        want = 201
    else:
        conn.request("GET", "/api/v1/orders/" + ids[i % len(ids)])
        want = 200
    r = conn.getresponse()
    data = r.read()
    if r.status != want:
        sys.exit(f"{mode}: status {r.status}: {data[:300]!r}")
    if mode == "create":
        saved.append(json.loads(data)["id"])
if saved:
    open(ids_file, "a").write("\n".join(saved) + "\n")
PY
}

# per_backend FUNCTION BACKEND...: FUNCTION BACKEND DATABASE_URL for each backend named:
# sqlite on $WORK/orders.db, postgres on a fresh database on PG_URL (its name appended to
# the caller's DBS array, for drop_dbs in its cleanup trap).
per_backend() {
  local run=$1 backend db
  shift
  for backend in "$@"; do
    case $backend in
      sqlite) "$run" sqlite "sqlite://$WORK/orders.db" ;;
      postgres)
        db=bench_${run}_$$
        psql -q "$PG_URL/postgres" -c "CREATE DATABASE $db" >/dev/null
        DBS+=("$db")
        "$run" postgres "$PG_URL/$db" ;;
      *) echo "unknown backend $backend" >&2; return 2 ;;
    esac
  done
}
