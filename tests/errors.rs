//! Errors that do not come from a handler still answer problem+json with a `code`: the
//! request timeout and a panic. Text from upstream or from serde is logged, not echoed.

mod common;

use axum::routing::get;
use common::{Backend, Behavior, TestApp, session_json, token};
use serde_json::{Value, json};
use std::time::Duration;

fn assert_problem_json(response: &reqwest::Response) {
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

async fn a_request_past_the_timeout_is_503_request_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.request_timeout_ms = 300;
        c.checkout_timeout_ms = 10_000;
    })
    .await;
    let id = uuid::Uuid::new_v4().to_string();
    app.checkout.set(&id, Behavior::Hang);
    let response = app
        .http
        .post(app.url("/api/v1/orders/checkout"))
        .bearer_auth(token("user-1", &[]))
        .header("x-request-id", "slow-1")
        .json(&json!({"checkoutSessionId": id}))
        .send()
        .await
        .unwrap();
    assert_problem_json(&response);
    assert_eq!(response.headers()["x-request-id"], "slow-1");
    let (status, body) = common::status_and_json(response).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "REQUEST_TIMEOUT", "{body}");
    assert_eq!(body["status"], 503);
    assert!(
        body["detail"].as_str().unwrap().contains("300 ms"),
        "{body}"
    );
}

/// The panic is real: a route that panics, inside the same middleware stack the service
/// uses (`http::with_middleware`), since no production handler panics on purpose.
#[tokio::test]
async fn a_panicking_handler_is_500_internal_error_without_its_message() {
    async fn boom() -> &'static str {
        panic!("secret-panic-text")
    }
    let routes = axum::Router::new().route("/boom", get(boom));
    let app = order_service::http::with_middleware(routes, &[], Duration::from_secs(5));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    order_service::telemetry::install_crypto_provider();
    let response = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
    assert_problem_json(&response);
    assert!(response.headers().contains_key("x-request-id"));
    let (status, body) = common::status_and_json(response).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["code"], "INTERNAL_ERROR", "{body}");
    assert!(!body.to_string().contains("secret-panic-text"), "{body}");
}

async fn upstream_and_serde_text_is_not_echoed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = "user-1";
    type Case = (&'static str, fn(&mut Value), &'static str);
    let sessions: [Case; 2] = [
        (
            "CHECKOUT_SESSION_NOT_COMPLETED",
            |v| v["status"] = json!("ON_HOLD_leaky-status-text"),
            "leaky-status-text",
        ),
        (
            "CHECKOUT_SESSION_INVALID",
            |v| v["currency"] = json!("<leaky-currency>"),
            "leaky-currency",
        ),
    ];
    for (code, mutate, secret) in sessions {
        let id = uuid::Uuid::new_v4().to_string();
        let mut session = session_json(&id, user);
        mutate(&mut session);
        app.checkout.put(&id, session);
        let (s, b) = app.create_order(user, &id).await;
        assert_eq!((s, b["code"].as_str()), (400, Some(code)), "{b}");
        assert!(!b.to_string().contains(secret), "{b}");
    }
    // A known status is still named.
    let id = uuid::Uuid::new_v4().to_string();
    let mut session = session_json(&id, user);
    session["status"] = json!("EXPIRED");
    app.checkout.put(&id, session);
    let (_, b) = app.create_order(user, &id).await;
    assert!(b["detail"].as_str().unwrap().contains("EXPIRED"), "{b}");

    // serde would quote the offending value back ("invalid type: integer `987654321`").
    let order = uuid::Uuid::new_v4();
    let (s, b) = app
        .post(
            &format!("/api/v1/orders/{order}/cancel"),
            &token(user, &[]),
            json!({"reason": 987_654_321}),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("VALIDATION_ERROR")),
        "{b}"
    );
    assert!(!b.to_string().contains("987654321"), "{b}");
    assert!(b["detail"].as_str().unwrap().contains("line 1"), "{b}");
}

both_backends!(
    a_request_past_the_timeout_is_503_request_timeout,
    upstream_and_serde_text_is_not_echoed,
);
