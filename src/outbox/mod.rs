//! The transactional outbox: events written in the same transaction as the order change,
//! and the worker that delivers them to the Notification service (and NATS JetStream)
//! at least once, with backoff, leases and parking of permanent failures.

mod delivery;
pub mod event_body;
mod nats;
mod notifier;
mod worker;

use crate::domain::{EventId, Order, OrderStatus};

/// The queue's data types belong to storage; they are named here too for the delivery
/// side's readers.
pub use crate::storage::outbox::{NewOutboxEvent, OutboxRecord, OutboxStats, OutboxStatus};

pub use delivery::{Backoff, DeliveryOutcome};
pub use event_body::OrderEventBody;
pub use nats::NatsPublisher;
pub use notifier::Notifier;
pub use worker::{OutboxWorker, OutboxWorkerConfig};

pub const ORDER_CONFIRMATION: &str = "ORDER_CONFIRMATION";
pub const ORDER_STATUS_CHANGED: &str = "ORDER_STATUS_CHANGED";

/// The event bodies (docs/interface.md), built here where delivery lives; the queue row that
/// carries them is storage's `NewOutboxEvent`.
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
            sequence: body.sequence,
            payload,
        }
    }
}
