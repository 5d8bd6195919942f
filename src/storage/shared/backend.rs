//! What a backend must provide to get the shared `OrderStore` implementation.

use crate::domain::{Order, OrderOrigin};
use crate::storage::outbox::NewOutboxEvent;
use crate::storage::{StorageHealth, StoreError};
use futures::future::BoxFuture;
use sqlx::pool::{PoolConnectionMetadata, PoolOptions};
use sqlx::{Connection, Database, Encode, FromRow, Pool, Type};
use std::time::Duration;

/// What a backend provides; the rest of `OrderStore` comes from the implementation below.
#[async_trait::async_trait]
pub trait SqlBackend: Send + Sync + 'static {
    type Db: Database;
    const NAME: &'static str;
    /// Appended to the outbox claim's inner `SELECT`: how the backend keeps two workers
    /// from claiming the same event.
    const CLAIM_LOCK: &'static str;
    /// The database clock's current time, as an SQL expression comparable with the
    /// stored times (leases are timed by the database, not by each instance).
    const NOW: &'static str;

    /// `now + param milliseconds` on the database clock, `param` a placeholder like `$3`.
    fn lease_until(param: &str) -> String;
    /// How many rows a statement changed.
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;

    fn pools(&self) -> &Pools<Self::Db>;
    /// Whether writes currently fail, and the sampled size of the database.
    fn health(&self) -> &StorageHealth;
    /// Told each new count of pending outbox events (capped at `OUTBOX_COUNT_LIMIT`), so a
    /// backend can keep what its planner knows of the outbox in step with a fast-growing
    /// backlog. Nothing by default.
    async fn outbox_backlog_counted(&self, _pending: i64) {}
    /// Writes the order, its items, its creation event and `outbox` together, the
    /// backend's fastest way. `false` (nothing written) when the session has an order.
    async fn write_new_order(
        &self,
        order: &Order,
        outbox: &NewOutboxEvent,
        origin: OrderOrigin,
    ) -> Result<bool, StoreError>;
}

/// The connection pools of a backend: every write goes through `writer`; reads go through
/// `reader` where the backend has a separate one.
pub struct Pools<DB: Database> {
    pub writer: Pool<DB>,
    pub reader: Option<Pool<DB>>,
}

impl<DB: Database> Pools<DB> {
    pub fn reader(&self) -> &Pool<DB> {
        self.reader.as_ref().unwrap_or(&self.writer)
    }

    /// (in use, idle, max) connections over all pools.
    pub fn usage(&self) -> (u32, u32, u32) {
        let pools = std::iter::once(&self.writer).chain(&self.reader);
        let (mut size, mut idle, mut max) = (0, 0, 0);
        for pool in pools {
            size += pool.size();
            idle += pool.num_idle() as u32;
            max += pool.options().get_max_connections();
        }
        (size.saturating_sub(idle), idle, max)
    }
}

/// A pooled connection idle at least this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Pool options shared by every backend. sqlx's default pings every connection it hands
/// out (`test_before_acquire`): one more round trip to PostgreSQL, or one more hand-off
/// to a SQLite worker thread, for every statement or transaction. Here only a connection
/// that sat idle is pinged, the one most likely to have been cut (a database restart in a
/// quiet hour); a connection cut while busy fails one statement, and sqlx's ping when it
/// goes back to the pool then closes it.
pub fn pool_options<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(ping_if_idle::<DB>)
}

fn ping_if_idle<DB: Database>(
    conn: &mut DB::Connection,
    meta: PoolConnectionMetadata,
) -> BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if meta.idle_for >= PING_IF_IDLE_FOR {
            conn.ping().await?;
        }
        Ok(true)
    })
}

/// A value that can be bound to a statement on `DB`.
pub trait Bind<DB: Database>: for<'t> Encode<'t, DB> + Type<DB> + Send {}
impl<DB: Database, T: for<'t> Encode<'t, DB> + Type<DB> + Send> Bind<DB> for T {}

/// Rows decoded from `DB`.
pub trait Decoded<DB: Database>: for<'r> FromRow<'r, DB::Row> + Send + Unpin {}
impl<DB: Database, T: for<'r> FromRow<'r, DB::Row> + Send + Unpin> Decoded<DB> for T {}
