#!/usr/bin/env python3
"""How long one durable commit's disk flush takes on this machine, as a distribution.

Every acknowledged order waits for at least one flush (PostgreSQL's WAL flush with
synchronous_commit on; SQLite's fsync of its WAL with synchronous=FULL), so the flush's
tail is a floor under the open-loop p99 of order creation that no service code removes.
This writes 8 KiB at the end of a file and calls fdatasync, again and again, for
--seconds (one thread: like one commit at a time), and prints one JSON line: flushes per
second and latency percentiles in ms. `pg_test_fsync` gives the mean; this the tail.

Usage: bench/fsync_latency.py [--dir DIR] [--seconds S]   (DIR: default a temp dir under /tmp)
"""
import argparse, json, os, tempfile, time

parser = argparse.ArgumentParser()
parser.add_argument("--dir", default=None)
parser.add_argument("--seconds", type=float, default=10.0)
args = parser.parse_args()

with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
    path = os.path.join(scratch, "flush.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    block = os.urandom(8192)
    latencies = []
    offset = 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        os.pwrite(fd, block, offset)
        offset = (offset + len(block)) % (64 << 20)  # a 64 MiB file, reused like a WAL
        start = time.perf_counter()
        os.fdatasync(fd)
        latencies.append(time.perf_counter() - start)
    os.close(fd)

latencies.sort()
def pct(p):
    return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e3, 3)
print(json.dumps({
    "flushes": len(latencies),
    "per_s": round(len(latencies) / args.seconds),
    "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "p999_ms": pct(99.9),
    "max_ms": round(latencies[-1] * 1e3, 3),
    "dir": args.dir or tempfile.gettempdir(),
}))
