//! What operators rely on: health, readiness, OpenAPI document and docs page, metrics, CORS.

mod common;

use common::{Backend, TestApp, admin_token, token};
use serde_json::{Value, json};

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, _) = app.get("/health", "").await;
    assert_eq!(s, 200);
    let (s, body) = app.get("/health/ready", "").await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ready")));
}

async fn metrics_expose_the_series_after_traffic(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let order = app.order_for("user-1").await;
    let id = order["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/orders/{id}/status"),
        &admin_token(),
        json!({"status": "CONFIRMED"}),
    )
    .await;
    app.create_order("user-1", &uuid::Uuid::new_v4().to_string())
        .await; // checkout 404
    app.get(&format!("/api/v1/orders/{id}"), &token("user-1", &[]))
        .await;
    let text = common::eventually(5, "outbox gauges", || async {
        let text = app.metrics().await;
        (text.contains("outbox_backlog") && text.contains("db_size_bytes ")).then_some(text)
    })
    .await;
    for series in [
        "http_requests_total{method=\"POST\",route=\"/api/v1/orders/checkout\",status=\"201\"}",
        "http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/orders/checkout\",status=\"201\"",
        "http_requests_total{method=\"GET\",route=\"/api/v1/orders/{id}\"",
        "orders_created_total",
        "order_status_transitions_total{from=\"PENDING\",to=\"CONFIRMED\"}",
        "checkout_request_duration_seconds_bucket",
        "checkout_request_failures_total{kind=\"not_found\"}",
        "outbox_backlog",
        "outbox_failed",
        "outbox_oldest_pending_age_seconds",
        "db_pool_connections{state=\"in_use\"}",
        "db_writes_failing 0",
    ] {
        assert!(text.contains(series), "missing {series} in:\n{text}");
    }
}

async fn openapi_lists_every_route_and_matches_the_committed_copy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, served) = app.get("/api-docs/openapi.json", "").await;
    assert_eq!(s, 200);
    let paths = served["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/orders/checkout", "post"),
        ("/api/v1/orders", "get"),
        ("/api/v1/orders/{id}", "get"),
        ("/api/v1/orders/{id}/cancel", "post"),
        ("/api/v1/orders/{id}/status", "post"),
        ("/api/v1/orders/{id}/events", "get"),
        ("/api/v1/admin/outbox", "get"),
        ("/api/v1/admin/outbox/{id}", "get"),
        ("/api/v1/admin/outbox/{id}/retry", "post"),
        ("/api/v1/admin/outbox/replay", "post"),
        ("/health", "get"),
        ("/health/ready", "get"),
        ("/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let committed: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    assert_eq!(
        served, committed,
        "openapi.json is stale: run `cargo run -- openapi > openapi.json`"
    );
    let docs = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "the docs page is served from the binary"
    );
}

async fn cors_allows_configured_origins_only(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.cors_origins = Some("https://shop.example, https://admin.example".into())
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/orders/checkout"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

async fn unknown_routes_are_problem_json_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

both_backends!(
    health_and_readiness,
    metrics_expose_the_series_after_traffic,
    openapi_lists_every_route_and_matches_the_committed_copy,
    cors_allows_configured_origins_only,
    unknown_routes_are_problem_json_404,
);
