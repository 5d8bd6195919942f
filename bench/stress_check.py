"""Checks of bench/stress.sh. Each prints one line and exits 1 on a violation.

  same      RESULTS ORDERS   every session posted to every instance: all answers 200/201,
                             exactly one 201, one order id, stored for that session
  acked     RESULTS ORDERS   every order acknowledged (200/201) is stored for its session,
                             no session acknowledged with two order ids; counts the rest
  statuses  RESULTS ALLOWED  every answer's status is in ALLOWED (comma-separated; 0 = none)
  confirmed KEYS EVENTS      every confirmation event id was received by the fake
                             Notification service (duplicates are allowed and counted)

ORDERS is `psql -At -F,` output of `SELECT id, checkout_session_id FROM orders`;
EVENTS of `SELECT id FROM outbox WHERE event_type = 'ORDER_CONFIRMATION'`.
"""

import collections
import json
import sys


def results(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def orders(path):
    stored = {}
    for line in open(path):
        if line.strip():
            order, session = line.strip().split(",")
            stored[order] = session
    return stored


def fail(name, message):
    print(f"{name}: VIOLATION {message}")
    sys.exit(1)


def check_same(res, stored):
    by_session = collections.defaultdict(list)
    for r in res:
        by_session[r["session"]].append(r)
    problems = []
    for session, answers in by_session.items():
        statuses = sorted(a["status"] for a in answers)
        ids = {a["order"] for a in answers}
        if any(s not in (200, 201) for s in statuses) or statuses.count(201) != 1 or len(ids) != 1:
            problems.append(f"{session}: statuses {statuses}, order ids {sorted(map(str, ids))}")
        elif stored.get(ids.pop()) != session:
            problems.append(f"{session}: acknowledged order not stored for it")
    stored_sessions = collections.Counter(stored.values())
    doubles = [s for s, n in stored_sessions.items() if n > 1]
    if problems or doubles:
        fail("same-sessions", f"{len(problems)} sessions wrong, {len(doubles)} with two orders; first: {(problems + doubles)[:3]}")
    print(f"same-sessions: ok — {len(by_session)} sessions × {len(res) // max(len(by_session), 1)} instances, "
          f"exactly one 201 and one order each, {len(stored)} orders stored")


def check_acked(res, stored, name):
    acked = [r for r in res if r["status"] in (200, 201)]
    lost = [r for r in acked if stored.get(r["order"]) != r["session"]]
    ids = collections.defaultdict(set)
    for r in acked:
        ids[r["session"]].add(r["order"])
    doubled = [s for s, i in ids.items() if len(i) > 1]
    statuses = collections.Counter(str(r["status"]) for r in res)
    if lost or doubled:
        fail(name, f"{len(lost)} acknowledged orders missing, {len(doubled)} sessions with two orders; first: {(lost + doubled)[:3]}")
    print(f"{name}: ok — {len(acked)} acknowledged orders all stored, none doubled; answers {dict(statuses)}")


def check_statuses(res, allowed, name):
    allowed = {int(s) for s in allowed.split(",")}
    bad = collections.Counter(r["status"] for r in res if r["status"] not in allowed)
    if bad:
        fail(name, f"unexpected answers {dict(bad)}")
    print(f"{name}: ok — every answer in {sorted(allowed)}")


def check_confirmed(keys_path, events_path, name):
    received = collections.Counter(line.strip() for line in open(keys_path) if line.strip())
    events = [line.strip() for line in open(events_path) if line.strip()]
    missing = [e for e in events if e not in received]
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    if missing:
        fail(name, f"{len(missing)} of {len(events)} confirmations never arrived; first: {missing[:3]}")
    print(f"{name}: ok — all {len(events)} confirmations arrived ({duplicates} duplicate deliveries, "
          f"dropped by Idempotency-Key)")


if __name__ == "__main__":
    mode = sys.argv[1]
    name = sys.argv[4] if len(sys.argv) > 4 else mode
    if mode == "same":
        check_same(results(sys.argv[2]), orders(sys.argv[3]))
    elif mode == "acked":
        check_acked(results(sys.argv[2]), orders(sys.argv[3]), name)
    elif mode == "statuses":
        check_statuses(results(sys.argv[2]), sys.argv[3], name)
    elif mode == "confirmed":
        check_confirmed(sys.argv[2], sys.argv[3], name)
    else:
        sys.exit(f"unknown check {mode}")
