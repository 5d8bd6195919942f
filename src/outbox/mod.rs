//! The transactional outbox: events written in the same transaction as the order change,
//! and the worker that delivers them to the Notification service (and NATS JetStream)
//! at least once, with backoff, leases and parking of permanent failures.

mod delivery;
mod nats;
mod notifier;
mod pacing;
mod worker;

/// The queue's data types belong to storage; they are named here too for the delivery
/// side's readers.
pub use crate::storage::outbox::{NewOutboxEvent, OutboxRecord, OutboxStats, OutboxStatus};

pub use crate::event_body::{
    self as event_body, ORDER_CONFIRMATION, ORDER_STATUS_CHANGED, OrderEventBody,
};
pub use delivery::{Backoff, DeliveryOutcome};
pub use nats::NatsPublisher;
pub use notifier::Notifier;
pub use pacing::PacingConfig;
pub use worker::{OutboxWorker, OutboxWorkerConfig};
