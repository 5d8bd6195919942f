//! POST /api/v1/orders/checkout: the seed's contract, every error row, idempotency, money.

mod common;

use common::{Backend, Behavior, TestApp, session_json, token};
use order_service::domain::CheckoutSessionId;
use serde_json::{Value, json};
use std::str::FromStr;

async fn nothing_stored(app: &TestApp, session: &str) {
    let id = CheckoutSessionId::from_str(session).unwrap();
    assert!(
        app.store
            .order_by_checkout_session(id)
            .await
            .unwrap()
            .is_none(),
        "an order was stored"
    );
}

fn assert_problem(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], want_status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string());
}

async fn creates_the_seed_response_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.completed_session("user-123");
    let (status, order) = app.create_order("user-123", &session).await;
    assert_eq!(status, 201, "{order}");
    uuid::Uuid::parse_str(order["id"].as_str().unwrap()).unwrap();
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["totalAmount"], json!(123.45));
    assert_eq!(order["subtotalAmount"], json!(91.98));
    assert_eq!(order["shippingAmount"], json!(12.0));
    assert_eq!(order["taxAmount"], json!(19.47));
    assert_eq!(order["discountAmount"], json!(0.0));
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["userId"], "user-123");
    assert_eq!(order["checkoutSessionId"], session.as_str());
    assert_eq!(order["paymentIntentId"], "pi_3Nabc");
    let items = order["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    uuid::Uuid::parse_str(items[0]["id"].as_str().unwrap()).unwrap();
    assert_eq!(items[0]["productId"], "prod-1");
    assert_eq!(items[0]["name"], "Espresso cup");
    assert_eq!(items[0]["price"], json!(45.99));
    assert_eq!(items[0]["quantity"], 2);
    let address = json!({"street": "123 Main St", "city": "Anytown", "state": "CA", "country": "US", "postalCode": "12345"});
    assert_eq!(order["shippingAddress"], address);
    assert_eq!(order["billingAddress"], address);
    let created = order["createdAt"].as_str().unwrap();
    assert!(created.ends_with('Z'), "createdAt is UTC: {created}");
    chrono::DateTime::parse_from_rfc3339(created).unwrap();
    chrono::DateTime::parse_from_rfc3339(order["updatedAt"].as_str().unwrap()).unwrap();
    assert_eq!(order["version"], 1);

    let (status, read) = app
        .get(
            &format!("/api/v1/orders/{}", order["id"].as_str().unwrap()),
            &token("user-123", &[]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(read, order, "reading back gives the same order");
}

async fn repeat_returns_the_same_order_with_200(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.completed_session("user-1");
    let (first_status, first) = app.create_order("user-1", &session).await;
    let (again_status, again) = app.create_order("user-1", &session).await;
    assert_eq!((first_status, again_status), (201, 200));
    assert_eq!(first, again);
    // The repeat is answered from the database: the Checkout Service is asked once.
    assert_eq!(app.checkout.hits(), 1);
    let pending = app
        .store
        .list_outbox(order_service::outbox::OutboxStatus::Pending, 100)
        .await
        .unwrap();
    let delivered = app
        .store
        .list_outbox(order_service::outbox::OutboxStatus::Delivered, 100)
        .await
        .unwrap();
    assert_eq!(
        pending.len() + delivered.len(),
        1,
        "one confirmation queued, none for the repeat"
    );
    assert_eq!(pending[0].event_type, "ORDER_CONFIRMATION");
}

async fn forty_concurrent_requests_make_one_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.completed_session("user-1");
    let requests = (0..40).map(|_| app.create_order("user-1", &session));
    let results = futures::future::join_all(requests).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let repeated = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!((created, repeated), (1, 39), "{results:?}");
    let id = &results[0].1["id"];
    assert!(
        results.iter().all(|(_, body)| &body["id"] == id),
        "all answers name the same order"
    );
    let page = app
        .get("/api/v1/orders?limit=100", &common::admin_token())
        .await
        .1;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

async fn three_dimes_total_exactly_thirty_cents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut session = session_json(&id, "user-1");
    session["cartSnapshot"]["items"] = json!([
        {"productId": "a", "price": "0.10", "quantity": 1},
        {"productId": "b", "price": "0.10", "quantity": 1},
        {"productId": "c", "price": "0.10", "quantity": 1}
    ]);
    session["cartSnapshot"]["subtotal"] = json!("0.30");
    for key in ["shippingAmount", "taxAmount", "discountAmount"] {
        session[key] = json!(0);
    }
    session["totalAmount"] = json!(0.3);
    app.checkout.put(&id, session);
    let response = app
        .http
        .post(app.url("/api/v1/orders/checkout"))
        .bearer_auth(token("user-1", &[]))
        .json(&json!({"checkoutSessionId": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("\"totalAmount\":0.30"),
        "exact on the wire: {text}"
    );
    assert!(text.contains("\"subtotalAmount\":0.30"), "{text}");
}

async fn every_error_row_has_its_code_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = "user-1";

    let unknown = uuid::Uuid::new_v4().to_string();
    let (s, b) = app.create_order(user, &unknown).await;
    assert_problem(s, &b, 404, "CHECKOUT_SESSION_NOT_FOUND");

    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Mutation, u16, &str)> = vec![
        (
            "pending",
            Box::new(|v| v["status"] = json!("PENDING")),
            400,
            "CHECKOUT_SESSION_NOT_COMPLETED",
        ),
        (
            "expired",
            Box::new(|v| v["status"] = json!("expired")),
            400,
            "CHECKOUT_SESSION_NOT_COMPLETED",
        ),
        (
            "empty",
            Box::new(|v| v["cartSnapshot"]["items"] = json!([])),
            400,
            "CHECKOUT_SESSION_EMPTY",
        ),
        (
            "zero qty",
            Box::new(|v| v["cartSnapshot"]["items"][0]["quantity"] = json!(0)),
            400,
            "CHECKOUT_SESSION_INVALID",
        ),
        (
            "negative price",
            Box::new(|v| v["cartSnapshot"]["items"][0]["price"] = json!(-1)),
            400,
            "CHECKOUT_SESSION_INVALID",
        ),
        (
            "total off by a cent",
            Box::new(|v| v["totalAmount"] = json!(123.44)),
            400,
            "CHECKOUT_SESSION_INVALID",
        ),
        (
            "no shipping address",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("shippingAddress");
            }),
            400,
            "CHECKOUT_SESSION_INVALID",
        ),
    ];
    for (name, mutate, status, code) in cases {
        let id = uuid::Uuid::new_v4().to_string();
        let mut session = session_json(&id, user);
        mutate(&mut session);
        app.checkout.put(&id, session);
        let (s, b) = app.create_order(user, &id).await;
        assert_eq!(
            (s, b["code"].as_str().unwrap_or("")),
            (status, code),
            "case {name}: {b}"
        );
        nothing_stored(&app, &id).await;
    }

    let upstream: Vec<(&str, Behavior)> = vec![
        ("5xx", Behavior::Status(503)),
        ("unparseable", Behavior::Raw("<html>oops</html>".into())),
        (
            "another session",
            Behavior::Session(session_json(&uuid::Uuid::new_v4().to_string(), user)),
        ),
    ];
    for (name, behavior) in upstream {
        let id = uuid::Uuid::new_v4().to_string();
        app.checkout.set(&id, behavior);
        let (s, b) = app.create_order(user, &id).await;
        assert_problem(s, &b, 500, "CHECKOUT_SERVICE_UNAVAILABLE");
        assert!(
            !b.to_string().contains("oops"),
            "case {name}: upstream body leaked: {b}"
        );
        nothing_stored(&app, &id).await;
    }

    let hits_before = app.checkout.hits();
    for bad in [
        json!({"checkoutSessionId": "../../admin"}),
        json!({"checkoutSessionId": 42}),
        json!({}),
    ] {
        let (s, b) = app
            .post("/api/v1/orders/checkout", &token(user, &[]), bad)
            .await;
        assert_problem(s, &b, 400, "VALIDATION_ERROR");
    }
    let raw = app
        .http
        .post(app.url("/api/v1/orders/checkout"))
        .bearer_auth(token(user, &[]))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-type"], "application/problem+json");
    let (s, b) = common::status_and_json(raw).await;
    assert_problem(s, &b, 400, "VALIDATION_ERROR");
    assert_eq!(
        app.checkout.hits(),
        hits_before,
        "invalid ids never reach the Checkout Service"
    );

    let huge = format!(
        "{{\"checkoutSessionId\": \"{}\", \"pad\": \"{}\"}}",
        uuid::Uuid::new_v4(),
        "x".repeat(2 * 1024 * 1024)
    );
    let response = app
        .http
        .post(app.url("/api/v1/orders/checkout"))
        .bearer_auth(token(user, &[]))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let (s, b) = common::status_and_json(response).await;
    assert_problem(s, &b, 413, "PAYLOAD_TOO_LARGE");
}

