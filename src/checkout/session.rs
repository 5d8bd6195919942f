//! The checkout session format (docs/interface.md §2) and its conversion into an order draft.
//!
//! Parsing is two-step: the wire form is lenient (every field optional, money kept as JSON
//! text) so that a well-formed but unusable session is told apart from garbage; the
//! conversion into an `OrderDraft` then applies every business rule once.

use crate::domain::{
    Address, CheckoutSessionId, Money, NewOrderItem, OrderDraft, OrderTotals, Quantity, UserId,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::str::FromStr;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSession {
    id: Option<Box<RawValue>>,
    user_id: Option<Box<RawValue>>,
    email: Option<String>,
    status: Option<String>,
    currency: Option<String>,
    cart_snapshot: Option<WireCart>,
    items: Option<Vec<WireItem>>,
    subtotal: Option<Box<RawValue>>,
    shipping_amount: Option<Box<RawValue>>,
    tax_amount: Option<Box<RawValue>>,
    discount_amount: Option<Box<RawValue>>,
    total_amount: Option<Box<RawValue>>,
    shipping_address: Option<WireAddress>,
    billing_address: Option<WireAddress>,
    payment_intent_id: Option<String>,
}

#[derive(Deserialize)]
struct WireCart {
    items: Option<Vec<WireItem>>,
    subtotal: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireItem {
    product_id: Option<Box<RawValue>>,
    name: Option<String>,
    price: Option<Box<RawValue>>,
    quantity: Option<Box<RawValue>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireAddress {
    street: Option<String>,
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    postal_code: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

/// A session read from the Checkout Service, not yet checked against the business rules.
pub struct CheckoutSession {
    pub id: CheckoutSessionId,
    wire: WireSession,
}

/// Why a session cannot become an order; each maps to one error code of the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionRejection {
    #[error("checkout session is {0}, not COMPLETED")]
    NotCompleted(String),
    #[error("checkout session has no cart items")]
    Empty,
    #[error("checkout session data is unusable: {0}")]
    Invalid(String),
}

/// The answer was not a session at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionParseError {
    #[error("answer is not a checkout session: {0}")]
    Malformed(String),
    #[error("answer is session {got}, not the requested {asked}")]
    WrongSession { asked: String, got: String },
}

/// Text of a JSON string, or the literal text of a number.
fn loose_text(raw: &RawValue) -> Option<String> {
    let text = raw.get().trim();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text).ok()
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Some(text.to_owned())
    } else {
        None
    }
}

impl CheckoutSession {
    /// Reads a session from the body the Checkout Service returned for `asked`.
    pub fn parse(body: &[u8], asked: CheckoutSessionId) -> Result<Self, SessionParseError> {
        let malformed = |e: serde_json::Error| SessionParseError::Malformed(e.to_string());
        let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(malformed)?;
        let wire: WireSession = match envelope.data.filter(|d| d.get().starts_with('{')) {
            Some(inner) => serde_json::from_str(inner.get()).map_err(malformed)?,
            None => serde_json::from_slice(body).map_err(malformed)?,
        };
        let got = wire.id.as_deref().and_then(loose_text).unwrap_or_default();
        match CheckoutSessionId::from_str(&got) {
            Ok(id) if id == asked => Ok(Self { id, wire }),
            _ => Err(SessionParseError::WrongSession {
                asked: asked.to_string(),
                got,
            }),
        }
    }

    /// The owner named by the session, if it names one.
    pub fn user_id(&self) -> Option<UserId> {
        self.wire
            .user_id
            .as_deref()
            .and_then(loose_text)
            .and_then(|u| UserId::parse(&u))
    }

