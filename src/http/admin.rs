//! `/api/v1/admin/outbox`: operators see failed or stuck events and send them again.

use super::auth::Caller;
use super::error::{ApiError, Problem};
use super::extract::ApiQuery;
use super::state::AppState;
use crate::domain::EventId;
use crate::outbox_admin::OutboxAdminError;
use crate::storage::{OutboxRecord, OutboxStatus};
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use std::str::FromStr;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxParams {
    /// PENDING, FAILED or DELIVERED (default FAILED).
    #[param(value_type = Option<OutboxStatus>)]
    status: Option<String>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
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

/// Outbox events by status, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin", params(OutboxParams),
    responses((status = 200, body = Vec<OutboxRecord>), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_outbox(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<OutboxParams>,
) -> Result<Json<Vec<OutboxRecord>>, ApiError> {
    let status = match params.status.as_deref() {
        None => OutboxStatus::Failed,
        Some(raw) => OutboxStatus::from_str(raw.trim())
            .map_err(|_| ApiError::validation("status must be PENDING, FAILED or DELIVERED"))?,
    };
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit must be from 1 to 500"));
    }
    Ok(Json(
        state.outbox_admin.list(&caller.0, status, limit).await?,
    ))
}

/// Puts a failed or stuck event back in the queue, due now.
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
