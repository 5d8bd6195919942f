//! The outbox queue as stored: the events written in the same transaction as an order
//! change, and what the delivery worker and the admin API read back. Delivering them is
//! the `outbox` module's business; this module only owns their shape.

use crate::domain::{EventId, OrderId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::time::Duration;
use utoipa::ToSchema;

/// An event to insert into the outbox, with its payload already serialized.
#[derive(Clone, Debug)]
pub struct NewOutboxEvent {
    pub id: EventId,
    pub event_type: &'static str,
    pub order_id: OrderId,
    pub payload: String,
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxStats {
    pub pending: i64,
    pub failed: i64,
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

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
#[derive(Clone, Copy, Debug)]
pub struct OutboxRetry<'a> {
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub error: &'a str,
}
