//! The order domain: money, addresses, ids, statuses and the order itself.
//! Nothing here knows about HTTP or databases; every value is valid by construction.

pub mod address;
pub mod currency;
pub mod ids;
pub mod money;
pub mod order;
pub mod status;

pub use address::Address;
pub use currency::Currency;
pub use ids::{CheckoutSessionId, EventId, OrderId, OrderItemId, UserId};
pub use money::{DecimalText, Money, MoneyError};
pub use order::{
    Actor, NewOrderItem, Order, OrderDraft, OrderEvent, OrderItem, OrderTotals, Quantity,
    StatusChange,
};
pub use status::{OrderStatus, Permission, TransitionError};
