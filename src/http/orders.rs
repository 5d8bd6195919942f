//! `/api/v1/orders`: create from checkout, read, list, cancel, change status, history.

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery, IfMatch, OptionalJson, RequestId};
use super::order_response::{OrderHistoryEntry, OrderResponse};
use super::state::AppState;
use crate::domain::{CheckoutSessionId, OrderId, OrderStatus, StatusChange, UserId};
use crate::orders::Requester;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrderRequest {
    /// The UUID of a COMPLETED checkout session.
    #[schema(value_type = String, format = Uuid, example = "6f1c2b1e-2a53-4a4e-9d0a-1b1f1b7f2c10")]
    pub checkout_session_id: serde_json::Value,
}

/// Creates the order for a completed checkout session; the same session always yields the same order.
#[utoipa::path(post, path = "/api/v1/orders/checkout", tag = "orders",
    request_body = CreateOrderRequest,
    responses(
        (status = 201, description = "Order created", body = OrderResponse),
        (status = 200, description = "The order this session already produced", body = OrderResponse),
        (status = 400, description = "VALIDATION_ERROR, CHECKOUT_SESSION_NOT_COMPLETED, CHECKOUT_SESSION_EMPTY or CHECKOUT_SESSION_INVALID", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Session of another user", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "CHECKOUT_SESSION_NOT_FOUND", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "CHECKOUT_SERVICE_UNAVAILABLE", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "STORAGE_FULL (no room left on the database's disk) or DATABASE_UNAVAILABLE: nothing was stored; retry the same request", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_order_from_checkout(
    State(state): State<AppState>,
    Caller(actor): Caller,
    RequestId(request_id): RequestId,
    ApiJson(body): ApiJson<CreateOrderRequest>,
) -> Result<(StatusCode, OrderResponse), ApiError> {
    let session_id = body
        .checkout_session_id
        .as_str()
        .and_then(|s| CheckoutSessionId::from_str(s).ok())
        .ok_or_else(|| ApiError::validation("checkoutSessionId must be a UUID string"))?;
    let (order, created) = state
        .orders
        .create_order_from_checkout(Requester::Client(&actor), session_id, request_id.as_deref())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, order.into()))
}

fn parse_order_id(raw: &str) -> Result<OrderId, ApiError> {
    OrderId::from_str(raw).map_err(|_| ApiError::validation("the order id must be a UUID"))
}

/// One order; another user's order answers 404.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    responses((status = 200, body = OrderResponse), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<OrderResponse, ApiError> {
    let order = state.orders.get_order(&actor, parse_order_id(&id)?).await?;
    Ok(order.into())
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1–100, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `nextCursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Only orders in this status.
    #[param(value_type = Option<OrderStatus>)]
    status: Option<String>,
    /// Admins only: orders of this user.
    #[param(min_length = 1, pattern = r"\S")]
    user_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPageBody {
    items: Vec<OrderResponse>,
    next_cursor: Option<String>,
}

const CURSOR_PREFIX: &str = "o1:";

fn encode_cursor(seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{seq}"))
}

fn decode_cursor(raw: &str) -> Result<i64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(raw.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(CURSOR_PREFIX)?.parse::<i64>().ok())
        .filter(|seq| *seq > 0)
        .ok_or_else(|| ApiError::validation("cursor is not one this service issued"))
}

/// Orders newest first with keyset pagination; users see their own, admins all.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(ListParams),
    responses((status = 200, body = OrderPageBody), (status = 400, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_orders(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<OrderPageBody>, ApiError> {
    let limit = match params.limit.as_deref() {
        None => 20,
        Some(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| ApiError::validation("limit must be a whole number from 1 to 100"))?,
    };
    let before = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let status = params
        .status
        .as_deref()
        .map(|s| OrderStatus::from_str(s.trim()))
        .transpose()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let user_filter = match params.user_id.as_deref() {
        None => None,
        Some(raw) => {
            Some(UserId::parse(raw).ok_or_else(|| ApiError::validation("userId is blank"))?)
        }
    };
    let listing = state
        .orders
        .list_orders(&actor, status, user_filter, before, limit)
        .await?;
    Ok(Json(OrderPageBody {
        items: listing.orders.into_iter().map(Into::into).collect(),
        next_cursor: listing.next.map(encode_cursor),
    }))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusRequest {
    /// CONFIRMED, SHIPPED, DELIVERED or CANCELLED.
    #[schema(value_type = OrderStatus)]
    status: String,
    tracking_number: Option<String>,
    reason: Option<String>,
}

fn clean_text(value: Option<String>, name: &str) -> Result<Option<String>, ApiError> {
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > 500 => Err(ApiError::validation(format!(
            "{name} is longer than 500 characters"
        ))),
        other => Ok(other),
    }
}

/// Cancels a PENDING or CONFIRMED order (owner or admin).
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id"), ("If-Match" = Option<String>, Header, description = "Expected order version", pattern = r#"^(W/)?"?[0-9]{1,18}"?$"#)),
    request_body(content = CancelRequest, description = "Optional reason"),
    responses((status = 200, body = OrderResponse), (status = 409, description = "INVALID_STATUS_TRANSITION", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "ORDER_NOT_FOUND", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "VERSION_MISMATCH", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn cancel_order(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    OptionalJson(body): OptionalJson<CancelRequest>,
) -> Result<OrderResponse, ApiError> {
    let id = parse_order_id(&id)?;
    let body = body.unwrap_or_default();
    let change = StatusChange {
        to: OrderStatus::Cancelled,
        reason: clean_text(body.reason, "reason")?,
        tracking_number: None,
    };
    let order = state
        .orders
        .change_status(&actor, id, change, if_match)
        .await?;
    Ok(order.into())
}

/// Moves an order along its lifecycle (admin only).
#[utoipa::path(post, path = "/api/v1/orders/{id}/status", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id"), ("If-Match" = Option<String>, Header, description = "Expected order version", pattern = r#"^(W/)?"?[0-9]{1,18}"?$"#)),
    request_body = StatusRequest,
    responses((status = 200, body = OrderResponse), (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "ORDER_NOT_FOUND", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "INVALID_STATUS_TRANSITION", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "VERSION_MISMATCH", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn change_order_status(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    ApiJson(body): ApiJson<StatusRequest>,
) -> Result<OrderResponse, ApiError> {
    let id = parse_order_id(&id)?;
    let to = OrderStatus::from_str(body.status.trim())
        .map_err(|e| ApiError::validation(e.to_string()))?;
    if !actor.is_admin {
        // Owners cancel through /cancel; everything here is an admin operation.
        return Err(ApiError::forbidden(
            "only an admin may change an order's status",
        ));
    }
    let change = StatusChange {
        to,
        reason: clean_text(body.reason, "reason")?,
        tracking_number: clean_text(body.tracking_number, "trackingNumber")?,
    };
    let order = state
        .orders
        .change_status(&actor, id, change, if_match)
        .await?;
    Ok(order.into())
}

/// The order's history, oldest first, starting with its creation.
#[utoipa::path(get, path = "/api/v1/orders/{id}/events", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "Order id")),
    responses((status = 200, body = Vec<OrderHistoryEntry>), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn order_events(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<OrderHistoryEntry>>, ApiError> {
    let history = state.orders.history(&actor, parse_order_id(&id)?).await?;
    Ok(Json(history.into_iter().map(Into::into).collect()))
}
