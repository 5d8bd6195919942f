//! The HTTP layer: router, middleware, handlers and the error type. It never names a
//! database backend; it talks to `OrderService` and the `OrderStore` trait.

pub mod admin;
pub mod auth;
pub mod checkout_events;
pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::routing::{get, post};
use std::time::Duration;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub use error::ApiError;
pub use state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState, cors_origins: &[String], request_timeout: Duration) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/orders/checkout",
            post(orders::create_order_from_checkout),
        )
        .route("/api/v1/orders", get(orders::list_orders))
        .route("/api/v1/orders/{id}", get(orders::get_order))
        .route("/api/v1/orders/{id}/cancel", post(orders::cancel_order))
        .route(
            "/api/v1/orders/{id}/status",
            post(orders::change_order_status),
        )
        .route("/api/v1/orders/{id}/events", get(orders::order_events))
        .route(
            "/api/v1/checkout/events",
            post(checkout_events::receive_checkout_event),
        )
        .route("/api/v1/admin/outbox", get(admin::list_outbox))
        .route(
            "/api/v1/admin/outbox/{id}/retry",
            post(admin::retry_outbox_event),
        )
        .route("/health", get(health::health))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .layer(DefaultBodyLimit::max(state.body_limit))
        .route_layer(axum::middleware::from_fn(metrics::track_requests))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state);

    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
        let request_id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id = %request_id)
    })
    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Micros));

    api.merge(SwaggerUi::new("/docs").url("/api-docs/openapi.json", openapi::ApiDoc::openapi()))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(cors(cors_origins))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::header::IF_MATCH,
            REQUEST_ID,
        ])
        .expose_headers([REQUEST_ID])
        .max_age(Duration::from_secs(600))
}
