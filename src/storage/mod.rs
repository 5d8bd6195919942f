//! Persistence of orders, their history and the outbox. One trait, one implementation per
//! backend (SQLite embedded by default, PostgreSQL for production); both share their SQL
//! text through `sql.rs` and run the same test suite.

mod postgres;
mod sql;
mod sqlite;
mod sweep;

use crate::domain::{
    Actor, CheckoutSessionId, EventId, Order, OrderEvent, OrderId, OrderOrigin, OrderStatus,
    StatusChange, UserId,
};
use crate::outbox::{NewOutboxEvent, OutboxRecord, OutboxStats, OutboxStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use sweep::{SweepLease, SweepStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The row changed since it was read (compare-and-set on `version` failed).
    #[error("concurrent modification")]
    Conflict,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            other => StoreError::Database(other),
        }
    }
}

/// Outcome of inserting an order for a checkout session.
#[derive(Debug)]
pub enum Inserted {
    Created,
    /// Another request created the order for this session first; here it is.
    AlreadyExists(Box<Order>),
}

/// Filter and page of a listing, newest first. `before` is the keyset position.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub user_id: Option<UserId>,
    pub status: Option<OrderStatus>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// A page of orders with the keyset position of each.
pub struct OrderPage {
    pub orders: Vec<(i64, Order)>,
}

/// Where an outbox event must go; completing all configured sinks delivers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sinks {
    pub webhook: bool,
    pub nats: bool,
}

#[async_trait]
pub trait OrderStore: SweepStore + Send + Sync + 'static {
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> Result<(), StoreError>;
    /// (in use, idle, max) connections, for metrics.
    fn pool_usage(&self) -> (u32, u32, u32);

    /// Inserts the order, its items, its creation event (naming `origin`) and `outbox` in
    /// one transaction.
    async fn insert_order(
        &self,
        order: &Order,
        outbox: &NewOutboxEvent,
        origin: OrderOrigin,
    ) -> Result<Inserted, StoreError>;
    async fn order_by_id(&self, id: OrderId) -> Result<Option<Order>, StoreError>;
    async fn order_by_checkout_session(
        &self,
        id: CheckoutSessionId,
    ) -> Result<Option<Order>, StoreError>;
    async fn list_orders(&self, filter: &OrderFilter) -> Result<OrderPage, StoreError>;
    /// Persists `order` (already changed in memory) if it is still at `previous_version`,
    /// with its history entry and outbox event, in one transaction. `Conflict` otherwise.
    async fn save_status_change(
        &self,
        order: &Order,
        previous_version: i64,
        from: OrderStatus,
        actor: &Actor,
        change: &StatusChange,
        outbox: &NewOutboxEvent,
    ) -> Result<(), StoreError>;
    async fn order_history(&self, id: OrderId) -> Result<Vec<OrderEvent>, StoreError>;

    /// Claims up to `limit` due events for `worker` until `lease` expires.
    async fn claim_outbox(
        &self,
        worker: &str,
        lease: Duration,
        limit: u32,
        sinks: Sinks,
    ) -> Result<Vec<OutboxRecord>, StoreError>;
    async fn mark_outbox_sink_done(&self, id: EventId, webhook: bool) -> Result<(), StoreError>;
    async fn mark_outbox_delivered(&self, id: EventId) -> Result<(), StoreError>;
    async fn reschedule_outbox(
        &self,
        id: EventId,
        attempts: i32,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
    async fn park_outbox(&self, id: EventId, attempts: i32, error: &str) -> Result<(), StoreError>;
    async fn list_outbox(
        &self,
        status: OutboxStatus,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>, StoreError>;
    /// Puts a failed or stuck event back in the queue, due now. `NotFound` if unknown
    /// or already delivered.
    async fn requeue_outbox(&self, id: EventId) -> Result<OutboxRecord, StoreError>;
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;
}

pub type SharedStore = Arc<dyn OrderStore>;

/// Connects to the database named by `url` and applies the embedded migrations.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<SharedStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PostgresStore::connect(url, max_connections).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        anyhow::bail!("DATABASE_URL must start with sqlite: or postgres://")
    }
}
