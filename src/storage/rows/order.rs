//! The `orders` and `order_items` rows.

use super::{PushRow, corrupt, money, status};
use crate::domain::{
    Address, CheckoutSessionId, Order, OrderId, OrderItem, OrderItemId, Quantity, UserId,
};
use crate::storage::StoreError;
use chrono::{DateTime, Utc};
use sqlx::query_builder::Separated;
use sqlx::types::Json;
use sqlx::{Database, Encode, Type};
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
    billing_address: Json<Address>,
    tracking_number: Option<String>,
    cancellation_reason: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl OrderRow {
    /// Every column of an order; `push_row` binds them in this order.
    pub const COLUMNS: &str = "id, user_id, email, checkout_session_id, payment_intent_id, \
        status, currency, subtotal_minor, shipping_minor, tax_minor, discount_minor, \
        total_minor, shipping_address, billing_address, tracking_number, \
        cancellation_reason, version, created_at, updated_at";
}

impl<DB: Database> PushRow<DB> for OrderRow
where
    Uuid: for<'t> Encode<'t, DB> + Type<DB>,
    String: for<'t> Encode<'t, DB> + Type<DB>,
    Option<String>: for<'t> Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
    Json<Address>: for<'t> Encode<'t, DB> + Type<DB>,
    DateTime<Utc>: for<'t> Encode<'t, DB> + Type<DB>,
{
    fn push_row(&self, mut values: Separated<'_, DB, &'static str>) {
        values
            .push_bind(self.id)
            .push_bind(self.user_id.clone())
            .push_bind(self.email.clone())
            .push_bind(self.checkout_session_id)
            .push_bind(self.payment_intent_id.clone())
            .push_bind(self.status.clone())
            .push_bind(self.currency.clone())
            .push_bind(self.subtotal_minor)
            .push_bind(self.shipping_minor)
            .push_bind(self.tax_minor)
            .push_bind(self.discount_minor)
            .push_bind(self.total_minor)
            .push_bind(Json(self.shipping_address.0.clone()))
            .push_bind(Json(self.billing_address.0.clone()))
            .push_bind(self.tracking_number.clone())
            .push_bind(self.cancellation_reason.clone())
            .push_bind(self.version)
            .push_bind(self.created_at)
            .push_bind(self.updated_at);
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
            billing_address: Json(order.billing_address.clone()),
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
        Ok(Order {
            id: OrderId(row.id),
            user_id: UserId::parse(&row.user_id).ok_or_else(|| corrupt("blank user_id"))?,
            checkout_session_id: CheckoutSessionId(row.checkout_session_id),
            payment_intent_id: row.payment_intent_id,
            status: status(&row.status)?,
            currency: row.currency,
            total_amount: money(row.total_minor, "total_minor")?,
            subtotal_amount: money(row.subtotal_minor, "subtotal_minor")?,
            shipping_amount: money(row.shipping_minor, "shipping_minor")?,
            tax_amount: money(row.tax_minor, "tax_minor")?,
            discount_amount: money(row.discount_minor, "discount_minor")?,
            items: Vec::new(),
            shipping_address: row.shipping_address.0,
            billing_address: row.billing_address.0,
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

/// One row of `order_items`.
#[derive(sqlx::FromRow)]
pub struct ItemRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub position: i32,
    pub product_id: String,
    pub name: Option<String>,
    pub price_minor: i64,
    pub quantity: i32,
}

impl ItemRow {
    pub const COLUMNS: &str = "id, order_id, position, product_id, name, price_minor, quantity";

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

impl TryFrom<ItemRow> for OrderItem {
    type Error = StoreError;
    fn try_from(row: ItemRow) -> Result<Self, StoreError> {
        Ok(OrderItem {
            id: OrderItemId(row.id),
            product_id: row.product_id,
            name: row.name,
            price: money(row.price_minor, "price_minor")?,
            quantity: u64::try_from(row.quantity)
                .ok()
                .and_then(Quantity::new)
                .ok_or_else(|| corrupt("quantity"))?,
        })
    }
}
