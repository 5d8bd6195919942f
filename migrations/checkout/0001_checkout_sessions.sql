-- Checkout sessions of the reference Checkout Service and their cart lines.
-- Money is integer minor units (cents); times are Unix milliseconds (UTC) so that
-- expiry is a plain integer comparison; addresses are JSON text.

CREATE TABLE checkout_sessions (
    id                TEXT PRIMARY KEY NOT NULL,
    user_id           TEXT NOT NULL,
    email             TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('PENDING', 'COMPLETED', 'EXPIRED')),
    currency          TEXT NOT NULL,
    cart_id           TEXT NOT NULL,
    subtotal_minor    INTEGER NOT NULL CHECK (subtotal_minor >= 0),
    shipping_minor    INTEGER NOT NULL CHECK (shipping_minor >= 0),
    tax_minor         INTEGER NOT NULL CHECK (tax_minor >= 0),
    discount_minor    INTEGER NOT NULL CHECK (discount_minor >= 0),
    total_minor       INTEGER NOT NULL CHECK (total_minor >= 0),
    shipping_address  TEXT NOT NULL,
    -- NULL: bill to the shipping address.
    billing_address   TEXT,
    payment_intent_id TEXT,
    created_at_ms     INTEGER NOT NULL,
    completed_at_ms   INTEGER,
    expires_at_ms     INTEGER NOT NULL,
    CHECK ((status = 'COMPLETED') = (payment_intent_id IS NOT NULL AND completed_at_ms IS NOT NULL))
);

CREATE TABLE checkout_session_items (
    session_id  TEXT NOT NULL REFERENCES checkout_sessions (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    product_id  TEXT NOT NULL,
    name        TEXT,
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    quantity    INTEGER NOT NULL CHECK (quantity >= 1),
    PRIMARY KEY (session_id, position)
);
