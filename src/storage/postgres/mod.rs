//! PostgreSQL backend: one pool shared by every request and the outbox worker. Several
//! service instances may share the database; the unique key on the checkout session and
//! `FOR UPDATE SKIP LOCKED` claims keep them from stepping on each other.

mod new_order;

use super::StoreError;
use super::outbox::NewOutboxEvent;
use super::shared::SqlBackend;
use crate::domain::Order;
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
}

#[async_trait::async_trait]
impl SqlBackend for PostgresStore {
    type Db = sqlx::Postgres;
    const NAME: &'static str = "postgres";
    /// Another instance's worker skips the rows this claim is taking instead of waiting.
    const CLAIM_LOCK: &'static str = "FOR UPDATE SKIP LOCKED";

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn pool_usage(&self) -> (u32, u32, u32) {
        let idle = self.pool.num_idle() as u32;
        let size = self.pool.size();
        (
            size.saturating_sub(idle),
            idle,
            self.pool.options().get_max_connections(),
        )
    }

    async fn write_new_order(
        &self,
        order: &Order,
        outbox: &NewOutboxEvent,
    ) -> Result<bool, StoreError> {
        new_order::write_new_order(&self.pool, order, outbox).await
    }
}
