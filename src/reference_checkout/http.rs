//! The reference Checkout Service's HTTP API (docs/interface.md §7). Errors are the order
//! service's `ApiError`, so both services answer the same problem+json shape.

use super::request::{CompleteSessionRequest, CreateSessionRequest, NewSession};
use super::session::Session;
use super::store::{CompleteError, SessionStore, SessionStoreError};
use crate::http::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tower_http::trace::TraceLayer;
use uuid::Uuid;

const BODY_LIMIT: usize = 256 * 1024;

#[derive(Clone)]
pub struct CheckoutState {
    pub store: Arc<SessionStore>,
    /// How long a PENDING session may wait for its payment.
    pub session_ttl: Duration,
    /// Tells the order webhook sender a completion was just queued.
    pub webhook_wake: Arc<Notify>,
}

pub fn router(state: CheckoutState) -> Router {
    Router::new()
        .route("/api/v1/checkout/session", post(create_session))
        .route("/api/v1/checkout/session/{id}", get(get_session))
        .route(
            "/api/v1/checkout/session/{id}/complete",
            post(complete_session),
        )
        .route("/api/v1/checkout/sessions", get(list_sessions))
        .route("/health", get(health))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn health(State(state): State<CheckoutState>) -> (StatusCode, Json<Value>) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(e) => {
            tracing::warn!(error = %e, "health: database error");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable"})),
            )
        }
    }
}

/// 201 with a new PENDING session and its `Location`.
async fn create_session(
    State(state): State<CheckoutState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let request: CreateSessionRequest = parse_body(body)?;
    let new = NewSession::try_from(request).map_err(|e| ApiError::validation(e.to_string()))?;
    let session = state
        .store
        .insert(&new, chrono::Utc::now(), state.session_ttl)
        .await
        .map_err(store_error)?;
    tracing::info!(session_id = %session.id, user_id = %session.user_id, total = %session.total_amount, "checkout session created");
    let location = format!("/api/v1/checkout/session/{}", session.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(session),
    ))
}

/// 200 with the session (EXPIRED once its time is up), 404 for an unknown or malformed id.
async fn get_session(
    State(state): State<CheckoutState>,
    Path(id): Path<String>,
) -> Result<Json<Session>, ApiError> {
    let id = session_id(&id)?;
    match state
        .store
        .find(id, chrono::Utc::now())
        .await
        .map_err(store_error)?
    {
        Some(session) => Ok(Json(session)),
        None => Err(not_found()),
    }
}

/// 200 with the COMPLETED session; 409 when it expired or was completed with another
/// payment intent; the same payment intent again is a harmless retry (200).
async fn complete_session(
    State(state): State<CheckoutState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Session>, ApiError> {
    let id = session_id(&id)?;
    let request: CompleteSessionRequest = parse_body(body)?;
    let payment_intent_id = request
        .payment_intent_id()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let result = state
        .store
        .complete(id, &payment_intent_id, chrono::Utc::now())
        .await;
    match result {
        Ok(session) => {
            tracing::info!(session_id = %id, payment_intent_id, "checkout session completed");
            state.webhook_wake.notify_one();
            Ok(Json(session))
        }
        Err(CompleteError::NotFound) => Err(not_found()),
        Err(e @ CompleteError::Expired(_)) => Err(conflict(
            "CHECKOUT_SESSION_EXPIRED",
            "Checkout session expired",
            e,
        )),
        Err(e @ CompleteError::CompletedOtherwise) => Err(conflict(
            "CHECKOUT_SESSION_NOT_PENDING",
            "Checkout session already completed",
            e,
        )),
        Err(CompleteError::Store(e)) => Err(store_error(e)),
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    status: Option<String>,
    completed_after: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 500;

/// Completed sessions, oldest completion first, in keyset pages (for the order service's
/// reconciliation). `completedAfter` is exclusive; `cursor` continues a previous page.
async fn list_sessions(
    State(state): State<CheckoutState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    match query
        .status
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("COMPLETED") => {}
        _ => return Err(ApiError::validation("status=COMPLETED is required")),
    }
    let after_ms = match query.completed_after.as_deref() {
        None => i64::MIN,
        Some(text) => chrono::DateTime::parse_from_rfc3339(text.trim())
            .map_err(|_| ApiError::validation("completedAfter must be an RFC 3339 instant"))?
            .timestamp_millis(),
    };
    let limit = match query.limit.as_deref() {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::validation(format!("limit must be 1 to {MAX_PAGE}")))?,
    };
    let cursor = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let mut sessions = state
        .store
        .completed_after(after_ms, cursor, limit + 1)
        .await
        .map_err(store_error)?;
    let next_cursor = if sessions.len() > limit as usize {
        sessions.truncate(limit as usize);
        sessions.last().and_then(|s| {
            let at = s.completed_at?.timestamp_millis();
            Some(format!("{at}_{}", s.id))
        })
    } else {
        None
    };
    Ok(Json(json!({"items": sessions, "nextCursor": next_cursor})))
}

/// `<completion ms>_<session id>`, as `list_sessions` writes it.
fn parse_cursor(text: &str) -> Result<(i64, Uuid), ApiError> {
    let bad = || ApiError::validation("cursor is not one this service returned");
    let (at, id) = text.split_once('_').ok_or_else(bad)?;
    Ok((
        at.parse().map_err(|_| bad())?,
        Uuid::parse_str(id).map_err(|_| bad())?,
    ))
}

fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(BODY_LIMIT)
        } else {
            ApiError::validation("the request body could not be read")
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))
}

/// Unknown and malformed ids alike are "no such session".
fn session_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim()).map_err(|_| not_found())
}

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "CHECKOUT_SESSION_NOT_FOUND",
        "Checkout session not found",
        "no checkout session has this id",
    )
}

fn conflict(code: &'static str, title: &'static str, detail: impl ToString) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, title, detail.to_string())
}

fn store_error(e: SessionStoreError) -> ApiError {
    tracing::error!(error = %e, "checkout session store failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "Internal error",
        "the request could not be completed; it has been logged",
    )
}
