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
use sqlx::{Arguments, Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
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

    /// Adds `row`'s values to `args`, in its column order: what `push_rows` binds for it,
    /// for a statement whose text was built before.
    fn add_row(args: &mut Self::Arguments, row: &impl InsertRow) -> Result<(), StoreError>;
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

    fn add_row(args: &mut DB::Arguments, row: &impl InsertRow) -> Result<(), StoreError> {
        for (_, value) in row.columns() {
            match value {
                Value::Uuid(v) => args.add(v),
                Value::Text(v) => args.add(v),
                Value::MaybeText(v) => args.add(v),
                Value::BigInt(v) => args.add(v),
                Value::Int(v) => args.add(v),
                Value::MaybeInt(v) => args.add(v),
                Value::Time(v) => args.add(v),
                Value::Address(v) => args.add(Json(v)),
            }
            .map_err(|e| StoreError::Database(sqlx::Error::Encode(e)))?;
        }
        Ok(())
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

/// Statements with up to this many rows (or items) have their text kept.
const KEPT_UP_TO_ROWS: usize = 64;

/// Statement texts built once and kept, each under a key that determines it: every value
/// is a placeholder, so later uses skip formatting column lists and placeholders and go
/// straight to binding. Texts of more than `KEPT_UP_TO_ROWS` rows are built each time, so
/// what is kept stays small.
pub struct KeptTexts<K>(LazyLock<Mutex<HashMap<K, Arc<str>>>>);

impl<K: Eq + std::hash::Hash> KeptTexts<K> {
    pub const fn new() -> Self {
        Self(LazyLock::new(Mutex::default))
    }

    /// The text kept for `key`, else the one `build` writes for `rows` rows (kept if
    /// there are at most `KEPT_UP_TO_ROWS`).
    pub fn get_or_build(&self, key: K, rows: usize, build: impl FnOnce() -> String) -> Arc<str> {
        let kept = || self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(text) = kept().get(&key).cloned() {
            return text;
        }
        let text: Arc<str> = build().into();
        if rows <= KEPT_UP_TO_ROWS {
            kept().insert(key, text.clone());
        }
        text
    }
}

/// `INSERT INTO {table} (…) VALUES (…), … {suffix}` for `rows` (at least one), and their
/// values bound in order. The text depends only on the backend, the row type (its
/// columns), the table, the suffix and the number of rows, so it is kept (`KeptTexts`):
/// the SQLite group commit's four statements then cost no formatting of column lists and
/// placeholders, only the binding of their values.
pub fn insert_statement<DB: BindRows, R: InsertRow>(
    table: &'static str,
    suffix: &'static str,
    rows: &[R],
) -> Result<(Arc<str>, DB::Arguments), StoreError> {
    type Key = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        usize,
    );
    static KEPT: KeptTexts<Key> = KeptTexts::new();
    let key = (
        DB::NAME,
        std::any::type_name::<R>(),
        table,
        suffix,
        rows.len(),
    );
    let sql = KEPT.get_or_build(key, rows.len(), || {
        let mut query = insert_rows::<DB, R>(table, rows);
        query.push(suffix);
        query.into_string()
    });
    let mut args = DB::Arguments::default();
    for row in rows {
        DB::add_row(&mut args, row)?;
    }
    Ok((sql, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::fixtures::placed;
    use crate::storage::rows::OrderRow;
    use sqlx::{Postgres, Sqlite};

    fn same_as_built<DB: BindRows>(rows: &[OrderRow]) {
        let suffix = " ON CONFLICT (checkout_session_id) DO NOTHING RETURNING id";
        for n in 1..=rows.len() {
            // First built and kept, then taken from what was kept.
            for _ in 0..2 {
                let (sql, args) = insert_statement::<DB, _>("orders", suffix, &rows[..n]).unwrap();
                let mut built = insert_rows::<DB, _>("orders", &rows[..n]);
                built.push(suffix);
                assert_eq!(&*sql, built.into_string(), "{} rows", n);
                assert_eq!(args.len(), n * rows[0].columns().len(), "{} rows", n);
            }
        }
    }

    #[test]
    fn a_kept_statement_is_the_one_built_each_time_with_every_value_bound() {
        let rows: Vec<OrderRow> = (0..4).map(|_| OrderRow::from(&placed())).collect();
        same_as_built::<Sqlite>(&rows);
        same_as_built::<Postgres>(&rows);
    }
}
