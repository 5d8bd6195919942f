//! Statements built in pieces: reading orders with their items, multi-row inserts.

use super::Decoded;
use crate::domain::Address;
use crate::domain::OrderEvent;
use crate::domain::{Currency, Order};
use crate::storage::StoreError;
use crate::storage::outbox::OutboxRecord;
use crate::storage::rows::{
    EventSources, HistoryRow, InsertRow, JoinedItemRow, ListedOrderRow, OutboxRow, Value,
    column_names,
};
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use uuid::Uuid;

/// Runs `query` (begun by `select_orders`, then its conditions, perhaps an
/// `ORDER BY seq DESC LIMIT`) as one statement: the orders it selects joined with their
/// items, one row per item (one with NULL item columns for an order without items),
/// newest order first and each order's items in position order. Decoded in one pass;
/// an order's own columns are decoded once, from its first row.
pub async fn fetch_orders<DB>(
    conn: &mut DB::Connection,
    mut query: QueryBuilder<DB>,
) -> Result<Vec<(i64, Order)>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    ListedOrderRow: Decoded<DB>,
    JoinedItemRow: Decoded<DB>,
{
    query.push(
        ") AS o LEFT JOIN order_items AS i ON i.order_id = o.id ORDER BY o.seq DESC, i.position",
    );
    let rows = query.build().fetch_all(&mut *conn).await?;
    let mut orders: Vec<(i64, Order)> = Vec::new();
    let mut minor_units = 0;
    for row in &rows {
        let item = JoinedItemRow::from_row(row)?;
        if orders.last().is_none_or(|(seq, _)| *seq != item.seq) {
            let listed = ListedOrderRow::from_row(row)?;
            let order = Order::try_from(listed.order)?;
            minor_units = Currency::minor_units_of(&order.currency);
            orders.push((listed.seq, order));
        }
        if let (Some(item), Some((_, order))) = (item.into_item(minor_units)?, orders.last_mut()) {
            order.items.push(item);
        }
    }
    Ok(orders)
}

/// The records of outbox `rows`, each with its body: the stored one, or, for events queued
/// without one, built from its order and history, read here for all of them at once (two
/// statements on `conn`, whatever the number of rows).
pub async fn outbox_records<DB>(
    conn: &mut DB::Connection,
    rows: Vec<OutboxRow>,
) -> Result<Vec<OutboxRecord>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    ListedOrderRow: Decoded<DB>,
    JoinedItemRow: Decoded<DB>,
    HistoryRow: Decoded<DB>,
    Uuid: for<'t> Encode<'t, DB> + Type<DB>,
{
    let mut wanted: Vec<Uuid> = rows.iter().filter_map(OutboxRow::body_source).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut sources = EventSources::default();
    if !wanted.is_empty() {
        let mut orders = select_orders();
        orders.push(" AND id IN ");
        push_list(&mut orders, wanted.iter().copied());
        for (_, order) in fetch_orders(&mut *conn, orders).await? {
            sources.orders.insert(order.id.0, order);
        }
        let mut history = QueryBuilder::new("SELECT * FROM order_events WHERE order_id IN ");
        push_list(&mut history, wanted.iter().copied());
        let entries: Vec<HistoryRow> = history.build_query_as().fetch_all(&mut *conn).await?;
        for entry in entries {
            let order_id = entry.order_id();
            (sources.histories.entry(order_id).or_default()).push(OrderEvent::try_from(entry)?);
        }
    }
    rows.into_iter()
        .map(|row| row.into_record(&sources))
        .collect()
}

/// Appends `(v, v, …)`, every value bound: the list of an `IN` (at least one value).
pub fn push_list<DB, T>(query: &mut QueryBuilder<DB>, values: impl IntoIterator<Item = T>)
where
    DB: Database,
    T: for<'t> Encode<'t, DB> + Type<DB>,
{
    query.push("(");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    list.push_unseparated(")");
}

/// The start of the statement `fetch_orders` runs: it opens the subquery of the orders
/// wanted (`WHERE 1 = 1`, for the caller's conditions), which `fetch_orders` closes and
/// joins with the items. Item columns are renamed `item_…`, apart from the order's.
pub fn select_orders<DB: Database>() -> QueryBuilder<DB> {
    QueryBuilder::new(
        "SELECT o.*, i.id AS item_id, i.product_id AS item_product_id, i.name AS item_name, \
         i.price_minor AS item_price_minor, i.quantity AS item_quantity \
         FROM (SELECT * FROM orders WHERE 1 = 1",
    )
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
    Json<Option<Address>>: for<'t> Encode<'t, DB> + Type<DB>,
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
