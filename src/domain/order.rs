//! An order: what was bought, for how much, where it goes, and where it is in its lifecycle.

use super::{
    Address, CheckoutSessionId, Money, OrderId, OrderItemId, OrderStatus, TransitionError, UserId,
    status::Permission,
};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A whole number of units, at least 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 1_000_000;

    pub fn new(value: u64) -> Option<Self> {
        (1..=u64::from(Self::MAX))
            .contains(&value)
            .then_some(Self(value as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub id: OrderItemId,
    pub product_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub price: Money,
    pub quantity: Quantity,
}

/// One line as the checkout session describes it, before it becomes part of an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrderItem {
    pub product_id: String,
    pub name: Option<String>,
    pub price: Money,
    pub quantity: Quantity,
}

/// The amounts of an order; `total = subtotal + shipping + tax - discount` always holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderTotals {
    pub subtotal: Money,
    pub shipping: Money,
    pub tax: Money,
    pub discount: Money,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotalsError {
    #[error("an amount overflowed")]
    Overflow,
    #[error("the discount is larger than the rest of the order")]
    NegativeTotal,
    #[error("stated total {stated} differs from computed total {computed}")]
    Mismatch { stated: Money, computed: Money },
    #[error("stated subtotal {stated} differs from the sum of the items {computed}")]
    SubtotalMismatch { stated: Money, computed: Money },
}

impl OrderTotals {
    /// Computes the totals exactly; a stated subtotal or total must match to the cent.
    pub fn compute(
        items: &[NewOrderItem],
        shipping: Money,
        tax: Money,
        discount: Money,
        stated_subtotal: Option<Money>,
        stated_total: Option<Money>,
    ) -> Result<Self, TotalsError> {
        let subtotal = items.iter().try_fold(Money::ZERO, |sum, item| {
            sum.checked_add(item.price.checked_mul(item.quantity.get())?)
        });
        let subtotal = subtotal.ok_or(TotalsError::Overflow)?;
        if let Some(stated) = stated_subtotal.filter(|s| *s != subtotal) {
            return Err(TotalsError::SubtotalMismatch {
                stated,
                computed: subtotal,
            });
        }
        let before_discount = subtotal
            .checked_add(shipping)
            .and_then(|m| m.checked_add(tax))
            .ok_or(TotalsError::Overflow)?;
        let total = before_discount
            .checked_sub(discount)
            .ok_or(TotalsError::NegativeTotal)?;
        if let Some(stated) = stated_total.filter(|s| *s != total) {
            return Err(TotalsError::Mismatch {
                stated,
                computed: total,
            });
        }
        Ok(Self {
            subtotal,
            shipping,
            tax,
            discount,
            total,
        })
    }
}

/// The caller of an operation, as the bearer token names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub is_admin: bool,
}

impl Actor {
    pub fn may_access(&self, order_owner: &UserId) -> bool {
        self.is_admin || &self.user_id == order_owner
    }

    pub fn may_perform(&self, permission: Permission, order_owner: &UserId) -> bool {
        match permission {
            Permission::AdminOnly => self.is_admin,
            Permission::OwnerOrAdmin => self.may_access(order_owner),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
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
    pub items: Vec<OrderItem>,
    pub shipping_address: Address,
    pub billing_address: Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    /// Customer e-mail from the checkout session; used for notifications, not part of the API.
    #[serde(skip)]
    #[schema(ignore)]
    pub email: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Everything needed to create an order from a checkout session.
#[derive(Clone, Debug)]
pub struct OrderDraft {
    pub user_id: UserId,
    pub email: Option<String>,
    pub checkout_session_id: CheckoutSessionId,
    pub payment_intent_id: Option<String>,
    pub currency: String,
    pub items: Vec<NewOrderItem>,
    pub totals: OrderTotals,
    pub shipping_address: Address,
    pub billing_address: Address,
}

/// Current time at the precision both databases keep (microseconds).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl Order {
    /// A new PENDING order with fresh ids.
    pub fn place(draft: OrderDraft) -> Self {
        let created_at = now();
        let items = draft
            .items
            .into_iter()
            .map(|item| OrderItem {
                id: OrderItemId::generate(),
                product_id: item.product_id,
                name: item.name,
                price: item.price,
                quantity: item.quantity,
            })
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

/// A requested move to another status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    pub to: OrderStatus,
    pub reason: Option<String>,
    pub tracking_number: Option<String>,
}

/// One entry of an order's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderEvent {
    /// `ORDER_CREATED` or `STATUS_CHANGED`.
    #[serde(rename = "type")]
    pub kind: String,
    pub from_status: Option<OrderStatus>,
    pub to_status: OrderStatus,
    /// The user id of whoever caused the event.
    pub actor: String,
    pub at: DateTime<Utc>,
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// On the creation event: which path created the order (contracts §8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<super::OrderOrigin>,
}

pub const EVENT_ORDER_CREATED: &str = "ORDER_CREATED";
pub const EVENT_STATUS_CHANGED: &str = "STATUS_CHANGED";

#[cfg(test)]
mod tests {
    use super::*;

    fn item(price: &str, quantity: u64) -> NewOrderItem {
        NewOrderItem {
            product_id: "p".into(),
            name: None,
            price: Money::parse(price).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn totals_add_up_exactly() {
        let items = [item("45.99", 2)];
        let totals =
            OrderTotals::compute(&items, m("12"), m("19.47"), m("0"), None, Some(m("123.45")))
                .unwrap();
        assert_eq!(totals.subtotal, m("91.98"));
        assert_eq!(totals.total, m("123.45"));
    }

    #[test]
    fn a_total_off_by_one_cent_is_rejected() {
        let items = [item("0.10", 3)];
        let err = OrderTotals::compute(&items, m("0"), m("0"), m("0"), None, Some(m("0.31")));
        assert!(matches!(err, Err(TotalsError::Mismatch { .. })));
        let ok = OrderTotals::compute(&items, m("0"), m("0"), m("0"), None, None).unwrap();
        assert_eq!(ok.total.to_string(), "0.30");
    }

    #[test]
    fn discount_larger_than_order_is_rejected() {
        let items = [item("1", 1)];
        let err = OrderTotals::compute(&items, m("0"), m("0"), m("2"), None, None);
        assert_eq!(err, Err(TotalsError::NegativeTotal));
    }

    #[test]
    fn quantity_is_at_least_one() {
        assert!(Quantity::new(0).is_none());
        assert_eq!(Quantity::new(3).unwrap().get(), 3);
        assert!(Quantity::new(u64::from(Quantity::MAX) + 1).is_none());
    }
}
