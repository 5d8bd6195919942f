//! `stub-checkout`: a fast stand-in Checkout Service for benchmarks. It answers any UUID
//! with the same COMPLETED session (a precomputed body with the id spliced in), so the
//! Order Service can be driven with a fresh session per request.
//!
//! It also serves `POST /api/v1/orders/checkout` as a trivial handler (read the body,
//! answer a fixed 201) — the "same HTTP stack, no work" ceiling of `bench/run.sh` — and
//! `POST /api/v1/notifications` as a receiver that accepts every confirmation at once
//! (202), as a fast confirmation receiver.

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

const SESSION_PREFIX: &str = r#"{"id":""#;
const SESSION_SUFFIX: &str = r#"","userId":"bench-user","email":"bench@example.com","status":"COMPLETED","currency":"USD","cartSnapshot":{"cartId":"0b7e4d2a-0000-4000-8000-000000000001","items":[{"productId":"prod-1","name":"Espresso cup","price":45.99,"quantity":2},{"productId":"prod-2","name":"Saucer","price":8.50,"quantity":1}],"subtotal":100.48},"shippingAmount":12.00,"taxAmount":19.47,"discountAmount":0,"totalAmount":131.95,"shippingAddress":{"street":"123 Main St","city":"Anytown","state":"CA","country":"US","postalCode":"12345"},"billingAddress":{"street":"123 Main St","city":"Anytown","state":"CA","country":"US","postalCode":"12345"},"paymentIntentId":"pi_bench","createdAt":"2023-11-01T11:50:00Z","completedAt":"2023-11-01T11:59:30Z","expiresAt":"2023-11-01T12:30:00Z"}"#;

const TRIVIAL_ORDER: &str =
    r#"{"id":"00000000-0000-4000-8000-000000000000","status":"PENDING","totalAmount":131.95}"#;

async fn session(Path(id): Path<String>) -> Response {
    if uuid::Uuid::parse_str(&id).is_err() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut body = String::with_capacity(SESSION_PREFIX.len() + id.len() + SESSION_SUFFIX.len());
    body.push_str(SESSION_PREFIX);
    body.push_str(&id);
    body.push_str(SESSION_SUFFIX);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn trivial_create(_body: Bytes) -> Response {
    (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        TRIVIAL_ORDER,
    )
        .into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3005);
    let app = Router::new()
        .route("/api/v1/checkout/session/{id}", get(session))
        .route("/api/v1/orders/checkout", post(trivial_create))
        .route(
            "/api/v1/notifications",
            post(|_body: Bytes| async { StatusCode::ACCEPTED }),
        )
        .route("/health", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("stub-checkout listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
