//! An order's history: one entry for its creation and one per status change.

use super::{OrderOrigin, OrderStatus};
use chrono::{DateTime, Utc};

pub const EVENT_ORDER_CREATED: &str = "ORDER_CREATED";
pub const EVENT_STATUS_CHANGED: &str = "STATUS_CHANGED";

/// One entry of an order's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderEvent {
    /// `ORDER_CREATED` or `STATUS_CHANGED`.
    pub kind: String,
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    /// The user id of whoever caused the event.
    pub actor: String,
    pub at: DateTime<Utc>,
    pub version: i64,
    pub reason: Option<String>,
    pub tracking_number: Option<String>,
    /// On the creation event: which path created the order (docs/interface.md).
    pub origin: Option<OrderOrigin>,
}
