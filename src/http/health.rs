//! Liveness and readiness.

use super::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// 200 while the process serves.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Serving")))]
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 only when the database answers (within two seconds) and the identity provider's
/// key set, when one is configured, has been loaded.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, description = "Ready"), (status = 503, description = "Database not answering or key set not loaded")))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let backend = state.store.backend();
    if !state.auth.is_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unavailable", "database": backend, "auth": "key set not loaded"}),
            ),
        );
    }
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "database": backend})),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database error");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "database": backend})),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "timeout", "database": backend})),
        ),
    }
}
