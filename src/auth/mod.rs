//! Who is calling (contracts §2). A bearer token is checked with the HS256 shared secret or
//! with the identity provider's key named by its `kid`; the algorithm must be one the key
//! allows, never one the token picks alone. Its claims become an `Actor`. Knows nothing of HTTP.

pub mod jwks;

use crate::domain::{Actor, UserId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
pub use jwks::{JwksCache, JwksSettings, KeyLookup, VerificationKey};
use serde_json::Value;
use std::sync::Arc;

/// What the operator configured (`JWT_*`).
#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub secret: Option<String>,
    pub jwks: Option<JwksSettings>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway_secs: u64,
    /// JSON Pointer (RFC 6901) to the array of role names.
    pub roles_claim: String,
    pub admin_role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, badly signed, expired or not-yet-valid token.
    #[error("{0}")]
    Rejected(&'static str),
    /// The key set has not been loaded yet, so the token cannot be checked.
    #[error("the identity provider's keys have not been loaded yet")]
    Unavailable,
}

pub enum Authenticator {
    Tokens(Box<TokenVerifier>),
    /// `AUTH_DISABLED=true`: everyone is an admin named by `X-User-Id` (default `anonymous`).
    Disabled,
}

impl Authenticator {
    /// Builds the verifier and starts keeping the key set fresh (needs a Tokio runtime).
    pub fn new(settings: AuthSettings) -> anyhow::Result<Self> {
        TokenVerifier::new(settings).map(|v| Self::Tokens(Box::new(v)))
    }

    /// Ready to check every kind of token it accepts: the key set, if any, is loaded.
    pub fn is_ready(&self) -> bool {
        match self {
            Self::Tokens(verifier) => verifier.jwks.as_ref().is_none_or(|c| c.is_loaded()),
            Self::Disabled => true,
        }
    }

    /// The caller when authentication is disabled: an admin named by `user` (or `anonymous`).
    pub fn anonymous_admin(user: Option<&str>) -> Actor {
        let user_id = user
            .and_then(UserId::parse)
            .unwrap_or_else(|| UserId::parse("anonymous").expect("valid"));
        Actor {
            user_id,
            is_admin: true,
        }
    }
}

pub struct TokenVerifier {
    secret: Option<Arc<VerificationKey>>,
    jwks: Option<Arc<JwksCache>>,
    validation: Validation,
    roles_claim: String,
    admin_role: String,
}

impl TokenVerifier {
    pub fn new(settings: AuthSettings) -> anyhow::Result<Self> {
        let secret = match settings.secret.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(secret) => Some(Arc::new(VerificationKey {
                key: DecodingKey::from_secret(secret.as_bytes())?,
                algorithms: vec![Algorithm::HS256],
            })),
            None => None,
        };
        let jwks = match settings.jwks {
            Some(jwks) => {
                let cache = JwksCache::new(jwks)?;
                cache.spawn_refresher();
                Some(cache)
            }
            None => None,
        };
        anyhow::ensure!(
            secret.is_some() || jwks.is_some(),
            "neither JWT_SECRET nor JWT_JWKS_URL is set"
        );
        anyhow::ensure!(
            settings.roles_claim.is_empty() || settings.roles_claim.starts_with('/'),
            "JWT_ROLES_CLAIM must be a JSON Pointer such as /roles or /realm_access/roles"
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = settings.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = settings.issuer.as_deref().filter(|i| !i.is_empty()) {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match settings.audience.as_deref().filter(|a| !a.is_empty()) {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // Providers put an `aud` in every token; without a configured audience it is not ours to judge.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self {
            secret,
            jwks,
            validation,
            roles_claim: settings.roles_claim,
            admin_role: settings.admin_role,
        })
    }

    /// Checks a bearer token and returns the caller it names.
    pub async fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        let header = decode_header(token).map_err(|_| {
            AuthError::Rejected("the token is malformed or its algorithm is not accepted")
        })?;
        let key = self.key_for(header.alg, header.kid.as_deref()).await?;
        if !key.algorithms.contains(&header.alg) {
            return Err(AuthError::Rejected(
                "the token's algorithm does not match its key",
            ));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let claims = decode::<Value>(token, &key.key, &validation)
            .map_err(|e| AuthError::Rejected(rejection(e.kind())))?
            .claims;
        let user_id = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(UserId::parse)
            .ok_or(AuthError::Rejected("the token has no usable `sub`"))?;
        let is_admin = claims
            .pointer(&self.roles_claim)
            .and_then(Value::as_array)
            .is_some_and(|roles| {
                roles
                    .iter()
                    .any(|r| r.as_str() == Some(self.admin_role.as_str()))
            });
        Ok(Actor { user_id, is_admin })
    }

    /// HS256 tokens go to the shared secret, every other algorithm to the key set.
    async fn key_for(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Arc<VerificationKey>, AuthError> {
        if alg == Algorithm::HS256 {
            return self
                .secret
                .clone()
                .ok_or(AuthError::Rejected("HS256 tokens are not accepted"));
        }
        if matches!(alg, Algorithm::HS384 | Algorithm::HS512) {
            return Err(AuthError::Rejected("the token's algorithm is not accepted"));
        }
        let jwks = self
            .jwks
            .as_ref()
            .ok_or(AuthError::Rejected("only HS256 tokens are accepted"))?;
        let kid = kid.ok_or(AuthError::Rejected("the token names no key (`kid`)"))?;
        match jwks.key(kid).await {
            KeyLookup::Found(key) => Ok(key),
            KeyLookup::Unknown => Err(AuthError::Rejected("the token names an unknown key")),
            KeyLookup::NotLoaded => Err(AuthError::Unavailable),
        }
    }
}

fn rejection(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired",
        ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)",
        ErrorKind::InvalidSignature => "the token signature is invalid",
        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
        ErrorKind::InvalidAudience => "the token's audience is not accepted",
        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not match its key",
        _ => "the token is malformed or invalid",
    }
}
