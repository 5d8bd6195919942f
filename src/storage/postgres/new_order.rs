//! A new order in one statement: the order, its items, its creation event and its outbox
//! event as one CTE, so one round trip and one implicit transaction instead of BEGIN, four
//! INSERTs and COMMIT. When the session already has an order, `new_order` is empty and
//! nothing is written.

use crate::domain::{Order, OrderOrigin};
use crate::storage::StoreError;
use crate::storage::outbox::NewOutboxEvent;
use crate::storage::pool::Pool;
use crate::storage::rows::{HistoryRow, InsertRow, ItemRow, NewOutboxRow, OrderRow, column_names};
use crate::storage::shared::{BindRows, KeptTexts};
use sqlx::postgres::PgArguments;
use sqlx::{AssertSqlSafe, Postgres, QueryBuilder};
use std::sync::Arc;

pub(super) async fn write_new_order(
    pool: &Pool<Postgres>,
    order: &Order,
    outbox: &NewOutboxEvent,
    origin: OrderOrigin,
) -> Result<bool, StoreError> {
    let row = OrderRow::from(order);
    let items: Vec<ItemRow> = (order.items.iter().enumerate())
        .map(|(position, item)| ItemRow::new(order, position, item))
        .collect();
    let history = HistoryRow::created(order, origin);
    let event = NewOutboxRow {
        event: outbox,
        now: order.created_at,
    };
    let sql = statement(&row, &items, &history, &event);
    // The values in the order the statement's placeholders number them.
    let mut args = PgArguments::default();
    Postgres::add_row(&mut args, &row)?;
    for item in &items {
        Postgres::add_row(&mut args, item)?;
    }
    Postgres::add_row(&mut args, &history)?;
    Postgres::add_row(&mut args, &event)?;
    let created: i64 = sqlx::query_scalar_with(AssertSqlSafe(sql), args)
        .fetch_one(&mut *pool.acquire().await?)
        .await?;
    Ok(created > 0)
}

/// The statement for an order with `items.len()` items. Its text depends on nothing else
/// (every value is a placeholder), so it is built once per size and kept (`KeptTexts`).
fn statement(
    row: &OrderRow,
    items: &[ItemRow],
    history: &HistoryRow,
    event: &NewOutboxRow,
) -> Arc<str> {
    static KEPT: KeptTexts<usize> = KeptTexts::new();
    KEPT.get_or_build(items.len(), items.len(), || {
        let mut query = QueryBuilder::<Postgres>::new(format!(
            "WITH new_order AS (INSERT INTO orders ({}) ",
            column_names(row)
        ));
        Postgres::push_rows(&mut query, [row]);
        query.push(" ON CONFLICT (checkout_session_id) DO NOTHING RETURNING id)");
        if !items.is_empty() {
            insert_if_new(&mut query, "items", "order_items", items);
        }
        insert_if_new(
            &mut query,
            "history",
            "order_events",
            std::slice::from_ref(history),
        );
        insert_if_new(
            &mut query,
            "confirmation",
            "outbox",
            std::slice::from_ref(event),
        );
        query.push(" SELECT COUNT(*) FROM new_order");
        query.into_string()
    })
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
