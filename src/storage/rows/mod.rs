//! Rows as the tables hold them, and their conversion to domain types. Each row struct is
//! the one place that lists its table's columns: reads decode it by name with `FromRow`,
//! writes take each column's name and value from its `InsertRow::columns`, on either
//! backend. Adding a column means a migration and a field here, nothing positional.

mod events;
mod order;

pub use events::{AttemptRow, EventSources, HistoryRow, NewAttemptRow, NewOutboxRow, OutboxRow};
pub use order::{ItemRow, JoinedItemRow, ListedOrderRow, OrderRow};

use super::StoreError;
use crate::domain::{Address, Money, OrderStatus};
use chrono::{DateTime, Utc};
use uuid::Uuid;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// `minor_units`: the exponent of the order's currency, which the stored integers count in.
fn money(minor: i64, minor_units: u32, column: &str) -> Result<Money, StoreError> {
    Money::from_minor_units(minor, minor_units).map_err(|e| corrupt(format!("{column}: {e}")))
}

fn status(text: &str) -> Result<OrderStatus, StoreError> {
    text.parse().map_err(corrupt)
}

/// A column's value, of one of the SQL types the tables use.
pub enum Value {
    Uuid(Uuid),
    Text(String),
    MaybeText(Option<String>),
    BigInt(i64),
    Int(i32),
    MaybeInt(Option<i32>),
    Time(DateTime<Utc>),
    /// An address as JSON; `None` is JSON `null` (a billing address that is the shipping
    /// address).
    Address(Option<Address>),
}

/// A row to insert: every column's name with its value, so the statement's column list
/// and its values come from one list.
pub trait InsertRow {
    fn columns(&self) -> Vec<(&'static str, Value)>;
}

/// `a, b, c`: the column names of `row`.
pub fn column_names(row: &impl InsertRow) -> String {
    let names: Vec<&str> = row.columns().iter().map(|(name, _)| *name).collect();
    names.join(", ")
}
