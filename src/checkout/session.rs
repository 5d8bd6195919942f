//! The checkout session format (docs/interface.md §2) and its conversion into an order draft.
//!
//! Parsing is two-step: the wire form is lenient (every field optional, money kept as JSON
//! text) so that a well-formed but unusable session is told apart from garbage; the
//! conversion into an `OrderDraft` then applies every business rule once.

use super::session_wire::{Envelope, WireSession, loose_text, parse_item, to_address};
use crate::domain::{CheckoutSessionId, Currency, Money, OrderDraft, OrderTotals, UserId};
use serde_json::value::RawValue;
use std::str::FromStr;

/// Lines a session may hold unless `MAX_ITEMS_PER_ORDER` says otherwise (docs/interface.md).
pub const DEFAULT_MAX_ITEMS_PER_ORDER: usize = 500;

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

fn malformed(e: serde_json::Error) -> SessionParseError {
    SessionParseError::Malformed(e.to_string())
}

impl CheckoutSession {
    /// Reads a session from the body the Checkout Service returned for `asked`.
    pub fn parse(body: &[u8], asked: CheckoutSessionId) -> Result<Self, SessionParseError> {
        // The bare form (the contract's) in one pass; a wrapper's `data` object is read
        // from the text that pass kept. When the body does not read as a session, the
        // two-step reading decides: a wrapper's own members (`"status": 200` beside
        // `data`) are then not read as session fields, and the error names what is wrong.
        let wire = match serde_json::from_slice::<WireSession>(body) {
            Ok(WireSession {
                data: Some(inner), ..
            }) if inner.get().starts_with('{') => {
                serde_json::from_str(inner.get()).map_err(malformed)?
            }
            Ok(top) => top,
            Err(_) => Self::parse_in_two_steps(body)?,
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

    /// The wrapper first, then the session in its `data` object or, without one, the body.
    fn parse_in_two_steps(body: &[u8]) -> Result<WireSession, SessionParseError> {
        let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(malformed)?;
        match envelope.data.filter(|d| d.get().starts_with('{')) {
            Some(inner) => serde_json::from_str(inner.get()).map_err(malformed),
            None => serde_json::from_slice(body).map_err(malformed),
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

    /// `into_draft_with` the contract's default limit of lines.
    pub fn into_draft(self) -> Result<OrderDraft, SessionRejection> {
        self.into_draft_with(DEFAULT_MAX_ITEMS_PER_ORDER)
    }

    /// Applies the contract's rules: COMPLETED, at least one and at most `max_items` lines,
    /// a known currency, amounts exact in it, usable data, totals that add up.
    pub fn into_draft_with(self, max_items: usize) -> Result<OrderDraft, SessionRejection> {
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
        if raw_items.len() > max_items {
            return Err(invalid(format!(
                "the session has {} lines; at most {max_items} are accepted",
                raw_items.len()
            )));
        }
        let user_id = owner.ok_or_else(|| invalid("userId is missing".into()))?;
        let code = wire
            .currency
            .unwrap_or_else(|| "USD".to_owned())
            .trim()
            .to_ascii_uppercase();
        let currency = Currency::parse(&code).ok_or_else(|| {
            tracing::info!(currency = %code, "checkout session currency is not an ISO 4217 code");
            invalid("currency is not an ISO 4217 currency".into())
        })?;
        let items = raw_items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                parse_item(item, currency).map_err(|e| invalid(format!("item {i}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let amount =
            |name: &str, raw: Option<Box<RawValue>>| -> Result<Option<Money>, SessionRejection> {
                match raw {
                    None => Ok(None),
                    Some(raw) if raw.get() == "null" => Ok(None),
                    Some(raw) => Money::parse_json_in(raw.get(), currency)
                        .map(Some)
                        .map_err(|e| invalid(format!("{name}: {e}"))),
                }
            };
        let zero = Money::zero(currency.minor_units());
        let shipping = amount("shippingAmount", wire.shipping_amount)?.unwrap_or(zero);
        let tax = amount("taxAmount", wire.tax_amount)?.unwrap_or(zero);
        let discount = amount("discountAmount", wire.discount_amount)?.unwrap_or(zero);
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
        Ok(OrderDraft {
            user_id,
            email: wire.email.filter(|e| !e.trim().is_empty()),
            checkout_session_id: self.id,
            payment_intent_id: wire.payment_intent_id.filter(|p| !p.trim().is_empty()),
            currency: currency.code().to_owned(),
            items,
            totals,
            shipping_address,
            billing_address,
        })
    }
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
    fn a_wrapper_reads_as_its_data_whatever_its_own_members() {
        let bare = format!("{:?}", draft(contract_example()).unwrap());
        // A wrapper's own members of other types (a numeric `status`) are not session
        // fields; a `data` that is not an object leaves the body as the session.
        let wrapped = json!({"status": 200, "data": contract_example(), "meta": [1, {"a": null}]});
        assert_eq!(format!("{:?}", draft(wrapped).unwrap()), bare);
        let mut beside = contract_example();
        beside["data"] = json!([1, "x", null]);
        assert_eq!(format!("{:?}", draft(beside).unwrap()), bare);
        let mut pending = contract_example();
        pending["status"] = json!("PENDING");
        let wrapped = json!({"status": "COMPLETED", "data": pending});
        assert!(matches!(
            draft(wrapped),
            Err(SessionRejection::NotCompleted(_))
        ));
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
