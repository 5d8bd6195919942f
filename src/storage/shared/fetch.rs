//! Statements built in pieces: reading orders with their items, multi-row inserts.

use super::{Bind, Decoded};
use crate::domain::Address;
use crate::domain::{Currency, Order, OrderItem};
use crate::storage::StoreError;
use crate::storage::rows::{InsertRow, ItemRow, ListedOrderRow, Value, column_names};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, QueryBuilder, Type};
use std::collections::HashMap;
use uuid::Uuid;

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
    let mut items = QueryBuilder::<DB>::new("SELECT * FROM order_items WHERE order_id IN (");
    let mut ids = items.separated(", ");
    for (_, order) in &orders {
        ids.push_bind(order.id.0);
    }
    items.push(") ORDER BY order_id, position");
    let units: HashMap<Uuid, u32> = (orders.iter())
        .map(|(_, order)| (order.id.0, Currency::minor_units_of(&order.currency)))
        .collect();
    let mut by_order: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    for row in items.build_query_as::<ItemRow>().fetch_all(pool).await? {
        let minor_units = units[&row.order_id];
        by_order
            .entry(row.order_id)
            .or_default()
            .push(row.into_item(minor_units)?);
    }
    for (_, order) in &mut orders {
        order.items = by_order.remove(&order.id.0).unwrap_or_default();
    }
    Ok(orders)
}

pub fn select_orders<DB: Database>() -> QueryBuilder<DB> {
    QueryBuilder::new("SELECT * FROM orders WHERE 1 = 1")
}

/// Databases that can bind every kind of row `Value` (both backends): the one place
/// that turns a row's values into bound parameters.
pub trait BindRows: Database {
    /// Appends `VALUES (…), (…)` with each row's values bound.
    fn push_rows<'r, R: InsertRow + 'r>(
        query: &mut QueryBuilder<Self>,
        rows: impl IntoIterator<Item = &'r R>,
    );
}

impl<DB: Database> BindRows for DB
where
    Uuid: for<'t> Encode<'t, DB> + Type<DB>,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    Option<String>: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
    i32: for<'t> Encode<'t, DB> + Type<DB>,
    Option<i32>: for<'t> Encode<'t, DB> + Type<DB>,
    DateTime<Utc>: for<'t> Encode<'t, DB> + Type<DB>,
    Json<Address>: for<'t> Encode<'t, DB> + Type<DB>,
{
    fn push_rows<'r, R: InsertRow + 'r>(
        query: &mut QueryBuilder<DB>,
        rows: impl IntoIterator<Item = &'r R>,
    ) {
        query.push_values(rows, |mut values, row| {
            for (_, value) in row.columns() {
                match value {
                    Value::Uuid(v) => values.push_bind(v),
                    Value::Text(v) => values.push_bind(v),
                    Value::MaybeText(v) => values.push_bind(v),
                    Value::BigInt(v) => values.push_bind(v),
                    Value::Int(v) => values.push_bind(v),
                    Value::MaybeInt(v) => values.push_bind(v),
                    Value::Time(v) => values.push_bind(v),
                    Value::Address(v) => values.push_bind(Json(v)),
                };
            }
        });
    }
}

/// `INSERT INTO {table} (…) VALUES …` for `rows` (at least one), the column list taken
/// from the first row.
pub fn insert_rows<DB: BindRows, R: InsertRow>(table: &str, rows: &[R]) -> QueryBuilder<DB> {
    let columns = rows.first().map(column_names).unwrap_or_default();
    let mut query = QueryBuilder::new(format!("INSERT INTO {table} ({columns}) "));
    DB::push_rows(&mut query, rows);
    query
}
