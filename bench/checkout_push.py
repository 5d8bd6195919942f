#!/usr/bin/env python3
"""Contracts §8 costs, with the real binaries on SQLite (standard library only).

1. Push path: checkout-service with ORDER_WEBHOOK_URL → order-service. Sessions are
   completed one at a time (paced, so the figure is the delay, not a queue), nobody calls
   POST /api/v1/orders/checkout, and for each the delay is the order's createdAt minus the
   session's completedAt (both clocks are this machine's). Reports p50/p99/max.
2. Sweep cost: checkout-service without a webhook holds N completed sessions;
   `order-service reconcile --since` on an empty database creates their orders; reports
   sessions reconciled per second (wall time of the command, start-up included) and the
   same for a second pass that finds every order already there.

Usage: bench/checkout_push.py [--push N] [--sweep N] [--bin target/release]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone

SECRET = "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdGhyZWUtYnl0ZXMh"
CART = {
    "userId": "user-bench", "email": "ada@example.com", "currency": "USD",
    "items": [{"productId": "prod-1", "name": "Espresso cup", "price": "45.99", "quantity": 2}],
    "shippingAddress": {"street": "1 Main St", "city": "Anytown", "state": "CA",
                        "country": "US", "postalCode": "12345"},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def start(binary, env, port, ready, log):
    full = {"PATH": os.environ.get("PATH", ""), "HOST": "127.0.0.1", "PORT": str(port),
            "LOG_FORMAT": "text", "RUST_LOG": "warn", **env}
    process = subprocess.Popen([binary], env=full, stdout=log, stderr=log)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=1)
            return process
        except Exception:
            time.sleep(0.05)
    process.kill()
    sys.exit(f"{binary} did not become ready")


def completed_session(checkout):
    session = call("POST", f"{checkout}/api/v1/checkout/session", CART)
    done = call("POST", f"{checkout}/api/v1/checkout/session/{session['id']}/complete",
                {"paymentIntentId": "pi_bench"})
    return done


def parse(ts):
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def all_orders(base):
    orders, cursor = {}, None
    while True:
        url = f"{base}/api/v1/orders?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = call("GET", url)
        for order in page["items"]:
            orders[order["checkoutSessionId"]] = order
        cursor = page.get("nextCursor")
        if not cursor:
            return orders


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def push_path(bins, n, workdir, log):
    checkout_port, order_port = free_port(), free_port()
    checkout = f"http://127.0.0.1:{checkout_port}"
    orders_url = f"http://127.0.0.1:{order_port}"
    processes = [
        start(f"{bins}/order-service", {
            "DATABASE_URL": f"sqlite://{workdir}/push-orders.db",
            "CHECKOUT_SERVICE_URL": checkout, "CHECKOUT_WEBHOOK_SECRET": SECRET,
            "AUTH_DISABLED": "true"}, order_port, "/health/ready", log),
        start(f"{bins}/checkout-service", {
            "DATABASE_URL": f"sqlite://{workdir}/push-checkout.db",
            "ORDER_WEBHOOK_URL": orders_url, "ORDER_WEBHOOK_SECRET": SECRET},
            checkout_port, "/health", log),
    ]
    try:
        completed = {}
        for _ in range(n):
            done = completed_session(checkout)
            completed[done["id"]] = parse(done["completedAt"])
            time.sleep(0.02)
        deadline = time.time() + 30
        while True:
            orders = all_orders(orders_url)
            if all(s in orders for s in completed) or time.time() > deadline:
                break
            time.sleep(0.2)
        missing = [s for s in completed if s not in orders]
        delays = [(parse(orders[s]["createdAt"]) - at).total_seconds() * 1000
                  for s, at in completed.items() if s in orders]
        return {"sessions": n, "missing": len(missing),
                "p50_ms": round(percentile(delays, 50), 1),
                "p99_ms": round(percentile(delays, 99), 1),
                "max_ms": round(max(delays), 1)}
    finally:
        for p in processes:
            p.terminate()
            p.wait()


def sweep_cost(bins, n, workdir, log):
    checkout_port = free_port()
    checkout = f"http://127.0.0.1:{checkout_port}"
    process = start(f"{bins}/checkout-service",
                    {"DATABASE_URL": f"sqlite://{workdir}/sweep-checkout.db"},
                    checkout_port, "/health", log)
    try:
        for _ in range(n):
            completed_session(checkout)
        since = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
        env = {"PATH": os.environ.get("PATH", ""), "RUST_LOG": "warn",
               "DATABASE_URL": f"sqlite://{workdir}/sweep-orders.db",
               "CHECKOUT_SERVICE_URL": checkout, "AUTH_DISABLED": "true"}
        # Migrations first, so the timed passes measure the sweep, not the schema.
        subprocess.run([f"{bins}/order-service", "migrate"], env=env, check=True,
                       stdout=log, stderr=log)
        results = {}
        for name in ("creating", "already_there"):
            started = time.perf_counter()
            out = subprocess.run([f"{bins}/order-service", "reconcile", "--since", since],
                                 env=env, check=True, capture_output=True, text=True)
            took = time.perf_counter() - started
            results[name] = {"seconds": round(took, 2),
                             "sessions_per_s": round(n / took, 1),
                             "output": out.stdout.strip()}
        return {"sessions": n, **results}
    finally:
        process.terminate()
        process.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--push", type=int, default=300)
    parser.add_argument("--sweep", type=int, default=2000)
    parser.add_argument("--bin", default="target/release")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, \
            open(os.path.join(workdir, "services.log"), "wb") as log:
        report = {"push": push_path(args.bin, args.push, workdir, log),
                  "sweep": sweep_cost(args.bin, args.sweep, workdir, log)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
