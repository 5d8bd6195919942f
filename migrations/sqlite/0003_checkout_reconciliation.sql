-- Contracts §8: which path created an order, and the reconciliation sweep's state.
ALTER TABLE order_events ADD COLUMN origin TEXT
    CHECK (origin IS NULL OR origin IN ('client', 'webhook', 'sweep'));

-- One row per sweep: how far it has handled completed sessions (Unix ms of the last
-- handled completion) and which instance holds it until when.
CREATE TABLE reconcile_sweeps (
    name           TEXT PRIMARY KEY NOT NULL,
    watermark_ms   INTEGER,
    lease_owner    TEXT,
    lease_until_ms INTEGER
);

INSERT INTO reconcile_sweeps (name) VALUES ('checkout_sessions');
