//! The transactional outbox: events written in the same transaction as the order change,
//! and the worker that delivers them to the Notification service (and NATS JetStream)
//! at least once, with backoff, leases and parking of permanent failures.

mod delivery;
mod nats;
mod notifier;
mod worker;

use crate::domain::{EventId, Order, OrderId, OrderStatus};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

pub use delivery::{Backoff, DeliveryOutcome};
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    event_id: EventId,
    #[serde(rename = "type")]
    event_type: &'static str,
    occurred_at: DateTime<Utc>,
    order_id: OrderId,
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_status: Option<OrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_status: Option<OrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracking_number: Option<&'a str>,
    order: &'a Order,
}

impl NewOutboxEvent {
    /// The `ORDER_CONFIRMATION` of contracts §5 for a newly created order.
    pub fn order_confirmation(order: &Order) -> Self {
        Self::build(ORDER_CONFIRMATION, order, None)
    }

    /// The `ORDER_STATUS_CHANGED` event for an order that just moved from `from`.
    pub fn status_changed(order: &Order, from: OrderStatus) -> Self {
        Self::build(ORDER_STATUS_CHANGED, order, Some(from))
    }

    fn build(event_type: &'static str, order: &Order, from: Option<OrderStatus>) -> Self {
        let id = EventId::generate();
        let envelope = Envelope {
            event_id: id,
            event_type,
            occurred_at: order.updated_at,
            order_id: order.id,
            user_id: order.user_id.as_str(),
            email: order.email.as_deref(),
            from_status: from,
            to_status: from.map(|_| order.status),
            tracking_number: from.and(order.tracking_number.as_deref()),
            order,
        };
        let payload = serde_json::to_string(&envelope).expect("order serializes");
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
