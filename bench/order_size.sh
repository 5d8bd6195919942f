#!/usr/bin/env bash
# How many bytes an order takes on disk, on both backends: creates orders for a few
# seconds (no Notification URL, so every confirmation stays in the outbox, as on a
# service that has none configured), stops the service, and divides the growth of the
# database by the number of orders. SQLite: the file after the WAL is checkpointed on
# shutdown; PostgreSQL: pg_database_size. Then SQLite's bytes per table and index (dbstat).
#
# Usage: bench/order_size.sh [SECONDS]   (uses target/debug binaries; builds them)
# Env: PG_URL (default postgres://postgres@127.0.0.1:5432); unset SKIP_PG=1 to include it.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SECS=${1:-5}
cargo build -q --bin order-service && cargo build -q -p order-service-bench --bin stub-checkout --bin loadgen
BIN=target/debug
scratch_space
DB=order_size_$$

STUB_PORT=$(free_port)
PORT=$STUB_PORT "$BIN/stub-checkout" >/dev/null 2>&1 &
PIDS+=($!)

measure() { # BACKEND URL SIZE-COMMAND COUNT-COMMAND
  local backend=$1 url=$2 port pid before after orders
  port=$(free_port)
  PORT=$port HOST=127.0.0.1 DATABASE_URL=$url CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" \
    AUTH_DISABLED=true "$BIN/order-service" >/dev/null 2>&1 &
  pid=$!
  wait_http "http://127.0.0.1:$port/health/ready"
  kill -TERM $pid; wait $pid || true
  before=$($3)
  PORT=$port HOST=127.0.0.1 DATABASE_URL=$url CHECKOUT_SERVICE_URL="http://127.0.0.1:$STUB_PORT" \
    AUTH_DISABLED=true "$BIN/order-service" >/dev/null 2>&1 &
  pid=$!
  wait_http "http://127.0.0.1:$port/health/ready"
  "$BIN/loadgen" --url "http://127.0.0.1:$port" --method POST --path /api/v1/orders/checkout \
    --body '{"checkoutSessionId":"{uuid}"}' --concurrency 8 --duration "$SECS" --warmup 0 >/dev/null
  kill -TERM $pid; wait $pid || true
  after=$($3)
  orders=$($4)
  echo "$backend: $orders orders, database $before -> $after bytes: $(( (after - before) / orders )) bytes per order"
}

sqlite_size() { sqlite3 "$WORK/orders.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null; stat -c %s "$WORK/orders.db"; }
sqlite_count() { sqlite3 "$WORK/orders.db" 'SELECT count(*) FROM orders'; }
measure sqlite "sqlite://$WORK/orders.db" sqlite_size sqlite_count
# Where the bytes go: pages per table and index (SQLite's dbstat virtual table).
sqlite3 -header -column "$WORK/orders.db" "SELECT name, count(*) AS pages, sum(pgsize) AS bytes,
  round(100.0 * sum(pgsize - unused) / sum(pgsize)) AS pct_used,
  round(sum(pgsize) * 1.0 / (SELECT count(*) FROM orders), 1) AS bytes_per_order
  FROM dbstat GROUP BY name HAVING count(*) > 1 ORDER BY bytes DESC" || echo "(no dbstat in this sqlite3)"

if [ -z "${SKIP_PG:-}" ]; then
  psql -q "$PG_URL/postgres" -c "CREATE DATABASE $DB" >/dev/null
  DBS+=("$DB")
  pg_size() { psql -At "$PG_URL/$DB" -c "SELECT pg_database_size(current_database())"; }
  pg_count() { psql -At "$PG_URL/$DB" -c "SELECT count(*) FROM orders"; }
  measure postgres "$PG_URL/$DB" pg_size pg_count
fi
