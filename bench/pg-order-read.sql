-- The read behind GET /api/v1/orders/{id}: the order with its items in one statement, as
-- fetch_orders sends it (src/storage/shared/fetch.rs). bench/run.sh substitutes :order_id
-- with the id of an order the service created (one script per id, 8 ids, chosen at random
-- by pgbench; few, because each client prepares each script once inside the timed window)
-- and runs it with pgbench -M prepared: the read ceiling of the database.
SELECT o.*, i.id AS item_id, i.product_id AS item_product_id, i.name AS item_name, i.price_minor AS item_price_minor, i.quantity AS item_quantity FROM (SELECT * FROM orders WHERE 1 = 1 AND id = :order_id) AS o LEFT JOIN order_items AS i ON i.order_id = o.id ORDER BY o.seq DESC, i.position;
