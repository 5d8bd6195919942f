-- An event's body is no longer stored: it is built from its order (replayed to the
-- event's sequence) when read, so the outbox row stops holding a second copy of the order
-- (about half the bytes of an order). Rows written before keep their stored body.
-- Also from here on, a billing address equal to the shipping address is stored as JSON
-- null (no schema change: the column stays NOT NULL and holds that JSON value).
ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;

-- Indexes that delivery no longer has to keep up to date:
-- * the lease token: claims and renewals find their events by id, so a claim changes no
--   index at all;
-- * the order's events: one index on columns that never change replaces two, one of which
--   lost an entry at every delivery;
-- * (status, created_at), rewritten at every delivery: partial indexes of the two statuses
--   that are looked up by age (the backlog's oldest event, the failed list, replays).
DROP INDEX outbox_lease_token;
DROP INDEX outbox_order_created;
DROP INDEX outbox_pending_order_sequence;
DROP INDEX outbox_status_created;
CREATE INDEX outbox_order_sequence ON outbox (order_id, sequence);
CREATE INDEX outbox_pending_created ON outbox (created_at) WHERE status = 'PENDING';
CREATE INDEX outbox_failed_created ON outbox (created_at, id) WHERE status = 'FAILED';
