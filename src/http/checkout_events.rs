//! `POST /api/v1/checkout/events` (docs/interface.md): the Checkout Service tells us a session
//! completed. The request is authenticated by its Standard Webhooks signature
//! (`CHECKOUT_WEBHOOK_SECRET`), not a bearer token, and its body is only a hint: the session
//! is read from the Checkout Service and the order is created by the same use case as the
//! storefront's call, owned by the session's `userId`.
//!
//! Without a configured secret the endpoint answers 503 `WEBHOOKS_NOT_CONFIGURED`: a
//! sender retries 5xx, so webhooks sent before the operator sets the secret still arrive.

use super::error::{ApiError, Problem};
use super::order_response::OrderResponse;
use super::state::AppState;
use crate::domain::CheckoutSessionId;
use crate::orders::Requester;
use crate::webhook_signature::{
    DEFAULT_TOLERANCE_SECS, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::str::FromStr;

pub const SESSION_COMPLETED: &str = "checkout.session.completed";

#[derive(Deserialize)]
struct CheckoutEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Option<EventData>,
}

#[derive(Deserialize)]
struct EventData {
    id: Option<serde_json::Value>,
}

/// A signed event from the Checkout Service: 200 with the session's order (created now or
/// before), 202 for an event type this service ignores.
#[utoipa::path(post, path = "/api/v1/checkout/events", tag = "checkout",
    request_body(content = String, description = "`{\"type\": \"checkout.session.completed\", \"data\": {\"id\": \"<session uuid>\"}}`, signed with the Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature`", content_type = "application/json"),
    responses(
        (status = 200, description = "The order of this session exists (created now or before)", body = OrderResponse),
        (status = 202, description = "An event type this service ignores"),
        (status = 400, description = "The session can never become an order: CHECKOUT_SESSION_NOT_COMPLETED, CHECKOUT_SESSION_EMPTY, CHECKOUT_SESSION_INVALID, or VALIDATION_ERROR for a malformed event", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or bad signature, or a timestamp more than 5 minutes away", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "CHECKOUT_SESSION_NOT_FOUND (the Checkout Service does not know it yet; retried)", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "CHECKOUT_SERVICE_UNAVAILABLE: the session could not be read; the sender retries", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "WEBHOOKS_NOT_CONFIGURED: CHECKOUT_WEBHOOK_SECRET is not set", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn receive_checkout_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(secrets) = state.webhook_secrets.as_deref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "WEBHOOKS_NOT_CONFIGURED",
            "Webhooks not configured",
            "this service has no CHECKOUT_WEBHOOK_SECRET, so it cannot check the signature",
        ));
    };
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(state.body_limit)
        } else {
            ApiError::validation("the request body could not be read")
        }
    })?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    secrets
        .verify(
            header(HEADER_ID),
            header(HEADER_TIMESTAMP),
            header(HEADER_SIGNATURE),
            &body,
            now,
            DEFAULT_TOLERANCE_SECS,
        )
        .map_err(|e| {
            tracing::warn!(error = %e, webhook_id = header(HEADER_ID).unwrap_or("-"), "checkout event refused");
            ApiError::unauthorized("the webhook signature is missing, does not match, or is too old")
        })?;
    let event: CheckoutEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("invalid event body: {e}")))?;
    if event.kind != SESSION_COMPLETED {
        tracing::info!(event_type = %event.kind, "checkout event ignored");
        return Ok((StatusCode::ACCEPTED, Json(json!({"ignored": event.kind}))).into_response());
    }
    let session_id = event
        .data
        .and_then(|d| d.id)
        .as_ref()
        .and_then(|v| v.as_str())
        .and_then(|s| CheckoutSessionId::from_str(s).ok())
        .ok_or_else(|| ApiError::validation("data.id must be a checkout session UUID"))?;
    let (order, created) = state
        .orders
        .create_order_from_checkout(Requester::Webhook, session_id, header(HEADER_ID))
        .await?;
    tracing::info!(order_id = %order.id, checkout_session_id = %session_id, created, "checkout event handled");
    Ok((StatusCode::OK, Json(OrderResponse::from(order))).into_response())
}
