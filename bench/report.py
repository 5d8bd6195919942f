"""Turns bench/run.sh's results.jsonl into the Markdown tables of BENCHMARKS.md."""

import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
machine = next((r for r in rows if r.get("kind") == "machine"), {})


def find(kind, backend=None, c=None):
    for r in rows:
        if r.get("kind") == kind and (backend is None or r.get("backend") == backend) and (
            c is None or r.get("concurrency") == c
        ):
            return r
    return None


def ms(r, key):
    return f"{r[key]:.2f}" if r else "–"


def rate(r):
    return f"{r['rps']:,.0f}" if r else "–"


def cpu(r):
    v = r.get("cpu_us_per_request") if r else None
    return f"{v:,}" if v is not None else "–"


def ratio(a, b):
    return f"{100 * a['rps'] / b['rps']:.0f}%" if a and b and b["rps"] else "–"


def errors(r):
    bad = sum(n for s, n in r.get("statuses", {}).items() if not s.startswith("2"))
    return f" ({bad} errors)" if bad else ""


backends = [b for b in ("sqlite", "postgres") if find("create", b)]
levels = sorted({r["concurrency"] for r in rows if r.get("kind") == "create"})

print(f"Machine: {machine.get('nproc')} × {machine.get('cpu')}, load {machine.get('load1')} at start, "
      f"one 8 kB fdatasync {machine.get('fdatasync_per_s', '?')}/s (pg_test_fsync), "
      f"{machine.get('duration_s')} s per point, commit {machine.get('git')}, service binary {machine.get('service')}.")
if machine.get("pinned"):
    print("Cores pinned (run.sh --pin): the service alone on CPU 0; load generator, stub Checkout Service, "
          "pgbench, sqlite-ceiling and PostgreSQL on CPU 1.\n")
else:
    print("Cores not pinned: the service, the load generator, the stub and PostgreSQL share all CPUs.\n")
print("### The service\n")
print("| backend | conc. | create orders/s | p50 ms | p95 ms | p99 ms | CPU µs/order | "
      "GET /orders/{id} req/s | p50 ms | p99 ms | CPU µs/read | load |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for b in backends:
    for c in levels:
        cr, g = find("create", b, c), find("get", b, c)
        print(f"| {b} | {c} | {rate(cr)}{errors(cr) if cr else ''} | {ms(cr, 'p50_ms')} | {ms(cr, 'p95_ms')} | "
              f"{ms(cr, 'p99_ms')} | {cpu(cr)} | {rate(g)}{errors(g) if g else ''} | {ms(g, 'p50_ms')} | "
              f"{ms(g, 'p99_ms')} | {cpu(g)} | {cr['load1'] if cr else '–'} |")
print("\nCPU µs: user+system time of the service process over the measured window "
      "(/proc/PID/stat) divided by the requests answered.")
print()
# The targets were set on a machine where this trivial handler cost 11 µs of CPU per
# request: 60 µs per read, 150 µs per order on PostgreSQL, 200 on SQLite. The same multiples
# of the trivial handler measured here carry them over to this machine.
REFERENCE_TRIVIAL_US = 11
TARGETS = {("get", "sqlite"): 60, ("get", "postgres"): 60, ("create", "sqlite"): 200, ("create", "postgres"): 150}
trivial = [find("trivial-http", None, c) for c in levels]
trivial = [t for t in trivial if t and t.get("cpu_us_per_request")]
if trivial:
    print("CPU per request in multiples of this machine's bare HTTP exchange (the trivial axum handler "
          "under the same load generator, its CPU per request in the same run), beside the issue's targets "
          f"in the same multiples (set where that handler cost {REFERENCE_TRIVIAL_US} µs):\n")
    print("| backend | request | conc. | trivial handler µs/req | service µs/req | service / trivial | "
          "target (× trivial) | target scaled to this machine, µs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for b in backends:
        for kind in ("get", "create"):
            for c in levels:
                r, t = find(kind, b, c), find("trivial-http", None, c)
                if not (r and t and r.get("cpu_us_per_request") and t.get("cpu_us_per_request")):
                    continue
                unit = t["cpu_us_per_request"]
                goal = TARGETS[(kind, b)] / REFERENCE_TRIVIAL_US
                print(f"| {b} | {kind} | {c} | {unit} | {cpu(r)} | {r['cpu_us_per_request'] / unit:.1f} | "
                      f"{goal:.1f} | {goal * unit:,.0f} |")
    print()
print("Reads against the database's own ceiling (PostgreSQL: the same order+items-by-id "
      "statement run by pgbench -M prepared, no HTTP):\n")
print("| backend | conc. | service GET req/s | CPU µs/read | pgbench read ceiling/s | service / ceiling |")
print("|---|---:|---:|---:|---:|---:|")
for c in levels:
    g, top = find("get", "postgres", c), find("read-ceiling", "postgres", c)
    if g and top:
        print(f"| postgres | {c} | {rate(g)} | {cpu(g)} | {rate(top)} (p99 {ms(top, 'p99_ms')}) | {ratio(g, top)} |")
print()
print("Open loop at half the peak create rate (latency from the scheduled send time):\n")
print("| backend | offered orders/s | achieved | p50 ms | p95 ms | p99 ms | CPU µs/order |")
print("|---|---:|---:|---:|---:|---:|---:|")
for b in backends:
    h = find("create-half-peak", b)
    if h:
        print(f"| {b} | {h['rate']:,.0f} | {rate(h)}{errors(h)} | {ms(h, 'p50_ms')} | {ms(h, 'p95_ms')} | "
              f"{ms(h, 'p99_ms')} | {cpu(h)} |")
print()
print("### Ceilings measured in the same run, and the service as a share of each\n")
print("| backend | conc. | service | DB ceiling A: BEGIN, 4 INSERTs, COMMIT per order | service / A | "
      "DB ceiling B: PG one statement per order, SQLite group commit | service / B | trivial axum handler | service / HTTP |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for b in backends:
    for c in levels:
        s = find("create", b, c)
        db = find("ceiling", b, c)
        one = find("ceiling-one-statement", b, c) or find("ceiling-group", b, c)
        t = find("trivial-http", None, c)
        one_text = f"{rate(one)} (p99 {ms(one, 'p99_ms')})" if one else "–"
        print(f"| {b} | {c} | {rate(s)} | {rate(db)} (p99 {ms(db, 'p99_ms')}) | {ratio(s, db)} | "
              f"{one_text} | {ratio(s, one)} | {rate(t)} | {ratio(s, t)} |")
print("\nA is the per-order transaction the service shipped with; B is the write path it uses now "
      "(PostgreSQL: the whole order in one INSERT … WITH statement, one round trip; SQLite: the orders "
      "queued meanwhile committed together, up to 32 per transaction). Latency of a ceiling is per order.")
print()
print("### Stub Checkout Service on its own (GET a session, same load generator)\n")
print("| conc. | req/s | p50 ms | p99 ms | trivial handler req/s | its CPU µs/req |")
print("|---:|---:|---:|---:|---:|---:|")
for c in levels:
    st, t = find("stub-checkout", None, c), find("trivial-http", None, c)
    print(f"| {c} | {rate(st)} | {ms(st, 'p50_ms')} | {ms(st, 'p99_ms')} | {rate(t)} | {cpu(t)} |")
