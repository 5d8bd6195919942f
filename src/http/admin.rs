//! `/api/v1/admin/outbox`: operators list events, see one with its attempt log, send one
//! again, and replay a period.

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiQuery};
use super::state::AppState;
use crate::domain::{EventId, OrderId};
use crate::outbox_admin::OutboxAdminError;
use crate::storage::{OutboxAttempt, OutboxFilter, OutboxRecord, OutboxStatus};
use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct OutboxParams {
    /// PENDING, FAILED or DELIVERED. Default: FAILED, or every status with `orderId`.
    #[param(value_type = Option<OutboxStatus>)]
    status: Option<String>,
    /// Only this order's events.
    #[param(value_type = Option<uuid::Uuid>)]
    order_id: Option<String>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// A page of outbox events, oldest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboxPageResponse {
    items: Vec<OutboxRecord>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

/// One event with every delivery attempt, oldest first.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEventDetail {
    #[serde(flatten)]
    event: OutboxRecord,
    attempts: Vec<OutboxAttempt>,
}

/// Which events to requeue: those in `status` created in [`since`, `until`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayRequest {
    #[schema(value_type = OutboxStatus)]
    status: String,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayResponse {
    requeued: u64,
}

impl From<OutboxAdminError> for ApiError {
    fn from(e: OutboxAdminError) -> Self {
        match e {
            OutboxAdminError::Forbidden => ApiError::forbidden(e.to_string()),
            OutboxAdminError::UnknownEvent => ApiError::not_found(e.to_string()),
            OutboxAdminError::Store(store) => store.into(),
        }
    }
}

fn parse_status(raw: &str) -> Result<OutboxStatus, ApiError> {
    OutboxStatus::from_str(raw.trim())
        .map_err(|_| ApiError::validation("status must be PENDING, FAILED or DELIVERED"))
}

fn encode_cursor((at, id): (DateTime<Utc>, EventId)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", at.to_rfc3339(), id))
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, EventId), ApiError> {
    let bad = || ApiError::validation("cursor is not one this service issued");
    let text = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (at, id) = text.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?;
    Ok((
        at.with_timezone(&Utc),
        EventId::from_str(id).map_err(|_| bad())?,
    ))
}

/// Outbox events by status and/or order, oldest first, in keyset pages.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin", params(OutboxParams),
    responses((status = 200, body = OutboxPageResponse), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_outbox(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<OutboxParams>,
) -> Result<Json<OutboxPageResponse>, ApiError> {
    let order_id = params
        .order_id
        .as_deref()
        .map(|raw| {
            OrderId::from_str(raw.trim())
                .map_err(|_| ApiError::validation("orderId must be a UUID"))
        })
        .transpose()?;
    let status = match (params.status.as_deref(), order_id) {
        (Some(raw), _) => Some(parse_status(raw)?),
        (None, Some(_)) => None,
        (None, None) => Some(OutboxStatus::Failed),
    };
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit must be from 1 to 500"));
    }
    let after = params.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = OutboxFilter {
        status,
        order_id,
        after,
        limit,
    };
    let page = state.outbox_admin.list(&caller.0, &filter).await?;
    Ok(Json(OutboxPageResponse {
        items: page.items,
        next_cursor: page.next.map(encode_cursor),
    }))
}

/// One outbox event with its attempt log.
#[utoipa::path(get, path = "/api/v1/admin/outbox/{id}", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Event id")),
    responses((status = 200, body = OutboxEventDetail), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_outbox_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OutboxEventDetail>, ApiError> {
    let id =
        EventId::from_str(&id).map_err(|_| ApiError::validation("the event id must be a UUID"))?;
    let (event, attempts) = state.outbox_admin.event(&caller.0, id).await?;
    Ok(Json(OutboxEventDetail { event, attempts }))
}

/// Puts an event back in the queue, due now (a delivered one too: a replay, same eventId).
#[utoipa::path(post, path = "/api/v1/admin/outbox/{id}/retry", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "Event id")),
    responses((status = 200, body = OutboxRecord), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn retry_outbox_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<OutboxRecord>, ApiError> {
    let id =
        EventId::from_str(&id).map_err(|_| ApiError::validation("the event id must be a UUID"))?;
    Ok(Json(state.outbox_admin.retry(&caller.0, id).await?))
}

/// Requeues every event of a status created in [`since`, `until`).
#[utoipa::path(post, path = "/api/v1/admin/outbox/replay", tag = "admin",
    request_body = ReplayRequest,
    responses((status = 200, body = ReplayResponse), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn replay_outbox(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ReplayRequest>,
) -> Result<Json<ReplayResponse>, ApiError> {
    let status = parse_status(&request.status)?;
    if request.since >= request.until {
        return Err(ApiError::validation("since must be before until"));
    }
    let requeued = state
        .outbox_admin
        .replay(&caller.0, status, request.since, request.until)
        .await?;
    Ok(Json(ReplayResponse { requeued }))
}