async fn a_hung_checkout_is_answered_within_the_timeout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = uuid::Uuid::new_v4().to_string();
    app.checkout.set(&id, Behavior::Hang);
    let started = std::time::Instant::now();
    let (s, b) = app.create_order("user-1", &id).await;
    let elapsed = started.elapsed();
    assert_problem(s, &b, 500, "CHECKOUT_SERVICE_UNAVAILABLE");
    assert!(
        elapsed < std::time::Duration::from_millis(1500 + 1000),
        "answered after {elapsed:?}"
    );
    nothing_stored(&app, &id).await;
}

async fn an_unreachable_checkout_is_a_500(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.checkout_service_url = "http://127.0.0.1:9".into()
    })
    .await;
    let id = uuid::Uuid::new_v4().to_string();
    let (s, b) = app.create_order("user-1", &id).await;
    assert_problem(s, &b, 500, "CHECKOUT_SERVICE_UNAVAILABLE");
}

async fn tolerated_session_variations_are_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut session = session_json(&id, "user-1");
    session["status"] = json!("Completed");
    session["totalAmount"] = json!("123.45");
    let object = session.as_object_mut().unwrap();
    object.remove("billingAddress");
    app.checkout.put(&id, json!({"data": session}));
    let (s, order) = app.create_order("user-1", &id).await;
    assert_eq!(s, 201, "{order}");
    assert_eq!(order["billingAddress"], order["shippingAddress"]);
    assert_eq!(order["totalAmount"], json!(123.45));
}

