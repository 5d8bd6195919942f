#!/usr/bin/env bash
# Schema-driven fuzzing of the running service with schemathesis (from PyPI), driven by
# the service's own /api-docs/openapi.json. Fails when any request makes the service
# answer 5xx (input from a client must never cause a server error); with --all it also
# applies every other schemathesis check (documented status codes, content types, ...).
#
#   bench/fuzz.sh [--all] [--examples N]      (uses target/debug binaries; builds them)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

checks="not_a_server_error"
examples=40
while [ $# -gt 0 ]; do
  case "$1" in
    --all) checks="all" ;;
    --examples) examples=$2; shift ;;
    *) echo "usage: $0 [--all] [--examples N]" >&2; exit 2 ;;
  esac
  shift
done

venv=target/fuzz-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'schemathesis>=4,<5'
fi
cargo build --quiet --bin order-service --bin checkout-service

work=$(mktemp -d)
pids=()
cleanup() { stop_pids "${pids[@]}"; rm -rf "$work"; }
trap cleanup EXIT

checkout_port=$(free_port)
order_port=$(free_port)
secret="fuzz-$(date +%s%N)"

(cd "$work" && PORT=$checkout_port HOST=127.0.0.1 exec "$OLDPWD/target/debug/checkout-service") >"$work/checkout.log" 2>&1 &
pids+=($!)
(cd "$work" && PORT=$order_port HOST=127.0.0.1 CHECKOUT_SERVICE_URL="http://127.0.0.1:$checkout_port" \
  JWT_SECRET="$secret" CHECKOUT_WEBHOOK_SECRET="webhook-$secret" RUST_LOG=warn exec "$OLDPWD/target/debug/order-service") >"$work/order.log" 2>&1 &
pids+=($!)
# (on a timeout schemathesis runs anyway and reports the connection errors)
wait_http "http://127.0.0.1:$order_port/health/ready" 10 && wait_http "http://127.0.0.1:$checkout_port/health" 10 || true

token=$(SECRET="$secret" python3 - <<'PY'
import base64, hashlib, hmac, json, os, time
b = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=")
h, p = b({"alg": "HS256", "typ": "JWT"}), b({"sub": "fuzz-admin", "roles": ["admin"], "exp": int(time.time()) + 3600})
s = base64.urlsafe_b64encode(hmac.new(os.environ["SECRET"].encode(), h + b"." + p, hashlib.sha256).digest()).rstrip(b"=")
print((h + b"." + p + b"." + s).decode())
PY
)

status=0
"$venv/bin/schemathesis" run "http://127.0.0.1:$order_port/api-docs/openapi.json" \
  -H "Authorization: Bearer $token" --checks "$checks" --max-examples "$examples" \
  --seed 20261129 || status=$?
if grep -q "panicked" "$work/order.log"; then
  echo "the service panicked during fuzzing:" >&2
  grep -A5 panicked "$work/order.log" >&2
  status=1
fi
exit $status
