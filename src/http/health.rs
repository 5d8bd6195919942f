//! Liveness and readiness.

use super::state::AppState;
use crate::storage::WriteFailure;
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

/// 200 only when the database answers (within two seconds), takes writes (after a
/// failed write, 503 with the reason until a write or the service's probe, every second,
/// succeeds again) and the identity provider's key set, when one is configured, is loaded.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, description = "Ready"), (status = 503, description = "Database not answering or not taking writes (`reason`: STORAGE_FULL or DATABASE_UNAVAILABLE), or key set not loaded")))]
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
    if let Some(outage) = state.store.storage_health().write_outage() {
        let reason = match outage.failure {
            WriteFailure::Full => "STORAGE_FULL",
            WriteFailure::Unavailable => "DATABASE_UNAVAILABLE",
        };
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "database": backend,
                "reason": reason,
                "failingSince": outage.since,
            })),
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
                Json(
                    json!({"status": "unavailable", "database": backend, "reason": "DATABASE_UNAVAILABLE"}),
                ),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "timeout", "database": backend, "reason": "DATABASE_UNAVAILABLE"}),
            ),
        ),
    }
}
