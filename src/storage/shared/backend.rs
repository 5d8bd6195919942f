//! What a backend must provide to get the shared `OrderStore` implementation.

use crate::domain::{Order, OrderOrigin};
use crate::storage::outbox::NewOutboxEvent;
use crate::storage::pool::{Pool, PoolConnection, PoolDb};
use crate::storage::{StorageHealth, StoreError};
use sqlx::{Database, Encode, FromRow, Type};

/// What a backend provides; the rest of `OrderStore` comes from the implementation below.
#[async_trait::async_trait]
pub trait SqlBackend: Send + Sync + 'static {
    type Db: PoolDb;
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
    /// Awaited before each write of the delivery work (claims, lease renewals, outcomes,
    /// retention), so a backend whose one writer also commits the orders can let the
    /// orders go first. Nothing by default.
    async fn outbox_write_turn(&self) {}
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
pub struct Pools<DB: PoolDb> {
    pub writer: Pool<DB>,
    pub reader: Option<Pool<DB>>,
}

impl<DB: PoolDb> Pools<DB> {
    pub fn reader(&self) -> &Pool<DB> {
        self.reader.as_ref().unwrap_or(&self.writer)
    }

    /// A connection for reading.
    pub async fn read(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        self.reader().acquire().await
    }

    /// A connection for writing.
    pub async fn write(&self) -> Result<PoolConnection<DB>, sqlx::Error> {
        self.writer.acquire().await
    }

    /// (in use, idle, max) connections over all pools.
    pub fn usage(&self) -> (u32, u32, u32) {
        let pools = std::iter::once(&self.writer).chain(&self.reader);
        let (mut size, mut idle, mut max) = (0, 0, 0);
        for pool in pools {
            let (open, available, most) = pool.usage();
            size += open;
            idle += available;
            max += most;
        }
        (size.saturating_sub(idle), idle, max)
    }
}

/// A value that can be bound to a statement on `DB`.
pub trait Bind<DB: Database>: for<'t> Encode<'t, DB> + Type<DB> + Send {}
impl<DB: Database, T: for<'t> Encode<'t, DB> + Type<DB> + Send> Bind<DB> for T {}

/// Rows decoded from `DB`.
pub trait Decoded<DB: Database>: for<'r> FromRow<'r, DB::Row> + Send + Unpin {}
impl<DB: Database, T: for<'r> FromRow<'r, DB::Row> + Send + Unpin> Decoded<DB> for T {}
