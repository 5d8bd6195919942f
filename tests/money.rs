//! Money is never silently changed (contracts §4): amounts that would have to be rounded or
//! guessed at make the session invalid and store nothing; each currency keeps its ISO 4217
//! minor units in storage and on the wire; a session has at most MAX_ITEMS_PER_ORDER lines.

mod common;

use common::{Backend, Behavior, TestApp, session_json};
use order_service::domain::{CheckoutSessionId, OrderId};
use serde_json::{Value, json};
use std::str::FromStr;

async fn nothing_stored(app: &TestApp, session: &str) {
    let id = CheckoutSessionId::from_str(session).unwrap();
    let stored = app.store.order_by_checkout_session(id).await.unwrap();
    assert!(stored.is_none(), "an order was stored for {session}");
}

/// The seed session without stated totals, so that only the amount under test can fail.
fn session_without_totals(id: &str) -> Value {
    let mut session = session_json(id, "user-1");
    session["cartSnapshot"]
        .as_object_mut()
        .unwrap()
        .remove("subtotal");
    session.as_object_mut().unwrap().remove("totalAmount");
    session
}

/// Serves `session` as JSON text in which `from` is replaced by `to`, so that numbers no
/// `f64` can hold reach the service as written.
fn serve_raw(app: &TestApp, id: &str, session: &Value, from: &str, to: &str) {
    let text = session.to_string();
    assert!(text.contains(from), "{from} not in {text}");
    app.checkout
        .set(id, Behavior::Raw(text.replacen(from, to, 1)));
}

