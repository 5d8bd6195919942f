//! The SQLite group commit: with synchronous=FULL every commit waits for an fsync, so one
//! task commits all the orders that queued up meanwhile in one transaction, with one
//! multi-row INSERT per table (each order whole or not at all, acknowledged only after
//! the commit).

use super::orders_first::OrdersFirst;
use crate::domain::{Order, OrderOrigin};
use crate::storage::outbox::NewOutboxEvent;
use crate::storage::pool::Pool;
use crate::storage::rows::{HistoryRow, ItemRow, NewOutboxRow, OrderRow};
use crate::storage::shared::insert_statement;
use crate::storage::{StorageHealth, StoreError};
use sqlx::sqlite::SqliteArguments;
use sqlx::{AssertSqlSafe, Connection, Sqlite};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Most orders committed in one transaction.
const MAX_GROUP: usize = 32;

/// A new order waiting for the group commit, and where to report whether it was created.
pub(super) struct PendingOrder {
    pub order: Order,
    pub outbox: NewOutboxEvent,
    pub origin: OrderOrigin,
    pub done: oneshot::Sender<Result<bool, StoreError>>,
}

/// Commits whatever orders have queued, as one transaction, until the store is dropped.
/// An order is acknowledged only after its group's COMMIT succeeded.
pub(super) async fn commit_new_orders(
    writer: Pool<Sqlite>,
    mut queue: mpsc::Receiver<PendingOrder>,
    health: Arc<StorageHealth>,
    orders_first: Arc<OrdersFirst>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    loop {
        // Deferred writes (confirmations) take their turn only while no order waits.
        if queue.is_empty() {
            orders_first.set_idle(true);
        }
        if queue.recv_many(&mut group, MAX_GROUP).await == 0 {
            break;
        }
        orders_first.set_idle(false);
        let outcome = write_group(&writer, &group).await;
        health.record_write(&outcome);
        match outcome {
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
                    health.record_write(&outcome);
                    let _ = pending.done.send(outcome.map(|created| created[0]));
                }
            }
            Err(e) => {
                let (full, message) = match e {
                    StoreError::Full(message) => (true, message),
                    StoreError::Unavailable(message) => (false, message),
                    other => (false, other.to_string()),
                };
                for pending in group.drain(..) {
                    let error = if full {
                        StoreError::Full(message.clone())
                    } else {
                        StoreError::Unavailable(message.clone())
                    };
                    let _ = pending.done.send(Err(error));
                }
            }
        }
    }
}

async fn write_group(
    writer: &Pool<Sqlite>,
    group: &[PendingOrder],
) -> Result<Vec<bool>, StoreError> {
    let mut conn = writer.acquire().await?;
    let mut tx = conn.begin().await?;
    let orders: Vec<_> = group
        .iter()
        .map(|p| (&p.order, &p.outbox, p.origin))
        .collect();
    let created = write_orders_together(&mut tx, &orders).await?;
    // Nothing of the group is stored when COMMIT fails, whatever the reason: the orders
    // are not acknowledged, and the client may retry. (The connection is checked on its
    // way back to the pool: see `discard_if_in_transaction`.)
    tx.commit().await.map_err(|e| match StoreError::from(e) {
        StoreError::Database(e) => StoreError::Unavailable(format!("commit failed: {e}")),
        other => other,
    })?;
    Ok(created)
}

/// Writes new orders with one multi-row INSERT per table (orders, items, creation events,
/// outbox) inside the caller's transaction. Per order: `false` (nothing written for it)
/// when its checkout session already has an order. Public for the `sqlite-ceiling`
/// benchmark, which measures exactly this write.
pub async fn write_orders_together(
    conn: &mut sqlx::SqliteConnection,
    group: &[(&Order, &NewOutboxEvent, OrderOrigin)],
) -> Result<Vec<bool>, StoreError> {
    let rows: Vec<OrderRow> = group
        .iter()
        .map(|(order, _, _)| OrderRow::from(*order))
        .collect();
    let conflict = " ON CONFLICT (checkout_session_id) DO NOTHING RETURNING id";
    let (sql, args) = insert_statement::<Sqlite, _>("orders", conflict, &rows)?;
    let inserted: Vec<Uuid> = sqlx::query_scalar_with(AssertSqlSafe(sql), args)
        .fetch_all(&mut *conn)
        .await?;
    let created: Vec<&(&Order, &NewOutboxEvent, OrderOrigin)> = group
        .iter()
        .filter(|(order, _, _)| inserted.contains(&order.id.0))
        .collect();
    if created.is_empty() {
        return Ok(vec![false; group.len()]);
    }
    let items: Vec<ItemRow> = created
        .iter()
        .flat_map(|(order, _, _)| {
            let lines = order.items.iter().enumerate();
            lines.map(move |(position, item)| ItemRow::new(order, position, item))
        })
        .collect();
    // Well under SQLite's 32,766 bound parameters per statement.
    for chunk in items.chunks(1000) {
        execute(
            conn,
            insert_statement::<Sqlite, _>("order_items", "", chunk)?,
        )
        .await?;
    }
    let history: Vec<HistoryRow> = created
        .iter()
        .map(|(order, _, origin)| HistoryRow::created(order, *origin))
        .collect();
    execute(
        conn,
        insert_statement::<Sqlite, _>("order_events", "", &history)?,
    )
    .await?;
    let events: Vec<NewOutboxRow> = created
        .iter()
        .map(|(order, event, _)| NewOutboxRow {
            event,
            now: order.created_at,
        })
        .collect();
    execute(conn, insert_statement::<Sqlite, _>("outbox", "", &events)?).await?;
    Ok(group
        .iter()
        .map(|(order, _, _)| inserted.contains(&order.id.0))
        .collect())
}

async fn execute(
    conn: &mut sqlx::SqliteConnection,
    (sql, args): (Arc<str>, SqliteArguments),
) -> Result<(), StoreError> {
    sqlx::query_with(AssertSqlSafe(sql), args)
        .execute(conn)
        .await?;
    Ok(())
}
