//! The reference Checkout Service (docs/interface.md §7), started in-process on port 0 with a fresh
//! SQLite file per test: sessions in the §4 format with exact money, completion, expiry,
//! and clear 400s. Sessions are also read back through the order service's own parser, so
//! the two sides of the flow cannot drift apart.

#[path = "reference_checkout/harness.rs"]
mod harness;
#[path = "reference_checkout/listing.rs"]
mod listing;
#[path = "reference_checkout/webhooks.rs"]
mod webhooks;

use harness::{Checkout, address, as_order_service_reads_it, edited, money, seed_cart};
use order_service::checkout::SessionRejection;
use serde_json::{Value, json};
use std::time::Duration;

const TTL: Duration = Duration::from_secs(1800);

#[tokio::test]
async fn create_answers_a_pending_session_in_the_contract_format_with_exact_money() {
    let checkout = Checkout::start(TTL).await;
    let dimes = json!({
        "userId": "user-1", "email": "ada@example.com", "currency": "usd",
        "items": [
            {"productId": "a", "name": "Dime", "price": "0.10", "quantity": 1},
            {"productId": "b", "name": "Dime", "price": "0.10", "quantity": 1},
            {"productId": "c", "name": "Dime", "price": "0.10", "quantity": 1}
        ],
        "shippingAddress": address()
    });
    let created = checkout.create(&dimes).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.content_type, "application/json");
    let s = &created.json;
    let id = s["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "id is a UUID: {id}");
    assert_eq!(
        created.location.as_deref(),
        Some(format!("/api/v1/checkout/session/{id}").as_str())
    );
    assert_eq!(s["status"], "PENDING");
    assert_eq!(s["userId"], "user-1");
    assert_eq!(s["email"], "ada@example.com");
    assert_eq!(s["currency"], "USD");
    assert!(!s["cartSnapshot"]["cartId"].as_str().unwrap().is_empty());
    let items = s["cartSnapshot"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(
        (
            items[2]["productId"].as_str(),
            items[2]["quantity"].as_u64()
        ),
        (Some("c"), Some(1))
    );
    // Exact on the wire: JSON numbers with two decimals, never 0.30000000000000004.
    assert!(created.text.contains(r#""price":0.10"#), "{}", created.text);
    assert!(
        created.text.contains(r#""subtotal":0.30"#),
        "{}",
        created.text
    );
    assert!(
        created.text.contains(r#""totalAmount":0.30"#),
        "{}",
        created.text
    );
    assert!(
        created.text.contains(r#""shippingAmount":0.00"#),
        "{}",
        created.text
    );
    assert_eq!(
        s["billingAddress"], s["shippingAddress"],
        "billing defaults to shipping"
    );
    assert_eq!(s["shippingAddress"], address());
    assert!(s["paymentIntentId"].is_null() && s["completedAt"].is_null());
    let at =
        |field: &str| chrono::DateTime::parse_from_rfc3339(s[field].as_str().unwrap()).unwrap();
    assert_eq!(
        at("expiresAt") - at("createdAt"),
        chrono::Duration::seconds(1800)
    );
    assert_eq!(
        as_order_service_reads_it(&created).unwrap_err(),
        SessionRejection::NotCompleted("PENDING".into())
    );

    let got = checkout.get(id).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json, created.json, "GET answers the stored session");
}

#[tokio::test]
async fn totals_are_subtotal_plus_shipping_plus_tax_minus_discount() {
    let checkout = Checkout::start(TTL).await;
    let created = checkout.create(&seed_cart()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(
        money(&created.json["cartSnapshot"]["subtotal"]).to_string(),
        "91.98"
    );
    assert_eq!(money(&created.json["totalAmount"]).to_string(), "123.45");

    let mut discounted = seed_cart();
    discounted["discountAmount"] = json!("1.45");
    let created = checkout.create(&discounted).await;
    assert!(
        created.text.contains(r#""discountAmount":1.45"#),
        "{}",
        created.text
    );
    assert!(
        created.text.contains(r#""totalAmount":122.00"#),
        "{}",
        created.text
    );
}

#[tokio::test]
async fn complete_makes_it_completed_and_the_order_service_accepts_it() {
    let checkout = Checkout::start(TTL).await;
    let created = checkout.create(&seed_cart()).await;
    let id = created.json["id"].as_str().unwrap();
    assert_eq!(checkout.get(id).await.json["status"], "PENDING");

    let done = checkout.complete(id, json!("pi_3Nabc")).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["status"], "COMPLETED");
    assert_eq!(done.json["paymentIntentId"], "pi_3Nabc");
    assert!(done.json["completedAt"].as_str().is_some());
    assert_eq!(done.json["cartSnapshot"], created.json["cartSnapshot"]);

    let got = checkout.get(id).await;
    assert_eq!((got.status, &got.json), (200, &done.json));
    let draft =
        as_order_service_reads_it(&got).expect("a COMPLETED session becomes an order draft");
    assert_eq!(draft.totals.total.to_string(), "123.45");
    assert_eq!(draft.payment_intent_id.as_deref(), Some("pi_3Nabc"));
    assert_eq!(draft.user_id.as_str(), "user-123");

    // The same payment intent again is a harmless retry; another one is refused.
    let retry = checkout.complete(id, json!("pi_3Nabc")).await;
    assert_eq!((retry.status, &retry.json), (200, &done.json));
    let other = checkout.complete(id, json!("pi_other")).await;
    assert_eq!(other.status, 409);
    assert_eq!(other.content_type, "application/problem+json");
    assert_eq!(other.json["code"], "CHECKOUT_SESSION_NOT_PENDING");
    assert_eq!(checkout.get(id).await.json["paymentIntentId"], "pi_3Nabc");
}

#[tokio::test]
async fn unknown_sessions_are_404() {
    let checkout = Checkout::start(TTL).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for answer in [
        checkout.get(&unknown).await,
        checkout.get("not-a-uuid").await,
        checkout.complete(&unknown, json!("pi_1")).await,
    ] {
        assert_eq!(answer.status, 404, "{}", answer.text);
        assert_eq!(answer.content_type, "application/problem+json");
        assert_eq!(answer.json["code"], "CHECKOUT_SESSION_NOT_FOUND");
    }
}

#[tokio::test]
async fn invalid_input_is_a_400_problem_naming_the_field() {
    let checkout = Checkout::start(TTL).await;
    // (field named in the detail, JSON pointer into the seed cart, new value or removal)
    let cases = [
        ("items[0].quantity", "/items/0/quantity", Some(json!(0))),
        ("items[0].quantity", "/items/0/quantity", Some(json!(1.5))),
        ("items[0].quantity", "/items/0/quantity", Some(json!("2"))),
        ("items[0].price", "/items/0/price", Some(json!(-1))),
        ("items[0].price", "/items/0/price", Some(json!("0.001"))),
        ("items[0].price", "/items/0/price", Some(json!("ten"))),
        ("items[0].price", "/items/0/price", None),
        ("items[0].productId", "/items/0/productId", Some(json!(" "))),
        ("items", "/items", Some(json!([]))),
        ("items", "/items", None),
        (
            "shippingAddress.city",
            "/shippingAddress/city",
            Some(json!("")),
        ),
        ("shippingAddress.street", "/shippingAddress/street", None),
        ("shippingAddress", "/shippingAddress", None),
        (
            "billingAddress.country",
            "/billingAddress",
            Some(json!({"street": "1 Main", "city": "Town"})),
        ),
        ("userId", "/userId", None),
        ("email", "/email", Some(json!("not-an-address"))),
        ("currency", "/currency", Some(json!("US"))),
        ("shippingAmount", "/shippingAmount", Some(json!("1.234"))),
        ("discountAmount", "/discountAmount", Some(json!(1000))),
    ];
    for (field, pointer, value) in cases {
        let answer = checkout.create(&edited(seed_cart(), pointer, value)).await;
        assert_eq!(answer.status, 400, "{field}: {}", answer.text);
        assert_eq!(answer.content_type, "application/problem+json", "{field}");
        assert_eq!(answer.json["code"], "VALIDATION_ERROR", "{field}");
        let detail = answer.json["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("{field}:")),
            "{field}: {detail}"
        );
    }
    let malformed = checkout.create_raw("{\"userId\": ".into()).await;
    assert_eq!(
        (malformed.status, &malformed.json["code"]),
        (400, &json!("VALIDATION_ERROR"))
    );

    let created = checkout.create(&seed_cart()).await;
    let id = created.json["id"].as_str().unwrap();
    for bad in [Value::Null, json!(""), json!(42)] {
        let answer = checkout.complete(id, bad.clone()).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text);
        assert_eq!(answer.json["code"], "VALIDATION_ERROR");
    }
    assert_eq!(
        checkout.get(id).await.json["status"],
        "PENDING",
        "a refused completion changes nothing"
    );
}

#[tokio::test]
async fn a_pending_session_expires_and_can_no_longer_be_completed() {
    let checkout = Checkout::start(Duration::ZERO).await;
    let created = checkout.create(&seed_cart()).await;
    assert_eq!(
        (created.status, &created.json["status"]),
        (201, &json!("PENDING"))
    );
    assert_eq!(created.json["expiresAt"], created.json["createdAt"]);
    let id = created.json["id"].as_str().unwrap();

    let got = checkout.get(id).await;
    assert_eq!((got.status, &got.json["status"]), (200, &json!("EXPIRED")));
    assert_eq!(
        as_order_service_reads_it(&got).unwrap_err(),
        SessionRejection::NotCompleted("EXPIRED".into())
    );

    let refused = checkout.complete(id, json!("pi_late")).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.content_type, "application/problem+json");
    assert_eq!(refused.json["code"], "CHECKOUT_SESSION_EXPIRED");
    let after = checkout.get(id).await;
    assert_eq!(after.json["status"], "EXPIRED");
    assert!(after.json["paymentIntentId"].is_null());
}

#[tokio::test]
async fn sessions_are_stored_in_the_database_and_survive_a_restart() {
    let first = Checkout::start(TTL).await;
    let created = first.create(&seed_cart()).await;
    let id = created.json["id"].as_str().unwrap().to_owned();
    first.complete(&id, json!("pi_kept")).await;
    let second = Checkout::start_in(first.dir, TTL).await;
    let got = second.get(&id).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["status"], "COMPLETED");
    assert_eq!(got.json["paymentIntentId"], "pi_kept");
    assert_eq!(got.json["cartSnapshot"], created.json["cartSnapshot"]);
}

#[tokio::test]
async fn health_answers_200() {
    let checkout = Checkout::start(TTL).await;
    let answer = checkout
        .send(checkout.http.get(format!("{}/health", checkout.url)))
        .await;
    assert_eq!((answer.status, &answer.json["status"]), (200, &json!("ok")));
}
