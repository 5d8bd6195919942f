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
pub mod order_response;
pub mod orders;
pub mod state;
mod time_json;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

pub use error::ApiError;
pub use state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route, registered once: axum serves it and the OpenAPI document describes it.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base_document())
        .routes(routes!(orders::create_order_from_checkout))
        .routes(routes!(orders::list_orders))
        .routes(routes!(orders::get_order))
        .routes(routes!(orders::cancel_order))
        .routes(routes!(orders::change_order_status))
        .routes(routes!(orders::order_events))
        .routes(routes!(checkout_events::receive_checkout_event))
        .routes(routes!(admin::list_outbox))
        .routes(routes!(admin::get_outbox_event))
        .routes(routes!(admin::retry_outbox_event))
        .routes(routes!(admin::replay_outbox))
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(metrics::metrics))
}

pub fn router(state: AppState, cors_origins: &[String], request_timeout: Duration) -> Router {
    let (routes, document) = api_routes().split_for_parts();
    let api = routes
        .layer(DefaultBodyLimit::max(state.body_limit))
        .route_layer(axum::middleware::from_fn(metrics::track_requests))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(state);
    let api =
        api.merge(SwaggerUi::new("/docs").url("/api-docs/openapi.json", openapi::finish(document)));
    with_middleware(api, cors_origins, request_timeout)
}

/// The layers every route runs inside: request ids, tracing, CORS, the request timeout
/// and panic catching, the last two answering problem+json like every other error.
/// Public so tests can put a route that panics or stalls inside the very same stack.
///
/// They wrap the router as one service, not each route (`Router::layer` would box every
/// route once per layer, and axum clones a route's whole boxed stack for every request:
/// 31 boxed services cloned per GET before, a tenth of its instructions).
pub fn with_middleware(api: Router, cors_origins: &[String], request_timeout: Duration) -> Router {
    let trace = TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
        let request_id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %request.method(), uri = %request.uri().path(), request_id = %request_id)
    })
    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Micros));

    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(cors(cors_origins))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: Next| {
                answer_within(request_timeout, request, next)
            },
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .service(api);
    Router::new().fallback_service(stack)
}

/// A request still running after `limit` is dropped (its handler cancelled) and answered
/// 503 `REQUEST_TIMEOUT`.
async fn answer_within(limit: Duration, request: axum::extract::Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::request_timeout(limit).into_response(),
    }
}

/// A handler panicked: log what it said, answer 500 `INTERNAL_ERROR` without it.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::internal("a request handler panicked", &message).into_response()
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
