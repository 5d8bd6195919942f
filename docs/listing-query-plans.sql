-- Fills the schema with 1,000,000 orders and shows the listing queries' plans.
INSERT INTO orders (id, user_id, checkout_session_id, status, currency, subtotal_minor, shipping_minor,
                    tax_minor, discount_minor, total_minor, shipping_address, billing_address, version,
                    created_at, updated_at)
SELECT gen_random_uuid(), 'user-' || (g % 50000), gen_random_uuid(),
       (ARRAY['PENDING','CONFIRMED','SHIPPED','DELIVERED','CANCELLED'])[1 + g % 5], 'USD', 1000, 0, 0, 0, 1000,
       '{"street":"s","city":"c","state":"","country":"US","postalCode":""}',
       '{"street":"s","city":"c","state":"","country":"US","postalCode":""}', 1, now(), now()
FROM generate_series(1, 1000000) g;
ANALYZE orders;
EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM orders WHERE user_id = 'user-42' ORDER BY seq DESC LIMIT 21;
EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM orders WHERE user_id = 'user-42' AND seq < 500000 ORDER BY seq DESC LIMIT 21;
EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM orders WHERE seq < 300000 ORDER BY seq DESC LIMIT 101;
EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM orders WHERE status = 'SHIPPED' AND seq < 800000 ORDER BY seq DESC LIMIT 21;
EXPLAIN (ANALYZE, COSTS OFF) SELECT * FROM orders WHERE user_id = 'user-42' AND status = 'PENDING' ORDER BY seq DESC LIMIT 21;
