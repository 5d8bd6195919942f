//! The `Caller` extractor: reads `Authorization: Bearer <token>` and has `crate::auth`
//! check it. Depends on the state, never the other way round.

use super::error::ApiError;
use super::state::AppState;
use crate::auth::Authenticator;
use crate::domain::Actor;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::headers::authorization::Bearer;
use axum_extra::headers::{Authorization, HeaderMapExt};

/// The authenticated caller of a request.
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let verifier = match &*state.auth {
            Authenticator::Tokens(verifier) => verifier,
            Authenticator::Disabled => {
                let user = parts.headers.get("x-user-id").and_then(|v| v.to_str().ok());
                return Ok(Caller(Authenticator::anonymous_admin(user)));
            }
        };
        let bearer = parts
            .headers
            .typed_try_get::<Authorization<Bearer>>()
            .map_err(|_| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let token = bearer.token().trim();
        if token.is_empty() {
            return Err(ApiError::unauthorized(
                "Authorization must be `Bearer <token>`",
            ));
        }
        Ok(Caller(verifier.verify(token).await?))
    }
}
