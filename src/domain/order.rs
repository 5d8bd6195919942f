//! An order: what was bought, for how much, where it goes, and where it is in its
//! lifecycle. Its wire shapes live elsewhere (`http::order_response` for the REST API,
//! `outbox::event_body` for receivers of events), so neither changes the other.

use super::{
    Address, CheckoutSessionId, Money, NewOrderItem, OrderDraft, OrderId, OrderItem, OrderStatus,
    StatusChange, TransitionError, UserId,
};
use chrono::{DateTime, Utc};

// Paths other modules use (`domain::order::now`, `domain::order::EVENT_*`).
pub use super::clock::now;
pub use super::history::{EVENT_ORDER_CREATED, EVENT_STATUS_CHANGED};

/// An order as stored; `version` counts its changes (compare-and-set on updates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub checkout_session_id: CheckoutSessionId,
    pub payment_intent_id: Option<String>,
    pub status: OrderStatus,
    pub currency: String,
    pub total_amount: Money,
    pub subtotal_amount: Money,
    pub shipping_amount: Money,
    pub tax_amount: Money,
    pub discount_amount: Money,
    pub items: Vec<OrderItem>,
    pub shipping_address: Address,
    pub billing_address: Address,
    pub tracking_number: Option<String>,
    pub cancellation_reason: Option<String>,
    /// Customer e-mail from the checkout session; used for notifications, not part of the API.
    pub email: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// A new PENDING order with fresh ids.
    pub fn place(draft: OrderDraft) -> Self {
        let created_at = now();
        let items = draft
            .items
            .into_iter()
            .map(NewOrderItem::into_item)
            .collect();
        Self {
            id: OrderId::generate(),
            user_id: draft.user_id,
            checkout_session_id: draft.checkout_session_id,
            payment_intent_id: draft.payment_intent_id,
            status: OrderStatus::Pending,
            currency: draft.currency,
            total_amount: draft.totals.total,
            subtotal_amount: draft.totals.subtotal,
            shipping_amount: draft.totals.shipping,
            tax_amount: draft.totals.tax,
            discount_amount: draft.totals.discount,
            items,
            shipping_address: draft.shipping_address,
            billing_address: draft.billing_address,
            tracking_number: None,
            cancellation_reason: None,
            email: draft.email,
            version: 1,
            created_at,
            updated_at: created_at,
        }
    }

    /// Applies a status change in memory after checking the transition table.
    /// The caller persists it with a compare-and-set on `version`.
    pub fn apply(&mut self, change: &StatusChange) -> Result<(), TransitionError> {
        self.status.transition_to(change.to)?;
        self.status = change.to;
        if change.to == OrderStatus::Shipped {
            self.tracking_number = change.tracking_number.clone();
        }
        if change.to == OrderStatus::Cancelled {
            self.cancellation_reason = change.reason.clone();
        }
        self.version += 1;
        self.updated_at = now();
        Ok(())
    }
}