async fn the_request_id_is_forwarded_to_checkout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.completed_session("user-1");
    let response = app
        .http
        .post(app.url("/api/v1/orders/checkout"))
        .bearer_auth(token("user-1", &[]))
        .header("x-request-id", "req-abc-123")
        .json(&json!({"checkoutSessionId": session}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    assert_eq!(app.checkout.request_ids(), vec!["req-abc-123".to_owned()]);
}

async fn a_restart_keeps_the_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let order = app.order_for("user-1").await;
    let session = order["checkoutSessionId"].as_str().unwrap().to_owned();
    let (db, checkout) = app.stop().await;
    let config = common::test_config(&db, &checkout);
    let app = TestApp::start(config, db, checkout).await;
    let (s, read) = app
        .get(
            &format!("/api/v1/orders/{}", order["id"].as_str().unwrap()),
            &token("user-1", &[]),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(read, order);
    let (s, again) = app.create_order("user-1", &session).await;
    assert_eq!((s, &again["id"]), (200, &order["id"]));
}

async fn checkout_5xx_is_retried_within_the_budget(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = uuid::Uuid::new_v4().to_string();
    let session = session_json(&id, "user-1");
    app.checkout.set(
        &id,
        Behavior::Flaky {
            failures: 2,
            status: 502,
            session,
        },
    );
    let (s, order) = app.create_order("user-1", &id).await;
    assert_eq!(s, 201, "{order}");
    assert_eq!(app.checkout.hits(), 3, "two retries, then success");

    let id = uuid::Uuid::new_v4().to_string();
    let session = session_json(&id, "user-1");
    app.checkout.set(
        &id,
        Behavior::Flaky {
            failures: 10,
            status: 503,
            session,
        },
    );
    let (s, b) = app.create_order("user-1", &id).await;
    assert_problem(s, &b, 500, "CHECKOUT_SERVICE_UNAVAILABLE");
    assert_eq!(app.checkout.hits(), 6, "at most two retries");

    let id = uuid::Uuid::new_v4().to_string();
    let mut huge = session_json(&id, "user-1");
    huge["padding"] = json!("x".repeat(2 * 1024 * 1024));
    app.checkout.put(&id, huge);
    let (s, b) = app.create_order("user-1", &id).await;
    assert_problem(s, &b, 500, "CHECKOUT_SERVICE_UNAVAILABLE");
    nothing_stored(&app, &id).await;
}

/// The billing address is stored only when it differs from the shipping address; either
/// way an order reads back, and its confirmation says, the addresses it was created with.
async fn a_billing_address_of_its_own_is_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut session = session_json(&id, "user-1");
    let billing = json!({"street": "9 Billing Rd", "city": "Paytown", "state": "NY", "country": "US", "postalCode": "10001"});
    session["billingAddress"] = billing.clone();
    app.checkout.put(&id, json!({"data": session}));
    let (s, order) = app.create_order("user-1", &id).await;
    assert_eq!(s, 201, "{order}");
    assert_eq!(order["billingAddress"], billing);
    let (s, read) = app
        .get(
            &format!("/api/v1/orders/{}", order["id"].as_str().unwrap()),
            &token("user-1", &[]),
        )
        .await;
    assert_eq!(s, 200, "{read}");
    assert_eq!(read["billingAddress"], billing);
    assert_eq!(read["shippingAddress"], session["shippingAddress"]);
    let same = app.completed_session("user-1");
    let (s, plain) = app.create_order("user-1", &same).await;
    assert_eq!(s, 201);
    let events = app
        .store
        .list_outbox(order_service::outbox::OutboxStatus::Pending, 10)
        .await
        .unwrap();
    for (created, want) in [(&order, &billing), (&plain, &plain["shippingAddress"])] {
        let event = (events.iter())
            .find(|e| e.order_id.to_string() == created["id"].as_str().unwrap())
            .expect("its confirmation");
        let body: Value = serde_json::from_str(event.payload.get()).unwrap();
        assert_eq!(&body["order"]["billingAddress"], want);
    }
}

both_backends!(
    a_billing_address_of_its_own_is_kept,
    checkout_5xx_is_retried_within_the_budget,
    creates_the_seed_response_shape,
    repeat_returns_the_same_order_with_200,
    forty_concurrent_requests_make_one_order,
    three_dimes_total_exactly_thirty_cents,
    every_error_row_has_its_code_and_stores_nothing,
    a_hung_checkout_is_answered_within_the_timeout,
    an_unreachable_checkout_is_a_500,
    tolerated_session_variations_are_accepted,
    the_request_id_is_forwarded_to_checkout,
    a_restart_keeps_the_orders,
);
