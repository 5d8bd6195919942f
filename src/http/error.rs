//! `ApiError`: the one place that picks a status code and writes `application/problem+json`
//! (RFC 9457) with a machine-readable `code`. Internal details are logged here, once.

use crate::auth::AuthError;
use crate::checkout::{CheckoutError, SessionRejection};
use crate::orders::OrderError;
use crate::storage::StoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
}

/// The problem document every error answers with.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub code: &'static str,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
        }
    }

    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Invalid request",
            detail,
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Authentication required",
            detail,
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", "Forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found", detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "Request body too large",
            format!("the request body must not exceed {limit} bytes"),
        )
    }

    /// The request ran longer than `REQUEST_TIMEOUT_MS` and was abandoned.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        tracing::warn!(limit_ms = limit.as_millis() as u64, "request timed out");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "REQUEST_TIMEOUT",
            "Request timed out",
            format!(
                "the request did not complete within {} ms; retry shortly",
                limit.as_millis()
            ),
        )
    }

    /// Something failed that the client cannot fix; the cause is logged, not sent.
    pub(crate) fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal error",
            "the request could not be completed; it has been logged",
        )
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Rejected(detail) => ApiError::unauthorized(detail),
            AuthError::Unavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "AUTH_UNAVAILABLE",
                "Authentication unavailable",
                "the identity provider's signing keys have not been loaded yet; retry shortly",
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("no such resource"),
            StoreError::Unavailable(_) => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "DATABASE_UNAVAILABLE",
                    "Database unavailable",
                    "the database could not complete the request; nothing was stored; retry shortly",
                )
            }
            StoreError::Full(_) => {
                tracing::error!(error = %e, "database storage full");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "STORAGE_FULL",
                    "Storage full",
                    "the database has no room left; nothing was stored; retry later",
                )
            }
            other => ApiError::internal("database error", &other),
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        use StatusCode as S;
        match e {
            OrderError::Checkout(CheckoutError::NotFound) => ApiError::new(
                S::NOT_FOUND,
                "CHECKOUT_SESSION_NOT_FOUND",
                "Checkout session not found",
                "the Checkout Service does not know this checkout session",
            ),
            OrderError::Checkout(other) => {
                tracing::error!(error = %other, kind = other.kind(), "checkout service unavailable");
                ApiError::new(
                    S::INTERNAL_SERVER_ERROR,
                    "CHECKOUT_SERVICE_UNAVAILABLE",
                    "Checkout Service unavailable",
                    "the checkout session could not be read from the Checkout Service; retry shortly",
                )
            }
            OrderError::Rejected(rejection) => {
                let (code, title) = match &rejection {
                    SessionRejection::NotCompleted(_) => (
                        "CHECKOUT_SESSION_NOT_COMPLETED",
                        "Checkout session not completed",
                    ),
                    SessionRejection::Empty => {
                        ("CHECKOUT_SESSION_EMPTY", "Checkout session has no items")
                    }
                    SessionRejection::Invalid(_) => {
                        ("CHECKOUT_SESSION_INVALID", "Checkout session unusable")
                    }
                };
                tracing::info!(reason = %rejection, "checkout session rejected");
                ApiError::new(S::BAD_REQUEST, code, title, rejection_detail(&rejection))
            }
            OrderError::SessionOfAnotherUser => {
                ApiError::forbidden("the checkout session belongs to another user")
            }
            OrderError::NotFound => ApiError::new(
                S::NOT_FOUND,
                "ORDER_NOT_FOUND",
                "Order not found",
                "no such order",
            ),
            OrderError::Forbidden(what) => {
                ApiError::forbidden(format!("you are not allowed to {what}"))
            }
            OrderError::Transition(t) => ApiError::new(
                S::CONFLICT,
                "INVALID_STATUS_TRANSITION",
                "Invalid status transition",
                t.to_string(),
            ),
            OrderError::VersionMismatch { expected, current } => ApiError::new(
                S::PRECONDITION_FAILED,
                "VERSION_MISMATCH",
                "Order changed",
                format!("If-Match names version {expected} but the order is at version {current}"),
            ),
            OrderError::Store(store) => store.into(),
        }
    }
}

/// What the client is told about a rejected session. The session's own text (a status
/// this service does not know, for instance) is only logged.
fn rejection_detail(rejection: &SessionRejection) -> String {
    match rejection {
        SessionRejection::NotCompleted(status)
            if ["PENDING", "EXPIRED", "CANCELLED"].contains(&status.as_str()) =>
        {
            rejection.to_string()
        }
        SessionRejection::NotCompleted(_) => {
            "checkout session is not COMPLETED (its status is not one this service knows)".into()
        }
        SessionRejection::Empty | SessionRejection::Invalid(_) => rejection.to_string(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!(
                "/problems/{}",
                self.code.to_ascii_lowercase().replace('_', "-")
            ),
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
