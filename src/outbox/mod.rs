//! The transactional outbox: events written in the same transaction as the order change,
//! and the worker that delivers them to the Notification service (and NATS JetStream)
//! at least once, with backoff, leases and parking of permanent failures.

mod delivery;
mod nats;
mod notifier;
mod worker;

use crate::domain::{EventId, Order, OrderId, OrderStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The queue's data types belong to storage; they are named here too for the delivery
/// side's readers.
pub use crate::storage::outbox::{NewOutboxEvent, OutboxRecord, OutboxStats, OutboxStatus};

pub use delivery::{Backoff, DeliveryOutcome};
pub use nats::NatsPublisher;
pub use notifier::Notifier;
pub use worker::{OutboxWorker, OutboxWorkerConfig};

pub const ORDER_CONFIRMATION: &str = "ORDER_CONFIRMATION";
pub const ORDER_STATUS_CHANGED: &str = "ORDER_STATUS_CHANGED";

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

/// The event bodies of contracts §5, built here where delivery lives; the queue row that
/// carries them is storage's `NewOutboxEvent`.
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
