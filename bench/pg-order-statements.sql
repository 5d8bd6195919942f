-- The per-order write of the Order Service as shipped: one transaction of one statement
-- per table (order, items in one multi-row INSERT, order_events, outbox), each its own
-- round trip, like sqlx sends them. Run by bench/run.sh with pgbench -M prepared.
BEGIN;
INSERT INTO orders (id, user_id, email, checkout_session_id, payment_intent_id, status, currency, subtotal_minor, shipping_minor, tax_minor, discount_minor, total_minor, shipping_address, billing_address, version, created_at, updated_at) VALUES (gen_random_uuid(), 'bench-user', 'bench@example.com', gen_random_uuid(), 'pi_bench', 'PENDING', 'USD', 10048, 1200, 1947, 0, 13195, '{"street":"123 Main St","city":"Anytown","state":"CA","country":"US","postalCode":"12345"}', '{"street":"123 Main St","city":"Anytown","state":"CA","country":"US","postalCode":"12345"}', 1, now(), now()) ON CONFLICT (checkout_session_id) DO NOTHING RETURNING id AS order_id \gset
INSERT INTO order_items (id, order_id, position, product_id, name, price_minor, quantity) VALUES (gen_random_uuid(), :order_id, 0, 'prod-1', 'Espresso cup', 4599, 2), (gen_random_uuid(), :order_id, 1, 'prod-2', 'Saucer', 850, 1);
INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, tracking_number, version, at) VALUES (:order_id, 'ORDER_CREATED', NULL, 'PENDING', 'bench-user', NULL, NULL, 1, now());
INSERT INTO outbox (id, event_type, order_id, status, attempts, next_attempt_at, created_at) VALUES (gen_random_uuid(), 'ORDER_CONFIRMATION', :order_id, 'PENDING', 0, now(), now());
COMMIT;
