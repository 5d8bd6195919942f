-- An event's body is no longer stored: it is built from its order (replayed to the
-- event's sequence) when read, so the outbox row stops holding a second copy of the order
-- (about half the bytes of an order). Rows written before keep their stored body.
-- Also from here on, a billing address equal to the shipping address is stored as JSON
-- null (no schema change: the column stays NOT NULL and holds that JSON value).
-- SQLite cannot drop a NOT NULL in place: the table is rebuilt, with its indexes.
CREATE TABLE outbox_rebuilt (
    id              BLOB PRIMARY KEY,
    event_type      TEXT NOT NULL,
    order_id        BLOB NOT NULL,
    sequence        INTEGER NOT NULL DEFAULT 1,
    payload         TEXT,
    status          TEXT NOT NULL DEFAULT 'PENDING',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_by       TEXT,
    locked_until    TEXT,
    lease_token     BLOB,
    notified_at     TEXT,
    published_at    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT,
    requeued_at     TEXT
);
INSERT INTO outbox_rebuilt (id, event_type, order_id, sequence, payload, status, attempts,
    next_attempt_at, locked_by, locked_until, lease_token, notified_at, published_at,
    last_error, created_at, delivered_at, requeued_at)
SELECT id, event_type, order_id, sequence, payload, status, attempts,
    next_attempt_at, locked_by, locked_until, lease_token, notified_at, published_at,
    last_error, created_at, delivered_at, requeued_at
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;

-- The indexes, fewer than before, so that delivery keeps fewer up to date:
-- * no index on the lease token: claims and renewals find their events by id, so a claim
--   changes no index at all;
-- * one index of an order's events, on columns that never change, replaces two, one of
--   which lost an entry at every delivery;
-- * instead of (status, created_at), rewritten at every delivery, partial indexes of the
--   two statuses looked up by age (the backlog's oldest event, the failed list, replays).
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX outbox_order_sequence ON outbox (order_id, sequence);
CREATE INDEX outbox_created ON outbox (created_at, id);
CREATE INDEX outbox_pending_created ON outbox (created_at) WHERE status = 'PENDING';
CREATE INDEX outbox_failed_created ON outbox (created_at, id) WHERE status = 'FAILED';
CREATE INDEX outbox_delivered_at ON outbox (delivered_at) WHERE status = 'DELIVERED';
