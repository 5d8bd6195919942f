//! Embedded SQLite backend (the default). WAL mode lets readers run beside the single
//! writer; writes go through a one-connection pool so they queue in the pool instead of
//! spinning on SQLite's busy lock. One process per database file.
//!
//! New orders are group-committed: with synchronous=FULL every commit waits for an fsync,
//! so one task commits all the orders that queued up meanwhile in one transaction, with
//! one multi-row INSERT per table (each order whole or not at all, acknowledged only after
//! the commit).

use crate::domain::OrderOrigin;
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
    origin: OrderOrigin,
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

    pub(super) fn write_pool(&self) -> &SqlitePool {
        &self.writer
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
    let created = write_orders_together(&mut tx, group).await?;
    tx.commit().await?;
    Ok(created)
}

/// Writes new orders with one multi-row INSERT per table (orders, items, creation events,
/// outbox) inside the caller's transaction. Per order: `false` (nothing written for it)
/// when its checkout session already has an order.
async fn write_orders_together(
    conn: &mut sqlx::SqliteConnection,
    group: &[PendingOrder],
) -> Result<Vec<bool>, StoreError> {
    let mut orders = QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO orders (id, user_id, email, checkout_session_id, payment_intent_id, \
         status, currency, subtotal_minor, shipping_minor, tax_minor, discount_minor, \
         total_minor, shipping_address, billing_address, version, created_at, updated_at) ",
    );
    orders.push_values(group, |mut row, pending| {
        let order = &pending.order;
        row.push_bind(order.id.0)
            .push_bind(order.user_id.as_str())
            .push_bind(order.email.as_deref())
            .push_bind(order.checkout_session_id.0)
            .push_bind(order.payment_intent_id.as_deref())
            .push_bind(order.status.as_str())
            .push_bind(order.currency.as_str())
            .push_bind(order.subtotal_amount.minor_units())
            .push_bind(order.shipping_amount.minor_units())
            .push_bind(order.tax_amount.minor_units())
            .push_bind(order.discount_amount.minor_units())
            .push_bind(order.total_amount.minor_units())
            .push_bind(Json(&order.shipping_address))
            .push_bind(Json(&order.billing_address))
            .push_bind(order.version)
            .push_bind(order.created_at)
            .push_bind(order.updated_at);
    });
    orders.push(" ON CONFLICT (checkout_session_id) DO NOTHING RETURNING id");
    let inserted: Vec<Uuid> = orders.build_query_scalar().fetch_all(&mut *conn).await?;
    let created: Vec<&PendingOrder> = group
        .iter()
        .filter(|p| inserted.contains(&p.order.id.0))
        .collect();
    if created.is_empty() {
        return Ok(vec![false; group.len()]);
    }
    let lines: Vec<(&Order, usize, &OrderItem)> = created
        .iter()
        .flat_map(|p| {
            p.order
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| (&p.order, i, item))
        })
        .collect();
    // Well under SQLite's 32,766 bound parameters per statement.
    for chunk in lines.chunks(1000) {
        let mut items = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO order_items (id, order_id, position, product_id, name, price_minor, quantity) ",
        );
        items.push_values(chunk, |mut row, (order, position, item)| {
            row.push_bind(item.id.0)
                .push_bind(order.id.0)
                .push_bind(*position as i32)
                .push_bind(item.product_id.as_str())
                .push_bind(item.name.as_deref())
                .push_bind(item.price.minor_units())
                .push_bind(item.quantity.get() as i32);
        });
        items.build().execute(&mut *conn).await?;
    }
    let mut history = QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO order_events (order_id, kind, from_status, to_status, actor, reason, \
         tracking_number, version, at, origin) ",
    );
    history.push_values(&created, |mut row, pending| {
        let order = &pending.order;
        row.push_bind(order.id.0)
            .push_bind(crate::domain::order::EVENT_ORDER_CREATED)
            .push("NULL")
            .push_bind(order.status.as_str())
            .push_bind(order.user_id.as_str())
            .push("NULL")
            .push("NULL")
            .push_bind(order.version)
            .push_bind(order.updated_at)
            .push_bind(pending.origin.as_str());
    });
    history.build().execute(&mut *conn).await?;
    let mut outbox = QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO outbox (id, event_type, order_id, payload, status, attempts, \
         next_attempt_at, created_at) ",
    );
    outbox.push_values(&created, |mut row, pending| {
        let event = &pending.outbox;
        row.push_bind(event.id.0)
            .push_bind(event.event_type)
            .push_bind(event.order_id.0)
            .push_bind(event.payload.as_str())
            .push("'PENDING'")
            .push("0")
            .push_bind(pending.order.created_at)
            .push_bind(pending.order.created_at);
    });
    outbox.build().execute(&mut *conn).await?;
    Ok(group
        .iter()
        .map(|p| inserted.contains(&p.order.id.0))
        .collect())
}
