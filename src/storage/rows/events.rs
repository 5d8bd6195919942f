//! The `order_events` (history) and `outbox` rows.

use super::{InsertRow, Value, corrupt, status};
use crate::domain::{
    EVENT_ORDER_CREATED, EventId, Order, OrderEvent, OrderId, OrderOrigin, OrderStatus,
};
use crate::event_body::queued_event_json;
use crate::storage::StoreError;
use crate::storage::outbox::{NewOutboxEvent, OutboxAttempt, OutboxRecord, OutboxStatus};
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use std::collections::HashMap;
use uuid::Uuid;

/// One entry of an order's history.
#[derive(sqlx::FromRow)]
pub struct HistoryRow {
    order_id: Uuid,
    kind: String,
    from_status: Option<String>,
    to_status: String,
    actor: String,
    reason: Option<String>,
    tracking_number: Option<String>,
    version: i64,
    at: DateTime<Utc>,
    origin: Option<String>,
}

impl HistoryRow {
    /// The order the entry belongs to.
    pub fn order_id(&self) -> Uuid {
        self.order_id
    }

    /// The creation entry of `order`, naming the path that created it.
    pub fn created(order: &Order, origin: OrderOrigin) -> Self {
        let actor = order.user_id.as_str();
        Self {
            origin: Some(origin.as_str().to_owned()),
            ..Self::new(order, EVENT_ORDER_CREATED, None, actor, None, None)
        }
    }

    /// The entry for `order` as it now is, having come `from` another status (or been
    /// created, for `None`).
    pub fn new(
        order: &Order,
        kind: &str,
        from: Option<OrderStatus>,
        actor: &str,
        reason: Option<&str>,
        tracking_number: Option<&str>,
    ) -> Self {
        Self {
            order_id: order.id.0,
            kind: kind.to_owned(),
            from_status: from.map(|s| s.to_string()),
            to_status: order.status.to_string(),
            actor: actor.to_owned(),
            reason: reason.map(str::to_owned),
            tracking_number: tracking_number.map(str::to_owned),
            version: order.version,
            at: order.updated_at,
            origin: None,
        }
    }
}

impl InsertRow for HistoryRow {
    fn columns(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("order_id", Value::Uuid(self.order_id)),
            ("kind", Value::Text(self.kind.clone())),
            ("from_status", Value::MaybeText(self.from_status.clone())),
            ("to_status", Value::Text(self.to_status.clone())),
            ("actor", Value::Text(self.actor.clone())),
            ("reason", Value::MaybeText(self.reason.clone())),
            (
                "tracking_number",
                Value::MaybeText(self.tracking_number.clone()),
            ),
            ("version", Value::BigInt(self.version)),
            ("at", Value::Time(self.at)),
            ("origin", Value::MaybeText(self.origin.clone())),
        ]
    }
}

impl TryFrom<HistoryRow> for OrderEvent {
    type Error = StoreError;
    fn try_from(row: HistoryRow) -> Result<Self, StoreError> {
        Ok(OrderEvent {
            kind: row.kind,
            from_status: row.from_status.as_deref().map(status).transpose()?,
            to_status: status(&row.to_status)?,
            actor: row.actor,
            at: row.at,
            version: row.version,
            reason: row.reason,
            tracking_number: row.tracking_number,
            origin: row
                .origin
                .as_deref()
                .map(|o| OrderOrigin::parse(o).ok_or_else(|| corrupt(format!("origin {o}"))))
                .transpose()?,
        })
    }
}

/// A new outbox event, due at once.
pub struct NewOutboxRow<'a> {
    pub event: &'a NewOutboxEvent,
    pub now: DateTime<Utc>,
}

