//! PostgreSQL backend: one pool shared by every request and the outbox worker. Several
//! service instances may share the database; the unique key on the checkout session and
//! `FOR UPDATE SKIP LOCKED` claims keep them from stepping on each other.

mod new_order;

use super::StoreError;
use super::outbox::NewOutboxEvent;
use super::shared::{Pools, SqlBackend};
use crate::domain::Order;
use sqlx::Postgres;
use sqlx::postgres::PgPoolOptions;

pub struct PostgresStore {
    /// One pool for reads and writes.
    pools: Pools<Postgres>,
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
        let pools = Pools {
            writer: pool,
            reader: None,
        };
        Ok(Self { pools })
    }
}

#[async_trait::async_trait]
impl SqlBackend for PostgresStore {
    type Db = Postgres;
    const NAME: &'static str = "postgres";

    async fn write_new_order(
        &self,
        order: &Order,
        outbox: &NewOutboxEvent,
    ) -> Result<bool, StoreError> {
        new_order::write_new_order(&self.pools.writer, order, outbox).await
    }

    /// Another instance's worker skips the rows this claim is taking instead of waiting.
    const CLAIM_LOCK: &'static str = "FOR UPDATE SKIP LOCKED";

    fn pools(&self) -> &Pools<Postgres> {
        &self.pools
    }
}
