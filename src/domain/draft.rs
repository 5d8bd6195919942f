//! An order before it exists: what a checkout session says should be created.

use super::{Address, CheckoutSessionId, NewOrderItem, OrderTotals, UserId};

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
