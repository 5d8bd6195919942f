//! What the REST API answers about orders. These are the API's own types, built from the
//! domain's: a field added to `Order` appears here only when added here, and the event
//! body receivers get (`event_body`) is a separate type again.

use crate::domain::{
    Address, CheckoutSessionId, Money, Order, OrderEvent, OrderId, OrderItem, OrderItemId,
    OrderStatus, Quantity, UserId,
};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// An order, as every order endpoint answers it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Order)]
#[serde(rename_all = "camelCase")]
pub struct OrderResponse {
    pub id: OrderId,
    pub user_id: UserId,
    pub checkout_session_id: CheckoutSessionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_intent_id: Option<String>,
    pub status: OrderStatus,
    pub currency: String,
    pub total_amount: Money,
    pub subtotal_amount: Money,
    pub shipping_amount: Money,
    pub tax_amount: Money,
    pub discount_amount: Money,
    pub items: Vec<OrderItemResponse>,
    pub shipping_address: Address,
    pub billing_address: Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    pub version: i64,
    #[serde(serialize_with = "super::time_json::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::time_json::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// The order as its JSON body (`content-type: application/json`, the bytes `axum::Json`
/// would write), serialized into one buffer sized for an order up front: `Json` starts
/// from 128 bytes and grows its buffer three times for an order of two items (~850 bytes),
/// copying it each time.
impl IntoResponse for OrderResponse {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(768 + 192 * self.items.len());
        match serde_json::to_writer(&mut body, &self) {
            Ok(()) => {
                let json = HeaderValue::from_static("application/json");
                ([(header::CONTENT_TYPE, json)], body).into_response()
            }
            // As `Json` answers a value it cannot serialize (an order always can).
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = OrderItem)]
#[serde(rename_all = "camelCase")]
pub struct OrderItemResponse {
    pub id: OrderItemId,
    pub product_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub price: Money,
    pub quantity: Quantity,
}

/// One entry of an order's history.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = OrderEvent)]
#[serde(rename_all = "camelCase")]
pub struct OrderHistoryEntry {
    /// `ORDER_CREATED` or `STATUS_CHANGED`.
    #[serde(rename = "type")]
    pub kind: String,
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    /// The user id of whoever caused the event.
    pub actor: String,
    #[serde(serialize_with = "super::time_json::rfc3339")]
    pub at: DateTime<Utc>,
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// On the creation event: which path created the order, `client`, `webhook` or
    /// `sweep` (docs/interface.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<&'static str>,
}

impl From<Order> for OrderResponse {
    fn from(order: Order) -> Self {
        // `email` is for notifications only and is deliberately not part of the API.
        Self {
            id: order.id,
            user_id: order.user_id,
            checkout_session_id: order.checkout_session_id,
            payment_intent_id: order.payment_intent_id,
            status: order.status,
            currency: order.currency,
            total_amount: order.total_amount,
            subtotal_amount: order.subtotal_amount,
            shipping_amount: order.shipping_amount,
            tax_amount: order.tax_amount,
            discount_amount: order.discount_amount,
            items: order.items.into_iter().map(Into::into).collect(),
            shipping_address: order.shipping_address,
            billing_address: order.billing_address,
            tracking_number: order.tracking_number,
            cancellation_reason: order.cancellation_reason,
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

impl From<OrderItem> for OrderItemResponse {
    fn from(item: OrderItem) -> Self {
        Self {
            id: item.id,
            product_id: item.product_id,
            name: item.name,
            price: item.price,
            quantity: item.quantity,
        }
    }
}

impl From<OrderEvent> for OrderHistoryEntry {
    fn from(event: OrderEvent) -> Self {
        Self {
            kind: event.kind,
            from_status: event.from_status,
            to_status: event.to_status,
            actor: event.actor,
            at: event.at,
            version: event.version,
            reason: event.reason,
            tracking_number: event.tracking_number,
            origin: event.origin.map(|o| o.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::fixtures::placed;

    /// What `axum::Json` answers for `value`: its status, content type and body.
    async fn as_axum_json(value: OrderResponse) -> (StatusCode, Option<HeaderValue>, Vec<u8>) {
        parts(axum::Json(value).into_response()).await
    }

    async fn parts(response: Response) -> (StatusCode, Option<HeaderValue>, Vec<u8>) {
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, content_type, body.to_vec())
    }

    #[tokio::test]
    async fn an_order_answers_what_axum_json_would_small_or_past_the_first_buffer() {
        let small = OrderResponse::from(placed());
        let mut large = placed();
        let item = large.items[0].clone();
        large.items = (0..40).map(|_| item.clone()).collect();
        let street = "a long street name ".repeat(20);
        large.shipping_address = Address::new(&street, "Anytown", "CA", "US", "12345").unwrap();
        for order in [small, OrderResponse::from(large)] {
            let ours = parts(order.clone().into_response()).await;
            assert_eq!(ours, as_axum_json(order).await);
            assert_eq!(ours.0, StatusCode::OK);
            assert_eq!(ours.1.expect("content type"), "application/json");
        }
    }
}
