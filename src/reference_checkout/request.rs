//! What a storefront sends to open and to complete a checkout session (docs/interface.md §7).
//!
//! A request is read leniently (every field optional, money and quantities kept as JSON
//! text) and validated once into a `NewSession`, so every problem is reported with the
//! path of the field that caused it. Amounts reuse the order domain's exact `Money` and
//! its `OrderTotals`, so both sides of the flow add up the same way.

use crate::domain::{Address, Currency, Money, NewOrderItem, OrderTotals, Quantity, UserId};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

/// More lines than any real cart; keeps one request's work bounded.
const MAX_ITEMS: usize = 500;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSessionRequest {
    user_id: Option<String>,
    email: Option<String>,
    currency: Option<String>,
    cart_id: Option<String>,
    items: Option<Vec<ItemRequest>>,
    shipping_address: Option<AddressRequest>,
    billing_address: Option<AddressRequest>,
    shipping_amount: Option<Box<RawValue>>,
    tax_amount: Option<Box<RawValue>>,
    discount_amount: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemRequest {
    product_id: Option<String>,
    name: Option<String>,
    price: Option<Box<RawValue>>,
    quantity: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressRequest {
    street: Option<String>,
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    postal_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct InvalidSession {
    pub field: String,
    pub problem: String,
}

fn invalid(field: impl Into<String>, problem: impl ToString) -> InvalidSession {
    InvalidSession {
        field: field.into(),
        problem: problem.to_string(),
    }
}

/// A validated request: every amount exact, every total consistent.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub user_id: UserId,
    pub email: String,
    pub currency: String,
    pub cart_id: String,
    pub items: Vec<NewOrderItem>,
    pub totals: OrderTotals,
    pub shipping_address: Address,
    /// `None`: bill to the shipping address.
    pub billing_address: Option<Address>,
}

impl TryFrom<CreateSessionRequest> for NewSession {
    type Error = InvalidSession;

    fn try_from(req: CreateSessionRequest) -> Result<Self, Self::Error> {
        let user_id = req
            .user_id
            .as_deref()
            .and_then(UserId::parse)
            .ok_or_else(|| {
                invalid(
                    "userId",
                    "is required (a non-blank string of at most 255 characters)",
                )
            })?;
        let email = req.email.as_deref().map(str::trim).unwrap_or_default();
        if email.len() > 320
            || !email.contains('@')
            || email.starts_with('@')
            || email.ends_with('@')
        {
            return Err(invalid(
                "email",
                "is required and must look like an e-mail address",
            ));
        }
        let code = req
            .currency
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let currency = Currency::parse(&code).ok_or_else(|| {
            invalid(
                "currency",
                "is required and must be an ISO 4217 currency code",
            )
        })?;
        let cart_id = match req.cart_id.as_deref().map(str::trim) {
            None | Some("") => Uuid::new_v4().to_string(),
            Some(id) if id.len() <= 255 => id.to_owned(),
            Some(_) => return Err(invalid("cartId", "must be at most 255 characters")),
        };
        let raw_items = req.items.unwrap_or_default();
        if raw_items.is_empty() || raw_items.len() > MAX_ITEMS {
            return Err(invalid(
                "items",
                format!("must hold from 1 to {MAX_ITEMS} items"),
            ));
        }
        let items = raw_items
            .into_iter()
            .enumerate()
            .map(|(i, item)| parse_item(&format!("items[{i}]"), item, currency))
            .collect::<Result<Vec<_>, _>>()?;
        let shipping = amount("shippingAmount", req.shipping_amount.as_deref(), currency)?;
        let tax = amount("taxAmount", req.tax_amount.as_deref(), currency)?;
        let discount = amount("discountAmount", req.discount_amount.as_deref(), currency)?;
        let totals = OrderTotals::compute(&items, shipping, tax, discount, None, None)
            .map_err(|e| invalid("discountAmount", e))?;
        let shipping_address = req
            .shipping_address
            .ok_or_else(|| invalid("shippingAddress", "is required"))
            .and_then(|a| parse_address("shippingAddress", a))?;
        let billing_address = req
            .billing_address
            .map(|a| parse_address("billingAddress", a))
            .transpose()?;
        Ok(Self {
            user_id,
            email: email.to_owned(),
            currency: currency.code().to_owned(),
            cart_id,
            items,
            totals,
            shipping_address,
            billing_address,
        })
    }
}

/// An optional amount: absent or `null` is zero.
fn amount(
    field: &str,
    raw: Option<&RawValue>,
    currency: Currency,
) -> Result<Money, InvalidSession> {
    match raw.map(RawValue::get) {
        None | Some("null") => Ok(Money::zero(currency.minor_units())),
        Some(text) => Money::parse_json_in(text, currency).map_err(|e| invalid(field, e)),
    }
}

fn parse_item(
    path: &str,
    item: ItemRequest,
    currency: Currency,
) -> Result<NewOrderItem, InvalidSession> {
    let product_id = item
        .product_id
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty() && p.len() <= 255)
        .ok_or_else(|| {
            invalid(
                format!("{path}.productId"),
                "is required (a non-blank string)",
            )
        })?;
    let price = item
        .price
        .ok_or_else(|| invalid(format!("{path}.price"), "is required"))
        .and_then(|raw| {
            Money::parse_json_in(raw.get(), currency)
                .map_err(|e| invalid(format!("{path}.price"), e))
        })?;
    // A JSON integer only: `1.5`, `"2"` and `0` are refused rather than guessed at.
    let quantity = item
        .quantity
        .and_then(|raw| raw.get().parse::<u64>().ok())
        .and_then(Quantity::new)
        .ok_or_else(|| {
            invalid(
                format!("{path}.quantity"),
                format!("must be a whole number from 1 to {}", Quantity::MAX),
            )
        })?;
    let name = item
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    Ok(NewOrderItem {
        product_id,
        name,
        price,
        quantity,
    })
}

fn parse_address(path: &str, a: AddressRequest) -> Result<Address, InvalidSession> {
    let f = |v: &Option<String>| v.clone().unwrap_or_default();
    Address::new(
        &f(&a.street),
        &f(&a.city),
        &f(&a.state),
        &f(&a.country),
        &f(&a.postal_code),
    )
    .map_err(|e| {
        invalid(
            format!("{path}.{}", camel(e.0)),
            "is required and must not be blank",
        )
    })
}

fn camel(field: &str) -> &str {
    if field == "postal_code" {
        "postalCode"
    } else {
        field
    }
}

/// `POST …/complete` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteSessionRequest {
    pub payment_intent_id: Option<String>,
}

impl CompleteSessionRequest {
    pub fn payment_intent_id(&self) -> Result<String, InvalidSession> {
        self.payment_intent_id
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty() && p.len() <= 255)
            .map(str::to_owned)
            .ok_or_else(|| invalid("paymentIntentId", "is required (a non-blank string)"))
    }
}
