#!/usr/bin/env bash
# Stress and fault test of the Order Service on PostgreSQL. Three instances share one
# database, a stub Checkout Service and a fake Notification service that records every
# Idempotency-Key. Exits non-zero on any violation; the last line is the summary.
#
#  1. the same checkout sessions to all three instances at once → exactly one order per
#     session (checked in SQL and in the answers: one 201, the same order id everywhere);
#  2. SIGKILL of one instance mid-load → every order acknowledged 200/201 is stored, and
#     every order's confirmation arrives once the survivors take over the dead instance's
#     outbox leases;
#  3. PostgreSQL restarted mid-load → answers are 2xx or 5xx only, readiness answers 503
#     while it is down, the service recovers by itself within seconds, no acknowledged
#     order is lost or doubled, and every confirmation still arrives.
#
# Usage: bench/stress.sh [--short]     (--short: < 3 minutes once built, for CI)
# Env: PG_URL (default postgres://postgres@127.0.0.1:5432). Restarts the local cluster
# (pg_ctlcluster) once for a few seconds and always leaves it running.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. bench/lib.sh

SHORT=0
[ "${1:-}" = "--short" ] && SHORT=1
if [ $SHORT = 1 ]; then
  SESSIONS=200 LOAD_SECS=10 KILL_AT=4 RESTART_LOAD_SECS=14 RESTART_AT=4 LEASE_SECS=5 WORKERS=12
else
  SESSIONS=1000 LOAD_SECS=30 KILL_AT=10 RESTART_LOAD_SECS=30 RESTART_AT=10 LEASE_SECS=30 WORKERS=24
fi
RECOVERY_LIMIT_SECS=10
PG_VERSION=$(ls /etc/postgresql | sort -n | tail -1)
export RUST_BACKTRACE=0

WORK=$(mktemp -d)
DB=stress_$$
PIDS=()
VIOLATIONS=()
PASSED=()
started=$(date +%s)

