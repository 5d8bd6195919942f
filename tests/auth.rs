//! Authentication and ownership (docs/interface.md).

mod common;

use common::{Backend, JWT_SECRET, TestApp, token, token_with};
use serde_json::json;

async fn bad_tokens_are_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.completed_session("user-1");
    let body = json!({"checkoutSessionId": session});
    let url = app.url("/api/v1/orders/checkout");

    let none = app.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["content-type"], "application/problem+json");

    let cases = [
        (
            "bad signature",
            token_with("user-1", &[], 3600, "another-secret"),
        ),
        ("expired", token_with("user-1", &[], -3600, JWT_SECRET)),
        ("malformed", "not.a.jwt".to_owned()),
    ];
    for (name, bad) in cases {
        let (s, b) = app
            .post("/api/v1/orders/checkout", &bad, body.clone())
            .await;
        assert_eq!(
            (s, b["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{name}: {b}"
        );
    }
    let basic = app
        .http
        .post(&url)
        .header("authorization", "Basic dXNlcjpwYXNz")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(
        app.checkout.hits(),
        0,
        "unauthenticated requests never reach Checkout"
    );
}

async fn another_users_session_is_403_and_order_is_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.completed_session("alice");
    let (s, b) = app.create_order("mallory", &session).await;
    assert_eq!((s, b["code"].as_str()), (403, Some("FORBIDDEN")), "{b}");

    let order = app.order_for("alice").await;
    let path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    let (s, b) = app.get(&path, &token("mallory", &[])).await;
    assert_eq!((s, b["code"].as_str()), (404, Some("ORDER_NOT_FOUND")));
    let (s, b) = app
        .get(
            &format!("/api/v1/orders/{}", uuid::Uuid::new_v4()),
            &token("mallory", &[]),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (404, Some("ORDER_NOT_FOUND")),
        "same answer as a missing order"
    );

    let (s, read) = app.get(&path, &common::admin_token()).await;
    assert_eq!(
        (s, &read["id"]),
        (200, &order["id"]),
        "admins read any order"
    );
    // A repeat by another user does not reveal the order either.
    let (s, _) = app
        .create_order("mallory", order["checkoutSessionId"].as_str().unwrap())
        .await;
    assert_eq!(s, 403);
}

async fn an_admin_may_create_from_any_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.completed_session("alice");
    let (s, order) = app
        .post(
            "/api/v1/orders/checkout",
            &common::admin_token(),
            json!({"checkoutSessionId": session}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        order["userId"], "alice",
        "the order belongs to the session's user"
    );
}

both_backends!(
    bad_tokens_are_401,
    another_users_session_is_403_and_order_is_404,
    an_admin_may_create_from_any_session,
);
