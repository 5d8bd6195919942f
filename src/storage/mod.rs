//! Persistence of orders, their history and the outbox queue. One trait, one module per
//! backend (SQLite embedded by default, PostgreSQL for production). The statements both
//! run alike live in `shared`, the row types in `rows`; what differs (how a new order is
//! written, how a claim is locked) sits in each backend's module. Both run the same tests.

mod health;
pub mod outbox;
pub mod pool;
mod postgres;
pub mod rows;
mod shared;
mod sqlite;
mod sqlite_writer;
mod sweep;

use crate::domain::{
    Actor, CheckoutSessionId, EventId, Order, OrderEvent, OrderId, OrderOrigin, OrderStatus,
    StatusChange, UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
pub use outbox::{
    NewOutboxEvent, OUTBOX_COUNT_LIMIT, OutboxAttempt, OutboxClaim, OutboxCompletion, OutboxFilter,
    OutboxRecord, OutboxResult, OutboxRetry, OutboxStats, OutboxStatus, Sinks,
};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub use health::{StorageHealth, StorageUsage, WalCheckpoints, WriteFailure, WriteOutage};
pub use pool::{Pool, PoolConnection, PoolDb};
pub use postgres::PostgresStore;
pub use sqlite::{
    Checkpointer, SqliteStore, checkpoint_in_background, use_mimalloc_for_sqlite,
    write_orders_together,
};
pub use sqlite_writer::discard_if_in_transaction;
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
    /// The disk (or the database's quota) is full: SQLITE_FULL, ENOSPC, PostgreSQL 53100.
    #[error("storage full: {0}")]
    Full(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
                pool::connection_failure_seen();
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(ref db) => match health::classify(db.as_ref()) {
                Some(WriteFailure::Full) => StoreError::Full(e.to_string()),
                Some(WriteFailure::Unavailable) => {
                    pool::connection_failure_seen();
                    StoreError::Unavailable(e.to_string())
                }
                None => StoreError::Database(e),
            },
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

/// A status change to persist: the order as changed in memory, the version it was read
/// at, what its history entry records and the event to send.
pub struct StatusChangeRecord<'a> {
    pub order: &'a Order,
    pub previous_version: i64,
    pub from: OrderStatus,
    pub actor: &'a Actor,
    pub change: &'a StatusChange,
    pub outbox: &'a NewOutboxEvent,
}

/// A page of orders with the keyset position of each.
pub struct OrderPage {
    pub orders: Vec<(i64, Order)>,
}

#[async_trait]
pub trait OrderStore: SweepStore + Send + Sync + 'static {
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> Result<(), StoreError>;
    /// (in use, idle, max) connections, for metrics.
    fn pool_usage(&self) -> (u32, u32, u32);
    /// Whether writes currently fail, and the sampled size of the database.
    fn storage_health(&self) -> &StorageHealth;

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
    async fn save_status_change(&self, change: &StatusChangeRecord<'_>) -> Result<(), StoreError>;
    async fn order_history(&self, id: OrderId) -> Result<Vec<OrderEvent>, StoreError>;

    /// Claims up to `limit` due events for `worker` until `lease` expires (database
    /// clock), under one fresh fencing token carried by every returned record. An event
    /// whose order has an earlier event still PENDING is not claimed.
    async fn claim_outbox(&self, claim: OutboxClaim<'_>) -> Result<Vec<OutboxRecord>, StoreError>;
    /// Extends the lease of every event of `ids` still pending under the claim `token` by
    /// `lease` from now (database clock); how many it extended.
    async fn renew_outbox_lease(
        &self,
        token: Uuid,
        ids: &[EventId],
        lease: Duration,
    ) -> Result<u64, StoreError>;
    /// Extends the lease of one event of the claim `token` right before it is sent;
    /// `false` when the claim no longer holds it (then it must not be sent).
    async fn renew_outbox_event(
        &self,
        id: EventId,
        token: Uuid,
        lease: Duration,
    ) -> Result<bool, StoreError>;
    /// Records that one sink has the event; `false` when the claim lost its lease.
    async fn mark_outbox_sink_done(
        &self,
        id: EventId,
        token: Uuid,
        webhook: bool,
    ) -> Result<bool, StoreError>;
    /// Records, in one transaction, each result's `attempt` log entry (if any) and, if the
    /// claim `token` still holds its event and it is PENDING, its `completion`. One flag
    /// per result, in order; `false`: the lease was lost and the event is unchanged.
    async fn complete_outbox_batch(
        &self,
        token: Uuid,
        results: &[OutboxResult<'_>],
    ) -> Result<Vec<bool>, StoreError>;
    /// `complete_outbox_batch` for one event.
    async fn complete_outbox(
        &self,
        id: EventId,
        token: Uuid,
        completion: &OutboxCompletion,
        attempt: Option<&OutboxAttempt>,
    ) -> Result<bool, StoreError> {
        let result = OutboxResult {
            id,
            completion,
            attempt,
        };
        let held = self.complete_outbox_batch(token, &[result]).await?;
        Ok(held.first().copied().unwrap_or(false))
    }
    /// Events by the filter, oldest first.
    async fn list_outbox_page(
        &self,
        filter: &OutboxFilter,
    ) -> Result<Vec<OutboxRecord>, StoreError>;
    /// Events in `status`, oldest first (the first `limit`).
    async fn list_outbox(
        &self,
        status: OutboxStatus,
        limit: u32,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        self.list_outbox_page(&OutboxFilter {
            status: Some(status),
            limit,
            ..OutboxFilter::default()
        })
        .await
    }
    async fn outbox_event(&self, id: EventId) -> Result<Option<OutboxRecord>, StoreError>;
    /// The attempt log of one event, oldest first.
    async fn outbox_attempts(&self, id: EventId) -> Result<Vec<OutboxAttempt>, StoreError>;
    /// Puts an event back in the queue, due now: a failed one, a stuck one, or a delivered
    /// one (a replay, same eventId). A live lease is left to its holder. `NotFound` if
    /// unknown.
    async fn requeue_outbox(&self, id: EventId) -> Result<OutboxRecord, StoreError>;
    /// Requeues every event in `status` created in [`since`, `until`); how many.
    async fn replay_outbox(
        &self,
        status: OutboxStatus,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// Deletes up to `batch` events delivered before `before`, with their attempts; how many.
    async fn purge_delivered_outbox(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, StoreError>;
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