pg_up() { pg_isready -h 127.0.0.1 -q; }
ensure_pg_up() {
  pg_up && return 0
  echo "PostgreSQL is down: starting it" >&2
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main start >/dev/null 2>&1 || true
  for _ in $(seq 300); do pg_up && return 0; sleep 0.1; done
  echo "PostgreSQL did not come back" >&2; return 1
}
cleanup() {
  stop_pids "${PIDS[@]}"
  ensure_pg_up
  drop_dbs "$DB"
  [ -n "${KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sql() { psql -At -F, "$PG_URL/$DB" -c "$1"; }
check() { # NAME then stress_check.py arguments
  local name=$1; shift
  local line
  line=$(python3 bench/stress_check.py "$@" 2>&1)
  local rc=$?
  echo "$line"
  if [ $rc = 0 ]; then PASSED+=("$name"); else VIOLATIONS+=("$name"); fi
}
violation() { echo "$1: VIOLATION $2"; VIOLATIONS+=("$1"); }
dump_orders() { sql "SELECT id, checkout_session_id FROM orders" >"$WORK/orders.csv"; }
wait_confirmations() { # NAME: waits for an empty outbox backlog, then checks the receiver
  local name=$1 limit=$((LEASE_SECS + 30)) pending=-1
  for _ in $(seq $((limit * 5))); do
    pending=$(sql "SELECT count(*) FROM outbox WHERE status <> 'DELIVERED'" 2>/dev/null || echo -1)
    [ "$pending" = 0 ] && break
    sleep 0.2
  done
  sql "SELECT id FROM outbox WHERE event_type = 'ORDER_CONFIRMATION'" >"$WORK/events.csv"
  [ "$pending" = 0 ] || violation "$name" "$pending outbox events still undelivered after ${limit}s"
  check "$name" confirmed "$WORK/keys.txt" "$WORK/events.csv" "$name"
}

echo "== building" >&2
# STRESS_PROFILE=debug reuses the debug binaries `cargo test` already built (CI); the
# checks are about correctness, so the slower build changes figures, not verdicts.
if [ "${STRESS_PROFILE:-release}" = debug ]; then
  cargo build --workspace --bins >&2 || { echo "STRESS FAIL: build failed"; exit 1; }
  BIN=$ROOT/target/debug
else
  cargo build --release --workspace --bins >&2 || { echo "STRESS FAIL: build failed"; exit 1; }
  BIN=$ROOT/target/release
fi
ensure_pg_up || { echo "STRESS FAIL: PostgreSQL not running"; exit 1; }
psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB" >/dev/null || { echo "STRESS FAIL: cannot create database"; exit 1; }

STUB_PORT=$(free_port) NOTIFY_PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" 2>/dev/null & PIDS+=($!)
python3 bench/fake_notify.py "$NOTIFY_PORT" "$WORK/keys.txt" & PIDS+=($!)
wait_http "http://127.0.0.1:$STUB_PORT/health" && wait_http "http://127.0.0.1:$NOTIFY_PORT/health" \
  || { echo "STRESS FAIL: helpers did not start"; exit 1; }

declare -a PORTS INSTANCE_PIDS
# OUTBOX_CPU_PRESSURE_LIMIT=0: the checks wait a bounded time for every confirmation, and
# paced delivery would make that wait depend on what else the machine is running (pacing
# has tests of its own).
start_instance() { # INDEX
  local port
  port=$(free_port)
  PORT=$port HOST=127.0.0.1 DATABASE_URL="$PG_URL/$DB" CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" \
    NOTIFICATION_SERVICE_URL="http://127.0.0.1:$NOTIFY_PORT" AUTH_DISABLED=true \
    OUTBOX_LEASE_SECS=$LEASE_SECS OUTBOX_POLL_MS=200 OUTBOX_RETRY_BASE_MS=200 \
    OUTBOX_CPU_PRESSURE_LIMIT=0 "$BIN/order-service" >"$WORK/instance-$1.log" 2>&1 &
  INSTANCE_PIDS[$1]=$!
  PIDS+=($!)
  PORTS[$1]=$port
}
for i in 0 1 2; do start_instance $i; done
for i in 0 1 2; do
  wait_http "http://127.0.0.1:${PORTS[$i]}/health/ready" || { echo "STRESS FAIL: instance $i did not start"; exit 1; }
done
url() { echo "http://127.0.0.1:${PORTS[$1]}"; }
ALL="$(url 0),$(url 1),$(url 2)"

echo "== 1. the same $SESSIONS sessions to three instances at once" >&2
python3 bench/stress_client.py same --instances "$ALL" --sessions "$SESSIONS" --out "$WORK/same.jsonl"
dump_orders
check same-sessions same "$WORK/same.jsonl" "$WORK/orders.csv"
doubles=$(sql "SELECT count(*) FROM (SELECT checkout_session_id FROM orders GROUP BY 1 HAVING count(*) > 1) d")
[ "$doubles" = 0 ] && PASSED+=(sql-unique) || violation sql-unique "$doubles sessions with more than one order"
echo "sql-unique: $doubles sessions with more than one order"

echo "== 2. SIGKILL of instance 1 after ${KILL_AT}s of a ${LOAD_SECS}s load" >&2
python3 bench/stress_client.py load --instances "$ALL" --seconds "$LOAD_SECS" --workers "$WORKERS" --out "$WORK/kill.jsonl" &
client=$!
sleep "$KILL_AT"
kill -9 "${INSTANCE_PIDS[1]}"
echo "killed instance 1 (pid ${INSTANCE_PIDS[1]})" >&2
wait $client
dump_orders
check sigkill-acked acked "$WORK/kill.jsonl" "$WORK/orders.csv" sigkill-acked
wait_confirmations sigkill-confirmed

echo "== 3. PostgreSQL restart after ${RESTART_AT}s of a ${RESTART_LOAD_SECS}s load on the survivors" >&2
SURVIVORS="$(url 0),$(url 2)"
python3 bench/stress_client.py load --instances "$SURVIVORS" --seconds "$RESTART_LOAD_SECS" --workers "$WORKERS" \
  --out "$WORK/restart.jsonl" &
client=$!
( while kill -0 $client 2>/dev/null; do
    code=$(curl -s -o /dev/null -m 4 -w '%{http_code}' "$(url 0)/health/ready")
    echo "$(date +%s.%N) $code"
    sleep 0.1
  done ) >"$WORK/ready.log" &
poller=$!
( while kill -0 $client 2>/dev/null; do
    pg_isready -h 127.0.0.1 -q -t 1; rc=$?
    echo "$(date +%s.%N) $rc"
    sleep 0.05
  done ) >"$WORK/pg.log" &
pg_poller=$!
sleep "$RESTART_AT"
restart_begin=$(date +%s.%N)
pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" main restart >&2 || true
ensure_pg_up
pg_back=$(date +%s.%N)
echo "PostgreSQL restarted in $(python3 -c "print(round($pg_back - $restart_begin, 1))") s" >&2
wait $client
wait $poller $pg_poller 2>/dev/null
dump_orders
check restart-acked acked "$WORK/restart.jsonl" "$WORK/orders.csv" restart-acked
check restart-answers statuses "$WORK/restart.jsonl" 200,201,500,502,503,504 restart-answers
# Recovery: the first acknowledged create answered after PostgreSQL was back.
# Readiness must always answer (within its 2 s budget) and never 200 while PostgreSQL
# refuses connections (pg_isready sampled every 50 ms; 0.3 s margins at both ends).
read -r saw_5xx readiness down_secs down_codes recovery < <(python3 - "$WORK/restart.jsonl" "$WORK/ready.log" "$WORK/pg.log" "$pg_back" <<'EOF'
import collections, json, sys
res = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ready = [(float(t), code) for t, code in (l.split() for l in open(sys.argv[2]) if l.strip())]
pg = [(float(t), rc == "0") for t, rc in (l.split() for l in open(sys.argv[3]) if l.strip())]
pg_back = float(sys.argv[4])
down, start = [], None
for t, up in pg:
    if not up and start is None:
        start = t
    if up and start is not None:
        down.append((start, t)); start = None
inside = lambda t: any(a + 0.3 < t < b - 0.3 for a, b in down)
back = down[-1][1] if down else pg_back  # when pg_isready first answered again
after = [r["t"] - back for r in res if r["t"] >= back and r["status"] in (200, 201)]
fmt = lambda c: ",".join(f"{k}x{n}" for k, n in sorted(c.items())) or "none"
print(sum(1 for r in res if r["status"] >= 500), fmt(collections.Counter(c for _, c in ready)),
      round(sum(b - a for a, b in down), 2), fmt(collections.Counter(c for t, c in ready if inside(t))),
      round(min(after), 2) if after else -1)
EOF
)
echo "restart-observed: PostgreSQL refused connections for ${down_secs}s; $saw_5xx creates answered 5xx; readiness answers (status x count): $readiness; during the outage: $down_codes"
if [[ "$readiness" == *000x* ]]; then
  violation restart-readiness "readiness did not answer within 4 s ($readiness)"
elif [[ "$down_codes" == *200x* ]]; then
  violation restart-readiness "readiness answered 200 while PostgreSQL refused connections ($down_codes)"
else
  echo "restart-readiness: ok — readiness always answered, and 503 whenever PostgreSQL was down"; PASSED+=(restart-readiness)
fi
if python3 -c "import sys; sys.exit(0 if 0 <= $recovery <= $RECOVERY_LIMIT_SECS else 1)"; then
  PASSED+=(restart-recovered)
  echo "restart-recovered: ok — first order acknowledged ${recovery}s after PostgreSQL accepted connections again, no service restart"
else
  violation restart-recovered "no order acknowledged within ${RECOVERY_LIMIT_SECS}s after PostgreSQL came back (${recovery})"
fi
wait_confirmations restart-confirmed

ensure_pg_up
elapsed=$(( $(date +%s) - started ))
if [ ${#VIOLATIONS[@]} = 0 ]; then
  echo "STRESS PASS: ${#PASSED[@]} checks passed (${PASSED[*]}) in ${elapsed}s"
  exit 0
fi
echo "STRESS FAIL: ${#VIOLATIONS[@]} violations (${VIOLATIONS[*]}); ${#PASSED[@]} checks passed, ${elapsed}s"
exit 1
