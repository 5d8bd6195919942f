//! The transactional outbox: events written in the same transaction as the order change,
//! and the worker that delivers them to the Notification service (and NATS JetStream)
//! at least once, with backoff, leases and parking of permanent failures.

mod delivery;
pub mod event_body;
mod nats;
mod notifier;
mod worker;

use crate::domain::{EventId, Order, OrderId, OrderStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

pub use delivery::{Backoff, DeliveryOutcome};
pub use event_body::OrderEventBody;
pub use nats::NatsPublisher;
pub use notifier::Notifier;
pub use worker::{OutboxWorker, OutboxWorkerConfig};

pub const ORDER_CONFIRMATION: &str = "ORDER_CONFIRMATION";
pub const ORDER_STATUS_CHANGED: &str = "ORDER_STATUS_CHANGED";

/// An event to insert into the outbox, with its payload already serialized.
#[derive(Clone, Debug)]
pub struct NewOutboxEvent {
    pub id: EventId,
    pub event_type: &'static str,
    pub order_id: OrderId,
    pub payload: String,
}

impl NewOutboxEvent {
    /// The `ORDER_CONFIRMATION` of docs/interface.md §3 for a newly created order.
    pub fn order_confirmation(order: &Order) -> Self {
        Self::build(ORDER_CONFIRMATION, order, None)
    }

    /// The `ORDER_STATUS_CHANGED` event for an order that just moved from `from`.
    pub fn status_changed(order: &Order, from: OrderStatus) -> Self {
        Self::build(ORDER_STATUS_CHANGED, order, Some(from))
    }

    fn build(event_type: &'static str, order: &Order, from: Option<OrderStatus>) -> Self {
        let id = EventId::generate();
        let body = OrderEventBody::new(id, event_type, order, from);
        let payload = serde_json::to_string(&body).expect("an event body serializes");
        Self {
            id,
            event_type,
            order_id: order.id,
            payload,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboxStatus {
    Pending,
    Delivered,
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "PENDING",
            OutboxStatus::Delivered => "DELIVERED",
            OutboxStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PENDING" => Some(OutboxStatus::Pending),
            "DELIVERED" => Some(OutboxStatus::Delivered),
            "FAILED" => Some(OutboxStatus::Failed),
            _ => None,
        }
    }
}

/// An outbox event as stored, for the worker and the admin API.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboxRecord {
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
    pub order_id: OrderId,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub notified_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxStats {
    pub pending: i64,
    pub failed: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}
