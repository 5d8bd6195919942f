//! A new order in one statement: the order, its items, its creation event and its outbox
//! event as one CTE, so one round trip and one implicit transaction instead of BEGIN, four
//! INSERTs and COMMIT. When the session already has an order, `new_order` is empty and
//! nothing is written.

use crate::domain::{Order, OrderOrigin};
use crate::storage::StoreError;
use crate::storage::outbox::NewOutboxEvent;
use crate::storage::pool::Pool;
use crate::storage::rows::{HistoryRow, InsertRow, ItemRow, NewOutboxRow, OrderRow, column_names};
use crate::storage::shared::BindRows;
use sqlx::{Postgres, QueryBuilder};

pub(super) async fn write_new_order(
    pool: &Pool<Postgres>,
    order: &Order,
    outbox: &NewOutboxEvent,
    origin: OrderOrigin,
) -> Result<bool, StoreError> {
    let row = OrderRow::from(order);
    let mut query = QueryBuilder::<Postgres>::new(format!(
        "WITH new_order AS (INSERT INTO orders ({}) ",
        column_names(&row)
    ));
    Postgres::push_rows(&mut query, [&row]);
    query.push(" ON CONFLICT (checkout_session_id) DO NOTHING RETURNING id)");
    let items: Vec<ItemRow> = (order.items.iter().enumerate())
        .map(|(position, item)| ItemRow::new(order, position, item))
        .collect();
    if !items.is_empty() {
        insert_if_new(&mut query, "items", "order_items", &items);
    }
    let history = HistoryRow::created(order, origin);
    insert_if_new(&mut query, "history", "order_events", &[history]);
    let event = NewOutboxRow {
        event: outbox,
        now: order.created_at,
    };
    insert_if_new(&mut query, "confirmation", "outbox", &[event]);
    query.push(" SELECT COUNT(*) FROM new_order");
    let created: i64 = query
        .build_query_scalar()
        .fetch_one(&mut *pool.acquire().await?)
        .await?;
    Ok(created > 0)
}

/// `, {name} AS (INSERT INTO {table} … SELECT … FROM (VALUES …), new_order)`: the rows are
/// written once per row of `new_order`, so only when the order was.
fn insert_if_new<R: InsertRow>(
    query: &mut QueryBuilder<Postgres>,
    name: &str,
    table: &str,
    rows: &[R],
) {
    let columns = rows.first().map(column_names).unwrap_or_default();
    query.push(format!(
        ", {name} AS (INSERT INTO {table} ({columns}) SELECT v.* FROM ("
    ));
    Postgres::push_rows(query, rows);
    query.push(format!(") AS v ({columns}), new_order)"));
}