    /// Applies the contract's rules: COMPLETED, at least one item, usable data, totals that add up.
    pub fn into_draft(self) -> Result<OrderDraft, SessionRejection> {
        let owner = self.user_id();
        let wire = self.wire;
        let status = wire
            .status
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_ascii_uppercase();
        if status != "COMPLETED" {
            let shown = if status.is_empty() {
                "without status".to_owned()
            } else {
                status
            };
            return Err(SessionRejection::NotCompleted(shown));
        }
        let (raw_items, stated_subtotal) = match wire.cart_snapshot {
            Some(cart) if cart.items.is_some() => (cart.items.unwrap_or_default(), cart.subtotal),
            Some(cart) => (
                wire.items.unwrap_or_default(),
                cart.subtotal.or(wire.subtotal),
            ),
            None => (wire.items.unwrap_or_default(), wire.subtotal),
        };
        if raw_items.is_empty() {
            return Err(SessionRejection::Empty);
        }
        let invalid = |msg: String| SessionRejection::Invalid(msg);
        let user_id = owner.ok_or_else(|| invalid("userId is missing".into()))?;
        let items = raw_items
            .into_iter()
            .enumerate()
            .map(|(i, item)| parse_item(item).map_err(|e| invalid(format!("item {i}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let amount =
            |name: &str, raw: Option<Box<RawValue>>| -> Result<Option<Money>, SessionRejection> {
                match raw {
                    None => Ok(None),
                    Some(raw) if raw.get() == "null" => Ok(None),
                    Some(raw) => Money::parse_json(raw.get())
                        .map(Some)
                        .map_err(|e| invalid(format!("{name}: {e}"))),
                }
            };
        let shipping = amount("shippingAmount", wire.shipping_amount)?.unwrap_or_default();
        let tax = amount("taxAmount", wire.tax_amount)?.unwrap_or_default();
        let discount = amount("discountAmount", wire.discount_amount)?.unwrap_or_default();
        let subtotal = amount("subtotal", stated_subtotal)?;
        let total = amount("totalAmount", wire.total_amount)?;
        let totals = OrderTotals::compute(&items, shipping, tax, discount, subtotal, total)
            .map_err(|e| invalid(e.to_string()))?;
        let shipping_address = wire
            .shipping_address
            .ok_or_else(|| invalid("shippingAddress is missing".into()))
            .and_then(|a| to_address(a).map_err(|e| invalid(format!("shippingAddress: {e}"))))?;
        let billing_address = match wire.billing_address {
            None => shipping_address.clone(),
            Some(a) => to_address(a).map_err(|e| invalid(format!("billingAddress: {e}")))?,
        };
        let currency = wire
            .currency
            .unwrap_or_else(|| "USD".to_owned())
            .trim()
            .to_ascii_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
            tracing::info!(
                currency,
                "checkout session currency is not an ISO 4217 code"
            );
            return Err(invalid("currency is not an ISO 4217 code".into()));
        }
        Ok(OrderDraft {
            user_id,
            email: wire.email.filter(|e| !e.trim().is_empty()),
            checkout_session_id: self.id,
            payment_intent_id: wire.payment_intent_id.filter(|p| !p.trim().is_empty()),
            currency,
            items,
            totals,
            shipping_address,
            billing_address,
        })
    }
}

fn parse_item(item: WireItem) -> Result<NewOrderItem, String> {
    let product_id = item
        .product_id
        .as_deref()
        .and_then(loose_text)
        .filter(|p| !p.trim().is_empty() && p.len() <= 255)
        .ok_or("productId is missing")?;
    let price = item.price.ok_or("price is missing")?;
    let price = Money::parse_json(price.get()).map_err(|e| format!("price: {e}"))?;
    let quantity = item
        .quantity
        .as_deref()
        .and_then(loose_text)
        .and_then(|q| Decimal::from_str(q.trim()).ok())
        .filter(|q| q.fract().is_zero() && q.is_sign_positive())
        .and_then(|q| u64::try_from(q).ok())
        .and_then(Quantity::new)
        .ok_or("quantity must be a whole number of at least 1")?;
    Ok(NewOrderItem {
        product_id,
        name: item.name.filter(|n| !n.trim().is_empty()),
        price,
        quantity,
    })
}

fn to_address(a: WireAddress) -> Result<Address, String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "6f1c2b1e-2a53-4a4e-9d0a-1b1f1b7f2c10";

    fn contract_example() -> serde_json::Value {
        json!({
            "id": ID, "userId": "user-123", "email": "ada@example.com", "status": "COMPLETED",
            "currency": "USD",
            "cartSnapshot": {"cartId": "c", "items": [
                {"productId": "prod-1", "name": "Espresso cup", "price": 45.99, "quantity": 2}
            ], "subtotal": 91.98},
            "shippingAmount": 12.00, "taxAmount": 19.47, "discountAmount": 0, "totalAmount": 123.45,
            "shippingAddress": {"street": "123 Main St", "city": "Anytown", "state": "CA", "country": "US", "postalCode": "12345"},
            "billingAddress": {"street": "123 Main St", "city": "Anytown", "state": "CA", "country": "US", "postalCode": "12345"},
            "paymentIntentId": "pi_3Nabc"
        })
    }

    fn draft(value: serde_json::Value) -> Result<OrderDraft, SessionRejection> {
        let body = serde_json::to_vec(&value).unwrap();
        CheckoutSession::parse(&body, ID.parse().unwrap())
            .unwrap()
            .into_draft()
    }

    #[test]
    fn contract_example_becomes_a_draft() {
        let d = draft(contract_example()).unwrap();
        assert_eq!(d.totals.total.to_string(), "123.45");
        assert_eq!(d.items[0].quantity.get(), 2);
        assert_eq!(d.user_id.as_str(), "user-123");
        assert_eq!(d.payment_intent_id.as_deref(), Some("pi_3Nabc"));
    }

    #[test]
    fn tolerated_variations() {
        let mut v = contract_example();
        v["status"] = json!("completed");
        v["totalAmount"] = json!("123.45");
        v.as_object_mut().unwrap().remove("billingAddress");
        let wrapped = json!({"data": v});
        let d = draft(wrapped).unwrap();
        assert_eq!(d.billing_address, d.shipping_address);

        let mut top = contract_example();
        let items = top["cartSnapshot"]["items"].clone();
        let obj = top.as_object_mut().unwrap();
        obj.remove("cartSnapshot");
        obj.remove("totalAmount");
        obj.remove("taxAmount");
        obj.remove("shippingAmount");
        obj.insert("items".into(), items);
        let d = draft(top).unwrap();
        assert_eq!(d.totals.total.to_string(), "91.98");
    }

    #[test]
    fn rejections() {
        let mut v = contract_example();
        v["status"] = json!("PENDING");
        assert_eq!(
            draft(v).unwrap_err(),
            SessionRejection::NotCompleted("PENDING".into())
        );

        let mut v = contract_example();
        v["cartSnapshot"]["items"] = json!([]);
        assert_eq!(draft(v).unwrap_err(), SessionRejection::Empty);

        for (path, bad) in [
            ("quantity", json!(0)),
            ("quantity", json!(1.5)),
            ("price", json!(-1)),
        ] {
            let mut v = contract_example();
            v["cartSnapshot"]["items"][0][path] = bad;
            assert!(
                matches!(draft(v), Err(SessionRejection::Invalid(_))),
                "{path}"
            );
        }

        let mut v = contract_example();
        v["totalAmount"] = json!(123.44);
        assert!(matches!(draft(v), Err(SessionRejection::Invalid(_))));

        let mut v = contract_example();
        v.as_object_mut().unwrap().remove("shippingAddress");
        assert!(matches!(draft(v), Err(SessionRejection::Invalid(_))));
    }

    #[test]
    fn another_session_or_garbage_is_a_parse_error() {
        let other = json!({"id": "00000000-0000-0000-0000-000000000001"});
        let body = serde_json::to_vec(&other).unwrap();
        assert!(matches!(
            CheckoutSession::parse(&body, ID.parse().unwrap()),
            Err(SessionParseError::WrongSession { .. })
        ));
        assert!(matches!(
            CheckoutSession::parse(b"<html>", ID.parse().unwrap()),
            Err(SessionParseError::Malformed(_))
        ));
    }
}
