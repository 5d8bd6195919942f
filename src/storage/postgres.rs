//! PostgreSQL backend: one pool shared by every request and the outbox worker. Several
//! service instances may share the database; the unique key on the checkout session and
//! `FOR UPDATE SKIP LOCKED` claims keep them from stepping on each other.

use crate::domain::OrderOrigin;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn usage(&self) -> (u32, u32, u32) {
        let idle = self.pool.num_idle() as u32;
        let size = self.pool.size();
        (
            size.saturating_sub(idle),
            idle,
            self.pool.options().get_max_connections(),
        )
    }

    /// The order, its items, its creation event and its outbox event in one statement: one
    /// round trip and one implicit transaction instead of BEGIN, four INSERTs and COMMIT.
    /// When the session already has an order, `new_order` is empty and nothing is written.
    async fn write_new_order(
        &self,
        order: &Order,
        outbox: &NewOutboxEvent,
        origin: OrderOrigin,
    ) -> Result<bool, StoreError> {
        let items = &order.items;
        let created: i64 = sqlx::query_scalar(
            "WITH new_order AS (
                INSERT INTO orders (id, user_id, email, checkout_session_id, payment_intent_id,
                    status, currency, subtotal_minor, shipping_minor, tax_minor, discount_minor,
                    total_minor, shipping_address, billing_address, version, created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                ON CONFLICT (checkout_session_id) DO NOTHING
                RETURNING id
            ), items AS (
                INSERT INTO order_items (id, order_id, position, product_id, name, price_minor, quantity)
                SELECT item.id, new_order.id, item.position, item.product_id, item.name,
                    item.price_minor, item.quantity
                FROM new_order, UNNEST($18::uuid[], $19::int4[], $20::text[], $21::text[],
                    $22::int8[], $23::int4[])
                    AS item (id, position, product_id, name, price_minor, quantity)
            ), history AS (
                INSERT INTO order_events (order_id, kind, from_status, to_status, actor, version, at,
                    origin)
                SELECT id, $24, NULL, $6, $2, $15, $17, $28 FROM new_order
            ), confirmation AS (
                INSERT INTO outbox (id, event_type, order_id, payload, status, attempts,
                    next_attempt_at, created_at)
                SELECT $25, $26, id, $27, 'PENDING', 0, $16, $16 FROM new_order
            )
            SELECT COUNT(*) FROM new_order",
        )
        .bind(order.id.0)
        .bind(order.user_id.as_str())
        .bind(order.email.as_deref())
        .bind(order.checkout_session_id.0)
        .bind(order.payment_intent_id.as_deref())
        .bind(order.status.as_str())
        .bind(&order.currency)
        .bind(order.subtotal_amount.minor_units())
        .bind(order.shipping_amount.minor_units())
        .bind(order.tax_amount.minor_units())
        .bind(order.discount_amount.minor_units())
        .bind(order.total_amount.minor_units())
        .bind(Json(&order.shipping_address))
        .bind(Json(&order.billing_address))
        .bind(order.version)
        .bind(order.created_at)
        .bind(order.updated_at)
        .bind(items.iter().map(|i| i.id.0).collect::<Vec<_>>())
        .bind((0..items.len() as i32).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.product_id.as_str()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.name.as_deref()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.price.minor_units()).collect::<Vec<_>>())
        .bind(items.iter().map(|i| i.quantity.get() as i32).collect::<Vec<_>>())
        .bind(crate::domain::order::EVENT_ORDER_CREATED)
        .bind(outbox.id.0)
        .bind(outbox.event_type)
        .bind(&outbox.payload)
        .bind(origin.as_str())
        .fetch_one(self.writer())
        .await?;
        Ok(created > 0)
    }
}

super::sql::impl_order_store!(
    PostgresStore,
    sqlx::Postgres,
    "postgres",
    claim_suffix = "FOR UPDATE SKIP LOCKED"
);
