-- Webhooks to the order service (contracts §6, §8), queued in the same transaction that
-- completes the session, so a completion is never left without its notice. Delivered
-- rows are kept for inspection; FAILED ones were refused for good (HTTP 400).

CREATE TABLE order_webhooks (
    id                 TEXT PRIMARY KEY NOT NULL,
    session_id         TEXT NOT NULL REFERENCES checkout_sessions (id),
    payload            TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    last_error         TEXT,
    created_at_ms      INTEGER NOT NULL,
    finished_at_ms     INTEGER
);

CREATE INDEX order_webhooks_due ON order_webhooks (next_attempt_at_ms) WHERE status = 'PENDING';

-- The reconciliation listing: completed sessions by completion time, then id.
CREATE INDEX checkout_sessions_completed ON checkout_sessions (completed_at_ms, id)
    WHERE status = 'COMPLETED';
