//! Rows as the tables hold them, and their conversion to domain types. Each row struct is
//! the one place that lists its table's columns: reads decode it with `FromRow`, writes
//! bind it with `PushRow` in the order of its `COLUMNS`, on either backend.

mod events;
mod order;

pub use events::{HistoryRow, NewOutboxRow, OutboxRow};
pub use order::{ItemRow, ListedOrderRow, OrderRow};

use super::StoreError;
use crate::domain::{Money, OrderStatus};
use sqlx::Database;
use sqlx::query_builder::Separated;

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn money(minor: i64, column: &str) -> Result<Money, StoreError> {
    Money::from_minor_units(minor).map_err(|e| corrupt(format!("{column}: {e}")))
}

fn status(text: &str) -> Result<OrderStatus, StoreError> {
    text.parse().map_err(corrupt)
}

/// Binds a row's values, in the order of its `COLUMNS`, into `INSERT … VALUES`.
pub trait PushRow<DB: Database> {
    fn push_row(&self, values: Separated<'_, DB, &'static str>);
}
