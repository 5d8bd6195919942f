-- Issue 10: fenced leases, per-order sequence, the attempt log.

-- The fencing token of the claim holding the event; completions must present it.
ALTER TABLE outbox ADD COLUMN lease_token BLOB;
-- The order's event number: 1 for the confirmation, then one per status change.
ALTER TABLE outbox ADD COLUMN sequence INTEGER NOT NULL DEFAULT 1;
UPDATE outbox SET sequence = numbered.n
FROM (SELECT id, row_number() OVER (PARTITION BY order_id ORDER BY created_at, id) AS n
      FROM outbox) AS numbered
WHERE outbox.id = numbered.id;

CREATE INDEX outbox_pending_order_sequence ON outbox (order_id, sequence) WHERE status = 'PENDING';
CREATE INDEX outbox_lease_token ON outbox (lease_token) WHERE lease_token IS NOT NULL;
CREATE INDEX outbox_created ON outbox (created_at, id);
CREATE INDEX outbox_order_created ON outbox (order_id, created_at, id);
CREATE INDEX outbox_delivered_at ON outbox (delivered_at) WHERE status = 'DELIVERED';

-- Every delivery attempt: when, how long, what the receiver answered, which instance.
CREATE TABLE outbox_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    BLOB NOT NULL,
    at          TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    instance    TEXT NOT NULL
);
CREATE INDEX outbox_attempts_event ON outbox_attempts (event_id, id);
