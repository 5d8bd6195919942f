//! The outbox queue as stored: the events written in the same transaction as an order
//! change, and what the delivery worker and the admin API read back. Delivering them is
//! the `outbox` module's business; this module only owns their shape.

use crate::domain::{EventId, Order, OrderId};
use crate::event_body::{ORDER_CONFIRMATION, ORDER_STATUS_CHANGED};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::time::Duration;
use utoipa::ToSchema;

/// An event to insert into the outbox. Its body is not stored: it is built from the order
/// (replayed to `sequence`) whenever the event is read, so an order is not stored twice.
#[derive(Clone, Debug)]
pub struct NewOutboxEvent {
    pub id: EventId,
    pub event_type: &'static str,
    pub order_id: OrderId,
    /// The order's event number: 1 for the confirmation, then one per status change (the
    /// order's `version` after it).
    pub sequence: i64,
}

impl NewOutboxEvent {
    /// The `ORDER_CONFIRMATION` of docs/interface.md §3 for a newly created order.
    pub fn order_confirmation(order: &Order) -> Self {
        Self::about(ORDER_CONFIRMATION, order)
    }

    /// The `ORDER_STATUS_CHANGED` event for an order that just changed status.
    pub fn status_changed(order: &Order) -> Self {
        Self::about(ORDER_STATUS_CHANGED, order)
    }

    fn about(event_type: &'static str, order: &Order) -> Self {
        Self {
            id: EventId::generate(),
            event_type,
            order_id: order.id,
            sequence: order.version,
        }
    }
}

// Where an event is in its delivery; stored as the upper-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(strum::Display, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE", ascii_case_insensitive)]
pub enum OutboxStatus {
    Pending,
    Delivered,
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
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
    /// The order's event number (1 = confirmation); events of one order go out in order.
    pub sequence: i64,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub notified_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// When an operator last requeued it (retry or replay); its age limit counts from then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requeued_at: Option<DateTime<Utc>>,
    #[schema(value_type = Object)]
    pub payload: Box<RawValue>,
    /// The fencing token of the claim that returned this record (none when not claimed):
    /// completions count only while the event still carries it.
    #[serde(skip)]
    pub lease_token: Option<uuid::Uuid>,
}

impl OutboxRecord {
    /// Since when the event has been waiting for delivery: its creation, or the operator's
    /// last requeue.
    pub fn queued_since(&self) -> DateTime<Utc> {
        self.requeued_at.unwrap_or(self.created_at)
    }
}

/// One attempt at delivering an event, as the attempt log keeps it.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OutboxAttempt {
    pub at: DateTime<Utc>,
    pub duration_ms: i64,
    /// The HTTP status the Notification service answered, if it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    /// What went wrong, for an attempt that did not deliver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The service instance that made the attempt.
    pub instance: String,
}

/// How an attempt ends for the event, recorded only while the claim still holds its lease.
#[derive(Clone, Debug)]
pub enum OutboxCompletion {
    /// Every sink has it; `webhook` says whether the Notification service was one of them.
    Delivered { attempts: i32, webhook: bool },
    /// Back to the queue, due at `next_attempt_at`.
    Retry(OutboxRetry),
    /// Parked as FAILED for an operator.
    Park { attempts: i32, error: String },
}

/// One attempt's result for `complete_outbox_batch`: its `completion` (recorded only while
/// the claim holds the event) and its `attempt` log entry, if any (always recorded).
#[derive(Clone, Copy, Debug)]
pub struct OutboxResult<'a> {
    pub id: EventId,
    pub completion: &'a OutboxCompletion,
    pub attempt: Option<&'a OutboxAttempt>,
}

/// A page of the admin listing: `status` and `order_id` filter, `after` is the keyset
/// position (created_at, id) of the previous page's last event; oldest first.
#[derive(Clone, Debug, Default)]
pub struct OutboxFilter {
    pub status: Option<OutboxStatus>,
    pub order_id: Option<OrderId>,
    pub after: Option<(DateTime<Utc>, EventId)>,
    pub limit: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxStats {
    /// Counted up to `OUTBOX_COUNT_LIMIT`; a larger backlog reads as that limit.
    pub pending: i64,
    pub failed: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// The backlog counts stop here, so the metric never scans an unbounded table.
pub const OUTBOX_COUNT_LIMIT: i64 = 10_000;

/// Where an outbox event must go; completing all configured sinks delivers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sinks {
    pub webhook: bool,
    pub nats: bool,
}

/// A worker's request for due events: up to `limit` of them, leased to `worker` for
/// `lease`, among those still owed to one of `sinks`.
#[derive(Clone, Copy, Debug)]
pub struct OutboxClaim<'a> {
    pub worker: &'a str,
    pub lease: Duration,
    pub limit: u32,
    pub sinks: Sinks,
}

/// A failed attempt to record: the event goes back to the queue, due at `next_attempt_at`.
#[derive(Clone, Debug)]
pub struct OutboxRetry {
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub error: String,
}
