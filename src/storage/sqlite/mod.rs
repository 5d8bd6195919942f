//! Embedded SQLite backend (the default). WAL mode lets readers run beside the single
//! writer; writes go through a one-connection pool so they queue in the pool instead of
//! spinning on SQLite's busy lock. One process per database file.
//!
//! New orders are group-committed: with synchronous=FULL every commit waits for an fsync,
//! so one task commits all the orders that queued up meanwhile in one transaction, with
//! one multi-row INSERT per table (each order whole or not at all, acknowledged only after
//! the commit).
//!
//! The outbox's writes give way to new orders (`orders_first`).
//!
//! WAL checkpoints run in a task of their own (`checkpoint`), not inside a commit.
//!
//! SQLite allocates through mimalloc, like the rest of the process (`allocator`).

mod allocator;
mod checkpoint;
mod group_commit;
mod orders_first;

use super::health::{Monitor, monitor};
use super::outbox::NewOutboxEvent;
use super::pool::Pool;
use super::shared::{Pools, SqlBackend};
use super::sqlite_writer::{probe, usage};
use super::{StorageHealth, StoreError};
use crate::domain::{Order, OrderOrigin};
pub use allocator::use_mimalloc_for_sqlite;
use checkpoint::{CheckpointPolicy, JOURNAL_SIZE_LIMIT};
pub use checkpoint::{Checkpointer, checkpoint_in_background};
pub use group_commit::write_orders_together;
use group_commit::{PendingOrder, commit_new_orders};
use orders_first::{MOST_WAIT, OrdersFirst};
use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub struct SqliteStore {
    /// A one-connection writer and a read-only pool for the readers.
    pools: Pools<Sqlite>,
    new_orders: mpsc::Sender<PendingOrder>,
    /// Lets the outbox's writes wait while the group commit has orders in hand.
    orders_first: Arc<OrdersFirst>,
    health: Arc<StorageHealth>,
    _monitor: Monitor,
    _checkpoints: Checkpointer,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        use_mimalloc_for_sqlite();
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5))
            .foreign_keys(true)
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string());
        // A writer connection left inside a transaction is closed, never reused (the
        // pool's `settle`). It never checkpoints inside a commit: the checkpoint task
        // does that.
        let wait = std::time::Duration::from_secs(5);
        let writer_options = options.clone().pragma("wal_autocheckpoint", "0");
        let writer: Pool<Sqlite> = Pool::connect(writer_options, 1, wait).await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&mut *writer.acquire().await?)
            .await?;
        let file = options.get_filename().to_owned();
        let reader: Pool<Sqlite> = Pool::connect(options.clone().read_only(true), 4, wait).await?;
        let health = Arc::new(StorageHealth::default());
        let checkpoints = Checkpointer::start(
            options,
            writer.clone(),
            health.clone(),
            CheckpointPolicy::default(),
        )
        .await?;
        let (new_orders, queue) = mpsc::channel(1024);
        let orders_first = Arc::new(OrdersFirst::default());
        tokio::spawn(commit_new_orders(
            writer.clone(),
            queue,
            health.clone(),
            orders_first.clone(),
        ));
        let probe_pool = writer.clone();
        let monitor = monitor(
            health.clone(),
            Box::new(move || {
                let pool = probe_pool.clone();
                Box::pin(async move { probe(&pool).await })
            }),
            Box::new(move || {
                let file = file.clone();
                Box::pin(async move {
                    tokio::task::spawn_blocking(move || usage(&file))
                        .await
                        .unwrap_or_default()
                })
            }),
        );
        Ok(Self {
            pools: Pools {
                writer,
                reader: Some(reader),
            },
            new_orders,
            orders_first,
            health,
            _monitor: monitor,
            _checkpoints: checkpoints,
        })
    }
}

#[async_trait::async_trait]
impl SqlBackend for SqliteStore {
    type Db = Sqlite;
    const NAME: &'static str = "sqlite";
    /// Nothing to add: the single writer connection runs one claim at a time.
    const CLAIM_LOCK: &'static str = "";
    /// One process per file: SQLite's clock is this process's, read by SQLite itself, in
    /// the RFC 3339 form the stored times use (they compare as text).
    const NOW: &'static str = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')";

    fn lease_until(param: &str) -> String {
        format!(
            "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '+' || ({param} / 1000.0) || ' seconds')"
        )
    }

    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    fn pools(&self) -> &Pools<Sqlite> {
        &self.pools
    }

    fn health(&self) -> &StorageHealth {
        &self.health
    }

    /// Orders first: the outbox's writes wait (at most `MOST_WAIT`) while new orders are
    /// queued for the one writer or being committed.
    async fn outbox_write_turn(&self) {
        if !self.orders_first.wait_turn(MOST_WAIT).await {
            // Delivery at its floor: the writer had orders in hand for the whole wait.
            metrics::counter!("sqlite_outbox_writes_forced_total").increment(1);
        }
    }

    /// Queues the order for the next group commit and waits for its outcome.
    async fn write_new_order(
        &self,
        order: &Order,
        outbox: &NewOutboxEvent,
        origin: OrderOrigin,
    ) -> Result<bool, StoreError> {
        let (done, outcome) = oneshot::channel();
        let pending = PendingOrder {
            order: order.clone(),
            outbox: outbox.clone(),
            origin,
            done,
        };
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.new_orders.send(pending).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}
