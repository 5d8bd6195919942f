-- Contracts §8: which path created an order, and the reconciliation sweep's state.
ALTER TABLE order_events ADD COLUMN origin TEXT
    CHECK (origin IS NULL OR origin IN ('client', 'webhook', 'sweep'));

-- One row per sweep: how far it has handled completed sessions and which instance holds
-- it until when (database clock, so instances' clocks do not matter).
CREATE TABLE reconcile_sweeps (
    name        TEXT PRIMARY KEY,
    watermark   TIMESTAMPTZ,
    lease_owner TEXT,
    lease_until TIMESTAMPTZ
);

INSERT INTO reconcile_sweeps (name) VALUES ('checkout_sessions');
