//! The order domain: money, addresses, ids, statuses, the order and its parts, and who
//! may act on it. Nothing here knows about HTTP, databases or wire formats of whole
//! orders; every value is valid by construction.

pub mod actor;
pub mod address;
pub mod clock;
pub mod currency;
pub mod decimal_text;
pub mod draft;
pub mod history;
pub mod ids;
pub mod item;
pub mod money;
mod money_json;
pub mod order;
pub mod quantity;
pub mod status;
pub mod status_change;
pub mod totals;

pub use actor::Actor;
pub use address::Address;
pub use clock::now;
pub use currency::Currency;
pub use decimal_text::DecimalText;
pub use draft::OrderDraft;
pub use history::{EVENT_ORDER_CREATED, EVENT_STATUS_CHANGED, OrderEvent};
pub use ids::{CheckoutSessionId, EventId, OrderId, OrderItemId, UserId};
pub use item::{NewOrderItem, OrderItem};
pub use money::{Money, MoneyError};
pub use order::Order;
pub use quantity::Quantity;
pub use status::{OrderStatus, Permission, TransitionError};
pub use status_change::StatusChange;
pub use totals::{OrderTotals, TotalsError};
