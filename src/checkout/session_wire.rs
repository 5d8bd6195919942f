//! The checkout session as it arrives on the wire: every field optional and money kept as
//! JSON text, so that a well-formed but unusable session is told apart from garbage; and
//! the conversion of its parts (an item, an address) into domain values.

use crate::domain::{Address, Currency, DecimalText, Money, NewOrderItem, Quantity};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireSession {
    pub(super) id: Option<Box<RawValue>>,
    pub(super) user_id: Option<Box<RawValue>>,
    pub(super) email: Option<String>,
    pub(super) status: Option<String>,
    pub(super) currency: Option<String>,
    pub(super) cart_snapshot: Option<WireCart>,
    pub(super) items: Option<Vec<WireItem>>,
    pub(super) subtotal: Option<Box<RawValue>>,
    pub(super) shipping_amount: Option<Box<RawValue>>,
    pub(super) tax_amount: Option<Box<RawValue>>,
    pub(super) discount_amount: Option<Box<RawValue>>,
    pub(super) total_amount: Option<Box<RawValue>>,
    pub(super) shipping_address: Option<WireAddress>,
    pub(super) billing_address: Option<WireAddress>,
    pub(super) payment_intent_id: Option<String>,
    /// A wrapped session (`{"data": {…}}`): the body's own fields are then the wrapper's.
    pub(super) data: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
pub(super) struct WireCart {
    pub(super) items: Option<Vec<WireItem>>,
    pub(super) subtotal: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireItem {
    pub(super) product_id: Option<Box<RawValue>>,
    pub(super) name: Option<String>,
    pub(super) price: Option<Box<RawValue>>,
    pub(super) quantity: Option<Box<RawValue>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireAddress {
    pub(super) street: Option<String>,
    pub(super) city: Option<String>,
    pub(super) state: Option<String>,
    pub(super) country: Option<String>,
    pub(super) postal_code: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Envelope<'a> {
    #[serde(borrow)]
    pub(super) data: Option<&'a RawValue>,
}

/// Text of a JSON string, or the literal text of a number.
pub(super) fn loose_text(raw: &RawValue) -> Option<String> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).ok()
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(text.to_owned())
    } else {
        None
    }
}

pub(super) fn parse_item(item: WireItem, currency: Currency) -> Result<NewOrderItem, String> {
    let product_id = item
        .product_id
        .as_deref()
        .and_then(loose_text)
        .filter(|p| !p.trim().is_empty() && p.len() <= 255)
        .ok_or("productId is missing")?;
    let price = item.price.ok_or("price is missing")?;
    let price = Money::parse_json_in(price.get(), currency).map_err(|e| format!("price: {e}"))?;
    let quantity = item
        .quantity
        .as_deref()
        .and_then(loose_text)
        .and_then(|q| DecimalText::parse(q.trim()).ok())
        .and_then(|q| q.whole_number())
        .and_then(Quantity::new)
        .ok_or("quantity must be a whole number of at least 1")?;
    Ok(NewOrderItem {
        product_id,
        name: item.name.filter(|n| !n.trim().is_empty()),
        price,
        quantity,
    })
}

pub(super) fn to_address(a: WireAddress) -> Result<Address, String> {
    let f = |v: Option<String>| v.unwrap_or_default();
    Address::new(
        &f(a.street),
        &f(a.city),
        &f(a.state),
        &f(a.country),
        &f(a.postal_code),
    )
    .map_err(|e| e.to_string())
}
