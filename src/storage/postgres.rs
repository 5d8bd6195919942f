//! PostgreSQL backend: one pool shared by every request and the outbox worker. Several
//! service instances may share the database; the unique key on the checkout session and
//! `FOR UPDATE SKIP LOCKED` claims keep them from stepping on each other.

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
}

super::sql::impl_order_store!(
    PostgresStore,
    sqlx::Postgres,
    "postgres",
    claim_suffix = "FOR UPDATE SKIP LOCKED"
);
