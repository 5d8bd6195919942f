//! Request metrics by route pattern and status, and the Prometheus endpoint.

use super::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Histogram};
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};
use std::time::Instant;

pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let (requests, duration) = request_metrics(&method, route, response.status());
    requests.increment(1);
    duration.record(started.elapsed().as_secs_f64());
    response
}

/// The handles of one (method, route, status), looked up once: building the labelled key
/// and finding it in the registry on every request cost several allocations and hashes.
#[derive(Clone)]
struct RequestMetrics {
    method: Method,
    status: StatusCode,
    requests: Counter,
    duration: Histogram,
}

/// Handles by route pattern (a bounded set: the router's routes and "unmatched"), then by
/// method and status. The recorder is installed once per process, before any request.
static HANDLES: LazyLock<RwLock<HashMap<String, Vec<RequestMetrics>>>> =
    LazyLock::new(Default::default);

fn request_metrics(method: &Method, route: &str, status: StatusCode) -> (Counter, Histogram) {
    let found = |all: &HashMap<String, Vec<RequestMetrics>>| {
        (all.get(route)?.iter())
            .find(|m| m.method == *method && m.status == status)
            .map(|m| (m.requests.clone(), m.duration.clone()))
    };
    if let Some(handles) = found(&HANDLES.read().unwrap_or_else(|e| e.into_inner())) {
        return handles;
    }
    let mut all = HANDLES.write().unwrap_or_else(|e| e.into_inner());
    if let Some(handles) = found(&all) {
        return handles;
    }
    let labels = [
        ("method", method.as_str().to_owned()),
        ("route", route.to_owned()),
        ("status", status.as_u16().to_string()),
    ];
    let made = RequestMetrics {
        method: method.clone(),
        status,
        requests: metrics::counter!("http_requests_total", &labels),
        duration: metrics::histogram!("http_request_duration_seconds", &labels),
    };
    let handles = (made.requests.clone(), made.duration.clone());
    all.entry(route.to_owned()).or_default().push(made);
    handles
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    crate::telemetry::record_pool_usage(state.store.pool_usage());
    let health = state.store.storage_health();
    let usage = health.usage();
    crate::telemetry::record_storage(
        usage.database_bytes,
        usage.free_bytes,
        health.write_outage().is_some(),
    );
    crate::telemetry::record_wal_checkpoints(&health.wal_checkpoints());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
