"""HTTP client of bench/stress.sh. Records every create as one JSON line:
{"session", "instance", "status" (0 = no answer), "order" (id or null), "t" (Unix time of the answer)}.

  same  --instances URL,URL,.. --sessions N --out FILE
        every session is posted to every instance at the same moment (a barrier per session)
  load  --instances URL,URL,.. --seconds S --workers W --out FILE
        W workers send fresh sessions round-robin over the instances for S seconds
"""

import argparse
import http.client
import json
import threading
import time
import urllib.parse
import uuid

OUT_LOCK = threading.Lock()


class Instance:
    """One keep-alive connection per thread and instance; reconnects after any error."""

    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.url, self.host, self.port = url, parsed.hostname, parsed.port
        self.local = threading.local()

    def create(self, session):
        body = json.dumps({"checkoutSessionId": session})
        for _ in range(2):
            conn = getattr(self.local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
            try:
                conn.request("POST", "/api/v1/orders/checkout", body, {"content-type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                order = json.loads(data).get("id") if response.status in (200, 201) else None
                return response.status, order
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()
                self.local.conn = None
                # A stale keep-alive connection gets one retry on a fresh one (the same
                # session again is idempotent); a fresh connection failing means no answer.
                if not reused:
                    return 0, None
        return 0, None


def record(out, session, instance, status, order):
    line = json.dumps({"session": session, "instance": instance.url, "status": status, "order": order,
                       "t": round(time.time(), 3)})
    with OUT_LOCK:
        out.write(line + "\n")


def same(args, instances, out):
    sessions = [str(uuid.uuid4()) for _ in range(args.sessions)]
    groups = args.groups

    def member(group, instance):
        for i in range(group, len(sessions), groups):
            barriers[group].wait()
            status, order = instance.create(sessions[i])
            record(out, sessions[i], instance, status, order)

    barriers = [threading.Barrier(len(instances)) for _ in range(groups)]
    threads = [threading.Thread(target=member, args=(g, inst)) for g in range(groups) for inst in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def load(args, instances, out):
    stop_at = time.monotonic() + args.seconds

    def worker(n):
        i = n
        while time.monotonic() < stop_at:
            instance = instances[i % len(instances)]
            i += 1
            session = str(uuid.uuid4())
            status, order = instance.create(session)
            record(out, session, instance, status, order)
            if status == 0:
                time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["same", "load"])
    parser.add_argument("--instances", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    instances = [Instance(u) for u in args.instances.split(",")]
    with open(args.out, "a", buffering=1) as out:
        (same if args.mode == "same" else load)(args, instances, out)


if __name__ == "__main__":
    main()
