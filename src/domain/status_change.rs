//! A requested move of an order to another status.

use super::OrderStatus;

/// A requested move to another status, with what the target status records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    pub to: OrderStatus,
    pub reason: Option<String>,
    pub tracking_number: Option<String>,
}