impl InsertRow for NewOutboxRow<'_> {
    fn columns(&self) -> Vec<(&'static str, Value)> {
        let event = self.event;
        vec![
            ("id", Value::Uuid(event.id.0)),
            ("event_type", Value::Text(event.event_type.to_owned())),
            ("order_id", Value::Uuid(event.order_id.0)),
            ("sequence", Value::BigInt(event.sequence)),
            ("status", Value::Text(OutboxStatus::Pending.to_string())),
            ("attempts", Value::Int(0)),
            ("next_attempt_at", Value::Time(self.now)),
            ("created_at", Value::Time(self.now)),
        ]
    }
}

/// An outbox event as stored.
#[derive(sqlx::FromRow)]
pub struct OutboxRow {
    id: Uuid,
    event_type: String,
    order_id: Uuid,
    sequence: i64,
    /// The body as written when the event was queued; NULL for events queued since
    /// migration 0006, whose body is built from the order when read.
    payload: Option<String>,
    status: String,
    attempts: i32,
    notified_at: Option<DateTime<Utc>>,
    published_at: Option<DateTime<Utc>>,
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    lease_token: Option<Uuid>,
    requeued_at: Option<DateTime<Utc>>,
}

/// The orders (with their histories) that the bodies of some outbox rows are built from.
#[derive(Default)]
pub struct EventSources {
    pub orders: HashMap<Uuid, Order>,
    pub histories: HashMap<Uuid, Vec<OrderEvent>>,
}

impl OutboxRow {
    /// The order whose replay gives this event's body, if no body is stored.
    pub fn body_source(&self) -> Option<Uuid> {
        self.payload.is_none().then_some(self.order_id)
    }

    /// The record, its body the stored one or else built from its order in `sources`.
    pub fn into_record(self, sources: &EventSources) -> Result<OutboxRecord, StoreError> {
        let id = EventId(self.id);
        let payload = match self.payload {
            Some(stored) => RawValue::from_string(stored).map_err(corrupt)?,
            None => {
                let order = (sources.orders.get(&self.order_id))
                    .ok_or_else(|| corrupt(format!("event {id}: its order is missing")))?;
                let history =
                    (sources.histories.get(&self.order_id)).map_or(&[][..], Vec::as_slice);
                queued_event_json(id, &self.event_type, self.sequence, order, history).ok_or_else(
                    || corrupt(format!("event {id}: the order's history does not reach it")),
                )?
            }
        };
        Ok(OutboxRecord {
            id,
            event_type: self.event_type,
            order_id: OrderId(self.order_id),
            sequence: self.sequence,
            status: self.status.parse().map_err(|_| corrupt("outbox status"))?,
            attempts: self.attempts,
            notified_at: self.notified_at,
            published_at: self.published_at,
            next_attempt_at: self.next_attempt_at,
            last_error: self.last_error,
            created_at: self.created_at,
            delivered_at: self.delivered_at,
            requeued_at: self.requeued_at,
            payload,
            lease_token: self.lease_token,
        })
    }
}

/// One row of the attempt log.
#[derive(sqlx::FromRow)]
pub struct AttemptRow {
    at: DateTime<Utc>,
    duration_ms: i64,
    status_code: Option<i32>,
    error: Option<String>,
    instance: String,
}

impl From<AttemptRow> for OutboxAttempt {
    fn from(row: AttemptRow) -> Self {
        OutboxAttempt {
            at: row.at,
            duration_ms: row.duration_ms,
            status_code: row.status_code,
            error: row.error,
            instance: row.instance,
        }
    }
}

/// An attempt to append to the log of event `event_id`.
pub struct NewAttemptRow<'a> {
    pub event_id: EventId,
    pub attempt: &'a OutboxAttempt,
}

impl InsertRow for NewAttemptRow<'_> {
    fn columns(&self) -> Vec<(&'static str, Value)> {
        let a = self.attempt;
        vec![
            ("event_id", Value::Uuid(self.event_id.0)),
            ("at", Value::Time(a.at)),
            ("duration_ms", Value::BigInt(a.duration_ms)),
            ("status_code", Value::MaybeInt(a.status_code)),
            ("error", Value::MaybeText(a.error.clone())),
            ("instance", Value::Text(a.instance.clone())),
        ]
    }
}
