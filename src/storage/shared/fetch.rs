//! Statements built in pieces: reading orders with their items, multi-row inserts.

use super::{Bind, Decoded};
use crate::domain::{Order, OrderItem};
use crate::storage::StoreError;
use crate::storage::rows::{ItemRow, ListedOrderRow, OrderRow, PushRow};
use sqlx::{Database, Executor, IntoArguments, Pool, QueryBuilder};
use std::collections::HashMap;
use uuid::Uuid;

const SELECT_ORDERS: &str = "SELECT seq, ";

/// Runs `query` (a `SELECT` of listed order rows) and loads the items of what it finds in
/// one more query, attached in position order.
pub async fn fetch_orders<DB>(
    pool: &Pool<DB>,
    mut query: QueryBuilder<DB>,
) -> Result<Vec<(i64, Order)>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    Uuid: Bind<DB>,
    ListedOrderRow: Decoded<DB>,
    ItemRow: Decoded<DB>,
{
    let rows: Vec<ListedOrderRow> = query.build_query_as().fetch_all(pool).await?;
    let mut orders = Vec::with_capacity(rows.len());
    for row in rows {
        orders.push((row.seq, Order::try_from(row.order)?));
    }
    if orders.is_empty() {
        return Ok(orders);
    }
    let mut items = QueryBuilder::<DB>::new(format!(
        "SELECT {} FROM order_items WHERE order_id IN (",
        ItemRow::COLUMNS
    ));
    let mut ids = items.separated(", ");
    for (_, order) in &orders {
        ids.push_bind(order.id.0);
    }
    items.push(") ORDER BY order_id, position");
    let mut by_order: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    for row in items.build_query_as::<ItemRow>().fetch_all(pool).await? {
        by_order
            .entry(row.order_id)
            .or_default()
            .push(row.try_into()?);
    }
    for (_, order) in &mut orders {
        order.items = by_order.remove(&order.id.0).unwrap_or_default();
    }
    Ok(orders)
}

pub fn select_orders<DB: Database>() -> QueryBuilder<DB> {
    QueryBuilder::new(format!(
        "{SELECT_ORDERS}{} FROM orders WHERE 1 = 1",
        OrderRow::COLUMNS
    ))
}

/// Appends `INSERT INTO {table} ({columns}) VALUES …` for `rows` to `query`.
pub fn push_insert<'r, DB, R>(
    query: &mut QueryBuilder<DB>,
    table: &str,
    columns: &str,
    rows: impl IntoIterator<Item = &'r R>,
) where
    DB: Database,
    R: PushRow<DB> + 'r,
{
    query.push(format!("INSERT INTO {table} ({columns}) "));
    query.push_values(rows, |values, row| row.push_row(values));
}

/// `INSERT INTO {table} ({columns}) VALUES …` for `rows`.
pub fn insert_rows<'r, DB, R>(
    table: &str,
    columns: &str,
    rows: impl IntoIterator<Item = &'r R>,
) -> QueryBuilder<DB>
where
    DB: Database,
    R: PushRow<DB> + 'r,
{
    let mut query = QueryBuilder::new("");
    push_insert(&mut query, table, columns, rows);
    query
}
