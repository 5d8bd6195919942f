-- When an operator last requeued the event (retry or replay): the age limit of its
-- delivery (OUTBOX_GIVE_UP_HOURS) counts from then, not from its creation. NULL: never.
ALTER TABLE outbox ADD COLUMN requeued_at TIMESTAMPTZ;
