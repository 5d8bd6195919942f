//! The order domain: money, addresses, ids, statuses and the order itself.
//! Nothing here knows about HTTP or databases; every value is valid by construction.

pub mod address;
pub mod ids;
pub mod money;
pub mod order;
pub mod origin;
pub mod status;

pub use address::Address;
pub use ids::{CheckoutSessionId, EventId, OrderId, OrderItemId, UserId};
pub use money::{Money, MoneyError};
pub use order::{
    Actor, NewOrderItem, Order, OrderDraft, OrderEvent, OrderItem, OrderTotals, Quantity,
    StatusChange,
};
pub use origin::OrderOrigin;
pub use status::{OrderStatus, Permission, TransitionError};
