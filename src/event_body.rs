//! The body of an event as receivers get it (the Notification service, NATS): schema
//! version 1. Its own types, built from the domain `Order`, so a change to the REST
//! response never changes what receivers get; a change here is a new `schemaVersion`.
//! The fields are documented in `docs/interface.md` (event bodies). It sits below both
//! the outbox (which sends bodies) and storage (which builds a queued event's body from
//! the order at delivery time, rather than storing a second copy of the order).

use crate::domain::{
    Address, CheckoutSessionId, EventId, Money, Order, OrderEvent, OrderId, OrderItem, OrderItemId,
    OrderStatus, Quantity, UserId,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;

/// The version of the body below; receivers may branch on `schemaVersion`.
pub const SCHEMA_VERSION: u32 = 1;

pub const ORDER_CONFIRMATION: &str = "ORDER_CONFIRMATION";
pub const ORDER_STATUS_CHANGED: &str = "ORDER_STATUS_CHANGED";

/// The serialized body of the queued event `event_id` (`event_type`, the order's event
/// number `sequence`) about `order`, whose whole `history` is given: the order replayed
/// to that version, so the body is byte for byte the one built when the event was
/// queued. `None` when the type is unknown or the history does not reach `sequence`.
pub fn queued_event_json(
    event_id: EventId,
    event_type: &str,
    sequence: i64,
    order: &Order,
    history: &[OrderEvent],
) -> Option<Box<RawValue>> {
    let (event_type, from) = match event_type {
        ORDER_CONFIRMATION => (ORDER_CONFIRMATION, None),
        ORDER_STATUS_CHANGED => {
            let entry = history.iter().find(|e| e.version == sequence)?;
            (ORDER_STATUS_CHANGED, Some(entry.from_status?))
        }
        _ => return None,
    };
    let then = order.at_version(history, sequence)?;
    let body = OrderEventBody::new(event_id, event_type, &then, from);
    // Serialized straight into a RawValue: JSON we just wrote needs no parsing to check it.
    Some(serde_json::value::to_raw_value(&body).expect("an event body serializes"))
}

/// `ORDER_CONFIRMATION` or `ORDER_STATUS_CHANGED`, version 1.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderEventBody<'a> {
    pub event_id: EventId,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub schema_version: u32,
    pub occurred_at: DateTime<Utc>,
    pub order_id: OrderId,
    /// The order's event number: 1 for the confirmation, then one per status change
    /// (the order's `version` after the change). Receivers get an order's events in
    /// this order.
    pub sequence: i64,
    pub user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_status: Option<OrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_status: Option<OrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<&'a str>,
    pub order: EventOrder<'a>,
}

/// The order inside an event body, version 1.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOrder<'a> {
    pub id: OrderId,
    pub user_id: &'a UserId,
    pub checkout_session_id: CheckoutSessionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_intent_id: Option<&'a str>,
    pub status: OrderStatus,
    pub currency: &'a str,
    pub total_amount: Money,
    pub subtotal_amount: Money,
    pub shipping_amount: Money,
    pub tax_amount: Money,
    pub discount_amount: Money,
    pub items: Vec<EventOrderItem<'a>>,
    pub shipping_address: &'a Address,
    pub billing_address: &'a Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<&'a str>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One order line inside an event body, version 1.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOrderItem<'a> {
    pub id: OrderItemId,
    pub product_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub price: Money,
    pub quantity: Quantity,
}

impl<'a> OrderEventBody<'a> {
    /// The body of event `event_id` of type `event_type` about `order`; `from` is the
    /// previous status of a status change (`None` for the confirmation).
    pub fn new(
        event_id: EventId,
        event_type: &'static str,
        order: &'a Order,
        from: Option<OrderStatus>,
    ) -> Self {
        Self {
            event_id,
            event_type,
            schema_version: SCHEMA_VERSION,
            occurred_at: order.updated_at,
            order_id: order.id,
            sequence: order.version,
            user_id: order.user_id.as_str(),
            email: order.email.as_deref(),
            from_status: from,
            to_status: from.map(|_| order.status),
            tracking_number: from.and(order.tracking_number.as_deref()),
            order: EventOrder::from(order),
        }
    }
}

impl<'a> From<&'a Order> for EventOrder<'a> {
    fn from(order: &'a Order) -> Self {
        Self {
            id: order.id,
            user_id: &order.user_id,
            checkout_session_id: order.checkout_session_id,
            payment_intent_id: order.payment_intent_id.as_deref(),
            status: order.status,
            currency: &order.currency,
            total_amount: order.total_amount,
            subtotal_amount: order.subtotal_amount,
            shipping_amount: order.shipping_amount,
            tax_amount: order.tax_amount,
            discount_amount: order.discount_amount,
            items: order.items.iter().map(EventOrderItem::from).collect(),
            shipping_address: &order.shipping_address,
            billing_address: &order.billing_address,
            tracking_number: order.tracking_number.as_deref(),
            cancellation_reason: order.cancellation_reason.as_deref(),
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

impl<'a> From<&'a OrderItem> for EventOrderItem<'a> {
    fn from(item: &'a OrderItem) -> Self {
        Self {
            id: item.id,
            product_id: &item.product_id,
            name: item.name.as_deref(),
            price: item.price,
            quantity: item.quantity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::fixtures::placed;

    fn keys(value: &serde_json::Value) -> Vec<&str> {
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn version_1_confirmation_has_exactly_the_documented_fields() {
        let order = placed();
        let body = OrderEventBody::new(EventId::generate(), "ORDER_CONFIRMATION", &order, None);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["schemaVersion"], 1);
        assert_eq!(json["sequence"], 1);
        assert_eq!(
            keys(&json),
            [
                "email",
                "eventId",
                "occurredAt",
                "order",
                "orderId",
                "schemaVersion",
                "sequence",
                "type",
                "userId"
            ]
        );
        assert_eq!(
            keys(&json["order"]),
            [
                "billingAddress",
                "checkoutSessionId",
                "createdAt",
                "currency",
                "discountAmount",
                "id",
                "items",
                "paymentIntentId",
                "shippingAddress",
                "shippingAmount",
                "status",
                "subtotalAmount",
                "taxAmount",
                "totalAmount",
                "updatedAt",
                "userId",
                "version"
            ]
        );
        assert_eq!(
            keys(&json["order"]["items"][0]),
            ["id", "name", "price", "productId", "quantity"]
        );
        assert_eq!(json["order"]["items"][0]["price"], serde_json::json!(45.99));
    }

    #[test]
    fn a_status_change_names_both_statuses() {
        let mut order = placed();
        order
            .apply(&crate::domain::StatusChange {
                to: OrderStatus::Cancelled,
                reason: Some("changed my mind".into()),
                tracking_number: None,
            })
            .unwrap();
        let body = OrderEventBody::new(
            EventId::generate(),
            "ORDER_STATUS_CHANGED",
            &order,
            Some(OrderStatus::Pending),
        );
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["fromStatus"], "PENDING");
        assert_eq!(json["toStatus"], "CANCELLED");
        assert_eq!(json["order"]["cancellationReason"], "changed my mind");
        assert_eq!(json["order"]["version"], 2);
        assert_eq!(json["sequence"], 2, "the second event of the order");
    }
}
