//! Bearer-token authentication (contracts §2): HS256, `sub` = user id, `exp` required,
//! optional `roles` where `admin` may read and change any order.

use super::error::ApiError;
use super::state::AppState;
use crate::domain::{Actor, UserId};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default)]
    pub roles: Vec<String>,
}

pub enum Authenticator {
    Jwt {
        key: Box<DecodingKey>,
        validation: Box<Validation>,
    },
    /// `AUTH_DISABLED=true`: everyone is an admin named by `X-User-Id` (default `anonymous`).
    Disabled,
}

impl Authenticator {
    pub fn hs256(secret: &str) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        Ok(Self::Jwt {
            key: Box::new(DecodingKey::from_secret(secret.as_bytes())?),
            validation: Box::new(validation),
        })
    }

    pub fn authenticate(&self, parts: &Parts) -> Result<Actor, ApiError> {
        let (key, validation) = match self {
            Authenticator::Jwt { key, validation } => (key, validation),
            Authenticator::Disabled => {
                let user = parts
                    .headers
                    .get("x-user-id")
                    .and_then(|v| v.to_str().ok())
                    .and_then(UserId::parse)
                    .unwrap_or_else(|| UserId::parse("anonymous").expect("valid"));
                return Ok(Actor {
                    user_id: user,
                    is_admin: true,
                });
            }
        };
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <token>`"))?;
        let claims = decode::<Claims>(token, key, validation)
            .map_err(|e| {
                let detail = match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired",
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        "the token signature is invalid"
                    }
                    _ => "the token is malformed or invalid",
                };
                ApiError::unauthorized(detail)
            })?
            .claims;
        let user_id = UserId::parse(&claims.sub)
            .ok_or_else(|| ApiError::unauthorized("the token has no usable `sub`"))?;
        let is_admin = claims.roles.iter().any(|r| r.eq_ignore_ascii_case("admin"));
        Ok(Actor { user_id, is_admin })
    }
}

/// The authenticated caller of a request.
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state.auth.authenticate(parts).map(Caller)
    }
}
