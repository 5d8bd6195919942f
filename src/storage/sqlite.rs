//! Embedded SQLite backend (the default). WAL mode lets readers run beside the single
//! writer; writes go through a one-connection pool so they queue in the pool instead of
//! spinning on SQLite's busy lock. One process per database file.
//!
//! New orders are group-committed: with synchronous=FULL every commit waits for an fsync,
//! so one task commits all the orders that queued up meanwhile in one transaction (each
//! order whole or not at all, acknowledged only after the commit).

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use tokio::sync::{mpsc, oneshot};

/// Most orders committed in one transaction.
const MAX_GROUP: usize = 32;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    new_orders: mpsc::Sender<PendingOrder>,
}

/// A new order waiting for the group commit, and where to report whether it was created.
struct PendingOrder {
    order: Order,
    outbox: NewOutboxEvent,
    done: oneshot::Sender<Result<bool, StoreError>>,
}

impl SqliteStore {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(options.read_only(true))
            .await?;
        let (new_orders, queue) = mpsc::channel(1024);
        tokio::spawn(commit_new_orders(writer.clone(), queue));
        Ok(Self {
            writer,
            reader,
            new_orders,
        })
    }

    /// Queues the order for the next group commit and waits for its outcome.
    async fn write_new_order(
        &self,
        order: &Order,
        outbox: &NewOutboxEvent,
    ) -> Result<bool, StoreError> {
        let (done, outcome) = oneshot::channel();
        let pending = PendingOrder {
            order: order.clone(),
            outbox: outbox.clone(),
            done,
        };
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.new_orders.send(pending).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn usage(&self) -> (u32, u32, u32) {
        let pools = [&self.writer, &self.reader];
        let idle: u32 = pools.iter().map(|p| p.num_idle() as u32).sum();
        let size: u32 = pools.iter().map(|p| p.size()).sum();
        let max: u32 = pools
            .iter()
            .map(|p| p.options().get_max_connections())
            .sum();
        (size.saturating_sub(idle), idle, max)
    }
}

super::sql::impl_order_store!(SqliteStore, sqlx::Sqlite, "sqlite", claim_suffix = "");

/// Commits whatever orders have queued, as one transaction, until the store is dropped.
async fn commit_new_orders(writer: SqlitePool, mut queue: mpsc::Receiver<PendingOrder>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        match write_group(&writer, &group).await {
            Ok(created) => {
                for (pending, created) in group.drain(..).zip(created) {
                    let _ = pending.done.send(Ok(created));
                }
            }
            Err(e) if group.len() == 1 => {
                let _ = group.remove(0).done.send(Err(e));
            }
            // A failing statement must not fail the other orders: retry each in its own
            // transaction. An unavailable database fails the whole group at once.
            Err(StoreError::Database(_)) => {
                for pending in group.drain(..) {
                    let outcome = write_group(&writer, std::slice::from_ref(&pending)).await;
                    let _ = pending.done.send(outcome.map(|created| created[0]));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for pending in group.drain(..) {
                    let _ = pending
                        .done
                        .send(Err(StoreError::Unavailable(message.clone())));
                }
            }
        }
    }
}

async fn write_group(writer: &SqlitePool, group: &[PendingOrder]) -> Result<Vec<bool>, StoreError> {
    let mut tx = writer.begin().await?;
    let mut created = Vec::with_capacity(group.len());
    for pending in group {
        created.push(write_order_statements(&mut tx, &pending.order, &pending.outbox).await?);
    }
    tx.commit().await?;
    Ok(created)
}
