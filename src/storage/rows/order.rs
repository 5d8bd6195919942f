//! The `orders` and `order_items` rows.

use super::{InsertRow, Value, corrupt, money, status};
use crate::domain::{
    Address, CheckoutSessionId, Currency, Order, OrderId, OrderItem, OrderItemId, Quantity, UserId,
};
use crate::storage::StoreError;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

/// One row of `orders`, without `seq` (the database numbers it).
#[derive(sqlx::FromRow)]
pub struct OrderRow {
    id: Uuid,
    user_id: String,
    email: Option<String>,
    checkout_session_id: Uuid,
    payment_intent_id: Option<String>,
    status: String,
    currency: String,
    subtotal_minor: i64,
    shipping_minor: i64,
    tax_minor: i64,
    discount_minor: i64,
    total_minor: i64,
    shipping_address: Json<Address>,
    /// JSON `null` when it is the shipping address (most orders), so that one is not
    /// stored twice.
    billing_address: Json<Option<Address>>,
    tracking_number: Option<String>,
    cancellation_reason: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl InsertRow for OrderRow {
    fn columns(&self) -> Vec<(&'static str, Value)> {
        let text = |s: &String| Value::Text(s.clone());
        let maybe = |s: &Option<String>| Value::MaybeText(s.clone());
        vec![
            ("id", Value::Uuid(self.id)),
            ("user_id", text(&self.user_id)),
            ("email", maybe(&self.email)),
            ("checkout_session_id", Value::Uuid(self.checkout_session_id)),
            ("payment_intent_id", maybe(&self.payment_intent_id)),
            ("status", text(&self.status)),
            ("currency", text(&self.currency)),
            ("subtotal_minor", Value::BigInt(self.subtotal_minor)),
            ("shipping_minor", Value::BigInt(self.shipping_minor)),
            ("tax_minor", Value::BigInt(self.tax_minor)),
            ("discount_minor", Value::BigInt(self.discount_minor)),
            ("total_minor", Value::BigInt(self.total_minor)),
            (
                "shipping_address",
                Value::Address(Some(self.shipping_address.0.clone())),
            ),
            (
                "billing_address",
                Value::Address(self.billing_address.0.clone()),
            ),
            ("tracking_number", maybe(&self.tracking_number)),
            ("cancellation_reason", maybe(&self.cancellation_reason)),
            ("version", Value::BigInt(self.version)),
            ("created_at", Value::Time(self.created_at)),
            ("updated_at", Value::Time(self.updated_at)),
        ]
    }
}

impl From<&Order> for OrderRow {
    fn from(order: &Order) -> Self {
        Self {
            id: order.id.0,
            user_id: order.user_id.as_str().to_owned(),
            email: order.email.clone(),
            checkout_session_id: order.checkout_session_id.0,
            payment_intent_id: order.payment_intent_id.clone(),
            status: order.status.to_string(),
            currency: order.currency.clone(),
            subtotal_minor: order.subtotal_amount.minor_units(),
            shipping_minor: order.shipping_amount.minor_units(),
            tax_minor: order.tax_amount.minor_units(),
            discount_minor: order.discount_amount.minor_units(),
            total_minor: order.total_amount.minor_units(),
            shipping_address: Json(order.shipping_address.clone()),
            billing_address: Json(
                (order.billing_address != order.shipping_address)
                    .then(|| order.billing_address.clone()),
            ),
            tracking_number: order.tracking_number.clone(),
            cancellation_reason: order.cancellation_reason.clone(),
            version: order.version,
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

/// An order without its items (they are another table), as read back.
impl TryFrom<OrderRow> for Order {
    type Error = StoreError;
    fn try_from(row: OrderRow) -> Result<Self, StoreError> {
        let units = Currency::minor_units_of(&row.currency);
        Ok(Order {
            id: OrderId(row.id),
            user_id: UserId::parse(&row.user_id).ok_or_else(|| corrupt("blank user_id"))?,
            checkout_session_id: CheckoutSessionId(row.checkout_session_id),
            payment_intent_id: row.payment_intent_id,
            status: status(&row.status)?,
            currency: row.currency,
            total_amount: money(row.total_minor, units, "total_minor")?,
            subtotal_amount: money(row.subtotal_minor, units, "subtotal_minor")?,
            shipping_amount: money(row.shipping_minor, units, "shipping_minor")?,
            tax_amount: money(row.tax_minor, units, "tax_minor")?,
            discount_amount: money(row.discount_minor, units, "discount_minor")?,
            items: Vec::new(),
            billing_address: (row.billing_address.0)
                .unwrap_or_else(|| row.shipping_address.0.clone()),
            shipping_address: row.shipping_address.0,
            tracking_number: row.tracking_number,
            cancellation_reason: row.cancellation_reason,
            email: row.email,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// An order row and its keyset position in listings.
#[derive(sqlx::FromRow)]
pub struct ListedOrderRow {
    pub seq: i64,
    #[sqlx(flatten)]
    pub order: OrderRow,
}

/// One row of `order_items`, as written.
pub struct ItemRow {
    id: Uuid,
    order_id: Uuid,
    position: i32,
    product_id: String,
    name: Option<String>,
    price_minor: i64,
    quantity: i32,
}

impl InsertRow for ItemRow {
    fn columns(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("id", Value::Uuid(self.id)),
            ("order_id", Value::Uuid(self.order_id)),
            ("position", Value::Int(self.position)),
            ("product_id", Value::Text(self.product_id.clone())),
            ("name", Value::MaybeText(self.name.clone())),
            ("price_minor", Value::BigInt(self.price_minor)),
            ("quantity", Value::Int(self.quantity)),
        ]
    }
}

impl ItemRow {
    pub fn new(order: &Order, position: usize, item: &OrderItem) -> Self {
        Self {
            id: item.id.0,
            order_id: order.id.0,
            position: position as i32,
            product_id: item.product_id.clone(),
            name: item.name.clone(),
            price_minor: item.price.minor_units(),
            quantity: item.quantity.get() as i32,
        }
    }
}

/// The item part of a row of orders joined with their items (`fetch_orders`): the item's
/// columns renamed `item_…`, all NULL for an order without items, and the order's `seq`,
/// which tells one order's rows from the next one's.
#[derive(sqlx::FromRow)]
pub struct JoinedItemRow {
    pub seq: i64,
    item_id: Option<Uuid>,
    item_product_id: Option<String>,
    item_name: Option<String>,
    item_price_minor: Option<i64>,
    item_quantity: Option<i32>,
}

impl JoinedItemRow {
    /// The item (none where the order has none), its price read in the minor units of its
    /// order's currency.
    pub fn into_item(self, minor_units: u32) -> Result<Option<OrderItem>, StoreError> {
        let Some(id) = self.item_id else {
            return Ok(None);
        };
        let missing = |column: &str| corrupt(format!("order_items.{column} is NULL"));
        let price_minor = self
            .item_price_minor
            .ok_or_else(|| missing("price_minor"))?;
        let quantity = self.item_quantity.ok_or_else(|| missing("quantity"))?;
        Ok(Some(OrderItem {
            id: OrderItemId(id),
            product_id: self.item_product_id.ok_or_else(|| missing("product_id"))?,
            name: self.item_name,
            price: money(price_minor, minor_units, "price_minor")?,
            quantity: u64::try_from(quantity)
                .ok()
                .and_then(Quantity::new)
                .ok_or_else(|| corrupt("quantity"))?,
        }))
    }
}
