//! The lines of an order: as a checkout session describes them, and as stored.

use super::{Money, OrderItemId, Quantity};

/// One line of a stored order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderItem {
    pub id: OrderItemId,
    pub product_id: String,
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

impl NewOrderItem {
    /// The line as part of an order, with an id of its own.
    pub fn into_item(self) -> OrderItem {
        OrderItem {
            id: OrderItemId::generate(),
            product_id: self.product_id,
            name: self.name,
            price: self.price,
            quantity: self.quantity,
        }
    }
}
