-- Orders, their items, their history, and the transactional outbox.
-- Money is integer minor units (cents); the domain converts to exact decimals.

CREATE TABLE orders (
    id                  UUID PRIMARY KEY,
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    user_id             TEXT NOT NULL,
    email               TEXT,
    checkout_session_id UUID NOT NULL,
    payment_intent_id   TEXT,
    status              TEXT NOT NULL,
    currency            TEXT NOT NULL,
    subtotal_minor      BIGINT NOT NULL CHECK (subtotal_minor >= 0),
    shipping_minor      BIGINT NOT NULL CHECK (shipping_minor >= 0),
    tax_minor           BIGINT NOT NULL CHECK (tax_minor >= 0),
    discount_minor      BIGINT NOT NULL CHECK (discount_minor >= 0),
    total_minor         BIGINT NOT NULL CHECK (total_minor >= 0),
    shipping_address    JSONB NOT NULL,
    billing_address     JSONB NOT NULL,
    tracking_number     TEXT,
    cancellation_reason TEXT,
    version             BIGINT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    -- One checkout session yields at most one order, whatever races above us.
    CONSTRAINT orders_checkout_session_unique UNIQUE (checkout_session_id)
);

CREATE INDEX orders_user_seq ON orders (user_id, seq DESC);
CREATE INDEX orders_status_seq ON orders (status, seq DESC);
CREATE INDEX orders_user_status_seq ON orders (user_id, status, seq DESC);

CREATE TABLE order_items (
    id          UUID PRIMARY KEY,
    order_id    UUID NOT NULL REFERENCES orders (id),
    position    INTEGER NOT NULL,
    product_id  TEXT NOT NULL,
    name        TEXT,
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    quantity    INTEGER NOT NULL CHECK (quantity >= 1),
    UNIQUE (order_id, position)
);

CREATE TABLE order_events (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        UUID NOT NULL REFERENCES orders (id),
    kind            TEXT NOT NULL,
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    actor           TEXT NOT NULL,
    reason          TEXT,
    tracking_number TEXT,
    version         BIGINT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    UNIQUE (order_id, version)
);

CREATE TABLE outbox (
    id              UUID PRIMARY KEY,
    event_type      TEXT NOT NULL,
    order_id        UUID NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'PENDING',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    locked_by       TEXT,
    locked_until    TIMESTAMPTZ,
    notified_at     TIMESTAMPTZ,
    published_at    TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);

CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX outbox_status_created ON outbox (status, created_at);