async fn create(app: &TestApp, id: &str) -> (u16, Value, String) {
    let response = app
        .http
        .post(app.url("/api/v1/orders/checkout"))
        .bearer_auth(common::token("user-1", &[]))
        .json(&json!({ "checkoutSessionId": id }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

async fn amounts_that_would_be_rounded_or_guessed_are_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // (case, JSON text replacing the first `"price":45.99`, words the detail must hold)
    let price_cases = [
        (
            "30-digit price as a number",
            r#""price":45.990000000000000000000000000001"#,
            "more decimals",
        ),
        (
            "30-digit price as a string",
            r#""price":"45.990000000000000000000000000001""#,
            "more decimals",
        ),
        (
            "a third decimal that is zero",
            r#""price":"45.990""#,
            "more decimals",
        ),
        ("digit separator", r#""price":"1_000""#, "not a decimal"),
        ("thousands comma", r#""price":"1,000.00""#, "not a decimal"),
        ("NaN", r#""price":"NaN""#, "not a decimal"),
        (
            "absurd exponent as a number",
            r#""price":1e400"#,
            "exponent",
        ),
        (
            "absurd exponent as a string",
            r#""price":"1e400""#,
            "exponent",
        ),
        (
            "30 integer digits",
            r#""price":123456789012345678901234567890"#,
            "too large",
        ),
    ];
    for (name, replacement, detail) in price_cases {
        let id = uuid::Uuid::new_v4().to_string();
        serve_raw(
            &app,
            &id,
            &session_without_totals(&id),
            r#""price":45.99"#,
            replacement,
        );
        let (s, b, _) = create(&app, &id).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (400, Some("CHECKOUT_SESSION_INVALID")),
            "{name}: {b}"
        );
        let said = b["detail"].as_str().unwrap_or_default();
        assert!(said.contains(detail), "{name}: {said}");
        nothing_stored(&app, &id).await;
    }

    type Mutation = Box<dyn Fn(&mut Value)>;
    let session_cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "shipping with a 30-digit fraction",
            Box::new(|v| v["shippingAmount"] = json!("12.000000000000000000000000000001")),
            "shippingAmount",
        ),
        (
            "unknown currency",
            Box::new(|v| v["currency"] = json!("ABC")),
            "currency",
        ),
        (
            "no currency at all (XXX)",
            Box::new(|v| v["currency"] = json!("XXX")),
            "currency",
        ),
        (
            "JPY with decimals",
            Box::new(|v| {
                v["currency"] = json!("JPY");
                v["cartSnapshot"]["items"][0]["price"] = json!("1200.5");
                v["shippingAmount"] = json!(500);
                v["taxAmount"] = json!(0);
            }),
            "0 minor units",
        ),
        (
            "JPY with a zero decimal",
            Box::new(|v| {
                v["currency"] = json!("JPY");
                v["cartSnapshot"]["items"][0]["price"] = json!("1200");
                v["shippingAmount"] = json!("500.0");
                v["taxAmount"] = json!(0);
            }),
            "0 minor units",
        ),
        (
            "KWD with 4 decimals",
            Box::new(|v| {
                v["currency"] = json!("KWD");
                v["cartSnapshot"]["items"][0]["price"] = json!("1.2345");
            }),
            "3 minor units",
        ),
        (
            "quantity with a 30-digit fraction",
            Box::new(|v| {
                v["cartSnapshot"]["items"][0]["quantity"] =
                    json!("2.000000000000000000000000000001")
            }),
            "quantity",
        ),
    ];
    for (name, mutate, detail) in session_cases {
        let id = uuid::Uuid::new_v4().to_string();
        let mut session = session_without_totals(&id);
        mutate(&mut session);
        app.checkout.put(&id, session);
        let (s, b, _) = create(&app, &id).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (400, Some("CHECKOUT_SESSION_INVALID")),
            "{name}: {b}"
        );
        let said = b["detail"].as_str().unwrap_or_default();
        assert!(said.contains(detail), "{name}: {said}");
        nothing_stored(&app, &id).await;
    }
}

async fn currencies_keep_their_minor_units(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // (currency, item price, quantity, shipping, tax, stated total, wire text expected)
    let cases = [
        (
            "JPY",
            json!(1200),
            3,
            json!(500),
            json!("0"),
            json!(4100),
            [
                r#""totalAmount":4100,"#,
                r#""price":1200,"#,
                r#""shippingAmount":500,"#,
            ],
        ),
        (
            "KWD",
            json!("1.25"),
            2,
            json!(0.5),
            json!("0.125"),
            json!("3.125"),
            [
                r#""totalAmount":3.125,"#,
                r#""price":1.250,"#,
                r#""shippingAmount":0.500,"#,
            ],
        ),
        (
            "USD",
            json!(45.99),
            2,
            json!(12),
            json!("19.47"),
            json!(123.45),
            [
                r#""totalAmount":123.45,"#,
                r#""price":45.99,"#,
                r#""shippingAmount":12.00,"#,
            ],
        ),
    ];
    for (currency, price, quantity, shipping, tax, total, expected) in cases {
        let id = uuid::Uuid::new_v4().to_string();
        let mut session = session_without_totals(&id);
        session["currency"] = json!(currency);
        session["cartSnapshot"]["items"][0]["price"] = price;
        session["cartSnapshot"]["items"][0]["quantity"] = json!(quantity);
        session["shippingAmount"] = shipping;
        session["taxAmount"] = tax;
        session["totalAmount"] = total;
        app.checkout.put(&id, session);
        let (s, order, created) = create(&app, &id).await;
        assert_eq!(s, 201, "{currency}: {order}");
        assert_eq!(order["currency"], currency);
        let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
        let read = app
            .http
            .get(app.url(&path))
            .bearer_auth(common::token("user-1", &[]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for text in expected {
            assert!(created.contains(text), "{currency} created: {created}");
            assert!(read.contains(text), "{currency} read back: {read}");
        }
        let stored = app
            .store
            .order_by_id(OrderId(
                uuid::Uuid::from_str(order["id"].as_str().unwrap()).unwrap(),
            ))
            .await
            .unwrap()
            .expect("stored");
        let minor = stored.total_amount.minor_units();
        let want = match currency {
            "JPY" => 4100,
            "KWD" => 3125,
            _ => 12345,
        };
        assert_eq!(minor, want, "{currency} total in minor units");
    }
}

fn lines(n: usize) -> Value {
    let items: Vec<Value> = (0..n)
        .map(|i| json!({"productId": format!("p-{i}"), "price": "1.00", "quantity": 1}))
        .collect();
    Value::Array(items)
}

async fn at_most_max_items_per_order_lines(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut session = session_without_totals(&id);
    session["cartSnapshot"]["items"] = lines(501);
    app.checkout.put(&id, session);
    let (s, b, _) = create(&app, &id).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("CHECKOUT_SESSION_INVALID")),
        "{b}"
    );
    assert!(b["detail"].as_str().unwrap().contains("501 lines"), "{b}");
    nothing_stored(&app, &id).await;

    let id = uuid::Uuid::new_v4().to_string();
    let mut session = session_without_totals(&id);
    session["cartSnapshot"]["items"] = lines(500);
    app.checkout.put(&id, session);
    let (s, b, _) = create(&app, &id).await;
    assert_eq!(s, 201, "500 lines are allowed: {b}");
    assert_eq!(b["items"].as_array().unwrap().len(), 500);
    assert_eq!(b["subtotalAmount"], json!(500.0));
}

async fn the_line_limit_is_configurable(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_items_per_order = 2).await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut session = session_without_totals(&id);
    session["cartSnapshot"]["items"] = lines(3);
    app.checkout.put(&id, session);
    let (s, b, _) = create(&app, &id).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("CHECKOUT_SESSION_INVALID")),
        "{b}"
    );
    nothing_stored(&app, &id).await;
}

both_backends!(
    amounts_that_would_be_rounded_or_guessed_are_invalid,
    currencies_keep_their_minor_units,
    at_most_max_items_per_order_lines,
    the_line_limit_is_configurable,
);
